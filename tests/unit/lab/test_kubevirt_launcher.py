"""The virt-launcher pod (tests/lab/kubevirt/net_launcher.py) and the
scheduler/CNI side (tests/lab/kubevirt/net_podruntime.py)."""

import copy
import json

import pytest

from tests.lab.kubevirt import net_launcher, net_podruntime, net_spec

PLUGINS = {"passt": {"migration": {}}, "withnad": {"networkAttachmentDefinition": "default/pl"}}
KUBEVIRT = {"spec": {"configuration": {"network": {"binding": PLUGINS}}}, "status": {"observedKubeVirtVersion": "v1.9.0"}}
SRIOV_NAD = {"metadata": {"name": "sriov-net", "namespace": "ns1",
                          "annotations": {net_launcher.RESOURCE_NAME_ANNOTATION: "openshift.io/intelnics"}}}


def vmi(ifaces, nets, labels=None, annotations=None, **spec):
    body = {"metadata": {"name": "web", "namespace": "ns1", "uid": "uid-1", "labels": labels or {"app": "web"},
                         "annotations": annotations or {}},
            "spec": dict({"domain": {"devices": {"interfaces": ifaces},
                                     "resources": {"requests": {"memory": "256Mi"}}}, "networks": nets}, **spec)}
    return body


USER_GUIDE = vmi([{"name": "default", "masquerade": {}}, {"name": "red", "bridge": {}, "macAddress": "02:00:00:00:00:01"},
                  {"name": "vf", "sriov": {}}, {"name": "gone", "bridge": {}, "state": "absent"}],
                 [{"name": "default", "pod": {}}, {"name": "red", "multus": {"networkName": "red-net"}},
                  {"name": "vf", "multus": {"networkName": "ns1/sriov-net"}},
                  {"name": "gone", "multus": {"networkName": "gone-net"}}],
                 hostname="", subdomain="sub")


def render(body=None, nads=None, ns_labels=None, istio=False, external=True, migration=None):
    nads = {("ns1", "red-net"): {}, ("ns1", "sriov-net"): SRIOV_NAD, ("ns1", "gone-net"): {}} if nads is None else nads
    return net_launcher.render(body or USER_GUIDE, KUBEVIRT, nads, ns_labels or {}, istio, external, migration)


def test_labels_names_and_owner():
    pod = render()
    meta = pod["metadata"]
    assert meta["generateName"] == "virt-launcher-web-"
    assert meta["labels"] == {"app": "web", "kubevirt.io": "virt-launcher", "kubevirt.io/created-by": "uid-1",
                              "vm.kubevirt.io/name": "web", "vmi.kubevirt.io/id": "web"}
    assert meta["ownerReferences"][0]["kind"] == "VirtualMachineInstance" and meta["ownerReferences"][0]["controller"]
    assert pod["spec"]["hostname"] == "web" and pod["spec"]["subdomain"] == "sub"
    assert pod["spec"]["containers"][0]["name"] == "compute" and pod["spec"]["containers"][0]["image"]
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_hostname_and_instance_id_rules():
    assert net_launcher.sanitize_hostname({"metadata": {"name": "a.b"}, "spec": {}}) == "a"
    assert net_launcher.sanitize_hostname({"metadata": {"name": "a"}, "spec": {"hostname": "h"}}) == "h"
    long_name = "x" * 70
    assert net_launcher.instance_id("short") == "short"
    assert len(net_launcher.instance_id(long_name)) == 63 and net_launcher.instance_id(long_name).startswith("x" * 54 + "-")


def test_multus_annotation_and_resources():
    pod = render()
    selections = json.loads(pod["metadata"]["annotations"][net_launcher.NETWORKS_ANNOTATION])
    assert selections == [
        {"name": "red-net", "namespace": "ns1", "mac": "02:00:00:00:00:01", "interface": net_spec.hashed_pod_interface("red")},
        {"name": "sriov-net", "namespace": "ns1", "interface": net_spec.hashed_pod_interface("vf")}]
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["requests"]["openshift.io/intelnics"] == resources["limits"]["openshift.io/intelnics"] == "1"
    assert resources["requests"]["memory"] == "256Mi"
    for name in net_launcher.ISTIO_ANNOTATIONS:          # a masquerade interface exists
        assert pod["metadata"]["annotations"][name] == "k6t-eth0"


def test_no_istio_annotations_without_masquerade_and_default_network():
    body = vmi([{"name": "main", "bridge": {}}], [{"name": "main", "multus": {"networkName": "m", "default": True}}])
    annotations = render(body)["metadata"]["annotations"]
    assert not set(net_launcher.ISTIO_ANNOTATIONS) & set(annotations)
    assert annotations[net_launcher.DEFAULT_NETWORK_ANNOTATION] == "m"
    assert net_launcher.NETWORKS_ANNOTATION not in annotations


def test_binding_plugins():
    body = vmi([{"name": "default", "binding": {"name": "withnad"}}], [{"name": "default", "pod": {}}])
    selections = json.loads(render(body)["metadata"]["annotations"][net_launcher.NETWORKS_ANNOTATION])
    assert selections == [{"name": "pl", "namespace": "default", "cni-args": {"logicNetworkName": "default"}}]
    unknown = vmi([{"name": "default", "binding": {"name": "nope"}}], [{"name": "default", "pod": {}}])
    with pytest.raises(net_launcher.RenderError, match="unable to find the network binding plugin 'nope'"):
        render(unknown)


def test_missing_nad_fails_rendering_only_without_external_injection():
    nads = {("ns1", "red-net"): None, ("ns1", "sriov-net"): SRIOV_NAD, ("ns1", "gone-net"): {}}
    assert render(nads=nads, external=True)
    with pytest.raises(net_launcher.RenderError, match="failed to locate network attachment definition ns1/red-net"):
        render(nads=nads, external=False)


@pytest.mark.parametrize("istio, ns_labels, annotation, proxy", [
    (True, {"istio-injection": "enabled"}, "true", True),
    (True, {"istio.io/rev": "stable"}, None, True),
    (True, {"istio-injection": "enabled"}, "false", False),
    (True, {}, "true", False),
    (False, {"istio-injection": "enabled"}, "true", False),
])
def test_istio(istio, ns_labels, annotation, proxy):
    body = copy.deepcopy(USER_GUIDE)
    if annotation is not None:
        body["metadata"]["annotations"][net_launcher.ISTIO_INJECT] = annotation
    pod = render(body, ns_labels=ns_labels, istio=istio)
    assert ("istio-proxy" in [c["name"] for c in pod["spec"]["containers"]]) is proxy
    assert pod["metadata"]["labels"].get(net_launcher.ISTIO_INJECT) == annotation
    assert pod["spec"]["automountServiceAccountToken"] is (annotation == "true")


def test_migration_target_keeps_away_from_the_source():
    pod = render(migration={"metadata": {"uid": "mig-1"}})
    assert pod["metadata"]["labels"][net_launcher.MIGRATION_JOB_LABEL] == "mig-1"
    term = pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term == {"labelSelector": {"matchLabels": {"kubevirt.io/created-by": "uid-1"}},
                    "topologyKey": "kubernetes.io/hostname"}


def test_hotplug_selections():
    body = vmi([{"name": "default", "masquerade": {}}, {"name": "red", "bridge": {}}, {"name": "vf", "sriov": {}}],
               [{"name": "default", "pod": {}}, {"name": "red", "multus": {"networkName": "red-net"}},
                {"name": "vf", "multus": {"networkName": "sriov-net"}}])
    body["status"] = {"interfaces": [{"name": "default"}, {"name": "red"}]}
    assert net_launcher.hotplug_selections(body, {}) is None           # only an SR-IOV plug pending: new pod needed
    body["spec"]["domain"]["devices"]["interfaces"].append({"name": "blue", "bridge": {}})
    body["spec"]["networks"].append({"name": "blue", "multus": {"networkName": "blue-net"}})
    assert [s["name"] for s in net_launcher.hotplug_selections(body, {})] == ["red-net", "blue-net"]
    body["spec"]["domain"]["devices"]["interfaces"][1]["state"] = "absent"
    body["status"]["interfaces"].append({"name": "blue"})
    assert [s["name"] for s in net_launcher.hotplug_selections(body, {})] == ["blue-net"]


# ---------------------------------------------------------------- scheduler
def test_only_pods_a_vmi_owns_are_run_by_the_lab():
    pod = render()
    assert net_podruntime.is_launcher(pod)
    lookalike = {"metadata": {"labels": {"kubevirt.io": "virt-launcher"}}}
    assert not net_podruntime.is_launcher(lookalike)
