"""The vfio_sriov module and the sriov_host role run by ansible-playbook
against a fake host root (tests/fakesysfs), with the simulated kernel behind
the module's SysfsWriter.  No cluster here: the cluster wiring is tested
against the lab in test_sriov_host_cluster.py.

The molecule scenario (roles/sriov_host/molecule/default: prepare, converge,
idempotence, verify, cleanup) is run by test_molecule_scenario."""

import json
import os
import shutil
import subprocess

import pytest

from tests.fakesysfs import Kernel, snapshot
from tests.fakesysfs.commands import commands
from tests.fakesysfs.playbook import playbook_env, role_play, run_playbook
from tests.fakesysfs.tree import REPO
from tests.integration.helpers import molecule_test

PF0 = "0000:3b:00.0"
PFS = [
    {"name": "ens1f0", "num_vfs": 4, "resource_name": "intel_e810",
     "vfs": [{"index": 0, "mac": "02:00:00:00:00:10", "vlan": 10}]},
    {"pci_address": "0000:3b:00.1", "num_vfs": 2, "driver": "kernel", "resource_name": "intel_netdev"},
]


def vfs_of(root, pf=PF0):
    kernel = Kernel(str(root))
    base = root / "sys/bus/pci/devices" / pf
    out = []
    for entry in sorted(os.listdir(base)):
        if entry.startswith("virtfn"):
            vf = os.path.basename(os.readlink(base / entry))
            out.append((vf, kernel.driver_of(vf)))
    return out


def tool_calls(root, name=None):
    return [c for c in commands(str(root)) if name is None or c["command"] == name]


# ---------------------------------------------------------------------------- the module, by ansible-playbook
def test_vfio_sriov_module_with_sysfs_root(fake_host, host_env, tmp_path):
    root = fake_host(tools=False)
    task = {"kubevirt_net.core.vfio_sriov": {"pf": "ens1f0", "num_vfs": 3, "sysfs_root": str(root),
                                             "vfs": [{"index": 2, "mac": "02:00:00:00:00:22", "trust": True}]},
            "register": "out", "name": "vfs"}
    play = [{"hosts": "all", "gather_facts": False, "tasks": [task]}]

    first = run_playbook(host_env, tmp_path, play, diff=True)
    result = first.task("vfs")
    assert result["changed"] and [v["driver"] for v in result["vfs"]] == ["vfio-pci"] * 3
    assert result["vfs"][2]["mac"] == "02:00:00:00:00:22" and result["vfs"][2]["trust"] is True
    assert "+sriov_numvfs: 3" in "".join(first.stdout.splitlines(True)) or result["diff"]["after"]

    before, mark = snapshot(str(root)), len(Kernel(str(root)).writes())
    again = run_playbook(host_env, tmp_path, play).task("vfs")
    assert again["changed"] is False and again["sysfs_writes"] == 0
    assert snapshot(str(root)) == before and Kernel(str(root)).writes()[mark:] == []

    task["kubevirt_net.core.vfio_sriov"]["num_vfs"] = 5
    checked = run_playbook(host_env, tmp_path, play, check=True, diff=True).task("vfs")
    assert checked["changed"] and checked["changed_steps"][:2] == [
        "sriov_numvfs 3 -> 0 (the kernel refuses a change between two non-zero counts with EBUSY, so the count "
        "goes through 0; the 3 existing VFs are destroyed)", "sriov_numvfs 0 -> 5"]
    assert snapshot(str(root)) == before and Kernel(str(root)).writes()[mark:] == []

    changed = run_playbook(host_env, tmp_path, play).task("vfs")
    assert [v["pci"] for v in changed["vfs"]] == ["0000:3b:02.%d" % i for i in range(5)]
    numvfs = [w["value"] for w in Kernel(str(root)).writes()[mark:] if w.get("path", "").endswith("sriov_numvfs")]
    assert numvfs == ["0\n", "5\n"]


def test_vfio_sriov_module_bad_input_changes_nothing(fake_host, host_env, tmp_path):
    root = fake_host(tools=False, iommu=False)
    before = snapshot(str(root))
    play = [{"hosts": "all", "gather_facts": False, "tasks": [
        {"name": "vfs", "kubevirt_net.core.vfio_sriov": {"pf": "ens1f0", "num_vfs": 4, "sysfs_root": str(root)}}]}]
    result = run_playbook(host_env, tmp_path, play, expect_rc=2).task("vfs")
    assert result["failed"] and "add the kernel arguments 'intel_iommu=on iommu=pt'" in result["msg"]
    assert snapshot(str(root)) == before


# ---------------------------------------------------------------------------- molecule
def test_molecule_scenario(tmp_path):
    """molecule test (delegated driver, local connection): prepare (fake host), converge, idempotence
    (second converge changed=0), verify (VFs on vfio-pci, kernel args, unit, config), cleanup."""
    env = playbook_env(tmp_path, hook=False)
    for name in ("ANSIBLE_STDOUT_CALLBACK", "SRIOV_HOST_MOLECULE_CLUSTER", "SRIOV_HOST_MOLECULE_KUBECONFIG"):
        env.pop(name, None)
    env["MOLECULE_NO_LOG"] = "false"
    output = molecule_test(os.path.join(REPO, "roles", "sriov_host"), env, timeout=1800)
    for action in ("prepare", "converge", "idempotence", "verify"):
        assert "[default > %s] Executed: Successful" % action in output, output[-4000:]


# ---------------------------------------------------------------------------- the role
def test_role_check_mode_writes_nothing(fake_host, host_env, tmp_path):
    root = fake_host(iommu=False, driverctl=True)
    before = snapshot(str(root))
    result = run_playbook(host_env, tmp_path, role_play(root, PFS), check=True, diff=True)
    assert result.changed > 0
    assert result.task("Write GRUB_CMDLINE_LINUX")["changed"]
    assert snapshot(str(root)) == before
    assert Kernel(str(root)).writes() == []
    assert [c["args"] for c in tool_calls(root)] in ([], [["list-overrides"]])
    # and for real, then check mode reports nothing to do
    run_playbook(host_env, tmp_path, role_play(root, PFS))
    after = snapshot(str(root))
    assert run_playbook(host_env, tmp_path, role_play(root, PFS), check=True).changed == 0
    assert snapshot(str(root)) == after


@pytest.mark.parametrize("case", ["unknown_pf", "too_many_vfs", "resource_name", "two_prefixes", "firmware_iommu",
                                  "vf_settings"])
def test_role_bad_input_fails_before_any_change(fake_host, host_env, tmp_path, case):
    pfs = json.loads(json.dumps(PFS))
    kwargs = {}
    if case == "unknown_pf":
        pfs[0]["name"], expected = "ens9f0", "unknown PF 'ens9f0'"
    elif case == "too_many_vfs":
        pfs[0]["num_vfs"], expected = 129, "129 is more than the PF supports (sriov_totalvfs=128): use at most 128"
    elif case == "resource_name":
        pfs[0]["resource_name"], expected = "intel.e810", "letters, digits, '_' and '-' only"
    elif case == "two_prefixes":
        # the same resource name under two prefixes: refused, not merged into the first prefix
        pfs[1]["resource_name"] = "example.com/intel_e810"
        expected = "gives the resource name intel_e810 with the prefixes"
    elif case == "firmware_iommu":
        kwargs, expected = {"iommu": True, "firmware_iommu": False}, "in the firmware setup (BIOS/UEFI)"
    else:
        pfs[0]["vfs"] = [{"index": 4, "mac": "01:00:00:00:00:01"}]
        expected = "VF 4 does not exist with num_vfs=4"
    root = fake_host(iommu=kwargs.get("iommu", False))
    if case == "firmware_iommu":
        # the arguments are on the command line but the firmware keeps the IOMMU off: no groups
        for group in os.listdir(root / "sys/kernel/iommu_groups"):
            for dev in os.listdir(root / "sys/kernel/iommu_groups" / group / "devices"):
                os.unlink(root / "sys/bus/pci/devices" / dev / "iommu_group")
            shutil.rmtree(root / "sys/kernel/iommu_groups" / group)
    before = snapshot(str(root))
    result = run_playbook(host_env, tmp_path, role_play(root, pfs), expect_rc=2)
    [(_task, message)] = result.failures()
    assert expected in message and "othing was changed" in message, message
    assert snapshot(str(root)) == before
    assert Kernel(str(root)).writes() == [] and tool_calls(root) == []


def test_role_rhel_grubby_amd_without_reboot(fake_host, host_env, tmp_path):
    root = fake_host(iommu=False, cpu="amd", distro="rhel")
    first = run_playbook(host_env, tmp_path, role_play(root, PFS))
    grubby = tool_calls(root, "grubby")
    assert [c["args"] for c in grubby] == [["--info=DEFAULT"], ["--update-kernel=ALL", "--args=iommu=pt"]]
    assert tool_calls(root, "update-grub") == []
    assert first.task("Reboot required")["msg"].startswith(
        "node01 needs a reboot for the kernel arguments iommu=pt (sriov_host_allow_reboot is false")
    assert "VFs not configured yet: ens1f0" in first.task("Reboot required")["msg"]
    # the kernel-driver PF is configured now; the vfio-pci one waits for the IOMMU
    assert vfs_of(root) == [] and [d for _vf, d in vfs_of(root, "0000:3b:00.1")] == ["iavf", "iavf"]
    # a second run changes nothing and still says a reboot is needed
    second = run_playbook(host_env, tmp_path, role_play(root, PFS))
    assert second.changed == 0 and second.task("Reboot required")["changed"] is False
    assert len(tool_calls(root, "grubby")) == 3
    # after a reboot the boot unit (the installed sriov_sysfs.py) has configured everything
    subprocess.run([str(root / "usr/sbin/reboot")], check=True, capture_output=True)
    assert "iommu=pt" in (root / "proc/cmdline").read_text().split()
    assert [d for _vf, d in vfs_of(root)] == ["vfio-pci"] * 4
    third = run_playbook(host_env, tmp_path, role_play(root, PFS))
    assert third.changed == 0, third.task_results()


def test_role_reboots_when_allowed_and_the_boot_unit_configures_the_vfs(fake_host, host_env, tmp_path):
    root = fake_host(iommu=False)
    grub = root / "etc/default/grub"
    text = grub.read_text().replace('GRUB_CMDLINE_LINUX_DEFAULT="quiet"',
                                    'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=off"')
    text = text.replace('GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="xintel_iommu=on console=ttyS0"')
    grub.write_text(text)
    variables = {"sriov_host_allow_reboot": True, "sriov_host_reboot_command": str(root / "usr/sbin/reboot")}
    first = run_playbook(host_env, tmp_path, role_play(root, PFS, **variables))
    # word by word: a conflicting value is dropped, a word that only contains the argument is kept
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"' in grub.read_text()
    assert 'GRUB_CMDLINE_LINUX="xintel_iommu=on console=ttyS0 intel_iommu=on iommu=pt"' in grub.read_text()
    names = [c["command"] for c in tool_calls(root)]
    assert names.index("update-grub") < names.index("reboot")
    assert "unit:kubevirt-net-sriov.service" in names
    cmdline = (root / "proc/cmdline").read_text().split()
    assert "intel_iommu=on" in cmdline and "iommu=pt" in cmdline and "intel_iommu=off" not in cmdline
    assert [d for _vf, d in vfs_of(root)] == ["vfio-pci"] * 4
    # the VFs were created by the boot unit; the role's check after the reboot found nothing to change
    after = [r for name, r in first.task_results()
             if name == "Create the VFs, pin their settings and bind them (vfio_sriov)"]
    assert len(after) == 2
    assert after[-1]["changed"] is False
    assert run_playbook(host_env, tmp_path, role_play(root, PFS, **variables)).changed == 0
