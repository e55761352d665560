"""The lab daemon: one process in front of kube-apiserver that runs the
request-logging, fault-injecting proxy and KubeVirt's emulated controllers,
webhooks and aggregated subresource API (lab/kubevirt)."""

import argparse
import json
import logging
import os

from .kubevirt import emulator
from .proxy import LabProxy, serve_until_signalled


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open(os.path.join(args.state_dir, "lab.json"), encoding="utf-8") as handle:
        state = json.load(handle)
    pki_paths = state["pki"]
    proxy = LabProxy(
        upstream="https://127.0.0.1:%d" % state["apiserver_port"],
        certfile=pki_paths["server.crt"], keyfile=pki_paths["server.key"],
        upstream_ca=pki_paths["ca.crt"], port=state["proxy_port"])
    emulator.start(state, args.state_dir, proxy, os.path.join(args.state_dir, "kubeconfig-controller"))
    proxy.start()
    serve_until_signalled(proxy)


if __name__ == "__main__":
    main()
