"""The VM controller's rules (tests/lab/kubevirt/vm.py) and virt-api's
state-change patches (tests/lab/kubevirt/subresources.py)."""

import pytest

from tests.lab.kubevirt import subresources, vm as vmc


def vm(strategy=None, running=None, requests=None, status_strategy=None, deleting=False):
    spec = {"template": {"metadata": {"labels": {"app": "a"}, "annotations": {"note": "t"}},
                         "spec": {"domain": {"devices": {}}}}}
    if strategy is not None:
        spec["runStrategy"] = strategy
    if running is not None:
        spec["running"] = running
    status = {}
    if requests is not None:
        status["stateChangeRequests"] = requests
    if status_strategy:
        status["runStrategy"] = status_strategy
    meta = {"name": "a", "namespace": "ns1", "uid": "vm-uid", "generation": 3, "labels": {"vm-only": "x"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": spec, "status": status}


def vmi(phase="Running", uid="vmi-uid", deleting=False, conditions=None, migration=None):
    meta = {"name": "a", "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {"phase": phase, "conditions": conditions or []}
    if migration:
        status["migrationState"] = migration
    return {"metadata": meta, "status": status}


def test_run_strategy_of_legacy_running():
    assert vmc.run_strategy(vm(running=True)) == "Always"
    assert vmc.run_strategy(vm(running=False)) == "Halted"
    assert vmc.run_strategy(vm("Manual")) == "Manual"
    assert vmc.run_strategy(vm()) == "Halted"


STOP = {"action": "Stop", "uid": "vmi-uid"}
START = {"action": "Start"}


@pytest.mark.parametrize("machine, instance, action", [
    (vm("Always"), None, vmc.START),
    (vm("Always"), vmi(), None),
    (vm("Always", requests=[STOP, START]), vmi(), vmc.STOP),
    (vm("Always"), vmi("Succeeded"), vmc.STOP),
    (vm("Always", requests=[STOP]), vmi(deleting=True), None),
    (vm("Halted"), vmi(), vmc.STOP),
    (vm("Halted"), None, None),
    (vm("Halted", requests=[START]), None, vmc.SET_ALWAYS),
    (vm("Manual"), None, None),
    (vm("Manual", requests=[START]), None, vmc.START),
    (vm("Manual", requests=[STOP]), vmi(), vmc.STOP),
    (vm("Manual", requests=[{"action": "Stop", "uid": "old"}]), vmi(), None),
    (vm("RerunOnFailure"), None, vmc.START),
    (vm("RerunOnFailure", status_strategy="RerunOnFailure"), None, None),
    (vm("RerunOnFailure"), vmi("Failed"), vmc.RESTART_FAILED),
    (vm("RerunOnFailure"), vmi("Succeeded"), vmc.STOP),
    (vm("Once"), None, vmc.START),
    (vm("Once"), vmi("Succeeded"), None),
])
def test_run_strategy_actions(machine, instance, action):
    assert vmc.run_strategy_action(machine, instance) == action


def test_first_state_change_request_is_trimmed_when_done():
    assert vmc.first_request_done(vm("Manual", requests=[STOP]), None)
    assert not vmc.first_request_done(vm("Manual", requests=[STOP]), vmi())
    assert vmc.first_request_done(vm("Manual", requests=[STOP]), vmi(uid="new"))
    assert vmc.first_request_done(vm("Manual", requests=[START]), vmi())
    assert not vmc.first_request_done(vm("Manual", requests=[START]), None)
    assert not vmc.first_request_done(vm("Manual", requests=[START]), vmi("Succeeded"))


UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}


@pytest.mark.parametrize("machine, instance, printable", [
    (vm("Always", deleting=True), vmi(), "Terminating"),
    (vm("Halted"), None, "Stopped"),
    (vm("Always"), vmi(deleting=True), "Stopping"),
    (vm("Always"), vmi(migration={"startTimestamp": "t"}), "Migrating"),
    (vm("Always"), vmi(migration={"startTimestamp": "t", "endTimestamp": "u"}), "Running"),
    (vm("Always"), vmi("Scheduling", conditions=[UNSCHEDULABLE]), "Unschedulable"),
    (vm("Always"), vmi("Pending"), "Starting"),
    (vm("Always"), vmi(""), "Starting"),
    (vm("Always"), vmi("Succeeded"), "Stopped"),
    (vm("Always"), vmi(conditions=[{"type": "Paused", "status": "True"}]), "Paused"),
])
def test_printable_status(machine, instance, printable):
    assert vmc.printable_status(machine, instance) == printable


def test_default_interface():
    empty = {"domain": {"devices": {}}}
    spec = vmc.default_interface(empty, {"defaultNetworkInterface": "masquerade"})
    assert spec["domain"]["devices"]["interfaces"] == [{"name": "default", "masquerade": {}}]
    assert spec["networks"] == [{"name": "default", "pod": {}}]
    assert vmc.default_interface(empty, {})["domain"]["devices"]["interfaces"] == [{"name": "default", "bridge": {}}]
    with pytest.raises(ValueError, match="bridge interface is not enabled in kubevirt-config"):
        vmc.default_interface(empty, {"permitBridgeInterfaceOnPodNetwork": False})
    off = {"domain": {"devices": {"autoattachPodInterface": False}}}
    assert vmc.default_interface(off, {}) == off


def test_new_vmi_takes_the_template_metadata():
    body = vmc.new_vmi(vm("Always"), {"domain": {}})
    meta = body["metadata"]
    assert meta["labels"] == {"app": "a"} and "vm-only" not in meta["labels"]
    assert meta["annotations"] == {"note": "t", vmc.GENERATION_ANNOTATION: "3"}
    assert meta["ownerReferences"] == [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": "a",
                                        "uid": "vm-uid", "controller": True, "blockOwnerDeletion": True}]
    assert body["status"]["virtualMachineRevisionName"] == "revision-start-vm-vm-uid-3"


# ------------------------------------------------------------ virt-api
def test_change_request_patches():
    assert subresources.change_request_patch({"status": {}}, START) == [
        {"op": "add", "path": "/status", "value": {"stateChangeRequests": [START]}}]
    assert subresources.change_request_patch({"status": {"ready": False}}, START) == [
        {"op": "add", "path": "/status/stateChangeRequests", "value": [START]}]
    assert subresources.change_request_patch({"status": {"stateChangeRequests": [START]}}, STOP) == [
        {"op": "test", "path": "/status/stateChangeRequests", "value": [START]},
        {"op": "replace", "path": "/status/stateChangeRequests", "value": [STOP]}]
    with pytest.raises(subresources.StatusError, match="stop/start already underway"):
        subresources.change_request_patch({"status": {"stateChangeRequests": [START]}}, STOP, START)


def test_running_patches():
    assert subresources.running_patch(vm("Halted"), True)[1] == {"op": "replace", "path": "/spec/runStrategy",
                                                                 "value": "Always"}
    assert subresources.running_patch(vm(running=True), False) == [
        {"op": "test", "path": "/spec/running", "value": True},
        {"op": "replace", "path": "/spec/running", "value": False}]


def test_status_errors_are_kubernetes_statuses():
    code, headers, body = subresources.conflict("virtualmachine", "a", "VM is already running").response()
    assert code == 409 and headers["Content-Type"] == "application/json"
    assert b'Operation cannot be fulfilled on virtualmachine.kubevirt.io \\"a\\": VM is already running' in body
