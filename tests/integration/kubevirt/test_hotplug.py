"""NIC hot-plug and hot-unplug on a running VM (KubeVirt 1.9: the VM template
is patched, the VM controller copies the change into the VMI, then the pod
and the domain follow - in place with the dynamic-networks controller,
through a live migration without it)."""

import json

from tests.integration.helpers import wait_equal, wait_for

BLUE_IFACE = {"name": "blue", "bridge": {}}
BLUE_NET = {"name": "blue", "multus": {"networkName": "blue-net"}}


def info_source(kv, name, iface="blue"):
    return (kv.interface(kv.vmi(name), iface) or {}).get("infoSource")


def pod_networks(kv, vmi):
    [pod] = [p for p in running_pods(kv, vmi) if not p["metadata"].get("deletionTimestamp")]
    annotations = pod["metadata"]["annotations"]
    return (json.loads(annotations.get("k8s.v1.cni.cncf.io/networks") or "[]"),
            json.loads(annotations.get("k8s.v1.cni.cncf.io/network-status") or "[]"))


def test_in_place_with_the_dynamic_networks_controller(kv, capabilities):
    capabilities(dynamic_networks=True, reconcile_delay=0.3)
    kv.nad("blue-net", {"type": "whereabouts", "range": "192.168.50.0/28", "exclude": ["192.168.50.0/30"]})
    kv.vm("web")
    vmi = kv.running("web")
    kv.add_interface("web", BLUE_IFACE, BLUE_NET)
    steps = []

    def progress():
        current = kv.vmi("web")
        selections, _attached = pod_networks(kv, current)
        state = ("blue" in [i["name"] for i in current["spec"]["domain"]["devices"]["interfaces"]],
                 [s["name"] for s in selections], info_source(kv, "web"))
        if not steps or steps[-1] != state:
            steps.append(state)
        return state[2] == "domain, guest-agent, multus-status"

    wait_for(progress, timeout=180, interval=0.05, message="blue in the domain")
    assert steps[-3:] == [(True, ["blue-net"], None), (True, ["blue-net"], "multus-status"),
                          (True, ["blue-net"], "domain, guest-agent, multus-status")]
    blue = kv.interface(kv.vmi("web"), "blue")
    assert blue["ipAddress"] == "192.168.50.4" and blue["interfaceName"] == "eth1"
    assert kv.migrations() == [] and kv.vmi("web")["status"]["nodeName"] == vmi["status"]["nodeName"]
    assert kv.condition(kv.vmi("web"), "MigrationRequired") is None

    def observed():
        vm = kv.get("virtualmachines", "web")
        return vm["status"].get("desiredGeneration") == vm["metadata"]["generation"] and vm

    vm = wait_for(observed, timeout=120, message="generation seen by the VM controller")
    # a live update does not make a new start revision, and the VM controller bumps the VMI's
    # kubevirt.io/vm-generation (status.observedGeneration) only when the VMI's start revision
    # equals the template (pkg/virt-controller/watch/vm/vm.go conditionallyBumpGenerationAnnotationOnVmi,
    # syncGenerationInfo): after a hot-plug observedGeneration stays at the start's generation
    assert vm["status"]["observedGeneration"] < vm["metadata"]["generation"]
    assert kv.condition(vm, "RestartRequired") is None


def running_pods(kv, vmi):
    return [p for p in kv.pods(vmi) if p["status"].get("phase") == "Running"]


def settled(kv, vmi):
    """The migration controller marks the migration Succeeded, and the source
    launcher exits, a moment after virt-handler reported the VMI on the target.
    KubeVirt v1.9.0 leaves the source pod Completed (phase Succeeded) instead of
    deleting it (pkg/virt-controller/watch/migration/migration.go: only
    garbageCollectFinalizedMigrations of older migrations removes pods)."""
    source = vmi["status"]["migrationState"]["sourcePod"]
    wait_for(lambda: [m for m in kv.migrations() if (m.get("status") or {}).get("phase") == "Succeeded"]
             and {p["metadata"]["name"]: p["status"].get("phase") for p in kv.pods(vmi)}.get(source) == "Succeeded"
             and len(running_pods(kv, vmi)) == 1, timeout=180,
             message="the migration Succeeded and the source launcher exited")
    migrations = kv.migrations()
    assert [m["status"]["phase"] for m in migrations] == ["Succeeded"]
    return migrations


def test_migration_without_the_dynamic_networks_controller(kv, capabilities):
    capabilities(dynamic_networks=False, workload_update_methods=["LiveMigrate"])
    kv.nad("blue-net", {"type": "host-local", "subnet": "10.77.0.0/24"})
    kv.vm("db")
    source = kv.running("db")
    kv.add_interface("db", BLUE_IFACE, BLUE_NET)
    pending = wait_for(lambda: kv.condition(kv.vmi("db"), "MigrationRequired"), timeout=120, message="pending")
    assert (pending["status"], pending["reason"]) == ("False", "AutoMigrationPending")
    done = wait_for(lambda: info_source(kv, "db") == "domain, guest-agent, multus-status" and kv.vmi("db"),
                    timeout=180, message="blue attached after the migration")
    [migration] = settled(kv, done)
    assert migration["metadata"]["name"].startswith("kubevirt-workload-update-")
    assert "kubevirt.io/workloadUpdateMigration" in migration["metadata"]["annotations"]
    assert done["status"]["nodeName"] != source["status"]["nodeName"]
    assert done["status"]["migrationState"]["completed"] is True
    assert kv.condition(done, "MigrationRequired") is None
    [pod] = running_pods(kv, done)
    assert pod["spec"]["nodeName"] == done["status"]["nodeName"]
    assert "blue-net" in pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]


def test_without_live_migrate_migration_required_stays(kv, capabilities):
    capabilities(dynamic_networks=False, workload_update_methods=[])
    kv.nad("blue-net")
    kv.vm("stuck")
    kv.running("stuck")
    kv.add_interface("stuck", BLUE_IFACE, BLUE_NET)
    required = wait_for(lambda: (kv.condition(kv.vmi("stuck"), "MigrationRequired") or {}).get("status") == "True"
                        and kv.condition(kv.vmi("stuck"), "MigrationRequired"), timeout=120, message="required")
    assert required["reason"] == "AutoMigrationDueToLiveUpdate"
    vmi = kv.vmi("stuck")
    assert kv.interface(vmi, "blue") is None
    selections, attached = pod_networks(kv, vmi)
    assert [s["name"] for s in selections] == ["blue-net"]           # virt-controller asked ...
    assert [e["interface"] for e in attached] == ["eth0"]            # ... but nothing attaches it
    assert kv.migrations() == []
    # the VM controller copies the VMI's conditions onto the VM at its own next sync
    # (pkg/virt-controller/watch/vm/vm.go updateStatus -> syncConditions): the VM can lag the VMI
    wait_equal(lambda: (kv.condition(kv.get("virtualmachines", "stuck"), "MigrationRequired") or {}).get("status"),
               "True", message="the VM's MigrationRequired condition status")


def test_sriov_hotplug_always_migrates(kv, lab, capabilities):
    nodes = lab.get_config()["nodes"]
    capabilities(dynamic_networks=True, workload_update_methods=["LiveMigrate"], nodes=[
        dict(node, allocatable=dict(node["allocatable"], **{"openshift.io/intelnics": "8"})) for node in nodes])
    kv.nad("sriov-net", resource="openshift.io/intelnics")
    kv.vm("fast")
    source = kv.running("fast")
    kv.add_interface("fast", {"name": "vf", "sriov": {}}, {"name": "vf", "multus": {"networkName": "sriov-net"}})
    done = wait_for(lambda: info_source(kv, "fast", "vf") == "domain, guest-agent, multus-status" and kv.vmi("fast"),
                    timeout=180, message="VF attached after the migration")
    assert done["status"]["nodeName"] != source["status"]["nodeName"]
    settled(kv, done)
    [pod] = running_pods(kv, done)
    assert pod["spec"]["containers"][0]["resources"]["limits"]["openshift.io/intelnics"] == "1"


def test_unplug_removes_the_interface_from_vm_and_vmi(kv, capabilities):
    capabilities(dynamic_networks=True)
    kv.nad("blue-net")
    kv.vm("web", [{"name": "default", "masquerade": {}}, BLUE_IFACE], [{"name": "default", "pod": {}}, BLUE_NET])
    kv.running("web")
    wait_for(lambda: info_source(kv, "web") == "domain, guest-agent, multus-status", timeout=120, message="plugged")
    vm = kv.get("virtualmachines", "web")
    ifaces = vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    kv.patch("virtualmachines", "web", [
        {"op": "test", "path": "/spec/template/spec/domain/devices/interfaces", "value": ifaces},
        {"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces/1",
         "value": dict(BLUE_IFACE, state="absent")}])

    def gone():
        vm, vmi = kv.get("virtualmachines", "web"), kv.vmi("web")
        names = ([i["name"] for i in vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]],
                 [n["name"] for n in vm["spec"]["template"]["spec"]["networks"]],
                 [i["name"] for i in vmi["spec"]["domain"]["devices"]["interfaces"]],
                 [n["name"] for n in vmi["spec"]["networks"]],
                 [i["name"] for i in vmi["status"]["interfaces"]])
        return names == (["default"],) * 5

    wait_for(gone, timeout=180, message="blue gone from VM and VMI")
    selections, attached = pod_networks(kv, kv.vmi("web"))
    assert selections == [] and [e["interface"] for e in attached] == ["eth0"]
    assert kv.migrations() == []
    assert kv.condition(kv.get("virtualmachines", "web"), "RestartRequired") is None


def test_a_vmi_that_cannot_migrate_is_left_alone(kv, capabilities):
    capabilities(dynamic_networks=False, workload_update_methods=["LiveMigrate"])
    kv.nad("blue-net")
    kv.vm("pinned", [{"name": "default", "bridge": {}}])
    kv.vm("free")
    pinned, _free = kv.running("pinned"), kv.running("free")
    assert kv.condition(pinned, "LiveMigratable")["status"] == "False"
    kv.add_interface("pinned", BLUE_IFACE, BLUE_NET)
    wait_for(lambda: (kv.condition(kv.vmi("pinned"), "MigrationRequired") or {}).get("status") == "True",
             timeout=120, message="MigrationRequired=True")
    kv.add_interface("free", BLUE_IFACE, BLUE_NET)      # the workload updater migrates this one only
    wait_for(lambda: info_source(kv, "free") == "domain, guest-agent, multus-status", timeout=180,
             message="free migrated")
    assert [m["spec"]["vmiName"] for m in kv.migrations()] == ["free"]
    assert kv.interface(kv.vmi("pinned"), "blue") is None


def test_nad_swap_is_applied_by_a_migration(kv, capabilities):
    capabilities(dynamic_networks=True, workload_update_methods=["LiveMigrate"])
    kv.nad("blue-net", {"type": "host-local", "subnet": "10.31.0.0/24"})
    kv.nad("green-net", {"type": "host-local", "subnet": "10.32.0.0/24"})
    kv.vm("swap", [{"name": "default", "masquerade": {}}, BLUE_IFACE], [{"name": "default", "pod": {}}, BLUE_NET])
    assert kv.interface(kv.running("swap"), "blue")["ipAddress"].startswith("10.31.0.")
    kv.patch("virtualmachines", "swap", [{"op": "replace", "path": "/spec/template/spec/networks/1/multus/networkName",
                                          "value": "green-net"}])
    moved = wait_for(lambda: (kv.interface(kv.vmi("swap"), "blue") or {}).get("ipAddress", "").startswith("10.32.0.")
                     and kv.vmi("swap"), timeout=180, message="blue on green-net")
    assert moved["spec"]["networks"][1]["multus"]["networkName"] == "green-net"
    # the target's VMI sync that reports the new address comes after migrationState.completed,
    # from which the migration controller writes Succeeded in a sync of its own
    # (lab/kubevirt/handler_migration.py steps 6-8; migration.go processMigrationPhase)
    wait_equal(lambda: [(m.get("status") or {}).get("phase") for m in kv.migrations()], ["Succeeded"],
               message="the migrations' phases")
    assert kv.condition(moved, "MigrationRequired") is None
    assert kv.condition(kv.get("virtualmachines", "swap"), "RestartRequired") is None
