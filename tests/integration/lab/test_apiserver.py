"""The lab API server is real Kubernetes API machinery with the real KubeVirt
schemas: pruning, validation, media types and authorisation are the server's."""

import os

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ApiException, DynamicApiError

HERE = os.path.dirname(os.path.abspath(__file__))


def manifest(name):
    with open(os.path.join(HERE, "manifests", name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture
def dyn(lab):
    return DynamicClient(k8s_config.new_client_from_config(config_file=lab.kubeconfig, context="lab"))


@pytest.fixture
def viewer(lab):
    return DynamicClient(k8s_config.new_client_from_config(config_file=lab.kubeconfig, context="lab-viewer"))


def vms(dyn):
    return dyn.resources.get(api_version="kubevirt.io/v1", kind="VirtualMachine")


def test_server_is_kube_apiserver_1_34(lab):
    version = lab.request("GET", "/version", direct=False)
    assert (version["major"], version["minor"]) == ("1", "34")
    assert version["gitVersion"].startswith("v1.34.")


def test_seed_ipaddress_field_is_pruned(dyn, namespace):
    body = manifest("vm-seed-ipaddress.yaml")
    assert body["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1]["ipAddress"]
    created = vms(dyn).create(body=body, namespace=namespace).to_dict()
    ifaces = created["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    assert ifaces[1] == {"name": "net1", "bridge": {}}
    again = vms(dyn).get(name="seed-vm", namespace=namespace).to_dict()
    assert "ipAddress" not in again["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1]


def test_strategic_merge_patch_on_custom_resource_is_415(dyn, namespace):
    vms(dyn).create(body=manifest("vm.yaml"), namespace=namespace)
    with pytest.raises(DynamicApiError) as err:
        vms(dyn).patch(name="vm1", namespace=namespace, body={"metadata": {"labels": {"x": "y"}}},
                       content_type="application/strategic-merge-patch+json")
    assert err.value.status == 415
    assert "UnsupportedMediaType" in err.value.body


def test_wrongly_typed_field_is_422_from_the_schema(dyn, namespace):
    body = manifest("vm.yaml")
    body["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0]["ports"] = [{"port": "eighty"}]
    with pytest.raises(DynamicApiError) as err:
        vms(dyn).create(body=body, namespace=namespace)
    assert err.value.status == 422
    assert "ports" in err.value.body and "integer" in err.value.body


def test_int_in_configmap_data_is_400(dyn, namespace):
    """What ansible-core 2.19+ native types do to a careless template."""
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(DynamicApiError) as err:
        configmaps.create(namespace=namespace, body={
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typed"}, "data": {"i": 18}})
    assert err.value.status == 400


def test_viewer_token_reads_but_cannot_write(viewer, dyn, namespace):
    vms(dyn).create(body=manifest("vm.yaml"), namespace=namespace)
    assert vms(viewer).get(name="vm1", namespace=namespace).metadata.name == "vm1"
    with pytest.raises(DynamicApiError) as err:
        vms(viewer).patch(name="vm1", namespace=namespace, body={"metadata": {"labels": {"x": "y"}}},
                          content_type="application/merge-patch+json")
    assert err.value.status == 403
    assert "lab-viewer" in err.value.body


def test_crds_installed_with_kubevirt_names(dyn):
    names = {(r.group, r.kind) for r in dyn.resources.search(kind="VirtualMachineClone")}
    assert ("clone.kubevirt.io", "VirtualMachineClone") in names
    vm = vms(dyn)
    assert vm.short_names == ["vm", "vms"]
    assert dyn.resources.get(api_version="k8s.cni.cncf.io/v1", kind="NetworkAttachmentDefinition")
    assert dyn.resources.get(api_version="sriovnetwork.openshift.io/v1", kind="SriovNetworkNodePolicy")
    assert dyn.resources.get(api_version="security.istio.io/v1", kind="PeerAuthentication")


def test_namespace_deletion_is_finalised_by_the_controller_manager(lab, dyn):
    """kube-controller-manager's namespace controller runs: a deleted namespace
    with objects in it goes away (without it, it would stay Terminating)."""
    core = k8s_client.CoreV1Api(k8s_config.new_client_from_config(config_file=lab.kubeconfig))
    core.create_namespace({"metadata": {"name": "t-finalise"}})
    vms(dyn).create(body=manifest("vm.yaml"), namespace="t-finalise")
    core.delete_namespace("t-finalise")
    import time
    # the namespace controller deletes the content (the VM waits for virt-controller's finalizer)
    # and requeues with backoff while some remains: under CI load finalisation takes well over a
    # minute (the site fixture allows 300 s); without the controller it never ends
    deadline = time.monotonic() + 180
    last = None
    while time.monotonic() < deadline:
        try:
            last = core.read_namespace("t-finalise").status
        except ApiException as exc:
            assert exc.status == 404
            return
        time.sleep(0.5)
    pytest.fail("namespace t-finalise was not finalised within 180 s; last status: %s" % last)
