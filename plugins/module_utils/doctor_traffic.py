# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Doctor checks of the traffic side: NetworkPolicy reachability (with the
evaluator in netpol_eval, and the allow-manifest that would fix a denial) and
the Services of a VM.  DNS is checked in doctor_dns, the Istio requirements in
doctor_istio, the topology and the impact preview in doctor_impact."""


import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_eval as ne
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_model as nm
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_sets as nsets
from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor import (
    ENDPOINTS_KIND, ERROR, INFO, PEER_VM_KIND, POD_KIND, SERVICE_KIND, VM_KIND, WARNING, PeerSpec, Snapshot, VmView,
    active, finding, meta, pod_ips)

ISTIO_CNI_SELECTOR = "k8s-app=istio-cni-node"


# ----------------------------------------------------------------- helpers
def service_selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def primary_binding(view: VmView) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
    iface, _network = view.primary()
    return vmspec.binding_of(iface) if iface else None, iface


def selecting_services(snap: Snapshot, view: VmView) -> List[Tuple[Dict[str, Any], str]]:
    """[(service, how)] with how = pod | template-not-applied | vm-labels-only."""
    out: List[Tuple[Dict[str, Any], str]] = []
    for svc in snap.list(SERVICE_KIND, view.namespace):
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            continue
        if service_selects(selector, view.pod_labels):
            out.append((svc, "pod"))
        elif view.pod is not None and service_selects(selector, view.predicted_pod_labels):
            out.append((svc, "template-not-applied"))
        elif service_selects(selector, view.vm_labels):
            out.append((svc, "vm-labels-only"))
    return out


def exposed_ports(snap: Snapshot, view: VmView) -> List[Tuple[int, str]]:
    """(port, protocol) the VM serves as far as the cluster knows: Service
    target ports and the primary interface's forwarded ports."""
    ports: List[Tuple[int, str]] = []
    named = view.named_ports()
    for svc, how in selecting_services(snap, view):
        if how != "pod":
            continue
        for port in (svc.get("spec") or {}).get("ports") or []:
            protocol = port.get("protocol") or "TCP"
            target = port.get("targetPort", port.get("port"))
            number = named.get((target, protocol)) if isinstance(target, str) and not target.isdigit() else target
            if number is not None and (int(number), protocol) not in ports:
                ports.append((int(number), protocol))
    _binding, iface = primary_binding(view)
    for port in (iface or {}).get("ports") or []:
        entry = (int(port["port"]), port.get("protocol") or "TCP")
        if entry not in ports:
            ports.append(entry)
    return ports


def _namespace_peer(snap: Snapshot, namespace: Optional[str],
                    own_namespace: Optional[str]) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """A namespaceSelector that selects ``namespace``, and a note when the
    cluster gives no label to select it by."""
    if namespace == own_namespace:
        return None, None
    labels = snap.namespace_labels().of(namespace)
    if nm.NAME_LABEL in labels:
        return {"matchLabels": {nm.NAME_LABEL: namespace}}, None
    return ({"matchLabels": {nm.NAME_LABEL: namespace}},
            "this API server (< 1.21) does not label namespaces by name: label it first "
            "(kubectl label namespace %s %s=%s)" % (namespace, nm.NAME_LABEL, namespace))


def _peer_entry(snap: Snapshot, endpoint: nm.Endpoint, labels: Optional[Mapping[str, str]],
                own_namespace: Optional[str]) -> Tuple[Dict[str, Any], Optional[str]]:
    if endpoint.kind != "pod":
        return {"ipBlock": {"cidr": _as_cidr(endpoint)}}, None
    entry: Dict[str, Any] = {"podSelector": {"matchLabels": dict(labels)} if labels else {}}
    ns_selector, note = _namespace_peer(snap, endpoint.namespace, own_namespace)
    if ns_selector:
        entry["namespaceSelector"] = ns_selector
    return entry, note


def _as_cidr(endpoint: nm.Endpoint) -> str:
    if endpoint.cidr:
        return str(nsets.IPSet.parse(endpoint.cidr).cidrs()[0]) if len(nsets.IPSet.parse(endpoint.cidr).cidrs()) == 1 \
            else endpoint.cidr
    ips = endpoint.ips or ["0.0.0.0"]
    return "%s/%d" % (ips[0], 128 if ":" in ips[0] else 32)


def _slug(text: Any) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", str(text).lower()).strip("-")[:40] or "peer"


def allow_manifest(snap: Snapshot, direction: str, subject_ns: Optional[str], subject_labels: Optional[Mapping[str, str]],
                   peer: nm.Endpoint, peer_labels: Optional[Mapping[str, str]], port: Union[int, str, None],
                   protocol: str) -> Tuple[Dict[str, Any], Optional[str]]:
    """A NetworkPolicy that would allow the flow on ``subject``'s side, and
    an optional note (e.g. a namespace label it relies on)."""
    entry, note = _peer_entry(snap, peer, peer_labels, subject_ns)
    rule = {"from" if direction == nm.INGRESS else "to": [entry]}
    if protocol != nm.ICMP:
        rule["ports"] = [{"protocol": protocol, "port": port}] if port is not None else [{"protocol": protocol}]
    name = "allow-%s-%s-%s" % ("from" if direction == nm.INGRESS else "to", _slug(peer.name),
                               "icmp" if protocol == nm.ICMP else "%s-%s" % (protocol.lower(), port or "all"))
    manifest = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name[:63].strip("-"), "namespace": subject_ns},
                "spec": {"podSelector": {"matchLabels": dict(subject_labels)} if subject_labels else {},
                         "policyTypes": [direction],
                         "ingress" if direction == nm.INGRESS else "egress": [rule]}}
    return manifest, note


def _fix_for(snap: Snapshot, verdict: ne.Verdict, view: VmView, vm_side_labels: Optional[Mapping[str, str]],
             peer_labels_of: Callable[[nm.Endpoint], Optional[Mapping[str, str]]], port: Union[int, str, None],
             protocol: str) -> Tuple[str, List[Dict[str, Any]]]:
    """Text and manifests that would allow a denied verdict."""
    manifests: List[Dict[str, Any]] = []
    notes: List[str] = []
    src, dst = verdict.source, verdict.destination
    vm_name = "VM %s/%s" % (view.namespace, view.name)

    def labels_for(end: nm.Endpoint) -> Optional[Mapping[str, str]]:
        return vm_side_labels if end.name == vm_name else peer_labels_of(end)
    # the side that denies gets the rule: egress on the source, ingress on the destination
    for result, direction, subject, other in ((verdict.egress, nm.EGRESS, src, dst),
                                              (verdict.ingress, nm.INGRESS, dst, src)):
        if result.isolated and result.coverage == "none":
            manifest, note = allow_manifest(snap, direction, subject.namespace, labels_for(subject), other,
                                            labels_for(other), port, protocol)
            manifests.append(manifest)
            if note:
                notes.append(note)
    if not manifests:
        return "no single rule is missing: the ports allowed on the two sides do not overlap; align them", []
    text = "add a NetworkPolicy allowing it (fix_policies has the manifests: %s)%s" % (
        ", ".join("%s/%s" % (m["metadata"]["namespace"], m["metadata"]["name"]) for m in manifests),
        "; " + "; ".join(notes) if notes else "")
    return text, manifests


# ------------------------------------------------------------ reachability
def _resolve_peer(snap: Snapshot, view: VmView, peer: PeerSpec,
                  views: Sequence[VmView]) -> Tuple[List[Tuple[nm.Endpoint, Optional[Mapping[str, str]]]], List[str], Optional[Dict[str, Any]]]:
    """([(endpoint, labels used for a fix)], notes, problem finding or None)."""
    if peer.cidr:
        return [(nm.Endpoint.external(peer.cidr), None)], [], None
    namespace = peer.namespace or view.namespace
    if peer.vm:
        vm = snap.find(VM_KIND, namespace, peer.vm) or snap.find(PEER_VM_KIND, namespace, peer.vm)
        if vm is None:
            return [], [], finding("reachability", ERROR, "peer-not-found",
                                   "peer VirtualMachine %s/%s does not exist" % (namespace, peer.vm),
                                   "check peer.vm and peer.namespace")
        other = next((v for v in views if v.namespace == namespace and v.name == peer.vm), None) or VmView(snap, vm)
        return [(other.endpoint(), other.selector_labels)], [], None
    pods = [p for p in snap.list(POD_KIND, namespace) if active(p)]
    if peer.selector is not None:
        pods = [p for p in pods if selectors.matches(peer.selector, meta(p).get("labels"))]
        given = dict(peer.selector.get("matchLabels") or {})
    else:
        given = {}
    if pods:
        return [(nm.Endpoint.pod(p), given) for p in pods], [], None
    labels = dict(peer.selector.get("matchLabels") or {}) if peer.selector else {}
    note = "no running pod matches %s: evaluated a pod with labels %s there" % (
        peer.describe(view.namespace), selectors.text({"matchLabels": labels}) if labels else "none")
    return [(nm.Endpoint.workload(namespace, labels, name="pod %s in %s" % (
        selectors.text({"matchLabels": labels}) if labels else "(any)", namespace)), labels)], [note], None


def _aggregate(verdicts: Sequence[Tuple[nm.Endpoint, ne.Verdict]]) -> str:
    outcomes = set(v.outcome for _ep, v in verdicts)
    if outcomes == {"allowed"}:
        return "allowed"
    if outcomes == {"denied"}:
        return "denied"
    return "partial"


def check_reachability(snap: Snapshot, view: VmView, peer: Optional[PeerSpec], direction: str,
                       views: Sequence[VmView]) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    policies = snap.policies()
    namespaces = snap.namespace_labels()
    endpoint = view.endpoint()
    found = []
    ingress = nm.applying(policies, endpoint, nm.INGRESS)
    egress = nm.applying(policies, endpoint, nm.EGRESS)
    binding, _primary_iface = primary_binding(view)
    _iface, primary_net = view.primary()
    secondary = [n["name"] for n in view.networks if not vmspec.is_primary(n)]  # KubeVirt requires the name
    section = {"primary_network": None if primary_net is None else ("pod" if "pod" in primary_net else "multus-default"),
               "primary_binding": binding,
               "isolated": {"ingress": bool(ingress), "egress": bool(egress)},
               "policies": {"ingress": [nm.policy_name(p) for p in ingress],
                            "egress": [nm.policy_name(p) for p in egress]},
               "policy_rules": dict((nm.policy_name(p), nm.describe_policy(p)) for p in ingress + egress),
               "secondary_networks": secondary, "results": []}
    found.extend(_isolation_findings(snap, view, ingress, egress, primary_net, secondary))
    if peer is None:
        return section, found
    targets, notes, problem = _resolve_peer(snap, view, peer, views)
    if problem:
        found.append(problem)
        return section, found
    directions = [nm.INGRESS, nm.EGRESS] if direction == "both" else [
        nm.INGRESS if direction == "ingress" else nm.EGRESS]
    labels_of = dict((id(ep), labels) for ep, labels in targets)

    def peer_labels_of(endpoint_: nm.Endpoint) -> Mapping[str, str]:
        labels = labels_of.get(id(endpoint_))
        if labels is not None:
            return labels
        return endpoint_.labels

    for direction_name in directions:
        found.extend(_peer_question(snap, view, peer, direction_name, (policies, namespaces, endpoint),
                                    (targets, notes, peer_labels_of), section))
    return section, found


def _isolation_findings(snap: Snapshot, view: VmView, ingress: List[Dict[str, Any]], egress: List[Dict[str, Any]], primary_net: Optional[Dict[str, Any]],
                        secondary: List[str]) -> List[Dict[str, Any]]:
    """What NetworkPolicy does to the VM whatever the peer: unfiltered networks, isolation, default denies."""
    found = []
    if secondary:
        found.append(finding("reachability", INFO, "secondary-networks-unfiltered",
                             "%s: NetworkPolicy applies only to the pod network; secondary network(s) %s (Multus) "
                             "are not filtered by it%s" % (
                                 view.ref, ", ".join(secondary),
                                 " - SR-IOV VFs on vfio-pci cannot be filtered at all" if any(
                                     "sriov" in i for i in view.interfaces) else ""),
                             "filter secondary networks with MultiNetworkPolicy where the CNI supports it, or in the "
                             "guest / on the upstream network"))
    if primary_net is None:
        found.append(finding("reachability", INFO, "no-pod-network",
                             "%s has no pod network: no NetworkPolicy applies to any of its interfaces" % view.ref,
                             "nothing to evaluate"))
    elif "pod" not in primary_net:
        found.append(finding("reachability", INFO, "multus-default-network",
                             "%s uses a Multus network as its default network: whether NetworkPolicy applies "
                             "depends on that network's CNI" % view.ref, "check the CNI's documentation"))
    if not ingress and not egress:
        found.append(finding("reachability", INFO, "not-isolated",
                             "no NetworkPolicy selects the pod of %s (labels %s): all traffic to and from it is "
                             "allowed (as far as NetworkPolicy goes)" % (
                                 view.ref, selectors.text({"matchLabels": view.pod_labels})),
                             "nothing to do; add policies to restrict it"))
    for direction_name, pols in ((nm.INGRESS, ingress), (nm.EGRESS, egress)):
        key = "ingress" if direction_name == nm.INGRESS else "egress"
        if pols and not any((p.get("spec") or {}).get(key) for p in pols):
            found.append(finding("reachability", INFO, "default-deny-%s" % key,
                                 "%s: all %s is denied (%s isolate it and allow nothing)" % (
                                     view.ref, key, ", ".join(nm.policy_name(p) for p in pols)),
                                 "add a policy that allows what the VM needs (policies are additive)"))
    if not snap.name_label:
        for policy in snap.policies([view.namespace]):
            if nm.NAME_LABEL in repr(policy.get("spec")):
                found.append(finding("reachability", WARNING, "name-label-unset",
                                     "NetworkPolicy %s selects namespaces by %s, which this API server (< 1.21) does "
                                     "not set: that selector matches only namespaces labelled by hand" % (
                                         nm.policy_name(policy), nm.NAME_LABEL),
                                     "label the namespaces it means (kubectl label namespace <ns> %s=<ns>) or "
                                     "upgrade Kubernetes" % nm.NAME_LABEL))
    return found


def _peer_question(snap: Snapshot, view: VmView, peer: PeerSpec, direction_name: str,
                   evaluated: Tuple[List[Dict[str, Any]], nm.Namespaces, nm.Endpoint],
                   resolved: Tuple[List[Tuple[nm.Endpoint, Optional[Mapping[str, str]]]], List[str], Callable[[nm.Endpoint], Optional[Mapping[str, str]]]],
                   section: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The answer for one direction to the peer (a result row in ``section``), as findings."""
    policies, namespaces, endpoint = evaluated
    targets, notes, peer_labels_of = resolved
    found = []
    verdicts, errors = [], []
    for target, _labels in targets:
        src, dst = (target, endpoint) if direction_name == nm.INGRESS else (endpoint, target)
        try:
            verdicts.append((target, ne.evaluate(policies, namespaces, (), src, dst, peer.port, peer.protocol,
                                                 name_label=snap.name_label)))
        except nm.EvaluationError as exc:
            errors.append("%s: %s" % (target.name, exc))
    key = "ingress" if direction_name == nm.INGRESS else "egress"
    question = ("can %s receive from %s on %s" if direction_name == nm.INGRESS else
                "can %s send to %s on %s") % (view.ref, peer.describe(view.namespace), peer.port_text())
    if not verdicts:
        section["results"].append({"direction": key, "question": question, "outcome": "unknown",
                                   "errors": errors})
        found.append(finding("reachability", ERROR, "peer-unanswerable", "%s? cannot tell: %s" % (
            question, "; ".join(errors)), "use a port number, or a port name the destination defines"))
        return found
    outcome = _aggregate(verdicts)
    first_bad = next((v for _t, v in verdicts if v.outcome != "allowed"), verdicts[0][1])
    deciding: List[str] = []
    for _t, verdict in verdicts:
        deciding.extend(n for n in verdict.deciding_policies if n not in deciding)
    result = {"direction": key, "question": question, "peer": peer.describe(view.namespace),
              "port": first_bad.port, "protocol": peer.protocol, "outcome": outcome,
              "allowed": outcome == "allowed", "deciding_policies": deciding,
              "reasons": notes + first_bad.reasons + errors,
              "per_endpoint": [dict(v.as_dict(), endpoint=t.name) for t, v in verdicts[:20]]}
    section["results"].append(result)
    if outcome == "allowed":
        found.append(finding("reachability", INFO, "peer-allowed-%s" % key,
                             "%s? yes%s" % (question, " (allowed by %s)" % ", ".join(deciding) if deciding
                                            else ": no policy restricts it"),
                             "nothing to do; if it still fails, the cause is outside NetworkPolicy (guest "
                             "firewall, service not listening, interface ports list, CNI)",
                             deciding_policies=deciding))
    else:
        fix, manifests = _fix_for(snap, first_bad, view, view.selector_labels, peer_labels_of,
                                  first_bad.port if isinstance(first_bad.port, int) else peer.port, peer.protocol)
        found.append(finding("reachability", ERROR, "peer-denied-%s" % key,
                             "%s? %s: %s" % (question, "no" if outcome == "denied" else "only partly",
                                             "; ".join(first_bad.reasons[:3])),
                             fix, deciding_policies=deciding, fix_policies=manifests))
    return found


# ----------------------------------------------------------------- services
def _resolve_target(port: Dict[str, Any], named: Dict[Tuple[str, str], int]) -> Tuple[Any, Optional[int]]:
    protocol = port.get("protocol") or "TCP"
    target: Any = port.get("targetPort", port.get("port"))  # a number or a port name
    if isinstance(target, str) and not target.isdigit():
        return target, named.get((target, protocol))
    return target, int(target)


def _node_addresses(snap: Snapshot, only: Optional[str] = None) -> List[str]:
    out = []
    for node in snap.nodes or []:
        if only and meta(node).get("name") != only:
            continue
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") in ("ExternalIP", "InternalIP"):
                out.append(address["address"])  # required in a NodeAddress
    return out


def check_services(snap: Snapshot, view: VmView) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """The Services that select the VM (or think they do): selector, ports against what the interface forwards,
    NetworkPolicy from outside for NodePort/LoadBalancer, node ports, load balancer, endpoints."""
    found = []
    rows = []
    endpoints = dict((meta(e).get("name"), e) for e in snap.list(ENDPOINTS_KIND, view.namespace))
    vm_ports = _VmPorts(view, snap.policies())
    for svc, how in selecting_services(snap, view):
        spec = svc.get("spec") or {}
        name = meta(svc).get("name")
        row: Dict[str, Any] = {
            "name": name, "type": spec.get("type") or "ClusterIP", "selector": spec.get("selector"),
            "cluster_ip": spec.get("clusterIP"), "match": how, "ports": [],
            "external_traffic_policy": spec.get("externalTrafficPolicy")}
        rows.append(row)
        where = "Service %s/%s" % (view.namespace, name)
        if how == "vm-labels-only":
            found.append(_vm_labels_only(view, spec, where, name))
            continue
        if how == "template-not-applied":
            found.append(finding("services", WARNING, "labels-not-applied",
                                 "%s selects labels of the VM template that the running pod of %s does not have yet: "
                                 "KubeVirt copies template labels at start" % (where, view.ref),
                                 "restart the VM (virtctl restart %s -n %s)" % (view.name, view.namespace),
                                 service=name))
        for port in spec.get("ports") or []:
            found.extend(vm_ports.check(snap, row, port, where, name))
        if row["type"] in ("NodePort", "LoadBalancer"):
            found.append(_node_port(snap, view, spec, row, where, name))
        if row["type"] == "LoadBalancer":
            found.extend(_load_balancer(svc, row, where, name))
        if view.running and how == "pod":
            found.extend(_endpoints(view, endpoints.get(name), row, where, name))
    if not rows:
        found.append(finding("services", INFO, "no-service",
                             "no Service selects %s (pod labels %s)" % (view.ref, selectors.text(
                                 {"matchLabels": view.pod_labels})),
                             "expose it with kubevirt_net.core.kubevirt_vm_service or 'virtctl expose vm %s'" % view.name))
    return {"services": rows}, found


def _vm_labels_only(view: VmView, spec: Dict[str, Any], where: str, name: Optional[str]) -> Dict[str, Any]:
    labels = selectors.text({"matchLabels": spec.get("selector")})
    return finding("services", ERROR, "service-selects-vm-labels",
                   "%s selects %s: selector matches VM labels, not template labels. Those are labels "
                   "of the VirtualMachine object (metadata.labels); the virt-launcher pod gets the "
                   "template's (spec.template.metadata.labels), so %s has no endpoint for %s" % (
                       where, labels, name, view.ref),
                   "add %s to spec.template.metadata.labels of the VM and restart it, or select the "
                   "pod by labels it has (%s)" % (labels, selectors.text({"matchLabels": view.selector_labels})),
                   service=name)


class _VmPorts:
    """What the VM's primary interface forwards, and the checks of one Service port against it."""

    def __init__(self, view: VmView, policies: List[Dict[str, Any]]) -> None:
        self.view = view
        self.policies = policies
        self.named = view.named_ports()
        self.binding, self.iface = primary_binding(view)
        self.forwarded = [(int(p["port"]), p.get("protocol") or "TCP") for p in (self.iface or {}).get("ports") or []]

    def check(self, snap: Snapshot, row: Dict[str, Any], port: Dict[str, Any], where: str,
              name: Optional[str]) -> List[Dict[str, Any]]:
        """Adds the port's entry to ``row``; returns its findings."""
        target, number = _resolve_target(port, self.named)
        protocol = port.get("protocol") or "TCP"
        entry = {"port": port.get("port"), "target_port": target, "resolved_target": number,
                 "protocol": protocol, "node_port": port.get("nodePort"), "forwarded": True}
        row["ports"].append(entry)
        if number is None:
            entry["forwarded"] = False
            return [finding("services", ERROR, "target-port-unresolved",
                            "%s targetPort %r is not a named port of the VM's pod (KubeVirt names container "
                            "ports after the interface ports)" % (where, target),
                            "use a number, or give the primary interface a port named %r" % target, service=name)]
        found = []
        if self.binding in ("masquerade", "passtBinding") and self.forwarded and (number, protocol) not in self.forwarded:
            entry["forwarded"] = False
            found.append(finding("services", ERROR, "port-not-forwarded",
                                 "%s targets %s/%d, but interface %s (%s) forwards only %s to the guest" % (
                                     where, protocol, number, (self.iface or {}).get("name"), self.binding,
                                     ", ".join("%s/%d" % (p, n) for n, p in self.forwarded)),
                                 "add {port: %d, protocol: %s} to the ports of interface %s, or remove its "
                                 "ports list (empty = all ports)" % (number, protocol, (self.iface or {}).get("name")),
                                 service=name))
        if row["type"] in ("NodePort", "LoadBalancer") and entry["forwarded"]:
            verdict = ne.evaluate(self.policies, snap.namespace_labels(), (), nm.Endpoint.external("0.0.0.0/0"),
                                  self.view.endpoint(), number, protocol, name_label=snap.name_label)
            entry["from_outside"] = verdict.outcome
            if verdict.outcome != "allowed":
                found.append(finding("services", WARNING, "external-ingress-denied",
                                     "%s (%s) port %s: NetworkPolicy %s %s traffic from outside the cluster to "
                                     "%s/%d of %s" % (where, row["type"], port.get("nodePort") or port.get("port"),
                                                      ", ".join(verdict.deciding_policies),
                                                      "denies" if verdict.outcome == "denied" else
                                                      "allows only part of the", protocol, number, self.view.ref),
                                     "allow the client addresses with an ingress ipBlock rule (what source IP the "
                                     "policy sees - client, node or load balancer - depends on the CNI and on "
                                     "externalTrafficPolicy)", service=name,
                                     deciding_policies=verdict.deciding_policies))
        return found


def _node_port(snap: Snapshot, view: VmView, spec: Dict[str, Any], row: Dict[str, Any], where: str, name: Optional[str]) -> Dict[str, Any]:
    local = spec.get("externalTrafficPolicy") == "Local"
    addresses = _node_addresses(snap, view.node if local else None)
    row["node_addresses"] = addresses
    ports = ", ".join(str(p["node_port"]) for p in row["ports"] if p.get("node_port"))
    return finding("services", INFO, "node-port",
                   "%s: reach %s on node port(s) %s of %s%s" % (
                       where, view.ref, ports or "(not allocated yet)",
                       ", ".join(addresses) if addresses else "any node",
                       " (externalTrafficPolicy Local: only the node running the VM, %s, answers)" %
                       view.node if local else ""),
                   "if it still fails: firewalls between client and nodes, and the checks above", service=name)


def _load_balancer(svc: Dict[str, Any], row: Dict[str, Any], where: str, name: Optional[str]) -> List[Dict[str, Any]]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    row["load_balancer"] = [i.get("ip") or i.get("hostname") for i in ingress]
    if ingress:
        return []
    return [finding("services", WARNING, "no-load-balancer", "%s has no load balancer address yet" % where,
                    "a LoadBalancer Service needs a load-balancer controller (cloud, MetalLB, ...); "
                    "use its NodePort meanwhile", service=name)]


def _endpoints(view: VmView, ep: Optional[Dict[str, Any]], row: Dict[str, Any], where: str, name: Optional[str]) -> List[Dict[str, Any]]:
    vm_ips = pod_ips(view.pod)
    ready = [a.get("ip") for s in (ep or {}).get("subsets") or [] for a in s.get("addresses") or []]
    not_ready = [a.get("ip") for s in (ep or {}).get("subsets") or [] for a in s.get("notReadyAddresses") or []]
    row["endpoints"] = {"ready": ready, "not_ready": not_ready, "includes_vm": bool(set(vm_ips) & set(ready))}
    if ep is None:
        return [finding("services", WARNING, "no-endpoints", "%s has no Endpoints object" % where,
                        "kube-controller-manager creates it; check that it runs", service=name)]
    if set(vm_ips) & set(not_ready):
        return [finding("services", WARNING, "endpoint-not-ready",
                        "%s lists %s as not ready: the virt-launcher pod is not Ready (VM still booting, "
                        "or its readinessProbe fails)" % (where, view.ref),
                        "check the VM's readinessProbe and the guest service", service=name)]
    if not set(vm_ips) & set(ready):
        return [finding("services", WARNING, "endpoint-missing",
                        "%s has no endpoint for %s (pod IPs %s)" % (where, view.ref, ", ".join(vm_ips) or "none"),
                        "the pod has no IP yet, or the Endpoints are stale: wait, then check the pod's status",
                        service=name)]
    return []
