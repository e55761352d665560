"""Plug one NIC into N running VMs: kubevirt_iface_hotplug with one
``vm_selector`` task against a loop of kubernetes.core.k8s_json_patch + a
k8s_info wait per VM (the obvious alternative), in the same lab run.

The loop can be run on fewer VMs (``--loop-count``) when N is large; the
report then says so and gives the per-VM extrapolation."""

import argparse
import time

from bench.common import report, run_playbook, start_lab

VM_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines"


def vm(name, group):
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": name, "labels": {"bench": group}},
            "spec": {"runStrategy": "Always", "template": {"metadata": {"labels": {"app": name}}, "spec": {
                "domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}}]},
                           "resources": {"requests": {"memory": "64Mi"}}},
                "networks": [{"name": "default", "pod": {}}]}}}}


def make_vms(lab, namespace, group, count):
    for i in range(count):
        lab.request("POST", VM_PATH % namespace, vm("%s-%03d" % (group, i), group))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        items = lab.request("GET", "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances" % namespace)["items"]
        running = [v for v in items if (v.get("status") or {}).get("phase") == "Running"
                   and v["metadata"]["name"].startswith(group)]
        if len(running) == count:
            return
        time.sleep(0.5)
    raise SystemExit("VMs of %s did not start" % group)


def ours(namespace, interface="net1", wait=True):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "plug", "kubevirt_net.core.kubevirt_iface_hotplug": {
            "namespace": namespace, "vm_selector": "bench=ours", "interface": interface, "network": "br-bench",
            "dynamic_networks": "true", "wait_sleep": 0.5, "wait": wait}}]}]


def patch_task(namespace, interface="net1"):
    return {"name": "patch", "loop": "{{ vms }}", "kubernetes.core.k8s_json_patch": {
        "kind": "VirtualMachine", "api_version": "kubevirt.io/v1", "namespace": namespace, "name": "{{ item }}",
        "patch": [{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-",
                   "value": {"name": interface, "bridge": {}}},
                  {"op": "add", "path": "/spec/template/spec/networks/-",
                   "value": {"name": interface, "multus": {"networkName": "br-bench"}}}]}}


def loop_patch_only(namespace, names, interface):
    return [{"hosts": "localhost", "gather_facts": False, "vars": {"vms": names},
             "tasks": [patch_task(namespace, interface)]}]


def loop(namespace, names):
    return [{"hosts": "localhost", "gather_facts": False, "vars": {"vms": names}, "tasks": [
        patch_task(namespace),
        {"name": "wait", "loop": "{{ vms }}", "kubernetes.core.k8s_info": {
            "kind": "VirtualMachineInstance", "api_version": "kubevirt.io/v1", "namespace": namespace,
            "name": "{{ item }}"},
         "register": "vmi", "retries": 60, "delay": 1,
         "until": "(vmi.resources[0].status.interfaces | selectattr('name', 'equalto', 'net1') | "
                  "selectattr('infoSource', 'search', 'domain') | list | length) == 1"}]}]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--loop-count", type=int, default=None)
    args = parser.parse_args()
    loop_count = args.loop_count or args.count
    lab = start_lab()
    try:
        lab.set_config(dynamic_networks=True)
        namespace = "bench-hotplug"
        lab.request("POST", "/api/v1/namespaces",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        lab.request("POST", "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions" % namespace, {
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "br-bench"},
            "spec": {"config": '{"cniVersion":"0.3.1","name":"br-bench","type":"bridge","bridge":"brb"}'}})
        make_vms(lab, namespace, "ours", args.count)
        make_vms(lab, namespace, "loop", loop_count)
        rows = [run_playbook(lab, ours(namespace), "kubevirt_iface_hotplug %d VMs (1 task)" % args.count),
                run_playbook(lab, loop(namespace, ["loop-%03d" % i for i in range(loop_count)]),
                             "k8s_json_patch+k8s_info loop %d VMs" % loop_count),
                run_playbook(lab, ours(namespace), "kubevirt_iface_hotplug re-run (no change)"),
                # the same without waiting for KubeVirt: what each side costs by itself
                run_playbook(lab, ours(namespace, "net2", wait=False),
                             "kubevirt_iface_hotplug %d VMs, wait=false" % args.count),
                run_playbook(lab, loop_patch_only(namespace, ["loop-%03d" % i for i in range(loop_count)], "net2"),
                             "k8s_json_patch loop %d VMs (no wait)" % loop_count)]

        def scaled(row):
            if loop_count == args.count:
                return row
            extra = dict(row, label="%s, extrapolated to %d" % (row["label"], args.count),
                         seconds=round(row["seconds"] * args.count / loop_count, 2),
                         requests=row["requests"] * args.count // loop_count,
                         writes=row["writes"] * args.count // loop_count)
            rows.append(extra)
            return extra
        pairs = [(rows[0], scaled(rows[1])), (rows[3], scaled(rows[4]))]
        report("NIC hot-plug into running VMs", rows, pairs, "hotplug.json")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
