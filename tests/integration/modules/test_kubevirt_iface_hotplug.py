"""kubevirt_iface_hotplug against the lab's emulated KubeVirt 1.9."""

import subprocess

import yaml

from tests.integration.helpers import play, wait_for
from tests.integration.modules.kubevirt_objects import (
    VM_PATH, create_nad, create_vm, get_vm, get_vmi, iface_names, migrations, network_names, vm_manifest,
    wait_migration_phases, wait_running)


def hotplug(title, options=None, **more):
    return {"name": title, "kubevirt_net.core.kubevirt_iface_hotplug": dict(options or {}, **more),
            "register": "r"}


def kv_condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def vmi_iface(vmi, name):
    return next((i for i in (vmi.get("status") or {}).get("interfaces") or [] if i["name"] == name), None)


def test_stopped_vm_plug_rerun_check_unplug(lab, namespace, run_playbook, request_log):
    create_nad(lab, namespace, "br-a")
    create_vm(lab, namespace, "off", running=False)
    plug = play([hotplug("plug", namespace=namespace, vm="off", interface="net1", network="br-a")])

    request_log.mark()
    checked = run_playbook(plug, check=True, diff=True).tasks["plug"]
    assert checked["changed"] and checked["vms"][0]["method"] == "offline"
    assert [i["name"] for i in checked["diff"]["after"]["interfaces"]] == ["default", "net1"]
    assert request_log.writes(include_dry_run=True) == []
    assert iface_names(get_vm(lab, namespace, "off")) == ["default"]

    res = run_playbook(plug).tasks["plug"]
    assert res["vms"][0]["method"] == "offline" and res["api_requests"]["writes"] == 1
    vm = get_vm(lab, namespace, "off")
    assert iface_names(vm) == ["default", "net1"] and network_names(vm) == ["default", "net1"]
    assert vm["spec"]["template"]["spec"]["networks"][1] == {"name": "net1", "multus": {"networkName": "br-a"}}

    request_log.mark()
    again = run_playbook(plug).tasks["plug"]
    assert not again["changed"] and again["vms"][0]["method"] == "unchanged"
    assert request_log.writes(include_dry_run=True) == []

    gone = run_playbook(play([hotplug("unplug", namespace=namespace, vm="off", interface="net1",
                                      state="absent")])).tasks["unplug"]
    assert gone["vms"][0]["interfaces"][0]["action"] == "remove"
    vm = get_vm(lab, namespace, "off")
    assert iface_names(vm) == ["default"] and network_names(vm) == ["default"]


def test_running_vm_live_plug_and_unplug_with_dynamic_networks(lab, namespace, run_playbook, capabilities):
    capabilities(dynamic_networks=True)
    create_nad(lab, namespace, "br-b", subnet="10.77.0.0/24")
    create_vm(lab, namespace, "web")
    wait_running(lab, namespace, "web")
    res = run_playbook(play([hotplug("plug", namespace=namespace, vm="web", interface="net1", network="br-b",
                                     dynamic_networks="true")])).tasks["plug"]
    entry = res["vms"][0]
    assert entry["method"] == "live" and "migration" not in entry
    status = entry["interfaces"][0]["status"]
    assert "domain" in status["infoSource"] and status["mac"]
    assert migrations(lab, namespace) == []
    assert "domain" in vmi_iface(get_vmi(lab, namespace, "web"), "net1")["infoSource"]

    res = run_playbook(play([hotplug("unplug", namespace=namespace, vm="web", interface="net1",
                                     state="absent")])).tasks["unplug"]
    assert res["vms"][0]["interfaces"][0]["action"] == "unplug"
    assert iface_names(get_vm(lab, namespace, "web")) == ["default"]
    assert vmi_iface(get_vmi(lab, namespace, "web"), "net1") is None


def test_without_dynamic_networks_live_migrate_attaches_by_migration(lab, namespace, run_playbook, capabilities):
    capabilities(dynamic_networks=False, workload_update_methods=["LiveMigrate"])
    create_nad(lab, namespace, "br-c")
    create_vm(lab, namespace, "db")
    wait_running(lab, namespace, "db")
    res = run_playbook(play([hotplug("plug", namespace=namespace, vm="db", interface="net1", network="br-c",
                                     dynamic_networks="false")])).tasks["plug"]
    entry = res["vms"][0]
    assert entry["method"] == "migration" and entry["migration"]
    wait_migration_phases(lab, namespace, ["Succeeded"])
    assert "domain" in vmi_iface(get_vmi(lab, namespace, "db"), "net1")["infoSource"]


def test_without_live_migrate_refused_before_write_or_migrated_on_request(lab, namespace, run_playbook,
                                                                          request_log, capabilities):
    capabilities(dynamic_networks=False, workload_update_methods=[])
    create_nad(lab, namespace, "br-d")
    create_vm(lab, namespace, "app")
    wait_running(lab, namespace, "app")
    request_log.mark()
    task = dict(namespace=namespace, vm="app", interface="net1", network="br-d", dynamic_networks="false")
    refused = run_playbook(play([hotplug("plug", task)]), expect_rc=2).tasks["plug"]
    assert "LiveMigrate" in refused["msg"] and "kubectl patch kubevirt" in refused["msg"]
    assert request_log.writes() == []
    assert iface_names(get_vm(lab, namespace, "app")) == ["default"]

    res = run_playbook(play([hotplug("plug", task, migrate_if_required=True)])).tasks["plug"]
    assert res["vms"][0]["method"] == "migration"
    assert res["vms"][0]["migration"].startswith("kubevirt-net-hotplug-")


def test_sriov_plug_goes_through_migration(lab, namespace, run_playbook, capabilities):
    capabilities(workload_update_methods=["LiveMigrate"])
    create_nad(lab, namespace, "sriov-a", resource_name="openshift.io/intelnics")
    # the VF plug migrates the VM, and only node01 has VFs: the scheduler must start it elsewhere
    # (a preference, which the migration target inherits but may override; a nodeSelector it could not)
    body = vm_manifest("dpdk")
    body["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node02"]}]}}]}}
    lab.request("POST", VM_PATH % namespace, body)
    assert wait_running(lab, namespace, "dpdk")["status"]["nodeName"] == "node02"
    res = run_playbook(play([hotplug("plug", namespace=namespace, vm="dpdk", interface="fast", network="sriov-a",
                                     binding="sriov")])).tasks["plug"]
    assert res["vms"][0]["method"] == "migration"
    vm = get_vm(lab, namespace, "dpdk")
    assert vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1] == {"name": "fast", "sriov": {}}


def test_sriov_plug_without_a_free_vf_elsewhere_is_refused_before_any_write(lab, namespace, run_playbook,
                                                                            request_log, capabilities):
    # only node01 has VFs and the VM runs there: the migration target (anti-affinity to the source node,
    # migration.go) has nowhere to go, so the module must not write and then wait for ever
    capabilities(workload_update_methods=["LiveMigrate"])
    create_nad(lab, namespace, "sriov-b", resource_name="openshift.io/intelnics")
    body = vm_manifest("pinned")
    body["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node01"]}]}}]}}
    lab.request("POST", VM_PATH % namespace, body)
    assert wait_running(lab, namespace, "pinned")["status"]["nodeName"] == "node01"
    request_log.mark()
    refused = run_playbook(play([hotplug("plug", namespace=namespace, vm="pinned", interface="fast",
                                         network="sriov-b", binding="sriov")]), expect_rc=2).tasks["plug"]
    assert "no node can take it" in refused["msg"], refused["msg"]
    assert "node01: the VM runs there" in refused["msg"] and "Insufficient openshift.io/intelnics" in refused["msg"]
    assert not refused["changed"] and request_log.writes(include_dry_run=True) == []
    assert iface_names(get_vm(lab, namespace, "pinned")) == ["default"]


def test_refusals_before_any_write(lab, namespace, run_playbook, request_log):
    create_nad(lab, namespace, "br-e")
    create_vm(lab, namespace, "vm1", running=False)
    request_log.mark()
    cases = [
        ({"vm": "vm1", "interface": "net1", "network": "nowhere"},
         "NetworkAttachmentDefinition 'nowhere' not found in namespace '%s'" % namespace),
        ({"vm": "vm1", "interface": "net1", "network": "nowhere"}, "write '<namespace>/nowhere'"),
        ({"vm": "vm1", "interface": "default", "state": "absent"}, "primary network"),
        ({"vm": "nope", "interface": "net1", "network": "br-e"}, "VirtualMachine %s/nope not found" % namespace),
        ({"vm": "vm1", "interface": "net1", "network": "br-e", "binding": "sriov"}, "resourceName"),
    ]
    tasks = [dict(hotplug("c%d" % i, options, namespace=namespace), ignore_errors=True)
             for i, (options, _m) in enumerate(cases)]
    result = run_playbook(play(tasks))
    for index, (_options, words) in enumerate(cases):
        res = result.tasks["c%d" % index]
        assert res.get("failed") and words in res["msg"], (index, res.get("msg"))
    assert request_log.writes(include_dry_run=True) == []


BAD = [
    ({"interface": "Net_1", "network": "br"}, "interface"),
    ({"interface": "n" * 64, "network": "br"}, "interface"),
    ({"interface": "n1"}, "network"),
    ({"interface": "n1", "network": "a/b/c"}, "network"),
    ({"interface": "n1", "network": "Bad_Net"}, "network"),
    ({"interface": "n1", "network": "br", "model": "virtio-net"}, "model"),
    ({"interface": "n1", "network": "br", "model": "vmxnet3"}, "model"),
    ({"interface": "n1", "network": "br", "mac_address": "02:00:00:00:00"}, "mac_address"),
    ({"interface": "n1", "network": "br", "mac_address": "zz:00:00:00:00:01"}, "mac_address"),
    ({"interface": "n1", "network": "br", "pci_address": "81:00.1"}, "pci_address"),
    ({"interface": "n1", "network": "br", "pci_address": "0000:81:00.9"}, "pci_address"),
    ({"interfaces": [{"interface": "a", "network": "br"}, {"interface": "a", "network": "br"}]}, "interfaces"),
    ({"interfaces": [{"interface": "ok", "network": "br"}, {"interface": "Bad!", "network": "br"}]}, "interface"),
    ({"interface": "n1", "network": "br", "max_concurrency": 0}, "max_concurrency"),
    ({"interface": "", "network": "br"}, "interface"),
]


def test_fifteen_bad_inputs_fail_before_any_request(namespace, run_playbook, request_log):
    tasks = [dict(hotplug("bad%d" % i, options, namespace=namespace, vm="x"), ignore_errors=True)
             for i, (options, _f) in enumerate(BAD)]
    result = run_playbook(play(tasks))
    assert len(BAD) == 15
    for index, (_options, field) in enumerate(BAD):
        res = result.tasks["bad%d" % index]
        assert res.get("failed") and ": %s: " % field in res["msg"], (index, res.get("msg"))
        assert res["api_requests"]["total"] == 0
    assert request_log.entries() == []


def test_forced_conflict_is_replanned_and_concurrent_plays_both_land(lab, namespace, run_playbook, request_log,
                                                                     ansible_env, tmp_path):
    create_nad(lab, namespace, "br-f")
    create_vm(lab, namespace, "shared", running=False)
    lab.add_fault(method="PATCH", path="/virtualmachines/shared$", action="conflict", count=1)
    res = run_playbook(play([hotplug("plug", namespace=namespace, vm="shared", interface="a", network="br-f")]))
    assert res.tasks["plug"]["vms"][0]["method"] == "offline"
    patches = [(e["method"], e["status"]) for e in request_log.entries() if e["path"].endswith("/shared")]
    assert patches[-3:] == [("PATCH", 409), ("GET", 200), ("PATCH", 200)]

    # two ansible-playbook processes plug different NICs into the same VM at once
    procs = []
    for nic in ("b", "c"):
        path = tmp_path / ("p-%s.yml" % nic)
        path.write_text(yaml.safe_dump(play([hotplug("plug", namespace=namespace, vm="shared", interface=nic,
                                                     network="br-f")])))
        procs.append(subprocess.Popen(["ansible-playbook", "-i", "localhost,", "-c", "local", str(path)],
                                      env=ansible_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (out[-3000:], err[-2000:])
    assert sorted(iface_names(get_vm(lab, namespace, "shared"))) == ["a", "b", "c", "default"]
    assert sorted(network_names(get_vm(lab, namespace, "shared"))) == ["a", "b", "c", "default"]


def test_503_while_waiting_is_retried(lab, namespace, run_playbook, request_log, capabilities):
    capabilities(dynamic_networks=True)
    create_nad(lab, namespace, "br-g")
    create_vm(lab, namespace, "flaky")
    wait_running(lab, namespace, "flaky")
    lab.add_fault(method="GET", path="/virtualmachineinstances$", action="status", code=503, count=3)
    res = run_playbook(play([hotplug("plug", namespace=namespace, vm="flaky", interface="net1", network="br-g",
                                     dynamic_networks="true")])).tasks["plug"]
    assert res["vms"][0]["method"] == "live" and res["api_requests"]["retries"] >= 3


def test_bulk_over_fifty_running_vms(lab, namespace, run_playbook, request_log, capabilities):
    capabilities(dynamic_networks=True)
    create_nad(lab, namespace, "br-h")
    for i in range(50):
        create_vm(lab, namespace, "bulk-%02d" % i, labels={"tier": "bulk"})
    wait_for(lambda: len([v for v in lab.request("GET", "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances"
                                                 % namespace)["items"]
                          if (v.get("status") or {}).get("phase") == "Running"]) == 50,
             timeout=180, message="50 VMIs Running")
    request_log.mark()
    res = run_playbook(play([hotplug("bulk", namespace=namespace, vm_selector="tier=bulk", interface="net1",
                                     network="br-h", dynamic_networks="true")])).tasks["bulk"]
    assert len(res["vms"]) == 50 and {v["method"] for v in res["vms"]} == {"live"}
    assert all("domain" in v["interfaces"][0]["status"]["infoSource"] for v in res["vms"])
    writes = request_log.writes()
    assert len(writes) == 50 and {e["method"] for e in writes} == {"PATCH"}
    request_log.mark()
    again = run_playbook(play([hotplug("bulk", namespace=namespace, vm_selector="tier=bulk", interface="net1",
                                       network="br-h", dynamic_networks="true")])).tasks["bulk"]
    assert not again["changed"] and request_log.writes() == []


# ------------------------------------------- issue 18 (items 5-8) and 19 (item 2)
def vm_with_nic(lab, namespace, name, nad, binding="bridge", running=True):
    body = vm_manifest(name, running=running)
    spec = body["spec"]["template"]["spec"]
    spec["domain"]["devices"]["interfaces"].append({"name": "net1", binding: {}})
    spec["networks"].append({"name": "net1", "multus": {"networkName": nad}})
    lab.request("POST", VM_PATH % namespace, body)


def test_unplug_without_dynamic_networks_needs_a_migration(lab, namespace, run_playbook, request_log, capabilities):
    # evaluator.go shouldMigrateOnIfaceUnplug: detached from the domain, still in the pod -> MigrationRequired
    capabilities(dynamic_networks=False, workload_update_methods=[])
    create_nad(lab, namespace, "br-u")
    vm_with_nic(lab, namespace, "un", "br-u")
    wait_for(lambda: "domain" in ((vmi_iface(get_vmi(lab, namespace, "un"), "net1") or {}).get("infoSource") or ""),
             timeout=180, message="net1 in the domain")
    unplug = play([hotplug("unplug", namespace=namespace, vm="un", interface="net1", state="absent",
                           dynamic_networks="false", wait_timeout=60)])
    request_log.mark()
    refused = run_playbook(unplug, expect_rc=2).tasks["unplug"]
    assert "will not start one" in refused["msg"] and "kubectl patch kubevirt" in refused["msg"]
    capabilities(workload_update_methods=["Evict"])
    refused = run_playbook(unplug, expect_rc=2).tasks["unplug"]
    assert "evicts the virt-launcher pod" in refused["msg"] and "restart_if_required" in refused["msg"]
    assert request_log.writes(include_dry_run=True) == []
    assert iface_names(get_vm(lab, namespace, "un")) == ["default", "net1"]

    capabilities(workload_update_methods=["LiveMigrate"])
    res = run_playbook(unplug).tasks["unplug"]
    assert res["vms"][0]["method"] == "migration" and res["vms"][0]["interfaces"][0]["action"] == "unplug"
    wait_migration_phases(lab, namespace, ["Succeeded"])
    assert iface_names(get_vm(lab, namespace, "un")) == ["default"]
    assert vmi_iface(get_vmi(lab, namespace, "un"), "net1") is None


def test_evict_only_plug_is_accepted_with_restart_if_required(lab, namespace, run_playbook, capabilities):
    # workload-updater.go: no LiveMigrate, Evict configured -> the launcher pod is evicted, the VM starts again
    capabilities(dynamic_networks=False, workload_update_methods=["Evict"])
    create_nad(lab, namespace, "br-ev")
    create_vm(lab, namespace, "ev")
    old = wait_running(lab, namespace, "ev")
    res = run_playbook(play([hotplug("plug", namespace=namespace, vm="ev", interface="net1", network="br-ev",
                                     dynamic_networks="false", restart_if_required=True, wait_timeout=120)]))
    entry = res.tasks["plug"]["vms"][0]
    assert any("evicts the virt-launcher pod" in w for w in res.tasks["plug"]["warnings"])
    assert "domain" in entry["interfaces"][0]["status"]["infoSource"]
    vmi = get_vmi(lab, namespace, "ev")
    assert vmi["metadata"]["uid"] != old["metadata"]["uid"] and migrations(lab, namespace) == []
    # events are posted by the recorder's goroutine after the sync that emitted them
    wait_for(lambda: any(e.get("reason") == "SuccessfulEvict"
                         for e in lab.request("GET", "/api/v1/namespaces/%s/events" % namespace)["items"]),
             timeout=60, message="the SuccessfulEvict event")


def test_sriov_plug_refused_without_network_resources_injector(lab, namespace, run_playbook, request_log,
                                                               capabilities):
    # ExternalNetResourceInjection is Beta (on) in 1.9: template.go leaves the VF request to the injector
    capabilities(network_resources_injector=False)
    create_nad(lab, namespace, "sriov-n", resource_name="openshift.io/intelnics")
    create_vm(lab, namespace, "nri", running=False)
    task = play([hotplug("plug", namespace=namespace, vm="nri", interface="vf", network="sriov-n", binding="sriov")])
    request_log.mark()
    refused = run_playbook(task, expect_rc=2).tasks["plug"]
    assert "network-resources-injector" in refused["msg"] and "disabledFeatureGates" in refused["msg"]
    assert request_log.writes(include_dry_run=True) == []
    capabilities(network_resources_injector=True)
    assert run_playbook(task).tasks["plug"]["vms"][0]["method"] == "offline"


def test_stopped_vm_sriov_interface_is_removed_by_a_template_edit(lab, namespace, run_playbook, request_log):
    create_nad(lab, namespace, "sriov-s", resource_name="openshift.io/intelnics")
    vm_with_nic(lab, namespace, "offvf", "sriov-s", binding="sriov", running=False)
    request_log.mark()
    res = run_playbook(play([hotplug("unplug", namespace=namespace, vm="offvf", interface="net1",
                                     state="absent")])).tasks["unplug"]
    assert res["vms"][0]["method"] == "offline" and res["vms"][0]["interfaces"][0]["action"] == "remove"
    assert [e["method"] for e in request_log.writes()] == ["PATCH"]
    vm = get_vm(lab, namespace, "offvf")
    assert iface_names(vm) == ["default"] and network_names(vm) == ["default"]


def test_an_older_restart_required_is_reported_not_acted_on(lab, namespace, run_playbook, request_log,
                                                            capabilities):
    capabilities(dynamic_networks=True)
    create_nad(lab, namespace, "br-rr")
    create_vm(lab, namespace, "rr")
    wait_running(lab, namespace, "rr")
    lab.request("PATCH", "%s/rr" % (VM_PATH % namespace), {"spec": {"template": {"spec": {"domain": {
        "resources": {"requests": {"memory": "256Mi"}}}}}}}, content_type="application/merge-patch+json")
    since = wait_for(lambda: (kv_condition(get_vm(lab, namespace, "rr"), "RestartRequired") or {}).get(
        "lastTransitionTime"), timeout=120, message="RestartRequired from the memory change")
    request_log.mark()
    res = run_playbook(play([hotplug("plug", namespace=namespace, vm="rr", interface="net1", network="br-rr",
                                     dynamic_networks="true", restart_if_required=True)])).tasks["plug"]
    entry = res["vms"][0]
    assert entry["method"] == "live" and not entry["restart_required"] and "restarted" not in entry
    assert "already had RestartRequired=True" in entry["findings"][0] and since in entry["findings"][0]
    assert any("already had RestartRequired=True" in w for w in res["warnings"])
    assert [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in request_log.writes()] == [("PATCH", "rr")]


def test_rerun_after_a_timed_out_wait_is_not_a_false_success(lab, namespace, run_playbook, request_log,
                                                             capabilities, cordon):
    # without the dynamic-networks controller the NIC arrives only with a migration (virt-controller's
    # pkg/network/migration/evaluator.go: MigrationRequired after its fixed 15 s grace period); with
    # every node cordoned the migration's target pod cannot be scheduled, so the waits below time out
    # however slow the machine is, until the nodes are uncordoned
    capabilities(dynamic_networks=False, workload_update_methods=["LiveMigrate"])
    create_nad(lab, namespace, "br-to")
    create_vm(lab, namespace, "slow")
    wait_running(lab, namespace, "slow")
    cordon(True)
    options = dict(namespace=namespace, vm="slow", interface="net1", network="br-to", dynamic_networks="false")
    first = run_playbook(play([hotplug("plug", options, wait_timeout=3)]), expect_rc=2).tasks["plug"]
    assert "timed out" in first["msg"] and iface_names(get_vm(lab, namespace, "slow")) == ["default", "net1"]

    request_log.mark()
    again = run_playbook(play([hotplug("plug", options, wait_timeout=3)]), expect_rc=2).tasks["plug"]
    assert "timed out" in again["msg"] and "net1 in the domain" in again["msg"]
    assert not again["changed"] and again["vms"][0]["pending"] == ["net1"]
    nowait = run_playbook(play([hotplug("plug", options, wait=False)])).tasks["plug"]
    assert not nowait["changed"] and nowait["vms"][0]["pending"] == ["net1"]
    assert any("has not finished interface net1" in w for w in nowait["warnings"])
    assert request_log.writes() == []

    cordon(False)   # the migration's target pod is scheduled now
    done = run_playbook(play([hotplug("plug", options, wait_timeout=120)])).tasks["plug"]
    assert not done["changed"] and done["vms"][0]["pending"] == []
    assert "domain" in vmi_iface(get_vmi(lab, namespace, "slow"), "net1")["infoSource"]
    assert request_log.writes() == []
