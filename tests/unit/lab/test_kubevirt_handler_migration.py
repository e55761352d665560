"""virt-handler's migration steps (lab/kubevirt/handler_migration.py):
the order of the writes and what each writes, after KubeVirt v1.9.0's
pkg/virt-handler/migration-target.go and migration-source.go."""

import pytest

from lab.kubevirt import handler_migration as hm

STAMP = "2026-01-01T00:00:00Z"


def handed_off(**state):
    """A VMI as virt-controller's handleTargetPodHandoff leaves it."""
    base = {"migrationUid": "mig-1", "sourceNode": "node01", "targetNode": "node02",
            "sourcePod": "virt-launcher-vm-src", "targetPod": "virt-launcher-vm-tgt"}
    base.update(state)
    return {"metadata": {"name": "vm", "namespace": "ns", "uid": "vmi-uid",
                         "labels": {"kubevirt.io/nodeName": "node01", hm.TARGET_NODE_LABEL: "node02"},
                         "annotations": {hm.CREATE_TARGET_ANNOTATION: "true"}},
            "spec": {"domain": {"devices": {}}},
            "status": {"phase": "Running", "nodeName": "node01", "migrationState": base,
                       "launcherContainerImageVersion": "quay.io/kubevirt/virt-launcher:v1.9.0",
                       "conditions": [{"type": "Ready", "status": "True"},
                                      {"type": "MigrationRequired", "status": "True"}]}}


def run_to_end(vmi, limit=20):
    """Apply next_step until none is left; the (role, step) list and the VMI."""
    steps = []
    for _step in range(limit):
        step = hm.next_step(vmi)
        if step is None:
            return steps, vmi
        role, name = step
        state = vmi["status"]["migrationState"]
        node = state["targetNode"] if role == "target" else vmi["status"]["nodeName"]
        vmi = hm.apply_step(vmi, name, node, address="10.244.0.3", stamp=STAMP)
        steps.append(step)
    raise AssertionError("no end: %s" % steps)


def test_success_follows_the_handlers_order():
    steps, vmi = run_to_end(handed_off())
    assert steps == [("target", "prepare"), ("source", "start"), ("target", "detected"), ("target", "ready"),
                     ("target", "ack"), ("target", "finalize"), ("target", "cleanup")]
    state = vmi["status"]["migrationState"]
    assert state["targetNodeAddress"] == "10.244.0.3"
    assert state["startTimestamp"] == state["endTimestamp"] == state["targetNodeDomainReadyTimestamp"] == STAMP
    assert state["mode"] == "PreCopy" and state["targetNodeDomainDetected"] is True and state["completed"] is True
    assert "failed" not in state
    assert vmi["status"]["nodeName"] == "node02" and vmi["metadata"]["labels"] == {"kubevirt.io/nodeName": "node02"}
    assert vmi["status"]["migrationTransport"] == "Unix"
    assert "launcherContainerImageVersion" not in vmi["status"]
    assert [c["type"] for c in vmi["status"]["conditions"]] == ["Ready"]
    assert "annotations" not in vmi["metadata"]


def test_the_source_waits_for_the_target_ports():
    vmi = handed_off(targetNodeAddress="10.244.0.3")
    assert hm.next_step(vmi) is None
    vmi["status"]["migrationState"]["targetDirectMigrationNodePorts"] = hm.listener_ports("vmi-uid")
    assert hm.next_step(vmi) == ("source", "start")


def test_nothing_before_the_target_label():
    vmi = handed_off()
    del vmi["metadata"]["labels"][hm.TARGET_NODE_LABEL]
    assert hm.next_step(vmi) is None


def test_abort_is_the_sources_and_the_target_cleans_up_keeping_its_annotation():
    vmi = handed_off(targetNodeAddress="10.244.0.3", targetDirectMigrationNodePorts={"40000": 0},
                     startTimestamp=STAMP, mode="PreCopy", abortRequested=True)
    steps, vmi = run_to_end(vmi)
    assert steps == [("source", "abort"), ("target", "cleanup")]
    state = vmi["status"]["migrationState"]
    assert (state["failed"], state["completed"], state["abortStatus"], state["failureReason"]) == (
        True, True, "Succeeded", "Live migration has been aborted")
    assert vmi["status"]["nodeName"] == "node01"
    assert vmi["metadata"]["annotations"] == {hm.CREATE_TARGET_ANNOTATION: "true"}
    assert hm.TARGET_NODE_LABEL not in vmi["metadata"]["labels"]


def test_failed_by_virt_controller_only_cleans_the_target():
    vmi = handed_off(failed=True, completed=True, endTimestamp=STAMP, startTimestamp=STAMP)
    assert run_to_end(vmi)[0] == [("target", "cleanup")]


def test_memory_overhead_moves_to_the_target_at_ack():
    vmi = handed_off(targetNodeAddress="a", targetDirectMigrationNodePorts={"1": 0}, startTimestamp=STAMP,
                     targetNodeDomainDetected=True, targetNodeDomainReadyTimestamp=STAMP,
                     targetMemoryOverhead="274688Ki")
    assert hm.next_step(vmi) == ("target", "ack")
    after = hm.apply_step(vmi, "ack", "node02", stamp=STAMP)
    assert after["status"]["memory"]["memoryOverhead"] == "274688Ki"
    assert vmi["status"]["nodeName"] == "node01"   # the input is not changed


def test_target_state_mirrors_for_decentralized_shapes():
    vmi = handed_off(targetState={})
    after = hm.apply_step(vmi, "prepare", "node02", address="10.0.0.9")
    assert after["status"]["migrationState"]["targetState"] == {
        "nodeAddress": "10.0.0.9", "directMigrationNodePorts": hm.listener_ports("vmi-uid")}


def test_listener_ports_are_stable_and_name_the_libvirt_port():
    ports = hm.listener_ports("vmi-uid")
    assert ports == hm.listener_ports("vmi-uid") and sorted(ports.values()) == [0, 49152]
    assert all(1024 < int(p) < 65536 for p in ports)


@pytest.mark.parametrize("state,done", [
    ({}, True), ({"completed": True}, False), ({"endTimestamp": STAMP}, False),
    ({"endTimestamp": STAMP, "failed": True}, True), ({"endTimestamp": STAMP, "completed": True}, True)])
def test_is_done(state, done):
    assert hm.is_done(state) is done


def test_exited_pod_status():
    pod = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"},
                                                         {"type": "PodScheduled", "status": "True"}],
                      "containerStatuses": [{"name": "compute", "ready": True, "containerID": "cri-o://1",
                                             "state": {"running": {"startedAt": "t0"}}}]}}
    status = hm.exited_pod_status(pod, STAMP)
    assert status["phase"] == "Succeeded"
    assert status["containerStatuses"][0]["state"] == {"terminated": {
        "exitCode": 0, "reason": "Completed", "startedAt": "t0", "finishedAt": STAMP, "containerID": "cri-o://1"}}
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [("Ready", "False"), ("PodScheduled", "True")]
