"""VM -> VMI -> virt-launcher pod, Services -> Endpoints, kubevirt.core's own
modules: the emulated KubeVirt as clients see it."""

import pytest

from tests.integration.helpers import wait_for
from tests.integration.modules.kubevirt_objects import create_nad, get_vm, get_vmi, wait_running

VM_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines"


def user_guide_vm(name):
    """The user guide's VM: masquerade on the pod network plus a Multus bridge."""
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": name, "labels": {"vm-label": "only-on-vm"}},
            "spec": {"runStrategy": "Always", "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"note": "template"}},
                "spec": {"domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}},
                                                               {"name": "red", "bridge": {}}]},
                                    "resources": {"requests": {"memory": "128Mi"}}},
                         "networks": [{"name": "default", "pod": {}},
                                      {"name": "red", "multus": {"networkName": "red-net"}}]}}}}


def test_user_guide_vm_runs_with_both_interfaces(lab, namespace):
    create_nad(lab, namespace, "red-net", subnet="10.88.0.0/24")
    lab.request("POST", VM_PATH % namespace, user_guide_vm("ug"))
    vmi = wait_running(lab, namespace, "ug")
    assert vmi["metadata"]["labels"]["app"] == "ug" and "vm-label" not in vmi["metadata"]["labels"]
    by_name = {i["name"]: i for i in vmi["status"]["interfaces"]}
    assert set(by_name) == {"default", "red"}
    assert by_name["red"]["infoSource"] == "domain, guest-agent, multus-status"
    assert by_name["red"]["ipAddress"].startswith("10.88.0.")
    assert by_name["default"]["mac"] != by_name["red"]["mac"]
    pods = lab.request("GET", "/api/v1/namespaces/%s/pods?labelSelector=kubevirt.io%%3Dvirt-launcher" % namespace)
    pod = pods["items"][0]
    assert pod["metadata"]["labels"]["app"] == "ug"
    assert pod["metadata"]["labels"]["kubevirt.io/created-by"] == vmi["metadata"]["uid"]
    assert "red-net" in pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]
    assert pod["status"]["podIP"] == by_name["default"]["ipAddress"]
    vm = wait_for(lambda: get_vm(lab, namespace, "ug")["status"].get("ready") and get_vm(lab, namespace, "ug"),
                  timeout=30, message="VM ready")
    assert vm["status"]["printableStatus"] == "Running"


def test_service_on_template_labels_gets_endpoints_vm_labels_get_none(lab, namespace):
    create_nad(lab, namespace, "red-net")
    lab.request("POST", VM_PATH % namespace, user_guide_vm("svc"))
    vmi = wait_running(lab, namespace, "svc")
    for name, selector in (("good", {"app": "svc"}), ("classic-mistake", {"vm-label": "only-on-vm"})):
        lab.request("POST", "/api/v1/namespaces/%s/services" % namespace, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"port": 22, "targetPort": 22}]}})
    endpoints = wait_for(lambda: (lab.request("GET", "/api/v1/namespaces/%s/endpoints/good" % namespace)
                                  .get("subsets") or [None])[0], timeout=60, message="Endpoints of good")
    assert endpoints["addresses"][0]["ip"] == vmi["status"]["interfaces"][0]["ipAddress"]
    mistake = lab.request("GET", "/api/v1/namespaces/%s/endpoints/classic-mistake" % namespace)
    assert not mistake.get("subsets")


def test_stop_start_through_subresources_and_viewer_forbidden(lab, namespace):
    lab.request("POST", VM_PATH % namespace, dict(user_guide_vm("sub"), spec=dict(
        user_guide_vm("sub")["spec"], runStrategy="Halted")))
    base = "/apis/subresources.kubevirt.io/v1/namespaces/%s/virtualmachines/sub/" % namespace
    from tests.lab.cluster import LabError
    with pytest.raises(LabError) as err:
        lab.request("PUT", base + "start", {}, token="viewer", direct=False)
    assert "403" in str(err.value)
    create_nad(lab, namespace, "red-net")
    lab.request("PUT", base + "start", {}, direct=False)
    wait_running(lab, namespace, "sub")
    with pytest.raises(LabError) as err:
        lab.request("PUT", base + "start", {}, direct=False)
    assert "409" in str(err.value) and "already running" in str(err.value)
    lab.request("PUT", base + "stop", {}, direct=False)
    wait_for(lambda: get_vm(lab, namespace, "sub")["status"].get("printableStatus") == "Stopped", timeout=30,
             message="VM stopped")
    with pytest.raises(Exception):
        get_vmi(lab, namespace, "sub")


KUBEVIRT_CORE = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: create
      kubevirt.core.kubevirt_vm:
        name: kc
        namespace: "{{ ns }}"
        running: true
        wait: true
        wait_timeout: 60
        spec:
          domain:
            devices:
              interfaces: [{name: default, masquerade: {}}]
            resources: {requests: {memory: 128Mi}}
          networks: [{name: default, pod: {}}]
    - name: info
      kubevirt.core.kubevirt_vm_info:
        name: kc
        namespace: "{{ ns }}"
    - name: stopped
      kubevirt.core.kubevirt_vm:
        name: kc
        namespace: "{{ ns }}"
        running: false
        wait: true
        wait_timeout: 60
"""


def test_kubevirt_core_modules_work_unmodified(namespace, run_playbook):
    result = run_playbook(KUBEVIRT_CORE, {"ns": namespace})
    assert result.tasks["create"]["changed"]
    info = result.tasks["info"]["resources"][0]
    assert info["status"]["printableStatus"] == "Running" and info["status"]["ready"] is True
    assert result.tasks["stopped"]["changed"]
