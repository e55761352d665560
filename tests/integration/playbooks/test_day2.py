"""The day-two playbooks against the lab, run as a user runs them (-e vars):
check mode writes nothing, the change lands, a re-run writes nothing."""

import json
import os
import subprocess

from tests.integration.modules.kubevirt_objects import (
    create_nad, create_vm, get_vm, iface_names, network_names, wait_running)
from lab.cluster import REPO_ROOT


def playbook(ansible_env, name, extra, check=False):
    argv = ["ansible-playbook", "-i", "localhost,", os.path.join(REPO_ROOT, "playbooks", name),
            "-e", json.dumps(extra)] + (["--check"] if check else [])
    proc = subprocess.run(argv, env=ansible_env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr[-2000:])
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def changed(result):
    return sum(stats["changed"] for stats in result["stats"].values())


def test_add_then_remove_an_interface_on_running_vms(lab, namespace, ansible_env, capabilities, request_log):
    capabilities(dynamic_networks=True)
    create_nad(lab, namespace, "storage-net")
    for name in ("db-1", "db-2"):
        create_vm(lab, namespace, name, template_labels={"tier": "db", "app": name}, labels={"tier": "db"})
    create_vm(lab, namespace, "web-1", labels={"tier": "web"})
    for name in ("db-1", "db-2"):
        wait_running(lab, namespace, name)
    extra = {"vm_namespace": namespace, "vm_selector": "tier=db", "interface": "storage", "network": "storage-net"}

    request_log.mark()
    playbook(ansible_env, "day2_add_interface.yml", extra, check=True)
    assert request_log.writes(include_dry_run=True) == []

    first = playbook(ansible_env, "day2_add_interface.yml", extra)
    assert changed(first) == 1
    for name in ("db-1", "db-2"):
        vm = get_vm(lab, namespace, name)
        assert "storage" in iface_names(vm) and "storage" in network_names(vm)
    assert "storage" not in iface_names(get_vm(lab, namespace, "web-1"))

    request_log.mark()
    assert changed(playbook(ansible_env, "day2_add_interface.yml", extra)) == 0
    assert request_log.writes(include_dry_run=True) == []

    removal = {key: extra[key] for key in ("vm_namespace", "vm_selector", "interface")}
    assert changed(playbook(ansible_env, "day2_remove_interface.yml", removal)) == 1
    for name in ("db-1", "db-2"):
        spec = get_vm(lab, namespace, name)["spec"]["template"]["spec"]
        storage = [i for i in spec["domain"]["devices"]["interfaces"] if i["name"] == "storage"]
        # KubeVirt's unplug: state absent first, both entries go once the VMI lost the NIC
        assert storage == [] or storage[0].get("state") == "absent"


def test_clone_batch_gives_each_clone_a_mac_from_the_pool(lab, namespace, ansible_env, request_log):
    create_nad(lab, namespace, "prod-a")
    create_nad(lab, namespace, "prod-b")
    golden = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "golden"},
              "spec": {"runStrategy": "Halted", "template": {"metadata": {"labels": {"app": "golden"}}, "spec": {
                  "domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}},
                                                        {"name": "prod", "bridge": {}}]},
                             "resources": {"requests": {"memory": "128Mi"}}},
                  "networks": [{"name": "default", "pod": {}}, {"name": "prod", "multus": {"networkName": "prod-a"}}]}}}}
    lab.request("POST", "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines" % namespace, golden)
    extra = {"vm_namespace": namespace, "golden": "golden", "count": 2, "network": "prod-b", "interface": "prod",
             "mac_prefix": "02:00:00:bb:00"}
    assert changed(playbook(ansible_env, "clone_batch.yml", extra)) >= 1
    for index in (1, 2):
        vm = get_vm(lab, namespace, "golden-clone-%d" % index)
        prod = [i for i in vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"] if i["name"] == "prod"]
        # the clone carries it dash-separated: KubeVirt's restore webhook refuses a ':' form
        # (pkg/storage/admitters/vmrestore.go validatePatches); KubeVirt parses both the same
        assert prod[0]["macAddress"] == "02-00-00-bb-00-%02x" % index
        nets = {n["name"]: n for n in vm["spec"]["template"]["spec"]["networks"]}
        assert nets["prod"]["multus"]["networkName"] == "prod-b"
    request_log.mark()
    rerun = playbook(ansible_env, "clone_batch.yml", extra)
    assert request_log.writes(include_dry_run=True) == []
    assert changed(rerun) == 0
