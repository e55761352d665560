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
