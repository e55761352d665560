"""KubeVirt's network spec rules (tests/lab/kubevirt/net_spec.py): hot-plug
sync, detached interfaces, RestartRequired, LiveMigratable, MigrationRequired."""

import copy

import pytest

from tests.lab.kubevirt import net_spec

POD = {"name": "default", "pod": {}}
MASQ = {"name": "default", "masquerade": {}}


def spec(ifaces, nets, **extra):
    body = {"domain": {"devices": {"interfaces": copy.deepcopy(ifaces)}, "resources": {"requests": {"memory": "1Gi"}}},
            "networks": copy.deepcopy(nets)}
    body.update(extra)
    return body


def multus(name, nad, **extra):
    return {"name": name, "multus": dict({"networkName": nad}, **extra)}


RUNNING = spec([MASQ, {"name": "red", "bridge": {}}], [POD, multus("red", "red-net")])


# ------------------------------------------------------------------ names
def test_pod_interface_names():
    assert net_spec.pod_interface_name(POD) == "eth0"
    assert net_spec.pod_interface_name(multus("d", "x", default=True)) == "eth0"
    name = net_spec.pod_interface_name(multus("red", "red-net"))
    assert name.startswith("pod") and len(name) == 14 and name == net_spec.hashed_pod_interface("red")
    assert net_spec.nad_ref("ns1", "other/nad") == ("other", "nad")
    assert net_spec.nad_ref("ns1", "nad") == ("ns1", "nad")


# ------------------------------------------------------ VM -> VMI net sync
def test_bridge_and_sriov_interfaces_are_hotplugged_with_their_network():
    template = spec(net_spec.interfaces(RUNNING) + [{"name": "blue", "bridge": {}}, {"name": "vf", "sriov": {}},
                                                    {"name": "tap", "binding": {"name": "macvtap"}}],
                    net_spec.networks(RUNNING) + [multus("blue", "b"), multus("vf", "v"), multus("tap", "t")])
    synced = net_spec.apply_dynamic_iface_requests(template, RUNNING)
    assert [i["name"] for i in net_spec.interfaces(synced)] == ["default", "red", "blue", "vf"]
    assert [n["name"] for n in net_spec.networks(synced)] == ["default", "red", "blue", "vf"]
    assert synced["domain"]["resources"] == RUNNING["domain"]["resources"]


def test_state_follows_the_template_but_never_leaves_absent():
    template = copy.deepcopy(RUNNING)
    template["domain"]["devices"]["interfaces"][1]["state"] = "absent"
    synced = net_spec.apply_dynamic_iface_requests(template, RUNNING)
    assert net_spec.interfaces(synced)[1]["state"] == "absent"
    back = net_spec.apply_dynamic_iface_requests(RUNNING, synced)
    assert net_spec.interfaces(back)[1]["state"] == "absent"
    template["domain"]["devices"]["interfaces"][1]["state"] = "down"
    assert net_spec.interfaces(net_spec.apply_dynamic_iface_requests(template, RUNNING))[1]["state"] == "down"


def test_absent_new_interfaces_are_not_plugged_and_nad_names_follow():
    template = spec(net_spec.interfaces(RUNNING) + [{"name": "blue", "bridge": {}, "state": "absent"}],
                    [POD, multus("red", "new-net"), multus("blue", "b")])
    synced = net_spec.apply_dynamic_iface_requests(template, RUNNING, nad_ref_live=True)
    assert [i["name"] for i in net_spec.interfaces(synced)] == ["default", "red"]
    assert net_spec.networks(synced)[1]["multus"]["networkName"] == "new-net"
    kept = net_spec.apply_dynamic_iface_requests(template, RUNNING, nad_ref_live=False)
    assert net_spec.networks(kept)[1]["multus"]["networkName"] == "red-net"


def test_detached_interfaces_are_cleared_once_the_status_drops_them():
    ifaces = [MASQ, {"name": "red", "bridge": {}, "state": "absent"}]
    nets = [POD, multus("red", "red-net")]
    assert net_spec.clear_detached(ifaces, nets, {"default", "red"}) == (ifaces, nets)
    assert net_spec.clear_detached(ifaces, nets, {"default"}) == ([MASQ], [POD])


# --------------------------------------------------------- RestartRequired
@pytest.mark.parametrize("change, required", [
    (lambda s: s["domain"]["devices"]["interfaces"].append({"name": "blue", "bridge": {}}), False),
    (lambda s: s["domain"]["devices"]["interfaces"].append({"name": "tap", "binding": {"name": "x"}}), False),
    (lambda s: s["domain"]["devices"]["interfaces"][1].update(state="absent"), False),
    (lambda s: s["domain"]["devices"]["interfaces"][1].update(state="down"), False),
    (lambda s: s["networks"][1]["multus"].update(networkName="other-net"), False),
    (lambda s: s["domain"]["devices"]["interfaces"][1].update(model="e1000"), True),
    (lambda s: s["domain"]["devices"]["interfaces"].pop(1), True),
    (lambda s: s["networks"][1]["multus"].update(default=False), True),
])
def test_network_changes_that_need_a_restart(change, required):
    template = copy.deepcopy(RUNNING)
    change(template)
    assert net_spec.network_restart_required(template, RUNNING) is required


def test_nad_swap_needs_a_restart_without_live_update_nad_ref():
    template = copy.deepcopy(RUNNING)
    template["networks"][1]["multus"]["networkName"] = "other-net"
    assert net_spec.network_restart_required(template, RUNNING, nad_ref_live=False)


def test_adding_a_pod_network_needs_a_restart():
    running = spec([{"name": "red", "bridge": {}}], [multus("red", "red-net")])
    template = spec([{"name": "red", "bridge": {}}, MASQ], [multus("red", "red-net"), POD])
    assert net_spec.network_restart_required(template, running)


def test_restart_required_against_the_started_template():
    started = copy.deepcopy(RUNNING)
    current = copy.deepcopy(RUNNING)
    current["domain"]["devices"]["interfaces"].append({"name": "blue", "bridge": {}})
    current["networks"].append(multus("blue", "b"))
    current["nodeSelector"] = {"zone": "a"}
    assert not net_spec.restart_required(started, current, RUNNING)   # hot-plug, placement: live
    assert net_spec.restart_required(started, current, RUNNING, live_update=False)
    current["domain"]["resources"]["requests"]["memory"] = "2Gi"
    assert net_spec.restart_required(started, current, RUNNING)
    assert not net_spec.restart_required(None, current, RUNNING)


def test_sockets_are_live_only_when_the_started_template_had_a_cpu():
    started = copy.deepcopy(RUNNING)
    started["domain"]["cpu"] = {"sockets": 1, "cores": 2}
    current = copy.deepcopy(started)
    current["domain"]["cpu"]["sockets"] = 4
    assert not net_spec.restart_required(started, current, RUNNING)
    current["domain"]["cpu"]["cores"] = 4
    assert net_spec.restart_required(started, current, RUNNING)
    no_cpu = copy.deepcopy(RUNNING)
    no_cpu["domain"]["cpu"] = {"sockets": 2}      # a CPU block added: not a socket change
    assert net_spec.restart_required(RUNNING, no_cpu, RUNNING)


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


# ------------------------------------------------------- MigrationRequired
def status(name, source, pod_iface=None):
    return {"name": name, "infoSource": source, "podInterfaceName": pod_iface or net_spec.hashed_pod_interface(name)}


def test_migration_requirement():
    vmi_spec = spec([MASQ, {"name": "red", "bridge": {}}], [POD, multus("red", "red-net")])
    attached = [{"name": "ns1/red-net", "interface": net_spec.hashed_pod_interface("red")}]
    full = [status("default", "domain, guest-agent", "eth0"), status("red", "domain, guest-agent, multus-status")]
    assert net_spec.migration_requirement(vmi_spec, full, attached, "ns1") == net_spec.NOT_REQUIRED
    assert net_spec.migration_requirement(vmi_spec, full[:1], [], "ns1") == net_spec.PENDING
    sriov = spec([MASQ, {"name": "red", "sriov": {}}], [POD, multus("red", "red-net")])
    assert net_spec.migration_requirement(sriov, full[:1], [], "ns1") == net_spec.IMMEDIATE
    swapped = spec([MASQ, {"name": "red", "bridge": {}}], [POD, multus("red", "blue-net")])
    assert net_spec.migration_requirement(swapped, full, attached, "ns1") == net_spec.IMMEDIATE
    assert net_spec.migration_requirement(
        spec([MASQ, {"name": "red", "bridge": {}}], [POD, multus("red", "ns1/red-net")]), full, attached, "ns1") \
        == net_spec.NOT_REQUIRED


def test_unplug_out_of_the_domain_but_still_in_the_pod_is_pending():
    vmi_spec = spec([MASQ, {"name": "red", "bridge": {}, "state": "absent"}], [POD, multus("red", "red-net")])
    in_domain = [status("red", "domain, guest-agent, multus-status")]
    pod_only = [status("red", "multus-status")]
    assert net_spec.migration_requirement(vmi_spec, in_domain, [], "ns1") == net_spec.NOT_REQUIRED
    assert net_spec.migration_requirement(vmi_spec, pod_only, [], "ns1") == net_spec.PENDING
    assert net_spec.migration_requirement(vmi_spec, [], [], "ns1") == net_spec.NOT_REQUIRED
