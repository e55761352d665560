# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Doctor: reachability per network.

For each network of a VM - the pod network and every Multus network - which
policies filter it, and (with a peer) whether the peer reaches the VM and the
VM the peer on that network, with the deciding object and rule.  The pod
network is decided by the cluster tiers in order (Admin, namespace
NetworkPolicies, Baseline); a Multus network by the MultiNetworkPolicies whose
``policy-for`` names it (netpol_eval_tiers).  SR-IOV interfaces cannot be
filtered at all.  Also the impact preview of pending MultiNetworkPolicies and
cluster admin policies, per network.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_impact as nimpact
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_model as nm
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_eval_tiers as tiers
from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor import (
    INFO, MAX_FLOW_VMS, PEER_VM_KIND, VM_KIND, WARNING, VmView, finding, meta)

ADMIN_KINDS = ("ClusterNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy")
MULTI_KIND = "MultiNetworkPolicy"


def vm_networks(view: Any) -> List[Tuple[str, str, Optional[str]]]:
    """[(network id, interface name, binding)]: ``pod`` for the pod network,
    ``<ns>/<nad>`` for a Multus network."""
    out = []
    for network in view.networks:
        iface = vmspec.find(view.interfaces, network.get("name"))[1] or {}
        if vmspec.is_primary(network) and "pod" in network:
            out.append((tiers.POD_NETWORK, network.get("name"), vmspec.binding_of(iface) if iface else None))
        elif vmspec.nad_reference(network):
            ref = "%s/%s" % vmspec.split_reference(vmspec.nad_reference(network), view.namespace)
            out.append((ref, network.get("name"), vmspec.binding_of(iface) if iface else None))
    if not view.networks and view.primary()[1] is not None:
        out.append((tiers.POD_NETWORK, "default", None))
    return out


def endpoint_on(view: Any, interface: str, network: str) -> nm.Endpoint:
    """The VM as an endpoint on one network: its labels, and its addresses
    there (VMI status interfaces) when it runs."""
    if network == tiers.POD_NETWORK:
        return view.endpoint()
    ips: List[str] = []
    for status in ((view.vmi or {}).get("status") or {}).get("interfaces") or []:
        if status.get("name") == interface:
            ips = [ip.split("/")[0] for ip in status.get("ipAddresses") or [status.get("ipAddress")] if ip]
    return nm.Endpoint.workload(view.namespace, view.pod_labels, ips, view.named_ports(),
                                name="VM %s/%s" % (view.namespace, view.name))


def _admin_applying(admin: Sequence[Dict[str, Any]], endpoint: nm.Endpoint, spaces: nm.Namespaces) -> List[str]:
    names = []
    for obj in admin:
        policy = tiers.AdminPolicy(obj)
        if tiers._selects(policy.subject, endpoint, spaces):   # pylint: disable=protected-access
            names.append("%s %s (%s tier, priority %s)" % (policy.kind, policy.name, policy.tier,
                                                           policy.priority))
    return names


Section = Tuple[Dict[str, Any], List[Dict[str, Any]]]


def check_networks(snap: Any, view: Any, peer: Any, direction: str, views: Sequence[Any]) -> Section:
    """The per-network section of a VM's report and its findings."""
    spaces = snap.namespace_labels()
    found: List[Dict[str, Any]] = []
    rows = []
    peer_view = _peer_view(snap, view, peer, views)
    for network, interface, binding in vm_networks(view):
        endpoint = endpoint_on(view, interface, network)
        row: Dict[str, Any] = {"network": network, "interface": interface, "binding": binding}
        if binding == "sriov":
            row.update(filtered_by="nothing (SR-IOV VF: bypasses the host network stack)", policies=[])
        elif network == tiers.POD_NETWORK:
            row["filtered_by"] = "cluster tiers (Admin, NetworkPolicy, Baseline)"
            row["policies"] = _admin_applying(snap.admin_policies, endpoint, spaces) + [
                "NetworkPolicy %s" % nm.policy_name(p) for p in snap.policies()
                if nm.selects(p, endpoint)]
        else:
            applying = [p for p in tiers.for_network(snap.multi_policies(), network) if nm.selects(p, endpoint)]
            row["filtered_by"] = "MultiNetworkPolicy"
            row["policies"] = ["MultiNetworkPolicy %s" % nm.policy_name(p) for p in applying]
            if not applying:
                found.append(finding("reachability", INFO, "network-unfiltered",
                                     "%s: no MultiNetworkPolicy for %s selects it: all traffic on that network is "
                                     "allowed (if the CNI enforces MultiNetworkPolicy at all)" % (view.ref, network),
                                     "add a kubevirt_network_policies rule with network: %s" % network))
        if peer is not None and binding != "sriov":
            row["results"] = _answers(snap, view, peer, peer_view, direction, network, endpoint, found)
        rows.append(row)
    return {"networks": rows}, found


def _peer_view(snap: Any, view: Any, peer: Any, views: Sequence[Any]) -> Any:
    """The peer VM's view: one of the reported VMs, or the peer the runner read
    for the question alone (PEER_VM_KIND, when ``vm`` names only the subject);
    without it the peer would have no labels and no rule selecting it could match."""
    if peer is None or not peer.vm:
        return None
    namespace = peer.namespace or view.namespace
    found = next((v for v in views if v.namespace == namespace and v.name == peer.vm), None)
    if found is not None:
        return found
    vm = snap.find(VM_KIND, namespace, peer.vm) or snap.find(PEER_VM_KIND, namespace, peer.vm)
    return VmView(snap, vm) if vm is not None else None


def _peer_endpoint(view: Any, peer: Any, peer_view: Any, network: str) -> Optional[nm.Endpoint]:
    if peer.cidr:
        return nm.Endpoint.external(peer.cidr)
    if peer_view is not None:
        for other_network, interface, _binding in vm_networks(peer_view):
            if other_network == network:
                return endpoint_on(peer_view, interface, network)
        return None   # the peer VM is not on this network
    labels = dict((peer.selector or {}).get("matchLabels") or {})
    return nm.Endpoint.workload(peer.namespace or view.namespace, labels, name=peer.describe(view.namespace))


def _answers(snap: Any, view: Any, peer: Any, peer_view: Any, direction: str, network: str,
             endpoint: nm.Endpoint, found: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    other = _peer_endpoint(view, peer, peer_view, network)
    if other is None:
        return [{"direction": direction, "outcome": "not-attached",
                 "reason": "%s is not attached to %s" % (peer.describe(view.namespace), network)}]
    out: List[Dict[str, Any]] = []
    for key in (("ingress", "egress") if direction == "both" else (direction,)):
        src, dst = (other, endpoint) if key == "ingress" else (endpoint, other)
        try:
            verdict = tiers.evaluate(snap.admin_policies, snap.policies(), snap.namespace_labels(), src, dst,
                                     peer.port, peer.protocol, network=network, multi=snap.multi_policies())
        except nm.EvaluationError as exc:
            out.append({"direction": key, "outcome": "unknown", "reason": str(exc)})
            continue
        side = verdict.ingress if key == "ingress" else verdict.egress
        other_side = verdict.egress if key == "ingress" else verdict.ingress
        entry = {"direction": key, "outcome": verdict.outcome, "deciding": verdict.deciding,
                 "tier": (side if not side.allowed or other_side.allowed else other_side).tier,
                 "reason": "; ".join(s.reason for s in (verdict.egress, verdict.ingress))}
        out.append(entry)
        if not verdict.allowed:
            verb = "receive from" if key == "ingress" else "send to"
            found.append(finding("reachability", WARNING, "denied-on-network",
                                 "%s may not %s %s on network %s (%s): decided by %s" % (
                                     view.ref, verb, peer.describe(view.namespace), network, peer.port_text(),
                                     ", ".join(verdict.deciding) or "default"),
                                 "change the deciding policy, or add a rule%s that allows it" % (
                                     "" if network == tiers.POD_NETWORK else " with network: %s" % network)))
    return out


# ------------------------------------------------------------------ impact
def split_pending(pending: Sequence[Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]],
                                                              List[Dict[str, Any]]]:
    """(NetworkPolicies, MultiNetworkPolicies, admin policies) of the pending changes."""
    kinds: Dict[str, List[Dict[str, Any]]] = {"np": [], "mnp": [], "admin": []}
    for policy in pending:
        kind = policy.get("kind") or "NetworkPolicy"
        kinds["mnp" if kind == MULTI_KIND else "admin" if kind in ADMIN_KINDS else "np"].append(policy)
    return kinds["np"], kinds["mnp"], kinds["admin"]


def _merge_cluster(current: Sequence[Dict[str, Any]], changes: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    result = dict(((o.get("kind"), meta(o).get("name")), o) for o in current)
    for change in changes:
        key = (change.get("kind"), meta(change).get("name"))
        if change.get("state") == "absent":
            result.pop(key, None)
        else:
            result[key] = dict((k, v) for k, v in change.items() if k != "state")
    return list(result.values())


def network_impact(snap: Any, views: Sequence[Any], pending: Sequence[Dict[str, Any]],
                   ports: Sequence[Tuple[Any, str]]) -> List[Dict[str, Any]]:
    """VM -> VM flows whose outcome the pending policies change, per network
    (pod network with the admin tiers, Multus networks with MultiNetworkPolicies)."""
    nps, mnps, admins = split_pending(pending)
    before = (snap.admin_policies, snap.policies(), snap.multi_policies())
    after = (_merge_cluster(snap.admin_policies, admins), nimpact.merge_policies(snap.policies(), nps),
             nimpact.merge_policies(snap.multi_policies(), mnps))
    spaces = snap.namespace_labels()
    changes = []
    views = list(views)[:MAX_FLOW_VMS]
    for src in views:
        src_nets = dict((n, i) for n, i, b in vm_networks(src) if b != "sriov")
        for dst in views:
            if src is dst:
                continue
            for network, interface, binding in vm_networks(dst):
                if binding == "sriov" or network not in src_nets:
                    continue
                s_ep, d_ep = endpoint_on(src, src_nets[network], network), endpoint_on(dst, interface, network)
                for port, protocol in ports:
                    try:
                        old = tiers.evaluate(before[0], before[1], spaces, s_ep, d_ep, port, protocol,
                                             network=network, multi=before[2])
                        new = tiers.evaluate(after[0], after[1], spaces, s_ep, d_ep, port, protocol,
                                             network=network, multi=after[2])
                    except nm.EvaluationError:
                        continue
                    if old.outcome == new.outcome:
                        continue
                    cut = not new.allowed
                    changes.append({
                        "source": s_ep.name, "destination": d_ep.name, "network": network, "port": port,
                        "protocol": protocol, "change": "newly_denied" if cut else "newly_allowed",
                        "before": old.outcome, "after": new.outcome, "deciding_after": new.deciding,
                        "message": "this change would %s %s %s %s on network %s (%s)" % (
                            "cut" if cut else "open", d_ep.name, "off from" if cut else "to", s_ep.name, network,
                            "any %s port" % protocol if port is None else "%s/%s" % (protocol, port))})
    return changes
