"""What keeps a VM from running, or tells that it must restart: RestartRequired,
SR-IOV scheduling, missing NADs and binding plugins; and the Istio pod."""

from tests.integration.helpers import wait_for

SRIOV_IFACES = [{"name": "default", "masquerade": {}}, {"name": "vf", "sriov": {}}]
SRIOV_NETS = [{"name": "default", "pod": {}}, {"name": "vf", "multus": {"networkName": "sriov-net"}}]
RESTART_MESSAGE = "a non-live-updatable field was changed in the template spec"


def restart_required(kv, name):
    return kv.condition(kv.get("virtualmachines", name), "RestartRequired")


def test_restart_required_follows_the_template(kv):
    kv.nad("blue-net")
    kv.vm("rr")
    kv.running("rr")
    kv.patch("virtualmachines", "rr", {"spec": {"template": {"spec": {"domain": {"resources": {
        "requests": {"memory": "256Mi"}}}}}}}, merge=True)
    cond = wait_for(lambda: restart_required(kv, "rr"), timeout=120, message="RestartRequired")
    assert (cond["status"], cond["message"]) == ("True", RESTART_MESSAGE)
    kv.patch("virtualmachines", "rr", {"spec": {"template": {"spec": {"domain": {"resources": {
        "requests": {"memory": "128Mi"}}}}}}}, merge=True)
    wait_for(lambda: restart_required(kv, "rr") is None, timeout=120, message="RestartRequired cleared on revert")

    kv.add_interface("rr", {"name": "blue", "bridge": {}}, {"name": "blue", "multus": {"networkName": "blue-net"}})
    wait_for(lambda: kv.interface(kv.vmi("rr"), "blue"), timeout=120, message="blue hot-plugged")
    assert restart_required(kv, "rr") is None
    kv.patch("virtualmachines", "rr", [{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/0/model",
                                        "value": "e1000"}])
    wait_for(lambda: restart_required(kv, "rr"), timeout=120, message="RestartRequired on a model change")
    kv.patch("virtualmachines", "rr", {"spec": {"runStrategy": "Halted"}}, merge=True)
    wait_for(lambda: kv.vmi_or_none("rr") is None, timeout=180, message="stopped")
    kv.patch("virtualmachines", "rr", {"spec": {"runStrategy": "Always"}}, merge=True)
    vmi = kv.running("rr")
    assert vmi["spec"]["domain"]["devices"]["interfaces"][0]["model"] == "e1000"
    wait_for(lambda: restart_required(kv, "rr") is None, timeout=120, message="cleared by the restart")


def test_sriov_vm_waits_for_a_node_with_the_resource(kv, lab, capabilities):
    nodes = lab.get_config()["nodes"]
    capabilities(nodes=[dict(n, allocatable={k: v for k, v in n["allocatable"].items() if k != "openshift.io/intelnics"})
                        for n in nodes])
    kv.nad("sriov-net", resource="openshift.io/intelnics")
    kv.vm("sriov", SRIOV_IFACES, SRIOV_NETS)
    cond = wait_for(lambda: kv.condition(kv.vmi("sriov"), "PodScheduled"), timeout=120, message="PodScheduled")
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    # kube-scheduler 1.34's own wording (the filter result, then the preemption verdict)
    assert cond["message"].startswith("0/%d nodes are available: %d Insufficient openshift.io/intelnics." % (
        len(nodes), len(nodes))), cond["message"]
    # kube-scheduler records FailedScheduling through client-go's events broadcaster
    # (k8s.io/client-go/tools/events), which posts it from a goroutine after the scheduling cycle
    # that set the pod's PodScheduled condition: the condition can be seen before the event

    def failed_scheduling():
        items = kv.get("events", group="")["items"]
        found = [e for e in items if e["reason"] == "FailedScheduling"]
        if not found:
            raise AssertionError("events: %r" % sorted({e["reason"] for e in items}))  # wait_for reports it
        return found

    events = wait_for(failed_scheduling, timeout=60, message="the FailedScheduling event")
    assert events and events[0]["source"].get("component", events[0].get("reportingComponent")) in (
        "default-scheduler", None) or events[0].get("reportingComponent") == "default-scheduler"
    assert kv.vmi("sriov")["status"]["phase"] == "Scheduling"
    [pod] = kv.pods(kv.vmi("sriov"))
    assert pod["status"]["phase"] == "Pending" and kv.condition(pod, "PodScheduled")["reason"] == "Unschedulable"
    # the printable status is "ErrorUnschedulable" (kubevirt.io/api core/v1 types.go
    # VirtualMachineStatusUnschedulable; vm.go isVirtualMachineStatusUnschedulable)
    assert wait_for(lambda: kv.get("virtualmachines", "sriov")["status"]["printableStatus"] == "ErrorUnschedulable",
                    timeout=120, message="VM ErrorUnschedulable")
    capabilities(nodes=[dict(nodes[1], allocatable=dict(nodes[1]["allocatable"], **{"openshift.io/intelnics": "2"})),
                        nodes[0]])
    vmi = kv.running("sriov")
    assert vmi["status"]["nodeName"] == nodes[1]["name"] and kv.condition(vmi, "PodScheduled") is None
    # two writers: virt-handler reports the VF in the domain, virt-controller adds multus-status
    # from the pod's network-status (pkg/network/controllers/vmi.go); the sum comes eventually,
    # and not always straight: at its first sync of the Ready pod virt-controller rewrites the
    # pod's networks annotation without an SR-IOV interface that is not yet in the VMI status
    # (pkg/network/pod/annotations/generator.go ifacesAndNetsForMultusAnnotationUpdate), the
    # dynamic-networks controller detaches what the annotation no longer lists (its
    # pkg/controller/pod.go attachmentsToDelete), and the VF comes back only through the
    # migration virt-controller then needs for an SR-IOV hot-plug - seconds on a quiet machine,
    # over 30 s on a loaded one (CI, stop 27)

    def vf_reported():
        source = (kv.interface(kv.vmi("sriov"), "vf") or {}).get("infoSource")
        if source != "domain, guest-agent, multus-status":
            raise AssertionError("vf infoSource %r" % source)   # wait_for reports the last one
        return True

    wait_for(vf_reported, timeout=180, message="vf in the domain and in the pod")


def test_missing_nad_keeps_the_vmi_scheduling(kv):
    kv.vm("nonad", [{"name": "default", "masquerade": {}}, {"name": "red", "bridge": {}}],
          [{"name": "default", "pod": {}}, {"name": "red", "multus": {"networkName": "red-net"}}])
    event = wait_for(lambda: [e for e in kv.get("events", group="")["items"] if e["reason"] == "FailedCreatePodSandBox"],
                     timeout=120, message="sandbox failure event")[0]
    assert 'cannot find a network-attachment-definition (red-net) in namespace (%s)' % kv.namespace in event["message"]
    vmi = wait_for(lambda: kv.vmi("nonad")["status"].get("phase") == "Scheduling" and kv.vmi("nonad"), timeout=120,
                   message="VMI Scheduling")
    [pod] = kv.pods(vmi)
    assert pod["status"]["phase"] == "Pending" and pod["spec"]["nodeName"]
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"
    kv.nad("red-net")
    kv.running("nonad")


def test_launch_manifest_failures_are_synchronized_conditions(kv, capabilities):
    capabilities(disabled_feature_gates=["ExternalNetResourceInjection"])
    kv.vm("rendered", [{"name": "default", "masquerade": {}}, {"name": "red", "bridge": {}}],
          [{"name": "default", "pod": {}}, {"name": "red", "multus": {"networkName": "red-net"}}])
    kv.vm("plugin", [{"name": "default", "binding": {"name": "not-registered"}}])
    for name, cause in (("rendered", "failed to locate network attachment definition %s/red-net" % kv.namespace),
                        # virt-controller's template service looks the binding up first in
                        # pkg/network/netbinding/netbinding.go (NetBindingPluginSidecarList), whose
                        # wording this is (not pkg/network/multus/annotation.go's)
                        ("plugin", "couldn't find configuration for network binding: not-registered")):
        cond = wait_for(lambda name=name: kv.condition(kv.vmi(name), "Synchronized"), timeout=120, message=name)
        assert (cond["status"], cond["reason"]) == ("False", "FailedCreate")
        assert cond["message"] == "failed to render launch manifest: " + cause
        assert kv.vmi(name)["status"]["phase"] == "Pending" and kv.pods(kv.vmi(name)) == []
    kv.nad("red-net")
    vmi = kv.running("rendered")
    assert kv.condition(vmi, "Synchronized") is None


def test_istio_sidecar_and_kubevirt_annotations(kv, lab, capabilities):
    capabilities(istio=True)
    lab.request("PATCH", "/api/v1/namespaces/" + kv.namespace, {"metadata": {"labels": {"istio-injection": "enabled"}}},
                content_type="application/merge-patch+json")
    kv.vm("mesh", annotations={"sidecar.istio.io/inject": "true"})
    kv.vm("plain", [{"name": "default", "bridge": {}}], labels={"app": "plain"})
    mesh, plain = kv.running("mesh"), kv.running("plain")
    [pod] = kv.pods(mesh)
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    # virt-controller copies the VMI's annotations to the pod (pkg/virt-controller/services/
    # template.go filterVMIAnnotationsForPod drops only kubectl.kubernetes.io/* and the
    # observed-api-version ones) and also sets the label Istio's injector reads (template.go,
    # istio.InjectSidecarAnnotation -> istio.InjectSidecarLabel)
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "true"
    for name in ("traffic.sidecar.istio.io/kubevirtInterfaces", "istio.io/reroute-virtual-interfaces"):
        assert pod["metadata"]["annotations"][name] == "k6t-eth0"
    assert [c["name"] for c in pod["spec"]["containers"]] == ["compute", "istio-proxy"]
    assert pod["spec"]["automountServiceAccountToken"] is True
    [other] = kv.pods(plain)
    assert "sidecar.istio.io/inject" not in other["metadata"]["labels"]
    assert "traffic.sidecar.istio.io/kubevirtInterfaces" not in other["metadata"]["annotations"]
    assert [c["name"] for c in other["spec"]["containers"]] == ["compute", "istio-proxy"]   # namespace injection
