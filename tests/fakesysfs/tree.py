"""Builds a fake host root: sysfs with SR-IOV PFs, procfs, boot loader files,
and (optionally) fake host tools under their real paths (usr/sbin/update-grub,
grubby, modprobe, driverctl, usr/bin/systemctl) that act on the fake root."""

import hashlib
import json
import os
import shlex
import stat
import sys

from tests.fakesysfs.kernel import MARKER, Kernel
from tests.fakesysfs.profiles import CPU_VENDORS, PROFILES, driver_table

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KERNEL_RELEASE = "6.1.0-18-amd64"
BASE_CMDLINE = "BOOT_IMAGE=/boot/vmlinuz-%s root=UUID=4f1c2d3e-0000-4000-8000-000000000001 ro quiet" % KERNEL_RELEASE
TOOLS = {
    "update-grub": "usr/sbin/update-grub",
    "grubby": "usr/sbin/grubby",
    "modprobe": "usr/sbin/modprobe",
    "driverctl": "usr/sbin/driverctl",
    "systemctl": "usr/bin/systemctl",
    "reboot": "usr/sbin/reboot",
    "udevadm": "usr/bin/udevadm",
}


def iommu_args(cpu):
    return ["intel_iommu=on", "iommu=pt"] if cpu == "intel" else ["iommu=pt"]


def build_host(root, nics=(("e810", "0000:3b:00"),), cpu="intel", iommu=True, firmware_iommu=True,
               vfio_loaded=True, vfio_installed=True, vf_drivers_loaded=True, distro="debian", tools=False,
               extra_netdevs=True, enomem_above=None, driverctl=False, pfs_down=False, busy=None,
               host_network="eno1"):
    """Create the tree; returns a dict describing it (PF names and addresses).

    ``pfs_down``: the SR-IOV PFs are administratively down (a dedicated PF without a NetworkManager profile);
    ``busy``: {pf address: ("EBUSY" | "EAGAIN", n)}, the PF driver refuses the next n 0 -> M VF counts;
    ``host_network``: the netdev with the node's addresses and default routes (the on-board eno1 by default;
    None for none)."""
    root = os.path.abspath(root)
    os.makedirs(os.path.join(root, MARKER), exist_ok=True)
    state = {"iommu": bool(iommu), "firmware_iommu": bool(firmware_iommu), "cpu": cpu,
             "drivers": driver_table(), "next_iommu_group": 10, "vfinfo": {}, "enomem_above": enomem_above,
             "distro": distro, "vfio_installed": bool(vfio_installed), "admin_down": [],
             "busy": {pf: {"errno": code, "count": count} for pf, (code, count) in (busy or {}).items()}}
    kernel = Kernel(root)
    with open(kernel.state_file, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    put = Kernel.put

    # procfs
    cmdline = BASE_CMDLINE + ("" if not iommu else " " + " ".join(iommu_args(cpu)))
    put(os.path.join(root, "proc/cmdline"), cmdline + "\n")
    vendor = CPU_VENDORS[cpu]
    put(os.path.join(root, "proc/cpuinfo"), "".join(
        "processor\t: %d\nvendor_id\t: %s\ncpu family\t: 6\nmodel name\t: fake %s CPU\n\n" % (n, vendor, cpu)
        for n in range(2)))
    put(os.path.join(root, "proc/sys/kernel/osrelease"), KERNEL_RELEASE + "\n")
    put(os.path.join(root, "proc/sys/kernel/random/boot_id"), "00000000-0000-4000-8000-000000000000\n")
    modules = os.path.join(root, "lib/modules", KERNEL_RELEASE)
    dep = "kernel/drivers/net/ethernet/intel/ice/ice.ko:\nkernel/drivers/net/ethernet/intel/iavf/iavf.ko:\n"
    if vfio_installed:
        dep += ("kernel/drivers/vfio/pci/vfio-pci.ko: kernel/drivers/vfio/pci/vfio-pci-core.ko "
                "kernel/drivers/vfio/vfio.ko\n")
    put(os.path.join(modules, "modules.dep"), dep)
    put(os.path.join(modules, "modules.builtin"), "kernel/drivers/pci/pci-stub.ko\n")

    # sysfs skeleton
    for directory in ("sys/bus/pci/devices", "sys/bus/pci/drivers", "sys/class/net", "sys/kernel/iommu_groups",
                      "sys/module"):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    put(os.path.join(root, "sys/bus/pci/drivers_probe"), "")
    put(os.path.join(root, "sys/bus/pci/drivers_autoprobe"), "1\n")

    info = {"root": root, "pfs": []}
    pf_drivers, vf_drivers = set(), set()
    for profile_name, slot in nics:
        pf_drivers.add(PROFILES[profile_name]["pf_driver"])
        vf_drivers.add(PROFILES[profile_name]["vf_driver"])
    for driver in sorted(pf_drivers):
        kernel.load_driver(driver)
    if vf_drivers_loaded:
        for driver in sorted(vf_drivers):
            kernel.load_driver(driver)
    if vfio_loaded:
        kernel.load_driver("vfio-pci")

    parent = "pci0000:00/0000:00:02.0"
    for profile_name, slot in nics:
        profile = PROFILES[profile_name]
        for port in range(profile["ports"]):
            address = "%s.%d" % (slot, port)
            offset = profile["offset"] + port * (profile["totalvfs"] - 1)
            kernel.add_device(address, parent, {
                "vendor": "0x" + profile["vendor"], "device": "0x" + profile["device"], "class": profile["class"],
                "sriov_totalvfs": profile["totalvfs"], "sriov_numvfs": 0, "sriov_offset": offset,
                "sriov_stride": profile["stride"], "sriov_vf_device": profile["vf_device"],
                "sriov_drivers_autoprobe": 1, "numa_node": 0})
            if iommu:
                kernel.add_iommu_group(address, state)
            kernel.bind(address, profile["pf_driver"], state)
            name = profile["ifname"].format(port)
            kernel.add_netdev(address, name, profile["mac"] % port)
            if pfs_down:
                state["admin_down"].append(name)
            info["pfs"].append({"name": name, "pci": address, "profile": profile_name,
                                "totalvfs": profile["totalvfs"], "vf_driver": profile["vf_driver"],
                                "vendor": profile["vendor"], "vf_device": profile["vf_device"]})
    if extra_netdevs:
        # an on-board NIC without SR-IOV, for "not SR-IOV capable" cases
        kernel.add_device("0000:02:00.0", parent, {"vendor": "0x8086", "device": "0x1521", "class": "0x020000",
                                                   "numa_node": 0})
        kernel.load_driver("igb")
        kernel.bind("0000:02:00.0", "igb", state)
        kernel.add_netdev("0000:02:00.0", "eno1", "ac:1f:6b:00:00:01")
        if iommu:
            kernel.add_iommu_group("0000:02:00.0", state)
    kernel.save(state)
    if host_network and (host_network != "eno1" or extra_netdevs):
        net = kernel.netconf()
        net.add_address(host_network, "192.0.2.10/24")
        net.add_address(host_network, "2001:db8::10/64")
        net.add_route("default", host_network, gateway="192.0.2.1")
        net.add_route("default", host_network, gateway="2001:db8::1")

    # /etc and /boot of the distribution
    os.makedirs(os.path.join(root, "etc/modules-load.d"), exist_ok=True)
    os.makedirs(os.path.join(root, "etc/udev/rules.d"), exist_ok=True)
    os.makedirs(os.path.join(root, "etc/systemd/system/multi-user.target.wants"), exist_ok=True)
    put(os.path.join(root, "etc/hostname"), "node01\n")
    grub_args = " ".join(iommu_args(cpu)) if iommu else ""
    if distro == "debian":
        put(os.path.join(root, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\n')
        put(os.path.join(root, "etc/default/grub"), (
            "# If you change this file, run 'update-grub' afterwards to update\n"
            "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n"
            "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n"
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"
            "GRUB_CMDLINE_LINUX=\"%s\"\n" % grub_args))
        os.makedirs(os.path.join(root, "boot/grub"), exist_ok=True)
        # the installed system's generated configuration agrees with /etc/default/grub
        from tests.fakesysfs.commands import write_grub_cfg  # pylint: disable=import-outside-toplevel
        write_grub_cfg(root)
    elif distro == "rhel":
        put(os.path.join(root, "etc/os-release"), 'ID="rhel"\nVERSION_ID="9.4"\n')
        put(os.path.join(root, "etc/default/grub"), (
            "GRUB_TIMEOUT=5\nGRUB_DEFAULT=saved\nGRUB_ENABLE_BLSCFG=true\n"
            "GRUB_CMDLINE_LINUX=\"crashkernel=1G-4G:192M rhgb quiet\"\n"))
        put(os.path.join(root, MARKER, "grubby.json"), json.dumps({"kernels": [{
            "index": 0, "kernel": "/boot/vmlinuz-%s" % KERNEL_RELEASE,
            "args": "ro crashkernel=1G-4G:192M rhgb quiet" + (" " + grub_args if grub_args else ""),
            "root": "UUID=4f1c2d3e-0000-4000-8000-000000000001"}]}))
    if tools:
        install_tools(root, distro=distro, driverctl=driverctl)
    return info


def install_tools(root, distro="debian", driverctl=False):
    """Fake host tools at their real paths under ``root``: shell wrappers
    running ``python -m tests.fakesysfs cmd <tool> --root <root>``."""
    names = ["modprobe", "systemctl", "reboot", "udevadm"]
    names.append("update-grub" if distro == "debian" else "grubby")
    if driverctl:
        names.append("driverctl")
    for name in names:
        path = os.path.join(root, TOOLS[name])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("#!/bin/sh\nPYTHONPATH=%s exec %s -m tests.fakesysfs cmd --root %s %s -- \"$@\"\n" % (
                shlex.quote(REPO), shlex.quote(sys.executable), shlex.quote(root), name))
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def snapshot(root, skip=(os.path.join(MARKER, "writes.log"), os.path.join(MARKER, "commands.log"))):
    """{relative path: digest} of every file, link and directory: equal snapshots = nothing written."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel in skip:
                continue
            if os.path.islink(path):
                out[rel] = "link:" + os.readlink(path)
            elif os.path.isdir(path):
                out[rel] = "dir"
            else:
                with open(path, "rb") as handle:
                    out[rel] = "file:%o:%s" % (os.stat(path).st_mode & 0o7777,
                                               hashlib.sha256(handle.read()).hexdigest())
    return out
