# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Reading a VirtualMachine's network spec: the interfaces/networks pair of
its template, matched by name, and KubeVirt's rules about them (what is the
primary network, what can be hot-plugged or unplugged)."""


import hashlib
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple, overload

from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import MANAGED_BY_LABEL, MANAGED_BY_VALUE

BINDINGS = ("bridge", "masquerade", "sriov", "passtBinding", "binding")
REMOVED_BINDINGS = ("slirp", "macvtap", "passt")
MODELS = ("e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139", "virtio")
HOTPLUG_BINDINGS = ("bridge", "sriov")   # pkg/network/controllers/vm.go: only these propagate live
UNPLUG_BINDINGS = ("bridge",)            # admitter: state "absent" is supported only for bridge binding
PCI_ADDRESS = re.compile(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")

IFACES_PATH = "/spec/template/spec/domain/devices/interfaces"
NETWORKS_PATH = "/spec/template/spec/networks"


def template_spec(vm: Dict[str, Any]) -> Dict[str, Any]:
    return ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}


def interfaces_of(vm: Dict[str, Any]) -> List[Dict[str, Any]]:
    return list(((template_spec(vm).get("domain") or {}).get("devices") or {}).get("interfaces") or [])


def networks_of(vm: Dict[str, Any]) -> List[Dict[str, Any]]:
    return list(template_spec(vm).get("networks") or [])


def binding_of(iface: Dict[str, Any]) -> Optional[str]:
    for name in BINDINGS + REMOVED_BINDINGS:
        if name in iface:
            return name
    return None


def find(items: Iterable[Dict[str, Any]], name: Optional[str]) -> Tuple[Optional[int], Optional[Dict[str, Any]]]:
    for index, item in enumerate(items):
        if item.get("name") == name:
            return index, item
    return None, None


def is_primary(network: Dict[str, Any]) -> bool:
    """The pod network, or a Multus network marked default (vmispec.LookUpDefaultNetwork)."""
    return "pod" in network or bool((network.get("multus") or {}).get("default"))


def nad_reference(network: Dict[str, Any]) -> Optional[str]:
    return (network.get("multus") or {}).get("networkName")


@overload
def split_reference(reference: Optional[str], namespace: str) -> Tuple[str, str]: ...


@overload
def split_reference(reference: Optional[str], namespace: Optional[str]) -> Tuple[Optional[str], str]: ...


def split_reference(reference: Optional[str], namespace: Optional[str]) -> Tuple[Optional[str], str]:
    """'<nad>' or '<ns>/<nad>' -> (namespace, name)."""
    ref_ns, _sep, name = str(reference).rpartition("/")
    return (ref_ns or namespace, name)


def is_running(vm: Dict[str, Any]) -> bool:
    spec = vm.get("spec") or {}
    status = vm.get("status") or {}
    if spec.get("runStrategy") in ("Always", "RerunOnFailure") or spec.get("running") is True:
        return True
    return bool(status.get("ready") or status.get("printableStatus") in ("Running", "Migrating", "Starting"))


def condition(obj: Optional[Dict[str, Any]], kind: str) -> Optional[Dict[str, Any]]:
    """The condition of type ``kind`` of ``obj`` (None for no object)."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def macs_in_use(vms: Iterable[Dict[str, Any]], vmis: Iterable[Dict[str, Any]]) -> Dict[str, str]:
    """MAC (lowercase, colon form) -> 'VirtualMachine ns/name iface' for every
    MAC set in VM templates or reported by VMIs."""
    used: Dict[str, str] = {}
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


def normal_mac(mac: str) -> str:
    return str(mac).lower().replace("-", ":")


# ------------------------------------------------------------ accessors
# One home for what several modules read off a VM, a VMI or any object.

def metadata_of(obj: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """``metadata`` of ``obj`` ({} when missing)."""
    return (obj or {}).get("metadata") or {}


def metadata_labels(obj: Optional[Dict[str, Any]]) -> Dict[str, str]:
    return dict(metadata_of(obj).get("labels") or {})


def template_labels(vm: Dict[str, Any]) -> Dict[str, str]:
    """``spec.template.metadata.labels``: what KubeVirt copies to the virt-launcher pod."""
    return dict((((vm.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})


def is_managed(obj: Dict[str, Any]) -> bool:
    """Whether ``obj`` carries this collection's managed-by label."""
    return metadata_labels(obj).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def vmi_id(name: str) -> str:
    """The ``vmi.kubevirt.io/id`` label value of a VMI (KubeVirt 1.7+,
    apimachinery CalculateVirtualMachineInstanceID): the name, hashed beyond 63."""
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()  # nosec - KubeVirt's label scheme, not security
    return "%s-%s" % (name[:63 - 8 - 1], digest[:8])


def hostname_from(spec: Dict[str, Any], name: str) -> str:
    """dns.SanitizeHostname: ``spec.hostname``, else the VMI name's first label (at most 63)."""
    return spec.get("hostname") or name.split(".")[0][:63]


def hostname_of(vm: Dict[str, Any]) -> str:
    """The guest's hostname as KubeVirt sets it, from the VM's template."""
    return hostname_from(template_spec(vm), vm["metadata"]["name"])


def pod_interface(vm: Dict[str, Any]) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
    """(network, interface) of the VM's pod network; (None, None) without one
    (the interface is None when the network has none)."""
    interfaces = interfaces_of(vm)
    for network in networks_of(vm):
        if "pod" in network:
            return network, find(interfaces, network.get("name"))[1]
    return None, None
