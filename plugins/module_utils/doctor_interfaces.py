# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Doctor checks of the VM side: interfaces (spec joined with VMI status),
hot-plug readiness, SR-IOV resources and migration constraints."""


from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import hotplug as hp
from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor import (
    ERROR, INFO, NAD_KIND, POD_KIND, RESOURCE_ANNOTATION, VMIM_KIND, WARNING, Snapshot, VmView, active, finding, meta)
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo

FORWARDING_BINDINGS = ("masquerade", "passtBinding")
NRI_WEBHOOK = hp.NRI_WEBHOOK


def network_source(network: Dict[str, Any]) -> Optional[str]:
    for source in ("pod", "multus", "resourceClaim"):
        if source in network:
            return source
    return None


def nad_of(snap: Snapshot, view: VmView,
           network: Dict[str, Any]) -> Tuple[Optional[str], Optional[str], Optional[Dict[str, Any]]]:
    """(namespace, name, object or None) of a Multus network's NAD."""
    reference = vmspec.nad_reference(network)
    if not reference:
        return None, None, None
    namespace, name = vmspec.split_reference(reference, view.namespace)
    return namespace, name, snap.find(NAD_KIND, namespace, name)


def _status_entry(view: VmView, name: Optional[str]) -> Optional[Dict[str, Any]]:
    return hp.iface_status(view.vmi, name) if view.vmi else None


def _sources(entry: Optional[Dict[str, Any]]) -> List[str]:
    return [s.strip() for s in ((entry or {}).get("infoSource") or "").split(",") if s.strip()]


def check_interfaces(snap: Snapshot, view: VmView) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """Spec interfaces joined with the VMI status by name; missing NADs;
    pending hot-plugs; MigrationRequired / RestartRequired."""
    found = []
    rows = []
    template_ifaces = dict((i.get("name"), i) for i in view.template_interfaces)
    vmi_ifaces = dict((i.get("name"), i) for i in view.interfaces) if view.vmi else {}
    networks = dict((n.get("name"), n) for n in view.networks)
    template_networks = dict((n.get("name"), n) for n in view.template_networks)
    names = list(template_ifaces) + [n for n in vmi_ifaces if n not in template_ifaces]
    status_names = [e.get("name") for e in ((view.vmi or {}).get("status") or {}).get("interfaces") or []]
    primary_iface, _primary_net = view.primary()
    if primary_iface is not None and primary_iface.get("implicit"):
        names.insert(0, "default")
        found.append(finding("interfaces", INFO, "implicit-pod-interface",
                             "%s declares no interfaces: KubeVirt attaches the pod network as 'default' with the "
                             "cluster's defaultNetworkInterface binding (%s)" % (
                                 view.ref, vmspec.binding_of(primary_iface)),
                             "declare the interface and network explicitly before adding secondary ones"))
    for name in names:
        iface = vmi_ifaces.get(name) or template_ifaces.get(name) or ((primary_iface or {}) if name == "default" else {})
        network = networks.get(name) or template_networks.get(name) or (
            {"name": "default", "pod": {}} if iface.get("implicit") else None)
        entry = _status_entry(view, name)
        binding = vmspec.binding_of(iface)
        row = _interface_row(view, name, iface, entry, binding, name in template_ifaces, name in vmi_ifaces)
        rows.append(row)
        where = "%s interface %s" % (view.ref, name)
        if network is None:
            found.append(finding("interfaces", ERROR, "interface-without-network",
                                 "%s has no networks[] entry of the same name; KubeVirt rejects such a VM "
                                 "(interfaces and networks pair up by name)" % where,
                                 "add {name: %s, multus: {networkName: <nad>}} (or pod: {}) to "
                                 "spec.template.spec.networks" % name))
            continue
        found.extend(_network_findings(snap, view, name, iface, network, row))
        if view.vmi is None:
            continue
        found.extend(_live_findings(view, name, iface, entry, name in template_ifaces, name in vmi_ifaces))
    # status entries nobody declared (e.g. a guest-side interface the agent reports)
    extra = [n for n in status_names if n and n not in names]
    if extra:
        rows.extend({"name": n, "binding": None, "in_template": False, "in_vmi_spec": False, "in_status": True,
                     "in_domain": None, "network": None} for n in extra)
    if view.running and rows and not any(r.get("interface_name") for r in rows):
        found.append(finding("interfaces", INFO, "no-guest-agent",
                             "%s: the VMI status has no in-guest interface names: the QEMU guest agent is not "
                             "reporting (IPs of bridge/secondary interfaces are unknown without it)" % view.ref,
                             "install and start qemu-guest-agent in the guest"))
    found.extend(_conditions(view))
    section = {"interfaces": rows, "conditions": {
        "MigrationRequired": vmspec.condition(view.vmi or {}, "MigrationRequired"),
        "RestartRequired": vmspec.condition(view.vm, "RestartRequired")}}
    return section, found


def _interface_row(view: VmView, name: Optional[str], iface: Dict[str, Any], entry: Optional[Dict[str, Any]], binding: Optional[str], in_template: bool,
                   in_vmi: bool) -> Dict[str, Any]:
    """The report row of one interface: spec, VMI spec and status side by side."""
    row = {"name": name, "binding": binding, "model": iface.get("model") or "virtio",
           "state": iface.get("state") or "up", "mac_spec": iface.get("macAddress"),
           "ports": iface.get("ports") or [], "in_template": in_template or iface.get("implicit", False),
           "in_vmi_spec": in_vmi if view.vmi else None,
           "in_status": entry is not None if view.vmi else None,
           "in_domain": "domain" in _sources(entry) if view.vmi else None,
           "network": None}
    if entry:
        row.update({"mac": entry.get("mac"), "ip_address": entry.get("ipAddress"),
                    "ip_addresses": entry.get("ipAddresses") or [], "interface_name": entry.get("interfaceName"),
                    "info_source": entry.get("infoSource"), "link_state": entry.get("linkState"),
                    "pod_interface_name": entry.get("podInterfaceName"), "queue_count": entry.get("queueCount")})
    return row


def _network_findings(snap: Snapshot, view: VmView, name: Optional[str], iface: Dict[str, Any], network: Dict[str, Any],
                      row: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The binding against the network it is on, the NAD of a Multus network (fills ``row["network"]``)."""
    found = []
    binding = vmspec.binding_of(iface)
    where = "%s interface %s" % (view.ref, name)
    source = network_source(network)
    row["network"] = {"type": source, "default": bool((network.get("multus") or {}).get("default"))}
    if binding in vmspec.REMOVED_BINDINGS:
        found.append(finding("interfaces", ERROR, "removed-binding",
                             "%s uses the '%s' binding, removed in KubeVirt 1.3" % (where, binding),
                             "use passtBinding: {} (passt, KubeVirt >= 1.8), masquerade: {} or a binding plugin "
                             "registered in the KubeVirt CR (binding: {name: ...})"))
    elif binding is None and not iface.get("implicit"):
        found.append(finding("interfaces", ERROR, "no-binding",
                             "%s has no binding (bridge, masquerade, sriov, passtBinding or binding)" % where,
                             "add one binding key, e.g. bridge: {} for a secondary network"))
    if binding in FORWARDING_BINDINGS and source != "pod":
        found.append(finding("interfaces", ERROR, "binding-needs-pod-network",
                             "%s uses %s on a %s network; %s works only on the pod network" % (
                                 where, binding, source, binding),
                             "use bridge: {} on secondary networks"))
    if source == "multus":
        nad_ns, nad_name, nad = nad_of(snap, view, network)
        row["network"]["nad"] = "%s/%s" % (nad_ns, nad_name)
        row["network"]["nad_found"] = nad is not None
        if nad is None:
            found.append(_missing_nad(snap, view, name, nad_ns, nad_name))
    elif source == "pod":
        row["network"]["vm_network_cidr"] = (network.get("pod") or {}).get("vmNetworkCIDR")
    return found


def _live_findings(view: VmView, name: Optional[str], iface: Dict[str, Any], entry: Optional[Dict[str, Any]],
                   in_template: bool, in_vmi: bool) -> List[Dict[str, Any]]:
    """The running VM against its template: pending hot-plug or unplug, link down, another MAC."""
    found = []
    binding = vmspec.binding_of(iface)
    where = "%s interface %s" % (view.ref, name)
    if in_template and not in_vmi and not iface.get("implicit"):
        if binding in vmspec.HOTPLUG_BINDINGS:
            found.append(finding("interfaces", WARNING, "hotplug-pending",
                                 "%s is in the VM template but not yet in the running VMI: KubeVirt has not "
                                 "propagated the hot-plug" % where,
                                 "see the hotplug check: the VM controller copies bridge/sriov interfaces into "
                                 "the VMI; if it stays pending, read the VM's conditions and events"))
        else:
            found.append(finding("interfaces", WARNING, "restart-to-apply",
                                 "%s (%s) was added to the template of a running VM; KubeVirt hot-plugs only "
                                 "bridge and sriov interfaces, so it appears at the next restart" % (
                                     where, binding),
                                 "restart the VM (virtctl restart %s -n %s)" % (view.name, view.namespace)))
    elif in_vmi and iface.get("state") == "absent":
        found.append(finding("interfaces", INFO, "unplug-pending",
                             "%s is being unplugged (state: absent); KubeVirt removes it from the VMI and the VM "
                             "template when the NIC is detached" % where, "wait; nothing to do"))
    elif in_vmi and view.running and "domain" not in _sources(entry):
        found.append(finding("interfaces", WARNING, "hotplug-not-finished",
                             "%s is in the VMI spec but not attached to the guest yet (status infoSource %r)" % (
                                 where, (entry or {}).get("infoSource") or "none"),
                             "a hot-plug is in progress or stuck: see the MigrationRequired condition and the "
                             "hotplug check"))
    if entry and entry.get("linkState") == "down" or iface.get("state") == "down":
        found.append(finding("interfaces", WARNING, "link-down",
                             "%s has its link down (state: down)" % where,
                             "remove 'state: down' from the interface (or set it to up)"))
    if entry and iface.get("macAddress") and entry.get("mac") and \
            vmspec.normal_mac(entry["mac"]) != vmspec.normal_mac(iface["macAddress"]):
        found.append(finding("interfaces", WARNING, "mac-differs",
                             "%s: the guest reports MAC %s, the spec asks for %s" % (
                                 where, entry["mac"], iface["macAddress"]),
                             "MAC changes apply at restart: restart the VM"))
    return found


def _missing_nad(snap: Snapshot, view: VmView, iface: Optional[str], nad_ns: Optional[str], nad_name: Optional[str]) -> Dict[str, Any]:
    elsewhere = sorted("%s/%s" % (meta(n).get("namespace"), nad_name) for n in snap.all_nads or []
                       if meta(n).get("name") == nad_name and meta(n).get("namespace") != nad_ns)
    message = ("network %s of %s references NetworkAttachmentDefinition %s/%s, which does not exist: the VM "
               "cannot start with it and a hot-plug of it fails (\"network not found\")" % (
                   iface, view.ref, nad_ns, nad_name))
    if elsewhere:
        fix = ("a NAD of that name exists in %s: write networkName: %s (a name without namespace means the "
               "VM's namespace)" % (", ".join(elsewhere), elsewhere[0]))
    else:
        fix = ("create it (kubevirt_net.core.kubevirt_network name=%s namespace=%s type=...) or point "
               "networkName at an existing NAD ('<namespace>/<name>' for another namespace). KubeVirt has no "
               "'Network' resource: 'kubectl get network-attachment-definitions -A' lists what exists" % (
                   nad_name, nad_ns))
    return finding("interfaces", ERROR, "nad-missing", message, fix, nad="%s/%s" % (nad_ns, nad_name),
                   elsewhere=elsewhere)


def _conditions(view: VmView) -> List[Dict[str, Any]]:
    found = []
    scheduled = vmspec.condition(view.vmi or {}, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        found.append(finding("interfaces", ERROR, "vmi-unschedulable",
                             "%s cannot start: its virt-launcher pod is not scheduled (%s)" % (
                                 view.ref, scheduled.get("message") or scheduled.get("reason")),
                             "give a node what the pod requests (for SR-IOV: VFs of the NAD's resource name), or "
                             "change the VM's networks"))
    migration = vmspec.condition(view.vmi or {}, "MigrationRequired")
    if migration and migration.get("status") in ("True", "False"):
        found.append(finding("interfaces", WARNING, "migration-required",
                             "%s: VMI condition MigrationRequired=%s (%s): a network change waits for a live "
                             "migration%s" % (
                                 view.ref, migration.get("status"), migration.get("reason") or "",
                                 ": %s" % migration["message"] if migration.get("message") else ""),
                             "make sure the KubeVirt CR lists LiveMigrate in "
                             "spec.workloadUpdateStrategy.workloadUpdateMethods and the VMI is LiveMigratable, or "
                             "migrate it yourself (virtctl migrate %s -n %s)" % (view.name, view.namespace)))
    restart = vmspec.condition(view.vm, "RestartRequired")
    if restart and restart.get("status") == "True":
        found.append(finding("interfaces", WARNING, "restart-required",
                             "%s: RestartRequired (%s)" % (view.ref, restart.get("message") or restart.get("reason")),
                             "the template changed in a way KubeVirt cannot apply live (e.g. an interface was "
                             "removed instead of set to state: absent): restart the VM (virtctl restart %s -n %s)" % (
                                 view.name, view.namespace)))
    return found


# ------------------------------------------------------------------ hotplug
def _live_migratable(view: VmView) -> Tuple[Optional[bool], Optional[str]]:
    cond = vmspec.condition(view.vmi or {}, "LiveMigratable")
    if cond is None:
        return None, None
    return cond.get("status") == "True", cond.get("message") or cond.get("reason")


def check_hotplug(snap: Snapshot, view: VmView) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """What a NIC plug/unplug would do now, and why not when it cannot."""
    kv = snap.kubevirt
    found = []
    migratable, why_not = _live_migratable(view)
    controllers = snap.daemonsets.get("app=dynamic-networks-controller")
    dynamic = bool(controllers) if controllers is not None else None
    section: Dict[str, Any] = {
        "kubevirt_version": kv.version_text, "live_migrate": kv.live_migrate,
        "rollout_strategy": kv.rollout_strategy, "live_migratable": migratable,
        "live_migratable_reason": why_not, "dynamic_networks_controller": dynamic,
        "running": view.running, "operations": {}}
    ops = section["operations"]
    if kv.installed and kv.version and kv.version[:2] < (1, 1):
        text = ("KubeVirt %s predates declarative NIC hot-plug (1.1); only 'virtctl addinterface <vm> "
                "--network-attachment-definition-name <[ns/]nad> --name <iface>' of 1.0.x exists there" % kv.version_text)
        for op in ("plug_bridge", "plug_sriov", "unplug"):
            ops[op] = {"possible": False, "how": None, "why": text}
        found.append(finding("hotplug", WARNING, "kubevirt-too-old", text, "upgrade KubeVirt to 1.4 or newer "
                             "(hot-plug GA)"))
        return section, found
    gate_note = None
    if kv.installed and kv.version and kv.version[:2] < (1, 4) and not kv.gate_enabled("HotplugNICs"):
        gate_note = "KubeVirt %s needs the HotplugNICs feature gate (GA from 1.4)" % kv.version_text
    if not view.running:
        for op in ("plug_bridge", "plug_sriov", "unplug"):
            ops[op] = {"possible": True, "how": "template change (the VM is not running: applied at start)",
                       "why": None}
    else:
        ops.update(_running_operations(kv, dynamic, migratable, why_not))
    if gate_note:
        for op in ops.values():
            if op["possible"]:
                op["possible"], op["why"] = False, gate_note
    section["unpluggable"] = _unplug_per_interface(view, ops)
    blocked = [name for name in ("plug_bridge", "plug_sriov") if name in ops and not ops[name]["possible"]]
    if blocked and view.running:
        fix = []
        if not kv.live_migrate:
            fix.append("kubectl patch kubevirt kubevirt -n kubevirt --type merge -p "
                       "'{\"spec\":{\"workloadUpdateStrategy\":{\"workloadUpdateMethods\":[\"LiveMigrate\"]}}}'")
        if kv.rollout_strategy != "LiveUpdate":
            fix.append("set spec.configuration.vmRolloutStrategy: LiveUpdate in the KubeVirt CR")
        if migratable is False:
            fix.append("make the VMI migratable (%s)" % why_not)
        found.append(finding("hotplug", WARNING, "hotplug-blocked",
                             "%s: %s" % (view.ref, "; ".join("%s not possible now (%s)" % (
                                 name.replace("_", " "), ops[name]["why"]) for name in blocked)),
                             "; ".join(fix) or gate_note or "restart the VM after changing its template"))
    possible = [name.replace("_", " ") for name, op in sorted(ops.items()) if name != "interfaces" and op["possible"]]
    found.append(finding("hotplug", INFO, "hotplug-summary",
                         "%s: KubeVirt %s, LiveMigrate %s, rollout %s, dynamic-networks controller %s; possible now: "
                         "%s" % (view.ref, kv.version_text or "unknown", "on" if kv.live_migrate else "off",
                                 kv.rollout_strategy, {True: "present", False: "absent", None: "unknown"}[dynamic],
                                 ", ".join(possible) or "nothing"),
                         "hot-plug = patch the VM template (add interface + network, bridge or sriov); "
                         "unplug = state: absent on a bridge interface. virtctl addinterface/removeinterface "
                         "were removed in KubeVirt 1.1 (kubevirt_net.core.kubevirt_iface_hotplug does it)"))
    return section, found


def _running_operations(kv: KubeVirtInfo, dynamic: Optional[bool], migratable: Optional[bool],
                        why_not: Optional[str]) -> Dict[str, Dict[str, Any]]:
    """plug_bridge, plug_sriov, unplug, swap_network on a running VM: in place with the dynamic-networks
    controller, else by live migration when KubeVirt may migrate it."""
    migration_path = kv.live_migrate and kv.rollout_strategy == "LiveUpdate" and migratable is not False
    reasons = []
    if not kv.live_migrate:
        reasons.append("LiveMigrate is not in the KubeVirt CR's spec.workloadUpdateStrategy.workloadUpdateMethods")
    if kv.rollout_strategy != "LiveUpdate":
        reasons.append("vmRolloutStrategy is %s, not LiveUpdate" % kv.rollout_strategy)
    if migratable is False:
        reasons.append("the VMI is not LiveMigratable (%s)" % why_not)
    blocker = "; ".join(reasons)
    ops: Dict[str, Dict[str, Any]] = {}
    if dynamic:
        ops["plug_bridge"] = {"possible": True, "how": "in place (multus-dynamic-networks-controller)", "why": None}
    elif migration_path:
        ops["plug_bridge"] = {"possible": True, "how": "by live migration (no dynamic-networks controller)",
                              "why": None}
    else:
        ops["plug_bridge"] = {"possible": False, "how": None,
                              "why": "no dynamic-networks controller, and a migration cannot happen: %s" % blocker}
    if migration_path:
        ops["plug_sriov"] = {"possible": True, "how": "by live migration (SR-IOV always migrates)", "why": None}
    else:
        ops["plug_sriov"] = {"possible": False, "how": None, "why": "SR-IOV hot-plug migrates the VM: %s" % blocker}
    ops["unplug"] = dict(ops["plug_bridge"])
    swap = bool(migration_path and kv.gate_enabled("LiveUpdateNADRef") and not dynamic)
    ops["swap_network"] = {
        "possible": swap, "how": "live migration to the new NAD" if migration_path else None,
        "why": None if swap else ("changing networkName live needs LiveUpdateNADRef (GA in 1.9), no dynamic-networks "
                                  "controller and a possible migration")}
    return ops


def _unplug_per_interface(view: VmView, ops: Dict[str, Any]) -> List[Optional[str]]:
    """Whether each interface can be unplugged (into ``ops["interfaces"]``); returns the names that can."""
    unpluggable = []
    for iface in view.interfaces:
        network = vmspec.find(view.networks, iface.get("name"))[1] or {}
        binding = vmspec.binding_of(iface)
        if vmspec.is_primary(network):
            why = "primary network: never unplugged"
        elif binding not in vmspec.UNPLUG_BINDINGS:
            why = "%s binding: only bridge interfaces are hot-unplugged (remove it and restart instead)" % binding
        else:
            why = None
            unpluggable.append(iface.get("name"))
        ops.setdefault("interfaces", {})[iface.get("name")] = {"unplug": why is None and ops["unplug"]["possible"],
                                                               "why": why or ops["unplug"].get("why")}
    return unpluggable


# -------------------------------------------------------------------- sriov
def _quantity(text: Any) -> int:
    try:
        return int(str(text))
    except ValueError:
        suffixes = {"k": 1000, "M": 1000 ** 2, "G": 1000 ** 3}
        text = str(text)
        if text and text[-1] in suffixes and text[:-1].isdigit():
            return int(text[:-1]) * suffixes[text[-1]]
        return 0


def _pod_requests(pod: Dict[str, Any], resource: str) -> int:
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        value = (resources.get("requests") or {}).get(resource) or (resources.get("limits") or {}).get(resource)
        if value:
            total += _quantity(value)
    return total


def _node_usage(snap: Snapshot, resource: str) -> Dict[Optional[str], int]:
    used: Dict[Optional[str], int] = {}
    for pod in snap.all_pods or []:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and active(pod):
            used[node] = used.get(node, 0) + _pod_requests(pod, resource)
    return used


def _node_ready(node: Dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True" and not (node.get("spec") or {}).get("unschedulable")
    return False


def _injector_present(snap: Snapshot) -> bool:
    return hp.resources_injector_present(snap.webhooks)  # shared with the hot-plug preflight


def check_sriov(snap: Snapshot, view: VmView) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """Per SR-IOV interface: the NAD's resource, which nodes offer it and how
    many VFs are free, and whether the VM can migrate (SR-IOV VMs can, when
    another node has a free VF of the same resource)."""
    found: List[Dict[str, Any]] = []
    rows = []
    sriov = [i for i in view.interfaces if "sriov" in i]
    if not sriov:
        return {"interfaces": []}, found
    kv = snap.kubevirt
    needed: Dict[str, int] = {}
    for iface in sriov:
        network = vmspec.find(view.networks, iface.get("name"))[1] or {}
        nad_ns, nad_name, nad = nad_of(snap, view, network)
        resource = (meta(nad).get("annotations") or {}).get(RESOURCE_ANNOTATION) if nad else None
        row: Dict[str, Any] = {"interface": iface.get("name"), "nad": "%s/%s" % (nad_ns, nad_name) if nad_name else None,
                               "resource_name": resource, "nodes": []}
        rows.append(row)
        where = "%s interface %s" % (view.ref, iface.get("name"))
        if nad is None:
            continue  # reported by the interfaces check
        if not resource:
            found.append(finding("sriov", ERROR, "sriov-nad-without-resource",
                                 "%s: NAD %s has no %s annotation, so no VF is requested for the VM's pod" % (
                                     where, row["nad"], RESOURCE_ANNOTATION),
                                 "create the NAD from an SriovNetwork (the operator sets it) or set the annotation "
                                 "to the device plugin's resource, e.g. openshift.io/<resourceName>"))
            continue
        needed[resource] = needed.get(resource, 0) + 1
    for row in rows:
        resource = row["resource_name"]
        if not resource:
            continue
        row["nodes"] = offering = _offering_nodes(snap, resource)
        if snap.nodes is not None and not offering:
            others = sorted(set(k for node in snap.nodes for k in ((node.get("status") or {}).get("allocatable") or {})
                                if "/" in k and not k.startswith(("devices.kubevirt.io/", "hugepages-",
                                                                  "kubernetes.io/"))))
            found.append(finding("sriov", ERROR, "sriov-resource-not-offered",
                                 "%s interface %s: no node offers %s%s" % (
                                     view.ref, row["interface"], resource,
                                     " (nodes offer: %s)" % ", ".join(others) if others else ""),
                                 "the resource name is deployment-defined (<prefix>/<resourceName>, e.g. "
                                 "openshift.io/intelnics; there is no fixed 'kubevirt.io/sriov-net'): make the NAD's "
                                 "%s match the SriovNetworkNodePolicy/device plugin, with VFs on vfio-pci" %
                                 RESOURCE_ANNOTATION))
            continue
        if view.pod is not None and _pod_requests(view.pod, resource) == 0:
            found.append(_not_requested(snap, view, resource))
        if not view.running:
            continue
        targets = [n for n in offering if n["name"] != view.node and n["ready"] and n["free"] >= needed[resource]]
        row["migration_targets"] = [n["name"] for n in targets]
        if not targets:
            found.append(finding("sriov", WARNING, "sriov-no-migration-target",
                                 "%s: no node other than %s has %d free %s, so a live migration (node drain, "
                                 "KubeVirt update, SR-IOV or migration-based hot-plug) cannot schedule its target "
                                 "pod (\"Insufficient %s\")" % (view.ref, view.node or "its node", needed[resource],
                                                                resource, resource),
                                 "add VFs of %s on another node (SriovNetworkNodePolicy numVfs / nodeSelector) or "
                                 "free some; the target must offer the same resource name" % resource))
    found.extend(_migration_findings(snap, view))
    migratable, reason = _live_migratable(view)
    section = {"interfaces": rows, "live_migratable": migratable, "live_migratable_reason": reason,
               "external_resource_injection": kv.gate_enabled("ExternalNetResourceInjection"),
               "network_resources_injector": _injector_present(snap) if snap.webhooks is not None else None}
    return section, found


def _offering_nodes(snap: Snapshot, resource: str) -> List[Dict[str, Any]]:
    """The nodes with ``resource`` allocatable: how many, used by pods, free, Ready."""
    used = _node_usage(snap, resource)
    offering = []
    for node in snap.nodes or []:
        allocatable = _quantity(((node.get("status") or {}).get("allocatable") or {}).get(resource, 0))
        if allocatable <= 0:
            continue
        name = meta(node).get("name")
        offering.append({"name": name, "allocatable": allocatable, "used": used.get(name, 0),
                         "free": max(0, allocatable - used.get(name, 0)), "ready": _node_ready(node)})
    return offering


def _not_requested(snap: Snapshot, view: VmView, resource: str) -> Dict[str, Any]:
    """The virt-launcher pod requests no VF of ``resource``: why (ExternalNetResourceInjection) and the fix."""
    injection = snap.kubevirt.gate_enabled("ExternalNetResourceInjection")
    return finding("sriov", ERROR, "sriov-not-requested",
                   "%s: its virt-launcher pod %s does not request %s%s" % (
                       view.ref, meta(view.pod).get("name"), resource,
                       " (ExternalNetResourceInjection is on: KubeVirt leaves that to "
                       "network-resources-injector%s)" % (
                           ", which is not installed" if snap.webhooks is not None and
                           not _injector_present(snap) else "") if injection else ""),
                   "deploy network-resources-injector, or add ExternalNetResourceInjection to the "
                   "KubeVirt CR's developerConfiguration.disabledFeatureGates; then restart the VM"
                   if injection else "restart the VM so virt-controller adds the request")


def _migration_findings(snap: Snapshot, view: VmView) -> List[Dict[str, Any]]:
    """Failed or stuck migrations of this VMI, with the scheduler's words."""
    found: List[Dict[str, Any]] = []
    migrations = [m for m in snap.list(VMIM_KIND, view.namespace)
                  if (m.get("spec") or {}).get("vmiName") == view.name]
    if not migrations:
        return found
    latest = sorted(migrations, key=lambda m: meta(m).get("creationTimestamp") or "")[-1]
    phase = (latest.get("status") or {}).get("phase")
    uid = meta(latest).get("uid")
    target = [p for p in snap.list(POD_KIND, view.namespace)
              if (meta(p).get("labels") or {}).get("kubevirt.io/migrationJobUID") == uid]
    reasons = []
    for pod in target:
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                reasons.append("target pod %s: %s" % (meta(pod).get("name"), cond.get("message") or cond.get("reason")))
    state = (latest.get("status") or {}).get("migrationState") or {}
    if state.get("failureReason"):
        reasons.append(state["failureReason"])
    if phase == "Failed" or (phase in ("Pending", "Scheduling") and reasons):
        found.append(finding("sriov" if any("sriov" in i for i in view.interfaces) else "hotplug",
                             ERROR if phase == "Failed" else WARNING, "migration-failed" if phase == "Failed"
                             else "migration-stuck",
                             "migration %s of %s is %s%s" % (meta(latest).get("name"), view.ref, phase,
                                                             ": %s" % "; ".join(reasons) if reasons else ""),
                             "give another node the resources the target pod asks for (for SR-IOV: free VFs of "
                             "the same resource name), then migrate again (virtctl migrate %s -n %s)" % (
                                 view.name, view.namespace), migration=meta(latest).get("name")))
    return found
