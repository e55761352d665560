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

Public API (pure, no cluster access)::

    evaluate(policies, namespaces, pods, source, destination, port, protocol="TCP") -> Verdict
    impact(before, after, namespaces, endpoints, ports) -> [FlowChange]
    Endpoint.pod(pod_object) / Endpoint.external("203.0.113.0/24") / Endpoint.node(name, ips)
    policy_types(policy), selects(policy, endpoint), selector_matches(selector, labels),
    check_policy(policy) -> [problem text], merge_policies(current, changes),
    describe_policy(policy) -> [text]
"""


import ipaddress
import re

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


# ------------------------------------------------------------------ IP sets
class IPSet:
    """A set of addresses as sorted, merged intervals per IP version.

    Version 0 is a pseudo address space with the single point 0: the identity
    of a pod that has no IP yet (selectors can match it, ipBlocks cannot)."""

    def __init__(self, intervals=()):
        merged = []
        for version, start, end in sorted(intervals):
            if merged and merged[-1][0] == version and start <= merged[-1][2] + 1:
                if end > merged[-1][2]:
                    merged[-1] = (version, merged[-1][1], end)
            else:
                merged.append((version, start, end))
        self.intervals = tuple(merged)

    @classmethod
    def parse(cls, text):
        """An IP address or CIDR (host bits are ignored, as for ipBlock)."""
        net = ipaddress.ip_network(str(text).strip(), strict=False)
        return cls([(net.version, int(net.network_address), int(net.broadcast_address))])

    @classmethod
    def identity(cls):
        return cls([(0, 0, 0)])

    def __bool__(self):
        return bool(self.intervals)

    def __eq__(self, other):
        return isinstance(other, IPSet) and self.intervals == other.intervals

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.intervals)

    def union(self, other):
        return IPSet(self.intervals + other.intervals)

    def intersection(self, other):
        out = []
        for v1, s1, e1 in self.intervals:
            for v2, s2, e2 in other.intervals:
                if v1 == v2 and s1 <= e2 and s2 <= e1:
                    out.append((v1, max(s1, s2), min(e1, e2)))
        return IPSet(out)

    def difference(self, other):
        out = list(self.intervals)
        for v2, s2, e2 in other.intervals:
            nxt = []
            for v1, s1, e1 in out:
                if v1 != v2 or e1 < s2 or e2 < s1:
                    nxt.append((v1, s1, e1))
                    continue
                if s1 < s2:
                    nxt.append((v1, s1, s2 - 1))
                if e2 < e1:
                    nxt.append((v1, e2 + 1, e1))
            out = nxt
        return IPSet(out)

    def contains(self, other):
        return not other.difference(self)

    def cidrs(self):
        """The set as CIDR strings (the pseudo identity shows as 'pod')."""
        out = []
        for version, start, end in self.intervals:
            if version == 0:
                out.append("pod")
                continue
            cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
            out.extend(str(n) for n in ipaddress.summarize_address_range(cls(start), cls(end)))
        return out


def _port_set(intervals):
    """Merged, sorted port intervals."""
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _ports_text(intervals):
    return ",".join(str(s) if s == e else "%d-%d" % (s, e) for s, e in intervals)


# --------------------------------------------------------------- selectors
def selector_matches(selector, labels):
    """metav1.LabelSelector semantics: ``{}`` matches everything, ``None``
    nothing; matchLabels and every matchExpression must hold."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if operator == "In":
            if key not in labels or labels[key] not in values:
                return False
        elif operator == "NotIn":
            if key in labels and labels[key] in values:
                return False
        elif operator == "Exists":
            if key not in labels:
                return False
        elif operator == "DoesNotExist":
            if key in labels:
                return False
        else:
            return False  # invalid selectors select nothing
    return True


def selector_text(selector):
    """kubectl's rendering of a label selector ('<all>' for {})."""
    if selector is None:
        return "<none>"
    parts = ["%s=%s" % (k, v) for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), ",".join(expr.get("values") or [])
        if op == "In":
            parts.append("%s in (%s)" % (key, values))
        elif op == "NotIn":
            parts.append("%s notin (%s)" % (key, values))
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append("!" + key)
    return ",".join(parts) or "<all>"


_SELECTOR_TERM = re.compile(r"\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|"
                            r"\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def parse_selector(text):
    """A kubectl label selector string ('a=b,c!=d,e in (x,y),!f') or a dict
    (matchLabels, or a LabelSelector with matchLabels/matchExpressions) ->
    LabelSelector dict.  Raises ValueError on bad syntax."""
    if text is None:
        return None
    if isinstance(text, dict):
        if set(text) <= {"matchLabels", "matchExpressions"} and text:
            return {"matchLabels": dict(text.get("matchLabels") or {}),
                    "matchExpressions": list(text.get("matchExpressions") or [])}
        return {"matchLabels": dict((str(k), str(v)) for k, v in text.items()), "matchExpressions": []}
    selector = {"matchLabels": {}, "matchExpressions": []}
    terms, depth, current = [], 0, ""
    for char in str(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    for term in terms:
        if not term.strip():
            continue
        match = _SELECTOR_TERM.match(term)
        if not match:
            raise ValueError("%r is not a label selector term (write key=value, key!=value, key in (a,b), "
                             "key notin (a,b), key or !key)" % term.strip())
        bang, key, op, value, set_op, values = match.groups()
        if bang and (op or set_op):
            raise ValueError("%r: '!' only goes before a bare key" % term.strip())
        if op in ("=", "=="):
            selector["matchLabels"][key] = value
        elif op == "!=":
            selector["matchExpressions"].append({"key": key, "operator": "NotIn", "values": [value]})
        elif set_op:
            items = [v.strip() for v in values.split(",") if v.strip()]
            selector["matchExpressions"].append({"key": key, "operator": "In" if set_op == "in" else "NotIn",
                                                 "values": items})
        else:
            selector["matchExpressions"].append({"key": key, "operator": "DoesNotExist" if bang else "Exists"})
    return selector


# ---------------------------------------------------------------- endpoints
class Endpoint:
    """One end of a connection.

    ``kind`` is ``pod`` (a pod on the cluster network: namespace, labels, IPs,
    named container ports), ``external`` (addresses outside the cluster, an IP
    or a CIDR) or ``node`` (a node's own addresses: always allowed into pods
    on that node, otherwise treated like any address)."""

    def __init__(self, kind, namespace=None, labels=None, ips=None, cidr=None, named_ports=None, name=None,
                 node_name=None):
        self.kind = kind
        self.namespace = namespace
        self.labels = dict(labels or {})
        self.ips = [str(ip) for ip in (ips or [])]
        self.cidr = cidr
        self.named_ports = dict(named_ports or {})   # (name, protocol) -> number
        self.name = name
        self.node_name = node_name

    @classmethod
    def pod(cls, pod, name=None):
        """From a Pod object (labels, status.podIPs, container ports, node)."""
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        ips = [entry.get("ip") for entry in status.get("podIPs") or [] if entry.get("ip")]
        if not ips and status.get("podIP"):
            ips = [status["podIP"]]
        named = {}
        spec = pod.get("spec") or {}
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for port in container.get("ports") or []:
                if port.get("name") and port.get("containerPort"):
                    named[(port["name"], port.get("protocol") or "TCP")] = int(port["containerPort"])
        return cls("pod", namespace=meta.get("namespace"), labels=meta.get("labels"), ips=ips, named_ports=named,
                   name=name or "%s/%s" % (meta.get("namespace"), meta.get("name")), node_name=spec.get("nodeName"))

    @classmethod
    def workload(cls, namespace, labels, ips=None, named_ports=None, name=None, node_name=None):
        """A pod described by its parts (e.g. a VM that is not running yet)."""
        return cls("pod", namespace=namespace, labels=labels, ips=ips, named_ports=named_ports,
                   name=name or "pod in %s" % namespace, node_name=node_name)

    @classmethod
    def external(cls, cidr, name=None):
        IPSet.parse(cidr)  # validates
        return cls("external", cidr=str(cidr), name=name or str(cidr))

    @classmethod
    def node(cls, node_name, ips, name=None):
        return cls("node", ips=ips, node_name=node_name, name=name or "node %s" % node_name)

    @classmethod
    def coerce(cls, value):
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
    def is_pod(self):
        return self.kind == "pod"

    def address_set(self):
        if self.kind == "external":
            return IPSet.parse(self.cidr)
        if not self.ips:
            return IPSet.identity()
        result = IPSet()
        for ip in self.ips:
            result = result.union(IPSet.parse(ip))
        return result

    def resolve_port(self, name, protocol):
        return self.named_ports.get((name, protocol))

    def __repr__(self):
        return "Endpoint(%s)" % self.name


# ---------------------------------------------------------------- policies
def policy_name(policy):
    meta = policy.get("metadata") or {}
    return "%s/%s" % (meta.get("namespace"), meta.get("name"))


def policy_types(policy):
    """The effective policyTypes (the API server's defaulting when empty)."""
    spec = policy.get("spec") or {}
    types = [t for t in spec.get("policyTypes") or [] if t in (INGRESS, EGRESS)]
    if types:
        return types
    return [INGRESS, EGRESS] if spec.get("egress") else [INGRESS]


def selects(policy, endpoint):
    """Whether ``policy`` applies to ``endpoint`` (a pod of its namespace)."""
    endpoint = Endpoint.coerce(endpoint)
    meta = policy.get("metadata") or {}
    if not endpoint.is_pod or endpoint.namespace != meta.get("namespace"):
        return False
    return selector_matches((policy.get("spec") or {}).get("podSelector") or {}, endpoint.labels)


def applying(policies, endpoint, direction):
    """The policies that isolate ``endpoint`` for ``direction``."""
    return [p for p in policies if direction in policy_types(p) and selects(p, endpoint)]


class Namespaces:
    """Namespace name -> labels, from a dict or a list of Namespace objects.
    ``name_label`` adds kubernetes.io/metadata.name as API servers >= 1.21 do."""

    def __init__(self, namespaces, name_label=False):
        self.labels = {}
        if isinstance(namespaces, Namespaces):
            self.labels = dict(namespaces.labels)
            self.unknown = set(namespaces.unknown)
            return
        self.unknown = set()
        if isinstance(namespaces, dict):
            for name, labels in namespaces.items():
                self.labels[name] = dict(labels or {})
        else:
            for obj in namespaces or []:
                meta = obj.get("metadata") or {}
                self.labels[meta.get("name")] = dict(meta.get("labels") or {})
        if name_label:
            for name, labels in self.labels.items():
                labels.setdefault(NAME_LABEL, name)

    def of(self, name):
        if name not in self.labels:
            self.unknown.add(name)
            return {}
        return self.labels[name]


def _peer_region(policy, peer_spec, other, query_ips, namespaces):
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


def _rule_ports(rule, protocol, destination):
    """Port intervals of ``protocol`` a rule allows towards ``destination``;
    ``None`` = every port of every protocol (no ``ports``)."""
    ports = rule.get("ports")
    if not ports:
        return None, []
    intervals, notes = [], []
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
    return _port_set(intervals), notes


class _Rect:
    def __init__(self, policy, index, ips, ports, how):
        self.policy = policy
        self.index = index
        self.ips = ips
        self.ports = ports   # list of (start, end)
        self.how = how


def _direction_rects(direction, policies, subject, other, protocol, query_ips, namespaces, notes):
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


def _boundaries_ip(query_ips, rects):
    cuts = {}
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


def _boundaries_ports(query_ports, rects):
    cuts = set()
    for start, end in query_ports:
        cuts.update([start, end + 1])
    for rect in rects:
        for start, end in rect.ports:
            cuts.update([start, end + 1])
    cells = []
    for start, end in query_ports:
        points = sorted(p for p in cuts if start <= p <= end + 1)
        cells.extend((low, high - 1) for low, high in zip(points, points[1:]))
    return cells


def _covers(rect, ip_cell, port_cell):
    version, start, end = ip_cell
    ip_ok = any(v == version and s <= start and end <= e for v, s, e in rect.ips.intervals)
    return ip_ok and any(s <= port_cell[0] and port_cell[1] <= e for s, e in rect.ports)


class DirectionResult:
    def __init__(self, direction, applicable, isolating=(), allowing=(), coverage="all", rules=()):
        self.direction = direction
        self.applicable = applicable
        self.isolating = list(isolating)
        self.allowing = list(allowing)
        self.coverage = coverage   # all | some | none
        self.rules = list(rules)   # "<ns>/<policy> rule <i> (<peer>)" of the allowing rules

    @property
    def isolated(self):
        return bool(self.isolating)

    def as_dict(self):
        return {"applicable": self.applicable, "isolated": self.isolated, "isolating_policies": self.isolating,
                "allowing_policies": self.allowing, "allowing_rules": self.rules, "allowed": self.coverage}


class Verdict:
    """The answer for one connection: ``allowed`` (everything asked for is
    allowed), ``partial`` (only some addresses or ports are), the policies
    that decide it and the reasons, per direction in ``ingress``/``egress``."""

    def __init__(self, source, destination, port, protocol, allowed, partial, deciding, reasons, ingress, egress,
                 allowed_cidrs=None, allowed_ports=None):
        self.source = source
        self.destination = destination
        self.port = port
        self.protocol = protocol
        self.allowed = allowed
        self.partial = partial
        self.deciding_policies = deciding
        self.reasons = reasons
        self.ingress = ingress
        self.egress = egress
        self.allowed_cidrs = allowed_cidrs
        self.allowed_ports = allowed_ports

    @property
    def outcome(self):
        return "allowed" if self.allowed else "partial" if self.partial else "denied"

    def as_dict(self):
        result = {"source": self.source.name, "destination": self.destination.name, "port": self.port,
                  "protocol": self.protocol, "allowed": self.allowed, "partial": self.partial,
                  "outcome": self.outcome, "deciding_policies": self.deciding_policies, "reasons": self.reasons,
                  "ingress": self.ingress.as_dict(), "egress": self.egress.as_dict()}
        if self.partial:
            result["allowed_cidrs"] = self.allowed_cidrs
            result["allowed_ports"] = self.allowed_ports
        return result


def _query_ports(port, protocol, destination):
    if protocol == ICMP:
        return [(0, 0)], None
    if port is None:
        return [(1, MAX_PORT)], None
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        number = int(port)
        if not 1 <= number <= MAX_PORT:
            raise EvaluationError("port %s is out of range 1-65535" % port)
        return [(number, number)], number
    number = destination.resolve_port(port, protocol) if destination.is_pod else None
    if number is None:
        raise EvaluationError("%s has no %s port named %r" % (destination.name, protocol, port))
    return [(number, number)], number


def evaluate(policies, namespaces, pods, source, destination, port, protocol="TCP", name_label=False):
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
    by_name = dict(("%s/%s" % ((p.get("metadata") or {}).get("namespace"), (p.get("metadata") or {}).get("name")), p)
                   for p in pods or [])

    def resolve(value):
        if isinstance(value, str) and value in by_name:
            return Endpoint.pod(by_name[value])
        return Endpoint.coerce(value)

    src, dst = resolve(source), resolve(destination)
    spaces = Namespaces(namespaces, name_label=name_label)
    query_ports, number = _query_ports(port, protocol, dst)
    notes = []
    reasons = []

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
                subject, result.direction.lower(), ", ".join(result.isolating), verb, other_name,
                _query_text(number, port, protocol)))
        else:
            reasons.append("%s may %s %s on %s: allowed by %s%s" % (
                subject, verb, other_name, _query_text(number, port, protocol), ", ".join(result.rules),
                "" if result.coverage == "all" else " (only part of it)"))
    if protocol == ICMP and (egress.isolated or ingress.isolated):
        reasons.append("ICMP is not a NetworkPolicy protocol: only rules without ports allow it")
    for note in notes:
        reasons.append(note)
    if spaces.unknown:
        reasons.append("labels of namespace(s) %s are unknown: namespaceSelectors were matched against no labels"
                       % ", ".join(sorted(n for n in spaces.unknown if n)))

    deciding = []
    for result in (egress, ingress):
        if not result.isolated:
            continue
        if allowed:
            names = result.allowing
        elif partial:
            names = result.allowing + (result.isolating if result.coverage == "some" else [])
        elif eg_cov == "none" or in_cov == "none":
            names = result.isolating if result.coverage == "none" else []   # the side that denies decides
        else:
            names = result.allowing   # both sides allow something, but not the same ports
        deciding.extend(n for n in names if n not in deciding)
    if not allowed and not partial and eg_cov != "none" and in_cov != "none":
        reasons.append("the ports the egress side allows and the ports the ingress side allows do not overlap")
    allowed_cidrs = allowed_ports = None
    if partial:
        if not src.is_pod or (dst.is_pod and in_cov == "some"):
            allowed_cidrs = _allowed_cidrs(src, in_rects) if ingress.isolated else src.address_set().cidrs()
        else:
            allowed_cidrs = _allowed_cidrs(dst, eg_rects) if egress.isolated else dst.address_set().cidrs()
        allowed_ports = _ports_text(_allowed_port_union(query_ports, eg_rects, in_rects, egress.isolated,
                                                        ingress.isolated))
    return Verdict(src, dst, number if number is not None else port, protocol, allowed, partial, deciding, reasons,
                   ingress, egress, allowed_cidrs, allowed_ports)


def _query_text(number, port, protocol):
    if protocol == ICMP:
        return "ICMP"
    if number is None:
        return "any %s port" % protocol
    if isinstance(port, str) and not port.isdigit():
        return "%s/%s (%d)" % (protocol, port, number)
    return "%s/%d" % (protocol, number)


def _coverage(query_ips, query_ports, rects, isolated):
    """'all' | 'some' | 'none' of the (address, port) query that ``rects``
    allow, and the policies that allow some of it."""
    if not isolated:
        return "all", [], []
    if not rects:
        return "none", [], []
    covered = uncovered = 0
    allowing, rules = [], []
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


def _allowed_port_union(query_ports, eg_rects, in_rects, eg_isolated, in_isolated):
    def side(rects, isolated):
        if not isolated:
            return list(query_ports)
        return _port_set([p for r in rects for p in r.ports])

    allowed = []
    for s1, e1 in side(eg_rects, eg_isolated):
        for s2, e2 in side(in_rects, in_isolated):
            for s3, e3 in query_ports:
                low, high = max(s1, s2, s3), min(e1, e2, e3)
                if low <= high:
                    allowed.append((low, high))
    return _port_set(allowed)


def _ports_meet(query_ports, eg_rects, in_rects, eg_isolated, in_isolated):
    return bool(_allowed_port_union(query_ports, eg_rects, in_rects, eg_isolated, in_isolated))


def _allowed_cidrs(endpoint, rects):
    allowed = IPSet()
    for rect in rects:
        allowed = allowed.union(rect.ips)
    return endpoint.address_set().intersection(allowed).cidrs()


# -------------------------------------------------------------- impact
class FlowChange:
    def __init__(self, before, after):
        self.before = before
        self.after = after

    @property
    def change(self):
        order = {"denied": 0, "partial": 1, "allowed": 2}
        return "newly_allowed" if order[self.after.outcome] > order[self.before.outcome] else "newly_denied"

    def as_dict(self):
        return {"source": self.after.source.name, "destination": self.after.destination.name,
                "port": self.after.port, "protocol": self.after.protocol, "change": self.change,
                "before": self.before.outcome, "after": self.after.outcome,
                "policies_before": self.before.deciding_policies, "policies_after": self.after.deciding_policies,
                "reasons": self.after.reasons}


def merge_policies(current, changes):
    """``current`` policies with ``changes`` applied: a change replaces the
    policy of the same namespace/name or adds it; a change with
    ``state: absent`` removes it."""
    result = dict((policy_name(p), p) for p in current)
    for change in changes:
        name = policy_name(change)
        if change.get("state") == "absent":
            result.pop(name, None)
        else:
            result[name] = dict((k, v) for k, v in change.items() if k != "state")
    return list(result.values())


def impact(before, after, namespaces, endpoints, ports, name_label=False):
    """The flows between ``endpoints`` (every ordered pair of distinct
    endpoints, at least one of them a pod) on ``ports`` (list of
    ``(port, protocol)``) whose outcome differs between the ``before`` and
    ``after`` policy sets, as ``FlowChange`` objects."""
    endpoints = [Endpoint.coerce(e) for e in endpoints]
    changes = []
    for src in endpoints:
        for dst in endpoints:
            if src is dst or (not src.is_pod and not dst.is_pod):
                continue
            for port, protocol in ports:
                try:
                    old = evaluate(before, namespaces, (), src, dst, port, protocol, name_label=name_label)
                    new = evaluate(after, namespaces, (), src, dst, port, protocol, name_label=name_label)
                except EvaluationError:
                    continue
                if old.outcome != new.outcome:
                    changes.append(FlowChange(old, new))
    return changes


# --------------------------------------------------------- checks and text
def check_policy(policy):
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


def _check_port(port, where):
    problems = []
    protocol = port.get("protocol") or "TCP"
    if protocol not in PROTOCOLS:
        problems.append("%s.protocol: %r is not TCP, UDP or SCTP" % (where, protocol))
    value = port.get("port")
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


def _check_peer(peer, where):
    problems = []
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
            if excluded.version != cidr.version or not excluded.subnet_of(cidr) or \
                    excluded.prefixlen <= cidr.prefixlen:
                problems.append("%s.ipBlock.except[%d]: %s must be a strict subset of %s" % (
                    where, index, text, block.get("cidr")))
    return problems


def describe_policy(policy):
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


def _peer_text(peer):
    if peer.get("ipBlock") is not None:
        block = peer["ipBlock"]
        return "%s%s" % (block.get("cidr"), " except %s" % ",".join(block["except"]) if block.get("except") else "")
    parts = []
    if peer.get("namespaceSelector") is not None:
        parts.append("namespaces %s" % selector_text(peer["namespaceSelector"]))
    if peer.get("podSelector") is not None:
        parts.append("pods %s" % selector_text(peer["podSelector"]))
    return " and ".join(parts) if len(parts) > 1 else (parts[0] if parts else "<invalid peer>")
