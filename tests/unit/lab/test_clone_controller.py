"""Every path of the lab's VirtualMachineClone controller
(tests/lab/kubevirt/clone.py CloneController), one reconcile at a time against
an in-memory API."""

import copy

import pytest

from tests.lab.kubevirt import clone as cl
from tests.lab.kubevirt.capabilities import KUBEVIRT_PATH
from tests.lab.kubevirt.config import LabConfig
from tests.lab.kubevirt.kapi import Conflict, KubeError, NotFound

NS = "ns1"
CLONE_PATH = "/apis/clone.kubevirt.io/v1beta1/namespaces/ns1/virtualmachineclones/c1"
VMS_PATH = "/apis/kubevirt.io/v1/namespaces/ns1/virtualmachines"


class FakeKube:
    """Objects by path; POST to a collection stores at <collection>/<name>."""

    def __init__(self):
        self.objects = {}
        self.events = []
        self.refuse_vm = None

    def get_or_none(self, path):
        return copy.deepcopy(self.objects.get(path))

    def replace(self, path, body):
        assert path.endswith("/status")
        self.objects[path[:-len("/status")]] = copy.deepcopy(body)
        return body

    def create(self, path, body):
        if path.endswith("/events"):
            self.events.append(body)
            return body
        if self.refuse_vm:
            raise KubeError(422, '{"message": "%s"}' % self.refuse_vm)
        full = path + "/" + body["metadata"]["name"]
        if full in self.objects:
            raise Conflict("exists")
        self.objects[full] = copy.deepcopy(body)
        return body

    def delete(self, path):
        if path not in self.objects:
            raise NotFound(path)
        del self.objects[path]


class FakeInformer:
    def __init__(self, items=()):
        self._items = list(items)
        self.handlers = []

    def add_handler(self, handler):
        self.handlers.append(handler)

    def items(self):
        return list(self._items)


def vm(name="src", **template_spec):
    spec = {"domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}, "macAddress": "02:00:00:00:00:01"}]},
                       "firmware": {"uuid": "u", "serial": "s"}},
            "networks": [{"name": "default", "pod": {}}]}
    spec.update(template_spec)
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "web"}},
            "spec": {"runStrategy": "Always", "template": {"spec": spec}}}


def clone(source_kind="VirtualMachine"):
    return {"apiVersion": "clone.kubevirt.io/v1beta1", "kind": "VirtualMachineClone",
            "metadata": {"name": "c1", "namespace": NS, "uid": "uid-1"},
            "spec": {"source": {"apiGroup": "kubevirt.io", "kind": source_kind, "name": "src"},
                     "target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "dst"}}}


@pytest.fixture
def kube():
    fake = FakeKube()
    fake.objects[KUBEVIRT_PATH] = {"status": {"observedKubeVirtVersion": "v1.9.0"}}
    fake.objects[CLONE_PATH] = clone()
    return fake


@pytest.fixture
def controller(kube):
    return cl.CloneController(kube, LabConfig(), FakeInformer([clone()]), FakeInformer())


def status(kube):
    return kube.objects[CLONE_PATH].get("status") or {}


def reasons(kube, kind="VirtualMachineClone"):
    return [e["reason"] for e in kube.events if e["involvedObject"]["kind"] == kind]


def run(controller, times=1):
    results = [controller.reconcile("ns1/c1") for _index in range(times)]
    return results[-1]


def test_happy_path_step_by_step(kube, controller):
    kube.objects[VMS_PATH + "/src"] = vm()
    run(controller)
    assert status(kube)["phase"] == "SnapshotInProgress" and status(kube)["snapshotName"] == "tmp-snapshot-uid-1"
    run(controller)
    assert status(kube)["phase"] == "RestoreInProgress" and status(kube)["restoreName"] == "tmp-restore-uid-1"
    run(controller)
    assert status(kube)["phase"] == "CreatingTargetVM" and status(kube)["targetName"] == "dst"
    target = kube.objects[VMS_PATH + "/dst"]
    assert target["spec"]["runStrategy"] == "Halted" and "macAddress" not in \
        target["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0]
    run(controller)
    final = status(kube)
    assert final["phase"] == "Succeeded" and "snapshotName" not in final and "restoreName" not in final
    assert {c["type"]: c["status"] for c in final["conditions"]} == {"Progressing": "False", "Ready": "True"}
    assert reasons(kube) == ["SnapshotCreated", "SnapshotReady", "RestoreCreated", "RestoreReady", "TargetVMCreated",
                             "PVCBound"]
    assert reasons(kube, "VirtualMachineRestore") == ["VirtualMachineRestoreComplete"]
    assert run(controller) is None and status(kube) == final


def test_the_snapshot_is_taken_when_the_clone_starts(kube, controller):
    kube.objects[VMS_PATH + "/src"] = vm()
    run(controller)
    kube.objects[VMS_PATH + "/src"]["metadata"]["labels"] = {"app": "changed-later"}
    run(controller, 3)
    assert kube.objects[VMS_PATH + "/dst"]["metadata"]["labels"] == {"app": "web"}


def test_reconcile_delay_spaces_the_steps(kube):
    controller = cl.CloneController(kube, LabConfig({"reconcile_delay": 30}), FakeInformer(), FakeInformer())
    kube.objects[VMS_PATH + "/src"] = vm()
    assert run(controller) == 30
    again = run(controller)
    assert 0 < again <= 30 and status(kube)["phase"] == "SnapshotInProgress"


@pytest.mark.parametrize("kind", ["VirtualMachine", "VirtualMachineSnapshot"])
def test_missing_source_is_pending(kube, controller, kind):
    kube.objects[CLONE_PATH] = clone(kind)
    assert run(controller) is None
    reason = "Source doesnt exist: %s ns1/src" % kind
    assert "phase" not in status(kube)
    assert [(c["type"], c["status"], c["reason"]) for c in status(kube)["conditions"]] == [
        ("Progressing", "False", "Pending"), ("Ready", "False", reason)]
    assert reasons(kube) == ["SourceDoesNotExist"]
    run(controller)
    assert reasons(kube) == ["SourceDoesNotExist"]  # recorded once


def test_source_vm_events_wake_the_clone(controller):
    queued = []
    controller.enqueue = queued.append
    controller._on_vm("ADDED", vm("src"))  # pylint: disable=protected-access
    controller._on_vm("ADDED", vm("other"))  # pylint: disable=protected-access
    assert queued == ["ns1/c1"]


def test_backend_storage_fails(kube, controller):
    kube.objects[VMS_PATH + "/src"] = vm(domain={"devices": {"tpm": {"persistent": True}}})
    run(controller)
    assert status(kube)["phase"] == "Failed"
    assert status(kube)["conditions"][1]["reason"] == "Clone of source with backendstorage is not supported: VM ns1/src"
    assert run(controller) is None and reasons(kube) == ["SourceVMWithBackendStorageInvalid"]


def test_volume_without_snapshot_support_is_pending(kube, controller):
    source = vm(volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}])
    source["status"] = {"volumeSnapshotStatuses": [{"name": "data", "enabled": False}]}
    kube.objects[VMS_PATH + "/src"] = source
    run(controller)
    assert "phase" not in status(kube)
    assert status(kube)["conditions"][1]["reason"] == "Virtual Machine volume data does not support snapshots"
    assert reasons(kube) == ["VMVolumeSnapshotsInvalid"]


def test_snapshot_gate_switched_off_after_admission(kube, controller):
    kube.objects[VMS_PATH + "/src"] = vm()
    kube.objects[KUBEVIRT_PATH]["spec"] = {"configuration": {"developerConfiguration": {
        "disabledFeatureGates": ["Snapshot"]}}}
    assert run(controller) == 1.0
    assert status(kube)["phase"] == "SnapshotInProgress" and "snapshotName" not in status(kube)
    del kube.objects[KUBEVIRT_PATH]["spec"]
    run(controller)
    assert status(kube)["snapshotName"] == "tmp-snapshot-uid-1"


def test_existing_target_is_retried_with_back_off(kube, controller):
    kube.objects[VMS_PATH + "/src"] = vm()
    kube.objects[VMS_PATH + "/dst"] = vm("dst")
    run(controller, 2)
    assert [run(controller) for _index in range(3)] == [0.4, 0.8, 1.6]
    assert status(kube)["phase"] == "RestoreInProgress"
    assert [e["message"] for e in kube.events if e["reason"] == "VirtualMachineRestoreError"] == [
        "VirtualMachineRestore encountered error restore source and restore target are different but restore "
        "target already exists"]
    del kube.objects[VMS_PATH + "/dst"]
    run(controller, 2)
    assert status(kube)["phase"] == "Succeeded"


def test_refused_target_vm_is_a_restore_error(kube, controller):
    kube.objects[VMS_PATH + "/src"] = vm()
    kube.refuse_vm = "admission webhook denied the request"
    run(controller, 3)
    assert status(kube)["phase"] == "RestoreInProgress"
    assert [e["message"] for e in kube.events if e["reason"] == "VirtualMachineRestoreError"] == [
        "VirtualMachineRestore encountered error admission webhook denied the request"]


def test_bad_patch_is_a_restore_error(kube, controller):
    kube.objects[CLONE_PATH]["spec"]["patches"] = ['{"op":"remove","path":"/spec/nothing"}']
    kube.objects[VMS_PATH + "/src"] = vm()
    run(controller, 3)
    message = [e["message"] for e in kube.events if e["reason"] == "VirtualMachineRestoreError"][0]
    assert message.startswith("VirtualMachineRestore encountered error error patching VM dst: failed to apply")
    assert VMS_PATH + "/dst" not in kube.objects


def test_snapshot_lost_with_a_daemon_restart_fails(kube, controller):
    kube.objects[VMS_PATH + "/src"] = vm()
    run(controller, 2)
    controller.snapshots.clear()
    run(controller)
    assert status(kube)["phase"] == "Failed"
    assert status(kube)["conditions"][1]["reason"] == "snapshot tmp-snapshot-uid-1 does not exist anymore"


def test_target_vm_not_seen_yet_is_retried(kube, controller):
    kube.objects[VMS_PATH + "/src"] = vm()
    run(controller, 3)
    del kube.objects[VMS_PATH + "/dst"]
    assert run(controller) == 0.5 and status(kube)["phase"] == "CreatingTargetVM"


def test_succeeded_clone_goes_with_its_target(kube, controller):
    kube.objects[VMS_PATH + "/src"] = vm()
    run(controller, 4)
    assert status(kube)["phase"] == "Succeeded"
    del kube.objects[VMS_PATH + "/dst"]
    run(controller)
    assert CLONE_PATH not in kube.objects
    assert run(controller) is None
