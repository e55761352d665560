"""The admission mirror against KubeVirt v1.9.0 pkg/network/admitter: the
rules added for issue 18 item 9 (bridge binding on every update, port names,
portRanges, DHCP options, MACs parsed as Go's net.ParseMAC)."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network_admission as admission
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

POD_NET = {"name": "default", "pod": {}}
MULTUS = {"name": "net1", "multus": {"networkName": "br1"}}


def kubevirt(gates=(), network=None):
    return KubeVirtInfo({"spec": {"configuration": {"developerConfiguration": {"featureGates": list(gates)},
                                                    "network": network or {}}},
                         "status": {"observedKubeVirtVersion": "v1.9.0"}})


def spec(*ifaces, networks=(POD_NET,)):
    return {"domain": {"devices": {"interfaces": list(ifaces)}}, "networks": list(networks)}


def run(template, kv=None, changed=None):
    problems = Problems()
    admission.check(problems, "VirtualMachine vms/vm1", template, kv or kubevirt(), changed_names=changed)
    return problems.items


def messages(items):
    return [p["field"] + ": " + p["message"] for p in items]


# ------------------------------------------------------------ binding.go validateBridgeBinding
def test_bridge_on_pod_network_refused_on_every_update_not_only_for_changed_interfaces():
    kv = kubevirt(network={"permitBridgeInterfaceOnPodNetwork": False})
    items = run(spec({"name": "default", "bridge": {}}), kv, changed=[])
    assert len(items) == 1
    assert items[0]["field"] == "spec.template.spec.domain.devices.interfaces[0].name"
    assert "permitBridgeInterfaceOnPodNetwork" in items[0]["message"] and "masquerade" in items[0]["message"]


def test_bridge_on_pod_network_allowed_by_default_and_when_permitted():
    assert run(spec({"name": "default", "bridge": {}}), kubevirt(), changed=[]) == []
    kv = kubevirt(network={"permitBridgeInterfaceOnPodNetwork": True})
    assert run(spec({"name": "default", "bridge": {}}), kv) == []


# ------------------------------------------------------------ netiface.go ports
@pytest.mark.parametrize("ports,field,words", [
    ([{"name": "ssh", "port": 22}, {"name": "ssh", "port": 2222}], "ports[1].name", "Duplicate name of the port: ssh"),
    ([{"name": "SSH", "port": 22}], "ports[0].name", "only alpha-numeric"),
    ([{"name": "a-very-long-port-name", "port": 22}], "ports[0].name", "no more than 15"),
    ([{"name": "80", "port": 80}], "ports[0].name", "at least one letter"),
    ([{"name": "web--x", "port": 80}], "ports[0].name", "consecutive hyphens"),
    ([{"name": "-web", "port": 80}], "ports[0].name", "begin or end with a hyphen"),
    ([{"name": "web"}], "ports[0].port", "Port field is mandatory"),
    ([{"port": 65536}], "ports[0].port", "0 < x < 65536"),
    ([{"port": -1}], "ports[0].port", "0 < x < 65536"),
    ([{"port": 53, "protocol": "SCTP"}], "ports[0].protocol", "only TCP or UDP"),
])
def test_forwarded_ports(ports, field, words):
    items = run(spec({"name": "default", "masquerade": {}, "ports": ports}))
    assert any(p["field"].endswith(field) and words in p["message"] for p in items), messages(items)


def test_good_ports_and_ports_on_multus_networks_are_not_checked():
    assert run(spec({"name": "default", "masquerade": {}, "ports": [
        {"name": "ssh", "port": 22}, {"name": "dns", "port": 53, "protocol": "UDP"}, {"port": 80}]})) == []
    # KubeVirt checks ports on pod-network interfaces only
    assert run(spec({"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}, "ports": [{"port": 0}]},
                    networks=(POD_NET, MULTUS))) == []


# ------------------------------------------------------------ netiface.go portRanges
GATE = kubevirt(gates=["PortRangesSpec"])


@pytest.mark.parametrize("iface,field,words", [
    ({"portRanges": [{"protocol": "TCP", "start": 1, "end": 2}], "ports": [{"port": 22}]}, "interfaces[0].name",
     "Cannot define both ports and portRanges"),
    ({"portRanges": [{"protocol": "TCP", "start": 1, "end": 2}], "passtBinding": {}, "masquerade": None},
     "interfaces[0].name", "only supported on masquerade"),
    ({"portRanges": [{"protocol": "TCP", "start": p, "end": p} for p in range(1, 12)]}, "interfaces[0].portRanges",
     "No more than 10"),
    ({"portRanges": [{"start": 1, "end": 2}]}, "portRanges[0].protocol", "only TCP or UDP"),
    ({"portRanges": [{"protocol": "TCP", "start": 0, "end": 2}]}, "portRanges[0].start", "Start must be a valid"),
    ({"portRanges": [{"protocol": "TCP", "start": 1, "end": 70000}]}, "portRanges[0].end", "End must be a valid"),
    ({"portRanges": [{"protocol": "TCP", "start": 9, "end": 2}]}, "portRanges[0].start", "less than or equal"),
    ({"portRanges": [{"protocol": "TCP", "start": 1000, "end": 2000}, {"protocol": "TCP", "start": 2000, "end": 3000}]},
     "interfaces[0].portRanges", "TCP portRanges [1000-2000] and [2000-3000] overlap"),
])
def test_port_ranges(iface, field, words):
    iface = dict({"name": "default", "masquerade": {}}, **iface)
    if iface.get("masquerade") is None:
        del iface["masquerade"]
    items = run(spec(iface), GATE)
    assert any(p["field"].endswith(field) and words in p["message"] for p in items), messages(items)


def test_port_ranges_need_the_gate_and_same_ranges_on_two_protocols_are_fine():
    iface = {"name": "default", "masquerade": {},
             "portRanges": [{"protocol": "TCP", "start": 1000, "end": 2000},
                            {"protocol": "UDP", "start": 1000, "end": 2000}]}
    assert run(spec(iface), GATE) == []
    items = run(spec(iface), kubevirt())
    assert [p["message"] for p in items] == [
        "portRanges is specified on interface but the PortRangesSpec feature gate is not enabled"]


# ------------------------------------------------------------ netiface.go DHCP options
@pytest.mark.parametrize("options,field,words", [
    ({"privateOptions": [{"option": 240, "value": "a"}, {"option": 240, "value": "b"}]}, "privateOptions",
     "Found Duplicates"),
    ({"privateOptions": [{"option": 223, "value": "a"}]}, "privateOptions[0].option", "224 to 254"),
    ({"privateOptions": [{"option": 255, "value": "a"}]}, "privateOptions[0].option", "224 to 254"),
    ({"ntpServers": ["10.0.0.1", "fd00::1"]}, "ntpServers[1]", "valid IPv4"),
    ({"ntpServers": ["ntp.example.com"]}, "ntpServers[0]", "valid IPv4"),
])
def test_dhcp_options(options, field, words):
    items = run(spec({"name": "net1", "bridge": {}, "dhcpOptions": options}, networks=(MULTUS,)))
    assert any(p["field"].endswith(field) and words in p["message"] for p in items), messages(items)


def test_good_dhcp_options_and_ipv4_mapped_ntp_server():
    options = {"privateOptions": [{"option": 224, "value": "a"}, {"option": 254, "value": "b"}],
               "ntpServers": ["10.0.0.1", "::ffff:10.0.0.2"], "bootFileName": "pxe"}
    assert run(spec({"name": "net1", "bridge": {}, "dhcpOptions": options}, networks=(MULTUS,))) == []


# ------------------------------------------------------------ netiface.go MAC (link.ValidateMacAddress)
@pytest.mark.parametrize("mac", ["02:00:00:00:00:01", "02-00-00-00-00-01", "0200.0000.0001", "020000000001",
                                 "DE-AD-00-00-BE-AF"])
def test_macs_net_parsemac_accepts(mac):
    assert run(spec({"name": "net1", "bridge": {}, "macAddress": mac}, networks=(MULTUS,))) == []


@pytest.mark.parametrize("mac,words", [
    ("02:00-00:00:00:01", "malformed MAC address (02:00-00:00:00:01)"),
    ("02:00:00:00:00", "malformed MAC address"),
    ("02.00.00.00.00.01", "malformed MAC address"),
    ("02:00:5e:10:00:00:00:01", "too long MAC address"),
])
def test_macs_net_parsemac_refuses(mac, words):
    items = run(spec({"name": "net1", "bridge": {}, "macAddress": mac}, networks=(MULTUS,)))
    assert [p["field"] for p in items] == ["spec.template.spec.domain.devices.interfaces[0].macAddress"]
    assert words in items[0]["message"]


def test_multicast_mac_refused_on_changed_interfaces_only():
    template = spec({"name": "net1", "bridge": {}, "macAddress": "01:00:5e:00:00:01"}, networks=(MULTUS,))
    assert "multicast" in run(template)[0]["message"]
    assert run(template, changed=[]) == []   # KubeVirt itself takes it: not ours to refuse on an untouched NIC


def test_unquoted_mac_number_in_a_template_says_quote_the_mac():
    template = spec({"name": "net1", "bridge": {}, "macAddress": 3162827546392}, networks=(MULTUS,))
    items = run(template, changed=[])
    assert len(items) == 1 and "quote the MAC" in items[0]["message"]


def test_interface_name_format():
    items = run(spec({"name": "net.1", "bridge": {}}, networks=({"name": "net.1", "multus": {"networkName": "x"}},)))
    assert any("can only contain alphabetical characters" in p["message"] for p in items), messages(items)


# ------------------------------------------------------------ the typed options of kubevirt_vm_network
@pytest.mark.parametrize("mac,words", [
    ("01:00:5e:00:00:01", "multicast"), ("ff:ff:ff:ff:ff:ff", "broadcast"), ("00:00:00:00:00:00", "all-zero"),
    ("02:00-00:00:00:01", "one separator"), ("41135085296", "quote the MAC"),
    ("0200.0000.0000", "reserved for the in-pod bridge"),
])
def test_vm_network_interface_mac_option(mac, words):
    from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network as vmn, vm_network_checks
    problems = Problems()
    vm_network_checks.check_interface(problems, 0, {"name": "default", "network": "pod", "binding": "masquerade",
                                                    "mac_address": mac}, vmn.MERGED)
    assert [p["field"] for p in problems.items] == ["mac_address"], problems.items
    assert words in problems.items[0]["message"]
