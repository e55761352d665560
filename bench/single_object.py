"""Single-object latency: one NetworkAttachmentDefinition created, then the
same task re-run (no change), with kubevirt_network and with
kubernetes.core.k8s, in the same lab run.  Each playbook run is one
ansible-playbook process, so the seconds include Ansible's start-up: that is
what a user waits for."""

import argparse
import json

from bench.common import report, run_playbook, start_lab

CONFIG = {"cniVersion": "0.3.1", "name": "single", "type": "bridge", "bridge": "br-single", "vlan": 42}


def ours(namespace):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "network", "kubevirt_net.core.kubevirt_network": {
            "namespace": namespace, "name": "single", "type": "bridge", "bridge": "br-single", "vlan": 42}}]}]


def k8s(namespace):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "network", "kubernetes.core.k8s": {"state": "present", "definition": {
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "single", "namespace": namespace},
            "spec": {"config": json.dumps(CONFIG, sort_keys=True)}}}}]}]


def run(lab, ours_ns, k8s_ns):
    rows = [run_playbook(lab, ours(ours_ns), "kubevirt_network: 1 NAD create"),
            run_playbook(lab, k8s(k8s_ns), "kubernetes.core.k8s: 1 NAD create"),
            run_playbook(lab, ours(ours_ns), "kubevirt_network: 1 NAD re-run (no change)"),
            run_playbook(lab, k8s(k8s_ns), "kubernetes.core.k8s: 1 NAD re-run")]
    return rows, [(rows[0], rows[1]), (rows[2], rows[3])]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    lab = start_lab()
    try:
        for namespace in ("bench-ours", "bench-k8s"):
            lab.request("POST", "/api/v1/namespaces",
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        rows, pairs = run(lab, "bench-ours", "bench-k8s")
        report("Single object (one NAD)", rows, pairs, "single_object.json")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
