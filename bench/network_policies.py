"""NetworkPolicies for N namespaces x 3 policies: the network_policies role
(one task, kubevirt_network_policies) against an equivalent loop of
kubernetes.core.k8s (one task per policy, plus the k8s_info a loop needs to
find what to prune), first converge and no-op re-run, in the same lab run.

The loop costs about the same per policy whatever N is, so it may run on
fewer namespaces (--loop-namespaces) and be compared per namespace; the
per-namespace ratio and the loop's time extrapolated to N are printed and
marked as such."""

import argparse
import sys

from bench.common import per_namespace_report, run_playbook, start_lab

POLICY_LABELS = {"app.kubernetes.io/managed-by": "kubevirt_net.core", "kubevirt-net.io/policy-set": "default"}
ROLE_VARS = {
    "network_policies_default_deny": "both",
    "network_policies_allow_dns": True,
    # on Kubernetes >= 1.21 (the lab runs 1.34) every namespace has kubernetes.io/metadata.name: no PATCH
    "network_policies_label_namespaces": True,
    "network_policies_allow_same_namespace": False,
    "network_policies_rules": [
        {"name": "db-from-app", "direction": "ingress", "template_selector": {"app": "db"},
         "peers": [{"template_selector": {"app": "web"}}], "ports": [{"port": 3306}]},
    ],
}
# The same three policies, as the loop writes them.
SPECS = {
    "kvnet-default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    "kvnet-allow-dns": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]},
    "kvnet-db-from-app": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"], "ingress": [{
        "from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"protocol": "TCP", "port": 3306}]}]},
}


def role_play(selector, role_vars=None):
    return [{"hosts": "localhost", "gather_facts": False, "roles": [{
        "role": "kubevirt_net.core.network_policies",
        "vars": dict(role_vars or ROLE_VARS, network_policies_namespace_selector=selector)}]}]


def k8s_loop(namespaces, specs=None, api_version="networking.k8s.io/v1", kind="NetworkPolicy", annotations=None):
    """One kubernetes.core.k8s task per policy (``specs``: {name: spec}, in every namespace; ``annotations``
    may use ``item.namespace``), then the k8s_info a loop needs to prune."""
    items = [{"namespace": ns, "name": name, "spec": spec} for ns in namespaces for name, spec in (specs or SPECS).items()]
    metadata = {"name": "{{ item.name }}", "namespace": "{{ item.namespace }}", "labels": POLICY_LABELS}
    if annotations:
        metadata["annotations"] = annotations
    return [{"hosts": "localhost", "gather_facts": False, "vars": {"policies": items}, "tasks": [
        {"name": "policies", "loop": "{{ policies }}",
         "loop_control": {"label": "{{ item.namespace }}/{{ item.name }}"},
         "kubernetes.core.k8s": {"state": "present", "definition": {
             "apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": "{{ item.spec }}"}}},
        # what a loop needs to prune: the managed policies, to diff against the declaration (nothing to delete here)
        {"name": "managed policies", "register": "managed", "kubernetes.core.k8s_info": {
            "api_version": api_version, "kind": kind,
            "label_selectors": ["app.kubernetes.io/managed-by=kubevirt_net.core"]}},
    ]}]


def make_namespaces(lab, prefix, count, labels):
    names = ["%s-%04d" % (prefix, i) for i in range(count)]
    for name in names:
        lab.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": name, "labels": labels}})
    return names


def compare(lab, args, scenario, per_ns):
    """The four timed runs of a policy scenario (``scenario``: a module with make_namespaces, role_play
    and k8s_loop): the role on --namespaces, the loop on --loop-namespaces, then both again.
    Returns (rows, the role's namespaces)."""
    ours = scenario.make_namespaces(lab, "ours", args.namespaces, {"bench": "ours"})
    loop_names = scenario.make_namespaces(lab, "loop", args.loop_namespaces, {"bench": "loop"})
    rows = [
        run_playbook(lab, scenario.role_play({"bench": "ours"}),
                     "role: first converge, %d ns x %d" % (args.namespaces, per_ns)),
        run_playbook(lab, scenario.k8s_loop(loop_names),
                     "k8s loop: first converge, %d ns x %d" % (args.loop_namespaces, per_ns)),
        run_playbook(lab, scenario.role_play({"bench": "ours"}), "role: re-run (no change)"),
        run_playbook(lab, scenario.k8s_loop(loop_names), "k8s loop: re-run (no change)"),
    ]
    return rows, ours


def arguments(namespaces, loop_namespaces):
    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespaces", type=int, default=namespaces,
                        help="namespaces for the role (default %d)" % namespaces)
    parser.add_argument("--loop-namespaces", type=int, default=loop_namespaces,
                        help="namespaces for the k8s loop (default %d)" % loop_namespaces)
    return parser.parse_args()


def main():
    args = arguments(1000, 50)
    per_ns = len(SPECS)
    lab = start_lab()
    try:
        rows, _ours = compare(lab, args, sys.modules[__name__], per_ns)
        stored = len([o for o in lab.request("GET", "/apis/networking.k8s.io/v1/networkpolicies")["items"]
                      if o["metadata"]["namespace"].startswith("ours-")])
        assert stored == args.namespaces * per_ns, stored
    finally:
        lab.down()

    per_namespace_report("NetworkPolicies, %d per namespace" % per_ns, rows,
                         [args.namespaces, args.loop_namespaces] * 2, "network_policies.json", goals=(50, 100))


if __name__ == "__main__":
    main()
