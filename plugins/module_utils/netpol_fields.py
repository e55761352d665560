# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The fields of a policy declaration, parsed and checked as kube-apiserver
validates them (``pkg/apis/networking/validation``), plus the strict CIDR rules
newer servers enforce: label selectors, CIDRs and ``except``, ports and
``endPort``, peers.  Shared by NetworkPolicy and MultiNetworkPolicy rendering
(``netpol``, ``netpol_multi``).  Pure logic, no API access."""

import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_NETADDR = False

NAME_LABEL = "kubernetes.io/metadata.name"
PROTOCOLS = ("TCP", "UDP", "SCTP")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
IPV4_LEADING_ZERO = re.compile(r"(^|\.)0[0-9]")


# ---------------------------------------------------------------- selectors
# key/value rules and matching live in module_utils/selectors.py (one home for every module)


def parse_selector(problems: Problems, where: str, field: str, value: Any) -> Optional[Dict[str, Any]]:
    """A canonical Kubernetes label selector from an option, or None when not given.

    Accepted forms: ``{match_labels: {...}, match_expressions: [{key, operator, values}]}``
    (camelCase keys too) or a plain dict of labels (shorthand for ``match_labels``).
    ``{}`` is the empty selector (everything).  Every problem is recorded, each
    under its exact field (``selectors.dict_problems``)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(where, field, "must be a dict of labels or {match_labels, match_expressions}")
        return None
    found = selectors.dict_problems(field, value)
    for error in found:
        problems.add(where, error.field, error.problem)
    if found:
        return None
    labels, expressions = selectors.split_dict(value)
    return normalize_selector({"matchLabels": dict(labels), "matchExpressions": list(expressions)})


def normalize_selector(selector: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Deterministic form: empty parts dropped, expressions and their values sorted."""
    selector = selector or {}
    out: Dict[str, Any] = {}
    labels = selector.get("matchLabels") or {}
    if labels:
        out["matchLabels"] = dict((k, labels[k]) for k in sorted(labels))
    expressions = []
    for expr in selector.get("matchExpressions") or []:
        entry = {"key": expr.get("key"), "operator": expr.get("operator")}
        if expr.get("values"):
            entry["values"] = sorted(set(expr["values"]))
        expressions.append(entry)
    if expressions:
        out["matchExpressions"] = sorted(expressions, key=lambda e: (e["key"], e["operator"], e.get("values", [])))
    return out


def name_selector(names: Iterable[str]) -> Dict[str, Any]:
    """Namespaces by name: the label the API server sets on every namespace (1.21+)."""
    names = sorted(set(names))
    if len(names) == 1:
        return {"matchLabels": {NAME_LABEL: names[0]}}
    return {"matchExpressions": [{"key": NAME_LABEL, "operator": "In", "values": names}]}


def name_label_use(selector: Mapping[str, Any]) -> Tuple[Set[str], Set[str]]:
    """(names, other_operators) of a namespace selector's use of ``kubernetes.io/metadata.name``."""
    names: Set[str] = set()
    others: Set[str] = set()
    value = (selector.get("matchLabels") or {}).get(NAME_LABEL)
    if value is not None:
        names.add(value)
    for expr in selector.get("matchExpressions") or []:
        if expr["key"] != NAME_LABEL:
            continue
        if expr["operator"] == "In":
            names.update(expr.get("values") or [])
        else:
            others.add(expr["operator"])
    return names, others


# --------------------------------------------------------------- addresses
def parse_cidr(problems: Problems, where: str, field: str, value: Any) -> Any:
    """A canonical CIDR (netaddr IPNetwork) or None, with the API server's strict rules."""
    if not isinstance(value, str) or not value:
        problems.add(where, field, "is required: a CIDR such as 10.0.0.0/8 or fd00::/64")
        return None
    if "/" not in value:
        problems.add(where, field, "%r has no prefix length: write a CIDR such as %s/32 (IPv4) or /128 (IPv6)"
                     % (value, value))
        return None
    address = value.split("/", 1)[0]
    if "." in address and ":" not in address and IPV4_LEADING_ZERO.search(address):
        problems.add(where, field, "%r must not have leading 0s in an IPv4 octet" % value)
        return None
    try:
        net = netaddr.IPNetwork(value)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        problems.add(where, field, "%r is not a valid CIDR value (e.g. 10.0.0.0/8, fd00::/64)" % value)
        return None
    if net.version == 6 and net.ip.is_ipv4_mapped():
        problems.add(where, field, "%r is an IPv4-mapped IPv6 CIDR: write the IPv4 CIDR instead" % value)
        return None
    if net.ip != net.network:
        problems.add(where, field, "%r must not have bits set beyond the prefix length: did you mean %s?"
                     % (value, net.cidr))
        return None
    if str(net.cidr) != value:
        problems.add(where, field, "%r is not in canonical form: write %s" % (value, net.cidr))
        return None
    return net.cidr


def check_except(problems: Problems, where: str, field: str, cidr: Any, value: Any) -> bool:
    net = parse_cidr(problems, where, field, value)
    if net is None or cidr is None:
        return False
    if net.version != cidr.version:
        problems.add(where, field, "%s is IPv%d but cidr %s is IPv%d: an except must be in the cidr's family"
                     % (value, net.version, cidr, cidr.version))
        return False
    if net.prefixlen <= cidr.prefixlen or net not in cidr:
        problems.add(where, field, "%s must be a strict subset of cidr %s (inside it, with a longer prefix)"
                     % (value, cidr))
        return False
    return True


# ------------------------------------------------------------------- ports
def parse_port(problems: Problems, where: str, field: str, item: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """A rendered NetworkPolicyPort from ``{port, protocol, end_port}``, or None."""
    ok = True
    protocol = item.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        problems.add(where, field + ".protocol", "%r is not supported: use TCP, UDP or SCTP (upper case)"
                     % (protocol,))
        ok = False
    port = item.get("port")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, (int, str)):
            problems.add(where, field + ".port", "%r is neither a port number nor a port name" % (port,))
            ok = False
        elif isinstance(port, int):
            if not 1 <= port <= 65535:
                problems.add(where, field + ".port", "%d is not a valid port number: use 1-65535" % port)
                ok = False
        elif (len(port) > 15 or not IANA_SVC_NAME.match(port) or "--" in port
              or not re.search("[a-z]", port)):
            problems.add(where, field + ".port", "%r is not a port number or IANA service name (at most 15 lowercase "
                         "letters, digits and '-', with at least one letter, e.g. 'http' or 'mysql')" % port)
            ok = False
    end_port = item.get("end_port")
    if end_port is not None:
        if port is None:
            problems.add(where, field + ".end_port", "needs a numeric port: end_port closes the range port..end_port")
            ok = False
        elif isinstance(port, str):
            problems.add(where, field + ".end_port", "may not be specified when port is non-numeric (%r)" % port)
            ok = False
        elif isinstance(end_port, bool) or not isinstance(end_port, int) or not 1 <= end_port <= 65535:
            problems.add(where, field + ".end_port", "%r is not a valid port number: use 1-65535" % (end_port,))
            ok = False
        elif isinstance(port, int) and end_port < port:
            problems.add(where, field + ".end_port", "%d must be greater than or equal to port %d" % (end_port, port))
            ok = False
    if not ok:
        return None
    rendered = {"protocol": protocol}
    if port is not None:
        rendered["port"] = port
    if end_port is not None:
        rendered["endPort"] = end_port
    return rendered


def parse_list(problems: Problems, where: str, field: str, items: Optional[Sequence[Any]],
               parse_one: Callable[[Problems, str, str, Any], Optional[Dict[str, Any]]],
               empty_fix: str) -> Optional[List[Dict[str, Any]]]:
    """``[parse_one(problems, where, "<field>[i]", item)]`` without the refused
    items; [] when the option is left out, None (a problem naming ``empty_fix``)
    when it is an empty list, which would mean something else in the API."""
    if items is None:
        return []
    if not items:
        problems.add(where, field, "is empty: %s" % empty_fix)
        return None
    parsed = []
    for index, item in enumerate(items):
        one = parse_one(problems, where, "%s[%d]" % (field, index), item or {})
        if one is not None:
            parsed.append(one)
    return parsed


def parse_ports(problems: Problems, where: str, field: str,
                items: Optional[Sequence[Dict[str, Any]]]) -> Optional[List[Dict[str, Any]]]:
    return parse_list(problems, where, field, items, parse_port,
                      "omit ports to allow every port, or list at least one")


# ------------------------------------------------------------------- peers
def parse_peer(problems: Problems, where: str, field: str, item: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    selectors = [k for k in ("template_selector", "namespace_selector", "namespaces") if item.get(k) is not None]
    block = item.get("cidr") is not None or item.get("except") is not None
    if block and selectors:
        problems.add(where, field, "an ipBlock (cidr/except) may not be combined with %s in the same peer: make "
                     "them separate peers" % " or ".join(selectors))
        return None
    if not block and not selectors:
        problems.add(where, field, "must specify a peer: template_selector, namespace_selector, namespaces or cidr")
        return None
    if block:
        cidr = parse_cidr(problems, where, field + ".cidr", item.get("cidr"))
        excepts = item.get("except") or []
        ok = cidr is not None
        for index, value in enumerate(excepts):
            ok = check_except(problems, where, "%s.except[%d]" % (field, index), cidr, value) and ok
        if not ok:
            return None
        ip_block: Dict[str, Any] = {"cidr": str(cidr)}
        if excepts:
            ip_block["except"] = sorted(set(excepts), key=lambda c: (netaddr.IPNetwork(c).version, netaddr.IPNetwork(c)))
        return {"ipBlock": ip_block}
    if item.get("namespace_selector") is not None and item.get("namespaces") is not None:
        problems.add(where, field, "use either namespace_selector or namespaces, not both")
        return None
    peer = {}
    if item.get("template_selector") is not None:
        pod = parse_selector(problems, where, field + ".template_selector", item["template_selector"])
        if pod is None:
            return None
        peer["podSelector"] = pod
    if item.get("namespace_selector") is not None:
        nsel = parse_selector(problems, where, field + ".namespace_selector", item["namespace_selector"])
        if nsel is None:
            return None
        peer["namespaceSelector"] = nsel
    if item.get("namespaces") is not None:
        names = item["namespaces"]
        if not names:
            problems.add(where, field + ".namespaces", "is empty: list namespace names")
            return None
        ok = True
        for index, name in enumerate(names):
            ok = problems.dns_label(where, "%s.namespaces[%d]" % (field, index), name) and ok
        if not ok:
            return None
        peer["namespaceSelector"] = name_selector(names)
    return peer


def parse_peers(problems: Problems, where: str, field: str,
                items: Optional[Sequence[Dict[str, Any]]]) -> Optional[List[Dict[str, Any]]]:
    return parse_list(problems, where, field, items, parse_peer,
                      "omit peers to allow any peer, or list at least one")


# ---------------------------------------------------------------- networks
POD_NETWORK = "pod"
NetworkRef = Tuple[Optional[str], str]   # (namespace or None = each target namespace, NAD name)


def parse_networks(problems: Problems, where: str, field: str, value: Any) -> Optional[List[NetworkRef]]:
    """The Multus networks a rule is for, as ``[(namespace or None, nad name)]``
    (None: the NAD in each target namespace), ``[]`` for the pod network, or
    None after a problem.  ``value`` is a string, a comma-separated string or
    a list of ``<namespace>/<nad>`` or ``<nad>`` (``pod`` = the pod network)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        problems.add(where, field, "must be 'pod', a NAD name, '<namespace>/<nad>' or a list of NADs")
        return None
    refs: List[NetworkRef] = []
    ok = True
    for index, item in enumerate(items):
        here = "%s[%d]" % (field, index) if len(items) > 1 else field
        text = item.strip() if isinstance(item, str) else item
        if text == POD_NETWORK:
            if len(items) > 1:
                problems.add(where, here, "'pod' (the pod network, filtered by NetworkPolicy) cannot be mixed with "
                                          "Multus networks in one rule: write two rules")
                ok = False
            continue
        if not isinstance(text, str) or text.count("/") > 1 or not text:
            problems.add(where, here, "%r is not a NetworkAttachmentDefinition reference: write <nad> (in each "
                                      "target namespace) or <namespace>/<nad>" % (item,))
            ok = False
            continue
        namespace, _sep, name = text.rpartition("/")
        if namespace and not problems.dns_label(where, here, namespace):
            ok = False
            continue
        if not problems.dns_subdomain(where, here, name):
            ok = False
            continue
        ref = (namespace or None, name)
        if ref not in refs:
            refs.append(ref)
    return refs if ok else None


def resolve_network(ref: NetworkRef, namespace: str) -> str:
    """``<namespace>/<nad>`` of a reference in a target namespace."""
    return "%s/%s" % (ref[0] or namespace, ref[1])
