"""MultiNetworkPolicies on a Multus secondary network, N namespaces x 2: the
network_policies role (one task; rules with ``network: storage``) against an
equivalent loop of kubernetes.core.k8s (one task per MultiNetworkPolicy, plus
the k8s_info a loop needs to find what to prune), first converge and no-op
re-run, in the same lab run.

Every namespace has a bridge NetworkAttachmentDefinition ``storage`` (made
before the timed runs, for both sides).  The role also checks, before any
write, that each ``policy-for`` NAD exists and is not SR-IOV, which costs it a
NAD LIST per namespace; the loop checks nothing.  As in bench.network_policies,
the loop runs on fewer namespaces (--loop-namespaces) and the comparison is per
namespace; the loop's time extrapolated to N is printed and marked as such."""

import json
import sys

from bench import network_policies
from bench.common import per_namespace_report, start_lab

POLICY_FOR = "k8s.v1.cni.cncf.io/policy-for"
NAD = "storage"
NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions"
MNP_API = "k8s.cni.cncf.io/v1beta1"
ROLE_VARS = {
    # only the secondary-network rules: the pod-network baselines are bench.network_policies' subject
    "network_policies_default_deny": "none",
    "network_policies_allow_dns": False,
    "network_policies_allow_same_namespace": False,
    "network_policies_rules": [
        {"name": "storage-same-tenant", "direction": "ingress", "network": NAD,
         "template_selector": {}, "peers": [{"template_selector": {}}]},
        {"name": "storage-backup", "direction": "ingress", "network": NAD, "template_selector": {"app": "db"},
         "peers": [{"template_selector": {"app": "backup"}}], "ports": [{"port": 5432}]},
    ],
}
# The same two MultiNetworkPolicies, as the loop writes them (policy-for: <its namespace>/storage).
SPECS = {
    "kvnet-storage-same-tenant": {"podSelector": {}, "policyTypes": ["Ingress"],
                                  "ingress": [{"from": [{"podSelector": {}}]}]},
    "kvnet-storage-backup": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"], "ingress": [{
        "from": [{"podSelector": {"matchLabels": {"app": "backup"}}}], "ports": [{"protocol": "TCP", "port": 5432}]}]},
}


def role_play(selector):
    return network_policies.role_play(selector, ROLE_VARS)


def k8s_loop(namespaces):
    return network_policies.k8s_loop(namespaces, SPECS, MNP_API, "MultiNetworkPolicy",
                                     {POLICY_FOR: "{{ item.namespace }}/" + NAD})


def make_namespaces(lab, prefix, count, labels):
    """``count`` namespaces, each with the bridge NAD ``storage``."""
    names = network_policies.make_namespaces(lab, prefix, count, labels)
    config = json.dumps({"cniVersion": "0.3.1", "name": NAD, "type": "bridge", "bridge": "br-storage", "vlan": 100})
    for name in names:
        lab.request("POST", NAD_PATH % name, {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                                              "metadata": {"name": NAD}, "spec": {"config": config}})
    return names


def stored(lab, namespaces):
    """{(namespace, name): (labels, policy-for relative to the namespace, spec)} of the stored MultiNetworkPolicies."""
    wanted = set(namespaces)
    out = {}
    for obj in lab.request("GET", "/apis/%s/multi-networkpolicies" % MNP_API)["items"]:
        meta = obj["metadata"]
        if meta["namespace"] in wanted:
            policy_for = (meta.get("annotations") or {}).get(POLICY_FOR, "").replace(meta["namespace"] + "/", "<ns>/")
            out[(meta["namespace"], meta["name"])] = (meta.get("labels"), policy_for, obj["spec"])
    return out


def main():
    args = network_policies.arguments(200, 25)
    per_ns = len(SPECS)
    lab = start_lab()
    try:
        rows, ours = network_policies.compare(lab, args, sys.modules[__name__], per_ns)
        count = len(stored(lab, ours))
        if count != args.namespaces * per_ns:
            raise SystemExit("the role stored %d MultiNetworkPolicies, not %d" % (count, args.namespaces * per_ns))
    finally:
        lab.down()
    per_namespace_report("MultiNetworkPolicies, %d per namespace on a bridge NAD" % per_ns, rows,
                         [args.namespaces, args.loop_namespaces] * 2, "multi_network_policies.json")


if __name__ == "__main__":
    main()
