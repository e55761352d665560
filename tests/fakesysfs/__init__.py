"""A fake host for SR-IOV tests: a plain sysfs/procfs tree (tree.py), a small
simulated kernel that reacts to writes as Linux does (kernel.py), fake host
tools (commands.py), a hook that puts the simulated kernel behind the module's
SysfsWriter in subprocesses (hook.py, sitehook/), and an optional FUSE mount
that serves the tree so plain file writes reach the kernel (fusefs.py)."""

from tests.fakesysfs.kernel import Kernel, KernelRunner, KernelWriter, is_fake_root  # noqa: F401
from tests.fakesysfs.tree import build_host, snapshot  # noqa: F401
