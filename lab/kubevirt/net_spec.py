"""Pure rules over VM/VMI network specs, as KubeVirt v1.9.0 applies them.

- lookups and names: ``pkg/network/vmispec``, ``pkg/network/namescheme``
  (a secondary Multus network's pod interface is ``pod`` + the first 11 hex
  digits of sha256(network name); the primary one is ``eth0``);
- ``LiveMigratable`` (virt-handler's condition): ``pkg/network/vmispec``
  ``VerifyVMIMigratable``.

What virt-controller decides (hot-plug requests into the VMI, detached
interfaces, RestartRequired, MigrationRequired) comes from the real
virt-controller the lab runs, not from rules here.

Specs are the plain JSON dicts of the API: a VMI ``spec`` or a VM
``spec.template.spec``.
"""

import hashlib

ABSENT = "absent"
INFO_DOMAIN, INFO_GUEST_AGENT, INFO_MULTUS = "domain", "guest-agent", "multus-status"
BINDINGS = ("bridge", "masquerade", "sriov", "passtBinding", "binding", "slirp", "macvtap", "passt")
ALLOW_POD_BRIDGE_MIGRATION = "kubevirt.io/allow-pod-bridge-network-live-migration"
NOT_MIGRATABLE_MESSAGE = ("cannot migrate VMI which does not use masquerade, bridge with %s VM annotation or a "
                          "migratable plugin to connect to the pod network" % ALLOW_POD_BRIDGE_MIGRATION)


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
def info_sources(status_interface):
    return [s.strip() for s in ((status_interface or {}).get("infoSource") or "").split(",") if s.strip()]
