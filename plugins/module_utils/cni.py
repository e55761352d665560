# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Typed network options -> CNI configuration of a NetworkAttachmentDefinition.

One builder per CNI plugin family; every builder is pure and deterministic,
and every option is checked before anything is sent.  Option names are
snake_case; the CNI's own spelling is produced here and only here.
"""


import json
from typing import Any, Dict, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import ipam as ipam_utils
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

try:
    import netaddr
except ImportError:  # pragma: no cover - reported by the module
    netaddr = None

NETWORK_TYPES = ("bridge", "ovs", "macvlan", "sriov", "ovn_layer2", "ovn_localnet", "cni_config")
RESOURCE_NAME_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"
OVN_CNI = "ovn-k8s-cni-overlay"

# options each type accepts besides the common ones
TYPE_OPTIONS = {
    "bridge": ("bridge", "vlan", "mtu", "mac_spoof_check", "preserve_default_vlan", "ipam"),
    "ovs": ("bridge", "vlan", "trunk", "mtu", "ipam"),
    "macvlan": ("master", "mode", "mtu", "ipam"),
    "sriov": ("resource_name", "vlan", "vlan_qos", "spoof_check", "trust", "link_state",
              "min_tx_rate", "max_tx_rate", "ipam"),
    "ovn_layer2": ("subnets", "exclude_subnets", "mtu"),
    "ovn_localnet": ("physical_network_name", "vlan", "subnets", "exclude_subnets", "mtu"),
    "cni_config": ("cni_config",),
}
REQUIRED = {"bridge": ("bridge",), "ovs": ("bridge",), "macvlan": ("master",), "sriov": ("resource_name",),
            "ovn_localnet": ("physical_network_name",), "cni_config": ("cni_config",)}
# containernetworking/cni pkg/version/version.go (v1.3.0): version.All, the
# spec versions libcni (and so Multus) reads; Current() is "1.1.0".
CNI_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
# options that name a Linux network device, checked as the kernel does
INTERFACE_OPTIONS = ("bridge", "master")
TYPE_SPECIFIC = sorted(set(opt for opts in TYPE_OPTIONS.values() for opt in opts))


def dumps(config: Dict[str, Any]) -> str:
    """The one serialisation of a CNI config: sorted keys, no whitespace."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def parse(text: Any) -> Optional[Dict[str, Any]]:
    """Parse a NAD's ``spec.config``; None when it is not JSON."""
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def check_network(problems: Problems, net: Dict[str, Any]) -> None:
    """Validate one network option dict (after argument-spec parsing)."""
    where = "network %s/%s" % (net.get("namespace") or "?", net.get("name") or "?")
    problems.dns_subdomain(where, "name", net.get("name"))
    problems.dns_label(where, "namespace", net.get("namespace"))
    kind = net.get("type")
    if kind not in NETWORK_TYPES:
        problems.add(where, "type", "%r is not a network type: use one of %s" % (kind, ", ".join(NETWORK_TYPES)))
        return
    allowed = set(TYPE_OPTIONS[kind])
    for option in TYPE_SPECIFIC:
        if option not in allowed and net.get(option) not in (None, [], {}):
            problems.add(where, option, "is not used by type %r (it takes: %s)"
                         % (kind, ", ".join(sorted(allowed)) or "no extra options"))
    for option in REQUIRED.get(kind, ()):
        if net.get(option) in (None, "", {}):
            problems.add(where, option, "is required for type %r" % kind)
    problems.int_range(where, "vlan", net.get("vlan"), 0, 4094)
    problems.int_range(where, "mtu", net.get("mtu"), 576, 9216)
    problems.int_range(where, "vlan_qos", net.get("vlan_qos"), 0, 7)
    for rate in ("min_tx_rate", "max_tx_rate"):
        problems.int_range(where, rate, net.get(rate), 0, 400000, " (Mbps)")
    if net.get("min_tx_rate") and net.get("max_tx_rate") and net["min_tx_rate"] > net["max_tx_rate"]:
        problems.add(where, "min_tx_rate", "%s is above max_tx_rate %s" % (net["min_tx_rate"], net["max_tx_rate"]))
    problems.resource_name(where, "resource_name", net.get("resource_name"))
    for option in INTERFACE_OPTIONS:
        if option in allowed and net.get(option) not in (None, ""):
            problems.linux_ifname(where, option, net[option])
    if kind != "cni_config":
        _check_version(problems, where, "cni_version", net.get("cni_version"))
    for index, trunk in enumerate(net.get("trunk") or []):
        _check_trunk(problems, where, index, trunk)
    if kind in ("ovn_layer2", "ovn_localnet"):
        _check_ovn_subnets(problems, where, net)
    if kind == "cni_config":
        _check_raw(problems, where, net.get("cni_config"))
    elif "ipam" in allowed:
        ipam_utils.check_ipam(problems, where, net.get("ipam") or {})


def _check_trunk(problems: Problems, where: str, index: int, trunk: Dict[str, Any]) -> None:
    field = "trunk[%d]" % index
    if trunk.get("id") is not None:
        if trunk.get("min_id") is not None or trunk.get("max_id") is not None:
            problems.add(where, field, "give either id or min_id/max_id, not both")
        problems.int_range(where, field + ".id", trunk["id"], 0, 4094)
    elif trunk.get("min_id") is not None and trunk.get("max_id") is not None:
        ok = problems.int_range(where, field + ".min_id", trunk["min_id"], 0, 4094)
        ok = problems.int_range(where, field + ".max_id", trunk["max_id"], 0, 4094) and ok
        if ok and trunk["min_id"] > trunk["max_id"]:
            problems.add(where, field, "min_id %s is above max_id %s" % (trunk["min_id"], trunk["max_id"]))
    else:
        problems.add(where, field, "needs id, or both min_id and max_id")


def _check_ovn_subnets(problems: Problems, where: str, net: Dict[str, Any]) -> None:
    subnets = []
    for index, cidr in enumerate(net.get("subnets") or []):
        parsed = ipam_utils.parse_network(problems, where, "subnets[%d]" % index, cidr)
        if parsed is not None:
            subnets.append(parsed)
    for index, cidr in enumerate(net.get("exclude_subnets") or []):
        parsed = ipam_utils.parse_network(problems, where, "exclude_subnets[%d]" % index, cidr, strict=False)
        if parsed is not None and not any(parsed in subnet for subnet in subnets):
            problems.add(where, "exclude_subnets[%d]" % index, "%s is not inside any of subnets" % cidr)
    if net.get("exclude_subnets") and not net.get("subnets"):
        problems.add(where, "subnets", "is required when exclude_subnets is given")


def _check_raw(problems: Problems, where: str, raw: Any) -> None:
    config = parse(raw) if isinstance(raw, str) else raw
    if not isinstance(config, dict):
        problems.add(where, "cni_config", "is not a JSON object: give a dict or a JSON string of a CNI config")
        return
    if not config.get("cniVersion"):
        problems.add(where, "cni_config.cniVersion", "is required (e.g. '0.3.1')")
    else:
        _check_version(problems, where, "cni_config.cniVersion", config["cniVersion"])
    versions = config.get("cniVersions")
    for index, version in enumerate(versions if isinstance(versions, list) else []):
        _check_version(problems, where, "cni_config.cniVersions[%d]" % index, version)
    plugins = config.get("plugins")
    if not isinstance(plugins, list):
        plugins = [config]
    for index, plugin in enumerate(plugins):
        prefix = "cni_config" if plugin is config else "cni_config.plugins[%d]" % index
        for key, types in (("bridge", ("bridge", "ovs")), ("master", ("macvlan", "ipvlan"))):
            if isinstance(plugin, dict) and plugin.get("type") in types and plugin.get(key) is not None:
                problems.linux_ifname(where, "%s.%s" % (prefix, key), plugin[key])
    if not config.get("type") and not isinstance(config.get("plugins"), list):
        problems.add(where, "cni_config", "needs 'type' (one plugin) or 'plugins' (a list)")


def version_error(value: Any) -> Optional[str]:
    """Why ``value`` is not a CNI spec version libcni knows, else None."""
    if value in CNI_VERSIONS:
        return None
    return ("%r is not a CNI specification version: use one of %s (containernetworking/cni pkg/version; "
            "0.3.1 is the default here, 1.0.0+ needs plugins and Multus that support it)"
            % (value, ", ".join(CNI_VERSIONS)))


def _check_version(problems: Any, where: str, field: str, value: Any) -> None:
    if value is None:
        return
    message = version_error(value)
    if message:
        problems.add(where, field, message)


def build_config(net: Dict[str, Any]) -> Dict[str, Any]:
    """The CNI config dict for a validated network."""
    kind = net["type"]
    name = net["name"]
    if kind == "cni_config":
        raw = net["cni_config"]
        parsed = parse(raw) if isinstance(raw, str) else raw
        if parsed is None:
            raise AssertionError("check_network refuses a cni_config that is not a JSON object")
        config = dict(parsed)
        config.setdefault("name", name)
        return config
    config = {"cniVersion": net.get("cni_version") or "0.3.1", "name": name}
    if kind == "bridge":
        config.update(type="bridge", bridge=net["bridge"])
        _set(config, "vlan", net.get("vlan"))
        _set(config, "macspoofchk", net.get("mac_spoof_check"))
        _set(config, "preserveDefaultVlan", net.get("preserve_default_vlan"))
    elif kind == "ovs":
        config.update(type="ovs", bridge=net["bridge"])
        _set(config, "vlan", net.get("vlan"))
        if net.get("trunk"):
            config["trunk"] = [{"id": t["id"]} if t.get("id") is not None else
                               {"minID": t["min_id"], "maxID": t["max_id"]} for t in net["trunk"]]
    elif kind == "macvlan":
        config.update(type="macvlan", master=net["master"], mode=net.get("mode") or "bridge")
    elif kind == "sriov":
        config["type"] = "sriov"
        _set(config, "vlan", net.get("vlan"))
        _set(config, "vlanQoS", net.get("vlan_qos"))
        for option, key in (("spoof_check", "spoofchk"), ("trust", "trust")):
            if net.get(option) is not None:
                config[key] = "on" if net[option] else "off"
        _set(config, "link_state", net.get("link_state"))
        _set(config, "min_tx_rate", net.get("min_tx_rate"))
        _set(config, "max_tx_rate", net.get("max_tx_rate"))
    elif kind in ("ovn_layer2", "ovn_localnet"):
        config.update(type=OVN_CNI, topology="layer2" if kind == "ovn_layer2" else "localnet",
                      netAttachDefName="%s/%s" % (net["namespace"], name))
        if net.get("subnets"):
            config["subnets"] = ",".join(net["subnets"])
        if net.get("exclude_subnets"):
            config["excludeSubnets"] = ",".join(net["exclude_subnets"])
        if kind == "ovn_localnet":
            config["physicalNetworkName"] = net["physical_network_name"]
            _set(config, "vlanID", net.get("vlan"))
    _set(config, "mtu", net.get("mtu"))
    if "ipam" in TYPE_OPTIONS[kind]:
        config["ipam"] = ipam_utils.render_ipam(net.get("ipam") or {})
    return config


def _set(config: Dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        config[key] = value


def l2_key(config: Dict[str, Any]) -> Optional[Tuple[Any, ...]]:
    """What layer-2 segment a CNI config attaches to, or None when unknown.
    Two networks on the same segment must not hand out the same addresses."""
    for plugin in config.get("plugins") or [config]:
        kind = plugin.get("type")
        if kind == "bridge" and plugin.get("bridge"):
            return ("bridge", plugin["bridge"], int(plugin.get("vlan") or 0))
        if kind == "ovs" and plugin.get("bridge"):
            return ("ovs", plugin["bridge"], int(plugin.get("vlan") or 0))
        if kind == "macvlan" and plugin.get("master"):
            return ("macvlan", plugin["master"])
        if kind == OVN_CNI and plugin.get("topology") == "localnet":
            return ("localnet", plugin.get("physicalNetworkName") or plugin.get("name"),
                    int(plugin.get("vlanID") or 0))
        if kind == OVN_CNI and plugin.get("topology") == "layer2":
            return ("ovn-layer2", plugin.get("name"))
    return None


def ipam_kind(config: Dict[str, Any]) -> Optional[str]:
    for plugin in config.get("plugins") or [config]:
        if plugin.get("ipam"):
            return plugin["ipam"].get("type")
    return None


def ovn_pools(config: Dict[str, Any]) -> "netaddr.IPSet":
    """Addresses an OVN layer2/localnet network hands out (its subnets minus excludes)."""
    pools = netaddr.IPSet()
    if config.get("type") != OVN_CNI:
        return pools
    for cidr in (config.get("subnets") or "").split(","):
        if cidr.strip():
            pools.add(netaddr.IPNetwork(cidr.strip()).cidr)
    for cidr in (config.get("excludeSubnets") or "").split(","):
        if cidr.strip():
            pools.remove(netaddr.IPNetwork(cidr.strip()))
    return pools


def address_pools(config: Dict[str, Any]) -> "netaddr.IPSet":
    try:
        return ipam_utils.pools_from_cni(config) | ovn_pools(config)
    except (ValueError, TypeError, AttributeError, netaddr.AddrFormatError):
        return netaddr.IPSet()
