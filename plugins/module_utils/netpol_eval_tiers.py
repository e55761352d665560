# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Reachability per network, with the cluster tiers applied in order.

Pod network (sigs.k8s.io/network-policy-api, ClusterNetworkPolicy
``spec.tier`` documentation, v0.3.0; AdminNetworkPolicy / Baseline... v1alpha1
the same model):

1. Admin tier: the ClusterNetworkPolicies (tier Admin) and AdminNetworkPolicies
   whose subject selects the pod, by ascending priority, their rules in
   written order.  The first rule whose peers and ports match decides:
   ``Accept`` (v1alpha1 ``Allow``) or ``Deny`` are final; ``Pass`` skips the
   rest of the tier.
2. NetworkPolicy tier: a pod that a NetworkPolicy isolates for the direction
   gets the NetworkPolicy answer, final (netpol_eval decides it).
3. Baseline tier: ClusterNetworkPolicies (tier Baseline) and the
   BaselineAdminNetworkPolicy, the same way (``Pass`` goes to the default).
4. Default: allowed.

A connection needs the egress side (the source as subject) and the ingress
side (the destination as subject) to allow it.

Multus networks: only the MultiNetworkPolicies whose
``k8s.v1.cni.cncf.io/policy-for`` names the network apply (a list
``<ns>/<nad>[,<ns>/<nad>...]``, a name without namespace meaning the
policy's own namespace; multi-networkpolicy README); their spec is a
NetworkPolicySpec, so netpol_eval answers with them alone.  Admin tiers and
NetworkPolicies do not apply there.

Pure logic, no cluster access.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_eval as ne
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_model as nm
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_sets as nsets
from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors

POLICY_FOR = "k8s.v1.cni.cncf.io/policy-for"
ADMIN, BASELINE = "Admin", "Baseline"
ACCEPT, DENY, PASS = "Accept", "Deny", "Pass"
POD_NETWORK = "pod"
PROTOCOL_KEYS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}


# ------------------------------------------------------------ admin policies
class AdminRule:
    def __init__(self, policy: "AdminPolicy", index: int, name: str, action: str, peers: List[Dict[str, Any]],
                 ports: Optional[List[Tuple[str, Any, Any]]]) -> None:
        self.policy = policy
        self.index = index
        self.name = name
        self.action = action
        self.peers = peers      # [{"namespaceSelector", "podSelector"?}] or [{"cidrs": [...]}] or [{"nodes"}]
        self.ports = ports      # None = every port; [(protocol, start, end)] or [("named", name, None)]

    @property
    def label(self) -> str:
        return "%s %s %s rule %d%s (%s)" % (self.policy.kind, self.policy.name, self.policy.direction_of(self),
                                            self.index, " %r" % self.name if self.name else "", self.action)


class AdminPolicy:
    """A ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy
    in one shape: tier, priority, subject, ordered rules."""

    def __init__(self, obj: Dict[str, Any]) -> None:
        spec = obj.get("spec") or {}
        self.tier: Optional[str]
        self.kind = obj.get("kind") or "ClusterNetworkPolicy"
        self.name = (obj.get("metadata") or {}).get("name")
        if self.kind == "AdminNetworkPolicy":
            self.tier = ADMIN
        elif self.kind == "BaselineAdminNetworkPolicy":
            self.tier = BASELINE
        else:
            self.tier = spec.get("tier")
        # the BaselineAdminNetworkPolicy has no priority: it is the only one of its kind
        self.priority = spec.get("priority", 1001 if self.kind == "BaselineAdminNetworkPolicy" else 0)
        self.subject = _subject(spec.get("subject") or {})
        self.rules: Dict[str, List[AdminRule]] = {}
        for direction, key in (("ingress", "from"), ("egress", "to")):
            rules = spec.get(direction) or []
            self.rules[direction] = [
                AdminRule(self, i, r.get("name") or "", _action(r.get("action")),
                          [_peer(p) for p in r.get(key) or []], _ports(r)) for i, r in enumerate(rules)]

    def direction_of(self, rule: AdminRule) -> str:
        return "ingress" if rule in self.rules["ingress"] else "egress"

    @property
    def label(self) -> str:
        return "%s %s" % (self.kind, self.name)


def _action(value: Any) -> str:
    return ACCEPT if value == "Allow" else value


def _subject(subject: Dict[str, Any]) -> Dict[str, Any]:
    if "pods" in subject:
        pods = subject["pods"] or {}
        return {"namespaceSelector": pods.get("namespaceSelector") or {}, "podSelector": pods.get("podSelector") or {}}
    return {"namespaceSelector": subject.get("namespaces") if subject.get("namespaces") is not None else None}


def _peer(peer: Dict[str, Any]) -> Dict[str, Any]:
    if "networks" in peer:
        return {"cidrs": list(peer["networks"] or [])}
    if "nodes" in peer or "domainNames" in peer:
        return {"other": True}
    if "pods" in peer:
        pods = peer["pods"] or {}
        if "namespaceSelector" in pods:   # v1alpha2: pods.namespaceSelector
            out = {"namespaceSelector": pods["namespaceSelector"] if pods["namespaceSelector"] is not None else {}}
        else:                             # v1alpha1: pods.namespaces is a NamespacedPeer
            out = _namespaced_peer(pods.get("namespaces") or {})
        out["podSelector"] = pods.get("podSelector") or {}
        return out
    namespaces = peer.get("namespaces")
    if isinstance(namespaces, dict) and any(k in namespaces for k in NAMESPACED_PEER_KEYS):
        return _namespaced_peer(namespaces)   # v1alpha1
    return {"namespaceSelector": namespaces if namespaces is not None else {}}


NAMESPACED_PEER_KEYS = ("namespaceSelector", "sameLabels", "notSameLabels")


def _namespaced_peer(peer: Dict[str, Any]) -> Dict[str, Any]:
    """A v1alpha1 NamespacedPeer (network-policy-api v0.1.1 apis/v1alpha1/shared_types.go): exactly one of
    namespaceSelector, sameLabels (namespaces whose values of all these labels equal the subject's namespace's)
    or notSameLabels (namespaces that have all these labels, at least one with another value)."""
    if peer.get("sameLabels") is not None:
        return {"namespaceSelector": {}, "sameLabels": list(peer["sameLabels"])}
    if peer.get("notSameLabels") is not None:
        return {"namespaceSelector": {}, "notSameLabels": list(peer["notSameLabels"])}
    selector = peer.get("namespaceSelector")
    return {"namespaceSelector": selector if selector is not None else {}}


def _same_labels(peer: Dict[str, Any], endpoint: nm.Endpoint, subject: nm.Endpoint, spaces: nm.Namespaces) -> bool:
    """sameLabels / notSameLabels, compared with the subject's namespace ("If SameLabels is Empty then nothing is
    selected", likewise NotSameLabels)."""
    mine, theirs = spaces.of(subject.namespace), spaces.of(endpoint.namespace)
    if "sameLabels" in peer:
        keys = peer["sameLabels"]
        return bool(keys) and all(k in theirs and k in mine and theirs[k] == mine[k] for k in keys)
    if "notSameLabels" in peer:
        keys = peer["notSameLabels"]
        return bool(keys) and all(k in theirs for k in keys) and any(theirs[k] != mine.get(k) for k in keys)
    return True


def _ports(rule: Dict[str, Any]) -> Optional[List[Tuple[str, Any, Any]]]:
    if rule.get("protocols") is not None:     # v1alpha2
        out: List[Tuple[str, Any, Any]] = []
        for item in rule["protocols"]:
            if item.get("destinationNamedPort"):
                out.append(("named", item["destinationNamedPort"], None))
            for key, protocol in PROTOCOL_KEYS.items():
                if key in item:
                    dest = (item[key] or {}).get("destinationPort") or {}
                    if "number" in dest:
                        out.append((protocol, dest["number"], dest["number"]))
                    elif "range" in dest:
                        out.append((protocol, dest["range"]["start"], dest["range"]["end"]))
                    else:
                        out.append((protocol, 1, nm.MAX_PORT))
        return out
    if rule.get("ports") is not None:          # v1alpha1
        out = []
        for item in rule["ports"]:
            if item.get("namedPort"):
                out.append(("named", item["namedPort"], None))
            elif item.get("portNumber"):
                number = item["portNumber"]
                out.append((number.get("protocol") or "TCP", number.get("port"), number.get("port")))
            elif item.get("portRange"):
                rng = item["portRange"]
                out.append((rng.get("protocol") or "TCP", rng.get("start"), rng.get("end")))
        return out
    return None


def _selects(selector: Dict[str, Any], endpoint: nm.Endpoint, spaces: nm.Namespaces) -> bool:
    if selector.get("namespaceSelector") is None:
        return False
    if not selectors.matches(selector["namespaceSelector"], spaces.of(endpoint.namespace)):
        return False
    return "podSelector" not in selector or selectors.matches(selector["podSelector"], endpoint.labels)


def _peer_matches(peer: Dict[str, Any], endpoint: nm.Endpoint, subject: nm.Endpoint,
                  spaces: nm.Namespaces) -> bool:
    if "cidrs" in peer:
        addresses = endpoint.address_set()
        return any(nsets.IPSet.parse(c).contains(addresses) for c in peer["cidrs"]) if endpoint.ips or endpoint.cidr \
            else False
    if peer.get("other") or not endpoint.is_pod:
        return False
    return _selects(peer, endpoint, spaces) and _same_labels(peer, endpoint, subject, spaces)


def _port_matches(ports: Optional[List[Tuple[str, Any, Any]]], number: Optional[int], protocol: str,
                  destination: nm.Endpoint) -> bool:
    if ports is None:
        return True
    for kind, first, last in ports:
        if kind == "named":
            resolved = destination.resolve_port(first, protocol) if destination.is_pod else None
            if resolved is not None and resolved == number:
                return True
        elif kind == protocol and number is not None and first <= number <= last:
            return True
    return False


def decide_tier(policies: Sequence[AdminPolicy], tier: str, direction: str, subject: nm.Endpoint,
                peer: nm.Endpoint, number: Optional[int], protocol: str,
                spaces: nm.Namespaces) -> Optional[AdminRule]:
    """The first rule of ``tier`` that matches, by priority then written order."""
    destination = subject if direction == "ingress" else peer
    for policy in sorted((p for p in policies if p.tier == tier), key=lambda p: (p.priority, p.name or "")):
        if not _selects(policy.subject, subject, spaces):
            continue
        for rule in policy.rules[direction]:
            if any(_peer_matches(p, peer, subject, spaces) for p in rule.peers) and \
                    _port_matches(rule.ports, number, protocol, destination):
                return rule
    return None


# --------------------------------------------------------------- the answer
class SideAnswer:
    """One direction's answer: allowed or not, which tier and object decided."""

    def __init__(self, direction: str, allowed: bool, tier: str, deciding: List[str], reason: str) -> None:
        self.direction = direction
        self.allowed = allowed
        self.tier = tier          # Admin | NetworkPolicy | MultiNetworkPolicy | Baseline | default | n/a
        self.deciding = deciding  # "<kind> <name> ... rule i" texts
        self.reason = reason

    def as_dict(self) -> Dict[str, Any]:
        return {"direction": self.direction, "allowed": self.allowed, "tier": self.tier, "deciding": self.deciding,
                "reason": self.reason}


class TieredVerdict:
    def __init__(self, network: str, egress: SideAnswer, ingress: SideAnswer, inner: Optional[ne.Verdict]) -> None:
        self.network = network
        self.egress = egress
        self.ingress = ingress
        self.inner = inner
        self.allowed = egress.allowed and ingress.allowed

    @property
    def outcome(self) -> str:
        return "allowed" if self.allowed else "denied"

    @property
    def deciding(self) -> List[str]:
        sides = [s for s in (self.egress, self.ingress) if not s.allowed] or [self.egress, self.ingress]
        out: List[str] = []
        for side in sides:
            out.extend(d for d in side.deciding if d not in out)
        return out

    def as_dict(self) -> Dict[str, Any]:
        return {"network": self.network, "outcome": self.outcome, "deciding": self.deciding,
                "egress": self.egress.as_dict(), "ingress": self.ingress.as_dict()}


def policy_for(obj: Dict[str, Any]) -> List[str]:
    """The ``<ns>/<nad>`` networks of a MultiNetworkPolicy (relative names in its namespace)."""
    meta = obj.get("metadata") or {}
    text = (meta.get("annotations") or {}).get(POLICY_FOR) or ""
    out = []
    for item in text.split(","):
        item = item.strip()
        if item:
            out.append(item if "/" in item else "%s/%s" % (meta.get("namespace"), item))
    return out


def for_network(multi_policies: Sequence[Dict[str, Any]], network: str) -> List[Dict[str, Any]]:
    return [p for p in multi_policies if network in policy_for(p)]


def _np_side(result: ne.DirectionResult, kind: str, direction: str) -> Optional[SideAnswer]:
    if not result.applicable or not result.isolated:
        return None
    allowed = result.coverage == "all"
    names = ["%s %s" % (kind, r) for r in result.rules] if allowed else \
        ["%s %s" % (kind, n) for n in result.isolating]
    reason = ("%s isolates it for %s and %s" % (kind, direction, "a rule allows it" if allowed else
                                                "no rule allows all of it"))
    return SideAnswer(direction, allowed, kind, names, reason)


def evaluate(admin: Sequence[Dict[str, Any]], policies: Sequence[Dict[str, Any]], namespaces: Any,
             source: Any, destination: Any, port: Any, protocol: str = "TCP", network: str = POD_NETWORK,
             multi: Sequence[Dict[str, Any]] = (), name_label: bool = False) -> TieredVerdict:
    """Would ``source`` reach ``destination`` on ``network`` (``pod`` or
    ``<ns>/<nad>``)?  ``admin``: ClusterNetworkPolicy / AdminNetworkPolicy /
    BaselineAdminNetworkPolicy objects; ``policies``: NetworkPolicies;
    ``multi``: MultiNetworkPolicies."""
    spaces = nm.Namespaces(namespaces, name_label=name_label)
    src, dst = nm.Endpoint.coerce(source), nm.Endpoint.coerce(destination)
    protocol = (protocol or "TCP").upper()
    if network != POD_NETWORK:
        applying = for_network(multi, network)
        inner = ne.evaluate(applying, spaces, (), src, dst, port, protocol)
        sides = []
        for result, direction in ((inner.egress, "egress"), (inner.ingress, "ingress")):
            side = _np_side(result, "MultiNetworkPolicy", direction)
            if side is None:
                side = SideAnswer(direction, True, "default", [], "no MultiNetworkPolicy for %s isolates it for %s"
                                  % (network, direction) if result.applicable else "not a pod on the network")
            sides.append(side)
        return TieredVerdict(network, sides[0], sides[1], inner)
    number = _number(port, protocol, dst)
    admins = [AdminPolicy(o) for o in admin]
    inner = ne.evaluate(policies, spaces, (), src, dst, port, protocol)
    sides = []
    for direction, subject, peer, result in (("egress", src, dst, inner.egress), ("ingress", dst, src, inner.ingress)):
        if not subject.is_pod:
            sides.append(SideAnswer(direction, True, "n/a", [], "not a pod: no policy applies on this side"))
            continue
        rule = decide_tier(admins, ADMIN, direction, subject, peer, number, protocol, spaces)
        passed = ""
        if rule is not None and rule.action in (ACCEPT, DENY):
            sides.append(SideAnswer(direction, rule.action == ACCEPT, ADMIN, [rule.label],
                                    "the Admin tier decides (%s is final)" % rule.action))
            continue
        if rule is not None:
            passed = "%s passed it on; " % rule.label
        side = _np_side(result, "NetworkPolicy", direction)
        if side is not None:
            side.reason = passed + side.reason
            side.deciding = ([rule.label] if rule is not None else []) + side.deciding
            sides.append(side)
            continue
        base = decide_tier(admins, BASELINE, direction, subject, peer, number, protocol, spaces)
        if base is not None and base.action in (ACCEPT, DENY):
            sides.append(SideAnswer(direction, base.action == ACCEPT, BASELINE,
                                    ([rule.label] if rule is not None else []) + [base.label],
                                    passed + "no NetworkPolicy isolates it; the Baseline tier decides"))
            continue
        sides.append(SideAnswer(direction, True, "default", [r.label for r in (rule, base) if r is not None],
                                passed + "no tier decides: allowed by default"))
    return TieredVerdict(network, sides[0], sides[1], inner)


def _number(port: Any, protocol: str, destination: nm.Endpoint) -> Optional[int]:
    if port is None or protocol == nm.ICMP:
        return None
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    resolved = destination.resolve_port(port, protocol) if destination.is_pod else None
    if resolved is None:
        raise nm.EvaluationError("%s has no %s port named %r" % (destination.name, protocol, port))
    return resolved
