"""kubevirt_binding_plugin against the lab's KubeVirt CR (kubevirt/kubevirt), judged by the request log."""

import uuid

import pytest

from tests.integration.helpers import play, wait_for
from tests.integration.modules.kubevirt_objects import VM_PATH
from lab.cluster import LabError

KUBEVIRT = "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt"
HCO_CRD = "hyperconvergeds.hco.kubevirt.io"
HCO_PATH = "/apis/hco.kubevirt.io/v1beta1/namespaces/%s/hyperconvergeds"


def plugin(title, options=None, **more):
    return {"name": title, "kubevirt_net.core.kubevirt_binding_plugin": dict(options or {}, **more), "register": "r"}


def network_config(lab):
    return lab.request("GET", KUBEVIRT)["spec"]["configuration"].get("network") or {}


@pytest.fixture
def kubevirt_network_restored(lab):
    """The KubeVirt CR is shared by the whole session: put its network configuration back."""
    before = network_config(lab)
    config = lab.get_config()
    yield
    lab.request("PATCH", KUBEVIRT, [{"op": "add", "path": "/spec/configuration/network", "value": before}],
                content_type="application/json-patch+json")
    if lab.get_config()["feature_gates"] != config["feature_gates"]:
        lab.set_config(feature_gates=config["feature_gates"])


def vm_with_plugin(name, plugin_name):
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": name},
            "spec": {"runStrategy": "Halted", "template": {"spec": {
                "domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}},
                                                      {"name": "mv", "binding": {"name": plugin_name}}]},
                           "resources": {"requests": {"memory": "64Mi"}}},
                "networks": [{"name": "default", "pod": {}}, {"name": "mv", "multus": {"networkName": "mv"}}]}}}}


@pytest.mark.usefixtures("kubevirt_network_restored")
def test_register_rerun_check_update_refuse_in_use_remove(lab, namespace, run_playbook, request_log):
    name = "p" + uuid.uuid4().hex[:8]
    register = play([plugin("reg", name=name, sidecar_image="quay.io/kubevirt/network-slirp-binding:v1.9.0",
                            migratable=True, compute_resource_overhead={"requests": {"memory": "100Mi"}})])
    request_log.mark()
    checked = run_playbook(register, check=True, diff=True).tasks["reg"]
    assert checked["changed"] and checked["target"] == {"kind": "KubeVirt", "namespace": "kubevirt", "name": "kubevirt"}
    assert request_log.writes(include_dry_run=True) == []
    assert name not in (network_config(lab).get("binding") or {})

    res = run_playbook(register).tasks["reg"]
    assert res["changed"] and res["api_requests"]["writes"] == 1
    assert network_config(lab)["binding"][name] == {
        "sidecarImage": "quay.io/kubevirt/network-slirp-binding:v1.9.0", "migration": {},
        "computeResourceOverhead": {"requests": {"memory": "100Mi"}}}

    request_log.mark()
    again = run_playbook(register).tasks["reg"]
    assert not again["changed"] and request_log.writes(include_dry_run=True) == []

    # update: exactly as given (migration and overhead go, tap comes); a VM references the plugin, so its
    # removal is refused before any write, listing the VM: one PATCH in all
    lab.request("POST", VM_PATH % namespace, vm_with_plugin("user", name))
    request_log.mark()
    result = run_playbook(play([plugin("upd", name=name, domain_attachment_type="tap"),
                                dict(plugin("rm", name=name, state="absent"), ignore_errors=True)]), diff=True)
    res = result.tasks["upd"]
    assert res["changed"] and res["plugin"]["before"]["migratable"] is True
    refused = result.tasks["rm"]
    assert "VirtualMachine %s/user interface mv" % namespace in refused["msg"] and "force=true" in refused["msg"]
    assert [e["method"] for e in request_log.writes()] == ["PATCH"]
    assert network_config(lab)["binding"][name] == {"domainAttachmentType": "tap"}

    lab.request("DELETE", "%s/user" % (VM_PATH % namespace))
    wait_for(lambda: not [v for v in lab.request("GET", VM_PATH % namespace)["items"]
                          if v["metadata"]["name"] == "user"], timeout=120, message="VM user deleted")
    request_log.mark()
    remove = plugin("rm", name=name, state="absent")
    result = run_playbook(play([remove, dict(remove, name="again")]))
    assert result.tasks["rm"]["changed"] and not result.tasks["again"]["changed"]
    assert [e["method"] for e in request_log.writes()] == ["PATCH"]
    assert name not in (network_config(lab).get("binding") or {})


@pytest.mark.usefixtures("kubevirt_network_restored")
def test_cluster_settings_and_bridge_on_pod_refusal(lab, namespace, run_playbook, request_log):
    vm = vm_with_plugin("bridged", "unused")
    vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"] = [{"name": "default", "bridge": {}}]
    vm["spec"]["template"]["spec"]["networks"] = [{"name": "default", "pod": {}}]
    lab.request("POST", VM_PATH % namespace, vm)
    request_log.mark()
    result = run_playbook(play([
        dict(plugin("refused", permit_bridge_interface_on_pod_network=False), ignore_errors=True),
        plugin("deny", permit_bridge_interface_on_pod_network=False, default_network_interface="masquerade",
               force=True)]))
    assert "VirtualMachine %s/bridged interface default" % namespace in result.tasks["refused"]["msg"]
    assert result.tasks["refused"]["api_requests"]["writes"] == 0
    assert result.tasks["deny"]["changed"] and [e["method"] for e in request_log.writes()] == ["PATCH"]
    assert network_config(lab)["permitBridgeInterfaceOnPodNetwork"] is False
    assert network_config(lab)["defaultNetworkInterface"] == "masquerade"
    request_log.mark()
    again = run_playbook(play([plugin("deny", permit_bridge_interface_on_pod_network=False,
                                      default_network_interface="masquerade", force=True)])).tasks["deny"]
    assert not again["changed"] and request_log.writes() == []


BAD = [
    ({"name": "bad name"}, "name"),
    ({"name": "p"}, "sidecar_image"),
    ({"name": "p", "sidecar_image": "x", "compute_resource_overhead": {"requests": {"memory": "much"}}},
     "compute_resource_overhead.requests.memory"),
    ({"default_network_interface": "bridge", "permit_bridge_interface_on_pod_network": False},
     "default_network_interface"),
]


def test_bad_inputs_fail_before_any_request(run_playbook, request_log):
    tasks = [dict(plugin("bad%d" % i, options), ignore_errors=True) for i, (options, _f) in enumerate(BAD)]
    result = run_playbook(play(tasks))
    for index, (_options, field) in enumerate(BAD):
        res = result.tasks["bad%d" % index]
        assert res.get("failed") and ": %s: " % field in res["msg"], (index, res.get("msg"))
        assert res["api_requests"]["total"] == 0
    assert request_log.entries() == []


# The version gates (managedTap from 1.4, the NetworkBindingPlugins gate before 1.9) are
# unit-tested (tests/unit/plugins/module_utils/test_binding_plugin.py): the lab runs the
# real KubeVirt v1.9.0 only.


@pytest.fixture
def hyperconverged(lab):
    """A HyperConverged CRD and CR, as on OpenShift Virtualization; removed afterwards."""
    lab.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": HCO_CRD},
        "spec": {"group": "hco.kubevirt.io", "scope": "Namespaced",
                 "names": {"kind": "HyperConverged", "listKind": "HyperConvergedList", "plural": "hyperconvergeds",
                           "singular": "hyperconverged"},
                 "versions": [{"name": "v1beta1", "served": True, "storage": True, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                   "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}})

    def create():
        return lab.request("POST", HCO_PATH % "kubevirt", {
            "apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
            "metadata": {"name": "kubevirt-hyperconverged"}, "spec": {}})
    wait_for(create, timeout=120, message="HyperConverged CRD established")
    yield "%s/kubevirt-hyperconverged" % (HCO_PATH % "kubevirt")
    lab.request("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + HCO_CRD)

    def gone():
        try:
            lab.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + HCO_CRD)
        except LabError as exc:
            return "-> 404" in str(exc)
        return False
    wait_for(gone, timeout=180, message="HyperConverged CRD deleted")


@pytest.mark.usefixtures("kubevirt_network_restored")
def test_hyperconverged_gets_the_plugin_and_says_so(lab, run_playbook, request_log, hyperconverged):
    before = network_config(lab)
    request_log.mark()
    res = run_playbook(play([plugin("reg", name="macvtap", domain_attachment_type="tap")])).tasks["reg"]
    assert res["target"]["kind"] == "HyperConverged" and "OpenShift Virtualization" in res["note"]
    assert lab.request("GET", hyperconverged)["spec"]["networkBinding"] == {"macvtap": {"domainAttachmentType": "tap"}}
    assert network_config(lab) == before
    assert [e["path"].rsplit("/", 1)[-1] for e in request_log.writes()] == ["kubevirt-hyperconverged"]
    request_log.mark()
    result = run_playbook(play([plugin("again", name="macvtap", domain_attachment_type="tap"),
                                dict(plugin("set", permit_bridge_interface_on_pod_network=False),
                                     ignore_errors=True)]))
    assert not result.tasks["again"]["changed"] and "HyperConverged operator" in result.tasks["set"]["msg"]
    assert request_log.writes() == []
