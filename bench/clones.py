"""N clones of one VM: kubevirt_vm_clone with ``targets:`` (one task, clones
made concurrently, waits for each VirtualMachineClone to succeed) against a
kubernetes.core.k8s loop creating the VirtualMachineClone objects plus a
k8s_info wait per clone (the obvious alternative), then the no-op re-run of
both, in the same lab run."""

import argparse

from bench.common import report, run_playbook, start_lab

VM_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines"


def golden():
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": "golden", "labels": {"app": "golden"}},
            "spec": {"runStrategy": "Halted", "template": {"metadata": {"labels": {"app": "golden"}}, "spec": {
                "domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}}]},
                           "resources": {"requests": {"memory": "64Mi"}}},
                "networks": [{"name": "default", "pod": {}}]}}}}


def names(prefix, count):
    return ["%s-%03d" % (prefix, i) for i in range(count)]


def ours(namespace, targets):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "clones", "kubevirt_net.core.kubevirt_vm_clone": {
            "namespace": namespace, "source": "golden", "targets": [{"name": t} for t in targets],
            "wait_sleep": 0.2}}]}]


def k8s_loop(namespace, targets):
    return [{"hosts": "localhost", "gather_facts": False, "vars": {"targets": targets}, "tasks": [
        {"name": "clones", "loop": "{{ targets }}", "kubernetes.core.k8s": {"state": "present", "definition": {
            "apiVersion": "clone.kubevirt.io/v1beta1", "kind": "VirtualMachineClone",
            "metadata": {"name": "clone-{{ item }}", "namespace": namespace},
            "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "golden"},
                     "target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "{{ item }}"}}}}},
        {"name": "wait", "loop": "{{ targets }}", "register": "clone", "retries": 120, "delay": 1,
         "until": "clone.resources | length == 1 and (clone.resources[0].status.phase | default('')) == 'Succeeded'",
         "kubernetes.core.k8s_info": {"api_version": "clone.kubevirt.io/v1beta1", "kind": "VirtualMachineClone",
                                      "namespace": namespace, "name": "clone-{{ item }}"}}]}]


def prepare(lab, namespaces):
    for namespace in namespaces:
        lab.request("POST", VM_PATH % namespace, golden())


def run(lab, count, ours_ns, loop_ns):
    """The four runs on an existing lab (namespaces exist); returns (rows, pairs)."""
    prepare(lab, (ours_ns, loop_ns))
    rows = [run_playbook(lab, ours(ours_ns, names("ours", count)), "kubevirt_vm_clone %d targets (1 task)" % count),
            run_playbook(lab, k8s_loop(loop_ns, names("loop", count)),
                         "k8s VirtualMachineClone loop + k8s_info wait, %d" % count),
            run_playbook(lab, ours(ours_ns, names("ours", count)), "kubevirt_vm_clone re-run (no change)"),
            run_playbook(lab, k8s_loop(loop_ns, names("loop", count)), "k8s loop re-run")]
    return rows, [(rows[0], rows[1]), (rows[2], rows[3])]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    lab = start_lab()
    try:
        for namespace in ("bench-ours", "bench-k8s"):
            lab.request("POST", "/api/v1/namespaces",
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        rows, pairs = run(lab, args.count, "bench-ours", "bench-k8s")
        report("%d VM clones" % args.count, rows, pairs, "clones.json")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
