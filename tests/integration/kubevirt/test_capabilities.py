"""The lab's capabilities as a cluster shows them: the KubeVirt CR
kubevirt/kubevirt (spec from the capabilities, status as virt-operator leaves
a deployed KubeVirt) and the Nodes, following run-time capability changes."""

import pytest

from tests.integration.helpers import wait_for
from lab.cluster import LabError

KUBEVIRT = "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt"
KUBEVIRT_VERSION = "v1.9.0"


def kubevirt(lab):
    return lab.request("GET", KUBEVIRT)


def node_exists(lab, name):
    try:
        return lab.request("GET", "/api/v1/nodes/" + name)
    except LabError as exc:
        if "-> 404" in str(exc):
            return None
        raise


def test_kubevirt_cr_carries_the_capabilities(lab):
    config = lab.get_config()
    kv = kubevirt(lab)
    configuration = kv["spec"]["configuration"]
    assert configuration["developerConfiguration"] == {"featureGates": config["feature_gates"],
                                                       "disabledFeatureGates": config["disabled_feature_gates"]}
    assert configuration["vmRolloutStrategy"] == config["vm_rollout_strategy"]
    assert configuration["network"] == {"defaultNetworkInterface": "bridge", "permitBridgeInterfaceOnPodNetwork": True}
    assert kv["spec"]["workloadUpdateStrategy"] == {"workloadUpdateMethods": config["workload_update_methods"]}
    status = kv["status"]
    assert status["phase"] == "Deployed"
    # the release the lab really runs (lab/kubevirt/capabilities.py KUBEVIRT_VERSION); no
    # longer a capability since the control plane is KubeVirt's own v1.9.0
    assert "kubevirt_version" not in config
    assert status["observedKubeVirtVersion"] == status["targetKubeVirtVersion"] == KUBEVIRT_VERSION
    assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]} == {
        "Available": ("True", "AllComponentsReady"), "Progressing": ("False", "AllComponentsReady"),
        "Degraded": ("False", "AllComponentsReady"), "Created": ("True", "AllResourcesCreated")}


def test_nodes_carry_their_allocatable_resources(lab):
    for spec in lab.get_config()["nodes"]:
        node = lab.request("GET", "/api/v1/nodes/" + spec["name"])
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == spec["name"]
        assert node["metadata"]["labels"]["kubevirt.io/schedulable"] == "true"
        assert node["status"]["allocatable"] == {k: str(v) for k, v in spec["allocatable"].items()}
        assert node["status"]["capacity"] == node["status"]["allocatable"]
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"


@pytest.mark.usefixtures("config_restored")
def test_workload_update_methods_can_be_emptied(lab):
    lab.set_config(workload_update_methods=[])
    wait_for(lambda: kubevirt(lab)["spec"]["workloadUpdateStrategy"] == {"workloadUpdateMethods": []}, timeout=180,
             message="workloadUpdateMethods: [] in the KubeVirt CR")


@pytest.mark.usefixtures("config_restored")
def test_gates_rollout_strategy_and_version_follow_the_capabilities(lab):
    # the version is the running release's, not switchable
    with pytest.raises(LabError) as err:
        lab.set_config(kubevirt_version="v1.8.0")
    assert "-> 400" in str(err.value) and "unknown lab option(s): kubevirt_version" in str(err.value)
    lab.set_config(feature_gates=["PortRangesSpec"], disabled_feature_gates=["ExternalNetResourceInjection"],
                   vm_rollout_strategy="Stage")

    def applied():
        kv = kubevirt(lab)
        return (kv["spec"]["configuration"]["developerConfiguration"] == {
            "featureGates": ["PortRangesSpec"], "disabledFeatureGates": ["ExternalNetResourceInjection"]}
            and kv["spec"]["configuration"]["vmRolloutStrategy"] == "Stage"
            and kv["status"]["observedKubeVirtVersion"] == KUBEVIRT_VERSION)

    wait_for(applied, timeout=180, message="the new capabilities in the KubeVirt CR")
    lab.set_config(vm_rollout_strategy=None)
    wait_for(lambda: "vmRolloutStrategy" not in kubevirt(lab)["spec"]["configuration"], timeout=180,
             message="vmRolloutStrategy unset (KubeVirt's default)")


@pytest.mark.usefixtures("config_restored")
def test_fields_the_lab_does_not_own_survive_capability_changes(lab):
    binding = {"passt": {"sidecarImage": "quay.io/kubevirt/network-passt-binding:v1.9.0",
                         "networkAttachmentDefinition": "default/netbindingpasst"}}
    lab.request("PATCH", KUBEVIRT, {"spec": {"configuration": {"network": {"binding": binding}}}},
                content_type="application/merge-patch+json")
    try:
        lab.set_config(feature_gates=["Snapshot"])
        wait_for(lambda: kubevirt(lab)["spec"]["configuration"]["developerConfiguration"]["featureGates"] ==
                 ["Snapshot"], timeout=180, message="the feature gate")
        assert kubevirt(lab)["spec"]["configuration"]["network"]["binding"] == binding
    finally:
        lab.request("PATCH", KUBEVIRT, {"spec": {"configuration": {"network": {"binding": None}}}},
                    content_type="application/merge-patch+json")


@pytest.mark.usefixtures("config_restored")
def test_nodes_follow_the_capabilities(lab):
    nodes = lab.get_config()["nodes"]
    first = dict(nodes[0], allocatable=dict(cpu="16", memory="64Gi", pods="110",
                                            **{"openshift.io/mlxnics": "4"}))
    lab.set_config(nodes=[first, {"name": "node09", "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"}}])
    wait_for(lambda: lab.request("GET", "/api/v1/nodes/" + first["name"])["status"]["allocatable"] ==
             first["allocatable"], timeout=180, message="node01's new allocatable resources")
    assert lab.request("GET", "/api/v1/nodes/node09")["status"]["allocatable"]["cpu"] == "8"
    for gone in nodes[1:]:
        wait_for(lambda name=gone["name"]: node_exists(lab, name) is None, timeout=180,
                 message="node %s removed" % gone["name"])
