"""Pure rules over VM/VMI network specs, as KubeVirt v1.9.0 applies them.

- lookups and names: ``pkg/network/vmispec``, ``pkg/network/namescheme``
  (a secondary Multus network's pod interface is ``pod`` + the first 11 hex
  digits of sha256(network name); the primary one is ``eth0``);
- hot-plug requests copied from the VM template into the running VMI and
  detached interfaces cleared from both: ``pkg/network/controllers/vm.go``
  (``applyDynamicIfaceRequestOnVMI``, ``ClearDetachedInterfaces``; the Multus
  networkName follows the template too, LiveUpdateNADRef being GA in v1.9);
- ``RestartRequired``: ``pkg/network/vmliveupdate/restart.go``
  (``IsRestartRequired``) inside ``pkg/virt-controller/watch/vm/vm.go``
  (``addRestartRequiredIfNeeded``);
- ``LiveMigratable``: ``pkg/network/vmispec`` ``VerifyVMIMigratable``;
- ``MigrationRequired``: ``pkg/network/migration/evaluator.go``.

Specs are the plain JSON dicts of the API: a VMI ``spec`` or a VM
``spec.template.spec``.
"""

import copy
import hashlib

ABSENT = "absent"
INFO_DOMAIN, INFO_GUEST_AGENT, INFO_MULTUS = "domain", "guest-agent", "multus-status"
BINDINGS = ("bridge", "masquerade", "sriov", "passtBinding", "binding", "slirp", "macvtap", "passt")
HOTPLUG_BINDINGS = ("bridge", "sriov")
ALLOW_POD_BRIDGE_MIGRATION = "kubevirt.io/allow-pod-bridge-network-live-migration"
NOT_MIGRATABLE_MESSAGE = ("cannot migrate VMI which does not use masquerade, bridge with %s VM annotation or a "
                          "migratable plugin to connect to the pod network" % ALLOW_POD_BRIDGE_MIGRATION)

# evaluator.go results
NOT_REQUIRED, IMMEDIATE, PENDING = "NotRequired", "Immediate", "Pending"


# ------------------------------------------------------------------ lookups
def interfaces(spec):
    return (((spec or {}).get("domain") or {}).get("devices") or {}).get("interfaces") or []


def networks(spec):
    return (spec or {}).get("networks") or []


def by_name(items):
    return {item.get("name"): item for item in items or []}


def binding_of(iface):
    return next((name for name in BINDINGS if name in iface), None)


def is_secondary_multus(network):
    multus = network.get("multus")
    return multus is not None and not multus.get("default")


def is_primary(network):
    return "pod" in network or bool((network.get("multus") or {}).get("default"))


def pod_network(nets):
    return next((n for n in nets if "pod" in n), None)


def hashed_pod_interface(network_name):
    return "pod" + hashlib.sha256(network_name.encode()).hexdigest()[:11]


def pod_interface_name(network):
    """The pod interface carrying a network (namescheme.go, hashed scheme)."""
    return hashed_pod_interface(network["name"]) if is_secondary_multus(network) else "eth0"


def nad_ref(namespace, network_name):
    """``<nad>`` or ``<ns>/<nad>`` -> (namespace, name)."""
    ns, _sep, name = (network_name or "").rpartition("/")
    return ns or namespace, name


def with_interfaces(spec, ifaces, nets):
    """A copy of ``spec`` with these interfaces and networks."""
    out = copy.deepcopy(spec)
    out.setdefault("domain", {}).setdefault("devices", {})["interfaces"] = copy.deepcopy(ifaces)
    out["networks"] = copy.deepcopy(nets)
    return out


def networks_of_interfaces(nets, ifaces):
    names = {i["name"] for i in ifaces}
    return [n for n in nets if n["name"] in names]


# ---------------------------------------------------- VM -> VMI network sync
def apply_dynamic_iface_requests(template_spec, vmi_spec, nad_ref_live=True):
    """The VMI spec after the VM controller's net sync: bridge/SR-IOV
    interfaces new in the template are appended with their network, ``state``
    changes are copied (never out of ``absent``), and with LiveUpdateNADRef a
    Multus networkName change too."""
    vmi_ifaces = copy.deepcopy(interfaces(vmi_spec))
    vmi_nets = copy.deepcopy(networks(vmi_spec))
    current = by_name(vmi_ifaces)
    template_nets = by_name(networks(template_spec))
    for iface in interfaces(template_spec):
        existing = current.get(iface["name"])
        if existing is None:
            if iface.get("state") != ABSENT and binding_of(iface) in HOTPLUG_BINDINGS \
                    and iface["name"] in template_nets:
                vmi_ifaces.append(copy.deepcopy(iface))
                vmi_nets.append(copy.deepcopy(template_nets[iface["name"]]))
        elif existing.get("state") != ABSENT and existing.get("state") != iface.get("state"):
            if iface.get("state"):
                existing["state"] = iface["state"]
            else:
                existing.pop("state", None)
    if nad_ref_live:
        for net in vmi_nets:
            wanted = (template_nets.get(net["name"]) or {}).get("multus")
            if net.get("multus") and wanted and wanted.get("networkName") != net["multus"].get("networkName"):
                net["multus"]["networkName"] = wanted.get("networkName")
    return with_interfaces(vmi_spec, vmi_ifaces, vmi_nets)


def clear_detached(ifaces, nets, status_names):
    """Drop interfaces in state ``absent`` that the VMI status no longer
    reports, and their networks (ClearDetachedInterfaces)."""
    kept = [i for i in ifaces if i.get("state") != ABSENT or i["name"] in status_names]
    return kept, networks_of_interfaces(nets, kept)


# ------------------------------------------------------------ RestartRequired
def _without_state(iface):
    return {k: v for k, v in iface.items() if k != "state"}


def _without_nad_name(net):
    net = copy.deepcopy(net)
    if net.get("multus") is not None:
        net["multus"].pop("networkName", None)
    return net


def network_restart_required(template_spec, vmi_spec, nad_ref_live=True):
    """restart.go IsRestartRequired: an interface or network of the running
    VMI was removed from the template (not through ``state: absent``) or
    changed (other than its ``state``, or the Multus networkName when
    LiveUpdateNADRef is on), or a pod network was added.  New interfaces are
    not a reason: they are hot-plugged or wait for the next start."""
    wanted_ifaces, current_ifaces = by_name(interfaces(template_spec)), by_name(interfaces(vmi_spec))
    wanted_nets, current_nets = by_name(networks(template_spec)), by_name(networks(vmi_spec))
    if pod_network(networks(template_spec)) and not pod_network(networks(vmi_spec)):
        return True
    for name, iface in current_ifaces.items():
        if name not in wanted_ifaces or _without_state(wanted_ifaces[name]) != _without_state(iface):
            return True
    normalize = _without_nad_name if nad_ref_live else (lambda net: net)
    for name, net in current_nets.items():
        if name not in wanted_nets or normalize(wanted_nets[name]) != normalize(net):
            return True
    return False


LIVE_UPDATE_FIELDS = ("nodeSelector", "affinity", "tolerations")


def restart_required(last_seen_spec, template_spec, vmi_spec, nad_ref_live=True, live_update=True):
    """addRestartRequiredIfNeeded: compare the template the VMI was started
    from with the current one after copying over what may change on a running
    VM (with the LiveUpdate rollout strategy: CPU sockets, guest memory, node
    placement; the network part when restart.go allows it)."""
    if last_seen_spec is None:
        return False
    seen, current = copy.deepcopy(last_seen_spec), copy.deepcopy(template_spec)
    if live_update:
        seen_domain, current_domain = seen.setdefault("domain", {}), current.get("domain") or {}
        if "sockets" in (current_domain.get("cpu") or {}) and seen_domain.get("cpu") is not None:
            seen_domain["cpu"]["sockets"] = current_domain["cpu"]["sockets"]
        if (current_domain.get("memory") or {}).get("guest") is not None:
            seen_domain.setdefault("memory", {})["guest"] = current_domain["memory"]["guest"]
        for field in LIVE_UPDATE_FIELDS:
            seen.pop(field, None)
            if field in current:
                seen[field] = current[field]
    if not network_restart_required(template_spec, vmi_spec, nad_ref_live):
        seen = with_interfaces(seen, interfaces(current), networks(current))
        current = with_interfaces(current, interfaces(current), networks(current))
    return seen != current


# ------------------------------------------------------------- LiveMigratable
def live_migratable(vmi_spec, annotations, binding_plugins):
    """VerifyVMIMigratable: the pod network's interface decides.  Returns
    (migratable, message); migratable without a pod network."""
    ifaces, nets = interfaces(vmi_spec), networks(vmi_spec)
    pod = pod_network(nets)
    iface = by_name(ifaces).get(pod["name"]) if pod else None
    if not ifaces or iface is None:
        return True, ""
    if "bridge" in iface and ALLOW_POD_BRIDGE_MIGRATION in (annotations or {}):
        return True, ""
    if "masquerade" in iface or "passtBinding" in iface:
        return True, ""
    plugin = (binding_plugins or {}).get((iface.get("binding") or {}).get("name"))
    if "binding" in iface and plugin is not None and plugin.get("migration") is not None:
        return True, ""
    return False, NOT_MIGRATABLE_MESSAGE


# ----------------------------------------------------------- MigrationRequired
def nad_name_equal(spec_name, status_name, namespace):
    """evaluator.go isNADNameEqual: ``<nad>`` matches ``<namespace>/<nad>``."""
    return spec_name == status_name or ("/" not in spec_name and "%s/%s" % (namespace, spec_name) == status_name)


def migration_requirement(vmi_spec, status_interfaces, pod_network_status, namespace):
    """evaluator.go shouldVMIBeMarkedForAutoMigration: a secondary interface
    waiting to be plugged (SR-IOV: at once), one unplugged from the domain but
    still in the pod, or a pod interface on another NAD than the spec names."""
    nets = by_name(n for n in networks(vmi_spec) if is_secondary_multus(n))
    reported = by_name(status_interfaces)
    attached = {entry.get("interface"): entry for entry in pod_network_status or []}
    for iface in interfaces(vmi_spec):
        net = nets.get(iface["name"])
        if net is None:
            continue
        status = reported.get(iface["name"])
        absent = iface.get("state") == ABSENT
        if not absent and status is None:
            return IMMEDIATE if "sriov" in iface else PENDING
        sources = info_sources(status)
        if absent and status is not None and INFO_MULTUS in sources and INFO_DOMAIN not in sources:
            return PENDING
        entry = attached.get((status or {}).get("podInterfaceName"))
        if entry is not None and not nad_name_equal(net["multus"].get("networkName", ""), entry.get("name"),
                                                    namespace):
            return IMMEDIATE
    return NOT_REQUIRED


def info_sources(status_interface):
    return [s.strip() for s in ((status_interface or {}).get("infoSource") or "").split(",") if s.strip()]
