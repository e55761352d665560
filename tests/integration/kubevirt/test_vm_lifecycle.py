"""VM -> VMI -> virt-launcher pod: the user-guide VM, run strategies and the
VM status, as KubeVirt v1.9.0's virt-controller (pkg/virt-controller/watch/vm,
vmi) shows them."""

import json
import re

import pytest

from tests.integration.helpers import wait_equal, wait_for
from lab.cluster import LabError

USER_GUIDE_IFACES = [{"name": "default", "masquerade": {}}, {"name": "red", "bridge": {}}]
USER_GUIDE_NETS = [{"name": "default", "pod": {}}, {"name": "red", "multus": {"networkName": "red-net"}}]


def test_user_guide_vm_runs_with_both_interfaces(kv):
    kv.nad("red-net", {"type": "host-local", "subnet": "10.88.0.0/24"})
    kv.vm("ug", USER_GUIDE_IFACES, USER_GUIDE_NETS, labels={"app": "ug"}, annotations={"note": "template"},
          subdomain="lab")
    vmi = kv.running("ug")
    assert vmi["metadata"]["labels"]["app"] == "ug" and "only-on-the-vm" not in vmi["metadata"]["labels"]
    assert vmi["metadata"]["annotations"]["note"] == "template"
    assert vmi["metadata"]["ownerReferences"][0]["kind"] == "VirtualMachine"
    assert [p["phase"] for p in vmi["status"]["phaseTransitionTimestamps"]] == [
        "Pending", "Scheduling", "Scheduled", "Running"]
    default, red = kv.interface(vmi, "default"), kv.interface(vmi, "red")
    assert default["infoSource"] == "domain, guest-agent" and default["podInterfaceName"] == "eth0"
    assert red["infoSource"] == "domain, guest-agent, multus-status"
    assert re.match(r"^pod[0-9a-f]{11}$", red["podInterfaceName"])
    assert (default["interfaceName"], red["interfaceName"]) == ("eth0", "eth1")
    assert red["ipAddress"].startswith("10.88.0.") and red["ipAddresses"] == [red["ipAddress"]]
    assert default["mac"] != red["mac"] and red["mac"].startswith("02:") and red["linkState"] == "up"
    assert kv.condition(vmi, "LiveMigratable")["status"] == "True"
    # Ready is virt-controller's (pkg/virt-controller/watch/vmi/lifecycle.go, from the pod's
    # readiness once the VMI runs): it may follow virt-handler's Running by a sync
    wait_for(lambda: (kv.condition(kv.vmi("ug"), "Ready") or {}).get("status") == "True", timeout=120,
             message="VMI Ready")

    [pod] = kv.pods(vmi)
    meta = pod["metadata"]
    assert re.match(r"^virt-launcher-ug-[a-z0-9]{5}$", meta["name"])
    wanted = {"app": "ug", "kubevirt.io": "virt-launcher", "kubevirt.io/created-by": vmi["metadata"]["uid"],
              "vm.kubevirt.io/name": "ug", "vmi.kubevirt.io/id": "ug"}
    assert {k: meta["labels"][k] for k in wanted} == wanted
    assert "only-on-the-vm" not in meta["labels"]
    assert meta["ownerReferences"][0]["uid"] == vmi["metadata"]["uid"]
    assert json.loads(meta["annotations"]["k8s.v1.cni.cncf.io/networks"]) == [
        {"name": "red-net", "namespace": kv.namespace, "interface": red["podInterfaceName"]}]
    attached = {e["interface"]: e for e in json.loads(meta["annotations"]["k8s.v1.cni.cncf.io/network-status"])}
    assert attached[red["podInterfaceName"]]["ips"] == [red["ipAddress"]]
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("ug", "lab")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["compute"]
    assert pod["spec"]["nodeName"] == vmi["status"]["nodeName"] == vmi["metadata"]["labels"]["kubevirt.io/nodeName"]
    assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"] == default["ipAddress"]

    vm = wait_for(lambda: kv.get("virtualmachines", "ug")["status"].get("ready") and
                  kv.get("virtualmachines", "ug"), timeout=120, message="VM ready")
    status = vm["status"]
    assert (status["printableStatus"], status["created"], status["runStrategy"]) == ("Running", True, "Always")
    assert kv.condition(vm, "Ready")["status"] == "True" and kv.condition(vm, "RestartRequired") is None
    revision = kv.get("controllerrevisions", vmi["status"]["virtualMachineRevisionName"], group="apps/v1")
    assert revision["data"]["spec"]["template"]["spec"]["networks"] == USER_GUIDE_NETS


def test_run_strategies_and_legacy_running(kv, lab):
    kv.vm("halted", run_strategy="Halted")
    # v1.9.0's VM validator wants one of spec.running / spec.runStrategy at creation
    # (pkg/virt-api/webhooks/validating-webhook/admitters/vms-admitter.go validateRunStrategy)
    with pytest.raises(LabError) as err:
        kv.vm("legacy", run_strategy=None)
    assert ' -> 422: ' in str(err.value) and "RunStrategy must be specified" in str(err.value)
    legacy = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "legacy"},
              "spec": {"running": False, "template": {"metadata": {"labels": {"app": "legacy"}}, "spec": {
                  "domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}}]},
                             "resources": {"requests": {"memory": "128Mi"}}},
                  "networks": [{"name": "default", "pod": {}}]}}}}
    kv.create("virtualmachines", legacy)
    kv.patch("virtualmachines", "legacy", {"spec": {"running": True}}, merge=True)
    kv.vm("manual", run_strategy="Manual")
    kv.vm("once", run_strategy="Once")
    kv.vm("rerun", run_strategy="RerunOnFailure")
    for name in ("legacy", "once", "rerun"):
        kv.running(name)
    stopped = wait_for(lambda: kv.condition(kv.get("virtualmachines", "halted"), "Ready"), timeout=120,
                       message="Ready condition of the halted VM")
    assert (stopped["status"], stopped["reason"]) == ("False", "VMINotExists")
    for name in ("halted", "manual"):
        # each VM is its own key in the VM controller's queue: the halted VM's status says nothing
        # about whether the manual VM's first status update (vm.go updateStatus) has landed yet
        wait_equal(lambda name=name: (kv.get("virtualmachines", name).get("status") or {}).get("printableStatus"),
                   "Stopped", message="VM %s's printableStatus" % name)
        vm = kv.get("virtualmachines", name)
        # status.created is omitempty in v1.9.0's API (kubevirt.io/api core/v1 types.go): absent when false
        assert vm["status"]["printableStatus"] == "Stopped" and vm["status"].get("created", False) is False
        assert kv.vmi_or_none(name) is None

    kv.patch("virtualmachines", "halted", {"spec": {"runStrategy": "Always"}}, merge=True)
    kv.running("halted")
    kv.patch("virtualmachines", "legacy", {"spec": {"running": False}}, merge=True)
    # virt-controller (pkg/virt-controller/watch/vm/vm.go syncReadyConditionFromVMI) copies the
    # VMI's Ready condition (here PodNotExists) while the VMI exists, and writes VMINotExists at a
    # later sync, once the VMI is gone from its cache: Stopped can be printed before that sync
    vm = wait_for(lambda: kv.vmi_or_none("legacy") is None and
                  kv.get("virtualmachines", "legacy")["status"]["printableStatus"] == "Stopped" and
                  (kv.condition(kv.get("virtualmachines", "legacy"), "Ready") or {}).get("reason") == "VMINotExists"
                  and kv.get("virtualmachines", "legacy"), timeout=120, message="legacy VM stopped (VMINotExists)")
    assert kv.condition(vm, "Ready")["reason"] == "VMINotExists"
    assert not [p for p in kv.pods() if p["metadata"]["name"].startswith("virt-launcher-legacy-")]


def test_intermediate_states_are_observable_with_a_reconcile_delay(kv, capabilities):
    capabilities(reconcile_delay=0.4)
    kv.vm("slow")
    seen = []

    def printable():
        status = kv.get("virtualmachines", "slow").get("status") or {}
        if status.get("printableStatus") and (not seen or seen[-1] != status["printableStatus"]):
            seen.append(status["printableStatus"])
        return status.get("printableStatus") == "Running"

    wait_for(printable, timeout=180, interval=0.05, message="VM Running")
    assert seen[-2:] == ["Starting", "Running"]
    kv.patch("virtualmachines", "slow", {"spec": {"runStrategy": "Halted"}}, merge=True)
    seen.clear()

    def stopped():
        printable()
        return seen[-1] == "Stopped"

    wait_for(stopped, timeout=180, interval=0.05, message="VM Stopped")
    # the real VM controller answers the runStrategy change at once (it deletes the VMI and
    # reports Stopping: pkg/virt-controller/watch/vm/vm.go setPrintableStatus,
    # isVirtualMachineStatusStopping), so Running may already be gone at the first read;
    # what the delay paces is the node side, so Stopping lasts until the launcher is gone
    assert seen in (["Running", "Stopping", "Stopped"], ["Stopping", "Stopped"]), seen


def test_vm_deletion_removes_vmi_and_pod(kv):
    kv.vm("gone")
    vmi = kv.running("gone")
    kv.lab.request("DELETE", kv.path("virtualmachines", "gone"))
    wait_for(lambda: kv.vmi_or_none("gone") is None and not kv.pods(vmi), timeout=180,
             message="VMI and launcher pod garbage-collected")
