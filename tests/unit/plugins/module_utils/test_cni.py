import json

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import cni
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


def net(**options):
    base = {"name": "n1", "namespace": "vms", "cni_version": "0.3.1"}
    base.update(options)
    return base


def problems(network):
    found = Problems()
    cni.check_network(found, network)
    return found.items


@pytest.mark.parametrize("options,expected", [
    (dict(type="bridge", bridge="br1", vlan=100, mtu=1500, mac_spoof_check=True, preserve_default_vlan=False),
     {"cniVersion": "0.3.1", "name": "n1", "type": "bridge", "bridge": "br1", "vlan": 100, "mtu": 1500,
      "macspoofchk": True, "preserveDefaultVlan": False, "ipam": {}}),
    (dict(type="ovs", bridge="ovsbr", vlan=7, trunk=[{"id": 10}, {"min_id": 20, "max_id": 30}]),
     {"cniVersion": "0.3.1", "name": "n1", "type": "ovs", "bridge": "ovsbr", "vlan": 7,
      "trunk": [{"id": 10}, {"minID": 20, "maxID": 30}], "ipam": {}}),
    (dict(type="macvlan", master="ens3", ipam={"type": "dhcp"}),
     {"cniVersion": "0.3.1", "name": "n1", "type": "macvlan", "master": "ens3", "mode": "bridge",
      "ipam": {"type": "dhcp"}}),
    (dict(type="sriov", resource_name="openshift.io/nics", vlan=5, vlan_qos=2, spoof_check=False, trust=True,
          link_state="enable", min_tx_rate=10, max_tx_rate=100),
     {"cniVersion": "0.3.1", "name": "n1", "type": "sriov", "vlan": 5, "vlanQoS": 2, "spoofchk": "off",
      "trust": "on", "link_state": "enable", "min_tx_rate": 10, "max_tx_rate": 100, "ipam": {}}),
    (dict(type="ovn_layer2", subnets=["10.10.0.0/24", "fd10::/64"], exclude_subnets=["10.10.0.0/29"], mtu=1400),
     {"cniVersion": "0.3.1", "name": "n1", "type": "ovn-k8s-cni-overlay", "topology": "layer2",
      "netAttachDefName": "vms/n1", "subnets": "10.10.0.0/24,fd10::/64", "excludeSubnets": "10.10.0.0/29",
      "mtu": 1400}),
    (dict(type="ovn_localnet", physical_network_name="physnet", vlan=30),
     {"cniVersion": "0.3.1", "name": "n1", "type": "ovn-k8s-cni-overlay", "topology": "localnet",
      "netAttachDefName": "vms/n1", "physicalNetworkName": "physnet", "vlanID": 30}),
    (dict(type="cni_config", cni_config='{"cniVersion": "1.0.0", "plugins": [{"type": "tuning"}]}'),
     {"cniVersion": "1.0.0", "name": "n1", "plugins": [{"type": "tuning"}]}),
])
def test_builders(options, expected):
    network = net(**options)
    assert problems(network) == []
    assert cni.build_config(network) == expected


def test_serialisation_is_deterministic():
    a = cni.dumps({"b": 1, "a": {"d": 2, "c": 3}})
    assert a == '{"a":{"c":3,"d":2},"b":1}'
    assert cni.dumps(json.loads(a)) == a


@pytest.mark.parametrize("options,field,words", [
    (dict(type="bridge"), "bridge", "required for type 'bridge'"),
    (dict(type="bridge", bridge="b", vlan=4095), "vlan", "0 to 4094"),
    (dict(type="bridge", bridge="b", mtu=9217), "mtu", "576 to 9216"),
    (dict(type="bridge", bridge="b", master="eth0"), "master", "not used by type 'bridge'"),
    (dict(type="sriov", resource_name="intelnics"), "resource_name", "'<domain>/<name>'"),
    (dict(type="sriov", resource_name="a.io/b", vlan_qos=8), "vlan_qos", "0 to 7"),
    (dict(type="sriov", resource_name="a.io/b", min_tx_rate=100, max_tx_rate=10), "min_tx_rate", "above"),
    (dict(type="ovs", bridge="b", trunk=[{"min_id": 30, "max_id": 20}]), "trunk[0]", "above max_id"),
    (dict(type="ovs", bridge="b", trunk=[{}]), "trunk[0]", "needs id"),
    (dict(type="ovn_layer2", exclude_subnets=["10.0.0.0/29"]), "subnets", "required when exclude_subnets"),
    (dict(type="ovn_layer2", subnets=["10.0.0.0/24"], exclude_subnets=["10.9.0.0/29"]), "exclude_subnets[0]",
     "not inside"),
    (dict(type="ovn_localnet"), "physical_network_name", "required"),
    (dict(type="ovn_layer2", ipam={"type": "host-local"}), "ipam", "not used by type"),
    (dict(type="cni_config", cni_config="{nope"), "cni_config", "not a JSON object"),
    (dict(type="cni_config", cni_config={"type": "bridge"}), "cni_config.cniVersion", "required"),
    (dict(type="cni_config", cni_config={"cniVersion": "0.3.1"}), "cni_config", "needs 'type'"),
    (dict(type="wire"), "type", "not a network type"),
    (dict(type="bridge", bridge="b", name="Bad_Name"), "name", "not a valid name"),
    (dict(type="bridge", bridge="b", namespace="a" * 64), "namespace", "DNS-1123 label"),
])
def test_each_rule_names_network_field_and_fix(options, field, words):
    found = problems(net(**options))
    assert field in [p["field"] for p in found], found
    match = [p for p in found if p["field"] == field]
    assert any(words in p["message"] for p in match), match
    assert all(p["object"].startswith("network ") for p in found)


@pytest.mark.parametrize("config,key", [
    ({"type": "bridge", "bridge": "br1"}, ("bridge", "br1", 0)),
    ({"type": "bridge", "bridge": "br1", "vlan": 5}, ("bridge", "br1", 5)),
    ({"plugins": [{"type": "ovs", "bridge": "o", "vlan": 2}, {"type": "tuning"}]}, ("ovs", "o", 2)),
    ({"type": "macvlan", "master": "eth1"}, ("macvlan", "eth1")),
    ({"type": "ovn-k8s-cni-overlay", "topology": "localnet", "name": "x", "physicalNetworkName": "p"},
     ("localnet", "p", 0)),
    ({"type": "ovn-k8s-cni-overlay", "topology": "layer2", "name": "x"}, ("ovn-layer2", "x")),
    ({"type": "sriov"}, None),
])
def test_l2_key(config, key):
    assert cni.l2_key(config) == key


# ------------------------------------------------------------ Linux interface names (net/core/dev.c dev_valid_name)
@pytest.mark.parametrize("name,words", [
    ("br0; rm -rf / #this-is-way-too-long", "at most 15 bytes"),
    ("br 0", "whitespace"),
    ("br0 x", "whitespace"),
    ("br\t0", "whitespace"),
    ("br0\n", "whitespace"),
    ("br/0", "'/'"),
    ("br:0", "':'"),
    (".", "'.' and '..'"),
    ("..", "'.' and '..'"),
    ("abcdefghijklmnop", "16 bytes long"),   # IFNAMSIZ is 16 with the NUL
    ("brückebrücke123", "17 bytes long"),    # bytes, not characters
])
def test_bridge_names_the_kernel_refuses(name, words):
    found = problems(net(type="bridge", bridge=name))
    assert [p["field"] for p in found] == ["bridge"], found
    assert words in found[0]["message"]


def test_kernel_whitespace_includes_nbsp_byte():
    from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import linux_ifname_error
    assert "whitespace" in linux_ifname_error("b\xa0")   # UTF-8 c2 a0: the kernel's isspace(0xa0) is true
    assert "whitespace" in linux_ifname_error("b\x0b")   # vertical tab


@pytest.mark.parametrize("name", ["br0", "abcdefghijklmno", "br-prod.100", "br_1", "ovs@x", "...", "brücke"])
def test_bridge_names_the_kernel_accepts(name):
    assert problems(net(type="bridge", bridge=name)) == []


def test_macvlan_master_and_ovs_bridge_and_raw_configs_are_checked_too():
    assert [p["field"] for p in problems(net(type="macvlan", master="eth0:1"))] == ["master"]
    assert [p["field"] for p in problems(net(type="ovs", bridge="ovs bridge"))] == ["bridge"]
    raw = {"cniVersion": "0.4.0", "plugins": [{"type": "bridge", "bridge": "way-too-long-bridge"}, {"type": "tuning"}]}
    assert [p["field"] for p in problems(net(type="cni_config", cni_config=raw))] == ["cni_config.plugins[0].bridge"]


# ------------------------------------------------------------ cniVersion (containernetworking/cni pkg/version)
@pytest.mark.parametrize("version", ["banana", "0.3", "1.2.0", "v1.0.0", "0.3.1 ", ""])
def test_cni_version_not_in_the_spec_list_is_refused(version):
    found = problems(net(type="bridge", bridge="br0", cni_version=version))
    assert [p["field"] for p in found] == ["cni_version"], found
    assert "0.3.1" in found[0]["message"] and "1.1.0" in found[0]["message"]


@pytest.mark.parametrize("version", cni.CNI_VERSIONS)
def test_every_spec_version_is_accepted(version):
    assert problems(net(type="bridge", bridge="br0", cni_version=version)) == []


def test_raw_config_versions_checked():
    found = problems(net(type="cni_config", cni_config={"cniVersion": "banana", "cniVersions": ["1.0.0", "2.0.0"],
                                                        "type": "bridge", "bridge": "br0"}))
    assert [p["field"] for p in found] == ["cni_config.cniVersion", "cni_config.cniVersions[1]"]
