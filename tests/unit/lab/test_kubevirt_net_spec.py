"""The network spec rules the lab's node side applies (lab/kubevirt/net_spec.py):
pod interface names and virt-handler's LiveMigratable."""

import copy

import pytest

from lab.kubevirt import net_spec

POD = {"name": "default", "pod": {}}


def spec(ifaces, nets, **extra):
    body = {"domain": {"devices": {"interfaces": copy.deepcopy(ifaces)}, "resources": {"requests": {"memory": "1Gi"}}},
            "networks": copy.deepcopy(nets)}
    body.update(extra)
    return body


def multus(name, nad, **extra):
    return {"name": name, "multus": dict({"networkName": nad}, **extra)}


# ------------------------------------------------------------------ names
def test_pod_interface_names():
    assert net_spec.pod_interface_name(POD) == "eth0"
    assert net_spec.pod_interface_name(multus("d", "x", default=True)) == "eth0"
    name = net_spec.pod_interface_name(multus("red", "red-net"))
    assert name.startswith("pod") and len(name) == 14 and name == net_spec.hashed_pod_interface("red")
    assert net_spec.nad_ref("ns1", "other/nad") == ("other", "nad")
    assert net_spec.nad_ref("ns1", "nad") == ("ns1", "nad")


# ------------------------------------------------------ VM -> VMI net sync
# ---------------------------------------------------------- LiveMigratable
@pytest.mark.parametrize("iface, annotations, plugins, migratable", [
    ({"name": "default", "masquerade": {}}, {}, {}, True),
    ({"name": "default", "passtBinding": {}}, {}, {}, True),
    ({"name": "default", "bridge": {}}, {}, {}, False),
    ({"name": "default", "bridge": {}}, {net_spec.ALLOW_POD_BRIDGE_MIGRATION: ""}, {}, True),
    ({"name": "default", "binding": {"name": "passt"}}, {}, {"passt": {"migration": {}}}, True),
    ({"name": "default", "binding": {"name": "slirp"}}, {}, {"slirp": {"sidecarImage": "x"}}, False),
    ({"name": "default", "binding": {"name": "missing"}}, {}, {}, False),
])
def test_live_migratable_is_decided_by_the_pod_network_interface(iface, annotations, plugins, migratable):
    vmi_spec = spec([iface, {"name": "vf", "sriov": {}}], [POD, multus("vf", "sriov-net")])
    ok, message = net_spec.live_migratable(vmi_spec, annotations, plugins)
    assert ok is migratable
    assert message == ("" if migratable else net_spec.NOT_MIGRATABLE_MESSAGE)


def test_live_migratable_without_a_pod_network():
    assert net_spec.live_migratable(spec([{"name": "red", "bridge": {}}], [multus("red", "r")]), {}, {})[0]
    assert net_spec.live_migratable(spec([], []), {}, {})[0]
