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


import copy

from typing import Any, Dict, List, Optional, Tuple  # noqa: F401 pylint: disable=unused-import

from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_LABEL, DNS1123_SUBDOMAIN, Problems

PLUG, UNPLUG, REMOVE, SWAP, UNCHANGED = "plug", "unplug", "remove", "swap", "unchanged"


def check_request(problems: Problems, where: str, req: Dict[str, Any]) -> None:
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


class VmPlan:
    def __init__(self) -> None:
        self.ops = []  # type: List[Dict[str, Any]]
        self.changes = []  # type: List[Tuple[str, str, str]]  # (interface, action, detail)

    @property
    def changed(self) -> bool:
        return any(action != UNCHANGED for _name, action, _detail in self.changes)


def _same_ref(a: Optional[str], b: Optional[str], namespace: Optional[str]) -> bool:
    return vmspec.split_reference(a, namespace) == vmspec.split_reference(b, namespace)


def new_interface(req: Dict[str, Any]) -> Dict[str, Any]:
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


def plan_vm(problems: Problems, vm: Dict[str, Any], requests: List[Dict[str, Any]], running: bool) -> VmPlan:
    """The JSON Patch (and what it does) for ``requests`` on ``vm``.  Problems
    that make a request impossible are added to ``problems``."""
    meta = vm.get("metadata") or {}
    namespace = meta.get("namespace")
    where = "VirtualMachine %s/%s" % (namespace, meta.get("name"))
    ifaces = vmspec.interfaces_of(vm)
    networks = vmspec.networks_of(vm)
    new_ifaces, new_networks = copy.deepcopy(ifaces), copy.deepcopy(networks)
    plan = VmPlan()
    removals = []  # type: List[Tuple[int, int]]
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
            _plan_absent(problems, where, field, name, (i_index, iface, n_index, network), running, new_ifaces,
                         plan, removals)
        else:
            _plan_present(problems, where, field, req, (iface, n_index, network), vm, new_ifaces, new_networks,
                          plan)
    dropped_ifaces, dropped_networks = set(r[0] for r in removals), set(r[1] for r in removals)
    new_ifaces = [i for index, i in enumerate(new_ifaces) if index not in dropped_ifaces]
    new_networks = [n for index, n in enumerate(new_networks) if index not in dropped_networks]
    if plan.changed:
        plan.ops = list_patch(vm, ifaces, networks, new_ifaces, new_networks)
    return plan


def _plan_absent(problems: Problems, where: str, field: str, name: str,
                 found: Tuple[Optional[int], Optional[Dict[str, Any]], Optional[int], Optional[Dict[str, Any]]],
                 running: bool, new_ifaces: List[Dict[str, Any]],
                 plan: VmPlan, removals: List[Tuple[int, int]]) -> None:
    """One ``state: absent`` request: unplug (running), remove (stopped) or refuse."""
    i_index, iface, n_index, network = found
    if iface is None:
        plan.changes.append((name, UNCHANGED, "not present"))
        return
    if network is None or i_index is None or n_index is None:
        raise AssertionError("plan_vm passes an interface with its index and its network's")
    if vmspec.is_primary(network):
        problems.add(where, field, "is on the primary network (%s); KubeVirt never unplugs the primary "
                     "interface%s" % ("pod" if "pod" in network else "Multus default",
                                      "" if running else " (on a stopped VM, redeclare the VM's networks "
                                      "with kubevirt_net.core.kubevirt_vm_network instead)"))
        return
    if not running:
        # A stopped VM has no VMI: removing a secondary interface is a plain template edit
        # (KubeVirt v1.9.0 pkg/network/controllers/vm.go clearDetachedIfacesFromVM drops
        # every 'absent' entry when there is no VMI), so its binding does not matter.
        removals.append((i_index, n_index))
        plan.changes.append((name, REMOVE, "removed from the stopped VM"))
        return
    binding = vmspec.binding_of(iface)
    if binding not in vmspec.UNPLUG_BINDINGS:
        problems.add(where, field, "has binding %r; KubeVirt hot-unplugs only bridge interfaces "
                     "(remove it from the template and restart the VM instead)" % binding)
        return
    if iface.get("state") == "absent":
        plan.changes.append((name, UNCHANGED, "unplug already requested"))
    else:
        new_ifaces[i_index]["state"] = "absent"
        plan.changes.append((name, UNPLUG, "state: absent"))


def _plan_present(problems: Problems, where: str, field: str, req: Dict[str, Any],
                  found: Tuple[Optional[Dict[str, Any]], Optional[int], Optional[Dict[str, Any]]],
                  vm: Dict[str, Any], new_ifaces: List[Dict[str, Any]], new_networks: List[Dict[str, Any]], plan: VmPlan) -> None:
    """One ``state: present`` request: plug, swap the network, nothing, or refuse."""
    iface, n_index, network = found
    name = req["interface"]
    namespace = (vm.get("metadata") or {}).get("namespace")
    ifaces, networks = vmspec.interfaces_of(vm), vmspec.networks_of(vm)
    binding = req.get("binding") or "bridge"
    if iface is None:
        if (len(ifaces) == 0 and len(networks) == 0
                and template_autoattach(vm)):
            problems.add(where, "interfaces", "the VM declares no interfaces, so KubeVirt attaches the pod "
                         "network implicitly; adding one would remove it. Declare the pod interface "
                         "explicitly in the template first")
            return
        new_ifaces.append(new_interface(req))
        new_networks.append({"name": name, "multus": {"networkName": req["network"]}})
        plan.changes.append((name, PLUG, "%s on %s" % (binding, req["network"])))
        return
    if network is None or n_index is None:
        raise AssertionError("plan_vm passes an interface with its network and the network's index")
    if vmspec.is_primary(network):
        problems.add(where, field, "is the primary network of the VM; choose another interface name")
        return
    if iface.get("state") == "absent":
        problems.add(where, field, "is being unplugged (state: absent); wait until KubeVirt removed it, "
                     "then plug it again")
        return
    current_binding = vmspec.binding_of(iface)
    if current_binding != binding:
        problems.add(where, field, "exists with binding %r; changing a binding is not live-updatable: unplug it "
                     "and plug a new interface, or change the template and restart" % current_binding)
        return
    differs = []
    if (iface.get("model") or "virtio") != (req.get("model") or "virtio"):
        differs.append("model %s -> %s" % (iface.get("model") or "virtio", req.get("model") or "virtio"))
    if req.get("mac_address") and vmspec.normal_mac(iface.get("macAddress") or "") != vmspec.normal_mac(
            req["mac_address"]):
        differs.append("macAddress %s -> %s" % (iface.get("macAddress"), req["mac_address"]))
    if differs:
        problems.add(where, field, "exists with %s; these are not live-updatable: unplug and plug under a new "
                     "name, or change the template and restart" % ", ".join(differs))
        return
    current_ref = vmspec.nad_reference(network)
    if current_ref is None:
        problems.add(where, field, "exists on a non-Multus network; choose another interface name")
    elif _same_ref(current_ref, req["network"], namespace):
        plan.changes.append((name, UNCHANGED, "%s on %s" % (binding, current_ref)))
    else:
        new_networks[n_index]["multus"]["networkName"] = req["network"]
        plan.changes.append((name, SWAP, "%s -> %s" % (current_ref, req["network"])))


def template_autoattach(vm: Dict[str, Any]) -> bool:
    devices = (vmspec.template_spec(vm).get("domain") or {}).get("devices") or {}
    return devices.get("autoattachPodInterface", True) is not False


def list_patch(vm: Dict[str, Any], ifaces: List[Dict[str, Any]], networks: List[Dict[str, Any]],
               new_ifaces: List[Dict[str, Any]], new_networks: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
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
def iface_status(vmi: Optional[Dict[str, Any]], name: Optional[str]) -> Optional[Dict[str, Any]]:
    for entry in (vmi or {}).get("status", {}).get("interfaces") or []:
        if entry.get("name") == name:
            return entry
    return None


def in_domain(entry: Optional[Dict[str, Any]]) -> bool:
    return entry is not None and "domain" in [s.strip() for s in (entry.get("infoSource") or "").split(",")]


def plug_done(vmi: Optional[Dict[str, Any]], name: str) -> bool:
    """KubeVirt's completion signal: the interface is in the domain and no
    migration is still required."""
    cond = vmspec.condition(vmi or {}, "MigrationRequired")
    return in_domain(iface_status(vmi, name)) and not (cond and cond.get("status") == "True")


def unplug_done(vm: Dict[str, Any], vmi: Optional[Dict[str, Any]], name: str) -> bool:
    in_vm = vmspec.find(vmspec.interfaces_of(vm), name)[1] is not None
    vmi_ifaces = (((vmi or {}).get("spec") or {}).get("domain") or {}).get("devices", {}).get("interfaces") or []
    in_vmi = vmspec.find(vmi_ifaces, name)[1] is not None or iface_status(vmi, name) is not None
    return not in_vm and not in_vmi


# ------------------------------------------------ declared is not done
def still_pending(vm: Dict[str, Any], vmi: Optional[Dict[str, Any]], name: str, state: str) -> Optional[str]:
    """What KubeVirt still owes for an interface the VM template already
    declares (a write of an earlier run whose wait timed out, or whose reply
    was lost): PLUG while the VMI does not report it in the domain, UNPLUG
    while it is still in the VMI or the template; None when done."""
    if state == "absent":
        return None if unplug_done(vm, vmi, name) else UNPLUG
    return None if plug_done(vmi, name) else PLUG


def declared_pending(vm: Dict[str, Any], vmi: Optional[Dict[str, Any]]) -> List[Tuple[str, str, str]]:
    """Every hot-plug of the running VM's template that the VMI has not
    completed: interfaces KubeVirt hot-plugs (bridge/sriov on a secondary
    Multus network, pkg/network/controllers/vm.go applyDynamicIfaceRequestOnVMI)
    not yet in the domain, and ``absent`` ones still in the VMI.  Interfaces it
    applies only at the next start are not hot-plugs (see pending_start)."""
    out = []  # type: List[Tuple[str, str, str]]
    networks = vmspec.networks_of(vm)
    for iface in vmspec.interfaces_of(vm):
        name = iface["name"]  # required by the VM schema
        network = vmspec.find(networks, name)[1] or {}
        if iface.get("state") == "absent":
            action = still_pending(vm, vmi, name, "absent")
        elif vmspec.binding_of(iface) in vmspec.HOTPLUG_BINDINGS and "multus" in network \
                and not vmspec.is_primary(network):
            action = still_pending(vm, vmi, name, "present")
        else:
            action = None
        if action:
            out.append((name, action, pending_detail(vmi, name, action)))
    return out


def pending_detail(vmi: Optional[Dict[str, Any]], name: str, action: str) -> str:
    if action == UNPLUG:
        return "declared absent, still in the VMI"
    entry = iface_status(vmi, name)
    if in_domain(entry):
        return "in the domain, but the VMI still has MigrationRequired=True"
    return "declared, not in the guest yet (VMI infoSource: %s)" % ((entry or {}).get("infoSource") or "not reported")


# ---------------------------------------------------- RestartRequired
def restart_condition(vm: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    cond = vmspec.condition(vm or {}, "RestartRequired")
    return cond if cond and cond.get("status") == "True" else None


def restart_newly_set(before: Optional[Dict[str, Any]], after: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """RestartRequired=True on ``after`` (the VM read after this module's
    write) that was not already there on ``before`` (the VM read before it).

    KubeVirt v1.9.0 pkg/virt-controller/watch/vm/vm.go setRestartRequired
    stamps lastTransitionTime, and pkg/controller/conditions.go
    VirtualMachineConditionManager.UpdateCondition keeps an existing
    condition untouched while its status and reason stay the same: a
    condition with the same lastTransitionTime as before the write is the old
    one, caused by an earlier change.  (No plug, unplug or NAD swap sets it at
    all: pkg/network/vmliveupdate/restart.go IsRestartRequired ignores new
    interfaces, ``state`` and multus networkName.)"""
    cond = restart_condition(after)
    if cond is None:
        return None
    old = restart_condition(before)
    if old is not None and old.get("lastTransitionTime") == cond.get("lastTransitionTime"):
        return None
    return cond


def restart_finding(vm: Dict[str, Any], cond: Dict[str, Any]) -> str:
    meta = vm.get("metadata") or {}
    return ("VirtualMachine %s/%s already had RestartRequired=True (since %s: %s) before this change; it was not "
            "caused by it and is not acted on: restart the VM (virtctl restart %s -n %s) when the pending template "
            "change should apply" % (meta.get("namespace"), meta.get("name"), cond.get("lastTransitionTime") or "?",
                                     cond.get("message") or cond.get("reason") or "no message", meta.get("name"),
                                     meta.get("namespace")))


def network_restart_required(vm: Dict[str, Any], vmi: Optional[Dict[str, Any]]) -> bool:
    """KubeVirt v1.9.0 pkg/network/vmliveupdate/restart.go IsRestartRequired:
    the template's interfaces/networks differ from the running VMI's in a way
    only a restart applies (an interface or network of the VMI removed or
    changed - ignoring ``state`` and the Multus networkName - or a pod network
    added)."""
    if vmi is None:
        return False
    vmi_spec = vmi.get("spec") or {}
    current_ifaces = ((vmi_spec.get("domain") or {}).get("devices") or {}).get("interfaces") or []
    current_nets = vmi_spec.get("networks") or []
    desired_ifaces = dict((i.get("name"), i) for i in vmspec.interfaces_of(vm))
    desired_nets = dict((n.get("name"), n) for n in vmspec.networks_of(vm))

    def without_state(iface: Dict[str, Any]) -> Dict[str, Any]:
        return dict((k, v) for k, v in iface.items() if k != "state")

    def without_nad(net: Dict[str, Any]) -> Dict[str, Any]:
        net = copy.deepcopy(net)
        if isinstance(net.get("multus"), dict):
            net["multus"].pop("networkName", None)
        return net

    for iface in current_ifaces:
        wanted = desired_ifaces.get(iface.get("name"))
        if wanted is None or without_state(wanted) != without_state(iface):
            return True
    if any("pod" in n for n in desired_nets.values()) and not any("pod" in n for n in current_nets):
        return True
    for net in current_nets:
        wanted = desired_nets.get(net.get("name"))
        if wanted is None or without_nad(wanted) != without_nad(net):
            return True
    return False


# ------------------------------------------------------- migrations
MIGRATE, EVICT, STUCK = "migrate", "evict", "stuck"


def needs_migration(actions: List[str], dynamic: bool, sriov_plug: bool) -> bool:
    """Whether KubeVirt needs a migration to finish these actions on a running
    VMI: KubeVirt v1.9.0 pkg/network/migration/evaluator.go - an SR-IOV plug at
    once (shouldMigrateOnIfaceHotplug), a bridge plug and an unplug
    (shouldMigrateOnIfaceUnplug: detached from the domain, still in the pod)
    when no dynamic-networks controller changes the pod within the grace
    period, a NAD swap always (isNADNameEqual)."""
    if SWAP in actions or (sriov_plug and PLUG in actions):
        return True
    return not dynamic and any(a in (PLUG, UNPLUG) for a in actions)


def workload_update_outcome(kv: KubeVirtInfo, vmi: Optional[Dict[str, Any]]) -> Tuple[str, str]:
    """What KubeVirt does with a VMI once it has MigrationRequired=True,
    following KubeVirt v1.9.0
    pkg/virt-controller/watch/workload-updater/workload-updater.go
    getUpdateData (hot-plug in progress = MigrationRequired): LiveMigrate
    configured and the VMI LiveMigratable -> a migration; otherwise, with
    Evict configured, the virt-launcher pod is evicted.  The eviction goes
    through pkg/virt-api/webhooks/validating-webhook/admitters/
    pod-eviction-admitter.go: the VMI's evictionStrategy (else the cluster's,
    default None, pkg/virt-config/configuration.go) LiveMigrate or
    LiveMigrateIfPossible on a migratable VMI turns it into an evacuation
    migration; LiveMigrate on a non-migratable VMI is denied and External only
    marks the VMI (nothing happens); None and LiveMigrateIfPossible on a
    non-migratable VMI let the pod go: the guest is shut down.  Returns (MIGRATE|EVICT|STUCK, why)."""
    cond = vmspec.condition(vmi or {}, "LiveMigratable")
    migratable = cond is None or cond.get("status") == "True"  # not reported yet: assume it will be
    methods = kv.workload_update_methods
    if "LiveMigrate" in methods and migratable:
        return MIGRATE, "the workload updater migrates the VM"
    if "Evict" not in methods:
        if "LiveMigrate" in methods:
            return STUCK, "the VMI is not live-migratable, so the workload updater never migrates it"
        return STUCK, "neither LiveMigrate nor Evict is in the KubeVirt CR's workloadUpdateMethods"
    strategy = ((vmi or {}).get("spec") or {}).get("evictionStrategy") or \
        kv.configuration.get("evictionStrategy") or "None"
    if strategy in ("LiveMigrate", "LiveMigrateIfPossible") and migratable:
        # pkg/util/migrations/migrations.go VMIMigratableOnEviction
        return MIGRATE, "the workload updater evicts the pod and evictionStrategy %s turns that into a migration" \
            % strategy
    if strategy == "LiveMigrate":
        return STUCK, ("the workload updater's eviction is denied (evictionStrategy LiveMigrate, VMI not "
                       "live-migratable)")
    if strategy == "External":
        return STUCK, ("the workload updater's eviction only marks the VMI for evacuation (evictionStrategy "
                       "External): an external controller decides what happens")
    return EVICT, ("workloadUpdateMethods has Evict%s: KubeVirt's workload updater evicts the virt-launcher pod "
                   "(evictionStrategy %s), which shuts the guest down" % (
                       "" if "LiveMigrate" not in methods else " and the VMI is not live-migratable", strategy))


# ------------------------------------------- network-resources-injector
NRI_WEBHOOK = "network-resources-injector"


def resources_injector_present(webhook_configurations: Optional[List[Dict[str, Any]]]) -> bool:
    """Whether network-resources-injector is deployed: a
    MutatingWebhookConfiguration named after it (its own manifests and the
    SR-IOV network operator name it network-resources-injector-config).
    Shared by the doctor and the hot-plug preflight.  With
    ExternalNetResourceInjection on (Beta, so on by default in KubeVirt 1.9:
    pkg/virt-config/featuregate/active.go, IsEnabled in feature-gates.go)
    virt-controller does not add NADs' resourceName requests to virt-launcher
    or migration-target pods (pkg/virt-controller/services/template.go
    renderLaunchManifest); this webhook must."""
    return any(NRI_WEBHOOK in ((w.get("metadata") or {}).get("name") or "") for w in webhook_configurations or [])
