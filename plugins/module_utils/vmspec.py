# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Reading a VirtualMachine's network spec: the interfaces/networks pair of
its template, matched by name, and KubeVirt's rules about them (what is the
primary network, what can be hot-plugged or unplugged)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

BINDINGS = ("bridge", "masquerade", "sriov", "passtBinding", "binding")
REMOVED_BINDINGS = ("slirp", "macvtap", "passt")
MODELS = ("e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139", "virtio")
HOTPLUG_BINDINGS = ("bridge", "sriov")   # pkg/network/controllers/vm.go: only these propagate live
UNPLUG_BINDINGS = ("bridge",)            # admitter: state "absent" is supported only for bridge binding
PCI_ADDRESS = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")

IFACES_PATH = "/spec/template/spec/domain/devices/interfaces"
NETWORKS_PATH = "/spec/template/spec/networks"


def template_spec(vm):
    return ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}


def interfaces_of(vm):
    return list(((template_spec(vm).get("domain") or {}).get("devices") or {}).get("interfaces") or [])


def networks_of(vm):
    return list(template_spec(vm).get("networks") or [])


def binding_of(iface):
    for name in BINDINGS + REMOVED_BINDINGS:
        if name in iface:
            return name
    return None


def find(items, name):
    for index, item in enumerate(items):
        if item.get("name") == name:
            return index, item
    return None, None


def is_primary(network):
    """The pod network, or a Multus network marked default (vmispec.LookUpDefaultNetwork)."""
    return "pod" in network or bool((network.get("multus") or {}).get("default"))


def nad_reference(network):
    return (network.get("multus") or {}).get("networkName")


def split_reference(reference, namespace):
    """'<nad>' or '<ns>/<nad>' -> (namespace, name)."""
    ref_ns, _sep, name = str(reference).rpartition("/")
    return (ref_ns or namespace, name)


def is_running(vm):
    spec = vm.get("spec") or {}
    status = vm.get("status") or {}
    if spec.get("runStrategy") in ("Always", "RerunOnFailure") or spec.get("running") is True:
        return True
    return bool(status.get("ready") or status.get("printableStatus") in ("Running", "Migrating", "Starting"))


def condition(obj, kind):
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def macs_in_use(vms, vmis):
    """MAC (lowercase, colon form) -> 'VirtualMachine ns/name iface' for every
    MAC set in VM templates or reported by VMIs."""
    used = {}
    for vm in vms:
        meta = vm.get("metadata") or {}
        for iface in interfaces_of(vm):
            if iface.get("macAddress"):
                used[normal_mac(iface["macAddress"])] = "VirtualMachine %s/%s interface %s" % (
                    meta.get("namespace"), meta.get("name"), iface.get("name"))
    for vmi in vmis:
        meta = vmi.get("metadata") or {}
        for iface in (vmi.get("status") or {}).get("interfaces") or []:
            if iface.get("mac"):
                used.setdefault(normal_mac(iface["mac"]), "VirtualMachineInstance %s/%s interface %s" % (
                    meta.get("namespace"), meta.get("name"), iface.get("name")))
    return used


def normal_mac(mac):
    return str(mac).lower().replace("-", ":")
