"""A VirtualMachineSnapshot source is planned against the VM its VirtualMachineSnapshotContent holds
(KubeVirt v1.9.0 pkg/virt-controller/watch/clone/clone.go getVmFromSnapshot), not against the VM it was
taken of (issue 18)."""

import types

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import clone_runner

SNAPS = "/apis/snapshot.kubevirt.io/v1beta1/namespaces/ns/virtualmachinesnapshots/"
CONTENTS = "/apis/snapshot.kubevirt.io/v1beta1/namespaces/ns/virtualmachinesnapshotcontents/"
VMS = "/apis/kubevirt.io/v1/namespaces/ns/virtualmachines/"


class Failed(Exception):
    pass


def vm(name, networks):
    return {"metadata": {"name": name, "namespace": "ns", "labels": {"from": name}},
            "spec": {"runStrategy": "Always", "template": {"spec": {
                "domain": {"devices": {"interfaces": [{"name": n, "bridge": {}} for n in networks]}},
                "networks": [{"name": n, "multus": {"networkName": "nad-" + n}} for n in networks]}}}}


def snapshot(ready=True, content_name="snap-1-content", phase="Succeeded"):
    status = {"phase": phase, "readyToUse": ready, "sourceUID": "vm-uid"}
    if content_name:
        status["virtualMachineSnapshotContentName"] = content_name
    return {"metadata": {"name": "snap-1", "namespace": "ns", "uid": "snap-uid"},
            "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "web"}},
            "status": status}


def content(held):
    return {"metadata": {"name": "snap-1-content"},
            "spec": {"virtualMachineSnapshotName": "snap-1", "source": {"virtualMachine": held}},
            "status": {"readyToUse": True}}


def read(objects):
    def fail(msg, **_extra):
        raise Failed(msg)
    fake = types.SimpleNamespace(namespace="ns", params={"source": "snap-1", "source_kind": "VirtualMachineSnapshot"},
                                 session=types.SimpleNamespace(get=objects.get),
                                 runner=types.SimpleNamespace(fail=fail))
    return clone_runner.Cloner.read_source(fake)


def test_the_vm_comes_from_the_snapshot_content_not_from_todays_vm():
    # the VM had one NIC when the snapshot was taken; it has two now
    got = read({SNAPS + "snap-1": snapshot(), CONTENTS + "snap-1-content": content(vm("web", ["net1"])),
                VMS + "web": vm("web", ["net1", "net2"])})
    assert [n["name"] for n in got["spec"]["template"]["spec"]["networks"]] == ["net1"]
    assert got["metadata"]["labels"] == {"from": "web"} and got["kind"] == "VirtualMachine"


def test_without_a_content_name_the_default_name_is_used():
    got = read({SNAPS + "snap-1": snapshot(content_name=None),
                CONTENTS + "vmsnapshot-content-snap-uid": content(vm("web", ["a"]))})
    assert [n["name"] for n in got["spec"]["template"]["spec"]["networks"]] == ["a"]


@pytest.mark.parametrize("objects,words", [
    ({}, "VirtualMachineSnapshot ns/snap-1 (source) not found"),
    ({SNAPS + "snap-1": snapshot(ready=False, phase="InProgress")}, "not ready to use yet (phase InProgress)"),
    ({SNAPS + "snap-1": snapshot()}, "VirtualMachineSnapshotContent ns/snap-1-content does not exist"),
    ({SNAPS + "snap-1": snapshot(), CONTENTS + "snap-1-content": content(None)}, "holds no VirtualMachine"),
])
def test_a_missing_or_unready_snapshot_or_content_is_said_clearly(objects, words):
    objects = dict(objects, **{VMS + "web": vm("web", ["net1"])})  # the VM itself must not stand in for it
    with pytest.raises(Failed, match=words.replace("(", r"\(").replace(")", r"\)")):
        read(objects)
