# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""A VirtualMachine's whole network declaration as typed options, and back.

The declaration is the pair of lists ``spec.template.spec.networks[]`` and
``spec.template.spec.domain.devices.interfaces[]`` (1:1 by name), the DNS
fields ``hostname``, ``subdomain``, ``dnsPolicy`` and ``dnsConfig`` (at
``spec.template.spec``, not under ``domain``) and the pod network's
``vmNetworkCIDR``/``vmIPv6NetworkCIDR``.

This file is pure (no cluster): the typed <-> API translation (the one place
snake_case options become KubeVirt's camelCase), the desired template for each
resource-module state and the guarded JSON Patch for it.  The option checks
are in vm_network_checks.py, which differences KubeVirt applies to a running
VM live (through the hot-plug code) in vm_network_live.py, and KubeVirt's
admission rules in vm_network_admission.py.
"""


import copy
import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import istio, vmspec

MERGED, REPLACED, OVERRIDDEN, DELETED, GATHERED, RENDERED = (
    "merged", "replaced", "overridden", "deleted", "gathered", "rendered")
STATES = (MERGED, REPLACED, OVERRIDDEN, DELETED, GATHERED, RENDERED)

# typed binding -> the empty-object key KubeVirt uses; "plugin:<name>" -> binding: {name}
# (the typed names are the API's field names; args.BINDING_VALUE_ALIASES maps the old typed "passt")
API_BINDINGS = {"masquerade": "masquerade", "bridge": "bridge", "sriov": "sriov", "passtBinding": "passtBinding"}
TYPED_BINDINGS = dict((v, k) for k, v in API_BINDINGS.items())
PLUGIN_PREFIX = "plugin:"
ALL_BINDING_KEYS = vmspec.BINDINGS + vmspec.REMOVED_BINDINGS
NETWORK_SOURCES = ("pod", "multus", "resourceClaim")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
POD = "pod"
INTERFACE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
PORT_NAME_MAX = 15
RESERVED_MASQUERADE_MAC = "02:00:00:00:00:00"
# ports Envoy listens on (istio.RESERVED_PORTS, which cites KubeVirt's pkg/network/istio); never list them
# in interface ports
ISTIO_PORTS = istio.RESERVED_PORTS
# k8s 1.20 pod DNS limits (validation.go: MaxDNSNameservers, MaxDNSSearchPaths)
# k8s.io/kubernetes pkg/apis/core/validation/validation.go MaxDNSNameservers, MaxDNSSearchPaths and
# MaxDNSSearchListChars: 32 search domains and 2048 characters since ExpandedDNSConfig went GA in
# Kubernetes 1.28 (KubeVirt 1.9 needs 1.32 or newer); 6 and 256 before
MAX_NAMESERVERS, MAX_SEARCHES, MAX_SEARCH_CHARS = 3, 32, 2048

# typed option -> API field of v1.Interface, for the plain scalar ones
SCALAR_FIELDS = (("model", "model"), ("mac_address", "macAddress"), ("pci_address", "pciAddress"),
                 ("boot_order", "bootOrder"), ("acpi_index", "acpiIndex"), ("tag", "tag"))
# typed DNS option -> field of the template spec
DNS_FIELDS = (("hostname", "hostname"), ("subdomain", "subdomain"), ("dns_policy", "dnsPolicy"),
              ("dns_config", "dnsConfig"))
CIDR_FIELDS = (("vm_network_cidr", "vmNetworkCIDR", 4), ("vm_ipv6_network_cidr", "vmIPv6NetworkCIDR", 6))
TEMPLATE_SPEC_PATH = "/spec/template/spec"


# ------------------------------------------------------------ typed <-> API
def api_binding(binding: str) -> Dict[str, Any]:
    """The interface keys for a typed binding: {'bridge': {}} or {'binding': {'name': x}}."""
    if binding.startswith(PLUGIN_PREFIX):
        return {"binding": {"name": binding[len(PLUGIN_PREFIX):]}}
    return {API_BINDINGS[binding]: {}}


def typed_binding(iface: Dict[str, Any]) -> Optional[str]:
    key = vmspec.binding_of(iface)
    if key == "binding":
        return PLUGIN_PREFIX + str((iface.get("binding") or {}).get("name"))
    if key in TYPED_BINDINGS:
        return TYPED_BINDINGS[key]
    return key  # a removed binding (slirp, macvtap, passt): shown as it is


def default_binding(network: Optional[str]) -> str:
    return "masquerade" if network == POD else "bridge"


def api_source(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The network source of a typed interface: {'pod': {}} or {'multus': {...}}."""
    if cfg.get("network") == POD:
        return {"pod": {}}
    multus = {"networkName": cfg["network"]}
    if cfg.get("multus_default"):
        multus["default"] = True
    return {"multus": multus}


def api_ports(ports: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    out = []
    for port in ports:
        entry = {}
        if port.get("name"):
            entry["name"] = port["name"]
        if port.get("protocol"):
            entry["protocol"] = port["protocol"]
        entry["port"] = port["port"]
        out.append(entry)
    return out


def api_dhcp(options: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for typed, field in (("boot_file_name", "bootFileName"), ("tftp_server_name", "tftpServerName")):
        if options.get(typed):
            out[field] = options[typed]
    if options.get("ntp_servers"):
        out["ntpServers"] = list(options["ntp_servers"])
    if options.get("private_options"):
        out["privateOptions"] = [{"option": o["option"], "value": o["value"]} for o in options["private_options"]]
    return out


def dns_config(dns: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of a DNS config without its unset parts.  The typed option
    ``dns_config`` and the API's ``dnsConfig`` spell their fields alike
    (nameservers, searches, options[].name/value; name is required by both),
    so this one function translates both ways."""
    out = {}
    if dns.get("nameservers") is not None:
        out["nameservers"] = list(dns["nameservers"])
    if dns.get("searches") is not None:
        out["searches"] = list(dns["searches"])
    if dns.get("options") is not None:
        out["options"] = [dict((k, o[k]) for k in ("name", "value") if o.get(k) is not None)
                          for o in dns["options"]]
    return out


def set_options(iface: Dict[str, Any], cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Write the typed options that are set in ``cfg`` onto the API interface."""
    if cfg.get("binding"):
        for key in ALL_BINDING_KEYS:
            iface.pop(key, None)
        iface.update(api_binding(cfg["binding"]))
    for typed, field in SCALAR_FIELDS:
        if cfg.get(typed) is not None:
            iface[field] = cfg[typed]
    if cfg.get("ports") is not None:
        if cfg["ports"]:
            iface["ports"] = api_ports(cfg["ports"])
        else:
            iface.pop("ports", None)
    if cfg.get("dhcp_options") is not None:
        dhcp = api_dhcp(cfg["dhcp_options"])
        if dhcp:
            iface["dhcpOptions"] = dhcp
        else:
            iface.pop("dhcpOptions", None)
    if cfg.get("link_state") is not None and iface.get("state") != "absent":
        iface["state"] = cfg["link_state"]
    return iface


def build_interface(cfg: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """API (interface, network) exactly as the typed ``cfg`` says (defaults for the rest)."""
    binding = cfg.get("binding") or default_binding(cfg.get("network"))
    iface = {"name": cfg["name"]}
    iface.update(api_binding(binding))
    set_options(iface, dict(cfg, binding=binding))
    network = {"name": cfg["name"]}
    network.update(api_source(cfg))
    return iface, network


def merge_interface(iface: Dict[str, Any], network: Dict[str, Any],
                    cfg: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """API (interface, network) with the typed options set in ``cfg`` changed and
    everything else (including fields these options do not cover) kept."""
    iface, network = copy.deepcopy(iface), copy.deepcopy(network)
    set_options(iface, cfg)
    if cfg.get("network"):
        source = api_source(cfg)
        same_kind = list(source)[0] in network
        if not (same_kind and cfg["network"] == POD):  # keep the pod network's CIDRs
            old = dict(network.get("multus") or {})
            for key in NETWORK_SOURCES:
                network.pop(key, None)
            if "multus" in source and cfg.get("multus_default") is None and old.get("default"):
                source["multus"]["default"] = True
            network.update(source)
    if cfg.get("multus_default") is not None and "multus" in network:
        if cfg["multus_default"]:
            network["multus"]["default"] = True
        else:
            network["multus"].pop("default", None)
    return iface, network


def typed_interface(iface: Dict[str, Any], network: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The typed form of one API interface and its network (what gathered returns)."""
    out = {"name": iface.get("name")}
    network = network or {}
    if "pod" in network:
        out["network"] = POD
    elif "multus" in network:
        out["network"] = (network.get("multus") or {}).get("networkName")
        if (network.get("multus") or {}).get("default"):
            out["multus_default"] = True
    else:
        out["network"] = None
    out["binding"] = typed_binding(iface)
    for typed, field in SCALAR_FIELDS:
        if iface.get(field) is not None:
            out[typed] = iface[field]
    if iface.get("ports"):
        out["ports"] = [dict((k, p[k]) for k in ("name", "protocol", "port") if p.get(k) is not None)
                        for p in iface["ports"]]
    dhcp = iface.get("dhcpOptions")
    if dhcp:
        typed_dhcp = {}  # type: Dict[str, Any]
        for key, field in (("boot_file_name", "bootFileName"), ("tftp_server_name", "tftpServerName"),
                           ("ntp_servers", "ntpServers")):
            if dhcp.get(field):
                typed_dhcp[key] = dhcp[field]
        if dhcp.get("privateOptions"):
            typed_dhcp["private_options"] = [{"option": o.get("option"), "value": o.get("value")}
                                             for o in dhcp["privateOptions"]]
        out["dhcp_options"] = typed_dhcp
    if iface.get("state") in ("up", "down"):
        out["link_state"] = iface["state"]
    return out


def interface_details(iface: Dict[str, Any], network: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """What the typed options cannot express: a pending unplug, fields they do not cover."""
    out = {}  # type: Dict[str, Any]
    if iface.get("state") == "absent":
        out["unplug_pending"] = True
    unmanaged = dict((k, v) for k, v in iface.items() if k not in _MANAGED_IFACE_KEYS)
    unmanaged_net = dict((k, v) for k, v in (network or {}).items() if k not in ("name", "pod", "multus"))
    if unmanaged or unmanaged_net:
        out["unmanaged"] = {"interface": unmanaged, "network": unmanaged_net}
    return out


_MANAGED_IFACE_KEYS = set(["name", "ports", "dhcpOptions", "state"] + list(ALL_BINDING_KEYS)
                          + [field for _t, field in SCALAR_FIELDS])


def typed_config(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The typed declaration of a template spec (gathered / before / after)."""
    networks = spec.get("networks") or []
    ifaces = ((spec.get("domain") or {}).get("devices") or {}).get("interfaces") or []
    out = {"interfaces": [typed_interface(i, vmspec.find(networks, i.get("name"))[1]) for i in ifaces]}  # type: Dict[str, Any]
    for typed, field in DNS_FIELDS:
        if spec.get(field) is not None:
            out[typed] = dns_config(spec[field]) if typed == "dns_config" else spec[field]
    pod = pod_source(networks)
    for typed, field, _family in CIDR_FIELDS:
        if pod and pod.get(field):
            out[typed] = pod[field]
    return out


def config_details(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The rest of the picture beside typed_config (gathered_details)."""
    networks = spec.get("networks") or []
    devices = (spec.get("domain") or {}).get("devices") or {}
    out = {"interfaces": {}}  # type: Dict[str, Any]
    for iface in devices.get("interfaces") or []:
        details = interface_details(iface, vmspec.find(networks, iface.get("name"))[1])
        if details:
            out["interfaces"][iface.get("name")] = details
    orphans = [n.get("name") for n in networks if vmspec.find(devices.get("interfaces") or [], n.get("name"))[1]
               is None]
    if orphans:
        out["networks_without_interface"] = orphans
    out["autoattach_pod_interface"] = devices.get("autoattachPodInterface", True) is not False
    return out


def pod_source(networks: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    for network in networks:
        if "pod" in network:
            return network.get("pod") or {}
    return None


# ------------------------------------------------------------ port names
def port_name_problem(name: str) -> Optional[str]:
    """k8s IsValidPortName (IANA_SVC_NAME), as KubeVirt applies it to interface ports."""
    if len(name) > PORT_NAME_MAX:
        return "must be no more than 15 characters"
    if not re.match(r"^[-a-z0-9]+$", name):
        return "must contain only lowercase letters, digits and '-'"
    if not re.search(r"[a-z]", name):
        return "must contain at least one letter"
    if "--" in name or name.startswith("-") or name.endswith("-"):
        return "must not begin or end with '-' nor contain '--'"
    return None


# ------------------------------------------------------------ desired state
class Desired:
    """The template a state leads to, and notes on how it was derived."""

    def __init__(self, ifaces: List[Dict[str, Any]], networks: List[Dict[str, Any]], fields: Dict[str, Any],
                 notes: List[str]) -> None:
        self.ifaces = ifaces
        self.networks = networks
        self.fields = fields        # template-spec field -> value (None: absent)
        self.notes = notes


def _implicit_pod(spec: Dict[str, Any], default_interface: Optional[str]) -> Optional[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """KubeVirt's SetDefaultNetworkInterface: a VM without interfaces and networks
    gets ``default`` on the pod network with the cluster's default binding."""
    devices = (spec.get("domain") or {}).get("devices") or {}
    if spec.get("networks") or devices.get("interfaces") or devices.get("autoattachPodInterface") is False:
        return None
    binding = default_interface if default_interface in ("bridge", "masquerade") else "bridge"
    return {"name": "default", binding: {}}, {"name": "default", "pod": {}}


def dns_fields(spec: Dict[str, Any]) -> Dict[str, Any]:
    return dict((field, copy.deepcopy(spec.get(field))) for _t, field in DNS_FIELDS)


def desired(spec: Dict[str, Any], config: Optional[Dict[str, Any]], state: str,
            default_interface: str = "bridge") -> Desired:
    """The interfaces, networks and DNS fields ``state`` makes of template ``spec``."""
    config = config or {}
    notes = []
    ifaces = copy.deepcopy(((spec.get("domain") or {}).get("devices") or {}).get("interfaces") or [])
    networks = copy.deepcopy(spec.get("networks") or [])
    implicit = _implicit_pod(spec, default_interface) if state in (MERGED, REPLACED, DELETED) else None
    if implicit and (config.get("interfaces") or state == DELETED):
        ifaces, networks = [implicit[0]], [implicit[1]]
        notes.append("the VM had no interfaces, so KubeVirt attached 'default' to the pod network implicitly; it is "
                     "now declared explicitly (%s)" % vmspec.binding_of(implicit[0]))
    fields = dns_fields(spec)
    wanted = config.get("interfaces") or []
    if state == OVERRIDDEN:
        ifaces, networks = [], []
        for cfg in wanted:
            built_iface, built_network = build_interface(cfg)
            ifaces.append(built_iface)
            networks.append(built_network)
        for typed, field in DNS_FIELDS:
            fields[field] = _dns_value(typed, config.get(typed))
    elif state == DELETED:
        names = [c["name"] for c in wanted]
        if not config or (not wanted and all(config.get(t) is None for t, _f in DNS_FIELDS)
                          and all(config.get(t) is None for t, _f, _v in CIDR_FIELDS)):
            names = [i.get("name") for i in ifaces
                     if not vmspec.is_primary(vmspec.find(networks, i.get("name"))[1] or {})]
            for _typed, field in DNS_FIELDS:
                fields[field] = None
        for typed, field in DNS_FIELDS:
            if config.get(typed) is not None:
                fields[field] = None
        ifaces = [i for i in ifaces if i.get("name") not in names]
        networks = [n for n in networks if n.get("name") not in names]
    else:
        for cfg in wanted:
            i_index, iface = vmspec.find(ifaces, cfg["name"])
            n_index, network = vmspec.find(networks, cfg["name"])
            if iface is None and network is None:
                new_iface, new_network = build_interface(cfg)
                ifaces.append(new_iface)
                networks.append(new_network)
                continue
            if state == REPLACED or iface is None or network is None:
                new_iface, new_network = build_interface(dict(cfg, network=cfg.get("network") or _typed_net(network)))
                if network is not None and "pod" in network and "pod" in new_network:
                    new_network["pod"] = copy.deepcopy(network["pod"])  # CIDRs are top-level options
            else:
                new_iface, new_network = merge_interface(iface, network, cfg)
            if iface is None or i_index is None:
                ifaces.append(new_iface)
            else:
                ifaces[i_index] = new_iface
            if network is None or n_index is None:
                networks.append(new_network)
            else:
                networks[n_index] = new_network
        for typed, field in DNS_FIELDS:
            value = config.get(typed)
            if value is None:
                continue
            if typed == "dns_config" and state == MERGED and fields.get(field):
                merged = copy.deepcopy(fields[field])
                merged.update(dns_config(value))
                fields[field] = merged or None
            else:
                fields[field] = _dns_value(typed, value)
    _apply_cidrs(networks, config, state)
    if state == OVERRIDDEN and not ifaces:
        notes.append("no interfaces are declared, so autoattachPodInterface is set to false (otherwise KubeVirt "
                     "would attach the pod network)")
    return Desired(ifaces, networks, fields, notes)


def _typed_net(network: Optional[Dict[str, Any]]) -> Any:
    if network is None:
        return None
    return typed_interface({}, network).get("network")


def _dns_value(typed: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if typed == "dns_config":
        return dns_config(value) or None
    return value


def _apply_cidrs(networks: List[Dict[str, Any]], config: Dict[str, Any], state: str) -> None:
    pod: Optional[Dict[str, Any]] = None
    for network in networks:
        if "pod" in network:
            pod = network
    for typed, field, _family in CIDR_FIELDS:
        value = config.get(typed)
        if pod is None:
            continue
        source = pod["pod"] if isinstance(pod.get("pod"), dict) else {}
        if state == DELETED:
            if value is not None:
                source.pop(field, None)
        elif value:
            source[field] = value
        elif value == "" or state == OVERRIDDEN:
            source.pop(field, None)
        pod["pod"] = source


def cidr_without_pod(config: Dict[str, Any], desired_state: Desired) -> List[str]:
    """Names of CIDR options given while the desired VM has no pod network."""
    if any("pod" in n for n in desired_state.networks):
        return []
    return [typed for typed, _f, _v in CIDR_FIELDS if config.get(typed)]


def template_of(vm: Dict[str, Any]) -> Dict[str, Any]:
    return vmspec.template_spec(vm)


def current(vm: Dict[str, Any]) -> Desired:
    spec = template_of(vm)
    return Desired(vmspec.interfaces_of(vm), vmspec.networks_of(vm), dns_fields(spec), [])


def apply_desired(spec: Dict[str, Any], want: Desired) -> Dict[str, Any]:
    """A copy of template ``spec`` with ``want`` in it."""
    spec = copy.deepcopy(spec)
    devices = spec.setdefault("domain", {}).setdefault("devices", {})
    devices["interfaces"] = copy.deepcopy(want.ifaces)
    spec["networks"] = copy.deepcopy(want.networks)
    if not want.ifaces and not want.networks:
        devices["autoattachPodInterface"] = False
    for field, value in want.fields.items():
        if value is None:
            spec.pop(field, None)
        else:
            spec[field] = copy.deepcopy(value)
    return spec


def same(spec: Dict[str, Any], want: Desired) -> bool:
    """Whether template ``spec`` already declares ``want``."""
    return _comparable(spec) == _comparable(apply_desired(spec, want))


def _comparable(spec: Dict[str, Any]) -> Tuple[List[Any], List[Any], bool, List[Any]]:
    devices = (spec.get("domain") or {}).get("devices") or {}
    return (devices.get("interfaces") or [], spec.get("networks") or [],
            devices.get("autoattachPodInterface", True) is not False,
            [spec.get(field) for _t, field in DNS_FIELDS])


# ------------------------------------------------------------ the patch
def _pointer(field: str) -> str:
    return "%s/%s" % (TEMPLATE_SPEC_PATH, field.replace("~", "~0").replace("/", "~1"))


def template_patch(vm: Dict[str, Any], want: Desired) -> List[Dict[str, Any]]:
    """The JSON Patch that turns ``vm``'s template into ``want``: it first tests
    ``metadata.generation`` (bumped by every spec change, untouched by status
    updates), so a concurrent spec writer makes it fail with 422 instead of
    being overwritten; then only the fields that differ."""
    spec = template_of(vm)
    ops = [{"op": "test", "path": "/metadata/generation", "value": (vm.get("metadata") or {}).get("generation")}]
    domain = spec.get("domain")
    devices = (domain or {}).get("devices")
    autoattach_off = not want.ifaces and not want.networks
    if (devices or {}).get("interfaces") != want.ifaces or (
            autoattach_off and (devices or {}).get("autoattachPodInterface") is not False):
        if domain is None:
            ops.append({"op": "add", "path": _pointer("domain"), "value": {"devices": {}}})
        if devices is None:
            ops.append({"op": "add", "path": _pointer("domain") + "/devices", "value": {}})
        ops.append({"op": "add", "path": vmspec.IFACES_PATH, "value": copy.deepcopy(want.ifaces)})
        if autoattach_off:
            ops.append({"op": "add", "path": _pointer("domain") + "/devices/autoattachPodInterface", "value": False})
    if (spec.get("networks") or []) != want.networks or ("networks" not in spec and want.networks):
        ops.append({"op": "add", "path": vmspec.NETWORKS_PATH, "value": copy.deepcopy(want.networks)})
    for field in sorted(want.fields):
        value = want.fields[field]
        if spec.get(field) == value:
            continue
        if value is None:
            ops.append({"op": "remove", "path": _pointer(field)})
        else:
            ops.append({"op": "add", "path": _pointer(field), "value": copy.deepcopy(value)})
    return ops if len(ops) > 1 else []


def rendered_vm(name: Optional[str], namespace: Optional[str], want: Desired,
                labels: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """A VirtualMachine manifest carrying only the network declaration."""
    spec = apply_desired({"domain": {"devices": {}}}, want)
    meta = {"name": name or "vm"}
    if namespace:
        meta["namespace"] = namespace
    template = {"spec": spec}
    if labels:
        template["metadata"] = {"labels": dict(labels)}
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": meta,
            "spec": {"template": template}}


def istio_ports_listed(want: Desired) -> List[Tuple[Optional[str], int]]:
    """(interface, port) pairs that list an Istio-reserved port."""
    found = []
    for iface in want.ifaces:
        for port in iface.get("ports") or []:
            if port.get("port") in ISTIO_PORTS:
                found.append((iface.get("name"), port.get("port")))
    return found
