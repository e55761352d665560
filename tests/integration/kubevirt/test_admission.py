"""KubeVirt's admission webhooks in the lab: kube-apiserver calls KubeVirt v1.9.0's
virt-api through the Validating/MutatingWebhookConfigurations virt-operator's
generator makes, so a bad VM comes back from the API server as KubeVirt's 422
with its causes."""

import base64
import json

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

GROUP, VERSION = "kubevirt.io", "v1"
DENIED = 'admission webhook "%s" denied the request: '


@pytest.fixture
def custom(lab):
    return k8s_client.CustomObjectsApi(k8s_config.new_client_from_config(config_file=lab.kubeconfig, context="lab"))


def user_guide_vm(name="vm1", interfaces=None, networks=None):
    """A VM like the user guide's: masquerade on the pod network, bridge on a NAD."""
    return {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"runStrategy": "Halted", "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "domain": {"devices": {"interfaces": interfaces if interfaces is not None else [
                    {"name": "default", "masquerade": {}, "ports": [{"name": "http", "port": 80}]},
                    {"name": "net1", "bridge": {}, "macAddress": "02:00:00:00:00:02"}]},
                    "resources": {"requests": {"memory": "128Mi"}}},
                "networks": networks if networks is not None else [
                    {"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": "br1"}}]}}},
    }


def refused(call):
    with pytest.raises(ApiException) as err:
        call()
    body = json.loads(err.value.body)
    return err.value.status, body


MASQ_ON_MULTUS = ([{"name": "default", "masquerade": {}}, {"name": "net1", "masquerade": {}}], None,
                  "spec.template.spec.domain.devices.interfaces[1].name",
                  "Masquerade interface only implemented with pod network")
PORT_70000 = ([{"name": "default", "masquerade": {}, "ports": [{"port": 70000}]}], [{"name": "default", "pod": {}}],
              "spec.template.spec.domain.devices.interfaces[0].ports[0].port",
              "Port field must be in range 0 < x < 65536.")
NO_NETWORK = ([{"name": "default", "masquerade": {}}, {"name": "net9", "bridge": {}}], [{"name": "default", "pod": {}}],
              "spec.template.spec.domain.devices.interfaces[1].name",
              "spec.template.spec.domain.devices.interfaces[1].name 'net9' not found.")
ABSENT_ON_POD = ([{"name": "default", "bridge": {}, "state": "absent"}], [{"name": "default", "pod": {}}],
                 "spec.template.spec.domain.devices.interfaces[0].state",
                 '"default" interface\'s state "absent" is not supported on default networks')
SLIRP = ([{"name": "default", "slirp": {}}], [{"name": "default", "pod": {}}],
         "spec.domain.devices.interfaces[0].slirp", "Slirp interface support has been discontinued since v1.3")


@pytest.mark.parametrize("interfaces,networks,field,message", [MASQ_ON_MULTUS, PORT_70000, NO_NETWORK, ABSENT_ON_POD,
                                                               SLIRP],
                         ids=["masquerade-on-multus", "port-70000", "interface-without-network",
                              "absent-on-pod-network", "slirp"])
def test_seed_style_bad_vm_is_refused_by_kubevirts_webhook(custom, namespace, interfaces, networks, field, message):
    body = user_guide_vm(interfaces=interfaces, networks=networks)
    status, error = refused(lambda: custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "virtualmachines", body))
    assert status == 422
    assert error["reason"] == "Invalid" and error["code"] == 422
    assert error["message"] == DENIED % "virtualmachine-validator.kubevirt.io" + message
    assert error["details"]["causes"] == [{"reason": "FieldValueInvalid", "message": message, "field": field}]
    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "virtualmachines", "vm1")
    assert err.value.status == 404


def test_several_causes_come_back_together(custom, namespace):
    interfaces = [{"name": "default", "masquerade": {}, "ports": [{"port": 70000}], "model": "virtio2"},
                  {"name": "net1", "masquerade": {}}]
    _status, error = refused(lambda: custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "virtualmachines", user_guide_vm(interfaces=interfaces)))
    assert [c["field"] for c in error["details"]["causes"]] == [
        "spec.template.spec.domain.devices.interfaces[1].name",
        "spec.template.spec.domain.devices.interfaces[0].model",
        "spec.template.spec.domain.devices.interfaces[0].ports[0].port"]
    assert error["message"].endswith("Masquerade interface only implemented with pod network, interface "
                                     "spec.template.spec.domain.devices.interfaces[0].name uses model virtio2 that "
                                     "is not supported., Port field must be in range 0 < x < 65536.")


def test_user_guide_vm_is_accepted_and_defaulted_like_kubevirt(custom, namespace):
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "virtualmachines", user_guide_vm())
    spec = created["spec"]["template"]["spec"]
    assert spec["domain"]["devices"]["interfaces"] == user_guide_vm()["spec"]["template"]["spec"]["domain"][
        "devices"]["interfaces"]
    assert spec["architecture"] == "amd64" and spec["domain"]["machine"] == {"type": "q35"}
    assert set(spec["domain"]["firmware"]) == {"uuid", "serial"}


def test_update_is_validated_too(custom, namespace):
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "virtualmachines", user_guide_vm())
    patch = [{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/state", "value": "down"},
             {"op": "remove", "path": "/spec/template/spec/domain/devices/interfaces/1/bridge"},
             {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/sriov", "value": {}}]
    status, error = refused(lambda: custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "virtualmachines", "vm1", patch, _content_type="application/json-patch+json"))
    assert status == 422
    assert error["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.template.spec.domain.devices.interfaces[1].state",
        "message": '"net1" interface\'s state "down" is not supported for SR-IOV NICs'}]
    # hot-unplug of the secondary bridge is a valid update
    unplug = [{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/state", "value": "absent"}]
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "virtualmachines", "vm1", unplug,
                                          _content_type="application/json-patch+json")


def test_dry_run_is_validated_and_stores_nothing(custom, namespace):
    body = user_guide_vm(interfaces=PORT_70000[0], networks=PORT_70000[1])
    status, _error = refused(lambda: custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "virtualmachines", body, dry_run="All"))
    assert status == 422


def test_vmi_create_and_update(custom, namespace):
    vmi = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "metadata": {"name": "vmi1"},
           "spec": dict(user_guide_vm()["spec"]["template"]["spec"])}
    bad = json.loads(json.dumps(vmi))
    bad["spec"]["domain"]["devices"]["interfaces"][1] = {"name": "net1", "masquerade": {}}
    status, error = refused(lambda: custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "virtualmachineinstances", bad))
    cause = {"reason": "FieldValueInvalid", "field": "spec.domain.devices.interfaces[1].name",
             "message": "Masquerade interface only implemented with pod network"}
    assert status == 422 and error["details"]["causes"] == [cause, cause]  # KubeVirt validates VMI networks twice
    assert error["message"].startswith(DENIED % "virtualmachineinstances-create-validator.kubevirt.io")

    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "virtualmachineinstances", vmi)
    patch = {"spec": {"hostname": "renamed"}}
    status, error = refused(lambda: custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "virtualmachineinstances", "vmi1", patch,
        _content_type="application/merge-patch+json"))
    assert status == 422 and error["message"] == (
        DENIED % "virtualmachineinstances-update-validator.kubevirt.io" + "update of VMI object is restricted")
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "virtualmachineinstances", "vmi1",
                                          {"metadata": {"labels": {"team": "a"}}},
                                          _content_type="application/merge-patch+json")


@pytest.mark.usefixtures("config_restored")
def test_passt_binding_follows_the_feature_gate_in_the_kubevirt_cr(lab, custom, namespace):
    passt = user_guide_vm(interfaces=[{"name": "default", "passtBinding": {}}],
                          networks=[{"name": "default", "pod": {}}])
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "virtualmachines", passt, dry_run="All")
    lab.set_config(disabled_feature_gates=["PasstBinding"])
    status, error = refused(lambda: custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "virtualmachines", passt))
    assert status == 422 and error["details"]["causes"][0]["message"] == "PasstBinding feature gate is not enabled"


# every webhook of virt-api's two configurations, as virt-operator's generator writes them in
# v1.9.0 (pkg/virt-operator/resource/generate/components/webhooks.go:
# NewVirtAPIValidatingWebhookConfiguration, NewVirtAPIMutatingWebhookConfiguration)
VIRT_API_VALIDATING = {
    "virt-launcher-eviction-interceptor.kubevirt.io", "hotplug-pod-eviction-interceptor.kubevirt.io",
    "virtualmachineinstances-create-validator.kubevirt.io", "virtualmachineinstances-update-validator.kubevirt.io",
    "virtualmachine-validator.kubevirt.io", "virtualmachinereplicaset-validator.kubevirt.io",
    "virtualmachinepool-validator.kubevirt.io", "virtualmachinepreset-validator.kubevirt.io",
    "migration-create-validator.kubevirt.io", "migration-update-validator.kubevirt.io",
    "virtualmachinesnapshot-validator.snapshot.kubevirt.io", "virtualmachinerestore-validator.snapshot.kubevirt.io",
    "virtualmachineexport-validator.export.kubevirt.io",
    "virtualmachineinstancetype-validator.instancetype.kubevirt.io",
    "virtualmachineclusterinstancetype-validator.instancetype.kubevirt.io",
    "virtualmachinepreference-validator.instancetype.kubevirt.io",
    "virtualmachineclusterpreference-validator.instancetype.kubevirt.io",
    "kubevirt-crd-status-validator.kubevirt.io", "migration-policy-validator.kubevirt.io",
    "vm-clone-validator.kubevirt.io", "virtualmachinebackup-validator.backup.kubevirt.io",
    "virtualmachinebackuptracker-validator.backup.kubevirt.io", "plugin-validator.plugin.kubevirt.io"}
VIRT_API_MUTATING = {
    "virtualmachines-mutator.kubevirt.io", "virtualmachineinstances-mutator.kubevirt.io",
    "migrations-mutator.kubevirt.io", "virtualmachineclones-mutator.kubevirt.io"}
# (virt-launcher-pod-mutator.kubevirt.io is a third configuration of its own,
# NewVirtLauncherPodMutatingWebhookConfiguration, not checked here)


def test_webhook_configurations_are_kubevirts(lab):
    """The old lab checked the six webhooks its own reimplementation served; now:
    virt-api-validator and virt-api-mutator are installed with every webhook virt-operator
    generates for them, pointed at the lab's virt-api."""
    validating = lab.request("GET", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
                                    "virt-api-validator")
    mutating = lab.request("GET", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/"
                                  "virt-api-mutator")
    with open(lab.state["pki"]["ca.crt"], "rb") as handle:
        ca_bundle = base64.b64encode(handle.read()).decode()
    assert {h["name"] for h in validating["webhooks"]} == VIRT_API_VALIDATING
    assert {h["name"] for h in mutating["webhooks"]} == VIRT_API_MUTATING
    hooks = {h["name"]: h for h in validating["webhooks"] + mutating["webhooks"]}
    for hook in hooks.values():
        # the eviction interceptors have side effects on dry run only (they mark the VMI)
        assert hook["sideEffects"] in ("None", "NoneOnDryRun") and "v1" in hook["admissionReviewVersions"]
        assert hook["failurePolicy"] == "Fail" and hook["timeoutSeconds"] == 10, hook["name"]
        assert hook["clientConfig"]["url"].startswith("https://127.0.0.1:%d/" % lab.state["virt_api_port"])
        assert hook["clientConfig"]["caBundle"] == ca_bundle
    vm_rule = hooks["virtualmachine-validator.kubevirt.io"]["rules"][0]
    assert vm_rule["operations"] == ["CREATE", "UPDATE"] and vm_rule["resources"] == ["virtualmachines"]
    clone_rule = hooks["vm-clone-validator.kubevirt.io"]["rules"][0]
    assert clone_rule["apiGroups"] == ["clone.kubevirt.io"] and clone_rule["resources"] == ["virtualmachineclones"]
    vmi_mutator = hooks["virtualmachineinstances-mutator.kubevirt.io"]["rules"][0]
    assert vmi_mutator["operations"] == ["CREATE", "UPDATE"] and vmi_mutator["resources"] == [
        "virtualmachineinstances"]
