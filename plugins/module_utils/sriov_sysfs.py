# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""SR-IOV virtual functions on a Linux host, through sysfs, in the kernel's order.

Standard library only: the same file is the ``vfio_sriov`` module's logic and
the library of the boot-time script the ``sriov_host`` role installs next to
it (roles/sriov_host/files/kubevirt_net_sriov_boot.py), so VFs are re-created
after a reboot by exactly the code that created them.
That is also why this file stays whole although it is over the ~600 lines
other module_utils files keep to (docs/architecture.md): the role ships it as
the boot script's only import, so it cannot import a sibling file.

Everything is addressed by PCI address under ``<root>/sys/bus/pci/devices``;
a netdev name is only a way to find the PF.  Every write goes through one
``SysfsWriter`` (a single ``write(2)`` of the whole value, like ``echo``), and
every ``ip`` command through one ``CommandRunner``, so a test can put a
simulated kernel behind both.

The kernel's rules this code follows (drivers/pci/iov.c, pci-driver.c,
drivers/base/bus.c):

* ``sriov_numvfs`` only changes between zero and non-zero: a non-zero to
  non-zero write fails with EBUSY, above ``sriov_totalvfs`` with ERANGE, and
  without a PF driver with ENOENT.  A changed count therefore goes N -> 0 -> M,
  which destroys every existing VF.
* A VF is only probed when ``sriov_drivers_autoprobe`` of its PF is 1 or the VF
  has a ``driver_override``; vfio-pci binds only through ``driver_override``.
* Binding: unbind from the current driver, write the driver to
  ``driver_override``, write the address to ``drivers/<driver>/bind``.
  Returning to the kernel driver: unbind, clear ``driver_override``, write the
  address to ``drivers_probe``.
"""


import errno
import json
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union

if TYPE_CHECKING:  # for the type checker only: on the host the boot script imports this file alone
    from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

VFIO = "vfio-pci"
KERNEL = "kernel"
NULL_OVERRIDE = "(null)"
PCI_ADDRESS = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
NETDEV_NAME = re.compile(r"^[^/\s:]{1,15}$")
VIRTFN = re.compile(r"^virtfn(\d+)$")
VF_SETTINGS = ("mac", "vlan", "qos", "spoof_check", "trust", "link_state", "max_tx_rate")
LINK_STATES = ("auto", "enable", "disable")

# Kernel arguments that turn the IOMMU on in passthrough mode, per CPU vendor
# (sriov-network-operator addVfioDesiredKernelArg: AMD's IOMMU is on by default).
IOMMU_KERNEL_ARGS = {"GenuineIntel": ["intel_iommu=on", "iommu=pt"], "AuthenticAMD": ["iommu=pt"]}

ERRNO_HINTS = {
    "sriov_numvfs": {
        # drivers/pci/iov.c sriov_numvfs_store returns EBUSY for a non-zero -> non-zero change; the PF driver's
        # sriov_configure returns it too while busy (ice: "device not ready", e.g. during a reset;
        # ice_check_sriov_allowed in drivers/net/ethernet/intel/ice/ice_sriov.c)
        errno.EBUSY: "the PF driver is busy (ice: device not ready, e.g. during a reset), or the count was not 0 "
                     "(the kernel only changes sriov_numvfs from or to 0): wait for the PF and re-run",
        # i40e_pci_sriov_configure (drivers/net/ethernet/intel/i40e/i40e_virtchnl_pf.c): another VF operation
        # is pending
        errno.EAGAIN: "the PF driver is busy with another VF operation (i40e): wait and re-run",
        errno.ERANGE: "more VFs than sriov_totalvfs",
        errno.ENOENT: "the PF has no driver, or its driver cannot configure SR-IOV through sysfs: bind the PF "
                      "to its network driver",
        errno.ENOMEM: "the kernel could not assign PCI resources to the VFs: add the kernel argument "
                      "'pci=realloc' (sriov_host_extra_kernel_args) and reboot, or enable SR-IOV in the "
                      "firmware (Mellanox: mlxconfig SRIOV_EN=1 NUM_OF_VFS=<n>)",
        errno.EINVAL: "the value is not a number the kernel accepts",
    },
    "bind": {
        errno.ENODEV: "the driver does not accept the device (driver_override not set to it, or "
                      "sriov_drivers_autoprobe=0 without an override)",
        errno.EBUSY: "the device is already bound to a driver",
        errno.EINVAL: "vfio-pci refused the device: it has no IOMMU group (IOMMU off?)",
    },
    "unbind": {errno.ENODEV: "the device is not bound to that driver"},
}

T = TypeVar("T")
# One step of a plan: (description, the write that performs it; called without arguments, the lambdas
# bind their values as defaults)
Action = Tuple[str, Callable[..., None]]


class SriovError(Exception):
    """A failed step; ``state`` is filled with the host's state afterwards."""

    def __init__(self, message: str, step: Optional[str] = None, code: Optional[int] = None) -> None:
        super(SriovError, self).__init__(message)
        self.message = message
        self.step = step
        self.state: Optional[str] = None
        self.errno = code


class WriteTimeout(SriovError):
    pass


class SysfsWriter:
    """One write(2) of the whole value, as ``echo value > attribute`` does."""

    def write(self, path: str, value: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, value.encode("ascii"))
        finally:
            os.close(fd)


class CommandRunner:
    """Runs a command (``ip``); returns (rc, stdout, stderr).  The module runs
    commands through AnsibleModule.run_command, the boot script through
    subprocess; this base finds binaries and runs nothing."""

    def find(self, name: str) -> Optional[str]:
        paths = os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for directory in paths:
            candidate = os.path.join(directory, name)
            if directory and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None

    def run(self, argv: List[str]) -> Tuple[int, str, str]:
        return 127, "", "%s: no command runner configured" % argv[0]


def normalize_pci(address: Optional[str]) -> Optional[str]:
    """``3b:00.0`` or ``0000:3B:00.0`` -> ``0000:3b:00.0``; None when it is no PCI address."""
    match = PCI_ADDRESS.match(address or "")
    if not match:
        return None
    domain, bus, dev, func = match.groups()
    return "%s:%s:%s.%s" % ((domain or "0000").lower(), bus.lower(), dev.lower(), func)


def vf_address(pf_address: str, offset: int, stride: int, index: int) -> str:
    """The routing ID arithmetic of the SR-IOV capability (First VF Offset, VF Stride)."""
    domain, bus, devfn = pf_address[:4], int(pf_address[5:7], 16), pf_address[8:]
    dev, func = devfn.split(".")
    rid = (bus << 8) | (int(dev, 16) << 3) | int(func)
    rid += offset + stride * index
    return "%s:%02x:%02x.%d" % (domain, (rid >> 8) & 0xff, (rid >> 3) & 0x1f, rid & 0x7)


def kernel_args_for(cpu_vendor: Optional[str]) -> List[str]:
    """The x86 vendors' IOMMU arguments; none for other CPUs (aarch64 has no vendor_id in /proc/cpuinfo, and
    its SMMU is not switched on by these arguments)."""
    return list(IOMMU_KERNEL_ARGS.get(cpu_vendor or "", []))


class Host:
    """The host's sysfs and procfs below ``root``, read and written in one place."""

    def __init__(self, root: Optional[str] = "/", writer: Optional[SysfsWriter] = None,
                 runner: Optional[CommandRunner] = None, write_timeout: float = 120.0,
                 wait_timeout: float = 60.0, poll_interval: float = 0.05,
                 clock: Optional[Callable[[], float]] = None, sleep: Optional[Callable[[float], None]] = None) -> None:
        self.root = root or "/"
        self.writer = writer or SysfsWriter()
        self.runner = runner or CommandRunner()
        self.write_timeout = write_timeout
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self.writes: List[Dict[str, str]] = []
        # seconds between tries of a 0 -> M sriov_numvfs write that a busy PF driver refused
        self.busy_retry_delays = (1, 2, 4, 8, 16)

    # ------------------------------------------------------------ paths
    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *[part.lstrip("/") for part in parts])

    def dev(self, address: str, *parts: str) -> str:
        return self.path("sys/bus/pci/devices", address, *parts)

    def rel(self, path: str) -> str:
        """The path as the host sees it (``/sys/...``), for messages."""
        return "/" + os.path.relpath(path, self.root)

    # ------------------------------------------------------------ reads
    def read(self, path: str, default: Optional[str] = None) -> Optional[str]:
        try:
            with open(path, "r") as handle:
                return handle.read().strip()
        except (IOError, OSError):
            return default

    def read_int(self, path: str, default: Optional[int] = None) -> Optional[int]:
        value = self.read(path)
        if value is None:
            return default
        try:
            return int(value, 0)
        except (TypeError, ValueError):
            return default

    def link_name(self, path: str) -> Optional[str]:
        """basename of a symlink's target (``driver``, ``iommu_group``), None without one."""
        try:
            return os.path.basename(os.readlink(path))
        except (IOError, OSError):
            return None

    def listdir(self, path: str) -> List[str]:
        try:
            return sorted(os.listdir(path))
        except (IOError, OSError):
            return []

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    # ------------------------------------------------------------ writes
    def write(self, path: str, value: str) -> None:
        """Write and record one value; a write that blocks longer than
        write_timeout fails (kernel drivers can block on these writes)."""
        self.writes.append({"path": self.rel(path), "value": value})
        box: Dict[str, BaseException] = {}

        def target() -> None:
            try:
                self.writer.write(path, value)
            except BaseException as exc:  # pylint: disable=broad-except
                box["error"] = exc

        if not self.write_timeout:
            target()
        else:
            thread = threading.Thread(target=target, name="sysfs-write")
            thread.daemon = True
            thread.start()
            thread.join(self.write_timeout)
            if thread.is_alive():
                raise WriteTimeout("writing %r to %s did not return within %ss: the kernel is waiting for the "
                                   "device(s) to be released, usually a VM that uses a VF through vfio-pci; "
                                   "drain the node (pod selector kubevirt.io=virt-launcher) and re-run"
                                   % (value.strip(), self.rel(path), self.write_timeout))
        error = box.get("error")
        if error is not None:
            if isinstance(error, (IOError, OSError)):
                attribute = os.path.basename(path)
                hints = ERRNO_HINTS.get(attribute, {})
                hint = hints.get(error.errno) if error.errno is not None else None
                raise SriovError("writing %r to %s failed: %s%s" % (
                    value.strip(), self.rel(path), os.strerror(error.errno) if error.errno else error,
                    " (%s)" % hint if hint else ""), code=error.errno)
            raise error

    def wait_for(self, probe: Callable[[], T], what: str) -> T:
        """Poll ``probe`` until it returns a truthy value, at most wait_timeout seconds."""
        deadline = self.clock() + self.wait_timeout
        while True:
            value = probe()
            if value:
                return value
            if self.clock() >= deadline:
                raise SriovError("timed out after %ss waiting for %s" % (self.wait_timeout, what))
            self.sleep(self.poll_interval)

    # ------------------------------------------------------------ host facts
    def cpu_vendor(self) -> Optional[str]:
        for line in (self.read(self.path("proc/cpuinfo"), "") or "").splitlines():
            key, _sep, value = line.partition(":")
            if key.strip() == "vendor_id":
                return value.strip()
        return None

    def cmdline(self) -> List[str]:
        return (self.read(self.path("proc/cmdline"), "") or "").split()

    def iommu_groups(self) -> int:
        return len(self.listdir(self.path("sys/kernel/iommu_groups")))

    def vfio_pci_loaded(self) -> bool:
        return os.path.isdir(self.path("sys/bus/pci/drivers", VFIO))

    def vfio_pci_installed(self) -> Optional[bool]:
        """Whether modprobe could load vfio-pci (module file or built in)."""
        release = self.read(self.path("proc/sys/kernel/osrelease"))
        if not release:
            return None
        base = self.path("lib/modules", release)
        if "vfio-pci.ko" in (self.read(os.path.join(base, "modules.builtin"), "") or ""):
            return True
        return bool(re.search(r"(^|/)vfio-pci\.ko", self.read(os.path.join(base, "modules.dep"), "") or "",
                              re.M))

    def facts(self) -> Dict[str, Any]:
        vendor = self.cpu_vendor()
        wanted = kernel_args_for(vendor)
        cmdline = self.cmdline()
        return {
            "cpu_vendor": vendor,
            "iommu_groups": self.iommu_groups(),
            "iommu_active": self.iommu_groups() > 0,
            "kernel_args_wanted": wanted,
            "kernel_args_missing": [word for word in wanted if word not in cmdline],
            "vfio_pci_loaded": self.vfio_pci_loaded(),
        }

    # ------------------------------------------------------------ PCI devices
    def sriov_pfs(self) -> List[Tuple[str, List[str], int]]:
        """Every SR-IOV capable PF: [(address, [netdev names], totalvfs)]."""
        found = []
        for address in self.listdir(self.path("sys/bus/pci/devices")):
            total = self.read_int(self.dev(address, "sriov_totalvfs"))
            if total is not None:
                found.append((address, self.listdir(self.dev(address, "net")), total))
        return found

    def describe_pfs(self) -> str:
        pfs = self.sriov_pfs()
        if not pfs:
            return "this host has no SR-IOV capable PF (none under /sys/bus/pci/devices has sriov_totalvfs)"
        return "SR-IOV capable PFs on this host: %s" % ", ".join(
            "%s (%s, up to %d VFs)" % ("/".join(names) or "no netdev", address, total)
            for address, names, total in pfs)

    def resolve_pf(self, name: Optional[str] = None, address: Optional[str] = None) -> Tuple[Optional[str], Optional[str]]:
        """(pci address, problem): exactly one of them is None."""
        if name:
            link = self.path("sys/class/net", name, "device")
            if not self.exists(link):
                return None, "unknown PF %r: no network interface of that name; %s" % (name, self.describe_pfs())
            address = os.path.basename(os.path.realpath(link))
        else:
            wanted = normalize_pci(address)
            if wanted is None:
                return None, "%r is not a PCI address: use the form 0000:3b:00.0" % (address,)
            if not self.exists(self.dev(wanted)):
                return None, "unknown PF %s: no PCI device with that address; %s" % (wanted, self.describe_pfs())
            address = wanted
        label = name or address
        if self.exists(self.dev(address, "physfn")):
            parent = self.link_name(self.dev(address, "physfn"))
            return None, "%s (%s) is a VF of PF %s, not a PF: give the PF" % (label, address, parent)
        if not self.exists(self.dev(address, "sriov_totalvfs")):
            return None, ("%s (%s) is not SR-IOV capable (no sriov_totalvfs): enable SR-IOV (and VT-d/IOMMU) "
                          "in the firmware setup, for Mellanox also in the NIC firmware (mlxconfig SRIOV_EN=1); "
                          "%s" % (label, address, self.describe_pfs()))
        return address, None

    def pf(self, address: str) -> Dict[str, Any]:
        names = self.listdir(self.dev(address, "net"))
        vendor = (self.read(self.dev(address, "vendor")) or "").replace("0x", "")
        device = (self.read(self.dev(address, "device")) or "").replace("0x", "")
        vf_device = (self.read(self.dev(address, "sriov_vf_device")) or "").replace("0x", "") or None
        return {
            "pci": address,
            "name": names[0] if names else None,
            "vendor_id": vendor,
            "device_id": device,
            "vf_device_id": vf_device,
            "driver": self.link_name(self.dev(address, "driver")),
            "totalvfs": self.read_int(self.dev(address, "sriov_totalvfs"), 0),
            "numvfs": self.read_int(self.dev(address, "sriov_numvfs"), 0),
            "drivers_autoprobe": self.read_int(self.dev(address, "sriov_drivers_autoprobe"), 1),
            "iommu_group": self.link_name(self.dev(address, "iommu_group")),
            "offset": self.read_int(self.dev(address, "sriov_offset")),
            "stride": self.read_int(self.dev(address, "sriov_stride")),
        }

    def vf_links(self, address: str) -> Dict[int, str]:
        """{index: vf address} from the PF's virtfnN links."""
        links = {}
        for entry in self.listdir(self.dev(address)):
            match = VIRTFN.match(entry)
            if match:
                target = self.link_name(self.dev(address, entry))
                if target:
                    links[int(match.group(1))] = target
        return links

    def vf(self, index: int, address: str) -> Dict[str, Any]:
        override = self.read(self.dev(address, "driver_override"))
        return {
            "index": index,
            "pci": address,
            "driver": self.link_name(self.dev(address, "driver")),
            "driver_override": None if override in (None, "", NULL_OVERRIDE) else override,
            "iommu_group": self.link_name(self.dev(address, "iommu_group")),
            "device_id": (self.read(self.dev(address, "device")) or "").replace("0x", "") or None,
        }

    def vfs(self, address: str) -> List[Dict[str, Any]]:
        return [self.vf(index, vf) for index, vf in sorted(self.vf_links(address).items())]

    # ------------------------------------------------------------ ip link (VF settings through the PF)
    def ip_link_show(self, name: Optional[str]) -> Optional[List[Dict[str, Any]]]:
        """The JSON list ``ip -j link show dev <name>`` prints; None when unknown (no name, no netdev, no ``ip``)."""
        if not name:
            return None
        rc, out, _err = self.runner.run(["ip", "-j", "link", "show", "dev", name])
        if rc != 0:
            return None
        try:
            return json.loads(out or "[]")
        except ValueError:
            return None

    def vf_settings(self, pf_name: Optional[str]) -> Optional[Dict[int, Dict[str, Any]]]:
        """{index: settings} as ``ip -j link show`` reports them; None when unknown."""
        links = self.ip_link_show(pf_name)
        if links is None:
            return None
        settings = {}
        for link in links:
            for info in link.get("vfinfo_list") or []:
                settings[int(info.get("vf"))] = parse_vfinfo(info)
        return settings

    def ip_link_set_vf(self, pf_name: str, index: int, args: List[str]) -> None:
        argv = ["ip", "link", "set", "dev", pf_name, "vf", str(index)] + args
        self.writes.append({"command": " ".join(argv)})
        rc, out, err = self.runner.run(argv)
        if rc != 0:
            raise SriovError("'%s' failed (rc=%s): %s" % (" ".join(argv), rc, (err or out).strip()))

    def link_admin_up(self, name: Optional[str]) -> Optional[bool]:
        """Whether the netdev is administratively up (IFF_UP, the ``UP`` flag of ``ip -j link show``);
        None when unknown (no netdev or no ``ip``)."""
        links = self.ip_link_show(name)
        if links is None:
            return None
        return bool(links) and "UP" in (links[0].get("flags") or [])

    def link_set_up(self, name: str) -> None:
        argv = ["ip", "link", "set", "dev", name, "up"]
        self.writes.append({"command": " ".join(argv)})
        rc, out, err = self.runner.run(argv)
        if rc != 0:
            raise SriovError("'%s' failed (rc=%s): %s" % (" ".join(argv), rc, (err or out).strip()))

    def vfio_holders(self, vf: Dict[str, Any]) -> List[str]:
        """Processes that hold the VF open through vfio: ["pid 4242 (qemu-kvm) holds /dev/vfio/42", ...].

        A VM's QEMU opens the VF's IOMMU group (/dev/vfio/<group>, drivers/vfio/group.c) or, with iommufd,
        its cdev (/dev/vfio/devices/vfioN, drivers/vfio/device_cdev.c); /proc/<pid>/fd/<n> links to the
        opened path (fs/proc/fd.c).  While one is open, removing the VF blocks in vfio_unregister_group_dev
        (drivers/vfio/vfio_main.c) until QEMU lets go."""
        wanted = set()
        if vf.get("iommu_group"):
            wanted.add("/dev/vfio/%s" % vf["iommu_group"])
        for name in self.listdir(self.dev(vf["pci"], "vfio-dev")):
            wanted.add("/dev/vfio/devices/%s" % name)
        if not wanted:
            return []
        found = []
        for pid in self.listdir(self.path("proc")):
            if not pid.isdigit():
                continue
            fd_dir = self.path("proc", pid, "fd")
            for fd in self.listdir(fd_dir):
                try:
                    target = os.readlink(os.path.join(fd_dir, fd))
                except (IOError, OSError):
                    continue
                if target in wanted:
                    comm = self.read(self.path("proc", pid, "comm"), "?")
                    found.append("pid %s (%s) holds %s" % (pid, comm, target))
        return sorted(set(found))


def parse_vfinfo(info: Dict[str, Any]) -> Dict[str, Any]:
    """One ``vfinfo_list`` entry of ``ip -j link show`` -> our setting names.
    iproute2 leaves out vlan/qos/rates when 0 and spoofchk/trust when the
    driver does not report them."""
    vlan, qos = 0, 0
    if info.get("vlan_list"):
        first = info["vlan_list"][0] or {}
        vlan, qos = int(first.get("vlan", 0)), int(first.get("qos", 0))
    elif "vlan" in info:
        vlan, qos = int(info.get("vlan", 0)), int(info.get("qos", 0))
    rate = info.get("rate") or {}
    return {
        "mac": (info.get("address") or info.get("mac") or "").lower() or None,
        "vlan": vlan,
        "qos": qos,
        "spoof_check": info.get("spoofchk"),
        "trust": info.get("trust"),
        "link_state": info.get("link_state"),
        "max_tx_rate": int(rate.get("max_tx", info.get("tx_rate", 0)) or 0),
    }


def ip_args(current: Dict[str, Any], wanted: Dict[str, Any]) -> List[str]:
    """``ip link set ... vf N`` arguments that turn ``current`` into ``wanted``
    (only the settings given in ``wanted``); [] when nothing differs."""
    args = []
    if wanted.get("mac") is not None and (current.get("mac") or "") != wanted["mac"]:
        args += ["mac", wanted["mac"]]
    vlan_given = wanted.get("vlan") is not None or wanted.get("qos") is not None
    if vlan_given:
        vlan = wanted["vlan"] if wanted.get("vlan") is not None else current.get("vlan", 0)
        qos = wanted["qos"] if wanted.get("qos") is not None else current.get("qos", 0)
        if (vlan, qos) != (current.get("vlan", 0), current.get("qos", 0)):
            args += ["vlan", str(vlan)]
            if qos or current.get("qos"):
                args += ["qos", str(qos)]
    for key, word in (("spoof_check", "spoofchk"), ("trust", "trust")):
        if wanted.get(key) is not None and current.get(key) != wanted[key]:
            args += [word, "on" if wanted[key] else "off"]
    if wanted.get("link_state") is not None and current.get("link_state") != wanted["link_state"]:
        args += ["state", wanted["link_state"]]
    if wanted.get("max_tx_rate") is not None and current.get("max_tx_rate", 0) != wanted["max_tx_rate"]:
        args += ["max_tx_rate", str(wanted["max_tx_rate"])]
    return args


def normalize_vf_settings(item: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for key in VF_SETTINGS:
        value = item.get(key)
        if value is None:
            continue
        if key == "mac":  # one separator throughout (as Go's net.ParseMAC reads it): mixed ones stay, refused later
            value = (value if ":" in value and "-" in value else value.replace("-", ":")).lower()
        out[key] = value
    return out


# ---------------------------------------------------------------------------- desired state
class Desired:
    """What one PF should look like."""

    def __init__(self, pf: Optional[str] = None, pf_pci_address: Optional[str] = None, num_vfs: Optional[int] = None,
                 driver: Optional[str] = VFIO, vfs: Optional[List[Dict[str, Any]]] = None, state: str = "present") -> None:
        self.pf_name = pf
        self.pf_pci_address = pf_pci_address
        self.num_vfs = 0 if state == "absent" else num_vfs
        self.driver = driver or VFIO
        self.state = state
        self.vfs: Dict[int, Dict[str, Any]] = {}
        self.duplicates: List[int] = []
        for item in vfs or []:
            index = int(item["index"])
            if index in self.vfs:
                self.duplicates.append(index)
            self.vfs[index] = normalize_vf_settings(item)

    @property
    def label(self) -> str:
        return "PF %s" % (self.pf_name or self.pf_pci_address)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Desired":
        return cls(pf=data.get("name") or data.get("pf"), pf_pci_address=data.get("pci") or data.get("pf_pci_address"),
                   num_vfs=data.get("num_vfs"), driver=data.get("driver", VFIO), vfs=data.get("vfs"),
                   state=data.get("state", "present"))


class LocalProblems:
    """The subset of validate.Problems the boot-time script needs."""

    def __init__(self) -> None:
        self.items: List[Dict[str, str]] = []

    def add(self, where: str, field: str, message: str) -> None:
        self.items.append({"object": where, "field": field, "message": message})

    def __bool__(self) -> bool:
        return bool(self.items)

    def render(self) -> str:
        lines = ["%s: %s: %s" % (p["object"], p["field"], p["message"]) for p in self.items]
        return "%d invalid input(s), nothing was changed:\n- %s" % (len(lines), "\n- ".join(lines))


# Where validation reports a problem: LocalProblems in the boot script, validate.Problems in the module
# (typing.Protocol would need Python 3.8 on the host; the boot unit runs the host's python3)
ProblemSink = Union[LocalProblems, "Problems"]


def validate_input(desired: Desired, problems: ProblemSink) -> None:
    """Checks that need no host."""
    where = desired.label
    if desired.pf_name is not None and not NETDEV_NAME.match(desired.pf_name):
        problems.add(where, "pf", "%r is not a network interface name (at most 15 characters, no '/', ':' or "
                     "spaces)" % (desired.pf_name,))
    if desired.pf_pci_address is not None and normalize_pci(desired.pf_pci_address) is None:
        problems.add(where, "pf_pci_address", "%r is not a PCI address: use the form 0000:3b:00.0"
                     % (desired.pf_pci_address,))
    if desired.state == "present":
        if desired.num_vfs is None or isinstance(desired.num_vfs, bool) or not isinstance(desired.num_vfs, int) \
                or desired.num_vfs < 0:
            problems.add(where, "num_vfs", "%r is not a VF count: use an integer from 0 to the PF's "
                         "sriov_totalvfs" % (desired.num_vfs,))
    if desired.driver not in (VFIO, KERNEL):
        problems.add(where, "driver", "%r is not supported: use 'vfio-pci' (VMs with the sriov binding) or "
                     "'kernel' (the VF's own network driver)" % (desired.driver,))
    num = desired.num_vfs if isinstance(desired.num_vfs, int) else None
    for index in sorted(set(desired.duplicates)):
        problems.add(where, "vfs[index=%d]" % index, "VF %d is listed more than once: give its settings in one "
                     "item" % index)
    for index, settings in sorted(desired.vfs.items()):
        field = "vfs[index=%d]" % index
        if index < 0 or (num is not None and index >= num):
            problems.add(where, field + ".index", "VF %d does not exist with num_vfs=%s: use 0 to %s"
                         % (index, num, (num or 1) - 1))
        mac = settings.get("mac")
        if mac is not None:
            if not re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", mac):
                problems.add(where, field + ".mac", "%r is not a MAC address: use six hex pairs such as "
                             "'02:00:00:00:00:01'" % (mac,))
            elif int(mac[:2], 16) & 1:
                problems.add(where, field + ".mac", "%r is a multicast address: a VF needs a unicast MAC "
                             "(first octet even, e.g. '02:...')" % (mac,))
        vlan = settings.get("vlan")
        if vlan is not None and not 0 <= vlan <= 4095:
            problems.add(where, field + ".vlan", "%r is out of range: use 0 (untagged) to 4095" % (vlan,))
        qos = settings.get("qos")
        if qos is not None:
            if not 0 <= qos <= 7:
                problems.add(where, field + ".qos", "%r is out of range: use 0 to 7" % (qos,))
            elif qos and not vlan:
                problems.add(where, field + ".qos", "a VLAN priority needs a VLAN: set vlan (1-4095) too")
        if settings.get("link_state") is not None and settings["link_state"] not in LINK_STATES:
            problems.add(where, field + ".link_state", "%r is not a link state: use auto, enable or disable"
                         % (settings["link_state"],))
        rate = settings.get("max_tx_rate")
        if rate is not None and rate < 0:
            problems.add(where, field + ".max_tx_rate", "%r is negative: use Mbps, 0 for no limit" % (rate,))


def validate_host(host: Host, desired: Desired, problems: ProblemSink, gathered: bool = False) -> Optional[str]:
    """Checks against the host, before any write; returns the PF's address or None."""
    where = desired.label
    address, problem = host.resolve_pf(desired.pf_name, desired.pf_pci_address)
    if problem:
        problems.add(where, "pf" if desired.pf_name else "pf_pci_address", problem)
        return None
    if address is None:
        raise AssertionError("resolve_pf: exactly one of address and problem is None")
    pf = host.pf(address)
    num = desired.num_vfs
    if isinstance(num, int) and num > pf["totalvfs"]:
        problems.add(where, "num_vfs", "%d is more than the PF supports (sriov_totalvfs=%d): use at most %d%s"
                     % (num, pf["totalvfs"], pf["totalvfs"],
                        " (for Mellanox NICs raise NUM_OF_VFS with mlxconfig and reboot)"
                        if pf["vendor_id"] == "15b3" else ""))
    if gathered or desired.state != "present":
        return address
    if num != pf["numvfs"] and pf["driver"] is None:
        problems.add(where, "pf", "the PF %s has no driver, so the kernel cannot create VFs: bind it to its network "
                     "driver (e.g. modprobe ice / i40e / mlx5_core)" % address)
    if desired.vfs and not pf["name"]:
        problems.add(where, "vfs", "VF settings are applied through the PF's netdev, but %s has none (is the PF "
                     "bound to its network driver?)" % address)
    if desired.vfs and host.runner.find("ip") is None:
        problems.add(where, "vfs", "VF settings need the 'ip' command (iproute2): install it")
    if desired.driver == VFIO and num:
        facts = host.facts()
        if not facts["iommu_active"] or not pf["iommu_group"]:
            problems.add(where, "driver", iommu_problem(host, facts))
        if not facts["vfio_pci_loaded"]:
            installed = host.vfio_pci_installed()
            problems.add(where, "driver", "the vfio-pci driver is not loaded: run 'modprobe vfio-pci' (the "
                         "sriov_host role loads it now and at boot through /etc/modules-load.d)%s" % (
                             "; its module file is missing too: install the kernel's extra modules package "
                             "(e.g. linux-modules-extra-$(uname -r))" if installed is False else ""))
    return address


def iommu_problem(host: Host, facts: Dict[str, Any]) -> str:
    args = facts["kernel_args_wanted"]
    missing = facts["kernel_args_missing"]
    vendor = facts["cpu_vendor"] or "unknown CPU vendor"
    if not args:
        return ("vfio-pci needs an active IOMMU, and this host (%s) has none (/sys/kernel/iommu_groups is empty): "
                "kernel arguments only switch it on for x86 CPUs; enable the IOMMU (SMMU on aarch64) in the "
                "firmware and kernel configuration, or use driver=kernel" % vendor)
    if missing:
        return ("vfio-pci needs an active IOMMU, and this host has none (/sys/kernel/iommu_groups is empty): add "
                "the kernel arguments '%s' (%s) to the boot loader and reboot (the sriov_host role does both; "
                "or use driver=kernel)" % (" ".join(missing), vendor))
    return ("vfio-pci needs an active IOMMU, and this host has none although the kernel command line has '%s': "
            "enable %s in the firmware setup (BIOS/UEFI) and reboot" % (
                " ".join(args), "AMD-Vi/IOMMU" if vendor == "AuthenticAMD" else "VT-d"))


# ---------------------------------------------------------------------------- reconciliation
class Reconciler:
    """Brings one PF to the desired state, step by step in the kernel's order.

    ``plan()`` lists the steps without writing (check mode); ``apply()`` runs
    them, re-reading the host between the PF-level and the VF-level part, and
    verifies the end state by reading it back."""

    def __init__(self, host: Host, desired: Desired, address: str) -> None:
        self.host = host
        self.desired = desired
        self.address = address
        self.steps: List[str] = []
        self.current: Optional[str] = None

    # ------------------------------------------------------------ helpers
    def step(self, text: str) -> None:
        self.steps.append(text)

    def _vf_label(self, vf: Dict[str, Any]) -> str:
        return "VF%d %s" % (vf["index"], vf["pci"])

    def wanted_num(self) -> int:
        return self.desired.num_vfs or 0

    # ------------------------------------------------------------ planning
    def pf_actions(self, pf: Dict[str, Any]) -> List[Action]:
        """[(description, callable)] for autoprobe and sriov_numvfs."""
        host = self.host
        actions: List[Action] = []
        num, current = self.wanted_num(), pf["numvfs"]
        numvfs_path = host.dev(self.address, "sriov_numvfs")
        autoprobe_path = host.dev(self.address, "sriov_drivers_autoprobe")
        if num != current:
            if num and host.exists(autoprobe_path):
                wanted_probe = 0 if self.desired.driver == VFIO else 1
                if pf["drivers_autoprobe"] != wanted_probe:
                    why = ("the new VFs get no driver, so none comes up on the kernel driver before vfio-pci"
                           if wanted_probe == 0 else "the new VFs come up on their kernel driver")
                    actions.append(("sriov_drivers_autoprobe %d -> %d (%s)" % (pf["drivers_autoprobe"],
                                                                               wanted_probe, why),
                                    lambda v=wanted_probe: host.write(autoprobe_path, "%d\n" % v)))
            if current:
                why = ("the kernel refuses a change between two non-zero counts with EBUSY, so the count goes "
                       "through 0; the %d existing VFs are destroyed" % current if num else
                       "the %d VFs are destroyed" % current)
                actions.append(("sriov_numvfs %d -> 0 (%s)" % (current, why),
                                lambda: self._write_numvfs(numvfs_path, 0)))
            if num:
                actions.append(("sriov_numvfs 0 -> %d" % num, lambda: self._write_numvfs(numvfs_path, num)))
        if num and pf["name"] and host.link_admin_up(pf["name"]) is False:
            # VF link state "auto" follows the PF: a PF left down (no NetworkManager profile on a dedicated
            # PF) leaves every VF without carrier.  The SR-IOV operator sets the PF up as well.
            actions.append(("PF %s: ip link set up (VFs with link state auto follow the PF's link)" % pf["name"],
                            lambda name=pf["name"]: host.link_set_up(name)))
        if not num and self.desired.state == "absent" and pf["drivers_autoprobe"] == 0 \
                and host.exists(autoprobe_path):
            actions.append(("sriov_drivers_autoprobe 0 -> 1 (the kernel default)",
                            lambda: host.write(autoprobe_path, "1\n")))
        return actions

    def _write_numvfs(self, path: str, num: int) -> None:
        delays = list(self.host.busy_retry_delays) if num else []
        while True:
            try:
                self.host.write(path, "%d\n" % num)
                break
            except SriovError as err:
                # 0 -> M only: the PF driver's sriov_configure returns EBUSY (ice, not ready) or EAGAIN
                # (i40e, another VF operation pending) while it is busy; it is worth another try.
                if err.errno not in (errno.EBUSY, errno.EAGAIN) or not delays \
                        or self.host.read_int(path) != 0:
                    raise
                self.host.sleep(delays.pop(0))
        self.host.wait_for(lambda: self._vfs_settled(num), "%d virtfn links of %s" % (num, self.address))

    def _vfs_settled(self, num: int) -> bool:
        host = self.host
        if host.read_int(host.dev(self.address, "sriov_numvfs")) != num:
            return False
        links = host.vf_links(self.address)
        if sorted(links) != list(range(num)):
            return False
        return all(host.exists(host.dev(vf)) for vf in links.values())

    def predicted_vfs(self, pf: Dict[str, Any]) -> List[Dict[str, Any]]:
        """The VFs as they will be after the PF-level steps (check mode)."""
        num = self.wanted_num()
        if num == pf["numvfs"]:
            return self.host.vfs(self.address)
        probe = pf["drivers_autoprobe"]
        if num and self.desired.driver == VFIO:
            probe = 0
        elif num:
            probe = 1
        out = []
        for index in range(num):
            if pf["offset"] is not None and pf["stride"] is not None:
                address = vf_address(self.address, pf["offset"], pf["stride"], index)
            else:
                address = "(new)"
            out.append({"index": index, "pci": address, "driver": "(kernel default)" if probe else None,
                        "driver_override": None, "iommu_group": None, "device_id": pf["vf_device_id"],
                        "new": True})
        return out

    def vf_actions(self, pf: Dict[str, Any], vfs: List[Dict[str, Any]],
                   settings: Optional[Dict[int, Dict[str, Any]]]) -> List[Action]:
        """[(description, callable)] per VF: settings through the PF first, then the driver."""
        host = self.host
        actions: List[Action] = []
        driver = self.desired.driver
        need_probe = []
        for vf in vfs:
            label = self._vf_label(vf)
            wanted = self.desired.vfs.get(vf["index"])
            if wanted:
                current = (settings or {}).get(vf["index"], {}) if not vf.get("new") else \
                    {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "max_tx_rate": 0}
                args = ip_args(current, wanted)
                if args:
                    note = ""
                    if vf["driver"] == VFIO:
                        note = " (the VF is on vfio-pci: the PF driver may reset it, a VM using it sees a link flap)"
                    text = "%s: ip link set %s vf %d %s%s" % (label, pf["name"], vf["index"], " ".join(args), note)
                    actions.append((text, lambda i=vf["index"], a=args: host.ip_link_set_vf(pf["name"], i, a)))
            if driver == VFIO:
                if vf["driver"] != VFIO:
                    actions.append(("%s: %s -> vfio-pci (%sdriver_override=vfio-pci, bind)" % (
                        label, vf["driver"] or "no driver",
                        "unbind, " if vf["driver"] and vf["driver"] != "(kernel default)" else ""),
                        lambda v=vf: self._bind_vfio(v)))
            else:
                if vf["driver"] == VFIO or vf["driver"] is None or vf["driver_override"]:
                    need_probe.append(vf)
        if need_probe:
            autoprobe_path = host.dev(self.address, "sriov_drivers_autoprobe")
            if pf["drivers_autoprobe"] == 0 and host.exists(autoprobe_path):
                actions.append(("sriov_drivers_autoprobe 0 -> 1 (the kernel probes VFs only with it on)",
                                lambda: host.write(autoprobe_path, "1\n")))
            for vf in need_probe:
                actions.append(("%s: %s -> kernel driver (%sclear driver_override, drivers_probe)" % (
                    self._vf_label(vf), vf["driver"] or "no driver", "unbind, " if vf["driver"] else ""),
                    lambda v=vf: self._bind_kernel(v)))
        return actions

    # ------------------------------------------------------------ binding, in the kernel's order
    def _current_driver(self, address: str) -> Optional[str]:
        return self.host.link_name(self.host.dev(address, "driver"))

    def _bind_vfio(self, vf: Dict[str, Any]) -> None:
        host, address = self.host, self._live_address(vf)
        if not host.exists(host.dev(address, "iommu_group")):
            raise SriovError("%s has no IOMMU group, so vfio-pci cannot take it: check that the IOMMU is on "
                             "(kernel arguments, VT-d/AMD-Vi in firmware)" % address)
        current = self._current_driver(address)
        if current == VFIO:
            return
        if current:
            host.write(host.path("sys/bus/pci/drivers", current, "unbind"), address)
            host.wait_for(lambda: self._current_driver(address) is None, "%s to leave %s" % (address, current))
        host.write(host.dev(address, "driver_override"), VFIO + "\n")
        host.write(host.path("sys/bus/pci/drivers", VFIO, "bind"), address)
        host.wait_for(lambda: self._current_driver(address) == VFIO, "%s to be bound to vfio-pci" % address)

    def _bind_kernel(self, vf: Dict[str, Any]) -> None:
        host, address = self.host, self._live_address(vf)
        current = self._current_driver(address)
        if current:
            host.write(host.path("sys/bus/pci/drivers", current, "unbind"), address)
            host.wait_for(lambda: self._current_driver(address) is None, "%s to leave %s" % (address, current))
        override = host.read(host.dev(address, "driver_override"))
        if override not in (None, "", NULL_OVERRIDE):
            host.write(host.dev(address, "driver_override"), "\n")
        host.write(host.path("sys/bus/pci/drivers_probe"), address)
        bound = self._current_driver(address)
        if bound is None or bound == VFIO:
            raise SriovError("%s has no kernel driver after drivers_probe: load the VF driver (iavf for Intel "
                             "E810/X710, ixgbevf for 82599/X540, mlx5_core for Mellanox: e.g. 'modprobe iavf')"
                             % address)

    def _live_address(self, vf: Dict[str, Any]) -> str:
        if vf.get("new"):
            address = self.host.vf_links(self.address).get(vf["index"])
            if not address:
                raise SriovError("VF%d of %s did not appear" % (vf["index"], self.address))
            return address
        return vf["pci"]

    # ------------------------------------------------------------ teardown of existing VFs
    def teardown(self, pf: Dict[str, Any]) -> bool:
        """Whether the steps destroy existing VFs (any change of a non-zero count goes through 0)."""
        return bool(pf["numvfs"]) and self.wanted_num() != pf["numvfs"]

    def teardown_blockers(self, pf: Dict[str, Any]) -> List[str]:
        """Why destroying this PF's VFs is unsafe now: a VF held open through vfio (a running VM), or a VF on
        a driver other than the one this configuration puts it on (someone else uses it)."""
        if not self.teardown(pf):
            return []
        found = []
        for vf in self.host.vfs(self.address):
            label = self._vf_label(vf)
            for holder in self.host.vfio_holders(vf):
                found.append("%s is in use: %s" % (label, holder))
            driver = vf["driver"]
            if driver is None:
                continue
            if self.desired.driver == VFIO and driver != VFIO:
                found.append("%s is bound to %s, not vfio-pci" % (label, driver))
            elif self.desired.driver == KERNEL and driver == VFIO:
                found.append("%s is bound to vfio-pci, not its kernel driver" % label)
        return found

    def refuse_unsafe_teardown(self, pf: Dict[str, Any]) -> None:
        blockers = self.teardown_blockers(pf)
        if blockers:
            raise SriovError(
                "changing sriov_numvfs from %d to %d destroys every VF of %s, and %s. Drain the node first "
                "(the sriov_host role does: cordon, evict the virt-launcher pods so the VMs live-migrate away, "
                "apply, uncordon), or set force: true to destroy them anyway. Nothing was changed" % (
                    pf["numvfs"], self.wanted_num(), self.address, "; ".join(blockers)), step="safety check")

    # ------------------------------------------------------------ run
    def plan(self) -> Tuple[Dict[str, Any], List[Dict[str, Any]], List[str]]:
        pf = self.host.pf(self.address)
        steps = [text for text, _action in self.pf_actions(pf)]
        vfs = self.predicted_vfs(pf)
        settings = self.host.vf_settings(pf["name"]) if self.desired.vfs else None
        steps += [text for text, _action in self.vf_actions(pf, vfs, settings)]
        return pf, vfs, steps

    def apply(self) -> None:
        self.current = None
        try:
            pf = self.host.pf(self.address)
            for text, action in self.pf_actions(pf):
                self.current = text
                action()
                self.step(text)
            pf = self.host.pf(self.address)
            vfs = self.host.vfs(self.address)
            if self.desired.driver == VFIO:
                missing = [vf["pci"] for vf in vfs if not vf["iommu_group"]]
                if missing:
                    raise SriovError("VF(s) %s have no IOMMU group, so vfio-pci cannot take them: check that the "
                                     "IOMMU is on (kernel arguments, VT-d/AMD-Vi in firmware)" % ", ".join(missing))
            settings = self.host.vf_settings(pf["name"]) if self.desired.vfs else None
            for text, action in self.vf_actions(pf, vfs, settings):
                self.current = text
                action()
                self.step(text)
            self.current = "read back and verify"
            self.verify()
        except SriovError as err:
            err.step = err.step or self.current
            err.state = self.describe()
            raise

    def verify(self) -> None:
        """Read the end state back; raise when it is not the desired one."""
        host = self.host
        pf = host.pf(self.address)
        wrong = []
        if pf["numvfs"] != self.wanted_num():
            wrong.append("sriov_numvfs is %s, not %d" % (pf["numvfs"], self.wanted_num()))
        vfs = host.vfs(self.address)
        if len(vfs) != self.wanted_num():
            wrong.append("%d virtfn links, not %d" % (len(vfs), self.wanted_num()))
        for vf in vfs:
            if self.desired.driver == VFIO and vf["driver"] != VFIO:
                wrong.append("%s is on %s, not vfio-pci" % (self._vf_label(vf), vf["driver"] or "no driver"))
            if self.desired.driver == KERNEL and vf["driver"] in (None, VFIO):
                wrong.append("%s is on %s, not its kernel driver" % (
                    self._vf_label(vf), vf["driver"] or "no driver"))
        if self.desired.vfs:
            settings = host.vf_settings(pf["name"]) or {}
            for index, wanted in sorted(self.desired.vfs.items()):
                args = ip_args(settings.get(index, {}), wanted)
                if args:
                    wrong.append("VF%d still differs after 'ip link set': %s" % (index, " ".join(args)))
        if wrong:
            raise SriovError("the host does not read back as configured: %s" % "; ".join(wrong))

    def describe(self) -> str:
        """The host's state of this PF, for failure messages."""
        host = self.host
        try:
            pf = host.pf(self.address)
            vfs = host.vfs(self.address)
        except Exception as exc:  # pylint: disable=broad-except
            return "(could not read the state back: %s)" % exc
        parts = ["PF %s%s: sriov_numvfs=%s (wanted %d), sriov_drivers_autoprobe=%s" % (
            self.address, " (%s)" % pf["name"] if pf["name"] else "", pf["numvfs"], self.wanted_num(),
            pf["drivers_autoprobe"])]
        for vf in vfs:
            parts.append("%s on %s%s" % (self._vf_label(vf), vf["driver"] or "no driver",
                                         " (driver_override=%s)" % vf["driver_override"]
                                         if vf["driver_override"] else ""))
        return "; ".join(parts)


def result_vfs(host: Host, address: str, pf_name: Optional[str],
               vfs: Optional[List[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    """The VF list returned to the user, with MAC/VLAN where ip reports them."""
    vfs = host.vfs(address) if vfs is None else vfs
    settings = host.vf_settings(pf_name) or {}
    out = []
    for vf in vfs:
        item = dict(vf)
        item.pop("new", None)
        current = settings.get(vf["index"], {})
        item["mac"] = current.get("mac")
        item["vlan"] = current.get("vlan")
        item["spoof_check"] = current.get("spoof_check")
        item["trust"] = current.get("trust")
        out.append(item)
    return out


def render_state(pf: Dict[str, Any], vfs: List[Dict[str, Any]], desired: Optional[Desired] = None,
                 steps: Optional[List[str]] = None) -> str:
    """A small, stable text form of a PF's state for --diff."""
    lines = ["pf: %s%s" % (pf["pci"], " (%s)" % pf["name"] if pf.get("name") else ""),
             "sriov_numvfs: %s" % pf["numvfs"]]
    for vf in vfs:
        line = "vf%d: %s driver=%s" % (vf["index"], vf["pci"], vf["driver"] or "none")
        if desired is not None and vf["index"] in desired.vfs:
            line += " " + " ".join("%s=%s" % (k, v) for k, v in sorted(desired.vfs[vf["index"]].items()))
        lines.append(line)
    for step in steps or []:
        lines.append("# " + step)
    return "\n".join(lines) + "\n"


def run_pf(host: Host, desired: Desired, check_mode: bool = False, force: bool = False) -> Dict[str, Any]:
    """Validate, plan or apply one PF; returns a result dict (raises SriovError with .state on failure)."""
    problems = LocalProblems()
    validate_input(desired, problems)
    address = None
    if not problems:
        address = validate_host(host, desired, problems)
    if problems:
        raise SriovError(problems.render())
    if address is None:
        raise AssertionError("validate_host returns None only with a problem")
    reconciler = Reconciler(host, desired, address)
    pf_before = host.pf(address)
    vfs_before = host.vfs(address)
    pf, vfs, steps = reconciler.plan()
    if steps and not check_mode:
        if not force:
            reconciler.refuse_unsafe_teardown(pf_before)
        reconciler.apply()
        steps = reconciler.steps
    return {"changed": bool(steps), "steps": steps, "pf_before": pf_before, "vfs_before": vfs_before,
            "address": address}
