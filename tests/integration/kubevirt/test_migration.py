"""Live migration (VirtualMachineInstanceMigration) as KubeVirt 1.9 shows it:
the phases, the VMI moving to another node in a new launcher pod, and the
refusals."""

import ast
import json

import pytest

from tests.integration.helpers import wait_equal, wait_for
from lab.cluster import LabError

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
    def exited():
        phases = {p["metadata"]["name"]: p["status"].get("phase") for p in kv.pods(after)}
        return phases if phases.get(source_pod["metadata"]["name"]) == "Succeeded" else None

    pods = wait_for(exited, timeout=120, message="the source launcher exited")
    assert pods[state["targetPod"]] == "Running"
    [target_pod] = [p for p in kv.pods(after) if p["metadata"]["name"] == state["targetPod"]]
    assert target_pod["spec"]["nodeName"] == state["targetNode"]
    assert target_pod["metadata"]["labels"]["kubevirt.io/migrationJobUID"] == migration["metadata"]["uid"]
    red_before, red_after = kv.interface(before, "red"), kv.interface(after, "red")
    assert red_after["infoSource"] == "domain, guest-agent, multus-status"
    assert (red_after["mac"], red_after["ipAddress"]) == (red_before["mac"], red_before["ipAddress"])
    # the target's virt-handler reports the domain's interfaces once it owns the VMI
    # (pkg/network/setup/netstat.go from the target pod's cache), which may come after the
    # migration controller marked the migration Succeeded
    wait_for(lambda: kv.interface(kv.vmi("mover"), "default")["ipAddress"] == target_pod["status"]["podIP"],
             timeout=120, message="the primary interface reports the target pod's IP")
    # the VM controller prints Migrating while the VMI's migration runs and Running again at its own
    # next sync of the VM after the VMI changed (pkg/virt-controller/watch/vm/vm.go updateStatus ->
    # setPrintableStatus): the VM's status can lag the VMI's
    wait_equal(lambda: kv.get("virtualmachines", "mover")["status"]["printableStatus"], "Running",
               message="the VM's printableStatus after the migration")


def migrate(kv, vmi_name, name):
    return kv.create("virtualmachineinstancemigrations", {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"name": name}, "spec": {"vmiName": vmi_name}})


def refused(kv, vmi_name, name):
    """The API server's answer to a migration KubeVirt's admission refuses: (code, message)."""
    with pytest.raises(LabError) as err:
        migrate(kv, vmi_name, name)
    # LabError: "<method> <path> -> <code>: <the body's bytes repr>"
    answer = json.loads(ast.literal_eval(str(err.value).split(": ", 1)[1]))
    return answer["code"], answer["message"]


def test_migrations_that_cannot_happen_fail(kv):
    """KubeVirt v1.9.0 refuses these at admission, before any migration object exists
    (the old lab created them and failed them in its migration controller):
    pkg/virt-api/webhooks/validating-webhook/admitters/migration-create-admitter.go
    (a missing VMI; isMigratable: a LiveMigratable=False condition)."""
    hook = 'admission webhook "migration-create-validator.kubevirt.io" denied the request: '
    assert refused(kv, "nobody", "to-nowhere") == (
        400, hook + 'the VMI "%s/nobody" does not exist' % kv.namespace)
    kv.vm("bridged", [{"name": "default", "bridge": {}}])
    vmi = kv.running("bridged")
    live = kv.condition(vmi, "LiveMigratable")
    assert (live["status"], live["reason"]) == ("False", "InterfaceNotLiveMigratable")
    assert refused(kv, "bridged", "bridge-on-pod") == (
        400, hook + "Cannot migrate VMI, Reason: InterfaceNotLiveMigratable, Message: %s" % live["message"])
    assert kv.migrations() == []
    assert kv.vmi("bridged")["status"]["nodeName"] == vmi["status"]["nodeName"]
