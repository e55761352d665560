"""The sriov_host role on a fake host (tests/fakesysfs) for issue 24: a VF
teardown refused while a VM holds a VF, persistence without driverctl (with
a fake driverctl that behaves as the real one), the PF set up, a busy PF
driver retried, the boot unit retried, and GRUB regenerated even when an
earlier run died before doing it.  No cluster here: the drain itself is
tested against the lab in test_sriov_host_cluster.py."""

import json
import os
import subprocess

from ansible_collections.kubevirt_net.core.plugins.module_utils import sriov_sysfs as s
from tests.fakesysfs import Kernel, KernelRunner, KernelWriter, snapshot
from tests.fakesysfs.commands import commands, write_grub_cfg
from tests.fakesysfs.playbook import role_play, run_playbook

PF0, PF1 = "0000:3b:00.0", "0000:3b:00.1"
PFS = [
    {"name": "ens1f0", "num_vfs": 4, "resource_name": "intel_e810"},
    {"pci_address": PF1, "num_vfs": 2, "driver": "kernel", "resource_name": "intel-netdev"},
]
VF_TASK = "Create the VFs, pin their settings and bind them (vfio_sriov)"


def direct(root, **desired):
    """Configure a PF in-process (sriov_sysfs with the simulated kernel), to set a host up quickly."""
    kernel = Kernel(str(root))
    host = s.Host(str(root), writer=KernelWriter(kernel), runner=KernelRunner(kernel), write_timeout=0)
    return s.run_pf(host, s.Desired(**desired))


def drivers(root, pf):
    kernel = Kernel(str(root))
    base = root / "sys/bus/pci/devices" / pf
    return [kernel.driver_of(os.path.basename(os.readlink(base / e)))
            for e in sorted(os.listdir(base)) if e.startswith("virtfn")]


def sysfs(root):
    """The fake sysfs (the role's other files, e.g. /etc/modules-load.d, may change before the VF step)."""
    return {path: digest for path, digest in snapshot(str(root)).items() if path.startswith("sys/")}


def tool(root, *argv):
    return subprocess.run([str(root / "usr/sbin" / argv[0])] + list(argv[1:]), capture_output=True, text=True,
                          check=False)


# ---------------------------------------------------------------------------- the fake driverctl is the real one
def test_fake_driverctl_lists_sysfs_overrides_and_unbinds_on_set_override(fake_host, tmp_path):
    root = fake_host(driverctl=True)
    direct(root, pf="ens1f0", num_vfs=2)
    # list-overrides reads every device's sysfs driver_override (not /etc/driverctl.d) and prints the bound driver
    listed = tool(root, "driverctl", "list-overrides")
    assert listed.returncode == 0
    assert listed.stdout.splitlines() == ["0000:3b:02.0 vfio-pci", "0000:3b:02.1 vfio-pci"]
    assert not (root / "etc/driverctl.d").exists()
    # set-override unbinds first, even from the same driver: on a VF in use that is a teardown
    kernel = Kernel(str(root))
    mark = len(kernel.writes())
    assert tool(root, "driverctl", "set-override", "0000:3b:02.0", "vfio-pci").returncode == 0
    paths = [(w["path"], w["value"]) for w in kernel.writes()[mark:]]
    assert paths == [("/sys/bus/pci/drivers/vfio-pci/unbind", "0000:3b:02.0"),
                     ("/sys/bus/pci/devices/0000:3b:02.0/driver_override", "vfio-pci\n"),
                     ("/sys/bus/pci/drivers_probe", "0000:3b:02.0")]
    assert (root / "etc/driverctl.d/pci-0000:3b:02.0").read_text() == "vfio-pci\n"
    assert tool(root, "driverctl", "--nosave", "load-override", "0000:3b:02.1").returncode == 1  # nothing saved


# ---------------------------------------------------------------------------- item 1: VFs a VM holds
def test_role_refuses_to_destroy_vfs_a_vm_holds_and_force_hits_the_kernel_wait(fake_host, host_env, tmp_path):
    root = fake_host()
    direct(root, pf="ens1f0", num_vfs=4)
    direct(root, pf_pci_address=PF1, num_vfs=2, driver="kernel")
    kernel = Kernel(str(root))
    kernel.open_vfio("0000:3b:02.3")
    changed = [dict(PFS[0], num_vfs=2), PFS[1]]
    before, mark = sysfs(root), len(kernel.writes())
    refused = run_playbook(host_env, tmp_path, role_play(root, changed), expect_rc=2)
    [(task, message)] = refused.failures()
    assert task == VF_TASK
    assert "changing sriov_numvfs from 4 to 2 destroys every VF" in message
    assert "VF3 0000:3b:02.3 is in use: pid 4242 (qemu-kvm) holds /dev/vfio/" in message
    assert "Nothing was changed" in message
    # planned in check mode first: the plan saw the teardown and its blocker
    plan = refused.task("Plan the VF changes (check mode, nothing is written)")["results"][0]
    assert plan["teardown"] is True and len(plan["teardown_blockers"]) == 1
    assert kernel.writes()[mark:] == [] and sysfs(root) == before
    # force: the write to sriov_numvfs blocks in the kernel until QEMU lets go; the task gives up after
    # sriov_host_write_timeout and says to drain
    forced = run_playbook(host_env, tmp_path, role_play(root, changed, sriov_host_force=True, sriov_host_write_timeout=2),
                          expect_rc=2)
    [(task, message)] = forced.failures()
    assert task == VF_TASK and "did not return within 2s" in message and "drain the node" in message
    assert drivers(root, PF0) == ["vfio-pci"] * 4


# ---------------------------------------------------------------------------- items 3, 4 and 6 in one host's life
def test_role_persists_with_its_boot_unit_only_sets_the_pf_up_and_retries_a_busy_pf(fake_host, host_env, tmp_path):
    root = fake_host(driverctl=True, pfs_down=True, busy={PF0: ("EAGAIN", 1)})
    store = root / "etc/driverctl.d"
    store.mkdir(parents=True)
    # a stale override from earlier (VF0 of the kernel-driver PF on vfio-pci) and a user's own, unrelated one
    (store / "pci-0000:3b:12.0").write_text("vfio-pci\n")
    (store / "pci-0000:02:00.0").write_text("igb\n")

    first = run_playbook(host_env, tmp_path, role_play(root, PFS))
    assert [c for c in commands(str(root)) if c["command"] == "driverctl"] == []
    assert not (store / "pci-0000:3b:12.0").exists() and (store / "pci-0000:02:00.0").exists()
    assert drivers(root, PF0) == ["vfio-pci"] * 4 and drivers(root, PF1) == ["iavf"] * 2
    # item 6: i40e's EAGAIN on 0 -> 4 was retried; the unit is retried by systemd too
    numvfs = [w for w in Kernel(str(root)).writes() if w.get("path") == "/sys/bus/pci/devices/%s/sriov_numvfs" % PF0]
    assert [(w["value"], w.get("error")) for w in numvfs] == [("4\n", "EAGAIN"), ("4\n", None)]
    unit = (root / "etc/systemd/system/kubevirt-net-sriov.service").read_text()
    assert "Restart=on-failure" in unit and "StartLimitBurst=5" in unit and "StartLimitIntervalSec=600" in unit
    # item 4: both PFs have VFs, so both are up
    steps = [step for item in first.task(VF_TASK)["results"] for step in item["changed_steps"]]
    assert "PF ens1f0: ip link set up (VFs with link state auto follow the PF's link)" in steps
    kernel = Kernel(str(root))
    assert "UP" in json.loads(kernel.ip(["ip", "-j", "link", "show", "dev", "ens1f0"])[1])[0]["flags"]
    assert "ens1f1" not in kernel.load()["admin_down"]

    # after a reboot (PFs down again, VFs gone) the boot unit restores everything; driverctl's udev rule only
    # re-applies the user's own override
    subprocess.run([str(root / "usr/sbin/reboot")], check=True, capture_output=True)
    assert drivers(root, PF0) == ["vfio-pci"] * 4 and drivers(root, PF1) == ["iavf"] * 2
    assert Kernel(str(root)).load()["admin_down"] == []
    loads = [c["args"] for c in commands(str(root)) if c["command"] == "driverctl"]
    assert loads == [["--nosave", "load-override", "0000:02:00.0"]]
    again = run_playbook(host_env, tmp_path, role_play(root, PFS))
    assert again.changed == 0, [n for n, r in again.task_results() if r.get("changed")]


# ---------------------------------------------------------------------------- item 9: GRUB regeneration
def test_grub_is_regenerated_when_the_generated_config_lacks_the_arguments(fake_host, host_env, tmp_path):
    root = fake_host(iommu=False)
    # an earlier run wrote /etc/default/grub and died before update-grub ran
    grub = root / "etc/default/grub"
    grub.write_text(grub.read_text().replace('GRUB_CMDLINE_LINUX=""', 'GRUB_CMDLINE_LINUX="intel_iommu=on iommu=pt"'))
    cfg = root / "boot/grub/grub.cfg"
    assert "intel_iommu=on" not in cfg.read_text()
    first = run_playbook(host_env, tmp_path, role_play(root, PFS))
    assert first.task("Write GRUB_CMDLINE_LINUX").get("changed") is False
    assert [c["rc"] for c in commands(str(root)) if c["command"] == "update-grub"] == [0]
    assert "intel_iommu=on iommu=pt" in cfg.read_text()
    assert first.task("Reboot required")["msg"].startswith("node01 needs a reboot for the kernel arguments")
    # a failing update-grub fails the run, and the next run still regenerates
    grub.write_text(grub.read_text().replace('"intel_iommu=on iommu=pt"', '""'))
    write_grub_cfg(root)
    (root / ".fakesysfs/update-grub.fails").write_text("")
    failed = run_playbook(host_env, tmp_path, role_play(root, PFS), expect_rc=2)
    assert failed.failures()[0][0] == "Regenerate the boot loader configuration (update-grub)"
    os.unlink(root / ".fakesysfs/update-grub.fails")
    run_playbook(host_env, tmp_path, role_play(root, PFS))
    assert "intel_iommu=on iommu=pt" in cfg.read_text()
    assert [c["rc"] for c in commands(str(root)) if c["command"] == "update-grub"] == [0, 1, 0]
