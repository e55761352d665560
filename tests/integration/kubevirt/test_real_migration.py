"""Live migration driven by KubeVirt v1.9.0's real virt-controller (migration
controller, workload updater) with the lab's emulated virt-handler playing
the source and target nodes (lab/kubevirt/handler_migration.py)."""

from tests.integration.helpers import wait_for

PHASES = ["Pending", "Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running", "Succeeded"]


def migrate(kv, vmi_name, name):
    return kv.create("virtualmachineinstancemigrations", {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"name": name}, "spec": {"vmiName": vmi_name}})


def final_migration(kv, name=None, timeout=120):
    def done():
        items = kv.migrations()
        mig = next((m for m in items if name is None or m["metadata"]["name"] == name), None)
        return mig if mig and (mig.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None
    return wait_for(done, timeout=timeout, interval=0.5, message="migration final")


def pod_named(kv, name):
    return next((p for p in kv.pods() if p["metadata"]["name"] == name), None)


def test_plain_migration_succeeds(kv):
    kv.vm("mover")
    before = kv.running("mover", timeout=120)
    [source_pod] = kv.pods(before)
    source_node = before["status"]["nodeName"]
    migrate(kv, "mover", "move-1")
    migration = final_migration(kv, "move-1")
    assert migration["status"]["phase"] == "Succeeded", migration["status"]
    assert [p["phase"] for p in migration["status"]["phaseTransitionTimestamps"]] == PHASES

    # the migration controller writes Succeeded once the target set migrationState.completed; the
    # target's finalCleanup drops the kubevirt.io/migrationTargetNodeName label in a later write
    # (pkg/virt-handler/migration-target.go; lab/kubevirt/handler_migration.py steps 6-7)
    def target_label_gone():
        vmi = kv.vmi("mover")
        target = vmi["metadata"]["labels"].get("kubevirt.io/migrationTargetNodeName")
        if target is not None:
            raise AssertionError("label kubevirt.io/migrationTargetNodeName=%s" % target)  # wait_for reports it
        return vmi

    after = wait_for(target_label_gone, timeout=120,
                     message="the VMI's kubevirt.io/migrationTargetNodeName label removed after the migration")
    state = after["status"]["migrationState"]
    assert state["migrationUid"] == migration["metadata"]["uid"]
    assert state["completed"] is True and not state.get("failed")
    assert state["startTimestamp"] and state["endTimestamp"] and state["mode"] == "PreCopy"
    assert state["targetNodeDomainDetected"] is True and state["targetNodeDomainReadyTimestamp"]
    assert state["sourceNode"] == source_node != state["targetNode"]
    assert state["sourcePod"] == source_pod["metadata"]["name"]
    assert after["status"]["nodeName"] == state["targetNode"]
    assert after["metadata"]["labels"]["kubevirt.io/nodeName"] == state["targetNode"]
    assert "kubevirt.io/migrationTargetNodeName" not in after["metadata"]["labels"]
    assert after["status"]["migrationTransport"] == "Unix"
    assert after["status"]["phase"] == "Running"

    target_pod = pod_named(kv, state["targetPod"])
    assert target_pod["spec"]["nodeName"] == state["targetNode"]
    assert target_pod["metadata"]["labels"]["kubevirt.io/migrationJobUID"] == migration["metadata"]["uid"]
    # the source virt-launcher exits once its domain migrated away; KubeVirt keeps the
    # Completed pod (it only garbage-collects source pods beyond the 5 newest migrations)
    wait_for(lambda: (pod_named(kv, source_pod["metadata"]["name"]) or {}).get("status", {}).get("phase")
             == "Succeeded", timeout=120, message="source pod Succeeded")
    running = [p["metadata"]["name"] for p in kv.pods(after) if p["status"].get("phase") == "Running"]
    assert running == [state["targetPod"]]
    default = wait_for(lambda: (kv.interface(kv.vmi("mover"), "default") or {}).get("ipAddress")
                       == target_pod["status"]["podIP"] and kv.interface(kv.vmi("mover"), "default"),
                       timeout=120, message="default interface on the target pod's IP")
    assert default["infoSource"] == "domain, guest-agent"
    assert default["mac"] == kv.interface(before, "default")["mac"]


def test_hotplug_without_dynamic_networks_migrates(kv, capabilities):
    capabilities(dynamic_networks=False, workload_update_methods=["LiveMigrate"])
    kv.nad("red-net", {"type": "host-local", "subnet": "10.66.0.0/24"})
    kv.vm("plugged")
    before = kv.running("plugged", timeout=120)
    kv.add_interface("plugged", {"name": "red", "bridge": {}}, {"name": "red", "multus": {"networkName": "red-net"}})
    migration = final_migration(kv, timeout=150)
    assert migration["metadata"]["name"].startswith("kubevirt-workload-update-")
    assert "kubevirt.io/workloadUpdateMigration" in migration["metadata"]["annotations"]
    assert migration["status"]["phase"] == "Succeeded", migration["status"]

    def plugged():
        vmi = kv.vmi("plugged")
        red = kv.interface(vmi, "red")
        return red and "domain" in red.get("infoSource", "") and vmi
    after = wait_for(plugged, timeout=180, message="red in the domain")
    state = after["status"]["migrationState"]
    assert state["migrationUid"] == migration["metadata"]["uid"] and state["completed"] is True
    assert after["status"]["nodeName"] == state["targetNode"] != before["status"]["nodeName"]
    red = kv.interface(after, "red")
    assert red["infoSource"] == "domain, guest-agent, multus-status"
    assert red["ipAddress"].startswith("10.66.0.")
    assert kv.condition(after, "MigrationRequired") is None
    target_pod = pod_named(kv, state["targetPod"])
    assert red["podInterfaceName"] in target_pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"]


def test_deleting_a_running_migration_aborts_it(kv, capabilities):
    capabilities(reconcile_delay=3.0)
    kv.vm("stayer")
    before = kv.running("stayer", timeout=120)
    [source_pod] = kv.pods(before)
    migrate(kv, "stayer", "abort-1")
    wait_for(lambda: (kv.get("virtualmachineinstancemigrations", "abort-1").get("status") or {}).get("phase")
             == "Running", timeout=120, interval=0.2, message="migration Running")
    kv.lab.request("DELETE", kv.path("virtualmachineinstancemigrations", "abort-1"))

    def aborted():
        vmi = kv.vmi("stayer")
        state = vmi["status"]["migrationState"]
        return state.get("failed") and "kubevirt.io/migrationTargetNodeName" not in vmi["metadata"]["labels"] \
            and vmi
    after = wait_for(aborted, timeout=180, message="abort reported and cleaned up")
    state = after["status"]["migrationState"]
    assert state["abortRequested"] is True and state["abortStatus"] == "Succeeded"
    assert state["failureReason"] == "Live migration has been aborted" and state["completed"] is True
    assert after["status"]["nodeName"] == before["status"]["nodeName"] == state["sourceNode"]
    assert after["status"]["phase"] == "Running"
    wait_for(lambda: (pod_named(kv, state["targetPod"]) or {}).get("status", {}).get("phase") == "Succeeded",
             timeout=120, message="target launcher exited")
    assert pod_named(kv, source_pod["metadata"]["name"])["status"]["phase"] == "Running"
    wait_for(lambda: not [m for m in kv.migrations() if m["metadata"]["name"] == "abort-1"], timeout=120,
             message="the deleted migration gone once final")
