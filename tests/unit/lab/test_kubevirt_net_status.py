"""VMI interface status and MACs (lab/kubevirt/net_status.py)."""

import hashlib

from lab.kubevirt import net_spec, net_status

RED_POD_IFACE = net_spec.hashed_pod_interface("red")


def vmi(ifaces, nets, interfaces=None, uid="uid-1"):
    return {"metadata": {"name": "vm", "namespace": "ns1", "uid": uid},
            "spec": {"domain": {"devices": {"interfaces": ifaces}}, "networks": nets},
            "status": {"interfaces": interfaces or []}}


IFACES = [{"name": "default", "masquerade": {}}, {"name": "red", "bridge": {}}]
NETS = [{"name": "default", "pod": {}}, {"name": "red", "multus": {"networkName": "red-net"}}]
ATTACHED = [{"name": "k8s-pod-network", "interface": "eth0", "default": True, "ips": ["10.244.0.2"]},
            {"name": "ns1/red-net", "interface": RED_POD_IFACE, "ips": ["10.88.0.2"]}]


# --------------------------------------------------------------------- MACs
def test_spec_mac_is_used_normalised():
    pool = net_status.MacPool()
    assert pool.mac_for("u1", {"name": "red", "macAddress": "DE-AD-00-00-BE-AF"}) == "de:ad:00:00:be:af"


def test_generated_macs_are_stable_local_and_unique():
    pool = net_status.MacPool()
    first = pool.mac_for("u1", {"name": "red"})
    assert first.startswith("02:") and len(first.split(":")) == 6
    assert pool.mac_for("u1", {"name": "red"}) == first
    macs = {pool.mac_for("u%d" % i, {"name": n}) for i in range(50) for n in ("default", "red")}
    assert len(macs) == 100


def test_a_taken_mac_is_not_handed_out_again():
    pool = net_status.MacPool()
    digest = hashlib.sha256(b"u2/red/0").digest()
    wanted = "02:" + ":".join("%02x" % b for b in digest[:5])
    assert pool.mac_for("u1", {"name": "x", "macAddress": wanted}) == wanted   # someone holds it already
    assert pool.mac_for("u2", {"name": "red"}) != wanted
    pool.release("u1")
    fresh = net_status.MacPool()
    assert fresh.mac_for("u2", {"name": "red"}) == wanted


# ------------------------------------------------------------ full statuses
def test_started_domain_reports_every_attached_interface():
    got = net_status.full_statuses(vmi(IFACES, NETS), ["10.244.0.2"], ATTACHED, net_status.MacPool())
    by_name = {i["name"]: i for i in got}
    assert by_name["default"]["infoSource"] == "domain, guest-agent"
    assert by_name["default"]["ipAddress"] == "10.244.0.2" and by_name["default"]["podInterfaceName"] == "eth0"
    assert by_name["red"]["infoSource"] == "domain, guest-agent, multus-status"
    assert by_name["red"]["ipAddresses"] == ["10.88.0.2"] and by_name["red"]["podInterfaceName"] == RED_POD_IFACE
    assert [by_name[n]["interfaceName"] for n in ("default", "red")] == ["eth0", "eth1"]
    assert by_name["red"]["linkState"] == "up" and by_name["red"]["mac"] != by_name["default"]["mac"]


def test_absent_down_and_unattached_interfaces():
    ifaces = [{"name": "default", "masquerade": {}, "state": "down"}, {"name": "red", "bridge": {}, "state": "absent"},
              {"name": "blue", "bridge": {}}]
    nets = NETS + [{"name": "blue", "multus": {"networkName": "blue-net"}}]
    got = net_status.full_statuses(vmi(ifaces, nets), ["10.244.0.2"], ATTACHED, net_status.MacPool())
    assert [(i["name"], i["linkState"]) for i in got] == [("default", "down")]


# ------------------------------------------------------------ hot-plug steps
def test_hotplug_takes_two_steps_after_the_pod_attached():
    macs = net_status.MacPool()
    started = net_status.full_statuses(vmi(IFACES[:1], NETS[:1]), ["10.244.0.2"], ATTACHED[:1], macs)
    start = vmi(IFACES, NETS, started)
    assert net_status.next_hotplug_statuses(start, ["10.244.0.2"], ATTACHED[:1], macs) is None  # pod not attached
    step1 = net_status.next_hotplug_statuses(start, ["10.244.0.2"], ATTACHED, macs)
    red = step1[-1]
    assert red["infoSource"] == "multus-status" and "interfaceName" not in red and red["ipAddress"] == "10.88.0.2"
    step2 = net_status.next_hotplug_statuses(vmi(IFACES, NETS, step1), ["10.244.0.2"], ATTACHED, macs)
    assert step2[-1]["infoSource"] == "domain, guest-agent, multus-status" and step2[-1]["interfaceName"] == "eth1"
    assert net_status.next_hotplug_statuses(vmi(IFACES, NETS, step2), ["10.244.0.2"], ATTACHED, macs) is None


def test_unplug_leaves_the_domain_then_disappears_with_the_pod_interface():
    macs = net_status.MacPool()
    full = net_status.full_statuses(vmi(IFACES, NETS), ["10.244.0.2"], ATTACHED, macs)
    absent = [IFACES[0], dict(IFACES[1], state="absent")]
    step1 = net_status.next_hotplug_statuses(vmi(absent, NETS, full), ["10.244.0.2"], ATTACHED, macs)
    assert step1[-1]["infoSource"] == "multus-status"
    assert net_status.next_hotplug_statuses(vmi(absent, NETS, step1), ["10.244.0.2"], ATTACHED, macs) is None
    step2 = net_status.next_hotplug_statuses(vmi(absent, NETS, step1), ["10.244.0.2"], ATTACHED[:1], macs)
    assert [i["name"] for i in step2] == ["default"]


def test_link_state_follows_the_spec():
    macs = net_status.MacPool()
    full = net_status.full_statuses(vmi(IFACES, NETS), ["10.244.0.2"], ATTACHED, macs)
    down = [IFACES[0], dict(IFACES[1], state="down")]
    got = net_status.next_hotplug_statuses(vmi(down, NETS, full), ["10.244.0.2"], ATTACHED, macs)
    assert [i["linkState"] for i in got] == ["up", "down"]
