"""KubeVirt v1.9.0's VirtualMachineClone controller in the lab (the real
virt-controller: pkg/virt-controller/watch/clone + the snapshot and restore it
drives): phases, conditions, the target VM it creates, and where a clone waits
instead of failing."""

import json

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from tests.integration.helpers import wait_equal, wait_for

CLONE = ("clone.kubevirt.io", "v1beta1")
VM = ("kubevirt.io", "v1")


@pytest.fixture
def api(lab):
    return k8s_config.new_client_from_config(config_file=lab.kubeconfig, context="lab")


@pytest.fixture
def custom(api):
    return k8s_client.CustomObjectsApi(api)


def vm_body(name="src", **spec_extra):
    body = {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "labels": {"app": "web", "debug/trace": "on"},
                     "annotations": {"team": "net"}},
        "spec": {"runStrategy": "Halted", "template": {
            "metadata": {"labels": {"app": "web"}, "annotations": {"ovn.kubernetes.io/ip_address": "10.16.0.5"}},
            "spec": {"domain": {"devices": {"interfaces": [
                {"name": "default", "masquerade": {}, "macAddress": "02:00:00:00:01:01"},
                {"name": "net1", "bridge": {}, "macAddress": "02:00:00:00:01:02"},
                {"name": "net2", "bridge": {}, "macAddress": "02:00:00:00:01:03"}]},
                "resources": {"requests": {"memory": "128Mi"}}},
                "networks": [{"name": "default", "pod": {}},
                             {"name": "net1", "multus": {"networkName": "br1"}},
                             {"name": "net2", "multus": {"networkName": "br2"}}]}}},
    }
    body["spec"].update(spec_extra)
    return body


def clone_body(name="c1", source="src", target=None, **spec):
    body = {"apiVersion": "clone.kubevirt.io/v1beta1", "kind": "VirtualMachineClone", "metadata": {"name": name},
            "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": source}}}
    if target:
        body["spec"]["target"] = {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": target}
    body["spec"].update(spec)
    return body


def create_vm(custom, namespace, body):
    return custom.create_namespaced_custom_object(*VM, namespace, "virtualmachines", body)


def get_vm(custom, namespace, name):
    return custom.get_namespaced_custom_object(*VM, namespace, "virtualmachines", name)


def create_clone(custom, namespace, body):
    return custom.create_namespaced_custom_object(*CLONE, namespace, "virtualmachineclones", body)


def get_clone(custom, namespace, name="c1"):
    return custom.get_namespaced_custom_object(*CLONE, namespace, "virtualmachineclones", name)


def wait_clone(custom, namespace, predicate, message, name="c1"):
    """The clone once ``predicate(clone)`` holds."""

    def probe():
        clone = get_clone(custom, namespace, name)
        return clone if predicate(clone) else None

    return wait_for(probe, timeout=120, message=message)


def wait_phase(custom, namespace, phase, name="c1"):
    return wait_clone(custom, namespace, lambda c: (c.get("status") or {}).get("phase") == phase,
                      "clone %s phase %s" % (name, phase), name)


def conditions(clone):
    return {c["type"]: (c["status"], c["reason"]) for c in (clone.get("status") or {}).get("conditions") or []}


def events(lab, namespace, kind=None):
    items = lab.request("GET", "/api/v1/namespaces/%s/events" % namespace)["items"]
    return [(e["involvedObject"]["name"], e["reason"], e["message"]) for e in items
            if kind is None or e["involvedObject"]["kind"] == kind]


def wait_event(lab, namespace, event, kind="VirtualMachineClone"):
    """Wait for ``event`` (name, reason, message) to be recorded. KubeVirt's controllers record
    events through client-go's EventRecorder, which posts them from a goroutine after the sync
    that emitted them (k8s.io/client-go/tools/record/event.go), so a status the same sync wrote
    can be visible before the event is."""
    try:
        return wait_for(lambda: event in events(lab, namespace, kind), timeout=60, message="the event %r" % (event,))
    except AssertionError:
        raise AssertionError("%r was not recorded; recorded: %r" % (event, events(lab, namespace, kind))) from None


def restore_error(lab, namespace, clone):
    """The restore's Warning event, as KubeVirt's restore controller records it."""
    restore = "tmp-restore-" + clone["metadata"]["uid"]
    found = [m for n, r, m in events(lab, namespace, "VirtualMachineRestore")
             if n == restore and r == "VirtualMachineRestoreError"]
    return found[0] if found else None


def wait_restore_in_progress(custom, namespace, name="c1"):
    """The clone once its phase is RestoreInProgress. The clone controller creates the restore and
    only then writes that phase with the restore's name, in updateStatus at the end of the same sync
    (pkg/virt-controller/watch/clone/clone.go syncTargetVM -> createRestoreFromVm; updateStatus), so
    the restore controller's error about the restore can be recorded before the clone's status lands."""
    seen = {}

    def phase():
        seen["clone"] = get_clone(custom, namespace, name)
        return (seen["clone"].get("status") or {}).get("phase")

    wait_equal(phase, "RestoreInProgress", message="clone %s's phase" % name)
    return seen["clone"]


def interfaces(vm):
    return vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]


# ------------------------------------------------------------ the happy path
def test_clone_gets_new_macs_filters_and_patches(lab, custom, namespace):
    source = create_vm(custom, namespace, vm_body())
    body = clone_body(labelFilters=["*", "!debug/*"], template={"annotationFilters": ["!ovn.kubernetes.io/*"]},
                      newMacAddresses={"net1": "02-00-00-00-02-02"},
                      patches=['{"op":"replace","path":"/spec/template/metadata/labels/app","value":"web-b"}',
                               '{"op":"add","path":"/spec/template/spec/hostname","value":"web-b"}'])
    created = create_clone(custom, namespace, body)
    target_name = created["spec"]["target"]["name"]
    assert target_name.startswith("clone-src-")  # named by KubeVirt's clone mutating webhook

    done = wait_phase(custom, namespace, "Succeeded")
    assert conditions(done) == {"Ready": ("True", "Ready"), "Progressing": ("False", "Ready")}
    assert done["status"]["targetName"] == target_name
    assert "snapshotName" not in done["status"] and "restoreName" not in done["status"]

    target = get_vm(custom, namespace, target_name)
    macs = [i.get("macAddress") for i in interfaces(target)]
    assert macs == [None, "02-00-00-00-02-02", None]  # the others blanked
    assert set(macs).isdisjoint(i["macAddress"] for i in interfaces(source))
    # the ovn annotation is filtered out; the one left is virt-api's VM mutator's, set on the
    # source's template at its creation and copied (pkg/virt-api/webhooks/mutating-webhook/
    # mutators/vm-mutator.go -> setDefaultPciTopologyVersion in vmi-mutator.go)
    assert source["spec"]["template"]["metadata"]["annotations"]["kubevirt.io/pci-topology-version"] == "v3"
    assert target["spec"]["template"]["metadata"] == {"labels": {"app": "web-b"},
                                                      "annotations": {"kubevirt.io/pci-topology-version": "v3"}}
    assert target["spec"]["template"]["spec"]["hostname"] == "web-b"
    assert target["metadata"]["labels"] == {"app": "web"}
    assert target["metadata"]["annotations"]["team"] == "net"
    assert target["spec"]["runStrategy"] == "Halted"
    firmware, old = target["spec"]["template"]["spec"]["domain"]["firmware"], \
        source["spec"]["template"]["spec"]["domain"]["firmware"]
    assert firmware["uuid"] != old["uuid"] and firmware["serial"] != old["serial"]
    assert get_vm(custom, namespace, "src")["spec"] == source["spec"]  # the source is left alone

    wait_for(lambda: [r for n, r, _m in events(lab, namespace, "VirtualMachineClone") if n == "c1"][-1:]
             == ["PVCBound"], timeout=60, message="the clone's last event, PVCBound (events are posted after the sync)")
    reasons = [r for n, r, _m in events(lab, namespace, "VirtualMachineClone") if n == "c1"]
    # virt-controller reads the source from its VM informer (clone.go retrieveCloneInfo ->
    # getSource on vmStore); when the clone is synced before that cache has the VM just
    # created, sync returns isClonePending with SourceDoesNotExist and the clone is synced
    # again once the VM arrives. Under CI load that happens, so leading ones are allowed.
    while reasons[:1] == ["SourceDoesNotExist"]:
        reasons.pop(0)
    assert reasons == ["SnapshotCreated", "SnapshotReady", "RestoreCreated", "RestoreReady", "TargetVMCreated",
                       "PVCBound"]


def test_phases_follow_kubevirts_order(api, custom, namespace):
    create_vm(custom, namespace, vm_body())
    listing = custom.list_namespaced_custom_object(*CLONE, namespace, "virtualmachineclones")
    create_clone(custom, namespace, clone_body(target="dst", newSMBiosSerial="serial-b"))
    seen = []
    stream = k8s_watch.Watch()
    for event in stream.stream(custom.list_namespaced_custom_object, *CLONE, namespace, "virtualmachineclones",
                               resource_version=listing["metadata"]["resourceVersion"], timeout_seconds=180):
        status = event["object"].get("status") or {}
        step = (status.get("phase"), bool(status.get("snapshotName")), bool(status.get("restoreName")),
                status.get("targetName"))
        if not seen or seen[-1] != step:
            seen.append(step)
        if status.get("phase") == "Succeeded":
            stream.stop()
    # KubeVirt's clone controller (pkg/virt-controller/watch/clone/clone.go) writes one status
    # per sync, and updateStatus walks the phases in one pass: when the restore is ready and
    # the target VM the restore made is already in its cache (the usual case: the restore
    # creates the VM before it reports Complete), RestoreInProgress goes straight to
    # Succeeded, with the snapshot and restore names cleared once the PVCs are bound
    # (verifyPVCBound); CreatingTargetVM is only seen while the VM is not in the cache yet
    assert seen[:3] == [(None, False, False, None),
                        ("SnapshotInProgress", True, False, None),
                        ("RestoreInProgress", True, True, None)]
    assert seen[3:] in ([("Succeeded", False, False, "dst")],
                        [("CreatingTargetVM", True, True, "dst"), ("Succeeded", False, False, "dst")]), seen
    assert get_vm(custom, namespace, "dst")["spec"]["template"]["spec"]["domain"]["firmware"]["serial"] == "serial-b"


def test_volumes_without_snapshot_support_keep_the_clone_pending(lab, custom, namespace):
    """The old lab invented snapshots of any volume to check volumeNamePolicy; the lab has
    no CDI and no CSI snapshots, and KubeVirt does not clone what it cannot snapshot: the
    VM controller reports each volume's snapshot support (status.volumeSnapshotStatuses,
    here "PVC not found"), and the clone controller stays Pending before taking any
    snapshot (pkg/virt-controller/watch/clone/clone.go createSnapshotFromVm ->
    validateVolumeSnapshotStatus, ErrVolumeNotSnapshotable; event VMVolumeSnapshotsInvalid).
    volumeNamePolicy itself is not observable in the lab."""
    volumes = [{"name": "root", "dataVolume": {"name": "src-root"}},
               {"name": "data", "persistentVolumeClaim": {"claimName": "src-data"}}]
    body = vm_body(dataVolumeTemplates=[{"metadata": {"name": "src-root"},
                                         "spec": {"storage": {"resources": {"requests": {"storage": "1Gi"}}},
                                                  "source": {"blank": {}}}}])
    body["spec"]["template"]["spec"]["volumes"] = volumes
    body["spec"]["template"]["spec"]["domain"]["devices"]["disks"] = [{"name": "root"}, {"name": "data"}]
    create_vm(custom, namespace, body)
    create_clone(custom, namespace, clone_body("prefix", target="dst", volumeNamePolicy="PrefixTargetName"))
    reason = "Virtual Machine volume root does not support snapshots\nVirtual Machine volume data does not support snapshots"
    pending = wait_clone(custom, namespace, lambda c: conditions(c).get("Ready") == ("False", reason),
                         "the clone to report the volumes it cannot snapshot", "prefix")
    assert conditions(pending)["Progressing"] == ("False", "Pending") and "phase" not in pending["status"]
    wait_event(lab, namespace, ("prefix", "VMVolumeSnapshotsInvalid", reason))
    assert [(v["name"], v["enabled"]) for v in get_vm(custom, namespace, "src")["status"]["volumeSnapshotStatuses"]] \
        == [("root", False), ("data", False)]
    assert custom.list_namespaced_custom_object("snapshot.kubevirt.io", "v1beta1", namespace,
                                                "virtualmachinesnapshots")["items"] == []
    with pytest.raises(ApiException) as err:
        get_vm(custom, namespace, "dst")
    assert err.value.status == 404


def test_deleting_the_target_deletes_the_succeeded_clone(custom, namespace):
    create_vm(custom, namespace, vm_body())
    create_clone(custom, namespace, clone_body(target="dst"))
    wait_phase(custom, namespace, "Succeeded")
    custom.delete_namespaced_custom_object(*VM, namespace, "virtualmachines", "dst")

    def gone():
        try:
            get_clone(custom, namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout=120, message="the clone to be deleted with its target")


# ------------------------------------------------------------ where KubeVirt waits
def test_missing_source_waits_and_then_clones(lab, custom, namespace):
    create_clone(custom, namespace, clone_body(source="later", target="dst"))
    reason = "Source doesnt exist: VirtualMachine %s/later" % namespace
    pending = wait_clone(custom, namespace, lambda c: conditions(c).get("Ready") == ("False", reason),
                         "the clone to report its missing source")
    assert conditions(pending)["Progressing"] == ("False", "Pending")
    assert "phase" not in pending["status"]
    wait_event(lab, namespace, ("c1", "SourceDoesNotExist", reason))

    create_vm(custom, namespace, vm_body("later"))
    wait_phase(custom, namespace, "Succeeded")


def test_snapshot_source_is_never_found_in_the_lab(custom, namespace):
    body = clone_body(target="dst")
    body["spec"]["source"] = {"apiGroup": "snapshot.kubevirt.io", "kind": "VirtualMachineSnapshot", "name": "snap"}
    create_clone(custom, namespace, body)
    reason = "Source doesnt exist: VirtualMachineSnapshot %s/snap" % namespace
    wait_clone(custom, namespace, lambda c: conditions(c).get("Ready") == ("False", reason),
               "the snapshot source to be reported missing")


def test_existing_target_keeps_the_restore_failing_until_it_goes(lab, custom, namespace):
    create_vm(custom, namespace, vm_body())
    existing = create_vm(custom, namespace, vm_body("dst"))
    clone = create_clone(custom, namespace, clone_body(target="dst"))
    message = wait_for(lambda: restore_error(lab, namespace, clone), timeout=120, message="the restore's error")
    assert message == ("VirtualMachineRestore encountered error restore source and restore target are different but "
                       "restore target already exists")
    stuck = wait_restore_in_progress(custom, namespace)
    assert stuck["status"]["phase"] == "RestoreInProgress"
    assert conditions(stuck) == {"Progressing": ("True", "Still processing"), "Ready": ("False", "Still processing")}
    # the restore left the existing target alone (the VM controller may update its status, not its spec)
    untouched = get_vm(custom, namespace, "dst")
    assert untouched["spec"] == existing["spec"]
    assert untouched["metadata"]["generation"] == existing["metadata"]["generation"]

    custom.delete_namespaced_custom_object(*VM, namespace, "virtualmachines", "dst")
    wait_phase(custom, namespace, "Succeeded")
    assert get_vm(custom, namespace, "dst")["metadata"]["uid"] != existing["metadata"]["uid"]


def test_patch_that_does_not_apply_is_a_restore_error(lab, custom, namespace):
    create_vm(custom, namespace, vm_body())
    bad = '{"op":"remove","path":"/spec/template/spec/nodeSelector"}'
    clone = create_clone(custom, namespace, clone_body(target="dst", patches=[bad]))
    message = wait_for(lambda: restore_error(lab, namespace, clone), timeout=120, message="the restore's error")
    assert message.startswith("VirtualMachineRestore encountered error error patching VM dst: failed to apply patch "
                              "for VM [\n")
    assert bad in message
    assert wait_restore_in_progress(custom, namespace)["status"]["phase"] == "RestoreInProgress"
    with pytest.raises(ApiException) as err:
        get_vm(custom, namespace, "dst")
    assert err.value.status == 404


def test_target_the_webhook_refuses_is_a_restore_error(lab, custom, namespace):
    create_vm(custom, namespace, vm_body())
    # two patches the restore webhook's validatePatches lets through (one ':' per piece)
    patches = [json.dumps({"op": "remove", "path": "/spec/template/spec/domain/devices/interfaces/1/bridge"}),
               json.dumps({"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/masquerade",
                           "value": {}})]
    clone = create_clone(custom, namespace, clone_body(target="dst", patches=patches))
    message = wait_for(lambda: restore_error(lab, namespace, clone), timeout=120, message="the restore's error")
    assert message == ('VirtualMachineRestore encountered error admission webhook "virtualmachine-validator.kubevirt.io" '
                       'denied the request: Masquerade interface only implemented with pod network')


# ------------------------------------------------------------ refused or failed
@pytest.mark.usefixtures("config_restored")
def test_snapshot_gate_disabled_refuses_the_clone(lab, custom, namespace):
    lab.set_config(disabled_feature_gates=["Snapshot"])
    with pytest.raises(ApiException) as err:
        create_clone(custom, namespace, clone_body(target="dst"))
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == (
        'admission webhook "vm-clone-validator.kubevirt.io" denied the request: snapshot feature gate is not enabled')


def test_clone_admission_causes(custom, namespace):
    body = clone_body(target="src", labelFilters=["a*b"], patches=["{not json"])
    with pytest.raises(ApiException) as err:
        create_clone(custom, namespace, body)
    assert err.value.status == 422
    assert [(c["field"], c["message"]) for c in json.loads(err.value.body)["details"]["causes"]] == [
        ("spec.labels", "spec.labels filter a*b is invalid: cannot contain a wildcard character (*); FilterRules: "
                        "WildcardChar can be only at the end of the filter"),
        ("spec.target.name", "Target name cannot be equal to source name when both are VirtualMachines"),
        ("spec.patches[0]", "patch is not valid JSON ({not json)")]


def test_source_with_backend_storage_fails(lab, custom, namespace):
    body = vm_body()
    body["spec"]["template"]["spec"]["domain"]["devices"]["tpm"] = {"persistent": True}
    create_vm(custom, namespace, body)
    create_clone(custom, namespace, clone_body(target="dst"))
    failed = wait_phase(custom, namespace, "Failed")
    reason = "Clone of source with backendstorage is not supported: VM %s/src" % namespace
    assert conditions(failed) == {"Progressing": ("False", "Failed"), "Ready": ("False", reason)}
    wait_event(lab, namespace, ("c1", "SourceVMWithBackendStorageInvalid", reason))
