"""KubeVirt's admission rules for the lab's webhooks, as pure functions.

Mirrors KubeVirt v1.9.0 (messages, cause types and field paths as KubeVirt
returns them):

- ``pkg/network/admitter/{validator,netsource,netiface,binding,passt,admit,
  discontinued,dra}.go``: the network validator, run with the field prefix
  ``spec`` (VMI) or ``spec.template.spec`` (VM);
- ``pkg/virt-api/webhooks/validating-webhook/admitters/vms-admitter.go``,
  ``vmi-create-admitter.go`` (hostname/subdomain rules too),
  ``vmi-update-admitter.go`` and ``vmclone-admitter.go``: which checks run for
  which operation, and the response shape (``pkg/util/webhooks``:
  ``ToAdmissionResponse`` -> 422 Invalid with at most 10 causes,
  ``ToAdmissionResponseError`` -> 400);
- ``pkg/virt-config/featuregate/validator.go`` (discontinued gates in use);
- ``pkg/network/vmispec/defaults.go`` ``SetDefaultNetworkInterface`` (VMs are
  validated with the default pod network filled in);
- the mutators ``vm-mutator.go`` (architecture, machine type, firmware
  UUID/serial) and ``clone-create-mutator.go`` (generated target name).

Not mirrored: the many non-network VM/VMI rules (CPU, memory, volumes, run
strategy...), instancetypes/preferences, the VMI mutator.
"""

import copy
import ipaddress
import json
import random
import re
import uuid

from .capabilities import (DISCONTINUED, developer_configuration, feature_gate_enabled, gate_state,
                           kubevirt_version, network_configuration, parse_version)

# metav1.CauseType values
INVALID = "FieldValueInvalid"
REQUIRED = "FieldValueRequired"
DUPLICATE = "FieldValueDuplicate"
NOT_SUPPORTED = "FieldValueNotSupported"
NOT_FOUND = "FieldValueNotFound"

BINDINGS = ("bridge", "masquerade", "sriov", "passtBinding", "binding")
INTERFACE_MODELS = {"e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139", "virtio"}
RESERVED_MASQUERADE_MAC = "02:00:00:00:00:00"
PCI_ADDRESS = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
INTERFACE_NAME = re.compile(r"^[A-Za-z0-9-_]+$")
DISCONTINUED_BINDINGS = (("slirp", "Slirp interface support has been discontinued since v1.3"),
                         ("passt", "Passt network binding has been discontinued since v1.3"),
                         ("macvtap", "Macvtap network binding has been discontinued since v1.3"))
DISCONTINUED_GATES = {
    "Passt": ("passt", "Passt network binding is discontinued since v1.3. Please refer to Kubevirt user "
                       "guide for alternatives."),
    "Macvtap": ("macvtap", "Macvtap network binding is discontinued since v1.3. Please refer to Kubevirt "
                           "user guide for alternatives."),
}
RESTRICTED_VMI_LABELS = ("kubevirt.io/created-by", "kubevirt.io/migrationJobUID", "kubevirt.io/nodeName",
                         "kubevirt.io/migrationTargetNodeName", "kubevirt.io/schedulable",
                         "kubevirt.io/install-strategy")
MAX_CAUSES = 10


# ------------------------------------------------------------ small helpers
def cause(kind, message, field=None):
    """A metav1.StatusCause (its type is serialized as ``reason``)."""
    entry = {"reason": kind, "message": message}
    if field:
        entry["field"] = field
    return entry


def child(path, *names):
    return ".".join((path,) + names) if path else ".".join(names)


def index(path, position):
    return "%s[%d]" % (path, position)


def go_quote(text):
    """Go's %q for the plain strings used in names."""
    return '"%s"' % str(text).replace("\\", "\\\\").replace('"', '\\"')


def present(obj, key):
    """A pointer field in KubeVirt's Go types: set when the key holds a value."""
    return isinstance(obj, dict) and obj.get(key) is not None


def interfaces(spec):
    return ((spec.get("domain") or {}).get("devices") or {}).get("interfaces") or []


def networks(spec):
    return spec.get("networks") or []


def networks_by_name(spec):
    return {net.get("name"): net for net in networks(spec)}


def iface_path(field, idx, *names):
    return child(index(child(field, "domain", "devices", "interfaces"), idx), *names)


def default_network(spec):
    """vmispec.LookUpDefaultNetwork: the pod network or the Multus default one."""
    for net in networks(spec):
        if present(net, "pod") or (present(net, "multus") and net["multus"].get("default")):
            return net
    return None


class ClusterInfo:
    """What the admitters read from KubeVirt's cluster config (the CR)."""

    def __init__(self, kubevirt_cr=None, version=None):
        self.kubevirt = kubevirt_cr or {}
        self.version = kubevirt_version(self.kubevirt) or version or "v1.9.0"

    def gate(self, name):
        return feature_gate_enabled(self.kubevirt, self.version, name)

    @property
    def feature_gates(self):
        return developer_configuration(self.kubevirt).get("featureGates") or []

    @property
    def permit_bridge_on_pod_network(self):
        value = network_configuration(self.kubevirt).get("permitBridgeInterfaceOnPodNetwork")
        return True if value is None else bool(value)

    @property
    def default_network_interface(self):
        return network_configuration(self.kubevirt).get("defaultNetworkInterface") or "bridge"


# ------------------------------------------------------------ MAC, ports, IPs
def mac_error(mac):
    """link.ValidateMacAddress (Go's net.ParseMAC, then at most 6 bytes)."""
    if not mac:
        return None
    length = _parse_mac_length(mac)
    if not length:
        return "malformed MAC address (%s)" % mac
    if length > 6:
        return "too long MAC address (%s)" % mac
    return None


def _parse_mac_length(text):
    """Length in bytes of what Go's net.ParseMAC (src/net/mac.go, Go 1.26, the
    Go of KubeVirt v1.9.0) parses, 0 when it refuses: 6, 8 or 20 bytes written
    xx:xx:.., xx-xx-.. (one separator throughout), xxxx.xxxx.xxxx or bare hex
    (the last form is new in Go 1.26).  Go indexes bytes; any non-ASCII byte
    is neither hex nor a separator, so counting characters gives the same
    answer."""
    hexd = "[0-9A-Fa-f]"
    if len(text) < 12:
        return 0
    if text[2] in ":-":
        sep = re.escape(text[2])
        count = (len(text) + 1) // 3
        pattern = r"(?:%s{2}%s){%d}%s{2}" % (hexd, sep, count - 1, hexd)
        ok = (len(text) + 1) % 3 == 0
    elif text[4] == ".":
        count = 2 * (len(text) + 1) // 5
        pattern = r"(?:%s{4}\.){%d}%s{4}" % (hexd, count // 2 - 1, hexd)
        ok = (len(text) + 1) % 5 == 0
    else:
        count = len(text) // 2
        pattern = r"%s{%d}" % (hexd, 2 * count)
        ok = len(text) % 2 == 0
    if not ok or count not in (6, 8, 20) or not re.fullmatch(pattern, text):
        return 0
    return count


def port_name_errors(name):
    """k8s validation.IsValidPortName (IANA_SVC_NAME)."""
    errors = []
    if len(name) > 15:
        errors.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errors.append("must contain at least one letter (a-z)")
    if "--" in name:
        errors.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def is_ipv4(text):
    """net.ParseIP(text).To4() != nil: IPv4 or IPv4-mapped IPv6."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return False
    return addr.version == 4 or addr.ipv4_mapped is not None


DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + ")*"


def dns1123_label_errors(value):
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not re.fullmatch(DNS1123_LABEL, value):
        if re.fullmatch(DNS1123_SUBDOMAIN, value):
            errors.append("must not contain dots")
        else:
            errors.append("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
                          "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
                          "'123-abc', regex used for validation is '%s')" % DNS1123_LABEL)
    return errors


def dns1123_subdomain_errors(value):
    errors = []
    if len(value) > 253:
        errors.append("must be no more than 253 characters")
    if not re.fullmatch(DNS1123_SUBDOMAIN, value):
        errors.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
                      "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                      "regex used for validation is '%s')" % DNS1123_SUBDOMAIN)
    return errors


# ------------------------------------------------------------ netsource.go
def validate_single_pod_network(spec, field):
    causes = []
    pods = [n for n in networks(spec) if present(n, "pod")]
    defaults = [n for n in networks(spec) if present(n, "multus") and n["multus"].get("default")]
    if len(pods) > 1:
        causes.append(cause(DUPLICATE, "more than one interface is connected to a pod network in %s"
                            % child(field, "interfaces"), child(field, "interfaces")))
    if len(defaults) > 1:
        causes.append(cause(INVALID, "Multus CNI should only have one default network", child(field, "networks")))
    if pods and defaults:
        causes.append(cause(INVALID, "Pod network cannot be defined when Multus default network is defined",
                            child(field, "networks")))
    return causes


def validate_single_network_source(spec, field):
    causes = []
    for idx, net in enumerate(networks(spec)):
        count = sum(1 for key in ("pod", "multus", "resourceClaim") if present(net, key))
        if count == 0:
            causes.append(cause(REQUIRED, "should have a network type", index(child(field, "networks"), idx)))
        elif count > 1:
            causes.append(cause(REQUIRED, "should have only one network type", index(child(field, "networks"), idx)))
    return causes


def validate_multus_network_source(spec, field):
    for idx, net in enumerate(networks(spec)):
        if present(net, "multus") and not net["multus"].get("networkName"):
            return [cause(REQUIRED, "CNI delegating plugin must have a networkName",
                          index(child(field, "networks"), idx))]
    return []


# ------------------------------------------------------------ admit.go
def validate_interface_state(spec, field):
    causes = []
    primary = default_network(spec)
    for idx, iface in enumerate(interfaces(spec)):
        name, state, path = iface.get("name", ""), iface.get("state") or "", iface_path(field, idx, "state")
        if state not in ("", "absent", "down", "up"):
            causes.append(cause(INVALID, "logical %s interface state value is unsupported: %s" % (name, state), path))
        if present(iface, "sriov") and state in ("down", "up"):
            causes.append(cause(INVALID, "%s interface's state %s is not supported for SR-IOV NICs"
                                % (go_quote(name), go_quote(state)), path))
        if state == "absent" and not present(iface, "bridge"):
            causes.append(cause(INVALID, "%s interface's state %s is supported only for bridge binding"
                                % (go_quote(name), go_quote(state)), path))
        if state == "absent" and primary is not None and primary.get("name") == name:
            causes.append(cause(INVALID, "%s interface's state %s is not supported on default networks"
                                % (go_quote(name), go_quote(state)), path))
    return causes


# ------------------------------------------------------------ binding.go, passt.go
def validate_interface_binding(spec, field, cluster):
    causes = []
    by_name = networks_by_name(spec)
    for idx, iface in enumerate(interfaces(spec)):
        net = by_name.get(iface.get("name")) or {}
        on_pod = present(net, "pod")
        if sum(1 for key in BINDINGS if present(iface, key)) != 1:
            causes.append(cause(INVALID, "logical %s interface must have exactly one binding method or binding "
                                "plugin" % iface.get("name", ""), iface_path(field, idx)))
        if present(iface, "masquerade") and not on_pod:
            causes.append(cause(INVALID, "Masquerade interface only implemented with pod network",
                                iface_path(field, idx, "name")))
        if present(iface, "masquerade") and iface.get("macAddress") == RESERVED_MASQUERADE_MAC:
            causes.append(cause(INVALID, "The requested MAC address is reserved for the in-pod bridge. Please "
                                "choose another one.", iface_path(field, idx, "macAddress")))
        if present(iface, "bridge") and on_pod and not cluster.permit_bridge_on_pod_network:
            causes.append(cause(INVALID, "Bridge on pod network configuration is not enabled under kubevirt-config",
                                iface_path(field, idx, "name")))
        if present(iface, "passtBinding") and not cluster.gate("PasstBinding"):
            causes.append(cause(INVALID, "PasstBinding feature gate is not enabled", iface_path(field, idx, "name")))
        if present(iface, "passtBinding") and not on_pod:
            causes.append(cause(INVALID, "PasstBinding interface only implemented with pod network",
                                iface_path(field, idx, "name")))
    return causes


# ------------------------------------------------------------ dra.go
def validate_network_dra(spec, field, cluster):
    nets = networks(spec)
    if not any(present(n, "resourceClaim") for n in nets):
        return []
    if not cluster.gate("NetworkDevicesWithDRA"):
        return [cause(INVALID, "vmi.spec.networks contains DRA networks but NetworkDevicesWithDRA feature gate is "
                      "not enabled", child(field, "networks"))]
    if any(present(n, "multus") for n in nets):
        return [cause(INVALID, "mixing Multus and DRA resourceClaim networks in the same VMI is not supported",
                      child(field, "networks"))]
    causes, first_index = [], {}
    for idx, net in enumerate(nets):
        claim = net.get("resourceClaim") or {}
        if present(net, "resourceClaim") and claim.get("claimName") and claim.get("requestName"):
            first_index.setdefault(claim["claimName"] + "/" + claim["requestName"], idx)
    claims = {c.get("name") for c in spec.get("resourceClaims") or []}
    ifaces = {i.get("name"): i for i in reversed(interfaces(spec))}
    for idx, net in enumerate(nets):
        if not present(net, "resourceClaim"):
            continue
        path = index(child(field, "networks"), idx)
        iface = ifaces.get(net.get("name"))
        if iface is not None and not present(iface, "sriov") and not present(iface, "binding"):
            causes.append(cause(INVALID, "DRA network %s requires an SR-IOV or binding plugin interface"
                                % go_quote(net.get("name", "")), child(field, "domain", "devices", "interfaces")))
        claim, request = net["resourceClaim"].get("claimName"), net["resourceClaim"].get("requestName")
        if not claim:
            causes.append(cause(REQUIRED, "claimName is required for DRA network",
                                child(path, "resourceClaim", "claimName")))
        if not request:
            causes.append(cause(REQUIRED, "requestName is required for DRA network",
                                child(path, "resourceClaim", "requestName")))
        if not claim or not request:
            continue
        if claim not in claims:
            causes.append(cause(NOT_FOUND, "network references resourceClaim %s which is not defined in "
                                "spec.resourceClaims" % go_quote(claim), child(path, "resourceClaim", "claimName")))
        if first_index.get(claim + "/" + request, idx) != idx:
            causes.append(cause(DUPLICATE, "duplicate claimName/requestName combination %s"
                                % go_quote(claim + "/" + request), path))
    return causes


# ------------------------------------------------------------ netiface.go
def validate_network_names_unique(spec, field):
    causes, seen = [], set()
    for idx, net in enumerate(networks(spec)):
        if net.get("name") in seen:
            causes.append(cause(DUPLICATE, "Network with name %s already exists, every network must have a unique "
                                "name" % go_quote(net.get("name", "")),
                                child(index(child(field, "networks"), idx), "name")))
        seen.add(net.get("name"))
    return causes


def validate_networks_assigned_to_interfaces(spec, field):
    names = {iface.get("name") for iface in interfaces(spec)}
    causes = []
    for idx, net in enumerate(networks(spec)):
        if net.get("name") not in names:
            path = child(index(child(field, "networks"), idx), "name")
            causes.append(cause(REQUIRED, "%s '%s' not found." % (path, net.get("name", "")), path))
    return causes


def validate_interface_names_unique(spec, field):
    causes, seen = [], set()
    for idx, iface in enumerate(interfaces(spec)):
        if iface.get("name") in seen:
            causes.append(cause(DUPLICATE, "Only one interface can be connected to one specific network",
                                iface_path(field, idx, "name")))
        seen.add(iface.get("name"))
    return causes


def validate_interfaces_assigned_to_networks(spec, field):
    names = {net.get("name") for net in networks(spec)}
    causes = []
    for idx, iface in enumerate(interfaces(spec)):
        if iface.get("name") not in names:
            path = iface_path(field, idx, "name")
            causes.append(cause(INVALID, "%s '%s' not found." % (path, iface.get("name", "")), path))
    return causes


def validate_interface_fields(spec, field, cluster):
    causes = []
    by_name = networks_by_name(spec)
    for idx, iface in enumerate(interfaces(spec)):
        net = by_name.get(iface.get("name")) or {}
        name_path = iface_path(field, idx, "name")
        if not INTERFACE_NAME.match(iface.get("name", "")):
            causes.append(cause(INVALID, "Network interface name can only contain alphabetical characters, numbers, "
                                "dashes (-) or underscores (_)", name_path))
        model = iface.get("model")
        if model and model not in INTERFACE_MODELS:
            causes.append(cause(NOT_SUPPORTED, "interface %s uses model %s that is not supported."
                                % (name_path, model), iface_path(field, idx, "model")))
        error = mac_error(iface.get("macAddress"))
        if error:
            causes.append(cause(INVALID, "interface %s has %s." % (name_path, error),
                                iface_path(field, idx, "macAddress")))
        pci = iface.get("pciAddress")
        if pci and not PCI_ADDRESS.match(pci):
            causes.append(cause(INVALID, "interface %s has malformed PCI address (%s)." % (name_path, pci),
                                iface_path(field, idx, "pciAddress")))
        causes.extend(_validate_ports(field, idx, iface, net))
        causes.extend(_validate_port_ranges(field, idx, iface, net, cluster))
        causes.extend(_validate_dhcp_options(field, idx, iface))
    return causes


def _validate_ports(field, idx, iface, net):
    """Forwarded ports are checked on pod-network interfaces only (whatever the binding)."""
    ports = iface.get("ports")
    if not present(net, "pod") or ports is None:
        return []
    causes, names = [], set()
    for pidx, port in enumerate(ports):
        name = port.get("name") or ""
        if not name:
            continue
        path = child(index(iface_path(field, idx, "ports"), pidx), "name")
        if name in names:
            causes.append(cause(DUPLICATE, "Duplicate name of the port: %s" % name, path))
        if port_name_errors(name):
            causes.append(cause(INVALID, "Invalid name of the port: %s" % name, path))
        names.add(name)
    for pidx, port in enumerate(ports):
        path = index(iface_path(field, idx, "ports"), pidx)
        number = port.get("port") or 0
        if number == 0:
            causes.append(cause(REQUIRED, "Port field is mandatory.", child(path, "port")))
        if number < 0 or number >= 65536:
            causes.append(cause(INVALID, "Port field must be in range 0 < x < 65536.", child(path, "port")))
        if port.get("protocol") not in (None, "", "TCP", "UDP"):
            causes.append(cause(INVALID, "Unknown protocol, only TCP or UDP allowed", child(path, "protocol")))
    return causes


def _validate_port_ranges(field, idx, iface, net, cluster):
    ranges = iface.get("portRanges")
    name_path = iface_path(field, idx, "name")
    if not cluster.gate("PortRangesSpec"):
        if ranges is not None:
            return [cause(INVALID, "portRanges is specified on interface but the PortRangesSpec feature gate is not "
                          "enabled", name_path)]
        return []
    if not present(net, "pod") or ranges is None:
        return []
    causes = []
    if iface.get("ports") is not None:
        causes.append(cause(INVALID, "Cannot define both ports and portRanges on interface", name_path))
    if not present(iface, "masquerade"):
        causes.append(cause(INVALID, "portRanges are only supported on masquerade interfaces", name_path))
    ranges_path = iface_path(field, idx, "portRanges")
    if len(ranges) > 10:
        return causes + [cause(INVALID, "No more than 10 portRanges are allowed", ranges_path)]
    by_protocol = {}
    for ridx, entry in enumerate(ranges):
        path = index(ranges_path, ridx)
        start, end, protocol = entry.get("start") or 0, entry.get("end") or 0, entry.get("protocol") or ""
        if protocol not in ("TCP", "UDP"):
            causes.append(cause(INVALID, "Unknown protocol, only TCP or UDP allowed", child(path, "protocol")))
        elif start <= 0 or start >= 65536:
            causes.append(cause(INVALID, "Start must be a valid port number, 0 < x < 65536", child(path, "start")))
        elif end <= 0 or end >= 65536:
            causes.append(cause(INVALID, "End must be a valid port number, 0 < x < 65536", child(path, "end")))
        elif start > end:
            causes.append(cause(INVALID, "Start must be less than or equal to end", child(path, "start")))
        else:
            by_protocol.setdefault(protocol, []).append((start, end))
    for protocol, intervals in by_protocol.items():
        intervals.sort()
        for prev, curr in zip(intervals, intervals[1:]):
            if curr[0] <= prev[1]:
                causes.append(cause(INVALID, "%s portRanges [%d-%d] and [%d-%d] overlap"
                                    % (protocol, prev[0], prev[1], curr[0], curr[1]), ranges_path))
    return causes


def _validate_dhcp_options(field, idx, iface):
    options = iface.get("dhcpOptions")
    if options is None:
        return []
    causes = []
    private = options.get("privateOptions") or []
    if len({o.get("option") for o in private}) < len(private):
        causes.append(cause(INVALID, "Found Duplicates: you have provided duplicate DHCPPrivateOptions", field))
    for option in private:
        if not 224 <= (option.get("option") or 0) <= 254:
            causes.append(cause(INVALID, "provided DHCPPrivateOptions are out of range, must be in range 224 to 254",
                                field))
    for nidx, server in enumerate(options.get("ntpServers") or []):
        if not is_ipv4(server):
            causes.append(cause(INVALID, "NTP servers must be a list of valid IPv4 addresses.",
                                index(iface_path(field, idx, "dhcpOptions", "ntpServers"), nidx)))
    return causes


# ------------------------------------------------------------ validator.go
def validate_network(spec, field, cluster):
    """Validator.Validate: every network rule, in KubeVirt's order."""
    return (validate_single_pod_network(spec, field)
            + validate_single_network_source(spec, field)
            + validate_multus_network_source(spec, field)
            + validate_interface_state(spec, field)
            + validate_interface_binding(spec, field, cluster)
            + validate_network_names_unique(spec, field)
            + validate_network_dra(spec, field, cluster)
            + validate_networks_assigned_to_interfaces(spec, field)
            + validate_interface_names_unique(spec, field)
            + validate_interfaces_assigned_to_networks(spec, field)
            + validate_interface_fields(spec, field, cluster))


def validate_discontinued(spec, field):
    """Validator.ValidateCreation: removed bindings are refused on creation."""
    causes = []
    for idx, iface in enumerate(interfaces(spec)):
        for key, message in DISCONTINUED_BINDINGS:
            if present(iface, key):
                causes.append(cause(INVALID, message, iface_path(field, idx, key)))
    return causes


def validate_feature_gates(spec, cluster):
    """featuregate.ValidateFeatureGates: a discontinued gate listed in the CR
    whose feature the spec uses."""
    causes = []
    for gate in cluster.feature_gates:
        key, message = DISCONTINUED_GATES.get(gate, (None, None))
        if key and gate_state(gate, cluster.version) == DISCONTINUED \
                and any(present(iface, key) for iface in interfaces(spec)):
            causes.append(cause(NOT_SUPPORTED, message))
    return causes


def validate_dns_names(spec, field):
    """hostname must be a DNS label, subdomain a DNS subdomain."""
    causes = []
    if spec.get("hostname") and dns1123_label_errors(spec["hostname"]):
        causes.append(cause(INVALID, "%s does not conform to the kubernetes DNS_LABEL rules : %s"
                            % (child(field, "hostname"), ", ".join(dns1123_label_errors(spec["hostname"]))),
                            child(field, "hostname")))
    if spec.get("subdomain") and dns1123_subdomain_errors(spec["subdomain"]):
        causes.append(cause(INVALID, "%s does not conform to the kubernetes DNS_SUBDOMAIN rules : %s"
                            % (child(field, "subdomain"), ", ".join(dns1123_subdomain_errors(spec["subdomain"]))),
                            child(field, "subdomain")))
    return causes


def with_default_network(spec, cluster):
    """SetDefaultNetworkInterface on a copy; raises ValueError as KubeVirt errors."""
    spec = copy.deepcopy(spec)
    devices = spec.setdefault("domain", {}).setdefault("devices", {})
    if devices.get("autoattachPodInterface") is False or spec.get("networks") or devices.get("interfaces"):
        return spec
    binding = cluster.default_network_interface
    if binding == "bridge" and not cluster.permit_bridge_on_pod_network:
        raise ValueError("bridge interface is not enabled in kubevirt-config")
    if binding == "slirp":
        raise ValueError("slirp interface is deprecated as of v1.3")
    if binding in ("bridge", "masquerade"):
        devices["interfaces"] = [{"name": "default", binding: {}}]
    spec["networks"] = [{"name": "default", "pod": {}}]
    return spec


# ------------------------------------------------------------ responses
def allowed(warnings=None, patch=None):
    response = {"allowed": True}
    if warnings:
        response["warnings"] = list(warnings)
    if patch:
        response["patch"], response["patchType"] = patch, "JSONPatch"
    return response


def denied(causes):
    """webhooks.ToAdmissionResponse: 422 Invalid, at most 10 causes."""
    shown = causes[:MAX_CAUSES]
    message = ", ".join(c["message"] for c in shown)
    if len(causes) > MAX_CAUSES:
        message += ", and %d more validation errors" % (len(causes) - MAX_CAUSES)
    return {"allowed": False, "status": {"message": message, "reason": "Invalid", "code": 422,
                                         "details": {"causes": shown}}}


def error(message):
    """webhooks.ToAdmissionResponseError: 400 without a reason."""
    return {"allowed": False, "status": {"message": message, "code": 400}}


# ------------------------------------------------------------ VMs and VMIs
def admit_vm(operation, vm, cluster):
    """vms-admitter.go: network-relevant part of the VM validating webhook."""
    if (vm.get("metadata") or {}).get("deletionTimestamp"):
        return allowed()
    vm_spec = vm.get("spec") or {}
    try:
        spec = with_default_network((vm_spec.get("template") or {}).get("spec") or {}, cluster)
    except ValueError as exc:
        return error(str(exc))
    if operation == "CREATE":
        causes = validate_feature_gates(spec, cluster) or validate_discontinued(spec, "spec")
        if causes:
            return denied(causes)
    field = "spec.template.spec"
    causes = validate_dns_names(spec, field) + validate_network(spec, field, cluster)
    if causes:
        return denied(causes)
    if vm_spec.get("running") is not None:
        return allowed(["spec.running is deprecated, please use spec.runStrategy instead."])
    return allowed()


def admit_vmi_create(vmi, cluster):
    """vmi-create-admitter.go.  The network validator runs twice there (as a
    registered spec validator and inside ValidateVirtualMachineInstanceSpec),
    so a bad VMI lists its network causes twice, as KubeVirt's answer does."""
    spec = vmi.get("spec") or {}
    causes = (validate_feature_gates(spec, cluster)
              + validate_discontinued(spec, "spec") + validate_network(spec, "spec", cluster)
              + validate_dns_names(spec, "spec") + validate_network(spec, "spec", cluster))
    return denied(causes) if causes else allowed()


def admit_vmi_update(new, old, username, kubevirt_users):
    """vmi-update-admitter.go: only KubeVirt's own identities change a VMI's
    spec or its reserved kubevirt.io labels."""
    if username in kubevirt_users:
        return allowed()
    if (new.get("spec") or {}) != (old.get("spec") or {}):
        return denied([cause(NOT_SUPPORTED, "update of VMI object is restricted")])

    def reserved(obj):
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return {k: v for k, v in labels.items() if k in RESTRICTED_VMI_LABELS}

    if reserved(new) != reserved(old):
        return denied([cause(NOT_SUPPORTED, "modification of the following reserved kubevirt.io/ labels on a VMI "
                                            "object is prohibited")])
    return allowed()


def mutate_vm(operation, vm, cluster):
    """vm-mutator.go: default architecture and machine type; on creation a
    firmware UUID (v1.6+) and SMBIOS serial (v1.7+).  Returns JSON Patch ops."""
    if (vm.get("metadata") or {}).get("deletionTimestamp") or not (vm.get("spec") or {}).get("template"):
        return []
    spec = copy.deepcopy(vm["spec"])
    template = spec["template"].setdefault("spec", {})
    domain = template.setdefault("domain", {})
    template.setdefault("architecture", "amd64")
    machine = domain.get("machine") or {}
    if not machine.get("type"):
        domain["machine"] = dict(machine, type="q35")
    version = parse_version(cluster.version)[:2]
    if operation == "CREATE" and version >= (1, 6):
        firmware = domain.setdefault("firmware", {})
        firmware["uuid"] = firmware.get("uuid") or str(uuid.uuid4())
        if version >= (1, 7):
            firmware["serial"] = firmware.get("serial") or str(uuid.uuid4())
    if spec == vm["spec"]:
        return []
    return [{"op": "replace", "path": "/spec", "value": spec}]


# ------------------------------------------------------------ clones
def filter_causes(filters, field):
    """vmclone-admitter.go validateFilters: ``!`` only first, ``*`` only last."""
    causes = []
    pattern = "%s filter %s is invalid: cannot contain a %s character (%s); FilterRules: %s"
    for entry in filters or []:
        if len(entry) == 1:
            if entry == "!":
                causes.append(cause(INVALID, "a negation character is not a valid filter", field))
            continue
        if "!" in entry[1:]:
            causes.append(cause(INVALID, pattern % (field, entry, "negation", "!",
                                                    "NegationChar can be only used at the beginning of the filter"),
                                field))
        if "*" in entry[:-1]:
            causes.append(cause(INVALID, pattern % (field, entry, "wildcard", "*",
                                                    "WildcardChar can be only at the end of the filter"), field))
    return causes


def admit_clone(operation, clone, cluster):
    """vmclone-admitter.go (field paths as KubeVirt spells them)."""
    if operation == "CREATE" and not cluster.gate("Snapshot"):
        return error("snapshot feature gate is not enabled")
    spec = clone.get("spec") or {}
    template = spec.get("template") or {}
    source, target = spec.get("source"), spec.get("target")
    causes = (filter_causes(spec.get("annotationFilters"), "spec.annotations")
              + filter_causes(spec.get("labelFilters"), "spec.labels")
              + filter_causes(template.get("annotationFilters"), "spec.template.annotations")
              + filter_causes(template.get("labelFilters"), "spec.template.labels"))
    if (source or {}).get("kind") not in ("VirtualMachine", "VirtualMachineSnapshot"):
        causes.append(cause(INVALID, "Source kind is not supported", "spec.Source.Kind"))
    if target is not None and target.get("kind") != "VirtualMachine":
        causes.append(cause(INVALID, "Target kind is not supported", "spec.Target.Kind"))
    if source is None:
        causes.append(cause(INVALID, "Source cannot be nil", "spec.Source"))
    else:
        if not source.get("apiGroup"):
            causes.append(cause(INVALID, "Source's APIGroup cannot be empty", "spec.Source.APIGroup"))
        if not source.get("kind"):
            causes.append(cause(INVALID, "Source's Kind cannot be empty", "spec.Source"))
        if not source.get("name"):
            causes.append(cause(INVALID, "Source's name cannot be empty", "spec.Source.Name"))
    if source and target and source.get("kind") == target.get("kind") == "VirtualMachine" \
            and source.get("name") == target.get("name"):
        causes.append(cause(INVALID, "Target name cannot be equal to source name when both are VirtualMachines",
                            "spec.target.name"))
    for name, mac in (spec.get("newMacAddresses") or {}).items():
        if mac and mac_error(mac):
            causes.append(cause(INVALID, "interface %s has malformed MAC address (%s)." % (name, mac),
                                "spec.newMacAddresses." + name))
    for idx, patch in enumerate(spec.get("patches") or []):
        try:
            json.loads(patch)
        except ValueError:
            causes.append(cause(INVALID, "patch is not valid JSON (%s)" % patch, index("spec.patches", idx)))
    return denied(causes) if causes else allowed()


TARGET_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery util/rand


def mutate_clone(clone, suffix=None):
    """clone-create-mutator.go: name the target ``clone-<source>-<5 random>``
    when it is missing or has no name.  Returns JSON Patch ops."""
    spec = copy.deepcopy(clone.get("spec") or {})
    target = spec.get("target")
    if target is not None and target.get("name"):
        return []
    suffix = suffix or "".join(random.choices(TARGET_SUFFIX_ALPHABET, k=5))
    name = "clone-%s-%s" % ((spec.get("source") or {}).get("name", ""), suffix)
    if target is None:
        spec["target"] = {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": name}
    else:
        target["name"] = name
    return [{"op": "replace", "path": "/spec", "value": spec}]
