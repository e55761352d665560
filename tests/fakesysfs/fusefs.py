"""Serve a fake host tree with FUSE so that plain file writes (``echo 4 >
sriov_numvfs``, os.write) reach the simulated kernel: a write to
``sriov_numvfs`` returns EBUSY on a non-zero -> non-zero change, ERANGE above
``sriov_totalvfs``, the ``virtfnN`` links exist when the write returns, and
``drivers_probe`` honours ``driver_override`` - as on Linux.

Needs /dev/fuse, libfuse2 (Debian ``libfuse2``/``fuse3`` for fusermount) and
``fusepy``.  Everything else is a passthrough to the backing directory; the
mount uses direct_io and zero cache timeouts because attribute contents change
behind the page cache, as sysfs contents do."""

import errno
import os

from tests.fakesysfs.kernel import Kernel

try:
    from fuse import FUSE, FuseOSError, Operations  # fusepy
    FUSE_IMPORT_ERROR = None
except (ImportError, OSError, EnvironmentError) as _exc:  # OSError: libfuse.so.2 missing
    FUSE = FuseOSError = None
    Operations = object
    FUSE_IMPORT_ERROR = _exc


def fuse_unavailable():
    """Why FUSE tests cannot run here (None when they can)."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (no FUSE in this kernel/container)"
    if FUSE_IMPORT_ERROR is not None:
        return "fusepy cannot be used: %s (pip install fusepy; apt-get install libfuse2 fuse3)" % FUSE_IMPORT_ERROR
    return None


class SysfsOps(Operations):
    """Passthrough to ``backing``; writes go through the simulated kernel."""

    def __init__(self, backing):
        self.backing = os.path.abspath(backing)
        self.kernel = Kernel(self.backing)

    def _p(self, path):
        return os.path.join(self.backing, path.lstrip("/"))

    @staticmethod
    def _call(func, *args):
        try:
            return func(*args)
        except OSError as exc:
            raise FuseOSError(exc.errno or errno.EIO) from exc

    # ------------------------------------------------------------ metadata
    def getattr(self, path, fh=None):
        st = self._call(os.lstat, self._p(path))
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid")
        return {key: getattr(st, key) for key in keys}

    def readdir(self, path, fh):
        return [".", ".."] + self._call(os.listdir, self._p(path))

    def readlink(self, path):
        return self._call(os.readlink, self._p(path))

    def access(self, path, amode):
        if not os.access(self._p(path), amode):
            raise FuseOSError(errno.EACCES)

    def statfs(self, path):
        st = self._call(os.statvfs, self._p(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
                "f_frsize", "f_namemax")
        return {key: getattr(st, key) for key in keys}

    # ------------------------------------------------------------ files
    def open(self, path, flags):
        if not os.path.exists(self._p(path)):
            raise FuseOSError(errno.ENOENT)
        return 0

    def create(self, path, mode, fi=None):
        fd = self._call(os.open, self._p(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        os.close(fd)
        return 0

    def read(self, path, size, offset, fh):
        with open(self._p(path), "rb") as handle:
            handle.seek(offset)
            return handle.read(size)

    def write(self, path, data, offset, fh):
        """One write(2) = one store of the attribute (offsets are ignored, as sysfs does)."""
        target = self._p(path)
        if path.startswith("/sys/"):
            self._call(self.kernel.write, target, data)
            return len(data)
        with open(target, "r+b") as handle:
            handle.seek(offset)
            handle.write(data)
        return len(data)

    def truncate(self, path, length, fh=None):
        if path.startswith("/sys/"):
            return 0   # sysfs ignores O_TRUNC / truncate
        self._call(os.truncate, self._p(path), length)
        return 0

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        return 0

    # ------------------------------------------------------------ tree changes (outside /sys)
    def mkdir(self, path, mode):
        self._call(os.mkdir, self._p(path), mode)

    def rmdir(self, path):
        self._call(os.rmdir, self._p(path))

    def unlink(self, path):
        self._call(os.unlink, self._p(path))

    def symlink(self, target, source):
        self._call(os.symlink, source, self._p(target))

    def rename(self, old, new):
        self._call(os.rename, self._p(old), self._p(new))

    def chmod(self, path, mode):
        self._call(os.chmod, self._p(path), mode)

    def chown(self, path, uid, gid):
        self._call(os.lchown, self._p(path), uid, gid)

    def utimens(self, path, times=None):
        self._call(os.utime, self._p(path), times)


def serve(backing, mountpoint):
    """Mount in the foreground until unmounted (fusermount -u)."""
    reason = fuse_unavailable()
    if reason:
        raise RuntimeError(reason)
    os.makedirs(mountpoint, exist_ok=True)
    FUSE(SysfsOps(backing), mountpoint, foreground=True, nothreads=False, direct_io=True,
         attr_timeout=0, entry_timeout=0, negative_timeout=0, default_permissions=False)
