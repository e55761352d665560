#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: vfio_sriov
short_description: SR-IOV virtual functions of one PF, bound to vfio-pci (for KubeVirt) or to their kernel driver
version_added: 0.1.0
author:
  - kubevirt_net.core maintainers (@kubevirt-net)
description:
  - Runs on the host (not the controller). Creates O(num_vfs) virtual functions on one SR-IOV physical function (PF)
    through sysfs, pins per-VF settings through the PF (C(ip link set <pf> vf N ...)) and binds every VF to
    C(vfio-pci) (what KubeVirt's C(sriov) interface binding needs) or to the VF's own kernel network driver.
  - Works on PCI addresses under C(/sys/bus/pci/devices/<pf>/); the netdev name in O(pf) is only a way to find the
    PF.
  - Follows the kernel's order. The PF must exist and be SR-IOV capable (C(sriov_totalvfs)); O(num_vfs) may not
    exceed C(sriov_totalvfs). With O(driver=vfio-pci) the IOMMU must be active (non-empty
    C(/sys/kernel/iommu_groups), an C(iommu_group) on the PF and on every VF) and C(vfio-pci) loaded; otherwise the
    task fails before any change and names the kernel arguments (C(intel_iommu=on iommu=pt) on Intel,
    C(iommu=pt) on AMD) or the C(modprobe vfio-pci) to add.
  - The kernel changes C(sriov_numvfs) only from or to 0 (a non-zero to non-zero write fails with EBUSY), so a
    changed count goes N -> 0 -> M. This destroys all existing VFs (and takes them away from VMs using them); the
    C(--diff) output and RV(changed_steps) say so, and RV(teardown) is true.
  - Before destroying VFs the module refuses, with nothing written, while any VF is held open through vfio (a
    process, such as a VM's QEMU, has C(/dev/vfio/<group>) or C(/dev/vfio/devices/vfioN) open, seen through
    C(/proc/<pid>/fd)) or is bound to a driver other than O(driver), unless O(force=true). Check mode reports them in
    RV(teardown_blockers) instead of failing. Drain the node first (the C(kubevirt_net.core.sriov_host) role does).
  - A VF count change enables or disables SR-IOV, and some PF drivers (i40e) reset the whole PF to do it. When the
    PF, or a bond, bridge or VLAN device on top of it, carries one of the host's addresses (global scope) or its
    default route (C(ip -j addr show), C(ip -j route show), C(ip -j -6 route show)), the task fails before any
    write, also in check mode and with O(state=gathered) when O(num_vfs) is given, naming what the PF carries,
    unless O(allow_management_pf=true).
  - When the PF driver is busy as the count goes from 0 to O(num_vfs) (ice returns EBUSY, i40e EAGAIN), the write is
    retried after 1, 2, 4, 8 and 16 seconds. After the write the module waits, at most O(wait_timeout) seconds, for
    the C(virtfnN) links. With VFs, a PF that is administratively down is set up (C(ip link set <pf> up)), because
    VFs with link state C(auto) follow the PF's link.
  - With O(driver=vfio-pci), C(sriov_drivers_autoprobe) is set to 0 before the VFs are created, so they appear
    without a driver (no VF netdev ever shows up for NetworkManager, no kernel-driver probe races the binding).
    Per-VF settings (O(vfs)) are then pinned through the PF while no userspace driver owns the VF, and every VF is
    bound the kernel's way - unbind from the current driver, write C(vfio-pci) to C(driver_override), write the
    address to C(/sys/bus/pci/drivers/vfio-pci/bind). The C(driver_override) is B(kept) (a later re-probe, for
    example by C(drivers_probe) or a driver reload, returns the VF to vfio-pci; the override disappears with the
    VF). With O(driver=kernel), C(sriov_drivers_autoprobe) is 1 when VFs are created; a VF on vfio-pci is unbound,
    its override cleared and the address written to C(/sys/bus/pci/drivers_probe).
  - Every result is read back (VF count, C(virtfnN) links, each VF's driver, the settings as C(ip -j link show)
    reports them). A host already in the wanted state gives C(changed=false) and no write to sysfs at all.
  - If a step fails half-way, the failure message lists the steps done and the host's state at that moment (VF
    count, each VF's driver and override); a re-run continues from there.
  - VFs do not survive a reboot; the C(kubevirt_net.core.sriov_host) role installs a systemd unit (ordered before
    kubelet) that re-applies this configuration at boot with the same code.
options:
  pf:
    description:
      - Network interface name of the PF (for example C(ens1f0)). Mutually exclusive with O(pf_pci_address).
    type: str
  pf_pci_address:
    description:
      - PCI address of the PF (C(0000:3b:00.0); C(3b:00.0) means domain 0000). Use it when the PF has no netdev or
        its name is not stable.
    type: str
  num_vfs:
    description:
      - How many VFs the PF should have, 0 to C(sriov_totalvfs). Required with O(state=present).
    type: int
  driver:
    description:
      - V(vfio-pci) binds every VF to vfio-pci (KubeVirt VMs with the C(sriov) binding; the SR-IOV device plugin's
        C(drivers) selector then says C(vfio-pci)).
      - V(kernel) leaves every VF on its own network driver (C(iavf), C(ixgbevf), C(mlx5_core), ...).
    type: str
    choices: [vfio-pci, kernel]
    default: vfio-pci
  vfs:
    description:
      - Per-VF settings, pinned through the PF with C(ip link set <pf> vf <index> ...). Only the settings given are
        managed. They are applied before a VF is bound to vfio-pci; on a VF that is already on vfio-pci they are
        applied in place, which some PF drivers do by resetting the VF (a VM using it sees a link flap).
      - Needs the PF's netdev and the C(ip) command (iproute2).
    type: list
    elements: dict
    suboptions:
      index:
        description: VF number, 0 to O(num_vfs) - 1.
        type: int
        required: true
      mac:
        description: Administrative MAC address (unicast, for example C(02:00:00:00:00:01)).
        type: str
      vlan:
        description: Port VLAN, 1-4095; 0 removes it.
        type: int
      qos:
        description: VLAN priority 0-7 (needs O(vfs[].vlan)).
        type: int
      trust:
        description: Trusted VF (may change its MAC, enable promiscuous mode).
        type: bool
      spoof_check:
        description: Drop frames whose source MAC is not the VF's.
        type: bool
      link_state:
        description: Link state of the VF.
        type: str
        choices: [auto, enable, disable]
      max_tx_rate:
        description: Maximum transmit rate in Mbps, 0 for no limit.
        type: int
  state:
    description:
      - V(present) makes the PF have O(num_vfs) VFs on O(driver).
      - V(absent) removes all VFs (C(sriov_numvfs=0); their overrides and settings go with them) and restores
        C(sriov_drivers_autoprobe=1).
      - V(gathered) only reads the PF, its VFs and the host's IOMMU facts; it checks O(num_vfs) against the PF when
        given, and never writes.
    type: str
    choices: [present, absent, gathered]
    default: present
  sysfs_root:
    description:
      - Directory that C(sys/), C(proc/) and C(lib/modules/) are read from and written to. V(/) on a real host;
        tests point it at a fake host tree.
    type: path
    default: /
  wait_timeout:
    description:
      - Seconds to wait for the kernel to show the result of a write (C(virtfnN) links, a driver binding); more
        than 0.
    type: int
    default: 60
  force:
    description:
      - Destroy existing VFs (a count change) even while a VF is held open through vfio or is bound to another
        driver. A write that removes a VF a VM still holds then blocks in the kernel until the VM lets go, at most
        O(write_timeout).
    type: bool
    default: false
  allow_management_pf:
    description:
      - Change the VF count even when the PF carries the host's own network (an address or the default route,
        directly or through a bond, bridge or VLAN on top of it). PF drivers such as i40e reset the PF when
        SR-IOV is enabled or disabled, so the host loses its network for a while; have an out-of-band console.
    type: bool
    default: false
  write_timeout:
    description:
      - Seconds a single sysfs write may block. Removing VFs that a VM still holds through vfio-pci blocks until
        the VM lets go; the task then fails telling to drain the node first. More than 0.
    type: int
    default: 120
notes:
  - Check mode writes nothing and reports the steps that would run; C(--diff) shows the PF's VFs and drivers
    before and after, with the steps (including the N -> 0 -> M transition) as comment lines.
  - Needs root on the host. Mellanox NICs also need SR-IOV enabled in the NIC firmware (C(mlxconfig SRIOV_EN=1
    NUM_OF_VFS=<n>)); that is outside this module.
seealso:
  - name: sriov_host role
    description: Host preparation (IOMMU kernel arguments, vfio-pci at boot, persistence, device plugin, NAD).
    link: https://example.invalid/kubevirt_net/core/docs/sriov.md
"""

EXAMPLES = r"""
- name: Eight VFs on ens1f0 for KubeVirt VMs (vfio-pci), VF 0 with a fixed MAC and VLAN
  kubevirt_net.core.vfio_sriov:
    pf: ens1f0
    num_vfs: 8
    driver: vfio-pci
    vfs:
      - index: 0
        mac: "02:00:00:00:01:00"
        vlan: 100
        spoof_check: true

- name: VFs for host networking, on their kernel driver, PF given by PCI address
  kubevirt_net.core.vfio_sriov:
    pf_pci_address: "0000:3b:00.1"
    num_vfs: 4
    driver: kernel

- name: What the PF looks like (read only)
  kubevirt_net.core.vfio_sriov:
    pf: ens1f0
    state: gathered
  register: pf_facts

- name: No VFs on ens1f0 any more
  kubevirt_net.core.vfio_sriov:
    pf: ens1f0
    state: absent
"""

RETURN = r"""
pf:
  description: The PF after the task (in check mode, with the VF count it would have).
  returned: success
  type: dict
  contains:
    name:
      description: Netdev name of the PF (null when it has none).
      type: str
      sample: ens1f0
    pci:
      description: PCI address.
      type: str
      sample: "0000:3b:00.0"
    vendor_id:
      description: PCI vendor id.
      type: str
      sample: "8086"
    device_id:
      description: PCI device id of the PF.
      type: str
      sample: "159b"
    vf_device_id:
      description: PCI device id of its VFs (C(sriov_vf_device)), what the device plugin's C(devices) selector needs.
      type: str
      sample: "1889"
    driver:
      description: Driver of the PF.
      type: str
      sample: ice
    totalvfs:
      description: C(sriov_totalvfs).
      type: int
      sample: 128
    numvfs:
      description: C(sriov_numvfs).
      type: int
      sample: 8
    drivers_autoprobe:
      description: C(sriov_drivers_autoprobe).
      type: int
      sample: 0
vfs:
  description: The VFs, by index (in check mode as they would be; addresses of VFs still to be created are computed
    from C(sriov_offset)/C(sriov_stride)).
  returned: success
  type: list
  elements: dict
  contains:
    index:
      description: VF number.
      type: int
      sample: 0
    pci:
      description: PCI address of the VF.
      type: str
      sample: "0000:3b:02.0"
    driver:
      description: Driver the VF is bound to (null when none).
      type: str
      sample: vfio-pci
    driver_override:
      description: The VF's C(driver_override) (null when unset).
      type: str
      sample: vfio-pci
    iommu_group:
      description: IOMMU group (C(/dev/vfio/<group>) for vfio-pci).
      type: str
      sample: "42"
    mac:
      description: Administrative MAC as C(ip -j link show) reports it (null when unknown).
      type: str
      sample: "02:00:00:00:01:00"
    vlan:
      description: Port VLAN (0 = none; null when unknown).
      type: int
      sample: 100
changed_steps:
  description: The steps done (in check mode, that would be done), in order.
  returned: always
  type: list
  elements: str
  sample:
    - "sriov_numvfs 4 -> 0 (the kernel refuses a change between two non-zero counts with EBUSY, ...)"
    - "sriov_numvfs 0 -> 8"
    - "VF0 0000:3b:02.0: no driver -> vfio-pci (driver_override=vfio-pci, bind)"
teardown:
  description: Whether the change destroys existing VFs (a non-zero VF count changes, through 0).
  returned: success and when refused
  type: bool
  sample: true
teardown_blockers:
  description: Why destroying the VFs is unsafe now (VFs held open through vfio, VFs on another driver); the task
    refuses the change while this is not empty, unless O(force=true).
  returned: success and when refused
  type: list
  elements: str
  sample: ["VF2 0000:3b:02.2 is in use: pid 4242 (qemu-kvm) holds /dev/vfio/42"]
host:
  description: IOMMU facts of the host.
  returned: always
  type: dict
  sample: {"cpu_vendor": "GenuineIntel", "iommu_active": true, "iommu_groups": 112,
           "kernel_args_wanted": ["intel_iommu=on", "iommu=pt"], "kernel_args_missing": [], "vfio_pci_loaded": true}
sysfs_writes:
  description: How many sysfs writes and C(ip link set) commands the task made (0 when nothing changed, and in
    check mode).
  returned: success
  type: int
  sample: 0
host_state:
  description: On failure, the PF's state after the failed step.
  returned: failure
  type: str
problems:
  description: On invalid input, one entry per problem (object, field, message); nothing was changed.
  returned: failure
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubevirt_net.core.plugins.module_utils import sriov_sysfs
from ansible_collections.kubevirt_net.core.plugins.module_utils.sriov_runner import run

VF_SPEC = dict(
    index=dict(type="int", required=True),
    mac=dict(type="str"),
    vlan=dict(type="int"),
    qos=dict(type="int"),
    trust=dict(type="bool"),
    spoof_check=dict(type="bool"),
    link_state=dict(type="str", choices=list(sriov_sysfs.LINK_STATES)),
    max_tx_rate=dict(type="int"),
)

ARG_SPEC = dict(
    pf=dict(type="str"),
    pf_pci_address=dict(type="str"),
    num_vfs=dict(type="int"),
    driver=dict(type="str", choices=[sriov_sysfs.VFIO, sriov_sysfs.KERNEL], default=sriov_sysfs.VFIO),
    vfs=dict(type="list", elements="dict", options=VF_SPEC),
    state=dict(type="str", choices=["present", "absent", "gathered"], default="present"),
    sysfs_root=dict(type="path", default="/"),
    wait_timeout=dict(type="int", default=60),
    write_timeout=dict(type="int", default=120),
    force=dict(type="bool", default=False),
    allow_management_pf=dict(type="bool", default=False),
)


def main():
    # a host module: no Kubernetes connection options (build_module adds those)
    run(AnsibleModule(
        argument_spec=ARG_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("pf", "pf_pci_address")],
        required_one_of=[("pf", "pf_pci_address")],
        required_if=[("state", "present", ("num_vfs",))],
    ))


if __name__ == "__main__":
    main()
