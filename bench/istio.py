"""Istio mesh enrolment for 300 VMs across 10 namespaces: the istio_injection
role (one task, kubevirt_vm_istio) against the obvious per-VM
kubernetes.core.k8s loop (one task per VM template annotation, plus per
namespace the injection label, a Service and a PeerAuthentication), first
converge and no-op re-run, in the same lab run.

The loop costs about the same per VM whatever the total is, so by default it
runs on fewer namespaces (--loop-namespaces) and its time is also shown
extrapolated to the full size; the extrapolation is marked as such.  The
rolling restart is measured separately on running VMs (--restart-vms),
since the loop has no equivalent that waits for sidecars."""

import argparse
import json
import os
import tempfile

from bench.common import REPO, run_playbook
from lab.cluster import Lab

VM_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines"
OWNED = {"app.kubernetes.io/managed-by": "kubevirt_net.core", "kubevirt-net.io/component": "istio"}
SERVICE_PORTS = [{"name": "http-80", "port": 80, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"}]


def vm(name, running=False):
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": name},
            "spec": {"runStrategy": "Always" if running else "Halted", "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}}]},
                                    "resources": {"requests": {"memory": "128Mi"}}},
                         "networks": [{"name": "default", "pod": {}}]}}}}


def make_namespaces(lab, prefix, count, per_namespace, labels, running=False):
    names = ["%s-%02d" % (prefix, i) for i in range(count)]
    for name in names:
        lab.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": name, "labels": labels}})
        for index in range(per_namespace):
            lab.request("POST", VM_PATH % name, vm("vm-%03d" % index, running))
    return names


def role_play(selector, **extra):
    variables = {"istio_injection_namespace_selector": selector, "istio_injection_mtls": "strict",
                 "istio_injection_services": [{"name": "web", "template_selector": {"app": "web"}, "ports": [
                     {"port": 80, "target_port": 8080, "app_protocol": "http"}]}]}
    variables.update(extra)
    return [{"hosts": "localhost", "gather_facts": False,
             "roles": [{"role": "kubevirt_net.core.istio_injection", "vars": variables}]}]


def k8s_loop(namespaces, per_namespace):
    """What a playbook without this collection does: one kubernetes.core.k8s task per object."""
    vms = [{"namespace": ns, "name": "vm-%03d" % i} for ns in namespaces for i in range(per_namespace)]
    return [{"hosts": "localhost", "gather_facts": False, "vars": {"vms": vms, "spaces": namespaces}, "tasks": [
        {"name": "namespace label", "loop": "{{ spaces }}", "kubernetes.core.k8s": {
            "state": "patched", "kind": "Namespace", "name": "{{ item }}",
            "definition": {"metadata": {"labels": {"istio-injection": "enabled"}}}}},
        {"name": "Service", "loop": "{{ spaces }}", "kubernetes.core.k8s": {"state": "present", "definition": {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "{{ item }}", "labels": OWNED},
            "spec": {"selector": {"app": "web"}, "ports": SERVICE_PORTS}}}},
        {"name": "PeerAuthentication", "loop": "{{ spaces }}", "kubernetes.core.k8s": {
            "state": "present", "definition": {
                "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                "metadata": {"name": "default", "namespace": "{{ item }}", "labels": OWNED},
                "spec": {"mtls": {"mode": "STRICT"}}}}},
        {"name": "VM template annotation", "loop": "{{ vms }}",
         "loop_control": {"label": "{{ item.namespace }}/{{ item.name }}"},
         "kubernetes.core.k8s": {"state": "patched", "api_version": "kubevirt.io/v1", "kind": "VirtualMachine",
                                 "namespace": "{{ item.namespace }}", "name": "{{ item.name }}",
                                 "definition": {"spec": {"template": {"metadata": {"annotations": {
                                     "sidecar.istio.io/inject": "true"}}}}}}},
    ]}]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespaces", type=int, default=10, help="namespaces for the role (default 10)")
    parser.add_argument("--vms", type=int, default=30, help="VMs per namespace (default 30: 300 in all)")
    parser.add_argument("--loop-namespaces", type=int, default=1,
                        help="namespaces for the k8s loop (default 1; the loop is extrapolated to --namespaces)")
    parser.add_argument("--restart-vms", type=int, default=10,
                        help="running VMs for the rolling-restart measurement (0 = skip)")
    args = parser.parse_args()
    lab = Lab(tempfile.mkdtemp(prefix="kvnet-bench-"), {"istio": True}).up()
    total, loop_total = args.namespaces * args.vms, args.loop_namespaces * args.vms
    try:
        make_namespaces(lab, "ours", args.namespaces, args.vms, {"bench": "ours"})
        loop_names = make_namespaces(lab, "loop", args.loop_namespaces, args.vms, {"bench": "loop"})
        rows = [
            run_playbook(lab, role_play({"bench": "ours"}),
                         "role: first converge, %d ns x %d VMs" % (args.namespaces, args.vms)),
            run_playbook(lab, k8s_loop(loop_names, args.vms),
                         "k8s loop: first converge, %d ns x %d VMs" % (args.loop_namespaces, args.vms)),
            run_playbook(lab, role_play({"bench": "ours"}), "role: re-run (no change)"),
            run_playbook(lab, k8s_loop(loop_names, args.vms), "k8s loop: re-run (no change)"),
        ]
        sizes = [total, loop_total, total, loop_total]
        annotated = sum(1 for ns in range(args.namespaces) for o in lab.request("GET", VM_PATH % ("ours-%02d" % ns))[
            "items"] if (o["spec"]["template"]["metadata"].get("annotations") or {}).get("sidecar.istio.io/inject"))
        assert annotated == total, annotated
        if args.restart_vms:
            make_namespaces(lab, "restart", 1, args.restart_vms, {"bench": "restart"}, running=True)
            rows.append(run_playbook(lab, role_play({"bench": "restart"}, istio_injection_restart="rolling",
                                                    istio_injection_restart_batch_size=5),
                                     "role: rolling restart, %d running VMs, batches of 5" % args.restart_vms))
            sizes.append(args.restart_vms)
    finally:
        lab.down()

    print("\n== Istio enrolment: role on %d namespaces x %d VMs (%d), k8s loop on %d namespaces (%d VMs)"
          % (args.namespaces, args.vms, total, args.loop_namespaces, loop_total))
    print("%-52s %9s %9s %7s %10s" % ("run", "seconds", "requests", "writes", "s/VM"))
    for row, size in zip(rows, sizes):
        row["vms"] = size
        row["seconds_per_vm"] = round(row["seconds"] / size, 4)
        print("%-52s %9.2f %9d %7d %10.4f" % (row["label"], row["seconds"], row["requests"], row["writes"],
                                              row["seconds_per_vm"]))
    ratios = []
    for ours, loop in ((rows[0], rows[1]), (rows[2], rows[3])):
        per_vm = loop["seconds_per_vm"] / ours["seconds_per_vm"] if ours["seconds_per_vm"] else float("inf")
        extrapolated = loop["seconds_per_vm"] * total
        entry = {"ours": ours["label"], "loop": loop["label"], "speedup_per_vm": round(per_vm, 1),
                 "loop_seconds_extrapolated_to_%d_vms" % total: round(extrapolated, 1),
                 "extrapolated": loop_total != total,
                 "requests_per_vm_ours": round(ours["requests"] / total, 3),
                 "requests_per_vm_loop": round(loop["requests"] / loop_total, 3)}
        ratios.append(entry)
        print("speed-up %-44s %6.1fx per VM; loop %s %d VMs: %.0f s%s; requests/VM %.2f vs %.2f" % (
            ours["label"], per_vm, "extrapolated to" if loop_total != total else "on", total, extrapolated,
            " (measured on %d)" % loop_total if loop_total != total else "", entry["requests_per_vm_ours"],
            entry["requests_per_vm_loop"]))
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    with open(os.path.join(REPO, "bench", "results", "istio.json"), "w", encoding="utf-8") as handle:
        json.dump({"title": "Istio enrolment, %d VMs in %d namespaces" % (total, args.namespaces), "rows": rows,
                   "ratios": ratios}, handle, indent=2)


if __name__ == "__main__":
    main()
