"""On PYTHONPATH (with FAKESYSFS_HOOK=1) in tests only: every Python process,
including Ansible modules run by ansible-playbook, gets the simulated kernel
behind sriov_sysfs.Host for fake host roots (see tests/fakesysfs/hook.py)."""

import os
import sys

if os.environ.get("FAKESYSFS_HOOK") == "1":
    try:
        from tests.fakesysfs.hook import install
        install()
    except Exception as exc:  # pylint: disable=broad-except
        sys.stderr.write("fakesysfs hook not installed: %s\n" % exc)
