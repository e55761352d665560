"""Builders and waits for KubeVirt objects used by the module integration tests."""

import json

from tests.integration.helpers import wait_equal, wait_for

VM_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines"
VMI_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances"
VMIM_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstancemigrations"
NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions"


def vm_manifest(name, running=True, labels=None, template_labels=None):
    return {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {"runStrategy": "Always" if running else "Halted", "template": {
            "metadata": {"labels": dict(template_labels or {"app": name})},
            "spec": {"domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}}]},
                                "resources": {"requests": {"memory": "128Mi"}}},
                     "networks": [{"name": "default", "pod": {}}]}}},
    }


def create_vm(lab, namespace, name, **kwargs):
    return lab.request("POST", VM_PATH % namespace, vm_manifest(name, **kwargs))


def create_nad(lab, namespace, name, resource_name=None, subnet=None):
    config = {"cniVersion": "0.3.1", "name": name, "type": "sriov" if resource_name else "bridge"}
    if not resource_name:
        config["bridge"] = "br-" + name[:10]
    config["ipam"] = {"type": "host-local", "subnet": subnet} if subnet else {}
    meta = {"name": name}
    if resource_name:
        meta["annotations"] = {"k8s.v1.cni.cncf.io/resourceName": resource_name}
    return lab.request("POST", NAD_PATH % namespace, {"apiVersion": "k8s.cni.cncf.io/v1",
                                                      "kind": "NetworkAttachmentDefinition", "metadata": meta,
                                                      "spec": {"config": json.dumps(config)}})


def get_vm(lab, namespace, name):
    return lab.request("GET", "%s/%s" % (VM_PATH % namespace, name))


def get_vmi(lab, namespace, name):
    return lab.request("GET", "%s/%s" % (VMI_PATH % namespace, name))


def wait_running(lab, namespace, name, timeout=180):
    return wait_for(lambda: (get_vmi(lab, namespace, name).get("status") or {}).get("phase") == "Running" and
                    get_vmi(lab, namespace, name), timeout=timeout, message="VMI %s/%s Running" % (namespace, name))


def iface_names(vm):
    return [i["name"] for i in vm["spec"]["template"]["spec"]["domain"]["devices"].get("interfaces", [])]


def network_names(vm):
    return [n["name"] for n in vm["spec"]["template"]["spec"].get("networks", [])]


def migrations(lab, namespace):
    return lab.request("GET", VMIM_PATH % namespace)["items"]


def wait_migration_phases(lab, namespace, expected, timeout=120):
    """Wait until the namespace's migrations' ``status.phase`` list is ``expected``.
    virt-controller's migration controller (pkg/virt-controller/watch/migration/migration.go
    processMigrationPhase) writes Succeeded from its own sync after the target virt-handler set
    ``migrationState.completed``, while the interfaces the module waits for come from the target's
    later VMI sync (lab/kubevirt/handler_migration.py steps 6-8): the VMI can be done first."""
    return wait_equal(lambda: [(m.get("status") or {}).get("phase") for m in migrations(lab, namespace)],
                      expected, timeout=timeout, message="the migrations' phases in %s" % namespace)
