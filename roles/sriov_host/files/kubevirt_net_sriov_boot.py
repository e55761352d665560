# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Boot-time re-apply of SR-IOV VFs and their driver binding (installed by the
kubevirt_net.core.sriov_host role, run by its systemd unit before kubelet).

    python3 kubevirt_net_sriov_boot.py apply|check --config FILE [--root DIR]

The logic is the vfio_sriov module's own: ``sriov_sysfs.py``, installed in
the same directory.  Standard library only."""

import argparse
import importlib.util
import json
import os
import subprocess
import sys


def load_library():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sriov_sysfs.py")
    spec = importlib.util.spec_from_file_location("kubevirt_net_sriov_sysfs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sriov_sysfs = load_library()
Host = sriov_sysfs.Host


class SubprocessRunner(sriov_sysfs.CommandRunner):
    """Runs ``ip`` with subprocess (no shell)."""

    def run(self, argv):
        binary = self.find(argv[0])
        if binary is None:
            return 127, "", "%s: command not found" % argv[0]
        proc = subprocess.run([binary] + list(argv[1:]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              check=False)
        return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def main(argv=None, host_factory=None):
    """Apply (or, with ``check``, only list) every PF of the configuration."""
    parser = argparse.ArgumentParser(prog="kubevirt_net_sriov_boot", description=main.__doc__)
    parser.add_argument("command", choices=["apply", "check"])
    parser.add_argument("--config", required=True)
    parser.add_argument("--root", default="/")
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        config = json.load(handle)

    def default_factory(root):
        return Host(root, runner=SubprocessRunner(), wait_timeout=config.get("wait_timeout", 60),
                    write_timeout=config.get("write_timeout", 120))

    host = (host_factory or default_factory)(args.root)
    failed = 0
    for item in config.get("pfs", []):
        desired = sriov_sysfs.Desired.from_dict(item)
        try:
            result = sriov_sysfs.run_pf(host, desired, check_mode=args.command == "check")
        except sriov_sysfs.SriovError as err:
            failed += 1
            sys.stderr.write("%s: FAILED: %s%s\n" % (desired.label, err.message,
                                                     "\nhost state: %s" % err.state if err.state else ""))
            continue
        for step in result["steps"]:
            sys.stdout.write("%s: %s%s\n" % (desired.label, "would: " if args.command == "check" else "", step))
        if not result["steps"]:
            sys.stdout.write("%s: already as configured (%d VFs, %s)\n" % (
                desired.label, desired.num_vfs or 0, desired.driver))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
