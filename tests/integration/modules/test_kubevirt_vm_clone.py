"""kubevirt_vm_clone against the lab's clone controller (which, like KubeVirt
v1.9.0, refuses restores whose patches its restore webhook rejects)."""

import copy

import pytest

from tests.integration.helpers import play, wait_equal, wait_for
from tests.integration.modules.kubevirt_objects import VM_PATH, create_nad, get_vm
from lab.cluster import LabError

CLONES = "/apis/clone.kubevirt.io/v1beta1/namespaces/%s/virtualmachineclones"

SOURCE = {
    "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
    "metadata": {"name": "golden", "labels": {"app": "golden"}},
    "spec": {"runStrategy": "Halted", "template": {
        "metadata": {"labels": {"app": "golden"}},
        "spec": {"domain": {"devices": {"interfaces": [
            {"name": "default", "masquerade": {}, "macAddress": "02:00:00:00:10:01"},
            {"name": "prod", "bridge": {}, "macAddress": "02:00:00:00:10:02"},
            {"name": "old", "bridge": {}}]}, "resources": {"requests": {"memory": "128Mi"}}},
            "networks": [{"name": "default", "pod": {}}, {"name": "prod", "multus": {"networkName": "prod-a"}},
                         {"name": "old", "multus": {"networkName": "prod-a"}}]}}},
}


def clone(title, options=None, **more):
    return {"name": title, "kubevirt_net.core.kubevirt_vm_clone": dict(options or {}, **more), "register": "r"}


def ifaces(vm):
    return vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]


def setup(lab, namespace):
    create_nad(lab, namespace, "prod-a")
    create_nad(lab, namespace, "prod-b")
    lab.request("POST", VM_PATH % namespace, SOURCE)


def test_clone_with_network_override_rerun_and_check_mode(lab, namespace, run_playbook, request_log):
    setup(lab, namespace)
    task = dict(namespace=namespace, source="golden", target="web-1", wait_timeout=120, wait_sleep=0.2,
                networks=[{"interface": "prod", "network": "prod-b", "mac_address": "02:00:00:aa:00:01"},
                          {"interface": "old", "state": "absent"}],
                template_labels={"app": "web-1"})
    request_log.mark()
    checked = run_playbook(play([clone("c", task)]), check=True).tasks["c"]
    assert checked["changed"] and checked["clones"][0]["method"] == "create"
    assert request_log.writes(include_dry_run=True) == []

    res = run_playbook(play([clone("c", task)])).tasks["c"]
    entry = res["clones"][0]
    assert entry["method"] == "create" and entry["phases"][-1] == "Succeeded"
    target = get_vm(lab, namespace, "web-1")
    names = [i["name"] for i in ifaces(target)]
    assert names == ["default", "prod"]
    by_name = {i["name"]: i for i in ifaces(target)}
    assert by_name["prod"]["macAddress"] == "02-00-00-aa-00-01"  # the form the restore webhook passes
    assert by_name["default"].get("macAddress") != "02:00:00:00:10:01"
    assert target["spec"]["template"]["spec"]["networks"][1]["multus"]["networkName"] == "prod-b"
    assert target["spec"]["template"]["metadata"]["labels"]["app"] == "web-1"
    assert entry["macs"]["prod"] == {"old": "02:00:00:00:10:02", "new": "02-00-00-aa-00-01"}
    clones_left = lab.request("GET", "/apis/clone.kubevirt.io/v1beta1/namespaces/%s/virtualmachineclones"
                              % namespace)["items"]
    assert clones_left == []  # cleanup: true

    request_log.mark()
    again = run_playbook(play([clone("c", task)])).tasks["c"]
    assert not again["changed"] and again["clones"][0]["method"] == "unchanged"
    assert request_log.writes(include_dry_run=True) == []

    changed = dict(task, template_labels={"app": "other"})
    differs = run_playbook(play([clone("c", changed)]), expect_rc=2).tasks["c"]
    assert "other overrides" in differs["msg"] and "recreate=true" in differs["msg"]


def test_refusals_before_any_write(lab, namespace, run_playbook, request_log):
    setup(lab, namespace)
    lab.request("POST", VM_PATH % namespace, dict(SOURCE, metadata={"name": "taken"}))
    request_log.mark()
    cases = [
        ({"source": "missing", "target": "t1"}, "source VirtualMachine %s/missing not found" % namespace),
        ({"source": "golden", "target": "taken"}, "already exists and is not a clone"),
        ({"source": "golden", "target": "t2", "networks": [{"interface": "prod", "network": "nowhere"}]},
         "nowhere not found"),
        ({"source": "golden", "target": "t3", "new_mac_addresses": {"prod": "02:00:00:00:10:02"}},
         "already used by VirtualMachine"),
        ({"source": "golden", "target": "t4", "patches": [{"op": "replace", "path": "/spec/nope/x", "value": 1}]},
         "patches[0]"),
        ({"source": "golden", "target": "golden"}, "is the source's name"),
        ({"source": "golden", "target": "t5", "label_filters": ["a*b"]}, "label_filters[0]"),
        ({"source": "golden", "target": "t6", "label_filters": ["[bad"]}, "label_filters[0]"),
        ({"source": "golden", "target": "t7", "patches": [{"op": "add", "path": "/metadata/labels",
                                                           "value": {"a": "b"}}]}, "restore webhook"),
        ({"source": "golden", "target": "t8", "networks": [{"interface": "prod", "binding": "masquerade"}]},
         "Masquerade interface only implemented with pod network"),
        ({"source": "golden", "target": "t9", "new_mac_addresses": {"ghost": "02:00:00:00:99:01"}},
         "new_mac_addresses.ghost"),
    ]
    tasks = [dict(clone("c%d" % i, options, namespace=namespace), ignore_errors=True)
             for i, (options, _m) in enumerate(cases)]
    result = run_playbook(play(tasks))
    for index, (_options, words) in enumerate(cases):
        res = result.tasks["c%d" % index]
        assert res.get("failed") and words in res["msg"], (index, res.get("msg"))
    assert request_log.writes(include_dry_run=True) == []


def test_snapshot_gate_off_is_refused_before_any_write(lab, namespace, run_playbook, request_log):
    setup(lab, namespace)
    saved = lab.get_config()["disabled_feature_gates"]
    lab.set_config(disabled_feature_gates=["Snapshot"])
    try:
        from tests.integration.helpers import wait_for
        wait_for(lambda: "Snapshot" in (lab.request("GET", "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/"
                                                    "kubevirt")["spec"]["configuration"].get(
            "developerConfiguration") or {}).get("disabledFeatureGates", []), timeout=120, message="gate off")
        request_log.mark()
        res = run_playbook(play([clone("c", namespace=namespace, source="golden", target="t9")]),
                           expect_rc=2).tasks["c"]
        assert "Snapshot feature gate is off" in res["msg"]
        assert request_log.writes(include_dry_run=True) == []
    finally:
        lab.set_config(disabled_feature_gates=saved)


def test_batch_of_clones(lab, namespace, run_playbook):
    setup(lab, namespace)
    targets = [{"name": "b-%02d" % i} for i in range(20)]
    res = run_playbook(play([clone("b", namespace=namespace, source="golden", targets=targets, wait_sleep=0.2,
                                   wait_timeout=180)])).tasks["b"]
    assert [c["method"] for c in res["clones"]] == ["create"] * 20
    assert all(c["phases"][-1] == "Succeeded" for c in res["clones"])
    macs = set()
    for i in range(20):
        vm = get_vm(lab, namespace, "b-%02d" % i)
        for iface in ifaces(vm):
            assert iface.get("macAddress") not in ("02:00:00:00:10:01", "02:00:00:00:10:02")
            if iface.get("macAddress"):
                macs.add(iface["macAddress"])


def test_failed_phase_is_surfaced_and_the_half_made_target_removed(lab, namespace, run_playbook):
    # KubeVirt fails the clone of a source with backend storage (persistent TPM)
    setup(lab, namespace)
    source = {**SOURCE, "metadata": {"name": "tpm-src"}, "spec": {**SOURCE["spec"], "template": {
        **SOURCE["spec"]["template"], "spec": {**SOURCE["spec"]["template"]["spec"], "domain": {
            **SOURCE["spec"]["template"]["spec"]["domain"],
            "devices": {**SOURCE["spec"]["template"]["spec"]["domain"]["devices"], "tpm": {"persistent": True}}}}}}}
    lab.request("POST", VM_PATH % namespace, source)
    res = run_playbook(play([clone("c", namespace=namespace, source="tpm-src", target="tpm-copy", wait_sleep=0.2,
                                   wait_timeout=120)]), expect_rc=2).tasks["c"]
    assert res["failed"]
    assert "Clone of source with backendstorage is not supported" in res["msg"]
    assert res["clones"][0]["phases"][-1] == "Failed"
    with pytest.raises(LabError, match="404"):
        get_vm(lab, namespace, "tpm-copy")


def test_503_while_waiting_is_retried(lab, namespace, run_playbook):
    setup(lab, namespace)
    lab.add_fault(method="GET", path="/virtualmachineclones", action="status", code=503, count=4)
    try:
        res = run_playbook(play([clone("c", namespace=namespace, source="golden", target="steady", wait_sleep=0.2,
                                       wait_timeout=120)])).tasks["c"]
    finally:
        lab.clear_faults()
    assert res["clones"][0]["phases"][-1] == "Succeeded"
    assert res["api_requests"]["retries"] >= 4
    assert get_vm(lab, namespace, "steady")["metadata"]["name"] == "steady"


def test_macs_added_multus_interface_filters_and_labels_on_a_labelless_source(lab, namespace, run_playbook,
                                                                              request_log):
    """Issue 18's acceptance clone: explicit MACs, an added Multus interface with its own MAC, label and
    annotation filters, and a labels override on a source without labels, end to end."""
    setup(lab, namespace)
    bare = copy.deepcopy(SOURCE)
    bare["metadata"] = {"name": "bare", "annotations": {"keep.example.com/a": "1", "drop.example.com/b": "2"}}
    bare["spec"]["template"]["metadata"] = {"annotations": {"sidecar.istio.io/inject": "true",
                                                            "k8s.v1.cni.cncf.io/ip": "10.0.0.9"}}
    lab.request("POST", VM_PATH % namespace, bare)
    task = dict(namespace=namespace, source="bare", target="acc", wait_timeout=120, wait_sleep=0.2,
                new_mac_addresses={"default": "02:00:00:cc:00:01"},
                networks=[{"interface": "extra", "network": "prod-b", "mac_address": "02:00:00:cc:00:02"},
                          {"interface": "old", "state": "absent"}],
                annotation_filters=["*", "!drop"],
                template_annotation_filters=["*", "!k8s.v1.cni.cncf.io"],
                labels={"app": "acc"}, template_labels={"app": "acc"})
    request_log.mark()
    checked = run_playbook(play([clone("c", task)]), check=True, diff=True).tasks["c"]
    assert request_log.writes(include_dry_run=True) == []
    expected = checked["clones"][0]["vm"]
    assert checked["clones"][0]["post_clone_patch"] == {"metadata": {"labels": {"app": "acc"}}}

    res = run_playbook(play([clone("c", task)])).tasks["c"]
    entry = res["clones"][0]
    assert entry["phases"][-1] == "Succeeded" and entry["post_clone_patch"] == {"metadata": {"labels": {"app": "acc"}}}
    target = get_vm(lab, namespace, "acc")
    assert {i["name"]: i.get("macAddress") for i in ifaces(target)} == {
        "default": "02-00-00-cc-00-01", "prod": None, "extra": "02-00-00-cc-00-02"}
    assert target["spec"]["template"]["spec"]["networks"][-1] == {"name": "extra",
                                                                  "multus": {"networkName": "prod-b"}}
    assert target["metadata"]["labels"] == {"app": "acc"}
    assert "drop.example.com/b" not in target["metadata"]["annotations"]
    assert target["metadata"]["annotations"]["keep.example.com/a"] == "1"
    # the Multus one filtered out; KubeVirt's VM mutator put pci-topology-version on the
    # source's template at create (pkg/virt-api/webhooks/mutating-webhook/mutators/vm-mutator.go)
    assert target["spec"]["template"]["metadata"]["annotations"] == {
        "sidecar.istio.io/inject": "true", "kubevirt.io/pci-topology-version": "v3"}
    assert target["spec"]["template"]["metadata"]["labels"] == {"app": "acc"}
    # check mode predicted what the cluster made
    for part in (lambda vm: vm["metadata"].get("labels"), lambda vm: vm["spec"]["template"]["metadata"],
                 ifaces, lambda vm: vm["spec"]["template"]["spec"]["networks"],
                 lambda vm: vm["spec"]["runStrategy"]):
        assert part(expected) == part(target)

    request_log.mark()
    again = run_playbook(play([clone("c", task)])).tasks["c"]
    assert not again["changed"] and again["clones"][0]["method"] == "unchanged"
    assert request_log.writes(include_dry_run=True) == []


def test_a_clone_the_restore_webhook_refuses_never_finishes(lab, namespace):
    """What the module used to submit (a colon MAC, an object-valued patch): KubeVirt's restore webhook
    refuses the restore, so the clone stays RestoreInProgress with RestoreCreationFailed events."""
    setup(lab, namespace)
    body = {"apiVersion": "clone.kubevirt.io/v1beta1", "kind": "VirtualMachineClone",
            "metadata": {"name": "old-style"},
            "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "golden"},
                     "target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "never"},
                     "newMacAddresses": {"prod": "02:00:00:dd:00:01"},
                     "patches": ['{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", '
                                 '"value": {"bridge": {}, "name": "x"}}']}}
    lab.request("POST", CLONES % namespace, body)

    def refused():
        events = lab.request("GET", "/api/v1/namespaces/%s/events" % namespace)["items"]
        return [e for e in events if e.get("reason") == "RestoreCreationFailed"
                and e["involvedObject"].get("name") == "old-style"]
    events = wait_for(refused, timeout=180, message="RestoreCreationFailed event")
    assert 'one ":" expected' in events[0]["message"] and events[0]["type"] == "Warning"
    # the clone controller records the event (client-go's EventRecorder, from a goroutine) in the
    # sync whose updateStatus then writes RestoreInProgress (pkg/virt-controller/watch/clone/clone.go
    # createRestoreFromVm, updateStatus): the event can land before the phase
    seen = {}

    def phase():
        seen["status"] = lab.request("GET", CLONES % namespace + "/old-style").get("status") or {}
        return seen["status"].get("phase")

    wait_equal(phase, "RestoreInProgress", message="clone old-style's phase")
    status = seen["status"]
    assert status.get("phase") == "RestoreInProgress" and not status.get("restoreName")
    with pytest.raises(LabError, match="404"):
        get_vm(lab, namespace, "never")


def clone_posts(request_log):
    return [e for e in request_log.entries() if e["method"] == "POST" and e["path"].endswith("/virtualmachineclones")]


def test_rerun_after_a_timed_out_wait_is_not_a_false_success(lab, namespace, run_playbook, request_log):
    """Issue 19 item 2 for clones: a source whose volume KubeVirt cannot snapshot (its PVC does not exist)
    keeps the clone pending (pkg/virt-controller/watch/clone/clone.go createSnapshotFromVm,
    validateVolumeSnapshotStatus), so the first run's wait times out after the POST.  Re-runs must
    follow that clone (no second VirtualMachineClone) and report it pending, not ok; once KubeVirt can go
    on, a re-run waits for it and does the after-clone steps (labels, cleanup); a step undone later is
    done again (``complete``); only then is the target unchanged."""
    setup(lab, namespace)
    source = copy.deepcopy(SOURCE)
    source["metadata"] = {"name": "stuck-src"}  # no labels: the labels override is a post-clone patch
    tmpl = source["spec"]["template"]["spec"]
    tmpl["domain"]["devices"]["disks"] = [{"name": "data", "disk": {"bus": "virtio"}}]
    tmpl["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "no-such-pvc"}}]
    lab.request("POST", VM_PATH % namespace, source)
    task = dict(namespace=namespace, source="stuck-src", target="stuck-copy", labels={"app": "stuck-copy"},
                wait_sleep=0.2)
    request_log.mark()
    first = run_playbook(play([clone("c", task, wait_timeout=2)]), expect_rc=2).tasks["c"]
    assert "timed out" in first["msg"] and "run again" in first["msg"]
    assert first["clones"][0]["pending"] == ["clone", "post_clone_patch", "cleanup"]
    assert len(clone_posts(request_log)) == 1

    request_log.mark()
    again = run_playbook(play([clone("c", task, wait_timeout=2)]), expect_rc=2).tasks["c"]
    entry = again["clones"][0]
    assert not again["changed"] and entry["method"] == "failed" and entry["planned"] == "resume"
    assert entry["clone"] == first["clones"][0]["clone"] and "timed out" in again["msg"]
    assert entry["pending"] == ["clone", "post_clone_patch", "cleanup"]
    nowait = run_playbook(play([clone("c", task, wait=False)])).tasks["c"]
    assert not nowait["changed"] and nowait["clones"][0]["method"] == "resume"
    assert nowait["clones"][0]["pending"] == ["clone", "post_clone_patch", "cleanup"]
    assert any("has not finished" in w for w in nowait["warnings"])
    assert request_log.writes(include_dry_run=True) == []  # no second VirtualMachineClone, nothing else

    # KubeVirt can go on once the volume is gone from the source
    lab.request("PATCH", "%s/stuck-src" % (VM_PATH % namespace), [
        {"op": "remove", "path": "/spec/template/spec/volumes"},
        {"op": "remove", "path": "/spec/template/spec/domain/devices/disks"}],
        content_type="application/json-patch+json")
    request_log.mark()
    done = run_playbook(play([clone("c", task, wait_timeout=120)])).tasks["c"]
    entry = done["clones"][0]
    # KubeVirt may finish before this run reads the clone (then only the after-clone steps are left)
    assert done["changed"] and entry["method"] in ("resume", "complete") and entry["pending"] == []
    assert entry["method"] == "complete" or entry["phases"][-1] == "Succeeded"
    assert entry["post_clone_patch"] == {"metadata": {"labels": {"app": "stuck-copy"}}}
    assert clone_posts(request_log) == []
    assert get_vm(lab, namespace, "stuck-copy")["metadata"]["labels"] == {"app": "stuck-copy"}
    assert lab.request("GET", CLONES % namespace)["items"] == []  # cleanup

    # an after-clone step undone later is not "unchanged"
    lab.request("PATCH", "%s/stuck-copy" % (VM_PATH % namespace), {"metadata": {"labels": None}},
                content_type="application/merge-patch+json")
    request_log.mark()
    fixed = run_playbook(play([clone("c", task)])).tasks["c"]
    assert fixed["changed"] and fixed["clones"][0]["method"] == "complete" and fixed["clones"][0]["pending"] == []
    assert [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in request_log.writes()] == [("PATCH", "stuck-copy")]
    assert get_vm(lab, namespace, "stuck-copy")["metadata"]["labels"] == {"app": "stuck-copy"}

    request_log.mark()
    settled = run_playbook(play([clone("c", task)])).tasks["c"]
    assert not settled["changed"] and settled["clones"][0]["method"] == "unchanged"
    assert request_log.writes(include_dry_run=True) == []


SNAPSHOTS = "/apis/snapshot.kubevirt.io/v1beta1/namespaces/%s/virtualmachinesnapshots"


def test_a_snapshot_source_is_planned_against_the_vm_it_holds(lab, namespace, run_playbook, request_log):
    """Issue 18: the VM of a VirtualMachineSnapshot is in its VirtualMachineSnapshotContent
    (spec.source.virtualMachine), not in the VM it was taken of, which changed since."""
    setup(lab, namespace)
    lab.request("POST", SNAPSHOTS % namespace, {
        "apiVersion": "snapshot.kubevirt.io/v1beta1", "kind": "VirtualMachineSnapshot", "metadata": {"name": "snap"},
        "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "golden"}}})
    wait_for(lambda: (lab.request("GET", SNAPSHOTS % namespace + "/snap").get("status") or {}).get("readyToUse"),
             timeout=90, message="snapshot ready")
    # today's golden has no "old" interface any more; the snapshot still has it
    lab.request("PATCH", "%s/golden" % (VM_PATH % namespace), [
        {"op": "remove", "path": "/spec/template/spec/domain/devices/interfaces/2"},
        {"op": "remove", "path": "/spec/template/spec/networks/2"}], content_type="application/json-patch+json")
    task = dict(namespace=namespace, source="snap", source_kind="VirtualMachineSnapshot", target="from-snap",
                networks=[{"interface": "old", "state": "absent"}], wait_timeout=120, wait_sleep=0.2)
    res = run_playbook(play([clone("c", task)])).tasks["c"]
    assert res["clones"][0]["phases"][-1] == "Succeeded"
    assert [i["name"] for i in ifaces(get_vm(lab, namespace, "from-snap"))] == ["default", "prod"]

    request_log.mark()
    missing = run_playbook(play([clone("c", dict(task, source="no-snap"))]), expect_rc=2).tasks["c"]
    assert "VirtualMachineSnapshot %s/no-snap (source) not found" % namespace in missing["msg"]
    assert request_log.writes(include_dry_run=True) == []
