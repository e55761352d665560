# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""What a NetworkPolicy is evaluated on, and one policy on its own: the
constants of the API, the endpoints of a connection (pods, workloads, external
addresses, nodes), namespaces and their labels, which policies select a pod
(policyTypes defaulting), and the static checks and text of one policy."""


import collections.abc
import ipaddress
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union

from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_sets import IPSet
from ansible_collections.kubevirt_net.core.plugins.module_utils.selectors import matches as selector_matches, text as selector_text


INGRESS, EGRESS = "Ingress", "Egress"
PROTOCOLS = ("TCP", "UDP", "SCTP")
ICMP = "ICMP"
NAME_LABEL = "kubernetes.io/metadata.name"
MAX_PORT = 65535
PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
IPBLOCK_NOTE = ("ipBlock is matched against pod IPs here; the Kubernetes documentation leaves that to the "
                "network plugin (it meant ipBlock for cluster-external addresses)")


class EvaluationError(ValueError):
    """The question cannot be answered as asked (e.g. an unknown named port)."""


# ------------------------------------------------------------------ endpoints
class Endpoint:
    """One end of a connection.

    ``kind`` is ``pod`` (a pod on the cluster network: namespace, labels, IPs,
    named container ports), ``external`` (addresses outside the cluster, an IP
    or a CIDR) or ``node`` (a node's own addresses: always allowed into pods
    on that node, otherwise treated like any address)."""

    def __init__(self, kind: str, namespace: Optional[str] = None, labels: Optional[Mapping[str, str]] = None,
                 ips: Optional[Iterable[Any]] = None, cidr: Optional[str] = None,
                 named_ports: Optional[Mapping[Tuple[str, str], int]] = None, name: Optional[str] = None,
                 node_name: Optional[str] = None) -> None:
        self.kind = kind
        self.namespace = namespace
        self.labels = dict(labels or {})
        self.ips = [str(ip) for ip in (ips or [])]
        self.cidr = cidr
        self.named_ports = dict(named_ports or {})   # (name, protocol) -> number
        self.name = name
        self.node_name = node_name

    @classmethod
    def pod(cls, pod: Dict[str, Any], name: Optional[str] = None) -> "Endpoint":
        """From a Pod object (labels, status.podIPs, container ports, node)."""
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        ips = [entry.get("ip") for entry in status.get("podIPs") or [] if entry.get("ip")]
        if not ips and status.get("podIP"):
            ips = [status["podIP"]]
        named: Dict[Tuple[str, str], int] = {}
        spec = pod.get("spec") or {}
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for port in container.get("ports") or []:
                if port.get("name") and port.get("containerPort"):
                    named[(port["name"], port.get("protocol") or "TCP")] = int(port["containerPort"])
        return cls("pod", namespace=meta.get("namespace"), labels=meta.get("labels"), ips=ips, named_ports=named,
                   name=name or "%s/%s" % (meta.get("namespace"), meta.get("name")), node_name=spec.get("nodeName"))

    @classmethod
    def workload(cls, namespace: Optional[str], labels: Optional[Mapping[str, str]], ips: Optional[Iterable[str]] = None,
                 named_ports: Optional[Mapping[Tuple[str, str], int]] = None, name: Optional[str] = None,
                 node_name: Optional[str] = None) -> "Endpoint":
        """A pod described by its parts (e.g. a VM that is not running yet)."""
        return cls("pod", namespace=namespace, labels=labels, ips=ips, named_ports=named_ports,
                   name=name or "pod in %s" % namespace, node_name=node_name)

    @classmethod
    def external(cls, cidr: str, name: Optional[str] = None) -> "Endpoint":
        IPSet.parse(cidr)  # validates
        return cls("external", cidr=str(cidr), name=name or str(cidr))

    @classmethod
    def node(cls, node_name: str, ips: Iterable[str], name: Optional[str] = None) -> "Endpoint":
        return cls("node", ips=ips, node_name=node_name, name=name or "node %s" % node_name)

    @classmethod
    def coerce(cls, value: Union["Endpoint", str, Mapping[str, Any]]) -> "Endpoint":
        if isinstance(value, Endpoint):
            return value
        if isinstance(value, str):
            return cls.external(value)
        if isinstance(value, dict) and "metadata" in value:
            return cls.pod(value)
        if isinstance(value, dict):
            if value.get("cidr"):
                return cls.external(value["cidr"], name=value.get("name"))
            return cls.workload(value.get("namespace"), value.get("labels"), value.get("ips"),
                                value.get("named_ports"), value.get("name"), value.get("node_name"))
        raise EvaluationError("not an endpoint: %r" % (value,))

    @property
    def is_pod(self) -> bool:
        return self.kind == "pod"

    def address_set(self) -> IPSet:
        if self.kind == "external":
            return IPSet.parse(self.cidr)
        if not self.ips:
            return IPSet.identity()
        result = IPSet()
        for ip in self.ips:
            result = result.union(IPSet.parse(ip))
        return result

    def resolve_port(self, name: str, protocol: str) -> Optional[int]:
        return self.named_ports.get((name, protocol))

    def __repr__(self) -> str:
        return "Endpoint(%s)" % self.name


# what Endpoint.coerce takes: an Endpoint, an IP/CIDR string, a Pod object or {namespace, labels, ips, named_ports} / {cidr}
EndpointLike = Union[Endpoint, str, Mapping[str, Any]]
# what Namespaces takes: a Namespaces, {name: labels} or Namespace objects
NamespacesLike = Union["Namespaces", Mapping[str, Any], Iterable[Dict[str, Any]]]


# ------------------------------------------------------------------- policies
def policy_name(policy: Mapping[str, Any]) -> str:
    meta = policy.get("metadata") or {}
    return "%s/%s" % (meta.get("namespace"), meta.get("name"))


def policy_types(policy: Mapping[str, Any]) -> List[str]:
    """The effective policyTypes (the API server's defaulting when empty)."""
    spec = policy.get("spec") or {}
    types = [t for t in spec.get("policyTypes") or [] if t in (INGRESS, EGRESS)]
    if types:
        return types
    return [INGRESS, EGRESS] if spec.get("egress") else [INGRESS]


def selects(policy: Mapping[str, Any], endpoint: EndpointLike) -> bool:
    """Whether ``policy`` applies to ``endpoint`` (a pod of its namespace)."""
    endpoint = Endpoint.coerce(endpoint)
    meta = policy.get("metadata") or {}
    if not endpoint.is_pod or endpoint.namespace != meta.get("namespace"):
        return False
    return selector_matches((policy.get("spec") or {}).get("podSelector") or {}, endpoint.labels)


def applying(policies: Iterable[Dict[str, Any]], endpoint: EndpointLike, direction: str) -> List[Dict[str, Any]]:
    """The policies that isolate ``endpoint`` for ``direction``."""
    return [p for p in policies if direction in policy_types(p) and selects(p, endpoint)]


class Namespaces:
    """Namespace name -> labels, from a dict or a list of Namespace objects.
    ``name_label`` adds kubernetes.io/metadata.name as API servers >= 1.21 do."""

    def __init__(self, namespaces: "NamespacesLike", name_label: bool = False) -> None:
        self.labels: Dict[Optional[str], Dict[str, Any]] = {}
        self.unknown: Set[Optional[str]]
        if isinstance(namespaces, Namespaces):
            self.labels = dict(namespaces.labels)
            self.unknown = set(namespaces.unknown)
            return
        self.unknown = set()
        if isinstance(namespaces, collections.abc.Mapping):  # {name: labels}, as NamespacesLike promises
            for name, labels in namespaces.items():
                self.labels[name] = dict(labels or {})
        else:
            for obj in namespaces or []:
                meta = obj.get("metadata") or {}
                self.labels[meta.get("name")] = dict(meta.get("labels") or {})
        if name_label:
            for name, labels in self.labels.items():
                labels.setdefault(NAME_LABEL, name)

    def of(self, name: Optional[str]) -> Dict[str, str]:
        if name not in self.labels:
            self.unknown.add(name)
            return {}
        return self.labels[name]


# ------------------------------------------------------------ checks and text
def check_policy(policy: Mapping[str, Any]) -> List[str]:
    """What kube-apiserver's validation would reject in a NetworkPolicy (the
    rules that matter for evaluation), as texts; [] when valid."""
    problems = []
    name = policy_name(policy)
    spec = policy.get("spec")
    if not (policy.get("metadata") or {}).get("name"):
        problems.append("%s: metadata.name is required" % name)
    if not isinstance(spec, dict):
        return problems + ["%s: spec is required" % name]
    for kind in spec.get("policyTypes") or []:
        if kind not in (INGRESS, EGRESS):
            problems.append("%s: policyTypes: %r is not Ingress or Egress" % (name, kind))
    for key, peers_key in (("ingress", "from"), ("egress", "to")):
        for r_index, rule in enumerate(spec.get(key) or []):
            rule = rule or {}
            where = "%s: spec.%s[%d]" % (name, key, r_index)
            for p_index, port in enumerate(rule.get("ports") or []):
                problems.extend(_check_port(port, "%s.ports[%d]" % (where, p_index)))
            for p_index, peer in enumerate(rule.get(peers_key) or []):
                problems.extend(_check_peer(peer or {}, "%s.%s[%d]" % (where, peers_key, p_index)))
    return problems


def _check_port(port: Dict[str, Any], where: str) -> List[str]:
    problems: List[str] = []
    protocol = port.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        problems.append("%s.protocol: %r is not TCP, UDP or SCTP" % (where, protocol))
    value: Any = port.get("port")  # a number or a name: checked here
    numeric = isinstance(value, int) and not isinstance(value, bool)
    if numeric and not 1 <= value <= MAX_PORT:
        problems.append("%s.port: %d is not a port number (1-65535)" % (where, value))
    if isinstance(value, str) and (len(value) > 15 or not PORT_NAME.match(value)):
        problems.append("%s.port: %r is not a port name (at most 15 lowercase letters, digits and '-', "
                        "with a letter)" % (where, value))
    if port.get("endPort") is not None:
        if not numeric:
            problems.append("%s.endPort: may not be set unless port is a number" % where)
        elif port["endPort"] < value:
            problems.append("%s.endPort: must be greater than or equal to port" % where)
    return problems


def _check_peer(peer: Dict[str, Any], where: str) -> List[str]:
    problems: List[str] = []
    fields = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
    if not fields:
        problems.append("%s: must specify a peer (podSelector, namespaceSelector or ipBlock)" % where)
    if "ipBlock" in fields and len(fields) > 1:
        problems.append("%s: may not specify both ipBlock and another peer" % where)
    block = peer.get("ipBlock")
    if block is not None:
        try:
            cidr = ipaddress.ip_network(str(block.get("cidr")), strict=True)
        except ValueError as exc:
            problems.append("%s.ipBlock.cidr: %r is not a valid CIDR (%s)" % (where, block.get("cidr"), exc))
            return problems
        for index, text in enumerate(block.get("except") or []):
            try:
                excluded = ipaddress.ip_network(str(text), strict=True)
            except ValueError as exc:
                problems.append("%s.ipBlock.except[%d]: %r is not a valid CIDR (%s)" % (where, index, text, exc))
                continue
            if excluded.version != cidr.version or not _subnet_of(excluded, cidr) or \
                    excluded.prefixlen <= cidr.prefixlen:
                problems.append("%s.ipBlock.except[%d]: %s must be a strict subset of %s" % (
                    where, index, text, block.get("cidr")))
    return problems


def _subnet_of(inner: Union[ipaddress.IPv4Network, ipaddress.IPv6Network],
               outer: Union[ipaddress.IPv4Network, ipaddress.IPv6Network]) -> bool:
    """``inner.subnet_of(outer)``, False across IP versions (where subnet_of raises TypeError)."""
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def describe_policy(policy: Mapping[str, Any]) -> List[str]:
    """kubectl-describe-like lines for a policy (for reports)."""
    spec = policy.get("spec") or {}
    lines = ["selects pods %s in %s; isolates %s" % (
        selector_text(spec.get("podSelector") or {}), (policy.get("metadata") or {}).get("namespace"),
        " and ".join(t.lower() for t in policy_types(policy)))]
    for direction in policy_types(policy):
        key, peers_key, verb = ("ingress", "from", "from") if direction == INGRESS else ("egress", "to", "to")
        rules = spec.get(key) or []
        if not rules:
            lines.append("%s: nothing allowed" % direction.lower())
        for rule in rules:
            rule = rule or {}
            peers = rule.get(peers_key) or []
            ports = rule.get("ports") or []
            peer_text = "; ".join(_peer_text(p or {}) for p in peers) or "anywhere"
            port_text = ", ".join("%s/%s%s" % (p.get("protocol") or "TCP", p.get("port", "all"),
                                               "-%s" % p["endPort"] if p.get("endPort") else "") for p in ports) \
                or "all ports"
            lines.append("%s: allow %s %s on %s" % (direction.lower(), verb, peer_text, port_text))
    return lines


def _peer_text(peer: Dict[str, Any]) -> str:
    if peer.get("ipBlock") is not None:
        block = peer["ipBlock"]
        return "%s%s" % (block.get("cidr"), " except %s" % ",".join(block["except"]) if block.get("except") else "")
    parts = []
    if peer.get("namespaceSelector") is not None:
        parts.append("namespaces %s" % selector_text(peer["namespaceSelector"]))
    if peer.get("podSelector") is not None:
        parts.append("pods %s" % selector_text(peer["podSelector"]))
    return " and ".join(parts) if len(parts) > 1 else (parts[0] if parts else "<invalid peer>")
