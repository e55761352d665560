# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The VMs of kubevirt_vm_istio: which refusals and findings a VM gets
(binding, autoattach, SSH, IPv6-only), and its desired template (the inject
annotation, masquerade when fix_binding)."""


import copy
from typing import Any, Dict, List, Optional, Sequence

from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.istio import (
    INJECT, MESH_BINDINGS, RESERVED_PORTS, SSH_PORT, autoattached, pod_interface, port_number, template_annotations,
    vm_ref)
from ansible_collections.kubevirt_net.core.plugins.module_utils.istio_options import Config
from ansible_collections.kubevirt_net.core.plugins.module_utils.planner import Kind
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import VM
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


class VmCheck:
    """What one selected VM needs, and what stops it."""

    def __init__(self, vm: Dict[str, Any]) -> None:
        self.vm = vm
        self.ref = vm_ref(vm)
        self.binding: Optional[str] = None
        self.interface: Optional[str] = None       # its name
        self.ports: List[Dict[str, Any]] = []      # the interface's ports and portRanges
        self.port_ranges: List[Dict[str, Any]] = []
        self.fix = False
        self.autoattach = False


def check_vm(vm: Dict[str, Any], config: Config, default_binding: Optional[str], problems: Problems,
             findings: List[Dict[str, Any]]) -> VmCheck:
    """Refusals and warnings for one selected VM; returns a ``VmCheck``."""
    check = VmCheck(vm)
    where = "VirtualMachine %s" % check.ref
    if config.state != "present":
        return check
    network, iface = pod_interface(vm)
    if network is None and autoattached(vm):
        check.autoattach = True
        check.interface = "default"
        check.binding = default_binding or "bridge"
    elif network is None:
        multus_default = any((n.get("multus") or {}).get("default") for n in vmspec.networks_of(vm))
        note = " (a Multus default network replaces it)" if multus_default else ""
        problems.add(where, "spec.template.spec.networks",
                     "has no pod network%s: Istio's sidecar handles the pod network only; add a network with "
                     "pod: {} and a masquerade interface" % note)
        return check
    elif iface is None:
        problems.add(where, "spec.template.spec.domain.devices.interfaces",
                     "has no interface for the pod network %r" % network.get("name"))
        return check
    else:
        check.interface = iface.get("name")
        check.binding = vmspec.binding_of(iface)
        check.ports = list(iface.get("ports") or [])
        check.port_ranges = list(iface.get("portRanges") or [])
    if check.binding in MESH_BINDINGS:
        pass
    elif check.binding == "bridge":
        if config.fix_binding:
            check.fix = True
        else:
            problems.add(where, "interface %s" % check.interface,
                         "uses bridge binding on the pod network%s: Istio does not work with it (the pod keeps no IP "
                         "for the sidecar). Change it to masquerade: {} (or passtBinding), or set fix_binding=true to "
                         "have this module do it (applies at the next restart)"
                         % (" (KubeVirt's default for a VM without interfaces)" if check.autoattach else ""))
    else:
        problems.add(where, "interface %s" % check.interface,
                     "uses %s binding on the pod network: Istio needs masquerade or passtBinding; change the "
                     "interface binding" % (check.binding or "no"))
    reserved = sorted(set(int(p["port"]) for p in check.ports if port_number(p.get("port")) in RESERVED_PORTS))
    if reserved:
        problems.add(where, "interface %s ports" % check.interface,
                     "lists Istio's reserved port(s) %s: the sidecar owns %s and KubeVirt never forwards them to the "
                     "guest; remove them from ports (or move the guest service to another port)"
                     % (", ".join(str(p) for p in reserved), ", ".join(str(p) for p in RESERVED_PORTS)))
    masquerade = check.binding == "masquerade" or check.fix
    if masquerade and ssh_bypasses_mesh(check.ports, check.port_ranges):
        findings.append(ssh_finding(check.ref, listed=bool(check.ports or check.port_ranges)))
    udp_numbers = [port_number(p.get("port")) for p in check.ports if str(p.get("protocol") or "TCP").upper() == "UDP"]
    udp = sorted(set(n for n in udp_numbers if n is not None and n != SSH_PORT))
    if udp and masquerade:
        findings.append({"kind": "udp-outside-mesh", "vm": check.ref, "ports": udp,
                         "message": "%s: UDP port(s) %s do not reach the guest in the mesh: with the sidecar, "
                                    "KubeVirt's masquerade forwards only port 22 itself and leaves every other port "
                                    "to Envoy, which proxies TCP only; serve them over TCP, or keep this VM out "
                                    "of the mesh" % (check.ref, ", ".join(str(p) for p in udp))})
    return check


def ssh_bypasses_mesh(ports: Sequence[Dict[str, Any]], port_ranges: Sequence[Dict[str, Any]]) -> bool:
    """Whether KubeVirt forwards TCP port 22 straight to the guest of a masquerade
    interface in the mesh: pkg/network/setup/netpod/masquerade/masquerade.go (v1.9.0)
    forwards istio.NonProxiedPorts() (22) when it is listed in ``ports``, falls in a
    ``portRanges`` entry, or when both lists are empty (every port is forwarded then)."""
    if not ports and not port_ranges:
        return True
    if any(port_number(p.get("port")) == SSH_PORT for p in ports):
        return True
    return any((port_number(r.get("start")) or 0) <= SSH_PORT <= (port_number(r.get("end")) or 0) for r in port_ranges)


def ssh_finding(ref: str, listed: bool = True) -> Dict[str, Any]:
    why = ("" if listed else " (the interface lists no ports, so KubeVirt forwards every port, and 22 goes around "
                             "the sidecar)")
    return {"kind": "ssh-outside-mesh", "vm": ref,
            "message": "%s: port 22 is forwarded straight to the VM, outside Envoy%s: STRICT mTLS and "
                       "AuthorizationPolicy do not protect SSH (KubeVirt excludes it from Istio's capture); list the "
                       "ports the guest serves without 22 to keep SSH out, or protect it in the guest"
                       % (ref, why)}


def ipv6_only(vmi: Optional[Dict[str, Any]], pod: Optional[Dict[str, Any]]) -> bool:
    """True when the running VM's pod network has IPv6 addresses only."""
    ips: List[str] = []
    for status_iface in (vmi or {}).get("status", {}).get("interfaces") or []:
        if status_iface.get("podInterfaceName") in (None, "eth0") or status_iface.get("name") == "default":
            ips.extend(status_iface.get("ipAddresses") or ([status_iface["ipAddress"]]
                                                           if status_iface.get("ipAddress") else []))
    pod_status = (pod or {}).get("status") or {}
    ips.extend(p.get("ip") for p in pod_status.get("podIPs") or [] if p.get("ip"))
    if pod_status.get("podIP"):
        ips.append(pod_status["podIP"])
    ips = [ip for ip in ips if ip]
    return bool(ips) and all(":" in ip for ip in ips)


def transform_vm(vm: Dict[str, Any], state: str, fix: bool) -> Dict[str, Any]:
    """The VM as this module wants it: the inject annotation set (present) or
    removed (absent); with ``fix`` the pod interface's bridge -> masquerade
    (an autoattached default interface is written out explicitly)."""
    out = copy.deepcopy(vm)
    template = out.setdefault("spec", {}).setdefault("template", {})
    meta = template.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    if state == "present":
        annotations[INJECT] = "true"
    else:
        annotations.pop(INJECT, None)
    meta["annotations"] = annotations
    if fix and state == "present":
        spec = template.setdefault("spec", {})
        devices = spec.setdefault("domain", {}).setdefault("devices", {})
        if autoattached(out):
            devices["interfaces"] = [{"name": "default", "masquerade": {}}]
            spec["networks"] = [{"name": "default", "pod": {}}]
        else:
            network, _iface = pod_interface(out)
            if network is not None:
                interfaces = []
                for iface in devices.get("interfaces") or []:
                    if iface.get("name") == network.get("name") and "bridge" in iface:
                        iface = dict(iface)
                        del iface["bridge"]
                        iface["masquerade"] = {}
                    interfaces.append(iface)
                devices["interfaces"] = interfaces
    return out


def vm_desired(vm: Dict[str, Any], state: str, fix: bool) -> Dict[str, Any]:
    """The plan entry for a VM (the Kind re-derives the change from what it reads)."""
    meta = vm.get("metadata") or {}
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"namespace": meta.get("namespace"), "name": meta.get("name")},
            "_istio": {"state": state, "fix": fix}}


class VmKind(Kind):
    """Owned: the template's inject annotation and (with fix) the pod
    interface's binding.  The change is computed from the object read, so a
    409 re-read applies the same intent to the fresh VM."""

    def __init__(self) -> None:
        super(VmKind, self).__init__(VM)

    def view(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        meta = obj.get("metadata") or {}
        view = {"namespace": meta.get("namespace"), "name": meta.get("name"),
                "template_annotations": {INJECT: template_annotations(obj).get(INJECT)}}
        interfaces = vmspec.interfaces_of(obj)
        if interfaces or vmspec.networks_of(obj):
            view["interfaces"] = [{"name": i.get("name"), "binding": vmspec.binding_of(i)} for i in interfaces]
        return view

    @staticmethod
    def _want(desired: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, Any]:
        intent = desired.get("_istio") or {}
        return transform_vm(current, intent.get("state", "present"), intent.get("fix", False))

    def same(self, desired: Dict[str, Any], current: Dict[str, Any]) -> bool:
        return self.view(self._want(desired, current)) == self.view(current)

    def expected(self, desired: Dict[str, Any], current: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        return self._want(desired, current) if current is not None else desired

    def patch(self, desired: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, Any]:
        want = self._want(desired, current)
        annotation = template_annotations(want).get(INJECT)
        patch: Dict[str, Any] = {"spec": {"template": {"metadata": {"annotations": {INJECT: annotation}}}}}
        if vmspec.interfaces_of(want) != vmspec.interfaces_of(current):
            spec = patch["spec"]["template"].setdefault("spec", {})
            spec["domain"] = {"devices": {"interfaces": vmspec.interfaces_of(want)}}
        if vmspec.networks_of(want) != vmspec.networks_of(current):
            patch["spec"]["template"].setdefault("spec", {})["networks"] = vmspec.networks_of(want)
        return patch
