# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The objects kubevirt_vm_istio owns beside the VMs: the mesh Services of
the task (and their checks against the VMs they select), PeerAuthentication,
DestinationRule and the istio-cni NetworkAttachmentDefinition, all labelled
as this module's so that it never takes over an object it did not make."""


import copy
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol
from ansible_collections.kubevirt_net.core.plugins.module_utils.istio import (
    APP_PROTOCOLS, APP_PROTOCOL_MINIMUM, CNI_NAD_NAME, COMPONENT, COMPONENT_LABEL, DESTINATION_RULE_NAME, MTLS_MODES,
    OWNED_LABELS, SSH_PORT, labels_of, port_number, selects, template_labels)
from ansible_collections.kubevirt_net.core.plugins.module_utils.istio_options import ServiceDecl
from ansible_collections.kubevirt_net.core.plugins.module_utils.istio_vms import VmCheck
from ansible_collections.kubevirt_net.core.plugins.module_utils.planner import Kind
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import MANAGED_BY_LABEL, MANAGED_BY_VALUE, ResourceType
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


def owned_meta(name: str, namespace: str) -> Dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(OWNED_LABELS)}


def is_ours(obj: Dict[str, Any]) -> bool:
    labels = labels_of(obj)
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(COMPONENT_LABEL) == COMPONENT


def service_manifest(decl: ServiceDecl, namespace: str, server_version: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    ports = []
    for port in decl.ports:
        entry = dict(port)
        if server_version is not None and tuple(server_version) < APP_PROTOCOL_MINIMUM:
            entry.pop("appProtocol", None)
        ports.append(entry)
    return {"apiVersion": "v1", "kind": "Service", "metadata": owned_meta(decl.name, namespace),
            "spec": {"type": decl.type, "selector": dict(decl.selector or {}), "ports": ports}}


def peer_authentication_manifest(namespace: str, mode: str, name: str = "default", version: str = "v1") -> Dict[str, Any]:
    return {"apiVersion": "security.istio.io/%s" % version, "kind": "PeerAuthentication",
            "metadata": owned_meta(name, namespace), "spec": {"mtls": {"mode": MTLS_MODES[mode]}}}


def destination_rule_manifest(namespace: str, cluster_domain: str = "cluster.local", version: str = "v1") -> Dict[str, Any]:
    return {"apiVersion": "networking.istio.io/%s" % version, "kind": "DestinationRule",
            "metadata": owned_meta(DESTINATION_RULE_NAME, namespace),
            "spec": {"host": "*.%s.svc.%s" % (namespace, cluster_domain), "exportTo": ["."],
                     "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}}


def cni_nad_manifest(namespace: str) -> Dict[str, Any]:
    """The empty NAD Multus needs to run Istio CNI as a chained plugin for the pod."""
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": owned_meta(CNI_NAD_NAME, namespace)}


def normalize_service_spec(spec: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    spec = spec or {}
    ports = []
    for port in spec.get("ports") or []:
        entry = {"name": port.get("name"), "port": port.get("port"),
                 "targetPort": port.get("targetPort", port.get("port")), "protocol": port.get("protocol") or "TCP"}
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        ports.append(entry)
    return {"type": spec.get("type") or "ClusterIP", "selector": dict(spec.get("selector") or {}),
            "ports": sorted(ports, key=lambda p: (p["port"], p["protocol"]))}


class OwnedKind(Kind):
    """Owned: our labels and the keys of the desired spec (for a Service:
    type, selector and ports, compared after the server's defaults)."""

    def __init__(self, resource: ResourceType, service: bool = False) -> None:
        super(OwnedKind, self).__init__(resource)
        self.service = service

    def _spec(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        if self.service:
            return normalize_service_spec(obj.get("spec"))
        return copy.deepcopy(obj.get("spec") or {})

    def view(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        meta = obj.get("metadata") or {}
        labels = labels_of(obj)
        return {"namespace": meta.get("namespace"), "name": meta.get("name"),
                "labels": dict((k, labels.get(k)) for k in OWNED_LABELS),
                "spec": self._spec(obj)}

    def same(self, desired: Dict[str, Any], current: Dict[str, Any]) -> bool:
        have = labels_of(current)
        if any(have.get(k) != v for k, v in OWNED_LABELS.items()):
            return False
        want, spec = self._spec(desired), self._spec(current)
        return all(spec.get(k) == v for k, v in want.items())

    def patch(self, desired: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, Any]:
        patch: Dict[str, Any] = {"metadata": {"labels": dict(OWNED_LABELS)}}
        want, have = desired.get("spec") or {}, current.get("spec") or {}
        spec: Dict[str, Any] = {}
        for key, value in want.items():
            old = have.get(key)
            if isinstance(value, dict) and isinstance(old, dict) and key == "selector":
                sub = netpol.merge_patch(old, value)
                if sub:
                    spec[key] = sub
            elif self._spec({"spec": {key: value}}).get(key) != self._spec({"spec": {key: old}}).get(key) \
                    or old is None:
                spec[key] = copy.deepcopy(value)
        if self.service:
            spec["ports"] = copy.deepcopy(want.get("ports") or [])
        if spec:
            patch["spec"] = spec
        return patch

    def expected(self, desired: Dict[str, Any], current: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        if current is None:
            return desired
        out = copy.deepcopy(current)
        out.setdefault("metadata", {})["labels"] = dict(labels_of(current), **OWNED_LABELS)
        out["spec"] = dict(out.get("spec") or {}, **copy.deepcopy(desired.get("spec") or {}))
        return out


def service_problems(decl: ServiceDecl, namespace: str, vms: Sequence[VmCheck], existing: Mapping[str, Dict[str, Any]],
                     problems: Problems, findings: List[Dict[str, Any]]) -> None:
    """Collisions and forwarding problems of one declared Service in one namespace.
    ``vms`` are the selected VMs' checks of the namespace; ``existing`` the
    namespace's Services by name."""
    where = "service %s/%s" % (namespace, decl.name)
    current = existing.get(decl.name)
    if current is not None and not is_ours(current):
        problems.add(where, "name", "a Service %s/%s exists and is not managed by this module (no labels %s): it is "
                     "left alone; choose another name, or delete it first" % (namespace, decl.name, ", ".join(
                         "%s=%s" % kv for kv in sorted(OWNED_LABELS.items()))))
    selected = [c for c in vms if selects(decl.selector, template_labels(c.vm))]
    if not selected:
        findings.append({"kind": "service-selects-no-vm", "namespace": namespace, "service": decl.name,
                         "message": "Service %s/%s selects %s, which matches the template labels of no selected VM"
                         % (namespace, decl.name, decl.selector)})
    for check in selected:
        if not check.ports:
            continue
        forwarded = set((port_number(p.get("port")), str(p.get("protocol") or "TCP").upper()) for p in check.ports)
        for target, protocol in decl.target_ports():
            if (target, protocol) not in forwarded:
                problems.add(where, "ports target_port %d/%s" % (target, protocol),
                             "is not in the ports list of %s interface %s (%s), so KubeVirt does not forward it to "
                             "the guest: add it there, or leave that list empty to forward every port"
                             % (check.ref, check.interface, ", ".join("%s/%s" % f for f in sorted(forwarded))))
    udp = sorted(set(target for target, protocol in decl.target_ports() if protocol == "UDP"))
    if udp and selected:
        findings.append({"kind": "udp-outside-mesh", "service": "%s/%s" % (namespace, decl.name), "ports": udp,
                         "message": "Service %s/%s forwards UDP target port(s) %s to VMs in the mesh: Envoy proxies "
                                    "TCP only and KubeVirt's masquerade forwards no other port itself with the "
                                    "sidecar (pkg/network/setup/netpod/masquerade/masquerade.go), so this traffic "
                                    "does not reach the guest" % (namespace, decl.name, ", ".join(str(p) for p in udp))})
    for target, protocol in decl.target_ports():
        if target == SSH_PORT and protocol == "TCP":
            findings.append({"kind": "ssh-outside-mesh", "service": "%s/%s" % (namespace, decl.name),
                             "message": "Service %s/%s targets port 22: KubeVirt forwards SSH straight to the VM, "
                                        "outside Envoy, so mTLS and AuthorizationPolicy do not apply to it"
                                        % (namespace, decl.name)})
    # another Service (not this one) selecting the same VMs on the same target port with another protocol
    for other in existing.values():
        name = (other.get("metadata") or {}).get("name")
        if name == decl.name:
            continue
        other_selector = (other.get("spec") or {}).get("selector") or {}
        if not any(selects(other_selector, template_labels(c.vm)) for c in selected):
            continue
        for port in (other.get("spec") or {}).get("ports") or []:
            other_target = port_number(port.get("targetPort", port.get("port")))
            for decl_port in decl.ports:
                if decl_port["targetPort"] != other_target or decl_port["protocol"] != (port.get("protocol") or "TCP"):
                    continue
                if other_target is None:
                    raise AssertionError("equal to the declared (checked, numeric) targetPort")
                theirs = port.get("appProtocol") or _name_protocol(port.get("name"))
                ours = decl_port.get("appProtocol") or _name_protocol(decl_port.get("name"))
                if theirs and ours and theirs != ours:
                    problems.add(where, "ports %s" % decl_port["name"],
                                 "target port %d is also exposed by Service %s/%s as %s, but here as %s: Istio "
                                 "cannot treat one workload port as two protocols; use the same app_protocol"
                                 % (other_target, namespace, name, theirs, ours))


def _name_protocol(name: Optional[str]) -> Optional[str]:
    prefix = str(name or "").split("-", 1)[0]
    if str(name or "").startswith("grpc-web"):
        return "grpc-web"
    return prefix if prefix in APP_PROTOCOLS else None
