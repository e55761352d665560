"""python -m lab up|down|status|env|log-writes [--state-dir DIR]

``up`` builds the API server once (cached), starts etcd, kube-apiserver,
kube-controller-manager and the lab daemon, and prints the kubeconfig path.
``log-writes`` prints how many write requests (POST/PUT/PATCH/DELETE) clients
have sent through the lab proxy so far (the emulated controllers not counted).
"""

import argparse
import json
import os
import sys

from .cluster import REPO_ROOT, Lab
from .kubevirt.config import parse_option


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "env", "log-writes"])
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a lab capability (lab/kubevirt/config.py), e.g. dynamic_networks=false")
    parser.add_argument("--state-dir", default=os.environ.get("LAB_STATE_DIR", os.path.join(REPO_ROOT, ".lab")))
    args = parser.parse_args(argv)
    options = dict(parse_option(text) for text in args.option)
    lab = Lab(args.state_dir, options)
    if args.command == "up":
        lab.up()
        print("lab: up at %s (kube-apiserver %s behind the lab proxy)" % (lab.url, lab.apiserver_url))
        print("lab: export KUBECONFIG=%s" % lab.kubeconfig)
    elif args.command == "down":
        lab.down()
        print("lab: down")
    elif args.command == "status":
        status = lab.status()
        print(json.dumps(status, indent=2))
        return 0 if status["running"] else 3
    elif args.command == "env":
        if not lab.is_running():
            print("lab: not running", file=sys.stderr)
            return 3
        print("export KUBECONFIG=%s" % lab.kubeconfig)
    elif args.command == "log-writes":
        print(sum(1 for entry in lab.log(0) if entry["method"] in ("POST", "PUT", "PATCH", "DELETE")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
