"""The vfio_sriov module in-process: arguments, problems before any write,
check mode, --diff, idempotency and the failure message.  The simulated
kernel sits behind sriov_sysfs.Host through the same hook the subprocess
tests use (tests/fakesysfs/hook.py)."""

import errno

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubevirt_net.core.plugins.module_utils import sriov_sysfs
from ansible_collections.kubevirt_net.core.plugins.modules import vfio_sriov
from tests.fakesysfs import Kernel, build_host, snapshot
from tests.fakesysfs.hook import patch


class Exit(Exception):
    def __init__(self, result, failed):
        super().__init__(result.get("msg"))
        self.result = result
        self.failed = failed


@pytest.fixture(autouse=True)
def simulated_kernel(monkeypatch):
    patch(sriov_sysfs)

    def exit_json(_module, **result):
        raise Exit(result, False)

    def fail_json(_module, **result):
        raise Exit(result, True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


@pytest.fixture
def root(tmp_path):
    build_host(str(tmp_path))
    return tmp_path


def run(root, check=False, diff=False, **args):
    args.setdefault("sysfs_root", str(root))
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    with patch_module_args(args):
        with pytest.raises(Exit) as caught:
            vfio_sriov.main()
    return caught.value


def ok(root, **args):
    outcome = run(root, **args)
    assert not outcome.failed, outcome.result.get("msg")
    return outcome.result


def failed(root, **args):
    outcome = run(root, **args)
    assert outcome.failed, outcome.result
    return outcome.result


def test_create_then_nothing_to_do(root):
    result = ok(root, pf="ens1f0", num_vfs=4)
    assert result["changed"] and result["sysfs_writes"] == 10
    assert result["pf"]["numvfs"] == 4 and result["pf"]["vf_device_id"] == "1889"
    assert [v["driver"] for v in result["vfs"]] == ["vfio-pci"] * 4
    assert result["host"]["iommu_active"] and result["host"]["kernel_args_missing"] == []
    before = snapshot(str(root))
    again = ok(root, pf="ens1f0", num_vfs=4)
    assert again["changed"] is False and again["changed_steps"] == [] and again["sysfs_writes"] == 0
    assert snapshot(str(root)) == before


def test_check_mode_and_diff_show_the_transition_through_zero(root):
    ok(root, pf="ens1f0", num_vfs=4)
    before, mark = snapshot(str(root)), len(Kernel(str(root)).writes())
    result = ok(root, pf="ens1f0", num_vfs=2, driver="vfio-pci", check=True, diff=True)
    assert result["changed"] and result["sysfs_writes"] == 0
    assert snapshot(str(root)) == before and Kernel(str(root)).writes()[mark:] == []
    assert result["pf"]["numvfs"] == 2
    after = result["diff"]["after"]
    assert "sriov_numvfs: 2\n" in after and "sriov_numvfs: 4\n" in result["diff"]["before"]
    assert "# sriov_numvfs 4 -> 0 (the kernel refuses a change between two non-zero counts with EBUSY" in after
    assert "# sriov_numvfs 0 -> 2" in after


def test_check_mode_predicts_vf_addresses_and_drivers(root):
    result = ok(root, pf="ens1f1", num_vfs=2, check=True)
    expected = [("0000:3b:12.0", "vfio-pci"), ("0000:3b:12.1", "vfio-pci")]
    assert [(v["pci"], v["driver"]) for v in result["vfs"]] == expected
    real = ok(root, pf="ens1f1", num_vfs=2)
    assert [v["pci"] for v in real["vfs"]] == ["0000:3b:12.0", "0000:3b:12.1"]


def test_bad_inputs_fail_before_any_write_naming_the_fix(root):
    before = snapshot(str(root))
    result = failed(root, pf="ens7", num_vfs=2)
    assert "nothing was changed" in result["msg"] and "unknown PF 'ens7'" in result["msg"]
    assert "ens1f0 (0000:3b:00.0, up to 128 VFs)" in result["msg"]
    result = failed(root, pf="ens1f0", num_vfs=200)
    assert "200 is more than the PF supports (sriov_totalvfs=128): use at most 128" in result["msg"]
    result = failed(root, pf="ens1f0", num_vfs=2, vfs=[{"index": 2, "mac": "zz"}])
    assert len(result["problems"]) == 2
    assert snapshot(str(root)) == before


def test_iommu_off_fails_before_changes(tmp_path):
    build_host(str(tmp_path), iommu=False, cpu="amd")
    before = snapshot(str(tmp_path))
    result = failed(tmp_path, pf="ens1f0", num_vfs=2)
    assert "add the kernel arguments 'iommu=pt' (AuthenticAMD)" in result["msg"]
    assert result["host"]["kernel_args_missing"] == ["iommu=pt"]
    assert snapshot(str(tmp_path)) == before
    assert ok(tmp_path, pf="ens1f0", num_vfs=2, driver="kernel")["changed"]


def test_argument_spec(root):
    assert "one of the following is required: pf, pf_pci_address" in failed(root, num_vfs=1)["msg"]
    assert "mutually exclusive" in failed(root, pf="ens1f0", pf_pci_address="3b:00.0", num_vfs=1)["msg"]
    assert "num_vfs" in failed(root, pf="ens1f0")["msg"]


def test_gathered_reads_only(root):
    ok(root, pf="ens1f0", num_vfs=2)
    before = snapshot(str(root))
    result = ok(root, pf_pci_address="3b:00.0", state="gathered")
    assert result["changed"] is False and result["pf"]["name"] == "ens1f0"
    assert [v["pci"] for v in result["vfs"]] == ["0000:3b:02.0", "0000:3b:02.1"]
    assert result["vfs"][0]["mac"] == "00:00:00:00:00:00" and result["vfs"][0]["vlan"] == 0
    assert snapshot(str(root)) == before


def test_absent(root):
    ok(root, pf="ens1f0", num_vfs=2)
    result = ok(root, pf="ens1f0", state="absent", diff=True)
    assert result["changed"] and result["pf"]["numvfs"] == 0 and result["vfs"] == []
    assert result["pf"]["drivers_autoprobe"] == 1
    assert ok(root, pf="ens1f0", state="absent")["changed"] is False


def test_a_failure_reports_steps_done_and_the_state_left(root, monkeypatch):
    original = Kernel.write
    calls = {"bind": 0}

    def flaky(self, path, data):
        if path.endswith("vfio-pci/bind"):
            calls["bind"] += 1
            if calls["bind"] == 2:
                raise OSError(errno.EIO, "Input/output error")
        return original(self, path, data)

    monkeypatch.setattr(Kernel, "write", flaky)
    result = failed(root, pf="ens1f0", num_vfs=3)
    msg = result["msg"]
    assert msg.startswith("PF ens1f0: writing '0000:3b:02.1' to /sys/bus/pci/drivers/vfio-pci/bind failed: "
                          "Input/output error")
    assert "The host is left in this state: PF 0000:3b:00.0 (ens1f0): sriov_numvfs=3 (wanted 3)" in msg
    assert "VF1 0000:3b:02.1 on no driver (driver_override=vfio-pci)" in msg
    assert "Steps completed before the failure: sriov_drivers_autoprobe 1 -> 0" in msg
    assert result["changed"] is True and result["failed_step"].startswith("VF1 0000:3b:02.1")
    monkeypatch.setattr(Kernel, "write", original)
    rerun = ok(root, pf="ens1f0", num_vfs=3)
    assert [step.split(":")[0] for step in rerun["changed_steps"]] == ["VF1 0000", "VF2 0000"]


def test_check_mode_reports_a_teardown_and_what_blocks_it(root):
    ok(root, pf="ens1f0", num_vfs=2)
    Kernel(str(root)).open_vfio("0000:3b:02.1")
    before = snapshot(str(root))
    planned = ok(root, pf="ens1f0", num_vfs=3, check=True)
    assert planned["changed"] and planned["teardown"] is True
    assert [b.split(":")[0] for b in planned["teardown_blockers"]] == ["VF1 0000"]
    refused = failed(root, pf="ens1f0", num_vfs=3)
    assert "destroys every VF" in refused["msg"] and "force=true" in refused["msg"]
    assert refused["sysfs_writes"] == 0 and refused["changed"] is False
    assert snapshot(str(root)) == before
    same = ok(root, pf="ens1f0", num_vfs=2, check=True)
    assert same["teardown"] is False and same["teardown_blockers"] == []


# ---------------------------------------------------------------------------- the PF with the host's network
@pytest.mark.parametrize("via", ["pf", "bond", "vlan"])
def test_a_count_change_on_the_pf_with_the_hosts_network_fails_before_any_write(tmp_path, via):
    build_host(str(tmp_path), nics=(("x710", "0000:3b:00"),), host_network=None)
    net = Kernel(str(tmp_path)).netconf()
    carrier = {"pf": "ens2f0", "bond": "bond0", "vlan": "ens2f0.100"}[via]
    if via == "bond":
        net.add_virtual("bond0", "bond")
        net.set_master("ens2f0", "bond0")
    if via == "vlan":
        net.add_virtual("ens2f0.100", "vlan", link="ens2f0")
    net.add_address(carrier, "192.0.2.10/24")
    net.add_route("default", carrier, gateway="192.0.2.1")
    before = snapshot(str(tmp_path))
    for check in (False, True):
        outcome = run(tmp_path, check=check, pf="ens2f0", num_vfs=4)
        assert outcome.failed and outcome.result["changed"] is False
        message = outcome.result["msg"]
        assert "PF ens2f0 (0000:3b:00.0) carries this host's network: address 192.0.2.10/24" in message
        assert "the default route via 192.0.2.1" in message and "allow_management_pf: true" in message
        assert (carrier == "ens2f0") == ("which ens2f0 is part of" not in message)
        assert outcome.result["problems"][0]["field"] == "num_vfs"
    # gathered with num_vfs (what the sriov_host role's preflight runs) fails the same way; without, it reads
    assert run(tmp_path, pf="ens2f0", num_vfs=4, state="gathered").failed
    assert not run(tmp_path, pf="ens2f0", state="gathered").failed
    assert snapshot(str(tmp_path)) == before
    # the other PF of the card carries nothing
    assert ok(tmp_path, pf="ens2f1", num_vfs=2, driver="kernel")["changed"]
    # allowed explicitly: created; no count change afterwards, nothing to refuse
    assert ok(tmp_path, pf="ens2f0", num_vfs=4, allow_management_pf=True)["changed"]
    assert ok(tmp_path, pf="ens2f0", num_vfs=4)["changed"] is False
    # removing the VFs is a count change too
    assert run(tmp_path, pf="ens2f0", state="absent").failed


def test_the_default_host_network_on_another_nic_is_no_problem(root):
    assert ok(root, pf="ens1f0", num_vfs=2)["changed"]
