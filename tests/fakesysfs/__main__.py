"""python -m tests.fakesysfs build|cmd|ip|reboot|mount ...

  build  --root DIR [--profile e810 --slot 0000:3b:00 ...] [--cpu intel|amd] [--no-iommu] [--tools] ...
  cmd    --root DIR TOOL -- ARGS...     (the fake update-grub, grubby, modprobe, driverctl, systemctl, reboot, udevadm)
  ip     --root DIR -- ARGS...          (ip -j link|addr show, ip -j [-6] route show, ip link set ... vf N ...)
  reboot --root DIR                     (what a reboot does to the fake host)
  mount  --backing DIR --mountpoint DIR (serve the tree with FUSE; the kernel reacts to writes; foreground)
"""

import argparse
import json
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fakesysfs")
    sub = parser.add_subparsers(dest="what", required=True)
    build = sub.add_parser("build")
    build.add_argument("--root", required=True)
    build.add_argument("--nic", action="append", default=[], help="PROFILE:SLOT, e.g. e810:0000:3b:00")
    build.add_argument("--cpu", default="intel", choices=["intel", "amd"])
    build.add_argument("--no-iommu", action="store_true")
    build.add_argument("--no-vfio", action="store_true", help="vfio-pci not loaded")
    build.add_argument("--distro", default="debian", choices=["debian", "rhel"])
    build.add_argument("--tools", action="store_true")
    build.add_argument("--driverctl", action="store_true")
    cmd = sub.add_parser("cmd")
    cmd.add_argument("--root", required=True)
    cmd.add_argument("tool")
    cmd.add_argument("args", nargs=argparse.REMAINDER)
    ipp = sub.add_parser("ip")
    ipp.add_argument("--root", required=True)
    ipp.add_argument("args", nargs=argparse.REMAINDER)
    reboot = sub.add_parser("reboot")
    reboot.add_argument("--root", required=True)
    mount = sub.add_parser("mount")
    mount.add_argument("--backing", required=True)
    mount.add_argument("--mountpoint", required=True)
    args = parser.parse_args(argv)
    rest = list(getattr(args, "args", []) or [])
    if rest[:1] == ["--"]:
        rest = rest[1:]

    if args.what == "build":
        from tests.fakesysfs.tree import build_host
        nics = [tuple(n.split(":", 1)) for n in args.nic] or [("e810", "0000:3b:00")]
        info = build_host(args.root, nics=nics, cpu=args.cpu, iommu=not args.no_iommu,
                          vfio_loaded=not args.no_vfio, distro=args.distro, tools=args.tools,
                          driverctl=args.driverctl)
        print(json.dumps(info, indent=1))
        return 0
    if args.what == "cmd":
        from tests.fakesysfs.commands import run_tool
        return run_tool(args.tool, args.root, rest)
    if args.what == "ip":
        from tests.fakesysfs.kernel import Kernel
        rc, out, err = Kernel(args.root).ip(["ip"] + rest)
        sys.stdout.write(out)
        sys.stderr.write(err)
        return rc
    if args.what == "reboot":
        from tests.fakesysfs.commands import boot
        boot(args.root)
        return 0
    if args.what == "mount":
        from tests.fakesysfs.fusefs import serve
        serve(args.backing, args.mountpoint)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
