"""KubeVirt's network paths that modules wait on (the real virt-controller, the emulated node side)."""

from tests.integration.helpers import wait_for
from tests.integration.modules.kubevirt_objects import (
    VM_PATH, create_nad, get_vm, get_vmi, migrations, vm_manifest, wait_running)
from lab.cluster import LabError


def add_iface(lab, namespace, name, iface, network, attempts=5):
    # the resourceVersion test fails with 422 when virt-controller updated the VM's status in between: read again
    for attempt in range(attempts):
        vm = get_vm(lab, namespace, name)
        spec = vm["spec"]["template"]["spec"]
        try:
            lab.request("PATCH", "%s/%s" % (VM_PATH % namespace, name), [
                {"op": "test", "path": "/metadata/resourceVersion", "value": vm["metadata"]["resourceVersion"]},
                {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", "value": iface},
                {"op": "add", "path": "/spec/template/spec/networks/-", "value": network}],
                content_type="application/json-patch+json")
            return spec
        except LabError as err:
            if "422" not in str(err) or attempt == attempts - 1:
                raise
    return None


def condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def test_without_live_migrate_migration_required_stays_and_nothing_else(lab, namespace, capabilities):
    capabilities(dynamic_networks=False, workload_update_methods=[])
    create_nad(lab, namespace, "br-x")
    lab.request("POST", VM_PATH % namespace, vm_manifest("stuck"))
    wait_running(lab, namespace, "stuck")
    add_iface(lab, namespace, "stuck", {"name": "net1", "bridge": {}},
              {"name": "net1", "multus": {"networkName": "br-x"}})
    cond = wait_for(lambda: (condition(get_vmi(lab, namespace, "stuck"), "MigrationRequired") or {}).get(
        "status") == "True" and condition(get_vmi(lab, namespace, "stuck"), "MigrationRequired"),
        timeout=180, message="MigrationRequired=True")
    assert cond["reason"] == "AutoMigrationDueToLiveUpdate"
    assert migrations(lab, namespace) == []
    vmi = get_vmi(lab, namespace, "stuck")
    assert "net1" not in [i["name"] for i in vmi["status"]["interfaces"]]
    assert "net1" in [i["name"] for i in vmi["spec"]["domain"]["devices"]["interfaces"]]


def test_non_live_change_sets_restart_required(lab, namespace):
    lab.request("POST", VM_PATH % namespace, vm_manifest("rr"))
    wait_running(lab, namespace, "rr")
    lab.request("PATCH", "%s/rr" % (VM_PATH % namespace), {"spec": {"template": {"spec": {"domain": {
        "resources": {"requests": {"memory": "256Mi"}}}}}}}, content_type="application/merge-patch+json")
    cond = wait_for(lambda: condition(get_vm(lab, namespace, "rr"), "RestartRequired"), timeout=120,
                    message="RestartRequired")
    assert cond["status"] == "True" and cond["message"] == "a non-live-updatable field was changed in the template spec"


def test_sriov_vm_unschedulable_without_the_resource(lab, namespace):
    create_nad(lab, namespace, "sriov-none", resource_name="example.com/none")
    vm = vm_manifest("sr")
    vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].append({"name": "vf", "sriov": {}})
    vm["spec"]["template"]["spec"]["networks"].append({"name": "vf", "multus": {"networkName": "sriov-none"}})
    lab.request("POST", VM_PATH % namespace, vm)
    cond = wait_for(lambda: condition(get_vmi(lab, namespace, "sr"), "PodScheduled"), timeout=120,
                    message="PodScheduled condition")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert "Insufficient example.com/none" in cond["message"]
    assert get_vmi(lab, namespace, "sr")["status"]["phase"] == "Scheduling"


def test_istio_label_annotations_and_proxy_container(lab, namespace, capabilities):
    capabilities(istio=True)
    lab.request("PATCH", "/api/v1/namespaces/%s" % namespace, {"metadata": {"labels": {"istio-injection": "enabled"}}},
                content_type="application/merge-patch+json")
    vm = vm_manifest("mesh")
    vm["spec"]["template"]["metadata"]["annotations"] = {"sidecar.istio.io/inject": "true"}
    lab.request("POST", VM_PATH % namespace, vm)
    vmi = wait_running(lab, namespace, "mesh")
    pods = lab.request("GET", "/api/v1/namespaces/%s/pods?labelSelector=kubevirt.io%%2Fcreated-by%%3D%s"
                       % (namespace, vmi["metadata"]["uid"]))["items"]
    pod = pods[0]
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    assert pod["metadata"]["annotations"]["traffic.sidecar.istio.io/kubevirtInterfaces"] == "k6t-eth0"
    assert [c["name"] for c in pod["spec"]["containers"]] == ["compute", "istio-proxy"]
