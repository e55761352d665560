"""What the lab's node side reads off KubeVirt's launcher pods, and the pod
add-ons' decisions (lab/kubevirt/net_launcher.py)."""

import json

import pytest

from lab.kubevirt import net_launcher, net_podruntime

SRIOV_NAD = {"metadata": {"name": "sriov-net", "namespace": "ns1",
                          "annotations": {"k8s.v1.cni.cncf.io/resourceName": "openshift.io/intelnics"}}}
BRIDGE_NAD = {"metadata": {"name": "red-net", "namespace": "ns1"}}


def pod(networks=None, labels=None):
    meta = {"name": "virt-launcher-x-abcde", "namespace": "ns1", "labels": dict(labels or {}), "annotations": {}}
    if networks is not None:
        meta["annotations"][net_launcher.NETWORKS_ANNOTATION] = networks
    return {"metadata": meta, "spec": {"containers": [{"name": "compute"}]}}


def test_selections_json_and_short_forms():
    sel = [{"name": "sriov-net", "namespace": "ns1", "interface": "podabc"}]
    assert net_launcher.pod_selections(pod(json.dumps(sel))) == sel
    assert net_launcher.pod_selections(pod("other/red-net@eth1, blue")) == [
        {"name": "red-net", "namespace": "other", "interface": "eth1"},
        {"name": "blue", "namespace": None, "interface": None}]
    assert net_launcher.pod_selections(pod()) == []


def test_injector_counts_one_resource_per_selection():
    sel = [{"name": "sriov-net", "namespace": "ns1"}, {"name": "sriov-net", "namespace": "ns1"},
           {"name": "red-net", "namespace": "ns1"}]
    nads = {("ns1", "sriov-net"): SRIOV_NAD, ("ns1", "red-net"): BRIDGE_NAD}
    assert net_launcher.injected_resources(pod(json.dumps(sel)), nads) == {"openshift.io/intelnics": 2}
    assert net_launcher.injected_resources(pod(json.dumps(sel[2:])), nads) == {}


@pytest.mark.parametrize("installed, ns_labels, pod_labels, injected", [
    (True, {"istio-injection": "enabled"}, {}, True),
    (True, {"istio.io/rev": "default"}, {}, True),
    (True, {"istio-injection": "enabled"}, {"sidecar.istio.io/inject": "false"}, False),
    (True, {}, {}, False),
    (False, {"istio-injection": "enabled"}, {}, False),
])
def test_istio_injection_rule(installed, ns_labels, pod_labels, injected):
    assert net_launcher.istio_injects(installed, ns_labels, pod_labels) is injected


def test_only_pods_a_vmi_owns_are_run_by_the_lab():
    launcher = pod(labels={"kubevirt.io": "virt-launcher", "kubevirt.io/created-by": "u1"})
    launcher["metadata"]["ownerReferences"] = [{"kind": "VirtualMachineInstance", "controller": True, "name": "x"}]
    assert net_podruntime.is_launcher(launcher)
    assert not net_podruntime.is_launcher({"metadata": {"labels": {"kubevirt.io": "virt-launcher"}}})
    handler = {"metadata": {"namespace": "kubevirt", "labels": {"kubevirt.io": "virt-handler"}}}
    assert net_podruntime.is_virt_handler(handler) and not net_podruntime.is_launcher(handler)
