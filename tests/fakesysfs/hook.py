"""Puts the simulated kernel behind sriov_sysfs.Host when its root is a fake
host (``<root>/.fakesysfs/kernel.json`` exists), without any test code in the
collection: ``patch(module)`` wraps ``Host.__init__``; ``install()`` does that
whenever ``...module_utils.sriov_sysfs`` is imported (used by sitecustomize in
subprocesses such as an Ansible module run by ansible-playbook)."""

import importlib.abc
import sys

from tests.fakesysfs.kernel import Kernel, KernelRunner, KernelWriter, is_fake_root

TARGET = ".plugins.module_utils.sriov_sysfs"


def patch(module):
    host_class = module.Host
    if getattr(host_class, "_fakesysfs_patched", False):
        return module
    original = host_class.__init__

    def __init__(self, root="/", *args, **kwargs):
        original(self, root, *args, **kwargs)
        # only the default file writer is replaced: a test that passes its own writer keeps it
        if is_fake_root(self.root) and type(self.writer) is module.SysfsWriter:  # pylint: disable=unidiomatic-typecheck
            kernel = Kernel(self.root)
            self.writer = KernelWriter(kernel)
            self.runner = KernelRunner(kernel)

    host_class.__init__ = __init__
    host_class._fakesysfs_patched = True
    return module


class _Loader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if not fullname.endswith(TARGET):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        return None


def install():
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    for name, module in list(sys.modules.items()):
        if name.endswith(TARGET) and module is not None:
            patch(module)
