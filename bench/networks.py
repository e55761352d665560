"""200 secondary networks: kubevirt_network with ``networks:`` (one task)
against a loop of kubernetes.core.k8s over the same NADs, create and re-run."""

import argparse
import json

from bench.common import report, run_playbook, start_lab


def networks(count):
    return [{"name": "net-%03d" % i, "type": "bridge", "bridge": "br%d" % (i % 8), "vlan": 100 + i,
             "ipam": {"type": "whereabouts", "subnet": "10.%d.%d.0/24" % (100 + i // 250, i % 250)}}
            for i in range(count)]


def ours(namespace, nets):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "networks", "kubevirt_net.core.kubevirt_network": {"namespace": namespace, "networks": nets}}]}]


def k8s_loop(namespace, nets):
    items = [{"name": n["name"], "config": json.dumps({
        "cniVersion": "0.3.1", "name": n["name"], "type": "bridge", "bridge": n["bridge"], "vlan": n["vlan"],
        "ipam": {"type": "whereabouts", "range": n["ipam"]["subnet"]}}, sort_keys=True)} for n in nets]
    return [{"hosts": "localhost", "gather_facts": False, "vars": {"nads": items}, "tasks": [
        {"name": "networks", "loop": "{{ nads }}", "loop_control": {"label": "{{ item.name }}"},
         "kubernetes.core.k8s": {"state": "present", "definition": {
             "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
             "metadata": {"name": "{{ item.name }}", "namespace": namespace},
             "spec": {"config": "{{ item.config }}"}}}}]}]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    nets = networks(args.count)
    lab = start_lab()
    try:
        for namespace in ("bench-ours", "bench-k8s"):
            lab.request("POST", "/api/v1/namespaces",
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        rows = [
            run_playbook(lab, ours("bench-ours", nets), "kubevirt_network create %d" % args.count),
            run_playbook(lab, k8s_loop("bench-k8s", nets), "kubernetes.core.k8s loop create %d" % args.count),
            run_playbook(lab, ours("bench-ours", nets), "kubevirt_network re-run (no change)"),
            run_playbook(lab, k8s_loop("bench-k8s", nets), "kubernetes.core.k8s loop re-run"),
        ]
        report("%d NetworkAttachmentDefinitions" % args.count, rows, [(rows[0], rows[1]), (rows[2], rows[3])],
               "networks.json")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
