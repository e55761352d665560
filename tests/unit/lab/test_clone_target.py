"""What a VirtualMachineClone makes of its source (tests/lab/kubevirt/clone.py
pure functions, mirroring KubeVirt v1.9 vm-target.go and restore.go): filters,
MAC blanking, serial/UUID, volume names, run strategy, patches last."""

import copy
import json

import pytest

from tests.lab.kubevirt import clone as cl

RESTORE = {"name": "tmp-restore-u1", "uid": "r-uid"}


def source_vm(**spec_extra):
    vm = {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": "src", "namespace": "ns", "uid": "src-uid", "resourceVersion": "7",
                     "labels": {"app": "web", "tier": "front", "debug/trace": "1"},
                     "annotations": {"owner": "me", "restore.kubevirt.io/lastRestoreUID": "old"}},
        "spec": {
            "runStrategy": "Always",
            "template": {
                "metadata": {"labels": {"app": "web", "kubevirt.io/domain": "src"},
                             "annotations": {"ovn.kubernetes.io/ip_address": "10.0.0.5"}},
                "spec": {"domain": {"devices": {"interfaces": [
                    {"name": "default", "masquerade": {}, "macAddress": "02:00:00:00:00:01"},
                    {"name": "net1", "bridge": {}, "macAddress": "02:00:00:00:00:02"},
                    {"name": "net2", "bridge": {}}]},
                    "firmware": {"uuid": "old-uuid", "serial": "old-serial"}},
                    "networks": [{"name": "default", "pod": {}},
                                 {"name": "net1", "multus": {"networkName": "br1"}},
                                 {"name": "net2", "multus": {"networkName": "br2"}}]}}},
        "status": {"ready": True},
    }
    vm["spec"].update(spec_extra)
    return vm


def clone(**spec):
    body = {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "src"},
            "target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "dst"}}
    body.update(spec)
    return {"metadata": {"name": "c1", "namespace": "ns", "uid": "u1"}, "spec": body}


def ifaces(vm):
    return vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]


# ------------------------------------------------------------ filters
@pytest.mark.parametrize("filters,kept", [
    (None, {"app", "tier", "debug/trace"}),
    ([], set()),
    (["*"], {"app", "tier", "debug/trace"}),
    (["*", "!debug/*"], {"app", "tier"}),
    (["app"], {"app"}),
    (["!app"], set()),              # negations only take away
    (["t"], {"tier", "debug/trace"}),  # an unanchored regular expression
    (["[bad"], set()),              # not a regular expression: matches nothing
])
def test_kept_keys(filters, kept):
    assert cl.kept_keys({"app": "1", "tier": "2", "debug/trace": "3"}, filters) == kept


def test_generated_patches_in_kubevirt_order_then_the_users():
    spec = clone(labelFilters=["app"], newMacAddresses={"net1": "02-00-00-00-00-aa"},
                 template={"annotationFilters": ["!ovn.kubernetes.io/*"]}, newSMBiosSerial="serial-1",
                 patches=['{"op":"add","path":"/spec/template/metadata/labels/x","value":"y"}'])["spec"]
    ops = [json.loads(p) for p in cl.generate_patches(source_vm(), spec)]
    assert ops == [
        {"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces/0/macAddress", "value": ""},
        {"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces/1/macAddress",
         "value": "02-00-00-00-00-aa"},
        {"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces/2/macAddress", "value": ""},
        {"op": "replace", "path": "/spec/template/spec/domain/firmware/serial", "value": "serial-1"},
        {"op": "remove", "path": "/metadata/labels/debug~1trace"},
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "remove", "path": "/spec/template/metadata/annotations/ovn.kubernetes.io~1ip_address"},
        {"op": "replace", "path": "/spec/template/spec/domain/firmware/uuid", "value": ""},
        {"op": "add", "path": "/spec/template/metadata/labels/x", "value": "y"},
    ]


def test_no_firmware_means_no_serial_or_uuid_patch():
    vm = source_vm()
    del vm["spec"]["template"]["spec"]["domain"]["firmware"]
    paths = [json.loads(p)["path"] for p in cl.generate_patches(vm, clone(newSMBiosSerial="s")["spec"])]
    assert not [p for p in paths if "firmware" in p]


# ------------------------------------------------------------ the target VM
def test_target_vm_blanks_macs_regenerates_identity_and_halts():
    target = cl.target_vm(source_vm(), clone(newMacAddresses={"net1": "02:00:00:00:00:aa"}), RESTORE)
    assert [i.get("macAddress") for i in ifaces(target)] == [None, "02:00:00:00:00:aa", None]
    assert "macAddress" not in ifaces(target)[0]
    assert target["spec"]["template"]["spec"]["domain"]["firmware"] == {}
    assert target["spec"]["runStrategy"] == "Halted"
    assert target["metadata"] == {
        "name": "dst", "namespace": "ns",
        "labels": {"app": "web", "tier": "front", "debug/trace": "1"},
        "annotations": {"owner": "me", "restore.kubevirt.io/lastRestoreUID": "tmp-restore-u1-r-uid"}}
    assert "status" not in target
    assert target["spec"]["template"]["metadata"] == source_vm()["spec"]["template"]["metadata"]
    assert target["spec"]["template"]["spec"]["networks"] == source_vm()["spec"]["template"]["spec"]["networks"]


def test_new_serial_and_legacy_running():
    vm = source_vm(running=True)
    del vm["spec"]["runStrategy"]
    target = cl.target_vm(vm, clone(newSMBiosSerial="serial-1"), RESTORE)
    assert target["spec"]["template"]["spec"]["domain"]["firmware"] == {"serial": "serial-1"}
    assert target["spec"]["running"] is False and "runStrategy" not in target["spec"]


def test_filters_on_metadata_and_template():
    spec = clone(labelFilters=["app"], annotationFilters=[],
                 template={"labelFilters": ["*", "!kubevirt.io/*"], "annotationFilters": ["!ovn"]})
    target = cl.target_vm(source_vm(), spec, RESTORE)
    assert target["metadata"]["labels"] == {"app": "web"}
    # the restore's own annotation is never filtered away
    assert target["metadata"]["annotations"] == {"restore.kubevirt.io/lastRestoreUID": "tmp-restore-u1-r-uid"}
    # emptied maps are dropped, as Go's omitempty does on KubeVirt's round trip
    assert target["spec"]["template"]["metadata"] == {"labels": {"app": "web"}}


def test_patches_apply_last_and_win():
    patches = ['{"op":"replace","path":"/spec/template/spec/domain/devices/interfaces/0/macAddress",'
               '"value":"02:00:00:00:00:99"}',
               '{"op":"replace","path":"/spec/template/metadata/labels/app","value":"web-b"}',
               '{"op":"replace","path":"/spec/runStrategy","value":"Always"}',
               '{"op":"add","path":"/metadata/labels/tier","value":"back"}']
    target = cl.target_vm(source_vm(), clone(labelFilters=["app"], patches=patches), RESTORE)
    assert ifaces(target)[0]["macAddress"] == "02:00:00:00:00:99"
    assert target["spec"]["template"]["metadata"]["labels"]["app"] == "web-b"
    assert target["spec"]["runStrategy"] == "Always"
    assert target["metadata"]["labels"] == {"app": "web", "tier": "back"}


def test_replace_of_a_missing_member_is_lenient_like_json_patch_v4():
    patch = '{"op":"replace","path":"/spec/template/spec/hostname","value":"db-1"}'
    assert cl.target_vm(source_vm(), clone(patches=[patch]), RESTORE)["spec"]["template"]["spec"]["hostname"] == "db-1"


@pytest.mark.parametrize("patch,start", [
    ('{"op":"remove","path":"/spec/template/spec/nothing"}', "failed to apply patch for VM [\n"),
    ('{"op":"test","path":"/spec/runStrategy","value":"Manual"}', "failed to apply patch for VM [\n"),
    ('{"op":"add","path":"/spec/missing/deeper","value":1}', "failed to apply patch for VM [\n"),
    ('"a string"', "cannot decode vm patches [\n"),
])
def test_failing_patches(patch, start):
    with pytest.raises(cl.PatchError) as err:
        cl.target_vm(source_vm(), clone(patches=[patch]), RESTORE)
    assert str(err.value).startswith(start) and patch in str(err.value)


def test_source_is_not_modified():
    vm = source_vm()
    cl.target_vm(vm, clone(labelFilters=[], patches=['{"op":"remove","path":"/spec/template/metadata"}']), RESTORE)
    assert vm == source_vm()


# ------------------------------------------------------------ volumes
def volume_vm():
    return source_vm(dataVolumeTemplates=[{"metadata": {"name": "src-root"}, "spec": {"storage": {}}}],
                     template=dict(copy.deepcopy(source_vm()["spec"]["template"]), spec=dict(
                         source_vm()["spec"]["template"]["spec"],
                         volumes=[{"name": "root", "dataVolume": {"name": "src-root"}},
                                  {"name": "data", "persistentVolumeClaim": {"claimName": "src-data"}},
                                  {"name": "imported", "dataVolume": {"name": "other-dv"}},
                                  {"name": "cloudinit", "cloudInitNoCloud": {"userData": "#cloud-config"}},
                                  {"name": "dump", "memoryDump": {"claimName": "dump-pvc"}}])))


def test_volume_names_randomized_by_default():
    target = cl.target_vm(volume_vm(), clone(), RESTORE)
    assert target["spec"]["dataVolumeTemplates"][0]["metadata"]["name"] == "restore-r-uid-root"
    assert target["spec"]["template"]["spec"]["volumes"] == [
        {"name": "root", "dataVolume": {"name": "restore-r-uid-root"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "restore-r-uid-data"}},
        {"name": "imported", "persistentVolumeClaim": {"claimName": "restore-r-uid-imported"}},
        {"name": "cloudinit", "cloudInitNoCloud": {"userData": "#cloud-config"}}]


def test_volume_names_prefixed_with_the_target():
    target = cl.target_vm(volume_vm(), clone(volumeNamePolicy="PrefixTargetName"), RESTORE)
    assert [v.get("dataVolume", v.get("persistentVolumeClaim")) for v in target["spec"]["template"]["spec"]["volumes"]
            ][:3] == [{"name": "dst-root"}, {"claimName": "dst-data"}, {"claimName": "dst-imported"}]
    assert target["spec"]["dataVolumeTemplates"][0]["metadata"]["name"] == "dst-root"


def test_long_names_are_shortened_like_library_go():
    assert cl._fnv32a("a") == "e40c292c"  # pylint: disable=protected-access
    assert cl.get_name("dst", "root", 63) == "dst-root"
    long = cl.get_name("t" * 60, "root", 63)
    assert len(long) == 63 and long.endswith("-root") and long.startswith("t" * 49 + "-")
    assert cl.get_name("t", "v" * 70, 63) == ("t-" + cl._fnv32a("t-" + "v" * 70))  # pylint: disable=protected-access


# ------------------------------------------------------------ sources KubeVirt will not clone
def test_backend_storage_sources():
    vm = source_vm()
    assert not cl.backend_storage_needed(vm)
    vm["spec"]["template"]["spec"]["domain"]["devices"]["tpm"] = {"persistent": True}
    assert cl.backend_storage_needed(vm)
    vm = source_vm()
    vm["spec"]["template"]["spec"]["domain"]["firmware"]["bootloader"] = {"efi": {"persistent": True}}
    assert cl.backend_storage_needed(vm)


def test_volume_snapshot_support():
    vm = volume_vm()
    assert cl.volume_snapshot_errors(vm) == []
    vm["status"]["volumeSnapshotStatuses"] = [{"name": "root", "enabled": True},
                                              {"name": "data", "enabled": False, "reason": "No VolumeSnapshotClass"}]
    assert cl.volume_snapshot_errors(vm) == ["Virtual Machine volume data does not support snapshots"]


# ------------------------------------------------------------ status
def test_conditions_keep_their_transition_time_until_they_change():
    first = cl.with_conditions(None, *cl.PROCESSING, now="t1")
    assert first == [{"type": "Progressing", "status": "True", "reason": "Still processing", "lastTransitionTime": "t1"},
                     {"type": "Ready", "status": "False", "reason": "Still processing", "lastTransitionTime": "t1"}]
    assert cl.with_conditions(first, *cl.PROCESSING, now="t2") == first
    ready = cl.with_conditions(first, *cl.READY, now="t3")
    assert [(c["status"], c["reason"], c["lastTransitionTime"]) for c in ready] == [
        ("False", "Ready", "t3"), ("True", "Ready", "t3")]
    pending = cl.with_conditions(None, *cl.pending_conditions("Source doesnt exist: VirtualMachine ns/src"), now="t")
    assert [(c["type"], c["status"], c["reason"]) for c in pending] == [
        ("Progressing", "False", "Pending"), ("Ready", "False", "Source doesnt exist: VirtualMachine ns/src")]


def test_generated_names():
    assert cl.snapshot_name("u1") == "tmp-snapshot-u1" and cl.restore_name("u1") == "tmp-restore-u1"
    assert cl.restore_uid("u1") == cl.restore_uid("u1") != cl.restore_uid("u2")
