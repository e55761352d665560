"""The lab's clone controller refuses what KubeVirt v1.9.0's restore webhook
refuses (pkg/storage/admitters/vmrestore.go validatePatches): the restore is
never created, the clone stays RestoreInProgress without a restoreName, with
a RestoreCreationFailed Warning (clone.go createRestoreFromVm), retried."""

import pytest

from tests.lab.kubevirt import clone as cl
from tests.lab.kubevirt.config import LabConfig
from tests.unit.lab.test_clone_controller import (CLONE_PATH, KUBEVIRT_PATH, VMS_PATH, FakeInformer, FakeKube,
                                                  clone, run, status, vm)


def _kube(**spec):
    kube = FakeKube()
    kube.objects[KUBEVIRT_PATH] = {"status": {"observedKubeVirtVersion": "v1.9.0"}}
    body = clone()
    body["spec"].update(spec)
    kube.objects[CLONE_PATH] = body
    kube.objects[VMS_PATH + "/src"] = vm()
    return kube, cl.CloneController(kube, LabConfig(), FakeInformer([body]), FakeInformer())


@pytest.mark.parametrize("spec,words", [
    ({"newMacAddresses": {"default": "02:00:00:aa:00:01"}}, 'one ":" expected'),
    ({"patches": ['{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", '
                  '"value": {"name": "x", "bridge": {}}}']}, 'one ":" expected'),
    ({"patches": ['{"op": "add", "path": "/metadata/labels", "value": {}}']}, "only for elements under /spec/"),
])
def test_refused_restore_leaves_the_clone_in_restore_in_progress(spec, words):
    kube, controller = _kube(**spec)
    for _step in range(4):
        run(controller)
    current = status(kube)
    assert current["phase"] == "RestoreInProgress" and "restoreName" not in current
    failed = [e for e in kube.events if e["reason"] == "RestoreCreationFailed"]
    assert failed and failed[0]["type"] == "Warning" and words in failed[0]["message"]
    assert 'admission webhook "virtualmachinerestore-validator.snapshot.kubevirt.io" denied the request' \
        in failed[0]["message"]
    assert VMS_PATH + "/dst" not in kube.objects


def test_dash_mac_and_flat_patches_pass():
    kube, controller = _kube(newMacAddresses={"default": "02-00-00-aa-00-01"}, patches=[
        '{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", "value": {}}',
        '{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/name", "value": "x"}',
        '{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/bridge", "value": {}}',
        '{"op": "add", "path": "/spec/template/spec/networks/-", "value": {}}',
        '{"op": "add", "path": "/spec/template/spec/networks/1/name", "value": "x"}',
        '{"op": "add", "path": "/spec/template/spec/networks/1/multus", "value": {}}',
        '{"op": "add", "path": "/spec/template/spec/networks/1/multus/networkName", "value": "ns\\u002fnad"}'])
    for _step in range(4):
        run(controller)
    assert status(kube)["phase"] == "Succeeded"
    target = kube.objects[VMS_PATH + "/dst"]["spec"]["template"]["spec"]
    assert target["domain"]["devices"]["interfaces"] == [
        {"name": "default", "masquerade": {}, "macAddress": "02-00-00-aa-00-01"}, {"name": "x", "bridge": {}}]
    assert target["networks"][1] == {"name": "x", "multus": {"networkName": "ns/nad"}}
