"""Bad input of vfio_sriov (a host module, run against a fake host root) and
of the sriov_host role's argument spec: each refused naming the field and the
fix, and nothing on the host written - the fake sysfs is byte-for-byte the
same afterwards and the simulated kernel logged no write (issue 19)."""

import pytest

from tests.fakesysfs import Kernel, build_host, snapshot
from tests.fakesysfs.playbook import playbook_env
from tests.integration.bad_input_cases import case, case_ids, playbook_runner, role_case, run_table

M = "vfio_sriov"
SR = "sriov_host"


def vfs(root, **more):
    return dict({"pf": "ens1f0", "num_vfs": 2, "sysfs_root": str(root)}, **more)


def vf(root, **settings):
    return vfs(root, vfs=[dict({"index": 0}, **settings)])


def cases(root):
    return [
        case("sr-pf-slash", M, vfs(root, pf="ens1/0"), "pf", "network interface name"),
        case("sr-pf-long", M, vfs(root, pf="enp0s31f6-physical"), "pf", "at most 15"),
        case("sr-pf-space", M, vfs(root, pf="ens 1"), "pf", "spaces"),
        case("sr-pf-missing", M, vfs(root, pf="ens9"), "ens9", "SR-IOV capable PFs"),
        case("sr-pci", M, vfs(root, pf=None, pf_pci_address="3b:00"), "pf_pci_address", "0000:3b:00.0"),
        case("sr-pf-and-pci", M, vfs(root, pf_pci_address="0000:3b:00.0"), "pf", "pf_pci_address"),
        case("sr-no-pf", M, vfs(root, pf=None), "pf", "pf_pci_address"),
        case("sr-num-missing", M, vfs(root, num_vfs=None), "num_vfs", "missing"),
        case("sr-num-negative", M, vfs(root, num_vfs=-1), "num_vfs", "integer from 0"),
        case("sr-num-total", M, vfs(root, num_vfs=4096), "num_vfs", "sriov_totalvfs"),
        case("sr-driver", M, vfs(root, driver="igb_uio"), "driver", "one of"),
        case("sr-vf-index", M, vf(root, index=5), "vfs[index=5].index", "0 to 1"),
        case("sr-vf-twice", M, vfs(root, vfs=[{"index": 0}, {"index": 0}]), "vfs[index=0]", "more than once"),
        case("sr-vf-mac", M, vf(root, mac="02:00-00:00:00:01"), "vfs[index=0].mac", "six hex pairs"),
        case("sr-vf-mac-multicast", M, vf(root, mac="01:00:5e:00:00:01"), "vfs[index=0].mac", "unicast"),
        case("sr-vf-vlan", M, vf(root, vlan=5000), "vfs[index=0].vlan", "4095"),
        case("sr-vf-qos", M, vf(root, vlan=10, qos=9), "vfs[index=0].qos", "0 to 7"),
        case("sr-vf-qos-no-vlan", M, vf(root, qos=3), "vfs[index=0].qos", "set vlan"),
        case("sr-vf-link", M, vf(root, link_state="up"), "link_state", "one of"),
        case("sr-vf-rate", M, vf(root, max_tx_rate=-1), "vfs[index=0].max_tx_rate", "0 for no limit"),
        case("sr-wait-timeout", M, vfs(root, wait_timeout=-5), "wait_timeout", "more than 0"),
        case("sr-write-timeout", M, vfs(root, write_timeout=0), "write_timeout", "more than 0"),
        case("sr-state", M, vfs(root, state="gone"), "state", "one of"),
        # the role's argument spec
        role_case("role-sr-pfs", SR, {"sriov_host_root": str(root), "sriov_host_pfs": "ens1f0:4"},
                  "sriov_host_pfs", "dict"),
        role_case("role-sr-vendor", SR, {"sriov_host_root": str(root), "sriov_host_iommu_vendor": "arm"},
                  "sriov_host_iommu_vendor", "one of"),
        role_case("role-sr-bootloader", SR, {"sriov_host_root": str(root), "sriov_host_bootloader": "lilo"},
                  "sriov_host_bootloader", "one of"),
        role_case("role-sr-timeout", SR, {"sriov_host_root": str(root), "sriov_host_reboot_timeout": "soon"},
                  "sriov_host_reboot_timeout", "int"),
        role_case("role-sr-persist", SR, {"sriov_host_root": str(root), "sriov_host_persist": "perhaps"},
                  "sriov_host_persist", "bool"),
    ]


class NoProxy:
    """vfio_sriov talks to no API server: the host tree is the log."""

    def mark(self):
        pass

    def entries(self):
        return []


@pytest.fixture(scope="module", name="host")
def host_fixture(tmp_path_factory):
    """The table run once against a fake host: (outcome, host tree before, host tree after, kernel writes)."""
    directory = tmp_path_factory.mktemp("bad-input-sriov")
    root = directory / "host"
    build_host(str(root))
    before = snapshot(str(root))
    outcome = run_table(playbook_runner(playbook_env(directory), str(directory)), NoProxy(), cases(root))
    return outcome, before, snapshot(str(root)), Kernel(str(root)).writes()


@pytest.mark.parametrize("case_id", case_ids(cases))
def test_vfio_sriov_and_role_bad_input(host, case_id):
    host[0].assert_case(case_id)


def test_vfio_sriov_and_role_bad_inputs_write_nothing(host):
    outcome, before, after, kernel_writes = host
    outcome.assert_table(25)
    assert after == before
    assert kernel_writes == []
