# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""KubeVirt's VM admission rules for the network part of a template, checked
before any write so a task fails with every problem at once, naming the field
and the fix, instead of getting the webhook's first ten causes back.

Mirrors KubeVirt v1.9.0 ``pkg/network/admitter`` as the VM webhook runs it on
``spec.template.spec`` for every create and update
(``virt-api/webhooks/validating-webhook/admitters/vms-admitter.go``:
``ValidateVirtualMachineSpec`` -> ``ValidateVirtualMachineInstanceSpec`` ->
``netadmitter.Validator.Validate``; ``ValidateCreation``, the discontinued
bindings, on create only).  Where each rule lives:

- ``netsource.go``: one pod network, one Multus default, one source per
  network, Multus needs a networkName;
- ``netiface.go``: names unique and 1:1, interface name format, model, MAC
  (``link/mac.go ValidateMacAddress``: Go's ``net.ParseMAC``, at most 6
  bytes), PCI address, forwarded ports (unique IANA names, 0 < port < 65536,
  TCP/UDP), portRanges (gate, masquerade only, not with ports, at most 10,
  protocol, bounds, order, overlaps), DHCP options (unique private options in
  224-254, IPv4 NTP servers);
- ``binding.go``: exactly one binding, masquerade on the pod network only and
  not with the in-pod bridge MAC, bridge on the pod network only when
  ``permitBridgeInterfaceOnPodNetwork`` (default true) - on every create and
  update, so a VM that has one is refused any change once it is set to false;
- ``passt.go``: passtBinding on the pod network, gate ``PasstBinding``;
- ``admit.go``: interface state values and where ``absent``/link states apply.

Besides KubeVirt's rules, for the interfaces this task adds or changes
(``changed_names``) only: the binding plugin must be registered (KubeVirt
checks that when the VM starts, ``netbinding.go``), the version gates of the
fields (passtBinding 1.8+, binding plugins 1.1+ / GA 1.5, link state 1.5+),
and a MAC must be unicast and not all-zero (KubeVirt takes any parsable MAC;
a NIC cannot use a group address).
"""


import ipaddress
import re
from typing import Any, Dict, Iterable, List, Optional

from ansible_collections.kubevirt_net.core.plugins.module_utils import macaddr, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_LABEL, DNS1123_SUBDOMAIN

FIELD = "spec.template.spec"
STATES = ("", "up", "down", "absent")
RESERVED_MASQUERADE_MAC = "02:00:00:00:00:00"
INTERFACE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")   # netiface.go validateInterfaceNameFormat
PROTOCOLS = ("TCP", "UDP")
MAX_PORT_RANGES = 10


def _ifaces(spec: Dict[str, Any]) -> List[Dict[str, Any]]:
    return ((spec.get("domain") or {}).get("devices") or {}).get("interfaces") or []


def _iface_path(idx: int, *names: str) -> str:
    return ".".join(("%s.domain.devices.interfaces[%d]" % (FIELD, idx),) + names)


def _net_path(idx: int, *names: str) -> str:
    return ".".join(("%s.networks[%d]" % (FIELD, idx),) + names)


def _primary(networks: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    for net in networks:
        if vmspec.is_primary(net):
            return net
    return None


def check(problems: Any, where: str, spec: Dict[str, Any], kv: Any,
          changed_names: Optional[Iterable[str]] = None) -> Any:
    """Add a problem for every KubeVirt admission rule ``spec`` breaks.

    ``kv``: KubeVirtInfo (version, gates, network configuration).
    ``changed_names``: interfaces this task adds or changes; the start-time
    rules (registered binding plugins), the version gates and the unicast-MAC
    rule apply to those only.  KubeVirt's webhook rules apply to every
    interface: the webhook refuses the whole update otherwise."""
    networks = spec.get("networks") or []
    ifaces = _ifaces(spec)
    by_name = dict((n.get("name"), n) for n in networks)
    changed = set(changed_names if changed_names is not None else [i.get("name") for i in ifaces])
    _check_sources(problems, where, networks)
    _check_names(problems, where, networks, ifaces, by_name)
    primary = _primary(networks)
    for idx, iface in enumerate(ifaces):
        name = iface.get("name", "")
        on_pod = "pod" in (by_name.get(name) or {})
        _check_binding(problems, where, idx, iface, on_pod, kv, name in changed)
        _check_state(problems, where, idx, iface, primary, kv, name in changed)
        # netiface.go validateInterfacesFields
        if not INTERFACE_NAME.match(str(name)):
            problems.add(where, _iface_path(idx, "name"), "Network interface name can only contain alphabetical "
                         "characters, numbers, dashes (-) or underscores (_): %r" % (name,))
        if iface.get("pciAddress") and not vmspec.PCI_ADDRESS.match(iface["pciAddress"]):
            problems.add(where, _iface_path(idx, "pciAddress"), "interface %s has malformed PCI address (%s)."
                         % (name, iface["pciAddress"]))
        if iface.get("model") and iface["model"] not in vmspec.MODELS:
            problems.add(where, _iface_path(idx, "model"), "interface %s uses model %s that is not supported."
                         % (name, iface["model"]))
        _check_mac(problems, where, idx, iface, name in changed)
        if on_pod and iface.get("ports") is not None:
            _check_ports(problems, where, idx, iface["ports"])
        _check_port_ranges(problems, where, idx, iface, on_pod, kv)
        if iface.get("dhcpOptions") is not None:
            _check_dhcp(problems, where, idx, iface["dhcpOptions"] or {})
    return problems


def _check_sources(problems: Any, where: str, networks: List[Dict[str, Any]]) -> None:
    """netsource.go: one pod network, one Multus default, not both; one source per network."""
    pods = [n for n in networks if "pod" in n]
    defaults = [n for n in networks if (n.get("multus") or {}).get("default")]
    if len(pods) > 1:
        problems.add(where, FIELD + ".networks", "more than one network is the pod network (%s); keep one"
                     % ", ".join(n.get("name", "") for n in pods))
    if len(defaults) > 1:
        problems.add(where, FIELD + ".networks", "Multus CNI should only have one default network (%s)"
                     % ", ".join(n.get("name", "") for n in defaults))
    if pods and defaults:
        problems.add(where, FIELD + ".networks", "Pod network cannot be defined when Multus default network is "
                     "defined: drop the pod network or multus_default")
    for idx, net in enumerate(networks):
        count = sum(1 for key in ("pod", "multus", "resourceClaim") if key in net)
        if count != 1:
            problems.add(where, _net_path(idx), "should have %s network type" % ("a" if count == 0 else "only one"))
        if "multus" in net and not (net.get("multus") or {}).get("networkName"):
            problems.add(where, _net_path(idx, "multus.networkName"), "CNI delegating plugin must have a networkName")


def _check_names(problems: Any, where: str, networks: List[Dict[str, Any]], ifaces: List[Dict[str, Any]],
                 by_name: Dict[Any, Dict[str, Any]]) -> None:
    """netiface.go: names unique, interfaces and networks 1:1."""
    seen = set()
    for idx, net in enumerate(networks):
        if net.get("name") in seen:
            problems.add(where, _net_path(idx, "name"), "network %r is declared twice" % net.get("name"))
        seen.add(net.get("name"))
    iface_names = set()
    for idx, iface in enumerate(ifaces):
        if iface.get("name") in iface_names:
            problems.add(where, _iface_path(idx, "name"), "Only one interface can be connected to one specific "
                         "network (%r is declared twice)" % iface.get("name"))
        iface_names.add(iface.get("name"))
        if iface.get("name") not in by_name:
            problems.add(where, _iface_path(idx, "name"), "interface %r has no network of that name: add it to "
                         "networks (or give the interface a 'network')" % iface.get("name"))
    for idx, net in enumerate(networks):
        if net.get("name") not in iface_names:
            problems.add(where, _net_path(idx, "name"), "network %r has no interface of that name: KubeVirt "
                         "refuses networks without an interface (delete it or add the interface)" % net.get("name"))


def _check_binding(problems: Any, where: str, idx: int, iface: Dict[str, Any], on_pod: bool, kv: Any,
                   changed: bool) -> None:
    """binding.go / passt.go: one binding per interface, and what each binding needs."""
    name = iface.get("name", "")
    network_config = kv.configuration.get("network") or {} if kv is not None else {}
    keys = [k for k in vmspec.BINDINGS if k in iface]
    binding = vmspec.binding_of(iface)
    removed = [k for k in vmspec.REMOVED_BINDINGS if k in iface]
    if len(keys) != 1 and not (removed and not keys):
        problems.add(where, _iface_path(idx), "logical %s interface must have exactly one binding method or "
                     "binding plugin" % name)
    if binding == "masquerade" and not on_pod:
        problems.add(where, _iface_path(idx, "masquerade"), "Masquerade interface only implemented with pod "
                     "network: use bridge (or sriov) on a Multus network")
    if binding == "masquerade" and macaddr.canonical(iface.get("macAddress") or "") == RESERVED_MASQUERADE_MAC:
        problems.add(where, _iface_path(idx, "macAddress"), "The requested MAC address is reserved for the "
                     "in-pod bridge. Please choose another one.")
    if binding == "passtBinding":
        if kv is not None and not kv.at_least(1, 8):
            problems.add(where, _iface_path(idx, "passtBinding"), "the core passt binding exists from KubeVirt "
                         "1.8; this cluster runs %s (use the passt binding plugin there)" % kv.version_text)
        elif kv is not None and not kv.gate_enabled("PasstBinding"):
            problems.add(where, _iface_path(idx, "passtBinding"), "PasstBinding feature gate is not enabled: add "
                         "it to spec.configuration.developerConfiguration.featureGates of the KubeVirt CR%s"
                         % (" (and remove it from disabledFeatureGates)" if "PasstBinding" in kv.disabled_gates
                            else ""))
        if not on_pod:
            problems.add(where, _iface_path(idx, "passtBinding"), "PasstBinding interface only implemented with "
                         "pod network")
    if binding == "bridge" and on_pod and network_config.get("permitBridgeInterfaceOnPodNetwork") is False:
        # binding.go validateBridgeBinding, run on every VM create and update
        problems.add(where, _iface_path(idx, "name"), "Bridge on pod network configuration is not enabled under "
                     "kubevirt-config (permitBridgeInterfaceOnPodNetwork: false), and KubeVirt refuses every "
                     "create and update of a VM with interface %r bridged to the pod network: use masquerade, "
                     "or allow it with kubevirt_net.core.kubevirt_binding_plugin "
                     "permit_bridge_interface_on_pod_network=true" % name)
    if binding == "binding":
        plugin = (iface.get("binding") or {}).get("name")
        if kv is not None and not kv.at_least(1, 1):
            problems.add(where, _iface_path(idx, "binding"), "network binding plugins exist from KubeVirt 1.1")
        elif kv is not None and not kv.gate_enabled("NetworkBindingPlugins"):
            problems.add(where, _iface_path(idx, "binding"), "binding plugins need the NetworkBindingPlugins "
                         "feature gate before KubeVirt 1.5 (GA); enable it in the KubeVirt CR")
        if kv is not None and changed and plugin not in kv.binding_plugins:
            problems.add(where, _iface_path(idx, "binding.name"), "binding plugin %r is not registered in the "
                         "KubeVirt CR (spec.configuration.network.binding has: %s); the VM would not start. "
                         "Register it with kubevirt_net.core.kubevirt_binding_plugin"
                         % (plugin, ", ".join(sorted(kv.binding_plugins)) or "none"))
    for key in removed if changed else []:
        problems.add(where, _iface_path(idx, key), "the %s binding was removed in KubeVirt 1.3; use the %s "
                     "instead" % (key, "core passt binding" if key == "passt" else "%s binding plugin" % key))


def _check_state(problems: Any, where: str, idx: int, iface: Dict[str, Any], primary: Optional[Dict[str, Any]],
                 kv: Any, changed: bool) -> None:
    """admit.go: the interface's link state."""
    name = iface.get("name", "")
    binding = vmspec.binding_of(iface)
    state = iface.get("state") or ""
    if state not in STATES:
        problems.add(where, _iface_path(idx, "state"), "logical %s interface state value is unsupported: %s"
                     % (name, state))
    if state in ("up", "down"):
        if binding == "sriov":
            problems.add(where, _iface_path(idx, "state"), "%r interface's state %r is not supported for SR-IOV "
                         "NICs" % (name, state))
        if kv is not None and not kv.at_least(1, 5) and changed:
            problems.add(where, _iface_path(idx, "state"), "interface link state exists from KubeVirt 1.5; this "
                         "cluster runs %s" % kv.version_text)
    if state == "absent":
        if binding != "bridge":
            problems.add(where, _iface_path(idx, "state"), "%r interface's state \"absent\" is supported only for "
                         "bridge binding" % name)
        if primary is not None and primary.get("name") == name:
            problems.add(where, _iface_path(idx, "state"), "%r interface's state \"absent\" is not supported on "
                         "default networks" % name)


def _check_mac(problems: Any, where: str, idx: int, iface: Dict[str, Any], changed: bool) -> None:
    """netiface.go validateMacAddress (link.ValidateMacAddress: Go's
    net.ParseMAC, at most 6 bytes); for changed interfaces also unicast."""
    mac = iface.get("macAddress")
    path = _iface_path(idx, "macAddress")
    if not isinstance(mac, str):
        error = macaddr.problem(mac, "macAddress")   # a number (unquoted YAML) or another type
        if error:
            problems.add(where, path, error)
        return
    error = macaddr.kubevirt_error(mac)
    if error:
        problems.add(where, path, "interface %s has %s; write it like %r (one separator throughout)"
                     % (iface.get("name"), error, macaddr.EXAMPLE))
    elif changed:
        error = macaddr.problem(mac, "macAddress")
        if error:
            problems.add(where, path, error)


def port_name_errors(name: str) -> List[str]:
    """k8s.io/apimachinery validation.IsValidPortName (IANA_SVC_NAME)."""
    errors = []
    if len(name) > 15:
        errors.append("must be no more than 15 characters")
    if not re.match(r"^[-a-z0-9]+$", name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errors.append("must contain at least one letter (a-z)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_ports(problems: Any, where: str, idx: int, ports: List[Dict[str, Any]]) -> None:
    """netiface.go validatePortConfiguration (pod-network interfaces, any binding)."""
    names = set()
    for pidx, port in enumerate(ports):
        path = _iface_path(idx, "ports[%d]" % pidx)
        name = port.get("name") or ""
        if name:
            if name in names:
                problems.add(where, path + ".name", "Duplicate name of the port: %s (port names must be unique "
                             "on the interface)" % name)
            errors = port_name_errors(str(name))
            if errors:
                problems.add(where, path + ".name", "Invalid name of the port: %s (an IANA service name: %s)"
                             % (name, "; ".join(errors)))
            names.add(name)
        number = _int(port.get("port"))
        if not port.get("port"):
            problems.add(where, path + ".port", "Port field is mandatory.")
        elif number is None or not 0 < number < 65536:
            problems.add(where, path + ".port", "Port field must be in range 0 < x < 65536.")
        if port.get("protocol") not in (None, "") + PROTOCOLS:
            problems.add(where, path + ".protocol", "Unknown protocol, only TCP or UDP allowed")


def _check_port_ranges(problems: Any, where: str, idx: int, iface: Dict[str, Any], on_pod: bool, kv: Any) -> None:
    """netiface.go validatePortRangesConfiguration (PortRangesSpec, Alpha in 1.9)."""
    ranges = iface.get("portRanges")
    if ranges is None:
        return
    if kv is not None and not kv.gate_enabled("PortRangesSpec"):
        problems.add(where, _iface_path(idx, "name"), "portRanges is specified on interface but the "
                     "PortRangesSpec feature gate is not enabled")
        return
    if not on_pod:
        return
    if iface.get("ports") is not None:
        problems.add(where, _iface_path(idx, "name"), "Cannot define both ports and portRanges on interface")
    if "masquerade" not in iface:
        problems.add(where, _iface_path(idx, "name"), "portRanges are only supported on masquerade interfaces")
    if len(ranges) > MAX_PORT_RANGES:
        problems.add(where, _iface_path(idx, "portRanges"), "No more than 10 portRanges are allowed")
        return
    by_protocol: Dict[str, List[tuple]] = {}
    for ridx, item in enumerate(ranges):
        path = _iface_path(idx, "portRanges[%d]" % ridx)
        start, end = _int(item.get("start")) or 0, _int(item.get("end")) or 0
        if item.get("protocol") not in PROTOCOLS:
            problems.add(where, path + ".protocol", "Unknown protocol, only TCP or UDP allowed")
        elif not 0 < start < 65536:
            problems.add(where, path + ".start", "Start must be a valid port number, 0 < x < 65536")
        elif not 0 < end < 65536:
            problems.add(where, path + ".end", "End must be a valid port number, 0 < x < 65536")
        elif start > end:
            problems.add(where, path + ".start", "Start must be less than or equal to end")
        else:
            by_protocol.setdefault(item["protocol"], []).append((start, end))
    for protocol in sorted(by_protocol):
        intervals = sorted(by_protocol[protocol])
        for prev, curr in zip(intervals, intervals[1:]):
            if curr[0] <= prev[1]:
                problems.add(where, _iface_path(idx, "portRanges"), "%s portRanges [%d-%d] and [%d-%d] overlap"
                             % (protocol, prev[0], prev[1], curr[0], curr[1]))


def is_ipv4(text: Any) -> bool:
    """Go's net.ParseIP(text).To4() != nil: IPv4, or IPv4-mapped IPv6."""
    try:
        addr = ipaddress.ip_address(str(text))
    except ValueError:
        return False
    return addr.version == 4 or getattr(addr, "ipv4_mapped", None) is not None


def _check_dhcp(problems: Any, where: str, idx: int, options: Dict[str, Any]) -> None:
    """netiface.go validateDHCPOptions."""
    private = options.get("privateOptions") or []
    path = _iface_path(idx, "dhcpOptions")
    if len(set(o.get("option") for o in private)) < len(private):
        problems.add(where, path + ".privateOptions", "Found Duplicates: you have provided duplicate "
                     "DHCPPrivateOptions (each option number once)")
    for oidx, option in enumerate(private):
        number = _int(option.get("option"))
        if number is None or not 224 <= number <= 254:
            problems.add(where, path + ".privateOptions[%d].option" % oidx, "provided DHCPPrivateOptions are out "
                         "of range, must be in range 224 to 254 (%r)" % (option.get("option"),))
    for nidx, server in enumerate(options.get("ntpServers") or []):
        if not is_ipv4(server):
            problems.add(where, path + ".ntpServers[%d]" % nidx, "NTP servers must be a list of valid IPv4 "
                         "addresses (%r)" % (server,))


def check_vm_fields(problems: Any, where: str, spec: Dict[str, Any]) -> Any:
    """The vms-admitter DNS rules (hostname a DNS label, subdomain a DNS subdomain)."""
    hostname, subdomain = spec.get("hostname"), spec.get("subdomain")
    if hostname and (len(hostname) > 63 or not DNS1123_LABEL.match(hostname)):
        problems.add(where, FIELD + ".hostname", "%s does not conform to the kubernetes DNS_LABEL rules" % hostname)
    if subdomain and (len(subdomain) > 253 or not DNS1123_SUBDOMAIN.match(subdomain)):
        problems.add(where, FIELD + ".subdomain", "%s does not conform to the kubernetes DNS_SUBDOMAIN rules"
                     % subdomain)
    return problems
