# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""NIC hot-plug as KubeVirt 1.9 does it: a JSON Patch of the VM template.

Plug adds the interface and its Multus network in one request; unplug sets
``state: absent`` on a bridge interface of a running VM (KubeVirt then removes
both entries) or removes both entries of a stopped VM; a changed
``networkName`` on an existing secondary network is KubeVirt's live NAD swap.
Every patch starts with ``test`` operations on the lists it was computed from,
so a concurrent writer makes it fail (422) instead of being overwritten.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_LABEL, DNS1123_SUBDOMAIN

PLUG, UNPLUG, REMOVE, SWAP, UNCHANGED = "plug", "unplug", "remove", "swap", "unchanged"


def check_request(problems, where, req):
    """Validate one interface request (no cluster needed)."""
    name = req.get("interface")
    if not name or len(name) > 63 or not DNS1123_LABEL.match(name):
        problems.add(where, "interface", "%r is not a valid interface name: use a DNS-1123 label "
                     "(lowercase letters, digits, '-'; at most 63), e.g. 'net1'" % (name,))
    if req.get("state", "present") == "absent":
        return
    network = req.get("network")
    if not network:
        problems.add(where, "network", "is required to plug an interface: the NetworkAttachmentDefinition "
                     "name, or '<namespace>/<name>' for one in another namespace")
    else:
        parts = str(network).split("/")
        if len(parts) > 2 or not all(p and len(p) <= 253 and DNS1123_SUBDOMAIN.match(p) for p in parts):
            problems.add(where, "network", "%r is not a NetworkAttachmentDefinition reference: write '<name>' or "
                         "'<namespace>/<name>'" % (network,))
    binding = req.get("binding") or "bridge"
    if binding not in vmspec.HOTPLUG_BINDINGS:
        problems.add(where, "binding", "%r cannot be hot-plugged: KubeVirt hot-plugs only bridge and sriov "
                     "interfaces (masquerade, passtBinding and binding plugins apply at the next restart)" % binding)
    if req.get("model") and req["model"] not in vmspec.MODELS:
        problems.add(where, "model", "%r is not a KubeVirt NIC model: use one of %s" % (
            req["model"], ", ".join(vmspec.MODELS)))
    problems.mac(where, "mac_address", req.get("mac_address"))
    if req.get("pci_address") and not vmspec.PCI_ADDRESS.match(req["pci_address"]):
        problems.add(where, "pci_address", "%r is not a PCI address: write it like '0000:81:00.1'"
                     % (req["pci_address"],))


class VmPlan(object):
    def __init__(self):
        self.ops = []
        self.changes = []   # (interface, action, detail)

    @property
    def changed(self):
        return any(action != UNCHANGED for _name, action, _detail in self.changes)


def _same_ref(a, b, namespace):
    return vmspec.split_reference(a, namespace) == vmspec.split_reference(b, namespace)


def new_interface(req):
    """The interface a plug request adds.  ``fields`` (optional) carries further
    v1.Interface fields (ports, bootOrder, ...) as KubeVirt spells them; KubeVirt
    copies the whole interface into the VMI, so they travel with the plug."""
    iface = {"name": req["interface"], req.get("binding") or "bridge": {}}
    for option, field in (("model", "model"), ("mac_address", "macAddress"), ("pci_address", "pciAddress")):
        if req.get(option):
            iface[field] = req[option]
    for field, value in (req.get("fields") or {}).items():
        iface.setdefault(field, copy.deepcopy(value))
    return iface


def plan_vm(problems, vm, requests, running):
    """The JSON Patch (and what it does) for ``requests`` on ``vm``.  Problems
    that make a request impossible are added to ``problems``."""
    meta = vm.get("metadata") or {}
    namespace = meta.get("namespace")
    where = "VirtualMachine %s/%s" % (namespace, meta.get("name"))
    ifaces = vmspec.interfaces_of(vm)
    networks = vmspec.networks_of(vm)
    new_ifaces, new_networks = copy.deepcopy(ifaces), copy.deepcopy(networks)
    plan = VmPlan()
    removals = []
    for req in requests:
        name = req["interface"]
        field = "interface %s" % name
        i_index, iface = vmspec.find(ifaces, name)
        n_index, network = vmspec.find(networks, name)
        if (iface is None) != (network is None):
            problems.add(where, field, "has %s but no matching %s entry; fix the VM template first"
                         % (("an interface", "network") if network is None else ("a network", "interface")))
            continue
        if req.get("state", "present") == "absent":
            if iface is None:
                plan.changes.append((name, UNCHANGED, "not present"))
                continue
            if vmspec.is_primary(network):
                problems.add(where, field, "is on the primary network (%s); KubeVirt never unplugs the primary "
                             "interface" % ("pod" if "pod" in network else "Multus default"))
                continue
            binding = vmspec.binding_of(iface)
            if binding not in vmspec.UNPLUG_BINDINGS:
                problems.add(where, field, "has binding %r; KubeVirt hot-unplugs only bridge interfaces "
                             "(remove it from the template and restart the VM instead)" % binding)
                continue
            if not running:
                removals.append((i_index, n_index))
                plan.changes.append((name, REMOVE, "removed from the stopped VM"))
            elif iface.get("state") == "absent":
                plan.changes.append((name, UNCHANGED, "unplug already requested"))
            else:
                new_ifaces[i_index]["state"] = "absent"
                plan.changes.append((name, UNPLUG, "state: absent"))
            continue
        # state present
        binding = req.get("binding") or "bridge"
        if iface is None:
            if (len(ifaces) == 0 and len(networks) == 0
                    and template_autoattach(vm)):
                problems.add(where, "interfaces", "the VM declares no interfaces, so KubeVirt attaches the pod "
                             "network implicitly; adding one would remove it. Declare the pod interface "
                             "explicitly in the template first")
                continue
            new_ifaces.append(new_interface(req))
            new_networks.append({"name": name, "multus": {"networkName": req["network"]}})
            plan.changes.append((name, PLUG, "%s on %s" % (binding, req["network"])))
            continue
        if vmspec.is_primary(network):
            problems.add(where, field, "is the primary network of the VM; choose another interface name")
            continue
        if iface.get("state") == "absent":
            problems.add(where, field, "is being unplugged (state: absent); wait until KubeVirt removed it, "
                         "then plug it again")
            continue
        current_binding = vmspec.binding_of(iface)
        if current_binding != binding:
            problems.add(where, field, "exists with binding %r; changing a binding is not live-updatable: unplug it "
                         "and plug a new interface, or change the template and restart" % current_binding)
            continue
        differs = []
        if (iface.get("model") or "virtio") != (req.get("model") or "virtio"):
            differs.append("model %s -> %s" % (iface.get("model") or "virtio", req.get("model") or "virtio"))
        if req.get("mac_address") and vmspec.normal_mac(iface.get("macAddress") or "") != vmspec.normal_mac(
                req["mac_address"]):
            differs.append("macAddress %s -> %s" % (iface.get("macAddress"), req["mac_address"]))
        if differs:
            problems.add(where, field, "exists with %s; these are not live-updatable: unplug and plug under a new "
                         "name, or change the template and restart" % ", ".join(differs))
            continue
        current_ref = vmspec.nad_reference(network)
        if current_ref is None:
            problems.add(where, field, "exists on a non-Multus network; choose another interface name")
        elif _same_ref(current_ref, req["network"], namespace):
            plan.changes.append((name, UNCHANGED, "%s on %s" % (binding, current_ref)))
        else:
            new_networks[n_index]["multus"]["networkName"] = req["network"]
            plan.changes.append((name, SWAP, "%s -> %s" % (current_ref, req["network"])))
    for i_index, n_index in sorted(removals, reverse=True):
        new_ifaces[i_index] = None
        new_networks[n_index] = None
    new_ifaces = [i for i in new_ifaces if i is not None]
    new_networks = [n for n in new_networks if n is not None]
    if plan.changed:
        plan.ops = list_patch(vm, ifaces, networks, new_ifaces, new_networks)
    return plan


def template_autoattach(vm):
    devices = (vmspec.template_spec(vm).get("domain") or {}).get("devices") or {}
    return devices.get("autoattachPodInterface", True) is not False


def list_patch(vm, ifaces, networks, new_ifaces, new_networks):
    """test-then-replace of both lists: both change in one atomic request, and
    only if nobody changed them since they were read."""
    ops = []
    devices = (vmspec.template_spec(vm).get("domain") or {}).get("devices")
    if devices is not None and "interfaces" in devices:
        ops.append({"op": "test", "path": vmspec.IFACES_PATH, "value": ifaces})
    else:
        ops.append({"op": "test", "path": "/metadata/resourceVersion", "value": vm["metadata"]["resourceVersion"]})
    if "networks" in vmspec.template_spec(vm):
        ops.append({"op": "test", "path": vmspec.NETWORKS_PATH, "value": networks})
    ops.append({"op": "add", "path": vmspec.IFACES_PATH, "value": new_ifaces})
    ops.append({"op": "add", "path": vmspec.NETWORKS_PATH, "value": new_networks})
    return ops


# ------------------------------------------------------------- completion
def iface_status(vmi, name):
    for entry in (vmi or {}).get("status", {}).get("interfaces") or []:
        if entry.get("name") == name:
            return entry
    return None


def in_domain(entry):
    return entry is not None and "domain" in [s.strip() for s in (entry.get("infoSource") or "").split(",")]


def plug_done(vmi, name):
    """KubeVirt's completion signal: the interface is in the domain and no
    migration is still required."""
    cond = vmspec.condition(vmi or {}, "MigrationRequired")
    return in_domain(iface_status(vmi, name)) and not (cond and cond.get("status") == "True")


def unplug_done(vm, vmi, name):
    in_vm = vmspec.find(vmspec.interfaces_of(vm), name)[1] is not None
    vmi_ifaces = (((vmi or {}).get("spec") or {}).get("domain") or {}).get("devices", {}).get("interfaces") or []
    in_vmi = vmspec.find(vmi_ifaces, name)[1] is not None or iface_status(vmi, name) is not None
    return not in_vm and not in_vmi
