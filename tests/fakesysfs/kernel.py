"""A small simulated kernel over a plain directory tree.

It reacts to writes the way Linux does for the attributes SR-IOV set-up
touches (drivers/pci/iov.c, drivers/pci/pci-driver.c, drivers/base/bus.c,
drivers/vfio/pci/vfio_pci.c), and to ``ip link`` the way the PF driver does:

* ``sriov_numvfs``: EINVAL for no number, ERANGE above ``sriov_totalvfs``,
  no-op for the current value, ENOENT without a PF driver, EBUSY for a
  non-zero -> non-zero change; otherwise creates/removes the VF device
  directories, ``virtfnN``/``physfn`` links, IOMMU groups (when the IOMMU is
  on) and probes the new VFs when ``sriov_drivers_autoprobe`` is 1.
* ``driver_override``: "\\n" or "" clears it (reads back "(null)").
* ``drivers/<d>/bind``: ENODEV unless the driver matches (vfio-pci matches only
  through driver_override), EBUSY when bound, ENODEV when a VF may not be
  probed (autoprobe 0, no override), EINVAL from vfio-pci without IOMMU group.
* ``drivers/<d>/unbind``: ENODEV unless bound to that driver.
* ``drivers_probe``: binds an unbound device to its override or default driver
  (when that driver is loaded); always succeeds for an existing device.
* read-only attributes (vendor, device, sriov_totalvfs, ...): EACCES.

State that a real kernel keeps in memory (IOMMU on/off, VF admin settings,
the driver id tables) lives in ``<root>/.fakesysfs/kernel.json``, so separate
processes (an Ansible module, the boot script, a FUSE server) share it.  Every
write and ``ip link set`` is appended to ``<root>/.fakesysfs/writes.log``.
"""

import errno
import json
import os
import re
import shutil
import threading
import time

from tests.fakesysfs.netconf import NetConf

MARKER = ".fakesysfs"
PCI = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
READ_ONLY = {"vendor", "device", "class", "sriov_totalvfs", "sriov_offset", "sriov_stride", "sriov_vf_device",
             "iommu_group", "physfn", "subsystem_vendor", "subsystem_device"}
NULL = "(null)"


def is_fake_root(root):
    return bool(root) and os.path.isfile(os.path.join(root, MARKER, "kernel.json"))


def vf_address(pf_address, offset, stride, index):
    domain, bus, devfn = pf_address[:4], int(pf_address[5:7], 16), pf_address[8:]
    dev, func = devfn.split(".")
    rid = (bus << 8) | (int(dev, 16) << 3) | int(func)
    rid += offset + stride * index
    return "%s:%02x:%02x.%d" % (domain, (rid >> 8) & 0xff, (rid >> 3) & 0x1f, rid & 0x7)


def _oserror(code, path=None):
    return OSError(code, os.strerror(code), path)


class Kernel:
    """The simulated kernel of one fake host root."""

    # one lock per process: FUSE threads and module threads serialise on it
    lock = threading.RLock()

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.blockers = {}   # attribute name -> threading.Event (in-process tests: a write that blocks)

    # ------------------------------------------------------------ paths and state
    def p(self, *parts):
        return os.path.join(self.root, *[part.lstrip("/") for part in parts])

    def rel(self, path):
        return "/" + os.path.relpath(path, self.root)

    @property
    def state_file(self):
        return self.p(MARKER, "kernel.json")

    def load(self):
        with open(self.state_file, encoding="utf-8") as handle:
            return json.load(handle)

    def save(self, state):
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
        os.replace(tmp, self.state_file)

    def log(self, entry):
        with open(self.p(MARKER, "writes.log"), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")

    def writes(self):
        try:
            with open(self.p(MARKER, "writes.log"), encoding="utf-8") as handle:
                return [json.loads(line) for line in handle if line.strip()]
        except FileNotFoundError:
            return []

    # ------------------------------------------------------------ tree primitives
    def dev(self, address, *parts):
        return self.p("sys/bus/pci/devices", address, *parts)

    def devdir(self, address):
        return os.path.realpath(self.dev(address))

    def symlink(self, target, link):
        if os.path.lexists(link):
            os.unlink(link)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(target, os.path.dirname(link)), link)

    @staticmethod
    def put(path, value):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="ascii") as handle:
            handle.write(value)

    @staticmethod
    def get(path, default=None):
        try:
            with open(path, encoding="ascii") as handle:
                return handle.read().strip()
        except (FileNotFoundError, NotADirectoryError):
            return default

    def add_device(self, address, parent, attrs):
        """A PCI device directory under sys/devices/<parent>/ and its bus link."""
        path = self.p("sys/devices", parent, address)
        os.makedirs(path, exist_ok=True)
        for name, value in attrs.items():
            self.put(os.path.join(path, name), "%s\n" % value)
        self.put(os.path.join(path, "driver_override"), NULL + "\n")
        self.symlink(path, self.dev(address))
        return path

    def add_iommu_group(self, address, state):
        group = str(state["next_iommu_group"])
        state["next_iommu_group"] += 1
        groupdir = self.p("sys/kernel/iommu_groups", group)
        os.makedirs(os.path.join(groupdir, "devices"), exist_ok=True)
        self.put(os.path.join(groupdir, "type"), "DMA\n")
        self.symlink(self.devdir(address), os.path.join(groupdir, "devices", address))
        self.symlink(groupdir, os.path.join(self.devdir(address), "iommu_group"))
        return group

    def add_netdev(self, address, name, mac):
        netdir = os.path.join(self.devdir(address), "net", name)
        os.makedirs(netdir, exist_ok=True)
        self.put(os.path.join(netdir, "address"), mac + "\n")
        self.put(os.path.join(netdir, "operstate"), "up\n")
        self.symlink(self.devdir(address), os.path.join(netdir, "device"))
        self.symlink(netdir, self.p("sys/class/net", name))

    def remove_netdevs(self, address):
        netroot = os.path.join(self.devdir(address), "net")
        for name in os.listdir(netroot) if os.path.isdir(netroot) else []:
            link = self.p("sys/class/net", name)
            if os.path.lexists(link):
                os.unlink(link)
        shutil.rmtree(netroot, ignore_errors=True)

    def driver_of(self, address):
        link = self.dev(address, "driver")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def loaded(self, driver):
        return os.path.isdir(self.p("sys/bus/pci/drivers", driver))

    def load_driver(self, driver):
        base = self.p("sys/bus/pci/drivers", driver)
        os.makedirs(base, exist_ok=True)
        for name in ("bind", "unbind", "new_id", "remove_id", "uevent"):
            if not os.path.exists(os.path.join(base, name)):
                self.put(os.path.join(base, name), "")
        module = self.p("sys/module", driver.replace("-", "_"))
        os.makedirs(module, exist_ok=True)

    def physfn(self, address):
        link = self.dev(address, "physfn")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def vf_index(self, address):
        pf = self.physfn(address)
        if not pf:
            return None
        for entry in os.listdir(self.devdir(pf)):
            if entry.startswith("virtfn") and os.path.basename(os.readlink(os.path.join(self.devdir(pf), entry))) \
                    == address:
                return int(entry[len("virtfn"):])
        return None

    def override(self, address):
        value = self.get(self.dev(address, "driver_override"), NULL)
        return None if value in (NULL, "") else value

    def can_probe(self, address):
        """pci_device_can_probe(): a VF probes only with autoprobe on its PF or an override."""
        pf = self.physfn(address)
        if not pf:
            return True
        return self.get(self.dev(pf, "sriov_drivers_autoprobe"), "1") == "1" or self.override(address) is not None

    def default_driver(self, address, state):
        key = "%s:%s" % (self.get(self.dev(address, "vendor"), "").replace("0x", ""),
                         self.get(self.dev(address, "device"), "").replace("0x", ""))
        return state["drivers"].get(key)

    def matches(self, driver, address, state):
        override = self.override(address)
        if override is not None:
            return override == driver
        return driver != "vfio-pci" and self.default_driver(address, state) == driver

    def probe(self, driver, address, state):
        """The driver's probe(); returns 0 or an errno."""
        if not self.can_probe(address):
            return errno.ENODEV
        if driver == "vfio-pci" and not os.path.lexists(self.dev(address, "iommu_group")):
            return errno.EINVAL
        self.bind(address, driver, state)
        return 0

    def bind(self, address, driver, state):
        self.load_driver(driver)
        devdir = self.devdir(address)
        self.symlink(self.p("sys/bus/pci/drivers", driver), os.path.join(devdir, "driver"))
        self.symlink(devdir, self.p("sys/bus/pci/drivers", driver, address))
        pf = self.physfn(address)
        if pf and driver != "vfio-pci":
            index = self.vf_index(address)
            pf_names = sorted(os.listdir(os.path.join(self.devdir(pf), "net"))) \
                if os.path.isdir(os.path.join(self.devdir(pf), "net")) else []
            info = state["vfinfo"].get(pf, {}).get(str(index), {})
            mac = info.get("mac") or "02:00:00:%02x:%02x:%02x" % (
                int(address[5:7], 16), int(address[8:10], 16), int(address[11]))
            if mac == "00:00:00:00:00:00":
                mac = "02:00:00:%02x:%02x:%02x" % (int(address[5:7], 16), int(address[8:10], 16), int(address[11]))
            self.add_netdev(address, "%sv%d" % (pf_names[0] if pf_names else "vf", index), mac)

    def unbind(self, address):
        driver = self.driver_of(address)
        if driver is None:
            return
        if self.physfn(address):
            self.remove_netdevs(address)
        os.unlink(self.dev(address, "driver"))
        link = self.p("sys/bus/pci/drivers", driver, address)
        if os.path.lexists(link):
            os.unlink(link)

    # ------------------------------------------------------------ SR-IOV
    def create_vfs(self, pf, num, state):
        devdir = self.devdir(pf)
        parent = os.path.relpath(os.path.dirname(devdir), self.p("sys/devices"))
        offset = int(self.get(os.path.join(devdir, "sriov_offset"), "1"))
        stride = int(self.get(os.path.join(devdir, "sriov_stride"), "1"))
        vf_device = self.get(os.path.join(devdir, "sriov_vf_device"))
        vendor = self.get(os.path.join(devdir, "vendor"))
        created = []
        for index in range(num):
            address = vf_address(pf, offset, stride, index)
            self.add_device(address, parent, {"vendor": vendor, "device": "0x" + vf_device,
                                              "class": self.get(os.path.join(devdir, "class")),
                                              "numa_node": self.get(os.path.join(devdir, "numa_node"), "0")})
            self.symlink(devdir, self.dev(address, "physfn"))
            self.symlink(self.devdir(address), os.path.join(devdir, "virtfn%d" % index))
            if state["iommu"]:
                self.add_iommu_group(address, state)
            created.append(address)
        self.put(os.path.join(devdir, "sriov_numvfs"), "%d\n" % num)
        if self.get(os.path.join(devdir, "sriov_drivers_autoprobe"), "1") == "1":
            for address in created:
                driver = self.default_driver(address, state)
                if driver and self.loaded(driver):
                    self.probe(driver, address, state)

    def remove_vfs(self, pf, state):
        devdir = self.devdir(pf)
        for entry in sorted(os.listdir(devdir)):
            if not entry.startswith("virtfn"):
                continue
            address = os.path.basename(os.readlink(os.path.join(devdir, entry)))
            self.unbind(address)
            group = self.dev(address, "iommu_group")
            if os.path.lexists(group):
                shutil.rmtree(os.path.realpath(group), ignore_errors=True)
            vfdir = self.devdir(address)
            os.unlink(self.dev(address))
            os.unlink(os.path.join(devdir, entry))
            shutil.rmtree(vfdir)
        state["vfinfo"].pop(pf, None)
        self.put(os.path.join(devdir, "sriov_numvfs"), "0\n")

    # ------------------------------------------------------------ sysfs writes
    def write(self, path, data):
        """A write(2) of ``data`` to the attribute at ``path``; raises OSError like the kernel."""
        if isinstance(data, bytes):
            data = data.decode("ascii", "replace")
        name = os.path.basename(path)
        blocker = self.blockers.get(name)
        if blocker is not None:
            blocker.wait()
        if name == "sriov_numvfs" and data.strip() == "0":
            self._wait_for_vfio_release(os.path.basename(os.path.realpath(os.path.dirname(path))))
        with self.lock:
            entry = {"path": self.rel(path), "value": data}
            try:
                self._write(path, name, data)
            except OSError as exc:
                entry["error"] = errno.errorcode.get(exc.errno, str(exc.errno))
                self.log(entry)
                raise
            self.log(entry)

    def _write(self, path, name, data):
        real_dir = os.path.realpath(os.path.dirname(path))
        owner = os.path.basename(real_dir)
        rel_dir = os.path.relpath(real_dir, self.root)
        if not os.path.exists(path):
            raise _oserror(errno.ENOENT, path)
        if name in READ_ONLY:
            raise _oserror(errno.EACCES, path)
        state = self.load()
        value = data.strip("\n")
        if PCI.match(owner) and name == "sriov_numvfs":
            self._numvfs(owner, value, state)
        elif PCI.match(owner) and name == "sriov_drivers_autoprobe":
            if value not in ("0", "1", "y", "n", "Y", "N", "on", "off"):
                raise _oserror(errno.EINVAL, path)
            self.put(path, ("1" if value in ("1", "y", "Y", "on") else "0") + "\n")
        elif PCI.match(owner) and name == "driver_override":
            value = value.split("\x00", 1)[0]
            self.put(path, (value or NULL) + "\n")
        elif rel_dir.startswith("sys/bus/pci/drivers/") and name in ("bind", "unbind"):
            self._bind_unbind(owner, name, value, state)
        elif rel_dir == "sys/bus/pci" and name == "drivers_probe":
            self._drivers_probe(value, state)
        else:
            self.put(path, data)
            return
        self.save(state)

    # ------------------------------------------------------------ vfio users of a VF
    def vfio_paths(self, address):
        """The paths userspace opens to use a VF through vfio: its group (drivers/vfio/group.c,
        /dev/vfio/<group>) and, with iommufd, its cdev (drivers/vfio/device_cdev.c, /dev/vfio/devices/vfioN)."""
        paths = set()
        group = self.dev(address, "iommu_group")
        if os.path.lexists(group):
            paths.add("/dev/vfio/" + os.path.basename(os.readlink(group)))
        cdevs = self.dev(address, "vfio-dev")
        for name in os.listdir(cdevs) if os.path.isdir(cdevs) else []:
            paths.add("/dev/vfio/devices/" + name)
        return paths

    def open_vfio(self, address, pid=4242, comm="qemu-kvm"):
        """A process (a VM's QEMU) opens the VF's vfio group: /proc/<pid>/fd/<n> links to the path it
        opened, as fs/proc/fd.c shows it.  Returns the fd link (unlink it to close)."""
        paths = self.vfio_paths(address)
        if self.driver_of(address) != "vfio-pci" or not paths:
            raise RuntimeError("%s is not on vfio-pci: QEMU could not open it" % address)
        fd_dir = self.p("proc", str(pid), "fd")
        os.makedirs(fd_dir, exist_ok=True)
        self.put(self.p("proc", str(pid), "comm"), comm + "\n")
        link = os.path.join(fd_dir, str(20 + len(os.listdir(fd_dir))))
        os.symlink(sorted(paths)[0], link)
        return link

    def vfio_held(self, pf):
        """VFs of ``pf`` whose vfio paths some /proc/<pid>/fd link points at."""
        devdir = self.devdir(pf)
        wanted = {}
        for entry in os.listdir(devdir):
            if entry.startswith("virtfn"):
                address = os.path.basename(os.readlink(os.path.join(devdir, entry)))
                for path in self.vfio_paths(address):
                    wanted[path] = address
        held = set()
        proc = self.p("proc")
        for pid in os.listdir(proc) if os.path.isdir(proc) else []:
            fd_dir = os.path.join(proc, pid, "fd")
            for fd in os.listdir(fd_dir) if pid.isdigit() and os.path.isdir(fd_dir) else []:
                target = os.readlink(os.path.join(fd_dir, fd))
                if target in wanted:
                    held.add(wanted[target])
        return held

    def _wait_for_vfio_release(self, pf):
        """Removing VFs that userspace holds through vfio blocks: vfio_unregister_group_dev
        (drivers/vfio/vfio_main.c) asks the user to release the device (vfio_pci_core_request signals QEMU)
        and waits, without a time limit, until the last fd is closed.  Capped here so a test cannot hang."""
        if not os.path.isdir(self.devdir(pf)):
            return
        deadline = time.monotonic() + 600
        while self.vfio_held(pf) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _numvfs(self, pf, value, state):
        try:
            num = int(value, 0)
        except ValueError:
            raise _oserror(errno.EINVAL) from None
        if num < 0 or num > 0xffff:
            raise _oserror(errno.EINVAL)
        devdir = self.devdir(pf)
        total = int(self.get(os.path.join(devdir, "sriov_totalvfs")))
        current = int(self.get(os.path.join(devdir, "sriov_numvfs"), "0"))
        if num > total:
            raise _oserror(errno.ERANGE)
        if num == current:
            return
        if self.driver_of(pf) is None:
            raise _oserror(errno.ENOENT)
        if num == 0:
            self.remove_vfs(pf, state)
            return
        if current:
            raise _oserror(errno.EBUSY)
        busy = state.get("busy", {}).get(pf)
        if busy and busy["count"] > 0:
            # the PF driver's sriov_configure while it is busy: ice returns EBUSY when the device is not ready
            # (ice_sriov_configure -> ice_check_sriov_allowed, drivers/net/ethernet/intel/ice/ice_sriov.c),
            # i40e EAGAIN when another VF operation is pending (i40e_pci_sriov_configure,
            # drivers/net/ethernet/intel/i40e/i40e_virtchnl_pf.c)
            busy["count"] -= 1
            self.save(state)
            raise _oserror(getattr(errno, busy["errno"]))
        limit = state.get("enomem_above")
        if limit is not None and num > limit:
            raise _oserror(errno.ENOMEM)
        self.create_vfs(pf, num, state)

    def _bind_unbind(self, driver, op, value, state):
        address = value.strip()
        if not os.path.lexists(self.dev(address)):
            raise _oserror(errno.ENODEV)
        if op == "unbind":
            if self.driver_of(address) != driver:
                raise _oserror(errno.ENODEV)
            self.unbind(address)
            return
        if not self.matches(driver, address, state):
            raise _oserror(errno.ENODEV)
        if self.driver_of(address) is not None:
            raise _oserror(errno.EBUSY)
        code = self.probe(driver, address, state)
        if code:
            raise _oserror(code)

    def _drivers_probe(self, value, state):
        address = value.strip()
        if not os.path.lexists(self.dev(address)):
            raise _oserror(errno.ENODEV)
        if self.driver_of(address) is not None:
            return
        driver = self.override(address) or self.default_driver(address, state)
        if driver and self.loaded(driver) and self.matches(driver, address, state):
            self.probe(driver, address, state)

    # ------------------------------------------------------------ ip link (through the PF driver)
    def _netdev(self, name):
        link = self.p("sys/class/net", name)
        if not os.path.lexists(link):
            return None
        return os.path.basename(os.path.dirname(os.path.dirname(os.path.realpath(link))))

    def vfinfo(self, pf, index, state):
        info = {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "spoofchk": True, "trust": False,
                "link_state": "auto", "max_tx": 0, "min_tx": 0}
        info.update(state["vfinfo"].get(pf, {}).get(str(index), {}))
        return info

    def ip(self, argv):
        """``ip -j link show dev X``, ``ip -j addr show [dev X]``, ``ip -j [-6] route show`` and
        ``ip link set dev X vf N ...``: (rc, stdout, stderr)."""
        words = list(argv[1:]) if argv and argv[0].endswith("ip") else list(argv)
        family = "inet6" if "-6" in words else "inet"
        args = [a for a in words if a not in ("-j", "-4", "-6")]
        if args[:2] == ["link", "show"]:
            name = args[3] if len(args) > 3 and args[2] == "dev" else args[2]
            return self._ip_show(name)
        if args[:2] == ["addr", "show"]:
            return self.netconf().addr_show(args[3] if len(args) > 3 and args[2] == "dev" else None)
        if args[:2] == ["route", "show"] and len(args) == 2:
            return self.netconf().route_show(family)
        if args[:2] == ["link", "set"]:
            with self.lock:
                rc, out, err = self._ip_set(args[2:])
                self.log({"command": " ".join(["ip"] + args), "rc": rc})
                return rc, out, err
        return 1, "", "fake ip: unsupported: %s\n" % " ".join(argv)

    def netconf(self):
        return NetConf(self)

    def _ip_show(self, name):
        address = self._netdev(name)
        if address is None:
            return 1, "", 'Device "%s" does not exist.\n' % name
        state = self.load()
        link = self.netconf().link(name, state)
        numvfs = int(self.get(self.dev(address, "sriov_numvfs"), "0") or 0)
        if numvfs:
            vfs = []
            for index in range(numvfs):
                info = self.vfinfo(address, index, state)
                entry = {"vf": index, "link_type": "ether", "address": info["mac"], "broadcast": "ff:ff:ff:ff:ff:ff"}
                vlan = {}
                if info["vlan"]:
                    vlan["vlan"] = info["vlan"]
                if info["qos"]:
                    vlan["qos"] = info["qos"]
                entry["vlan_list"] = [vlan]
                entry["rate"] = {"max_tx": info["max_tx"], "min_tx": info["min_tx"]}
                entry["spoofchk"] = info["spoofchk"]
                entry["link_state"] = info["link_state"]
                entry["trust"] = info["trust"]
                entry["query_rss_en"] = False
                vfs.append(entry)
            link["num_vf"] = numvfs
            link["vfinfo_list"] = vfs
        return 0, json.dumps([link]), ""

    def _ip_set(self, args):
        if args and args[0] == "dev":
            args = args[1:]
        name, rest = args[0], args[1:]
        address = self._netdev(name)
        if address is None:
            return 1, "", 'Cannot find device "%s"\n' % name
        if rest in (["up"], ["down"]):
            state = self.load()
            down = [n for n in state.get("admin_down", []) if n != name]
            state["admin_down"] = down + ([name] if rest == ["down"] else [])
            self.save(state)
            return 0, "", ""
        if len(rest) < 2 or rest[0] != "vf":
            return 1, "", "fake ip: only 'vf N ...' is simulated\n"
        state = self.load()
        index = int(rest[1])
        numvfs = int(self.get(self.dev(address, "sriov_numvfs"), "0") or 0)
        if index >= numvfs:
            return 2, "", "RTNETLINK answers: Invalid argument\n"
        info = state["vfinfo"].setdefault(address, {}).setdefault(str(index), {})
        words = rest[2:]
        changes = {}
        while words:
            key, words = words[0], words[1:]
            if not words:
                return 255, "", 'Command line is not complete. Try option "help"\n'
            value, words = words[0], words[1:]
            if key == "mac":
                if not re.match(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$", value):
                    return 1, "", '"%s" is invalid lladdr.\n' % value
                changes["mac"] = value.lower()
            elif key == "vlan":
                changes["vlan"] = int(value)
                if not 0 <= changes["vlan"] <= 4095:
                    return 2, "", "RTNETLINK answers: Invalid argument\n"
                if "qos" not in changes:
                    changes["qos"] = 0
            elif key == "qos":
                changes["qos"] = int(value)
            elif key in ("spoofchk", "trust"):
                if value not in ("on", "off"):
                    return 1, "", 'Error: argument "%s" is wrong: %s\n' % (value, key)
                changes[key] = value == "on"
            elif key == "state":
                if value not in ("auto", "enable", "disable"):
                    return 1, "", 'Error: argument "%s" is wrong: state\n' % value
                changes["link_state"] = value
            elif key in ("max_tx_rate", "min_tx_rate"):
                changes["max_tx" if key == "max_tx_rate" else "min_tx"] = int(value)
            else:
                return 255, "", 'Error: unknown vf setting "%s"\n' % key
        if changes.get("qos") and not changes.get("vlan", info.get("vlan", 0)):
            return 2, "", "RTNETLINK answers: Invalid argument\n"
        info.update(changes)
        # a new admin MAC shows on the VF's netdev when it has one
        if "mac" in changes:
            vf = vf_address(address, int(self.get(self.dev(address, "sriov_offset"), "1")),
                            int(self.get(self.dev(address, "sriov_stride"), "1")), index)
            netroot = os.path.join(self.devdir(vf), "net")
            for netdev in os.listdir(netroot) if os.path.isdir(netroot) else []:
                self.put(os.path.join(netroot, netdev, "address"), changes["mac"] + "\n")
        self.save(state)
        return 0, "", ""


class KernelWriter:
    """A SysfsWriter whose writes the simulated kernel handles."""

    def __init__(self, kernel):
        self.kernel = kernel

    def write(self, path, value):
        self.kernel.write(path, value)


class KernelRunner:
    """A CommandRunner whose ``ip`` is the simulated kernel's."""

    def __init__(self, kernel):
        self.kernel = kernel

    def find(self, name):
        return "/sbin/ip" if name == "ip" else None

    def run(self, argv):
        if argv[0] != "ip":
            return 127, "", "%s: not simulated" % argv[0]
        return self.kernel.ip(argv)
