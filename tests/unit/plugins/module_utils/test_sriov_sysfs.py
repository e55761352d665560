"""sriov_sysfs against the plain-tree fake sysfs with the simulated kernel
behind its SysfsWriter (tests/fakesysfs): ordering, idempotency, check mode,
read-back, failures that leave a described state."""

import errno
import importlib.util
import itertools
import json
import os
import shutil
import threading

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import sriov_sysfs as s
from tests.fakesysfs import Kernel, KernelRunner, KernelWriter, build_host, snapshot
from tests.fakesysfs.commands import boot
from tests.fakesysfs.tree import REPO

PF0, PF1 = "0000:3b:00.0", "0000:3b:00.1"


class FakeClock:
    """A clock that moves on every reading, and a sleep that returns at once:
    bounded waits end deterministically without real time passing."""

    def __init__(self):
        self.now = itertools.count(0, 1.0)

    def __call__(self):
        return next(self.now)

    @staticmethod
    def sleep(_seconds):
        return None


def make_host(root, writer=None, wait_timeout=5.0, write_timeout=0):
    kernel = Kernel(root)
    clock = FakeClock()
    host = s.Host(str(root), writer=writer or KernelWriter(kernel), runner=KernelRunner(kernel),
                  write_timeout=write_timeout, wait_timeout=wait_timeout, clock=clock, sleep=clock.sleep)
    return host, kernel


@pytest.fixture
def fake(tmp_path):
    build_host(str(tmp_path))
    return tmp_path


def sysfs_writes(kernel, start=0):
    return [w for w in kernel.writes()[start:] if "path" in w]


def apply(host, **desired):
    return s.run_pf(host, s.Desired(**desired))


# ---------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize("given,wanted", [
    ("3b:00.0", "0000:3b:00.0"), ("0000:3B:00.1", "0000:3b:00.1"), ("0001:af:1f.7", "0001:af:1f.7"),
    ("3b:00.8", None), ("eth0", None), ("", None)])
def test_normalize_pci(given, wanted):
    assert s.normalize_pci(given) == wanted


def test_vf_addresses_follow_offset_and_stride_across_devices_and_buses():
    assert s.vf_address("0000:3b:00.0", 16, 1, 0) == "0000:3b:02.0"
    assert s.vf_address("0000:3b:00.0", 16, 1, 9) == "0000:3b:03.1"
    assert s.vf_address("0000:3b:00.1", 143, 1, 0) == "0000:3b:12.0"
    assert s.vf_address("0000:3b:00.0", 16, 1, 240) == "0000:3c:00.0"


def test_parse_vfinfo_reads_both_iproute2_forms():
    modern = {"vf": 0, "address": "02:00:00:00:00:01", "vlan_list": [{"vlan": 100, "qos": 3}],
              "rate": {"max_tx": 500, "min_tx": 0}, "spoofchk": True, "link_state": "auto", "trust": False}
    assert s.parse_vfinfo(modern) == {"mac": "02:00:00:00:00:01", "vlan": 100, "qos": 3, "spoof_check": True,
                                      "trust": False, "link_state": "auto", "max_tx_rate": 500}
    old = {"vf": 1, "mac": "02:AA:00:00:00:01", "vlan": 7, "tx_rate": 100, "spoofchk": False}
    parsed = s.parse_vfinfo(old)
    assert (parsed["mac"], parsed["vlan"], parsed["qos"], parsed["max_tx_rate"]) == ("02:aa:00:00:00:01", 7, 0, 100)
    assert parsed["trust"] is None  # not reported by the driver
    assert s.parse_vfinfo({"vf": 2, "address": "00:00:00:00:00:00", "vlan_list": [{}]})["vlan"] == 0


def test_ip_args_only_for_given_settings_that_differ():
    current = {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "spoof_check": True, "trust": False,
               "link_state": "auto", "max_tx_rate": 0}
    assert s.ip_args(current, {}) == []
    assert s.ip_args(current, {"spoof_check": True, "link_state": "auto"}) == []
    assert s.ip_args(current, {"mac": "02:00:00:00:00:01", "trust": True}) == \
        ["mac", "02:00:00:00:00:01", "trust", "on"]
    assert s.ip_args(current, {"qos": 2, "vlan": 5}) == ["vlan", "5", "qos", "2"]
    assert s.ip_args(dict(current, vlan=5, qos=2), {"vlan": 0}) == ["vlan", "0", "qos", "2"]
    assert s.ip_args(current, {"max_tx_rate": 1000, "link_state": "disable"}) == \
        ["state", "disable", "max_tx_rate", "1000"]


# ---------------------------------------------------------------------------- validation before any write
def problems_for(host, gathered=False, **desired):
    problems = s.LocalProblems()
    wanted = s.Desired(**desired)
    s.validate_input(wanted, problems)
    if not problems:
        s.validate_host(host, wanted, problems, gathered=gathered)
    return [p["field"] + ": " + p["message"] for p in problems.items]


def test_vf_macs_take_one_separator_throughout(fake):
    """'02-00-..' is normalised to colons; a mixed '02:00-..' is refused, not silently rewritten (issue 19)."""
    host, _kernel = make_host(fake)
    assert problems_for(host, pf="ens1f0", num_vfs=2, vfs=[{"index": 0, "mac": "02-00-00-00-00-0A"}]) == []
    found = problems_for(host, pf="ens1f0", num_vfs=2, vfs=[{"index": 0, "mac": "02:00-00:00:00:01"}])
    assert len(found) == 1 and found[0].startswith("vfs[index=0].mac: '02:00-00:00:00:01' is not a MAC address")


def test_input_problems_are_collected_and_name_the_fix(fake):
    host, _kernel = make_host(fake)
    found = problems_for(host, pf="ens1f0", num_vfs=2, vfs=[
        {"index": 2, "mac": "02:00:00:00:00:01"}, {"index": 0, "mac": "03:00:00:00:00:01", "vlan": 5000},
        {"index": 1, "qos": 3}, {"index": 1, "link_state": "up", "max_tx_rate": -1},
        {"index": 0, "trust": True}])
    text = "\n".join(found)
    assert "vfs[index=2].index: VF 2 does not exist with num_vfs=2: use 0 to 1" in text
    assert "vfs[index=0]: VF 0 is listed more than once" in text and "VF 1 is listed more than once" in text
    found = problems_for(host, pf="ens1f0", num_vfs=4, vfs=[
        {"index": 0, "mac": "03:00:00:00:00:01", "vlan": 5000},
        {"index": 1, "qos": 3}, {"index": 3, "link_state": "up", "max_tx_rate": -1}])
    text = "\n".join(found)
    assert "multicast" in text and "4095" in text
    assert "a VLAN priority needs a VLAN" in text
    assert "auto, enable or disable" in text and "negative" in text
    assert problems_for(host, pf="ens1f0/x", num_vfs=1)[0].startswith("pf: 'ens1f0/x' is not a network interface")
    assert "not a VF count" in problems_for(host, pf="ens1f0", num_vfs=-1)[0]


def test_unknown_pf_lists_the_pfs_the_host_has(fake):
    host, _kernel = make_host(fake)
    [problem] = problems_for(host, pf="ens9f0", num_vfs=1)
    assert "unknown PF 'ens9f0'" in problem
    assert "ens1f0 (0000:3b:00.0, up to 128 VFs)" in problem and "ens1f1 (0000:3b:00.1" in problem
    [problem] = problems_for(host, pf_pci_address="0000:99:00.0", num_vfs=1)
    assert "no PCI device with that address" in problem


def test_a_non_sriov_nic_and_a_vf_are_refused(fake):
    host, _kernel = make_host(fake)
    [problem] = problems_for(host, pf="eno1", num_vfs=1)
    assert "not SR-IOV capable" in problem and "firmware" in problem
    apply(host, pf="ens1f0", num_vfs=1)
    [problem] = problems_for(host, pf_pci_address="3b:02.0", num_vfs=1)
    assert "is a VF of PF 0000:3b:00.0" in problem


def test_more_vfs_than_totalvfs(tmp_path):
    build_host(str(tmp_path), nics=[("cx5", "0000:5e:00")])
    host, _kernel = make_host(tmp_path)
    [problem] = problems_for(host, pf="ens3f0np0", num_vfs=9)
    assert "9 is more than the PF supports (sriov_totalvfs=8): use at most 8" in problem
    assert "mlxconfig" in problem
    # gathered mode checks the count too, and nothing else
    assert problems_for(host, gathered=True, pf="ens3f0np0", num_vfs=9, state="gathered")


@pytest.mark.parametrize("cpu,args", [("intel", "intel_iommu=on iommu=pt"), ("amd", "iommu=pt")])
def test_iommu_off_names_the_kernel_arguments(tmp_path, cpu, args):
    build_host(str(tmp_path), cpu=cpu, iommu=False)
    host, _kernel = make_host(tmp_path)
    [problem] = problems_for(host, pf="ens1f0", num_vfs=2)
    assert "add the kernel arguments '%s'" % args in problem
    assert not problems_for(host, pf="ens1f0", num_vfs=2, driver="kernel")


def test_iommu_off_with_the_arguments_present_points_at_the_firmware(tmp_path):
    build_host(str(tmp_path), iommu=False)
    cmdline = tmp_path / "proc" / "cmdline"
    cmdline.write_text(cmdline.read_text().strip() + " intel_iommu=on iommu=pt\n")
    host, _kernel = make_host(tmp_path)
    [problem] = problems_for(host, pf="ens1f0", num_vfs=2)
    assert "enable VT-d in the firmware setup" in problem


def test_iommu_args_are_matched_word_by_word_not_by_substring(tmp_path):
    build_host(str(tmp_path), iommu=False)
    cmdline = tmp_path / "proc" / "cmdline"
    # "intel_iommu=onx" and "iommu=ptx" contain the wanted words as substrings, but are other words
    cmdline.write_text(cmdline.read_text().strip() + " intel_iommu=onx xiommu=pt\n")
    host, _kernel = make_host(tmp_path)
    assert host.facts()["kernel_args_missing"] == ["intel_iommu=on", "iommu=pt"]


def test_vfio_pci_not_loaded_says_modprobe(tmp_path):
    build_host(str(tmp_path), vfio_loaded=False)
    host, _kernel = make_host(tmp_path)
    [problem] = problems_for(host, pf="ens1f0", num_vfs=2)
    assert "run 'modprobe vfio-pci'" in problem and "module file is missing" not in problem
    build_host(str(tmp_path / "nomod"), vfio_loaded=False, vfio_installed=False)
    host, _kernel = make_host(tmp_path / "nomod")
    [problem] = problems_for(host, pf="ens1f0", num_vfs=2)
    assert "linux-modules-extra" in problem


# ---------------------------------------------------------------------------- the kernel's order
def test_vfio_vfs_are_created_and_bound_in_the_kernels_order(fake):
    host, kernel = make_host(fake)
    result = apply(host, pf="ens1f0", num_vfs=3, vfs=[{"index": 1, "mac": "02:00:00:00:01:01", "vlan": 10}])
    assert result["changed"]
    log = kernel.writes()
    paths = [w.get("path") or w.get("command") for w in log]
    autoprobe = paths.index("/sys/bus/pci/devices/%s/sriov_drivers_autoprobe" % PF0)
    numvfs = paths.index("/sys/bus/pci/devices/%s/sriov_numvfs" % PF0)
    assert autoprobe < numvfs and log[autoprobe]["value"] == "0\n" and log[numvfs]["value"] == "3\n"
    ip = paths.index("ip link set dev ens1f0 vf 1 mac 02:00:00:00:01:01 vlan 10")
    override = paths.index("/sys/bus/pci/devices/0000:3b:02.1/driver_override")
    bind = [i for i, w in enumerate(log) if w.get("path") == "/sys/bus/pci/drivers/vfio-pci/bind"
            and w["value"] == "0000:3b:02.1"][0]
    assert numvfs < ip < override < bind
    assert not any("error" in w for w in log)
    vfs = host.vfs(PF0)
    assert [(v["pci"], v["driver"], v["driver_override"]) for v in vfs] == [
        ("0000:3b:02.%d" % i, "vfio-pci", "vfio-pci") for i in range(3)]
    assert all(v["iommu_group"] for v in vfs)
    assert host.vf_settings("ens1f0")[1]["mac"] == "02:00:00:00:01:01"


def test_a_second_run_writes_nothing(fake):
    host, kernel = make_host(fake)
    wanted = dict(pf="ens1f0", num_vfs=4, vfs=[{"index": 0, "mac": "02:00:00:00:01:00", "spoof_check": False}])
    apply(host, **wanted)
    before, mark = snapshot(str(fake)), len(kernel.writes())
    host.writes = []
    result = apply(host, **wanted)
    assert not result["changed"] and result["steps"] == []
    assert host.writes == [] and kernel.writes()[mark:] == []
    assert snapshot(str(fake)) == before


def test_check_mode_plans_without_writing(fake):
    host, kernel = make_host(fake)
    apply(host, pf="ens1f0", num_vfs=4)
    before, mark = snapshot(str(fake)), len(kernel.writes())
    result = s.run_pf(host, s.Desired(pf="ens1f0", num_vfs=6), check_mode=True)
    assert result["changed"]
    assert result["steps"][0].startswith("sriov_numvfs 4 -> 0 (the kernel refuses a change between two non-zero "
                                         "counts with EBUSY")
    assert result["steps"][1] == "sriov_numvfs 0 -> 6"
    assert "VF5 0000:3b:02.5: no driver -> vfio-pci" in result["steps"][-1]
    assert kernel.writes()[mark:] == [] and snapshot(str(fake)) == before


def test_a_changed_count_goes_through_zero(fake):
    host, kernel = make_host(fake)
    apply(host, pf="ens1f0", num_vfs=4)
    mark = len(kernel.writes())
    result = apply(host, pf="ens1f0", num_vfs=2)
    numvfs = [w["value"] for w in sysfs_writes(kernel, mark) if w["path"].endswith("sriov_numvfs")]
    assert numvfs == ["0\n", "2\n"]
    assert "the 4 existing VFs are destroyed" in result["steps"][0]
    assert [v["driver"] for v in host.vfs(PF0)] == ["vfio-pci", "vfio-pci"]


def test_the_simulated_kernel_refuses_a_direct_change(fake):
    """The fake must be able to catch an ordering bug: a non-zero -> non-zero write is EBUSY."""
    _host, kernel = make_host(fake)
    path = str(fake / "sys/bus/pci/devices" / PF0 / "sriov_numvfs")
    kernel.write(path, "4\n")
    with pytest.raises(OSError) as caught:
        kernel.write(path, "2\n")
    assert caught.value.errno == errno.EBUSY
    with pytest.raises(OSError) as caught:
        kernel.write(path, "0\n") or kernel.write(path, "129\n")
    assert caught.value.errno == errno.ERANGE


def test_skipping_the_zero_step_would_fail_with_ebusy(fake, monkeypatch):
    """Mutation check: without the N -> 0 step the same run fails, naming EBUSY."""
    host, _kernel = make_host(fake)
    apply(host, pf="ens1f0", num_vfs=4)
    original = s.Reconciler.pf_actions

    def without_zero(self, pf):
        return [a for a in original(self, pf) if "-> 0 " not in a[0]]

    monkeypatch.setattr(s.Reconciler, "pf_actions", without_zero)
    with pytest.raises(s.SriovError) as caught:
        apply(host, pf="ens1f0", num_vfs=2)
    assert "Device or resource busy" in caught.value.message and "from or to 0" in caught.value.message
    assert "sriov_numvfs=4 (wanted 2)" in caught.value.state


def test_back_to_the_kernel_driver(fake):
    host, kernel = make_host(fake)
    apply(host, pf="ens1f0", num_vfs=2)
    assert host.pf(PF0)["drivers_autoprobe"] == 0
    mark = len(kernel.writes())
    result = apply(host, pf="ens1f0", num_vfs=2, driver="kernel")
    assert result["steps"][0].startswith("sriov_drivers_autoprobe 0 -> 1")
    writes = [(w["path"].rsplit("/", 2)[-2:], w["value"]) for w in sysfs_writes(kernel, mark)]
    assert writes[:4] == [(["0000:3b:00.0", "sriov_drivers_autoprobe"], "1\n"),
                          (["vfio-pci", "unbind"], "0000:3b:02.0"),
                          (["0000:3b:02.0", "driver_override"], "\n"),
                          (["pci", "drivers_probe"], "0000:3b:02.0")]
    assert [(v["driver"], v["driver_override"]) for v in host.vfs(PF0)] == [("iavf", None), ("iavf", None)]
    assert (fake / "sys/class/net/ens1f0v0").exists()


def test_kernel_vfs_without_their_driver_fail_naming_modprobe(tmp_path):
    build_host(str(tmp_path), vf_drivers_loaded=False)
    host, _kernel = make_host(tmp_path)
    with pytest.raises(s.SriovError) as caught:
        apply(host, pf="ens1f0", num_vfs=2, driver="kernel")
    assert "modprobe iavf" in caught.value.message
    assert "sriov_numvfs=2 (wanted 2)" in caught.value.state and "VF0 0000:3b:02.0 on no driver" in caught.value.state


def test_absent_removes_the_vfs_and_restores_autoprobe(fake):
    host, _kernel = make_host(fake)
    apply(host, pf="ens1f0", num_vfs=3)
    result = apply(host, pf="ens1f0", state="absent")
    assert result["steps"] == ["sriov_numvfs 3 -> 0 (the 3 VFs are destroyed)",
                               "sriov_drivers_autoprobe 0 -> 1 (the kernel default)"]
    assert host.pf(PF0)["numvfs"] == 0 and host.vfs(PF0) == []
    assert not (fake / "sys/bus/pci/devices/0000:3b:02.0").exists()
    assert apply(host, pf="ens1f0", state="absent")["changed"] is False


def test_enomem_names_pci_realloc(tmp_path):
    build_host(str(tmp_path), enomem_above=4)
    host, _kernel = make_host(tmp_path)
    with pytest.raises(s.SriovError) as caught:
        apply(host, pf="ens1f0", num_vfs=8)
    assert "pci=realloc" in caught.value.message
    assert caught.value.step == "sriov_numvfs 0 -> 8"
    assert "sriov_numvfs=0 (wanted 8), sriov_drivers_autoprobe=0" in caught.value.state


class FailingWriter(KernelWriter):
    """Fails the n-th write to a path ending in ``suffix`` with ``code``."""

    def __init__(self, kernel, suffix, nth, code=errno.EIO, swallow=False):
        super().__init__(kernel)
        self.suffix, self.nth, self.code, self.swallow = suffix, nth, code, swallow
        self.count = 0

    def write(self, path, value):
        if path.endswith(self.suffix):
            self.count += 1
            if self.count >= self.nth:
                if self.swallow:
                    return  # the write "succeeds" but the kernel does nothing
                raise OSError(self.code, "injected")
        super().write(path, value)


def test_a_failure_half_way_describes_the_state_left(fake):
    kernel = Kernel(str(fake))
    host, _kernel = make_host(fake, writer=FailingWriter(kernel, "vfio-pci/bind", 3))
    with pytest.raises(s.SriovError) as caught:
        apply(host, pf="ens1f0", num_vfs=4)
    err = caught.value
    assert err.step == "VF2 0000:3b:02.2: no driver -> vfio-pci (driver_override=vfio-pci, bind)"
    assert "sriov_numvfs=4 (wanted 4)" in err.state
    assert "VF0 0000:3b:02.0 on vfio-pci" in err.state and "VF1 0000:3b:02.1 on vfio-pci" in err.state
    assert "VF2 0000:3b:02.2 on no driver (driver_override=vfio-pci)" in err.state
    # a re-run continues from there
    host2, _kernel2 = make_host(fake)
    result = apply(host2, pf="ens1f0", num_vfs=4)
    assert [step.split(":")[0] for step in result["steps"]] == ["VF2 0000", "VF3 0000"]


def test_a_bind_that_does_not_happen_is_caught_by_reading_back(fake):
    kernel = Kernel(str(fake))
    host, _kernel = make_host(fake, writer=FailingWriter(kernel, "vfio-pci/bind", 1, swallow=True), wait_timeout=3)
    with pytest.raises(s.SriovError) as caught:
        apply(host, pf="ens1f0", num_vfs=1)
    assert "timed out after 3s waiting for 0000:3b:02.0 to be bound to vfio-pci" in caught.value.message


def test_virtfn_links_that_never_appear_end_a_bounded_wait(fake):
    kernel = Kernel(str(fake))
    host, _kernel = make_host(fake, writer=FailingWriter(kernel, "sriov_numvfs", 1, swallow=True), wait_timeout=2)
    with pytest.raises(s.SriovError) as caught:
        apply(host, pf="ens1f0", num_vfs=2)
    assert "timed out after 2s waiting for 2 virtfn links of 0000:3b:00.0" in caught.value.message


def test_a_write_that_blocks_fails_telling_to_drain(fake):
    host, kernel = make_host(fake)
    apply(host, pf="ens1f0", num_vfs=2)
    release = threading.Event()
    kernel.blockers["sriov_numvfs"] = release
    host.write_timeout = 0.05
    host.writer = KernelWriter(kernel)
    try:
        with pytest.raises(s.WriteTimeout) as caught:
            s.Reconciler(host, s.Desired(pf="ens1f0", num_vfs=4), PF0).apply()
    finally:
        release.set()
    assert "did not return within 0.05s" in caught.value.message and "drain the node" in caught.value.message


def test_vf_settings_are_pinned_and_read_back(fake):
    host, kernel = make_host(fake)
    wanted = [{"index": 0, "mac": "02:00:00:00:00:0a", "vlan": 20, "qos": 2, "trust": True, "spoof_check": False,
               "link_state": "enable", "max_tx_rate": 1000}]
    apply(host, pf="ens1f0", num_vfs=2, vfs=wanted)
    assert host.vf_settings("ens1f0")[0] == {"mac": "02:00:00:00:00:0a", "vlan": 20, "qos": 2, "spoof_check": False,
                                             "trust": True, "link_state": "enable", "max_tx_rate": 1000}
    mark = len(kernel.writes())
    result = apply(host, pf="ens1f0", num_vfs=2, vfs=[dict(wanted[0], vlan=21)])
    assert result["steps"] == ["VF0 0000:3b:02.0: ip link set ens1f0 vf 0 vlan 21 qos 2 (the VF is on vfio-pci: "
                               "the PF driver may reset it, a VM using it sees a link flap)"]
    assert [w["command"] for w in kernel.writes()[mark:]] == ["ip link set dev ens1f0 vf 0 vlan 21 qos 2"]


def test_mellanox_vfs_come_up_on_mlx5_core(tmp_path):
    build_host(str(tmp_path), nics=[("cx5", "0000:5e:00")])
    host, _kernel = make_host(tmp_path)
    apply(host, pf="ens3f1np1", num_vfs=8, driver="kernel")
    assert [v["driver"] for v in host.vfs("0000:5e:00.1")] == ["mlx5_core"] * 8
    apply(host, pf="ens3f1np1", num_vfs=8)
    assert [v["driver"] for v in host.vfs("0000:5e:00.1")] == ["vfio-pci"] * 8


# ---------------------------------------------------------------------------- the boot-time script
def load_boot_script(libexec):
    """The boot script installed as the role installs it: next to sriov_sysfs.py."""
    libexec.mkdir()
    shutil.copy(os.path.join(REPO, "roles", "sriov_host", "files", "kubevirt_net_sriov_boot.py"), libexec)
    shutil.copy(os.path.join(REPO, "plugins", "module_utils", "sriov_sysfs.py"), libexec)
    spec = importlib.util.spec_from_file_location("boot_script_under_test", libexec / "kubevirt_net_sriov_boot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_boot_script_recreates_vfs_after_a_reboot(fake, capsys):
    config = fake / "sriov.json"
    config.write_text(json.dumps({"pfs": [
        {"pci": PF0, "num_vfs": 2, "driver": "vfio-pci", "vfs": [{"index": 1, "mac": "02:00:00:00:00:02"}]},
        {"pci": PF1, "num_vfs": 1, "driver": "kernel"}]}))
    kernel = Kernel(str(fake))
    script = load_boot_script(fake / "libexec")

    def factory(root):
        return script.Host(root, writer=KernelWriter(kernel), runner=KernelRunner(kernel), write_timeout=0)

    assert script.main(["check", "--config", str(config), "--root", str(fake)], host_factory=factory) == 0
    assert "PF 0000:3b:00.0: would: sriov_numvfs 0 -> 2" in capsys.readouterr().out
    assert script.main(["apply", "--config", str(config), "--root", str(fake)], host_factory=factory) == 0
    host, _kernel = make_host(fake)
    assert [v["driver"] for v in host.vfs(PF0)] == ["vfio-pci", "vfio-pci"]
    assert host.vfs(PF1)[0]["driver"] == "iavf"
    (fake / "etc/modules-load.d/vfio-pci.conf").write_text("vfio-pci\n")
    boot(str(fake))  # VFs are gone after a reboot (no unit is installed here); vfio-pci is loaded again
    assert host.vfs(PF0) == [] and host.vfio_pci_loaded()
    assert script.main(["apply", "--config", str(config), "--root", str(fake)], host_factory=factory) == 0
    assert host.vf_settings("ens1f0")[1]["mac"] == "02:00:00:00:00:02"
    capsys.readouterr()
    assert script.main(["apply", "--config", str(config), "--root", str(fake)], host_factory=factory) == 0
    assert "already as configured (2 VFs, vfio-pci)" in capsys.readouterr().out


def test_the_boot_script_reports_a_failed_pf_and_goes_on(fake, capsys):
    config = fake / "sriov.json"
    config.write_text(json.dumps({"pfs": [{"pci": "0000:99:00.0", "num_vfs": 2},
                                          {"pci": PF1, "num_vfs": 1, "driver": "kernel"}]}))
    kernel = Kernel(str(fake))
    script = load_boot_script(fake / "libexec")

    def factory(root):
        return script.Host(root, writer=KernelWriter(kernel), runner=KernelRunner(kernel), write_timeout=0)

    assert script.main(["apply", "--config", str(config), "--root", str(fake)], host_factory=factory) == 1
    assert "unknown PF 0000:99:00.0" in capsys.readouterr().err
    assert make_host(fake)[0].pf(PF1)["numvfs"] == 1


# ---------------------------------------------------------------------------- issue 24: VFs in use, PF link, busy PF drivers
def test_a_teardown_is_refused_while_a_vm_holds_a_vf_open(fake):
    host, kernel = make_host(fake)
    apply(host, pf="ens1f0", num_vfs=4)
    kernel.open_vfio("0000:3b:02.2")
    group = host.vf(2, "0000:3b:02.2")["iommu_group"]
    before, mark = snapshot(str(fake)), len(kernel.writes())
    with pytest.raises(s.SriovError) as caught:
        apply(host, pf="ens1f0", num_vfs=2)
    message = caught.value.message
    assert "VF2 0000:3b:02.2 is in use: pid 4242 (qemu-kvm) holds /dev/vfio/%s" % group in message
    assert "Drain the node first" in message and "force: true" in message and "Nothing was changed" in message
    assert kernel.writes()[mark:] == [] and snapshot(str(fake)) == before
    # the same count (only per-VF settings) destroys nothing and is not refused
    assert apply(host, pf="ens1f0", num_vfs=4, vfs=[{"index": 0, "vlan": 5}])["changed"]


def test_a_teardown_is_refused_while_a_vf_is_on_another_driver(fake):
    host, kernel = make_host(fake)
    apply(host, pf="ens1f0", num_vfs=2, driver=s.KERNEL)
    mark = len(kernel.writes())
    with pytest.raises(s.SriovError) as caught:
        apply(host, pf="ens1f0", num_vfs=3, driver=s.VFIO)
    assert "VF0 0000:3b:02.0 is bound to iavf, not vfio-pci" in caught.value.message
    assert kernel.writes()[mark:] == []
    assert s.run_pf(host, s.Desired(pf="ens1f0", num_vfs=3), force=True)["changed"]
    assert [v["driver"] for v in host.vfs(PF0)] == ["vfio-pci"] * 3


def test_forcing_a_teardown_of_a_held_vf_blocks_in_the_kernel_until_qemu_lets_go(fake):
    host, kernel = make_host(fake)
    apply(host, pf="ens1f0", num_vfs=2)
    fd = kernel.open_vfio("0000:3b:02.0")
    host.write_timeout = 0.3
    with pytest.raises(s.WriteTimeout) as caught:
        s.run_pf(host, s.Desired(pf="ens1f0", num_vfs=3), force=True)
    assert "drain the node" in caught.value.message
    os.unlink(fd)  # QEMU closes the group: the blocked write completes
    host.write_timeout = 0
    deadline = 200
    while kernel.get(str(fake / "sys/bus/pci/devices" / PF0 / "sriov_numvfs")) != "0" and deadline:
        threading.Event().wait(0.05)
        deadline -= 1
    assert kernel.get(str(fake / "sys/bus/pci/devices" / PF0 / "sriov_numvfs")) == "0"


def test_the_pf_is_set_up_when_it_has_vfs(tmp_path):
    build_host(str(tmp_path), pfs_down=True)
    host, kernel = make_host(tmp_path)
    assert host.link_admin_up("ens1f0") is False
    planned = s.run_pf(host, s.Desired(pf="ens1f0", num_vfs=2), check_mode=True)
    assert "PF ens1f0: ip link set up (VFs with link state auto follow the PF's link)" in planned["steps"]
    assert kernel.writes() == []
    apply(host, pf="ens1f0", num_vfs=2)
    assert host.link_admin_up("ens1f0") is True
    assert "ip link set dev ens1f0 up" in [w.get("command") for w in kernel.writes()]
    # up already: nothing to do; no VFs: the PF is left alone
    assert apply(host, pf="ens1f0", num_vfs=2)["steps"] == []
    assert not any(step.startswith("PF ens1f1") for step in apply(host, pf="ens1f1", num_vfs=0)["steps"])
    assert host.link_admin_up("ens1f1") is False


@pytest.mark.parametrize("code", ["EBUSY", "EAGAIN"])
def test_a_busy_pf_driver_is_retried_with_backoff_from_zero(tmp_path, code):
    build_host(str(tmp_path), busy={PF0: (code, 2)})
    host, kernel = make_host(tmp_path)
    slept = []
    host.sleep = slept.append
    apply(host, pf="ens1f0", num_vfs=2)
    assert slept == [1, 2]
    numvfs = [w for w in kernel.writes() if w.get("path", "").endswith("sriov_numvfs")]
    assert [w.get("error") for w in numvfs] == [code, code, None]
    assert [v["driver"] for v in host.vfs(PF0)] == ["vfio-pci"] * 2


def test_a_pf_driver_that_stays_busy_fails_with_the_right_hint(tmp_path):
    build_host(str(tmp_path), busy={PF0: ("EBUSY", 99)})
    host, _kernel = make_host(tmp_path)
    host.sleep = lambda _s: None
    with pytest.raises(s.SriovError) as caught:
        apply(host, pf="ens1f0", num_vfs=2)
    assert "Device or resource busy (the PF driver is busy (ice: device not ready" in caught.value.message
    assert "already enabled" not in caught.value.message


def test_no_iommu_arguments_for_cpus_other_than_x86():
    assert s.kernel_args_for("GenuineIntel") == ["intel_iommu=on", "iommu=pt"]
    assert s.kernel_args_for("AuthenticAMD") == ["iommu=pt"]
    assert s.kernel_args_for(None) == [] and s.kernel_args_for("HygonGenuine") == []
