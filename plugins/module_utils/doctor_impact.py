# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The doctor's cluster-wide views: the topology for the report (VMs,
networks, Services, policies, flows) and the impact preview of pending
policies - NetworkPolicies, MultiNetworkPolicies per network, and cluster
admin policies (split from doctor_traffic)."""

import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_eval as ne
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_impact as nimpact
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_model as nm
from ansible_collections.kubevirt_net.core.plugins.module_utils import doctor_networks, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor import (
    MAX_FLOW_VMS, NAD_KIND, PeerSpec, Snapshot, VmView, meta, pod_ips)
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor_traffic import (
    exposed_ports, selecting_services)


# ------------------------------------------------------ topology and impact
def _safe_id(prefix: str, text: str, used: Dict[str, Tuple[str, str]]) -> str:
    base = "%s_%s" % (prefix, re.sub(r"[^A-Za-z0-9_]", "_", text))
    ident, n = base, 1
    while ident in used and used[ident] != (prefix, text):
        n += 1
        ident = "%s_%d" % (base, n)
    used[ident] = (prefix, text)
    return ident


def _ports_label(ports: Iterable[Tuple[Optional[Any], str]]) -> str:
    return ", ".join("%s/%s" % (proto, port) if port is not None else "any %s" % proto for port, proto in ports)


def topology(snap: Snapshot, views: Sequence[VmView]) -> Dict[str, Any]:
    """Nodes (VMs, networks, Services, policies) and edges for a diagram."""
    used: Dict[str, Tuple[str, str]] = {}
    nodes: List[Dict[str, Any]] = []
    edges: List[Dict[str, Any]] = []
    index: Dict[Tuple[str, str], str] = {}

    def node(kind: str, ident_text: str, label: Optional[str], **extra: Any) -> str:
        if (kind, ident_text) not in index:
            index[(kind, ident_text)] = _safe_id(kind, ident_text, used)
            nodes.append(dict({"id": index[(kind, ident_text)], "kind": kind, "label": label}, **extra))
        return index[(kind, ident_text)]

    namespaces = sorted(set(v.namespace for v in views))
    for view in views:
        vm_id = node("vm", "%s/%s" % (view.namespace, view.name), view.name, namespace=view.namespace,
                     phase=view.phase or "Stopped", ips=pod_ips(view.pod))
        primary_iface = view.primary()[0]
        for iface in view.interfaces or ([primary_iface] if primary_iface else []):
            network = vmspec.find(view.networks, iface.get("name"))[1] or ({"pod": {}} if iface.get("implicit")
                                                                           else {})
            if "pod" in network:
                net_id = node("net", "pod", "pod network")
            elif "multus" in network:
                nad_ns, nad_name = vmspec.split_reference(vmspec.nad_reference(network), view.namespace)
                exists = snap.find(NAD_KIND, nad_ns, nad_name) is not None
                net_id = node("net", "%s/%s" % (nad_ns, nad_name), "%s/%s%s" % (nad_ns, nad_name,
                                                                                "" if exists else " (missing)"),
                              missing=not exists)
            else:
                continue
            edges.append({"source": vm_id, "target": net_id, "kind": "attaches",
                          "label": "%s (%s)" % (iface.get("name"), vmspec.binding_of(iface))})
        for svc, how in selecting_services(snap, view):
            spec = svc.get("spec") or {}
            kind = "headless" if spec.get("clusterIP") == "None" else spec.get("type") or "ClusterIP"
            svc_id = node("svc", "%s/%s" % (view.namespace, meta(svc).get("name")), "%s (%s)" % (
                meta(svc).get("name"), kind), namespace=view.namespace)
            edges.append({"source": svc_id, "target": vm_id, "kind": "selects" if how == "pod" else "broken",
                          "label": {"pod": "selects", "template-not-applied": "labels not applied yet",
                                    "vm-labels-only": "VM labels only: no endpoint"}[how]})
        endpoint = view.endpoint()
        for direction in (nm.INGRESS, nm.EGRESS):
            for policy in nm.applying(snap.policies([view.namespace]), endpoint, direction):
                pol_id = node("policy", nm.policy_name(policy), meta(policy).get("name"), namespace=view.namespace)
                edges.append({"source": pol_id, "target": vm_id, "kind": "isolates",
                              "label": "isolates %s" % direction.lower()})
    flows = []
    if len(views) <= MAX_FLOW_VMS:
        policies = snap.policies()
        spaces = snap.namespace_labels()
        endpoints = dict((id(v), v.endpoint()) for v in views)
        for src in views:
            for dst in views:
                if src is dst:
                    continue
                s_ep, d_ep = endpoints[id(src)], endpoints[id(dst)]
                if not nm.applying(policies, s_ep, nm.EGRESS) and not nm.applying(policies, d_ep, nm.INGRESS):
                    continue
                ports: Sequence[Tuple[Optional[int], str]] = exposed_ports(snap, dst) or [(None, "TCP")]
                allowed: List[Tuple[Optional[int], str]] = []
                denied: List[Tuple[Optional[int], str]] = []
                deciding: List[str] = []
                for port, protocol in ports[:8]:
                    verdict = ne.evaluate(policies, spaces, (), s_ep, d_ep, port, protocol, name_label=snap.name_label)
                    (allowed if verdict.allowed else denied).append((port, protocol))
                    deciding.extend(n for n in verdict.deciding_policies if n not in deciding)
                flow = {"source": index[("vm", "%s/%s" % (src.namespace, src.name))],
                        "target": index[("vm", "%s/%s" % (dst.namespace, dst.name))],
                        "kind": "flow-allowed" if allowed and not denied else "flow-denied" if not allowed
                        else "flow-partial",
                        "label": "; ".join(t for t in ("allowed %s" % _ports_label(allowed) if allowed else "",
                                                       "denied %s" % _ports_label(denied) if denied else "") if t),
                        "policies": deciding}
                flows.append(flow)
    return {"namespaces": namespaces, "nodes": nodes, "edges": edges + flows,
            "flows_evaluated": len(views) <= MAX_FLOW_VMS}


def policy_impact(snap: Snapshot, views: Sequence[VmView], pending: List[Dict[str, Any]],
                  peer: Optional[PeerSpec]) -> Dict[str, Any]:
    """The VM->VM and VM->CIDR flows the pending policies would newly deny or
    allow, computed before anything is applied."""
    current = snap.policies()
    problems = []
    nps, mnps, _admins = doctor_networks.split_pending(pending)
    for policy in nps + mnps:   # a MultiNetworkPolicy's spec is a NetworkPolicySpec
        if policy.get("state") != "absent":
            problems.extend(nm.check_policy(policy))
    after = nimpact.merge_policies(current, nps)
    endpoints = [v.endpoint() for v in views[:MAX_FLOW_VMS]]
    cidrs = []
    for policy in list(nps) + current:
        for key, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in (policy.get("spec") or {}).get(key) or []:
                for item in (rule or {}).get(peers_key) or []:
                    cidr = ((item or {}).get("ipBlock") or {}).get("cidr")
                    if cidr and cidr not in cidrs:
                        cidrs.append(cidr)
    if peer is not None and peer.cidr and peer.cidr not in cidrs:
        cidrs.append(peer.cidr)
    for cidr in cidrs[:10]:
        try:
            endpoints.append(nm.Endpoint.external(cidr))
        except ValueError:
            continue
    ports: List[Tuple[Optional[int], str]] = []
    for view in views[:MAX_FLOW_VMS]:
        for entry in exposed_ports(snap, view):
            if entry not in ports:
                ports.append(entry)
    for policy in pending:
        for key in ("ingress", "egress"):
            for rule in (policy.get("spec") or {}).get(key) or []:
                for port in (rule or {}).get("ports") or []:
                    if isinstance(port.get("port"), int):
                        entry = (port["port"], port.get("protocol") or "TCP")
                        if entry not in ports:
                            ports.append(entry)
    if peer is not None and isinstance(peer.port, int) and (peer.port, peer.protocol) not in ports:
        ports.append((peer.port, peer.protocol))
    ports = ports[:12] or [(None, "TCP")]
    changes = nimpact.impact(current, after, snap.namespace_labels(), endpoints, ports, name_label=snap.name_label)
    per_network = doctor_networks.network_impact(snap, views, pending, ports)
    flows = [c.as_dict() for c in changes]
    return {"pending": [nm.policy_name(p) + (" (delete)" if p.get("state") == "absent" else "") for p in pending],
            "problems": problems, "ports_checked": ["%s/%s" % (p[1], p[0]) if p[0] else "any %s" % p[1]
                                                    for p in ports],
            "newly_denied": [f for f in flows if f["change"] == "newly_denied"],
            "newly_allowed": [f for f in flows if f["change"] == "newly_allowed"],
            "networks": per_network}
