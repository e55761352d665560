"""Live migration (VirtualMachineInstanceMigration) as KubeVirt 1.9 shows it:
the phases, the VMI moving to another node in a new launcher pod, and the
refusals."""

from tests.integration.helpers import wait_for

GROUP = "/apis/subresources.kubevirt.io/v1"


def migration_named(kv, prefix):
    return next((m for m in kv.migrations() if m["metadata"]["name"].startswith(prefix)), None)


def test_migrate_subresource_moves_the_vmi(kv, capabilities):
    capabilities(reconcile_delay=0.2)
    kv.nad("red-net", {"type": "host-local", "subnet": "10.66.0.0/24"})
    kv.vm("mover", [{"name": "default", "masquerade": {}}, {"name": "red", "bridge": {}}],
          [{"name": "default", "pod": {}}, {"name": "red", "multus": {"networkName": "red-net"}}])
    before = kv.running("mover")
    [source_pod] = kv.pods(before)
    kv.lab.request("PUT", "%s/namespaces/%s/virtualmachines/mover/migrate" % (GROUP, kv.namespace), {},
                   direct=False)
    seen = set()

    def succeeded():
        migration = migration_named(kv, "kubevirt-migrate-vm-")
        seen.add(kv.get("virtualmachines", "mover")["status"]["printableStatus"])
        return migration and migration["status"].get("phase") == "Succeeded" and migration

    migration = wait_for(succeeded, timeout=90, interval=0.05, message="migration Succeeded")
    assert [p["phase"] for p in migration["status"]["phaseTransitionTimestamps"]] == [
        "Pending", "Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running", "Succeeded"]
    assert migration["metadata"]["labels"]["kubevirt.io/vmi-name"] == "mover"
    assert "Migrating" in seen
    after = kv.vmi("mover")
    state = after["status"]["migrationState"]
    assert state["sourceNode"] == before["status"]["nodeName"] != state["targetNode"] == after["status"]["nodeName"]
    assert state["completed"] is True and state["migrationUid"] == migration["metadata"]["uid"]
    assert state["startTimestamp"] and state["endTimestamp"] and state["sourcePod"] == source_pod["metadata"]["name"]
    assert after["metadata"]["labels"]["kubevirt.io/nodeName"] == state["targetNode"]
    # KubeVirt v1.9.0 does not delete the source pod: its launcher exits (Completed), and
    # garbageCollectFinalizedMigrations only removes those of older migrations
    pods = wait_for(lambda: (lambda ps: ps if ps.get(source_pod["metadata"]["name"]) == "Succeeded" else None)(
        {p["metadata"]["name"]: p["status"].get("phase") for p in kv.pods(after)}), timeout=30,
        message="the source launcher exited")
    assert pods[state["targetPod"]] == "Running"
    [target_pod] = [p for p in kv.pods(after) if p["metadata"]["name"] == state["targetPod"]]
    assert target_pod["spec"]["nodeName"] == state["targetNode"]
    assert target_pod["metadata"]["labels"]["kubevirt.io/migrationJobUID"] == migration["metadata"]["uid"]
    red_before, red_after = kv.interface(before, "red"), kv.interface(after, "red")
    assert red_after["infoSource"] == "domain, guest-agent, multus-status"
    assert (red_after["mac"], red_after["ipAddress"]) == (red_before["mac"], red_before["ipAddress"])
    assert kv.interface(after, "default")["ipAddress"] == target_pod["status"]["podIP"]
    assert kv.get("virtualmachines", "mover")["status"]["printableStatus"] == "Running"


def migrate(kv, vmi_name, name):
    return kv.create("virtualmachineinstancemigrations", {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"name": name}, "spec": {"vmiName": vmi_name}})


def failed_event(kv, name):
    return wait_for(lambda: (kv.get("virtualmachineinstancemigrations", name).get("status") or {}).get("phase")
                    == "Failed" and [e for e in kv.get("events", group="")["items"]
                                     if e["involvedObject"]["name"] == name and e["reason"] == "FailedMigration"],
                    timeout=30, message="%s Failed with an event" % name)[0]["message"]


def test_migrations_that_cannot_happen_fail(kv):
    assert failed_event(kv, migrate(kv, "nobody", "to-nowhere")["metadata"]["name"]) == \
        "Migration failed because vmi does not exist."
    kv.vm("bridged", [{"name": "default", "bridge": {}}])
    vmi = kv.running("bridged")
    live = kv.condition(vmi, "LiveMigratable")
    assert (live["status"], live["reason"]) == ("False", "InterfaceNotLiveMigratable")
    message = failed_event(kv, migrate(kv, "bridged", "bridge-on-pod")["metadata"]["name"])
    assert "InterfaceNotLiveMigratable" in message and live["message"] in message
    assert kv.vmi("bridged")["status"]["nodeName"] == vmi["status"]["nodeName"]
