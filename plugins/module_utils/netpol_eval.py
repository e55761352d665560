# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Kubernetes NetworkPolicy semantics, evaluated without a cluster.

The rules (kubernetes.io "Network Policies", API reference of NetworkPolicySpec):

* A pod is isolated for a direction once any NetworkPolicy in its namespace
  selects it (``spec.podSelector``) and has that direction in its effective
  ``policyTypes``.  A pod that is not isolated for a direction allows
  everything in that direction.
* ``policyTypes`` left empty means ``[Ingress]`` plus ``Egress`` when the
  policy has egress rules, so ``egress: []`` without ``policyTypes: [Egress]``
  denies nothing.
* An isolated pod allows the union of the rules of every policy that applies to
  it for that direction; policies never deny, and their order does not matter.
  No rule at all (``ingress: []``) denies everything in that direction.
* A rule allows a connection when one of its peers matches (no ``from``/``to``
  = every peer) and one of its ports matches (no ``ports`` = every port of
  every protocol).
* A peer is ``podSelector`` (pods of the policy's namespace),
  ``namespaceSelector`` (every pod of the matching namespaces),
  both in one element (pods matching the pod selector *inside* namespaces
  matching the namespace selector), or ``ipBlock`` (``cidr`` minus ``except``).
  An empty selector ``{}`` matches everything; separate elements are ORed.
* A port is ``protocol`` (default TCP) and ``port`` (number, or a named
  container port of the destination pod, resolved per pod) with an optional
  ``endPort`` (numeric ports only); without ``port`` every port of the protocol.
* A connection from a source pod to a destination pod needs both the source's
  egress and the destination's ingress to allow it.  Traffic from a pod's own
  node is always allowed in.

Whether ``ipBlock`` applies to pod IPs is left to the network plugin by the
documentation (most match them, the upstream conformance tests expect it);
this evaluator matches ``ipBlock`` against pod IPs too and says so in the
reasons.  ICMP is not a NetworkPolicy protocol: only rules without ``ports``
can allow it (what common plugins do).

Public API (pure, no cluster access), by file::

    netpol_eval:   evaluate(policies, namespaces, pods, source, destination, port, protocol="TCP") -> Verdict
    netpol_impact: impact(before, after, namespaces, endpoints, ports) -> [FlowChange],
                   merge_policies(current, changes)
    netpol_model:  Endpoint.pod(pod_object) / Endpoint.external("203.0.113.0/24") / Endpoint.node(name, ips),
                   Namespaces, policy_types(policy), selects(policy, endpoint),
                   check_policy(policy) -> [problem text], describe_policy(policy) -> [text]
    netpol_sets:   IPSet, merge_ports
    netpol_eval_tiers: the admin tiers (AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy)
"""


from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_model import (
    EGRESS, ICMP, INGRESS, IPBLOCK_NOTE, MAX_PORT, PROTOCOLS, Endpoint, EndpointLike, EvaluationError, Namespaces,
    NamespacesLike, applying, policy_name)
from ansible_collections.kubevirt_net.core.plugins.module_utils.selectors import matches as selector_matches, text as selector_text
from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_sets import IPSet, merge_ports, ports_text


def _peer_region(policy: Dict[str, Any], peer_spec: Dict[str, Any], other: Endpoint, query_ips: IPSet,
                 namespaces: Namespaces) -> Tuple[IPSet, Optional[str]]:
    """The part of ``query_ips`` (the other end's addresses) that one peer
    element matches, and a note about how."""
    namespace = (policy.get("metadata") or {}).get("namespace")
    if "ipBlock" in peer_spec and peer_spec.get("ipBlock") is not None:
        block = peer_spec["ipBlock"]
        try:
            allowed = IPSet.parse(block.get("cidr"))
            for excluded in block.get("except") or []:
                allowed = allowed.difference(IPSet.parse(excluded))
        except ValueError:
            return IPSet(), None
        return query_ips.intersection(allowed), "ipBlock %s%s" % (
            block.get("cidr"), " except %s" % ", ".join(block["except"]) if block.get("except") else "")
    pod_sel = peer_spec.get("podSelector")
    ns_sel = peer_spec.get("namespaceSelector")
    if pod_sel is None and ns_sel is None:
        return IPSet(), None  # invalid peer (the API rejects it): matches nothing
    if not other.is_pod:
        return IPSet(), None
    if ns_sel is not None:
        if not selector_matches(ns_sel, namespaces.of(other.namespace)):
            return IPSet(), None
    elif other.namespace != namespace:
        return IPSet(), None
    if pod_sel is not None and not selector_matches(pod_sel, other.labels):
        return IPSet(), None
    if ns_sel is not None and pod_sel is not None:
        how = "pods %s in namespaces %s" % (selector_text(pod_sel), selector_text(ns_sel))
    elif ns_sel is not None:
        how = "namespaces %s" % selector_text(ns_sel)
    else:
        how = "pods %s" % selector_text(pod_sel)
    return query_ips, how


def _rule_ports(rule: Dict[str, Any], protocol: str, destination: Endpoint) -> Tuple[Optional[List[Tuple[int, int]]], List[str]]:
    """Port intervals of ``protocol`` a rule allows towards ``destination``;
    ``None`` = every port of every protocol (no ``ports``)."""
    ports = rule.get("ports")
    if not ports:
        return None, []
    intervals: List[Tuple[int, int]] = []
    notes: List[str] = []
    for entry in ports:
        if (entry.get("protocol") or "TCP") != protocol:
            continue
        port = entry.get("port")
        if port is None:
            intervals.append((1, MAX_PORT))
        elif isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
            start = int(port)
            end = int(entry.get("endPort") or start)
            intervals.append((start, max(start, end)))
        else:
            number = destination.resolve_port(port, protocol) if destination.is_pod else None
            if number is None:
                notes.append("named port %r is not a %s container port of %s" % (port, protocol, destination.name))
            else:
                intervals.append((number, number))
                notes.append("named port %r is %d on %s" % (port, number, destination.name))
    return merge_ports(intervals), notes


class _Rect:
    def __init__(self, policy: Dict[str, Any], index: int, ips: IPSet, ports: List[Tuple[int, int]], how: Optional[str]) -> None:
        self.policy = policy
        self.index = index
        self.ips = ips
        self.ports = ports   # list of (start, end)
        self.how = how


def _direction_rects(direction: str, policies: Sequence[Dict[str, Any]], subject: Endpoint, other: Endpoint, protocol: str,
                     query_ips: IPSet, namespaces: Namespaces, notes: List[str]) -> Tuple[List[str], List[_Rect]]:
    """(isolating policy names, allowing rectangles) for ``subject``'s side."""
    isolating = applying(policies, subject, direction)
    rects = []
    key, peers_key = ("ingress", "from") if direction == INGRESS else ("egress", "to")
    destination = subject if direction == INGRESS else other
    for policy in isolating:
        for index, rule in enumerate((policy.get("spec") or {}).get(key) or []):
            rule = rule or {}
            ports, port_notes = _rule_ports(rule, protocol, destination)
            notes.extend(n for n in port_notes if n not in notes)
            if ports is None:
                ports = [(0, MAX_PORT)]   # every protocol, ICMP included
            elif protocol == ICMP or not ports:
                continue
            peers = rule.get(peers_key)
            if not peers:
                rects.append(_Rect(policy, index, query_ips, ports, "any peer"))
                continue
            for peer in peers:
                if (peer or {}).get("ipBlock") is not None and other.is_pod and not other.ips:
                    note = "%s has no IP yet: ipBlock peers cannot match it" % other.name
                    if note not in notes:
                        notes.append(note)
                region, how = _peer_region(policy, peer or {}, other, query_ips, namespaces)
                if region:
                    if "ipBlock" in (peer or {}) and other.is_pod and IPBLOCK_NOTE not in notes:
                        notes.append(IPBLOCK_NOTE)
                    rects.append(_Rect(policy, index, region, ports, how))
    return [policy_name(p) for p in isolating], rects


def _boundaries_ip(query_ips: IPSet, rects: Sequence[_Rect]) -> List[Tuple[int, int, int]]:
    cuts: Dict[int, Set[int]] = {}
    for version, start, end in query_ips.intervals:
        cuts.setdefault(version, set()).update([start, end + 1])
    for rect in rects:
        for version, start, end in rect.ips.intervals:
            cuts.setdefault(version, set()).update([start, end + 1])
    cells = []
    for version, start, end in query_ips.intervals:
        points = sorted(p for p in cuts[version] if start <= p <= end + 1)
        for low, high in zip(points, points[1:]):
            cells.append((version, low, high - 1))
    return cells


def _boundaries_ports(query_ports: Sequence[Tuple[int, int]], rects: Sequence[_Rect]) -> List[Tuple[int, int]]:
    cuts: Set[int] = set()
    for start, end in query_ports:
        cuts.update([start, end + 1])
    for rect in rects:
        for start, end in rect.ports:
            cuts.update([start, end + 1])
    cells: List[Tuple[int, int]] = []
    for start, end in query_ports:
        points = sorted(p for p in cuts if start <= p <= end + 1)
        cells.extend((low, high - 1) for low, high in zip(points, points[1:]))
    return cells


def _covers(rect: _Rect, ip_cell: Tuple[int, int, int], port_cell: Tuple[int, int]) -> bool:
    version, start, end = ip_cell
    ip_ok = any(v == version and s <= start and end <= e for v, s, e in rect.ips.intervals)
    return ip_ok and any(s <= port_cell[0] and port_cell[1] <= e for s, e in rect.ports)


class DirectionResult:
    def __init__(self, direction: str, applicable: bool, isolating: Iterable[str] = (), allowing: Iterable[str] = (),
                 coverage: str = "all", rules: Iterable[str] = ()) -> None:
        self.direction = direction
        self.applicable = applicable
        self.isolating = list(isolating)
        self.allowing = list(allowing)
        self.coverage = coverage   # all | some | none
        self.rules = list(rules)   # "<ns>/<policy> rule <i> (<peer>)" of the allowing rules

    @property
    def isolated(self) -> bool:
        return bool(self.isolating)

    def as_dict(self) -> Dict[str, Any]:
        return {"applicable": self.applicable, "isolated": self.isolated, "isolating_policies": self.isolating,
                "allowing_policies": self.allowing, "allowing_rules": self.rules, "allowed": self.coverage}


@dataclass
class Verdict:
    """The answer for one connection: ``allowed`` (everything asked for is
    allowed), ``partial`` (only some addresses or ports are), the policies
    that decide it and the reasons, per direction in ``ingress``/``egress``."""

    source: Endpoint
    destination: Endpoint
    port: Any
    protocol: str
    allowed: bool
    partial: bool
    deciding_policies: List[str]
    reasons: List[str]
    ingress: DirectionResult
    egress: DirectionResult
    allowed_cidrs: Optional[List[str]] = None
    allowed_ports: Optional[str] = None

    @property
    def outcome(self) -> str:
        return "allowed" if self.allowed else "partial" if self.partial else "denied"

    def as_dict(self) -> Dict[str, Any]:
        result = {"source": self.source.name, "destination": self.destination.name, "port": self.port,
                  "protocol": self.protocol, "allowed": self.allowed, "partial": self.partial,
                  "outcome": self.outcome, "deciding_policies": self.deciding_policies, "reasons": self.reasons,
                  "ingress": self.ingress.as_dict(), "egress": self.egress.as_dict()}
        if self.partial:
            result["allowed_cidrs"] = self.allowed_cidrs
            result["allowed_ports"] = self.allowed_ports
        return result


def _query_ports(port: Union[int, str, None], protocol: str, destination: Endpoint) -> Tuple[List[Tuple[int, int]], Optional[int]]:
    if protocol == ICMP:
        return [(0, 0)], None
    if port is None:
        return [(1, MAX_PORT)], None
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        number = int(port)
        if not 1 <= number <= MAX_PORT:
            raise EvaluationError("port %s is out of range 1-65535" % port)
        return [(number, number)], number
    resolved = destination.resolve_port(port, protocol) if destination.is_pod else None
    if resolved is None:
        raise EvaluationError("%s has no %s port named %r" % (destination.name, protocol, port))
    return [(resolved, resolved)], resolved


def evaluate(policies: Sequence[Dict[str, Any]], namespaces: NamespacesLike, pods: Optional[Iterable[Dict[str, Any]]],
             source: EndpointLike, destination: EndpointLike, port: Union[int, str, None], protocol: Optional[str] = "TCP",
             name_label: bool = False) -> Verdict:
    """Would a connection from ``source`` to ``destination`` on ``port``/``protocol``
    be allowed by ``policies``?

    ``policies``: NetworkPolicy objects (any namespaces; only those selecting
    an end apply).  ``namespaces``: name -> labels, or Namespace objects.
    ``pods``: Pod objects, used to resolve ``source``/``destination`` given as
    ``"<namespace>/<name>"``.  ``source``/``destination``: an ``Endpoint``, a Pod
    object, a dict ``{namespace, labels, ips, named_ports}`` / ``{cidr}``, or
    an IP/CIDR string.  ``port``: number, named port of the destination, or
    ``None`` for every port.  ``protocol``: TCP, UDP, SCTP or ICMP."""
    protocol = (protocol or "TCP").upper()
    if protocol not in PROTOCOLS + (ICMP,):
        raise EvaluationError("protocol %r is not one of TCP, UDP, SCTP, ICMP" % protocol)
    src, dst = _resolve_ends(pods, source, destination)
    spaces = Namespaces(namespaces, name_label=name_label)
    query_ports, number = _query_ports(port, protocol, dst)
    notes: List[str] = []
    reasons: List[str] = []

    # the egress side: the source pod's policies, the destination's addresses
    if src.is_pod:
        eg_iso, eg_rects = _direction_rects(EGRESS, policies, src, dst, protocol, dst.address_set(), spaces, notes)
    else:
        eg_iso, eg_rects = [], []
    # the ingress side: the destination pod's policies, the source's addresses
    from_own_node = (src.kind == "node" and dst.is_pod and src.node_name and src.node_name == dst.node_name)
    if dst.is_pod and not from_own_node:
        in_iso, in_rects = _direction_rects(INGRESS, policies, dst, src, protocol, src.address_set(), spaces, notes)
    else:
        in_iso, in_rects = [], []
    if from_own_node:
        reasons.append("traffic from a pod's own node is always allowed in (NetworkPolicy cannot block it)")

    eg_cov, eg_allowing, eg_rules = _coverage(dst.address_set(), query_ports, eg_rects, bool(eg_iso))
    in_cov, in_allowing, in_rules = _coverage(src.address_set(), query_ports, in_rects, bool(in_iso))
    egress = DirectionResult(EGRESS, src.is_pod, eg_iso, eg_allowing, eg_cov, eg_rules)
    ingress = DirectionResult(INGRESS, dst.is_pod and not from_own_node, in_iso, in_allowing, in_cov, in_rules)

    # joint coverage: a (destination address, port) cell must pass egress and
    # a (source address, port) cell must pass ingress; the addresses of the
    # two sides are independent, so the flow is "all" only when both are.
    if eg_cov == "none" or in_cov == "none":
        allowed, partial = False, False
    elif eg_cov == "all" and in_cov == "all":
        allowed, partial = True, False
    else:
        allowed, partial = False, _ports_meet(query_ports, eg_rects, in_rects, bool(eg_iso), bool(in_iso))

    reasons.extend(_direction_reasons(egress, ingress, src, dst, _query_text(number, port, protocol)))
    if protocol == ICMP and (egress.isolated or ingress.isolated):
        reasons.append("ICMP is not a NetworkPolicy protocol: only rules without ports allow it")
    for note in notes:
        reasons.append(note)
    if spaces.unknown:
        reasons.append("labels of namespace(s) %s are unknown: namespaceSelectors were matched against no labels"
                       % ", ".join(sorted(n for n in spaces.unknown if n)))

    deciding = _deciding(egress, ingress, allowed, partial)
    if not allowed and not partial and eg_cov != "none" and in_cov != "none":
        reasons.append("the ports the egress side allows and the ports the ingress side allows do not overlap")
    allowed_cidrs: Optional[List[str]] = None
    allowed_ports: Optional[str] = None
    if partial:
        if not src.is_pod or (dst.is_pod and in_cov == "some"):
            allowed_cidrs = _allowed_cidrs(src, in_rects) if ingress.isolated else src.address_set().cidrs()
        else:
            allowed_cidrs = _allowed_cidrs(dst, eg_rects) if egress.isolated else dst.address_set().cidrs()
        allowed_ports = ports_text(_allowed_port_union(query_ports, eg_rects, in_rects, egress.isolated,
                                                       ingress.isolated))
    return Verdict(src, dst, number if number is not None else port, protocol, allowed, partial, deciding, reasons,
                   ingress, egress, allowed_cidrs, allowed_ports)


def _resolve_ends(pods: Optional[Iterable[Dict[str, Any]]], source: EndpointLike,
                  destination: EndpointLike) -> Tuple[Endpoint, Endpoint]:
    """The two Endpoints; a "<namespace>/<name>" string names one of ``pods``."""
    by_name = dict(("%s/%s" % ((p.get("metadata") or {}).get("namespace"), (p.get("metadata") or {}).get("name")), p)
                   for p in pods or [])

    def resolve(value: EndpointLike) -> Endpoint:
        if isinstance(value, str) and value in by_name:
            return Endpoint.pod(by_name[value])
        return Endpoint.coerce(value)
    return resolve(source), resolve(destination)


def _direction_reasons(egress: DirectionResult, ingress: DirectionResult, src: Endpoint, dst: Endpoint,
                       query: str) -> List[str]:
    """One reason per applicable direction: not isolated, denied, or allowed by which rules."""
    reasons: List[str] = []
    for result, other_name in ((egress, dst.name), (ingress, src.name)):
        if not result.applicable:
            continue
        subject = src.name if result.direction == EGRESS else dst.name
        verb = "send to" if result.direction == EGRESS else "receive from"
        if not result.isolated:
            reasons.append("%s is not isolated for %s: no NetworkPolicy selecting it has %s in policyTypes" % (
                subject, result.direction.lower(), result.direction))
        elif result.coverage == "none":
            reasons.append("%s is isolated for %s by %s and no rule of them lets it %s %s on %s" % (
                subject, result.direction.lower(), ", ".join(result.isolating), verb, other_name, query))
        else:
            reasons.append("%s may %s %s on %s: allowed by %s%s" % (
                subject, verb, other_name, query, ", ".join(result.rules),
                "" if result.coverage == "all" else " (only part of it)"))
    return reasons


def _deciding(egress: DirectionResult, ingress: DirectionResult, allowed: bool, partial: bool) -> List[str]:
    """The policies that decide the verdict, in order, without repeats."""
    denied = egress.coverage == "none" or ingress.coverage == "none"
    deciding: List[str] = []
    for result in (egress, ingress):
        if not result.isolated:
            continue
        if allowed:
            names = result.allowing
        elif partial:
            names = result.allowing + (result.isolating if result.coverage == "some" else [])
        elif denied:
            names = result.isolating if result.coverage == "none" else []   # the side that denies decides
        else:
            names = result.allowing   # both sides allow something, but not the same ports
        deciding.extend(n for n in names if n not in deciding)
    return deciding


def _query_text(number: Optional[int], port: Union[int, str, None], protocol: str) -> str:
    if protocol == ICMP:
        return "ICMP"
    if number is None:
        return "any %s port" % protocol
    if isinstance(port, str) and not port.isdigit():
        return "%s/%s (%d)" % (protocol, port, number)
    return "%s/%d" % (protocol, number)


def _coverage(query_ips: IPSet, query_ports: Sequence[Tuple[int, int]], rects: Sequence[_Rect],
              isolated: bool) -> Tuple[str, List[str], List[str]]:
    """'all' | 'some' | 'none' of the (address, port) query that ``rects``
    allow, and the policies that allow some of it."""
    if not isolated:
        return "all", [], []
    if not rects:
        return "none", [], []
    covered = uncovered = 0
    allowing: List[str] = []
    rules: List[str] = []
    for ip_cell in _boundaries_ip(query_ips, rects):
        for port_cell in _boundaries_ports(query_ports, rects):
            hits = [r for r in rects if _covers(r, ip_cell, port_cell)]
            if hits:
                covered += 1
                for rect in hits:
                    name = policy_name(rect.policy)
                    if name not in allowing:
                        allowing.append(name)
                    rule = "%s rule %d (%s)" % (name, rect.index, rect.how)
                    if rule not in rules:
                        rules.append(rule)
            else:
                uncovered += 1
    if not covered:
        return "none", [], []
    return ("all" if not uncovered else "some"), allowing, rules


def _allowed_port_union(query_ports: Sequence[Tuple[int, int]], eg_rects: Sequence[_Rect], in_rects: Sequence[_Rect],
                        eg_isolated: bool, in_isolated: bool) -> List[Tuple[int, int]]:
    def side(rects: Sequence[_Rect], isolated: bool) -> List[Tuple[int, int]]:
        if not isolated:
            return list(query_ports)
        return merge_ports([p for r in rects for p in r.ports])

    allowed: List[Tuple[int, int]] = []
    for s1, e1 in side(eg_rects, eg_isolated):
        for s2, e2 in side(in_rects, in_isolated):
            for s3, e3 in query_ports:
                low, high = max(s1, s2, s3), min(e1, e2, e3)
                if low <= high:
                    allowed.append((low, high))
    return merge_ports(allowed)


def _ports_meet(query_ports: Sequence[Tuple[int, int]], eg_rects: Sequence[_Rect], in_rects: Sequence[_Rect],
                eg_isolated: bool, in_isolated: bool) -> bool:
    return bool(_allowed_port_union(query_ports, eg_rects, in_rects, eg_isolated, in_isolated))


def _allowed_cidrs(endpoint: Endpoint, rects: Sequence[_Rect]) -> List[str]:
    allowed = IPSet()
    for rect in rects:
        allowed = allowed.union(rect.ips)
    return endpoint.address_set().intersection(allowed).cidrs()
