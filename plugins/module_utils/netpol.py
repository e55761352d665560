# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""NetworkPolicies for VMs: typed declarations -> checked, deterministic
``networking.k8s.io/v1`` NetworkPolicy specs, and the comparison of a stored
policy with a rendered one (server defaults normalised).

Pure logic, no API access; ``netpol_runner`` does the requests.

Checks mirror kube-apiserver's validation (``pkg/apis/networking/validation``)
plus the strict CIDR rules newer servers enforce: canonical CIDRs (no host
bits, no leading zeros, no IPv4-mapped IPv6), ``except`` a strict subset of
its ``cidr`` in the same family, ``ipBlock`` never beside a selector in one
peer, ports 1-65535 or an IANA service name, ``endPort`` only after a numeric
``port`` and not below it, protocols TCP/UDP/SCTP, well-formed label
selectors, DNS-1123 policy names.

VMs are matched through their virt-launcher pod, which carries the labels of
the VM's ``spec.template.metadata.labels`` (not the VM's own
``metadata.labels``) plus ``kubevirt.io: virt-launcher``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import Kind
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, NETWORK_POLICY)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_SUBDOMAIN

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_NETADDR = False

POLICY_SET_LABEL = "kubevirt-net.io/policy-set"
DESCRIPTION_ANNOTATION = "kubevirt-net.io/description"
NAME_LABEL = "kubernetes.io/metadata.name"
VM_POD_LABELS = {"kubevirt.io": "virt-launcher"}
PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPE_ORDER = ("Ingress", "Egress")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
END_PORT_MINIMUM = (1, 22)
NAME_LABEL_MINIMUM = (1, 21)
DENY_CHOICES = ("none", "ingress", "egress", "both")
BASELINE_NAMES = ("default-deny", "allow-dns", "allow-same-namespace", "allow-from-namespaces", "allow-monitoring")

IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
IPV4_LEADING_ZERO = re.compile(r"(^|\.)0[0-9]")


# ---------------------------------------------------------------- selectors
# key/value rules and matching live in module_utils/selectors.py (one home for every module)
_label_key_problem = selectors.key_problem
_label_value_problem = selectors.value_problem


def parse_selector(problems, where, field, value):
    """A canonical Kubernetes label selector from an option, or None when not given.

    Accepted forms: ``{match_labels: {...}, match_expressions: [{key, operator, values}]}``
    (camelCase keys too) or a plain dict of labels (shorthand for ``match_labels``).
    ``{}`` is the empty selector (everything)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(where, field, "must be a dict of labels or {match_labels, match_expressions}")
        return None
    full_keys = set(["match_labels", "match_expressions", "matchLabels", "matchExpressions"])
    if value and set(value) <= full_keys:
        labels = value.get("match_labels", value.get("matchLabels")) or {}
        expressions = value.get("match_expressions", value.get("matchExpressions")) or []
    else:
        labels, expressions = value, []
    ok = True
    if not isinstance(labels, dict):
        problems.add(where, field + ".match_labels", "must be a dict of label key: value")
        return None
    for key in sorted(labels, key=str):
        problem = _label_key_problem(key) or _label_value_problem(labels[key])
        if problem:
            problems.add(where, "%s.match_labels[%s]" % (field, key), problem)
            ok = False
    if not isinstance(expressions, list):
        problems.add(where, field + ".match_expressions", "must be a list of {key, operator, values}")
        return None
    canonical = []
    for index, expr in enumerate(expressions):
        here = "%s.match_expressions[%d]" % (field, index)
        if not isinstance(expr, dict):
            problems.add(where, here, "must be a dict with key, operator and values")
            ok = False
            continue
        unknown = sorted(set(expr) - set(["key", "operator", "values"]))
        if unknown:
            problems.add(where, here, "unknown field(s) %s: use key, operator, values" % ", ".join(unknown))
            ok = False
        problem = _label_key_problem(expr.get("key"))
        if problem:
            problems.add(where, here + ".key", problem)
            ok = False
        operator = expr.get("operator")
        values = expr.get("values")
        if operator not in OPERATORS:
            problems.add(where, here + ".operator", "%r is not supported: use one of %s"
                         % (operator, ", ".join(OPERATORS)))
            ok = False
            continue
        if values is not None and not isinstance(values, list):
            problems.add(where, here + ".values", "must be a list of strings")
            ok = False
            continue
        if operator in ("In", "NotIn") and not values:
            problems.add(where, here + ".values", "must be non-empty when operator is %s" % operator)
            ok = False
            continue
        if operator in ("Exists", "DoesNotExist") and values:
            problems.add(where, here + ".values", "must be empty when operator is %s" % operator)
            ok = False
            continue
        for pos, item in enumerate(values or []):
            problem = _label_value_problem(item)
            if problem:
                problems.add(where, "%s.values[%d]" % (here, pos), problem)
                ok = False
        if ok:
            entry = {"key": expr["key"], "operator": operator}
            if values:
                entry["values"] = sorted(set(values))
            canonical.append(entry)
    if not ok:
        return None
    return normalize_selector({"matchLabels": dict(labels), "matchExpressions": canonical})


def normalize_selector(selector):
    """Deterministic form: empty parts dropped, expressions and their values sorted."""
    selector = selector or {}
    out = {}
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


def selector_matches(selector, labels):
    """Whether a label selector selects an object with ``labels`` (``{}``
    everything, ``None`` nothing, an unknown operator nothing)."""
    return selectors.matches(selector, labels)


def selector_string(selector):
    """The ``labelSelector`` query form of a canonical selector."""
    parts = ["%s=%s" % (k, v) for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr["key"], expr["operator"], expr.get("values") or []
        if operator == "In":
            parts.append("%s in (%s)" % (key, ",".join(values)))
        elif operator == "NotIn":
            parts.append("%s notin (%s)" % (key, ",".join(values)))
        elif operator == "Exists":
            parts.append(key)
        else:
            parts.append("!" + key)
    return ",".join(parts)


def describe_selector(selector):
    text = selector_string(selector or {})
    return "{%s}" % text if text else "{} (everything)"


def name_selector(names):
    """Namespaces by name: the label the API server sets on every namespace (1.21+)."""
    names = sorted(set(names))
    if len(names) == 1:
        return {"matchLabels": {NAME_LABEL: names[0]}}
    return {"matchExpressions": [{"key": NAME_LABEL, "operator": "In", "values": names}]}


def name_label_use(selector):
    """(names, other_operators) of a namespace selector's use of ``kubernetes.io/metadata.name``."""
    names, others = set(), set()
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
def parse_cidr(problems, where, field, value):
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


def check_except(problems, where, field, cidr, value):
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
def parse_port(problems, where, field, item):
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


def parse_ports(problems, where, field, items):
    if items is None:
        return []
    if not items:
        problems.add(where, field, "is empty: omit ports to allow every port, or list at least one")
        return None
    ports = []
    for index, item in enumerate(items):
        port = parse_port(problems, where, "%s[%d]" % (field, index), item or {})
        if port is not None:
            ports.append(port)
    return ports


# ------------------------------------------------------------------- peers
def parse_peer(problems, where, field, item):
    selectors = [k for k in ("vm_selector", "namespace_selector", "namespaces") if item.get(k) is not None]
    block = item.get("cidr") is not None or item.get("except") is not None
    if block and selectors:
        problems.add(where, field, "an ipBlock (cidr/except) may not be combined with %s in the same peer: make "
                     "them separate peers" % " or ".join(selectors))
        return None
    if not block and not selectors:
        problems.add(where, field, "must specify a peer: vm_selector, namespace_selector, namespaces or cidr")
        return None
    if block:
        cidr = parse_cidr(problems, where, field + ".cidr", item.get("cidr"))
        excepts = item.get("except") or []
        ok = cidr is not None
        for index, value in enumerate(excepts):
            ok = check_except(problems, where, "%s.except[%d]" % (field, index), cidr, value) and ok
        if not ok:
            return None
        block = {"cidr": str(cidr)}
        if excepts:
            block["except"] = sorted(set(excepts), key=lambda c: (netaddr.IPNetwork(c).version, netaddr.IPNetwork(c)))
        return {"ipBlock": block}
    if item.get("namespace_selector") is not None and item.get("namespaces") is not None:
        problems.add(where, field, "use either namespace_selector or namespaces, not both")
        return None
    peer = {}
    if item.get("vm_selector") is not None:
        pod = parse_selector(problems, where, field + ".vm_selector", item["vm_selector"])
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


def parse_peers(problems, where, field, items):
    if items is None:
        return []
    if not items:
        problems.add(where, field, "is empty: omit peers to allow any peer, or list at least one")
        return None
    peers = []
    for index, item in enumerate(items):
        peer = parse_peer(problems, where, "%s[%d]" % (field, index), item or {})
        if peer is not None:
            peers.append(peer)
    return peers


# ---------------------------------------------------------------- policies
class Template(object):
    """One policy as declared: the same spec in every target namespace."""

    def __init__(self, name, origin, spec, description=None, vm_policy=False):
        self.name = name
        self.origin = origin
        self.spec = spec
        self.description = description
        self.vm_policy = vm_policy  # its podSelector is meant to select VMs (checked against VMs)

    def manifest(self, namespace, policy_set):
        metadata = {"name": self.name, "namespace": namespace,
                    "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, POLICY_SET_LABEL: policy_set}}
        if self.description:
            metadata["annotations"] = {DESCRIPTION_ANNOTATION: self.description}
        return {"apiVersion": NETWORK_POLICY.api_version, "kind": NETWORK_POLICY.kind, "metadata": metadata,
                "spec": copy.deepcopy(self.spec)}


def _types(ingress, egress):
    return [t for t, on in (("Ingress", ingress), ("Egress", egress)) if on]


def _rule(peer_key, peers, ports):
    rule = {}
    if peers:
        rule[peer_key] = peers
    if ports:
        rule["ports"] = ports
    return rule


def declare(params, problems):
    """The policy templates of a declaration (``params`` as the module gets them)."""
    prefix = params.get("name_prefix") or ""
    templates = []
    deny = params.get("default_deny") or "none"
    deny_ingress, deny_egress = deny in ("ingress", "both"), deny in ("egress", "both")
    if deny != "none":
        templates.append(Template(prefix + "default-deny", "default-deny",
                                  {"podSelector": {}, "policyTypes": _types(deny_ingress, deny_egress)},
                                  "deny all %s traffic not allowed by another policy"
                                  % {"ingress": "incoming", "egress": "outgoing", "both": "incoming and outgoing"}[deny]))
    if params.get("allow_dns"):
        where = "allow_dns"
        if params.get("dns_namespace_selector") is not None:
            nsel = parse_selector(problems, where, "dns_namespace_selector", params["dns_namespace_selector"])
        else:
            nsel = name_selector([params.get("dns_namespace") or "kube-system"]) \
                if problems.dns_label(where, "dns_namespace", params.get("dns_namespace") or "kube-system") else None
        pod = parse_selector(problems, where, "dns_pod_selector", params.get("dns_pod_selector")
                             if params.get("dns_pod_selector") is not None else {"k8s-app": "kube-dns"})
        if nsel is not None and pod is not None:
            templates.append(Template(prefix + "allow-dns", "allow-dns", {
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": nsel, "podSelector": pod}],
                            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]},
                "allow DNS (port 53, UDP and TCP) to the cluster DNS"))
    if params.get("allow_same_namespace"):
        # the directions default-deny closes (ingress alone without one): an
        # egress policy here would otherwise isolate egress by itself
        ingress = deny_ingress or not deny_egress
        spec = {"podSelector": {}, "policyTypes": _types(ingress, deny_egress)}
        if ingress:
            spec["ingress"] = [{"from": [{"podSelector": {}}]}]
        if deny_egress:
            spec["egress"] = [{"to": [{"podSelector": {}}]}]
        templates.append(Template(prefix + "allow-same-namespace", "allow-same-namespace", spec,
                                  "allow traffic between the pods and VMs of this namespace"))
    if params.get("allow_from_namespaces") is not None:
        nsel = parse_selector(problems, "allow_from_namespaces", "allow_from_namespaces",
                              params["allow_from_namespaces"])
        if nsel is not None:
            templates.append(Template(prefix + "allow-from-namespaces", "allow-from-namespaces", {
                "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"namespaceSelector": nsel}]}]},
                "allow incoming traffic from the namespaces %s" % describe_selector(nsel)))
    monitoring = params.get("allow_monitoring")
    if monitoring is not None:
        template = _monitoring(problems, prefix, monitoring)
        if template is not None:
            templates.append(template)
    names = dict((t.name, "baseline %s" % t.origin) for t in templates)
    for index, rule in enumerate(params.get("rules") or []):
        template = _rule_template(problems, prefix, index, rule, names)
        if template is not None:
            templates.append(template)
    for template in templates:
        if len(template.name) > 253 or not DNS1123_SUBDOMAIN.match(template.name):
            problems.add(template.origin, "name", "%r is not a valid NetworkPolicy name: a DNS-1123 subdomain of at "
                         "most 253 lowercase letters, digits, '-' and '.' (check name_prefix and the rule name)"
                         % template.name)
    return templates


def _monitoring(problems, prefix, monitoring):
    where = "allow_monitoring"
    nsel = None
    if monitoring.get("namespace_selector") is not None and monitoring.get("namespaces"):
        problems.add(where, "namespace_selector", "use either namespace_selector or namespaces, not both")
        return None
    if monitoring.get("namespace_selector") is not None:
        nsel = parse_selector(problems, where, "namespace_selector", monitoring["namespace_selector"])
    elif monitoring.get("namespaces"):
        if all(problems.dns_label(where, "namespaces[%d]" % i, n) for i, n in enumerate(monitoring["namespaces"])):
            nsel = name_selector(monitoring["namespaces"])
    else:
        problems.add(where, "namespace_selector", "is required: the namespaces the monitoring system runs in "
                     "(namespace_selector or namespaces)")
    peer = {"namespaceSelector": nsel} if nsel is not None else None
    if monitoring.get("pod_selector") is not None and peer is not None:
        pod = parse_selector(problems, where, "pod_selector", monitoring["pod_selector"])
        peer = dict(peer, podSelector=pod) if pod is not None else None
    if not monitoring.get("ports"):
        problems.add(where, "ports", "is required: the metrics ports to open (e.g. [{port: 9100}])")
        return None
    ports = parse_ports(problems, where, "ports", monitoring["ports"])
    target = {}
    if monitoring.get("vm_selector") is not None:
        target = parse_selector(problems, where, "vm_selector", monitoring["vm_selector"])
    if peer is None or ports is None or target is None:
        return None
    return Template(prefix + "allow-monitoring", "allow-monitoring", {
        "podSelector": target, "policyTypes": ["Ingress"], "ingress": [{"from": [peer], "ports": ports}]},
        "allow the monitoring system to scrape metrics", vm_policy=bool(target))


def _rule_template(problems, prefix, index, rule, names):
    name = rule.get("name")
    where = "rules[%d] (%s)" % (index, name)
    if not isinstance(name, str) or not name:
        problems.add(where, "name", "is required (a DNS-1123 name such as 'db-from-app')")
        return None
    if not problems.dns_subdomain(where, "name", name):
        return None
    full = prefix + name
    if full in names:
        problems.add(where, "name", "%r is used twice (also by %s): rule names must be unique and differ from the "
                     "baseline policies (%s)" % (name, names[full], ", ".join(BASELINE_NAMES)))
        return None
    names[full] = "rules[%d]" % index
    direction = rule.get("direction")
    if direction not in ("ingress", "egress"):
        problems.add(where, "direction", "%r is not supported: use ingress or egress" % (direction,))
        return None
    if rule.get("vm_selector") is None:
        target = dict(matchLabels=dict(VM_POD_LABELS))
    else:
        target = parse_selector(problems, where, "vm_selector", rule["vm_selector"])
    peers = parse_peers(problems, where, "peers", rule.get("peers"))
    ports = parse_ports(problems, where, "ports", rule.get("ports"))
    if target is None or peers is None or ports is None:
        return None
    key = "ingress" if direction == "ingress" else "egress"
    spec = {"podSelector": target, "policyTypes": ["Ingress" if key == "ingress" else "Egress"],
            key: [_rule("from" if key == "ingress" else "to", peers, ports)]}
    return Template(full, "rule " + name, spec, rule.get("description"), vm_policy=bool(target))


def uses_end_port(templates):
    """[(template, where)] of every endPort in the templates."""
    found = []
    for template in templates:
        for direction in ("ingress", "egress"):
            for r_index, rule in enumerate(template.spec.get(direction) or []):
                for p_index, port in enumerate(rule.get("ports") or []):
                    if "endPort" in port:
                        found.append((template, "%s[%d].ports[%d]" % (direction, r_index, p_index), port))
    return found


def namespace_selectors(templates):
    """[(template, selector)] of every namespaceSelector in the templates."""
    found = []
    for template in templates:
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for rule in template.spec.get(direction) or []:
                for peer in rule.get(key) or []:
                    if "namespaceSelector" in peer:
                        found.append((template, peer["namespaceSelector"]))
    return found


def same_namespace_pod_selectors(template):
    """Pod selectors of peers without a namespaceSelector (they select in the policy's namespace)."""
    found = []
    for direction, key in (("ingress", "from"), ("egress", "to")):
        for rule in template.spec.get(direction) or []:
            for peer in rule.get(key) or []:
                if "podSelector" in peer and "namespaceSelector" not in peer and peer["podSelector"]:
                    found.append(peer["podSelector"])
    return found


# -------------------------------------------------------------- comparison
def normalize_spec(spec):
    """A stored or rendered NetworkPolicySpec with the server's defaults made
    explicit and empty parts dropped: protocol TCP, policyTypes inferred
    ([Ingress] plus Egress when there are egress rules), selectors sorted."""
    spec = spec or {}
    out = {"podSelector": normalize_selector(spec.get("podSelector"))}
    for direction, key in (("ingress", "from"), ("egress", "to")):
        rules = []
        for rule in spec.get(direction) or []:
            entry = {}
            peers = [_normalize_peer(p) for p in (rule or {}).get(key) or []]
            if peers:
                entry[key] = peers
            ports = [_normalize_port(p) for p in (rule or {}).get("ports") or []]
            if ports:
                entry["ports"] = ports
            rules.append(entry)
        if rules:
            out[direction] = rules
    types = spec.get("policyTypes") or _types(True, bool(out.get("egress")))
    out["policyTypes"] = [t for t in POLICY_TYPE_ORDER if t in types] + sorted(
        set(t for t in types if t not in POLICY_TYPE_ORDER))
    return out


def _normalize_peer(peer):
    out = {}
    for key in ("podSelector", "namespaceSelector"):
        if key in (peer or {}) and peer[key] is not None:
            out[key] = normalize_selector(peer[key])
    block = (peer or {}).get("ipBlock")
    if block:
        out["ipBlock"] = {"cidr": block.get("cidr")}
        if block.get("except"):
            out["ipBlock"]["except"] = list(block["except"])
    return out


def _normalize_port(port):
    out = {"protocol": (port or {}).get("protocol") or "TCP"}
    for key in ("port", "endPort"):
        if (port or {}).get(key) is not None:
            out[key] = port[key]
    return out


def is_managed(obj):
    return ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def policy_set_of(obj):
    return ((obj.get("metadata") or {}).get("labels") or {}).get(POLICY_SET_LABEL)


def merge_patch(current, desired):
    """The JSON merge patch (RFC 7386) that turns dict ``current`` into ``desired``."""
    patch = {}
    for key in current:
        if key not in desired:
            patch[key] = None
    for key, value in desired.items():
        old = current.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            sub = merge_patch(old, value)
            if sub:
                patch[key] = sub
        elif old != value or key not in current:
            patch[key] = copy.deepcopy(value)
    return patch


class PolicyKind(Kind):
    """Owned: the whole spec (compared normalised), our labels and annotations."""

    def __init__(self):
        super(PolicyKind, self).__init__(NETWORK_POLICY)

    def view(self, obj):
        meta = obj.get("metadata") or {}
        view = {"namespace": meta.get("namespace"), "name": meta.get("name"),
                "labels": dict(meta.get("labels") or {}), "spec": normalize_spec(obj.get("spec"))}
        if meta.get("annotations"):
            view["annotations"] = dict(meta["annotations"])
        return view

    def same(self, desired, current):
        want, have = desired["metadata"], current.get("metadata") or {}
        if any((have.get("labels") or {}).get(k) != v for k, v in want["labels"].items()):
            return False
        annotations = have.get("annotations") or {}
        if (annotations.get(DESCRIPTION_ANNOTATION) !=
                (want.get("annotations") or {}).get(DESCRIPTION_ANNOTATION)):
            return False
        return normalize_spec(desired.get("spec")) == normalize_spec(current.get("spec"))

    def patch(self, desired, current):
        meta = desired["metadata"]
        patch = {"metadata": {"labels": dict(meta["labels"])}}
        description = (meta.get("annotations") or {}).get(DESCRIPTION_ANNOTATION)
        if description != ((current.get("metadata") or {}).get("annotations") or {}).get(DESCRIPTION_ANNOTATION):
            patch["metadata"]["annotations"] = {DESCRIPTION_ANNOTATION: description}
        spec = merge_patch(current.get("spec") or {}, desired["spec"])
        if spec:
            patch["spec"] = spec
        return patch

    def expected(self, desired, current):
        if current is None:
            return desired
        meta = dict(current.get("metadata") or {})
        meta["labels"] = dict(meta.get("labels") or {}, **desired["metadata"]["labels"])
        annotations = dict(meta.get("annotations") or {})
        annotations.pop(DESCRIPTION_ANNOTATION, None)
        annotations.update(desired["metadata"].get("annotations") or {})
        if annotations:
            meta["annotations"] = annotations
        else:
            meta.pop("annotations", None)
        return dict(current, metadata=meta, spec=copy.deepcopy(desired["spec"]))


# ---------------------------------------------------------------- findings
def baseline_findings(params, templates, namespaces, kubevirt_namespaces):
    """Warnings about the baselines: default deny over KubeVirt's own
    namespace, egress denied without DNS, and allow policies in a direction
    default-deny does not close (on their own they isolate that direction)."""
    findings = []
    deny = params.get("default_deny") or "none"
    covered = set()
    if deny in ("ingress", "both"):
        covered.add("Ingress")
    if deny in ("egress", "both"):
        covered.add("Egress")
    if deny != "none":
        hit = sorted(set(namespaces) & set(kubevirt_namespaces))
        if hit:
            findings.append({"kind": "kubevirt-namespace", "namespaces": hit,
                             "message": "default_deny covers %s, where KubeVirt runs: its components (virt-api's "
                                        "admission webhooks on 8443, virt-handler, virt-controller) stop working "
                                        "unless other policies allow their traffic; exclude %s from the targets"
                                        % (", ".join(hit), "it" if len(hit) == 1 else "them")})
    if "Egress" in covered and not params.get("allow_dns"):
        findings.append({"kind": "dns", "message": "default_deny closes egress but allow_dns is off: VMs and pods "
                                                   "in the target namespaces cannot resolve names"})
    for template in templates:
        if template.origin not in ("allow-dns", "allow-from-namespaces", "allow-monitoring"):
            continue
        loose = [t for t in template.spec["policyTypes"] if t not in covered]
        if loose:
            findings.append({"kind": "isolation", "policy": template.name,
                             "message": "%s is an %s policy but default_deny does not close %s: on its own it "
                                        "isolates the pods it selects, so only what it allows (and other policies "
                                        "allow) gets through in that direction"
                                        % (template.origin, loose[0].lower(), loose[0].lower())})
    return findings


# -------------------------------------------------------------------- VMs
def launcher_labels(vm):
    """The labels the virt-launcher pod of ``vm`` carries: the template's
    labels plus the ones KubeVirt adds (kubevirt.io, vm.kubevirt.io/name)."""
    template = ((vm.get("spec") or {}).get("template") or {})
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.update(VM_POD_LABELS)
    labels.setdefault("vm.kubevirt.io/name", (vm.get("metadata") or {}).get("name"))
    return labels


def secondary_networks(vm):
    """(multus network names, has a pod network) of a VM's template."""
    networks = ((((vm.get("spec") or {}).get("template") or {}).get("spec") or {}).get("networks")) or []
    secondary, primary = [], not networks  # no networks at all: KubeVirt adds the default pod network
    for net in networks:
        if "pod" in net or (net.get("multus") or {}).get("default"):
            primary = True
        elif "multus" in net:
            secondary.append((net["multus"] or {}).get("networkName") or net.get("name"))
    return secondary, primary


def vm_findings(templates, vms_by_namespace, limit=5):
    """Warnings about the VMs the declared policies are meant to select.

    * ``vm-metadata-labels``: a selector matches a VM's ``metadata.labels`` but
      not its ``spec.template.metadata.labels`` (the pod's labels): the classic
      mistake; the policy does not apply to that VM.
    * ``multus``: a policy selects VMs that also use Multus secondary networks,
      which NetworkPolicy does not filter."""
    findings = []
    for template in templates:
        if not template.vm_policy:
            continue
        mistaken, multus = [], []
        target = template.spec.get("podSelector") or {}
        peers = same_namespace_pod_selectors(template)
        for namespace in sorted(vms_by_namespace):
            for vm in vms_by_namespace[namespace]:
                meta = vm.get("metadata") or {}
                ref = "%s/%s" % (namespace, meta.get("name"))
                pod_labels = launcher_labels(vm)
                own_labels = meta.get("labels") or {}
                if selector_matches(target, pod_labels):
                    nets, primary = secondary_networks(vm)
                    if nets:
                        multus.append("%s (%s%s)" % (ref, ", ".join(nets), "" if primary else "; no pod network"))
                elif own_labels and selector_matches(target, own_labels):
                    mistaken.append(ref)
                for selector in peers:
                    if not selector_matches(selector, pod_labels) and own_labels and \
                            selector_matches(selector, own_labels):
                        mistaken.append(ref + " (as a peer)")
        if mistaken:
            findings.append({"kind": "vm-metadata-labels", "policy": template.name, "vms": mistaken,
                             "message": "%s: its VM selector matches the metadata.labels of VirtualMachine %s but not "
                                        "their spec.template.metadata.labels, which are the labels the virt-launcher "
                                        "pod carries: the policy does not apply to these VMs. Put the labels in "
                                        "spec.template.metadata.labels." % (template.origin, _few(mistaken, limit))})
        if multus:
            findings.append({"kind": "multus", "policy": template.name, "vms": multus,
                             "message": "%s applies to VMs that also use Multus secondary networks: %s. "
                                        "NetworkPolicy filters only the pod network; traffic on secondary networks "
                                        "is not filtered (that needs MultiNetworkPolicy, and SR-IOV VFs cannot be "
                                        "filtered at all)." % (template.origin, _few(multus, limit))})
    return findings


def _few(items, limit):
    if len(items) <= limit:
        return ", ".join(items)
    return "%s and %d more" % (", ".join(items[:limit]), len(items) - limit)


# ------------------------------------------------------------------ report
def markdown_report(summary):
    """A Markdown report of a run (``summary`` as built by the runner)."""
    check = summary.get("check_mode")
    verb = "would be " if check else ""
    lines = ["# NetworkPolicy report: policy set `%s`" % summary["policy_set"], ""]
    lines.append("- State: `%s`%s" % (summary["state"], " (check mode: nothing was written)" if check else ""))
    if summary.get("server_version"):
        lines.append("- API server: Kubernetes %s" % summary["server_version"])
    lines.append("- Namespaces: %d; policies declared per namespace: %d (%s)" % (
        len(summary["namespaces"]), len(summary["declared"]), ", ".join(summary["declared"]) or "none"))
    totals = summary["totals"]
    lines.append("- Totals: %s" % ", ".join("%d %s%s" % (totals[k], verb, k) for k in (
        "created", "updated", "deleted", "unchanged")))
    if summary.get("labelled_namespaces"):
        lines.append("- Namespaces %slabelled `%s`: %s" % (verb, NAME_LABEL, ", ".join(summary["labelled_namespaces"])))
    lines += ["", "## Namespaces", "", "| namespace | created | updated | deleted | unchanged |",
              "|---|---:|---:|---:|---:|"]
    for namespace in sorted(summary["namespaces"]):
        counts = summary["namespaces"][namespace]
        lines.append("| %s | %d | %d | %d | %d |" % (namespace, counts["created"], counts["updated"],
                                                     counts["deleted"], counts["unchanged"]))
    changes = [p for p in summary["policies"] if p["method"] != "unchanged"]
    if changes:
        lines += ["", "## Changes", ""]
        for entry in changes:
            lines.append("- `%s/%s` %s%s" % (entry["namespace"], entry["name"], verb, entry["method"]))
    if summary.get("findings"):
        lines += ["", "## Warnings", ""]
        for finding in summary["findings"]:
            lines.append("- %s" % finding["message"])
    return "\n".join(lines) + "\n"
