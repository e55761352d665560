"""The extra, optional FUSE tests: the fake host tree served by FUSE
(tests/fakesysfs/fusefs.py), so the module's plain file writes (os.open +
os.write, no test hook at all) reach the simulated kernel the way writes reach
Linux sysfs: EBUSY on a non-zero -> non-zero sriov_numvfs change, virtfnN
links present when the write returns, drivers_probe honouring
driver_override.  Skipped only when /dev/fuse or fusepy (with libfuse2) is
missing; everything else here also runs against the plain tree in
test_sriov_host.py and the unit tests."""

import errno
import os
import shlex
import subprocess
import sys

import pytest

from tests.fakesysfs import Kernel, build_host
from tests.fakesysfs.fusefs import fuse_unavailable
from tests.fakesysfs.playbook import playbook_env, run_playbook
from tests.fakesysfs.tree import REPO
from tests.integration.helpers import wait_for

REASON = fuse_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason="FUSE test skipped: %s" % REASON)

PF0 = "0000:3b:00.0"


@pytest.fixture
def mounted(tmp_path):
    """(backing tree, mount point) with the FUSE server running."""
    backing, mountpoint = tmp_path / "backing", tmp_path / "mnt"
    build_host(str(backing))
    mountpoint.mkdir()
    env = dict(os.environ, PYTHONPATH=REPO)
    log = open(tmp_path / "fuse.log", "w", encoding="utf-8")  # pylint: disable=consider-using-with
    server = subprocess.Popen([sys.executable, "-m", "tests.fakesysfs", "mount", "--backing", str(backing),
                               "--mountpoint", str(mountpoint)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: server.poll() is not None or os.path.ismount(mountpoint), timeout=30,
                 message="the FUSE mount")
        assert server.poll() is None, (tmp_path / "fuse.log").read_text()
        yield backing, mountpoint
    finally:
        subprocess.run(["fusermount", "-u", str(mountpoint)], check=False, capture_output=True)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        log.close()


def write(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def test_plain_writes_behave_like_linux_sysfs(mounted):
    _backing, mnt = mounted
    dev = mnt / "sys/bus/pci/devices" / PF0
    write(dev / "sriov_numvfs", "4\n")
    assert sorted(e for e in os.listdir(dev) if e.startswith("virtfn")) == ["virtfn%d" % i for i in range(4)]
    with pytest.raises(OSError) as caught:
        write(dev / "sriov_numvfs", "2\n")
    assert caught.value.errno == errno.EBUSY
    with pytest.raises(OSError) as caught:
        write(dev / "sriov_numvfs", "129\n")
    assert caught.value.errno == errno.ERANGE
    assert (dev / "sriov_numvfs").read_text() == "4\n"
    vf = mnt / "sys/bus/pci/devices/0000:3b:02.0"
    assert os.path.basename(os.readlink(vf / "driver")) == "iavf"
    # vfio-pci takes a device only through driver_override
    write(mnt / "sys/bus/pci/drivers/iavf/unbind", "0000:3b:02.0")
    with pytest.raises(OSError) as caught:
        write(mnt / "sys/bus/pci/drivers/vfio-pci/bind", "0000:3b:02.0")
    assert caught.value.errno == errno.ENODEV
    write(vf / "driver_override", "vfio-pci\n")
    write(mnt / "sys/bus/pci/drivers_probe", "0000:3b:02.0")
    assert os.path.basename(os.readlink(vf / "driver")) == "vfio-pci"
    write(vf / "driver_override", "\n")
    assert (vf / "driver_override").read_text() == "(null)\n"


def test_the_module_through_fuse_without_any_hook(mounted, tmp_path):
    backing, mnt = mounted
    env = playbook_env(tmp_path, hook=False)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    ip = fake_bin / "ip"
    ip.write_text("#!/bin/sh\nPYTHONPATH=%s exec %s -m tests.fakesysfs ip --root %s -- \"$@\"\n" % (
        shlex.quote(REPO), shlex.quote(sys.executable), shlex.quote(str(backing))))
    ip.chmod(0o755)
    env["PATH"] = str(fake_bin) + os.pathsep + env["PATH"]

    def play(num_vfs, driver="vfio-pci"):
        return [{"hosts": "all", "gather_facts": False, "tasks": [{"name": "vfs", "kubevirt_net.core.vfio_sriov": {
            "pf": "ens1f0", "num_vfs": num_vfs, "driver": driver, "sysfs_root": str(mnt),
            "vfs": [{"index": 0, "mac": "02:00:00:00:00:01", "vlan": 42}]}}]}]

    kernel = Kernel(str(backing))
    created = run_playbook(env, tmp_path, play(4)).task("vfs")
    assert [v["driver"] for v in created["vfs"]] == ["vfio-pci"] * 4
    assert (created["vfs"][0]["mac"], created["vfs"][0]["vlan"]) == ("02:00:00:00:00:01", 42)
    assert not any("error" in w for w in kernel.writes())

    mark = len(kernel.writes())
    assert run_playbook(env, tmp_path, play(4)).task("vfs")["changed"] is False
    assert kernel.writes()[mark:] == []

    # 4 -> 2 goes through 0: with plain writes the kernel would have said EBUSY otherwise
    smaller = run_playbook(env, tmp_path, play(2)).task("vfs")
    assert [v["pci"] for v in smaller["vfs"]] == ["0000:3b:02.0", "0000:3b:02.1"]
    numvfs = [w["value"] for w in kernel.writes()[mark:] if w.get("path", "").endswith("sriov_numvfs")]
    assert numvfs == ["0\n", "2\n"]

    back = run_playbook(env, tmp_path, play(2, driver="kernel")).task("vfs")
    assert [v["driver"] for v in back["vfs"]] == ["iavf", "iavf"]
