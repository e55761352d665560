# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Cluster baselines: ``cluster_baselines`` entries -> ClusterNetworkPolicy
(``policy.networking.k8s.io/v1alpha2``, sigs.k8s.io/network-policy-api
v0.3.0), or AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1, the
API several CNIs still ship) when the cluster serves only that.

Semantics (network-policy-api, ClusterNetworkPolicy ``spec.tier``,
``spec.priority`` and rule ``action`` documentation):

* tiers are evaluated Admin, then namespaced NetworkPolicy, then Baseline;
* inside a tier, lower ``priority`` first, then rules in written order; the
  first matching rule decides: ``Accept`` and ``Deny`` are final, ``Pass``
  skips the rest of the tier (the next tier decides);
* two policies of one tier with the same priority that match the same
  traffic are ambiguous (the implementation may pick either), so a declared
  priority already used in its tier is refused.

v1alpha1 differences: the action is ``Allow`` (not ``Accept``); the Baseline
tier is the single BaselineAdminNetworkPolicy named ``default`` without a
priority and without ``Pass``; v0.1.1 egress peers are namespaces and pods
only (no ``networks``).

Pure logic, no API access.
"""

import copy
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol import expected_after
from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_fields import (
    name_selector, parse_cidr, parse_ports, parse_selector)
from ansible_collections.kubevirt_net.core.plugins.module_utils.planner import Kind
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    ADMIN_NETWORK_POLICY, BASELINE_ADMIN_NETWORK_POLICY, CLUSTER_NETWORK_POLICY, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    ResourceType)

GROUP = "policy.networking.k8s.io"
TIERS = ("Admin", "Baseline")
ACTIONS = ("Accept", "Deny", "Pass")
V1ALPHA2, V1ALPHA1 = "v1alpha2", "v1alpha1"
BANP_NAME = "default"   # the BaselineAdminNetworkPolicy CRD's CEL rule: only metadata.name == 'default'
MAX_RULES = 25          # ClusterNetworkPolicy: ingress/egress maxItems
POLICY_SET_LABEL = "kubevirt-net.io/policy-set"
DESCRIPTION_ANNOTATION = "kubevirt-net.io/description"


class Baseline:
    """One declared cluster baseline, independent of the API version."""

    def __init__(self, name: str, tier: str, priority: Optional[int], subject: Dict[str, Any],
                 ingress: List[Dict[str, Any]], egress: List[Dict[str, Any]], description: Optional[str]) -> None:
        self.name = name
        self.key_name = name            # the object's name once the API version is known (object_name)
        self.tier = tier
        self.priority = priority
        self.subject = subject          # {"namespaceSelector": sel} and/or {"podSelector": sel}
        self.ingress = ingress          # [{"name", "action", "peers": [...], "ports": [NetworkPolicyPort]}]
        self.egress = egress
        self.description = description

    def resource(self, version: str) -> ResourceType:
        if version == V1ALPHA2:
            return CLUSTER_NETWORK_POLICY
        return ADMIN_NETWORK_POLICY if self.tier == "Admin" else BASELINE_ADMIN_NETWORK_POLICY

    def object_name(self, version: str) -> str:
        return BANP_NAME if version == V1ALPHA1 and self.tier == "Baseline" else self.name

    def manifest(self, version: str, policy_set: str) -> Dict[str, Any]:
        resource = self.resource(version)
        metadata: Dict[str, Any] = {"name": self.object_name(version), "labels": {
            MANAGED_BY_LABEL: MANAGED_BY_VALUE, POLICY_SET_LABEL: policy_set}}
        if self.description:
            metadata["annotations"] = {DESCRIPTION_ANNOTATION: self.description}
        spec = _spec_v1alpha2(self) if version == V1ALPHA2 else _spec_v1alpha1(self)
        return {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": metadata, "spec": spec}


# ----------------------------------------------------------------- parsing
def parse(problems: Any, entries: Optional[List[Dict[str, Any]]], prefix: str) -> Optional[List[Baseline]]:
    """The declared baselines, or None when the option is not given (then
    cluster-scoped objects are not touched at all)."""
    if entries is None:
        return None
    baselines: List[Baseline] = []
    names: Dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = "cluster_baselines[%d] (%s)" % (index, entry.get("name"))
        baseline = _parse_one(problems, where, entry, prefix)
        if baseline is None:
            continue
        if baseline.name in names:
            problems.add(where, "name", "%r is used twice (also cluster_baselines[%d])" % (
                baseline.name, names[baseline.name]))
            continue
        names[baseline.name] = index
        baselines.append(baseline)
    return baselines


def _parse_one(problems: Any, where: str, entry: Dict[str, Any], prefix: str) -> Optional[Baseline]:
    name = entry.get("name")
    if not isinstance(name, str) or not problems.dns_subdomain(where, "name", prefix + name):
        return None
    tier = entry.get("tier") or "Baseline"
    priority = entry.get("priority")
    ok = True
    if tier not in TIERS:
        problems.add(where, "tier", "%r is not a tier: use Admin or Baseline" % (tier,))
        ok = False
    if priority is None or isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 1000:
        problems.add(where, "priority", "%r is not a priority: give 0-1000 (lower is evaluated first)" % (priority,))
        ok = False
    subject = _parse_subject(problems, where, entry.get("subject"))
    rules = {}
    for direction in ("ingress", "egress"):
        rules[direction] = _parse_rules(problems, where, direction, entry.get(direction))
    if not ok or subject is None or rules["ingress"] is None or rules["egress"] is None:
        return None
    if not rules["ingress"] and not rules["egress"]:
        problems.add(where, "ingress", "no ingress and no egress rules: the baseline would do nothing")
        return None
    return Baseline(prefix + name, tier, priority, subject, rules["ingress"], rules["egress"],
                    entry.get("description"))


def _namespaces(problems: Any, where: str, field: str, item: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """A namespace selector from namespace_selector or namespaces (names); {} when neither."""
    if item.get("namespace_selector") is not None and item.get("namespaces") is not None:
        problems.add(where, field, "use either namespace_selector or namespaces, not both")
        return None
    if item.get("namespaces") is not None:
        names = item["namespaces"] or []
        if not names or not all(problems.dns_label(where, "%s.namespaces[%d]" % (field, i), n)
                                for i, n in enumerate(names)):
            if not names:
                problems.add(where, field + ".namespaces", "is empty: list namespace names")
            return None
        return name_selector(names)
    if item.get("namespace_selector") is not None:
        return parse_selector(problems, where, field + ".namespace_selector", item["namespace_selector"])
    return {}


def _parse_subject(problems: Any, where: str, subject: Any) -> Optional[Dict[str, Any]]:
    if not isinstance(subject, dict) or not subject:
        problems.add(where, "subject", "is required: namespace_selector or namespaces, optionally template_selector")
        return None
    nsel = _namespaces(problems, where, "subject", subject)
    if nsel is None:
        return None
    out = {"namespaceSelector": nsel}
    if subject.get("template_selector") is not None:
        pod = parse_selector(problems, where, "subject.template_selector", subject["template_selector"])
        if pod is None:
            return None
        out["podSelector"] = pod
    return out


def _parse_rules(problems: Any, where: str, direction: str, rules: Any) -> Optional[List[Dict[str, Any]]]:
    if rules is None:
        return []
    if len(rules) > MAX_RULES:
        problems.add(where, direction, "has %d rules: at most %d per direction" % (len(rules), MAX_RULES))
        return None
    out = []
    ok = True
    for index, rule in enumerate(rules):
        here = "%s[%d]" % (direction, index)
        action = rule.get("action")
        if action not in ACTIONS:
            problems.add(where, here + ".action", "%r is not an action: use Accept, Deny or Pass" % (action,))
            ok = False
            continue
        peers = []
        for p_index, peer in enumerate(rule.get("peers") or [{}]):
            parsed = _parse_peer(problems, where, "%s.peers[%d]" % (here, p_index), peer or {}, direction)
            if parsed is None:
                ok = False
            else:
                peers.append(parsed)
        ports = parse_ports(problems, where, here + ".ports", rule.get("ports"))
        if ports is None:
            ok = False
            continue
        out.append({"name": rule.get("name") or "%s-%d" % (direction, index), "action": action, "peers": peers,
                    "ports": ports})
    return out if ok else None


def _parse_peer(problems: Any, where: str, field: str, peer: Dict[str, Any],
                direction: str) -> Optional[Dict[str, Any]]:
    if peer.get("cidr") is not None:
        if direction != "egress":
            problems.add(where, field + ".cidr", "address blocks (networks) are egress peers only in "
                                                 "ClusterNetworkPolicy")
            return None
        cidr = parse_cidr(problems, where, field + ".cidr", peer["cidr"])
        return None if cidr is None else {"cidr": str(cidr)}
    nsel = _namespaces(problems, where, field, peer)
    if nsel is None:
        return None
    out = {"namespaceSelector": nsel}
    if peer.get("template_selector") is not None:
        pod = parse_selector(problems, where, field + ".template_selector", peer["template_selector"])
        if pod is None:
            return None
        out["podSelector"] = pod
    return out


# --------------------------------------------------------------- rendering
def _with_rules(spec: Dict[str, Any], baseline: Baseline,
                rule_entry: Callable[[Dict[str, Any], str], Dict[str, Any]]) -> Dict[str, Any]:
    """``spec`` with ``ingress``/``egress``: one ``rule_entry(rule, peers key)`` per rule, for the directions that
    have rules (both API versions share this shape; they differ in each rule's entry)."""
    for direction, key in (("ingress", "from"), ("egress", "to")):
        rules = [rule_entry(rule, key) for rule in getattr(baseline, direction)]
        if rules:
            spec[direction] = rules
    return spec


def _subject(subject: Dict[str, Any]) -> Dict[str, Any]:
    """The subject in both API versions (v1alpha1 and v1alpha2 write it alike)."""
    if "podSelector" in subject:
        return {"pods": {"namespaceSelector": subject["namespaceSelector"], "podSelector": subject["podSelector"]}}
    return {"namespaces": subject["namespaceSelector"]}


def _spec_v1alpha2(baseline: Baseline) -> Dict[str, Any]:
    def rule_entry(rule: Dict[str, Any], key: str) -> Dict[str, Any]:
        entry: Dict[str, Any] = {"name": rule["name"], "action": rule["action"],
                                 key: [_peer_v1alpha2(p) for p in rule["peers"]]}
        if rule["ports"]:
            entry["protocols"] = [_protocol_v1alpha2(p) for p in rule["ports"]]
        return entry
    return _with_rules({"tier": baseline.tier, "priority": baseline.priority, "subject": _subject(baseline.subject)},
                       baseline, rule_entry)


def _peer_v1alpha2(peer: Dict[str, Any]) -> Dict[str, Any]:
    if "cidr" in peer:
        return {"networks": [peer["cidr"]]}
    return _subject(peer)


def _protocol_v1alpha2(port: Dict[str, Any]) -> Dict[str, Any]:
    number = port.get("port")
    if isinstance(number, str):
        return {"destinationNamedPort": number}
    proto = port["protocol"].lower()
    if number is None:
        return {proto: {"destinationPort": {"range": {"start": 1, "end": 65535}}}}
    if port.get("endPort") and port["endPort"] > number:
        return {proto: {"destinationPort": {"range": {"start": number, "end": port["endPort"]}}}}
    return {proto: {"destinationPort": {"number": number}}}


def _spec_v1alpha1(baseline: Baseline) -> Dict[str, Any]:
    def rule_entry(rule: Dict[str, Any], key: str) -> Dict[str, Any]:
        entry: Dict[str, Any] = {"name": rule["name"], "action": "Allow" if rule["action"] == "Accept"
                                 else rule["action"], key: [_peer_v1alpha1(p) for p in rule["peers"]]}
        if rule["ports"]:
            entry["ports"] = [_port_v1alpha1(p) for p in rule["ports"]]
        return entry
    spec: Dict[str, Any] = {"subject": _subject(baseline.subject)}
    if baseline.tier == "Admin":
        spec["priority"] = baseline.priority
    return _with_rules(spec, baseline, rule_entry)


def _peer_v1alpha1(peer: Dict[str, Any]) -> Dict[str, Any]:
    namespaces = {"namespaceSelector": peer["namespaceSelector"]}
    if "podSelector" in peer:
        return {"pods": {"namespaces": namespaces, "podSelector": peer["podSelector"]}}
    return {"namespaces": namespaces}


def _port_v1alpha1(port: Dict[str, Any]) -> Dict[str, Any]:
    number = port.get("port")
    if isinstance(number, str):
        return {"namedPort": number}
    if number is None:
        return {"portRange": {"protocol": port["protocol"], "start": 1, "end": 65535}}
    if port.get("endPort") and port["endPort"] > number:
        return {"portRange": {"protocol": port["protocol"], "start": number, "end": port["endPort"]}}
    return {"portNumber": {"protocol": port["protocol"], "port": number}}


# ------------------------------------------------------------ version checks
def served_versions(group: Optional[Dict[str, Any]]) -> List[str]:
    """The versions of the APIGroup document of ``/apis/policy.networking.k8s.io``
    (discovery lists served versions only; [] when the group is absent)."""
    return [v.get("version") for v in (group or {}).get("versions") or [] if v.get("version")]


def served_version(group: Optional[Dict[str, Any]]) -> Optional[str]:
    """v1alpha2 when the cluster serves ClusterNetworkPolicy, else v1alpha1
    when it serves only the older kinds, else None (None when the group is absent)."""
    versions = served_versions(group)
    if V1ALPHA2 in versions:
        return V1ALPHA2
    if V1ALPHA1 in versions:
        return V1ALPHA1
    return None


def served_kinds(group: Optional[Dict[str, Any]]) -> List[ResourceType]:
    """Every admin-policy kind whose version the cluster serves.  A cluster may
    serve ClusterNetworkPolicy (v1alpha2, network-policy-api v0.3.0) and
    AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1, v0.1.1) side by
    side (they are separate CRDs of one group), and objects of all of them then
    apply: the doctor reads them all, the priority check compares against them all."""
    versions = served_versions(group)
    kinds = [CLUSTER_NETWORK_POLICY] if V1ALPHA2 in versions else []
    if V1ALPHA1 in versions:
        kinds.extend([ADMIN_NETWORK_POLICY, BASELINE_ADMIN_NETWORK_POLICY])
    return kinds


def check_version(problems: Any, baselines: List[Baseline], version: str) -> None:
    """What v1alpha1 cannot express, refused before any write."""
    if version != V1ALPHA1:
        for baseline in baselines:
            for direction in ("ingress", "egress"):
                for index, rule in enumerate(getattr(baseline, direction)):
                    if any(isinstance(p.get("port"), str) for p in rule["ports"]):
                        problems.add(baseline.name, "%s[%d].ports" % (direction, index),
                                     "a named port becomes destinationNamedPort, which only the experimental "
                                     "channel of ClusterNetworkPolicy has: give the port number")
        return
    base = [b for b in baselines if b.tier == "Baseline"]
    if len(base) > 1:
        problems.add("cluster_baselines", "tier", "this cluster serves only v1alpha1, where the Baseline tier is the "
                     "single BaselineAdminNetworkPolicy 'default': declare one Baseline entry (%s)"
                     % ", ".join(b.name for b in base))
    for baseline in baselines:
        for direction in ("ingress", "egress"):
            for index, rule in enumerate(getattr(baseline, direction)):
                here = "%s[%d]" % (direction, index)
                if baseline.tier == "Baseline" and rule["action"] == "Pass":
                    problems.add(baseline.name, here + ".action", "Pass has no next tier in a "
                                 "BaselineAdminNetworkPolicy (v1alpha1): use Accept or Deny")
                if any("cidr" in p for p in rule["peers"]):
                    problems.add(baseline.name, here + ".peers", "this cluster serves only v1alpha1 "
                                 "(AdminNetworkPolicy v0.1.1 has no networks peer): drop the cidr peer or install "
                                 "ClusterNetworkPolicy (network-policy-api v0.3.0)")


def priority_clashes(problems: Any, baselines: List[Baseline], version: str,
                     existing: List[Dict[str, Any]], policy_set: str) -> None:
    """Refuse a declared (tier, priority) that another policy of that tier
    already uses: the spec leaves the choice between them to the
    implementation.  Our own objects that this run writes (same kind and
    name) do not count.  ``existing`` holds the objects of every served kind
    (served_kinds): an AdminNetworkPolicy (v1alpha1) is in the Admin tier as a
    ClusterNetworkPolicy of tier Admin is, and which of two with one priority
    goes first is not defined across the two APIs either, so they clash too
    (the BaselineAdminNetworkPolicy has no priority)."""
    declared = set((b.resource(version).kind, b.object_name(version)) for b in baselines)
    written = CLUSTER_NETWORK_POLICY.kind if version == V1ALPHA2 else ADMIN_NETWORK_POLICY.kind
    taken: Dict[Tuple[str, Optional[int]], List[str]] = {}
    for obj in existing:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        kind = obj.get("kind") or CLUSTER_NETWORK_POLICY.kind
        tier = spec.get("tier") or ("Admin" if kind == ADMIN_NETWORK_POLICY.kind else None)
        if tier is None or spec.get("priority") is None:
            continue
        ours = (meta.get("labels") or {}).get(POLICY_SET_LABEL) == policy_set and \
            (meta.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
        if ours and (kind, meta.get("name")) in declared:
            continue
        label = str(meta.get("name")) if kind == written else "%s %s" % (kind, meta.get("name"))
        taken.setdefault((tier, spec["priority"]), []).append(label)
    mine: Dict[Tuple[str, Optional[int]], str] = {}
    for baseline in baselines:
        if version == V1ALPHA1 and baseline.tier == "Baseline":
            continue   # the BaselineAdminNetworkPolicy has no priority
        key = (baseline.tier, baseline.priority)
        if key in taken:
            problems.add(baseline.name, "priority", "%s in the %s tier is already used by %s: when both match the "
                         "same traffic the implementation may apply either; choose an unused priority"
                         % (baseline.priority, baseline.tier, ", ".join(sorted(taken[key]))))
        elif key in mine:
            problems.add(baseline.name, "priority", "%s in the %s tier is also declared by %s: give each baseline "
                         "its own priority" % (baseline.priority, baseline.tier, mine[key]))
        mine.setdefault(key, baseline.name)


class ClusterPolicyKind(Kind):
    """Owned: the whole spec (compared as stored: these CRDs default nothing
    the renderer leaves out), our labels and the description annotation."""

    def view(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        meta = obj.get("metadata") or {}
        return {"name": meta.get("name"), "labels": dict(meta.get("labels") or {}), "spec": obj.get("spec")}

    def same(self, desired: Dict[str, Any], current: Dict[str, Any]) -> bool:
        have = current.get("metadata") or {}
        if any((have.get("labels") or {}).get(k) != v for k, v in desired["metadata"]["labels"].items()):
            return False
        if (have.get("annotations") or {}).get(DESCRIPTION_ANNOTATION) != \
                (desired["metadata"].get("annotations") or {}).get(DESCRIPTION_ANNOTATION):
            return False
        return desired["spec"] == current.get("spec")

    def patch(self, desired: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, Any]:
        meta = desired["metadata"]
        patch: Dict[str, Any] = {"metadata": {"labels": dict(meta["labels"])},
                                 "spec": dict((k, None) for k in current.get("spec") or {} if k not in desired["spec"])}
        patch["metadata"]["annotations"] = {DESCRIPTION_ANNOTATION: (meta.get("annotations") or {}).get(
            DESCRIPTION_ANNOTATION)}
        patch["spec"].update(copy.deepcopy(desired["spec"]))   # lists are replaced whole by a merge patch
        return patch

    def expected(self, desired: Dict[str, Any], current: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        return expected_after(desired, current, (DESCRIPTION_ANNOTATION,))
