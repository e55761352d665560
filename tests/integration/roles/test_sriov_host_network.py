"""The sriov_host role and the host's own network, on a fake host (tests/fakesysfs), issue 24:

* item 5: a VF count change on the PF that carries the node's address or default route (here through a bond)
  is refused before any write, unless sriov_host_pfs[].allow_management_pf;
* item 7: a udev rule marks the VFs NM_UNMANAGED=1 so NetworkManager leaves kernel-driver VFs alone; the fake
  udev (tests/fakesysfs/commands.py udev_properties) evaluates the rule against the fake sysfs."""

import os
import stat

from tests.fakesysfs import Kernel, snapshot
from tests.fakesysfs.commands import commands, udev_properties
from tests.fakesysfs.playbook import role_play, run_playbook

PF1 = "0000:3b:00.1"
PFS = [
    {"name": "ens1f0", "num_vfs": 4, "resource_name": "intel_e810"},
    {"pci_address": PF1, "num_vfs": 2, "driver": "kernel", "resource_name": "intel_netdev"},
]
RULE = "etc/udev/rules.d/10-kubevirt-net-sriov-nm-unmanaged.rules"
NM_TASK = "Mark the VFs of the PFs unmanaged for NetworkManager (udev rule)"
UDEV_RELOAD = [["control", "--reload"], ["trigger", "--action=change", "--subsystem-match=net"]]


def tool_calls(root, name):
    return [c["args"] for c in commands(str(root)) if c["command"] == name]


# ---------------------------------------------------------------------------- item 5: the management PF
def test_a_vf_change_on_the_pf_with_the_nodes_network_is_refused_before_any_write(fake_host, host_env, tmp_path):
    # the node's address and default route are on bond0, whose port is ens1f1 (the kernel-driver PF)
    root = fake_host(host_network=None)
    net = Kernel(str(root)).netconf()
    net.add_virtual("bond0", "bond")
    net.set_master("ens1f1", "bond0")
    net.add_address("bond0", "192.0.2.10/24")
    net.add_route("default", "bond0", gateway="192.0.2.1")
    before = snapshot(str(root))
    for check in (True, False):
        refused = run_playbook(host_env, tmp_path, role_play(root, PFS), check=check, expect_rc=2)
        [(task, message)] = refused.failures()
        assert task.startswith("Read each PF"), task
        assert "PF 0000:3b:00.1: num_vfs: PF ens1f1 (0000:3b:00.1) carries this host's network: " \
               "address 192.0.2.10/24 (on bond0, which ens1f1 is part of)" in message
        assert "the default route via 192.0.2.1 (on bond0, which ens1f1 is part of)" in message
        assert "(0 -> 2)" in message and "sriov_host_pfs[].allow_management_pf" in message
        assert "Nothing was changed" in message
        assert snapshot(str(root)) == before and Kernel(str(root)).writes() == [] and commands(str(root)) == []

    # allowed for that PF: configured
    allowed = [PFS[0], dict(PFS[1], allow_management_pf=True)]
    run_playbook(host_env, tmp_path, role_play(root, allowed))
    assert (root / "sys/bus/pci/devices" / PF1 / "sriov_numvfs").read_text() == "2\n"
    # a second run, without the flag, changes no count: nothing to refuse, nothing written
    mark = len(Kernel(str(root)).writes())
    again = run_playbook(host_env, tmp_path, role_play(root, PFS))
    assert again.changed == 0 and Kernel(str(root)).writes()[mark:] == []
    # changing that PF's count is refused again
    more = [PFS[0], dict(PFS[1], num_vfs=3)]
    assert "(2 -> 3)" in run_playbook(host_env, tmp_path, role_play(root, more), expect_rc=2).failures()[0][1]
    assert Kernel(str(root)).writes()[mark:] == []


# ---------------------------------------------------------------------------- item 7: NetworkManager and the VFs
def test_the_vfs_are_marked_nm_unmanaged_by_an_idempotent_udev_rule(fake_host, host_env, tmp_path):
    root = fake_host()
    rule = root / RULE

    checked = run_playbook(host_env, tmp_path, role_play(root, PFS), check=True, diff=True)
    assert checked.task(NM_TASK)["changed"] and not rule.exists()
    assert tool_calls(root, "udevadm") == []

    run_playbook(host_env, tmp_path, role_play(root, PFS))
    assert stat.S_IMODE(os.stat(rule).st_mode) == 0o644
    text = rule.read_text()
    assert 'KERNELS=="0000:3b:12.0|0000:3b:12.1", ENV{NM_UNMANAGED}="1"' in text
    # the vfio-pci PF's VFs get no netdev (autoprobe off), so the rule does not name them
    assert "0000:3b:02." not in text
    # the kernel-driver VFs' netdevs get the property; the PF and the node's own NIC do not
    assert [udev_properties(str(root), name) for name in ("ens1f1v0", "ens1f1v1")] == [{"NM_UNMANAGED": "1"}] * 2
    assert udev_properties(str(root), "ens1f1") == {} and udev_properties(str(root), "eno1") == {}
    assert tool_calls(root, "udevadm") == UDEV_RELOAD

    # idempotent: nothing changes, udev is not touched again
    again = run_playbook(host_env, tmp_path, role_play(root, PFS))
    assert again.changed == 0 and again.task(NM_TASK)["changed"] is False and len(tool_calls(root, "udevadm")) == 2

    # one more VF: the rule follows (written before the VF appears), and the new VF is unmanaged too
    more = [PFS[0], dict(PFS[1], num_vfs=3)]
    run_playbook(host_env, tmp_path, role_play(root, more))
    assert 'KERNELS=="0000:3b:12.0|0000:3b:12.1|0000:3b:12.2"' in rule.read_text()
    assert udev_properties(str(root), "ens1f1v2") == {"NM_UNMANAGED": "1"}

    # switched off: the rule goes (check mode first: it stays), and udev reloads
    off = {"sriov_host_nm_unmanaged": False}
    assert run_playbook(host_env, tmp_path, role_play(root, more, **off), check=True).changed > 0
    assert rule.exists()
    run_playbook(host_env, tmp_path, role_play(root, more, **off))
    assert not rule.exists() and udev_properties(str(root), "ens1f1v0") == {}
    assert tool_calls(root, "udevadm")[-2:] == UDEV_RELOAD
