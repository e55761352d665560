"""kubevirt_vm_network against the lab's emulated KubeVirt 1.9, judged by the request log."""

import copy
import os

import jsonschema
import pytest
import yaml

from tests.integration.helpers import play, wait_for
from tests.integration.modules.kubevirt_objects import (
    VM_PATH, create_nad, create_vm, get_vm, get_vmi, iface_names, network_names, vm_manifest, wait_running)
from lab.crds import SCHEMA_DIR

KUBEVIRT = "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt"


def vmnet(title, options=None, **more):
    return {"name": title, "kubevirt_net.core.kubevirt_vm_network": dict(options or {}, **more), "register": "r"}


def template(vm):
    return vm["spec"]["template"]["spec"]


def ifaces(vm):
    return template(vm)["domain"]["devices"]["interfaces"]


def test_states_on_a_stopped_vm_with_rerun_and_check_mode(lab, namespace, run_playbook, request_log):
    create_nad(lab, namespace, "br-a")
    create_nad(lab, namespace, "br-b")
    create_vm(lab, namespace, "off", running=False)
    merged = play([vmnet("m", vm="off", namespace=namespace, state="merged", config={
        "interfaces": [{"name": "default", "ports": [{"name": "ssh", "port": 22}]},
                       {"name": "net1", "network": "br-a", "mac_address": "02:00:00:00:aa:01", "boot_order": 1}],
        "hostname": "off-host", "dns_config": {"searches": ["example.org"]}})])

    request_log.mark()
    checked = run_playbook(merged, check=True, diff=True).tasks["m"]
    assert checked["changed"] and checked["diff"]["before"]["interfaces"][0] == {
        "name": "default", "network": "pod", "binding": "masquerade"}
    assert [i["name"] for i in checked["diff"]["after"]["interfaces"]] == ["default", "net1"]
    assert checked["patches"][0][0]["path"] == "/metadata/generation"
    assert request_log.writes(include_dry_run=True) == []
    assert iface_names(get_vm(lab, namespace, "off")) == ["default"]

    res = run_playbook(merged).tasks["m"]
    assert res["changed"] and res["api_requests"]["writes"] == 1 and not res["restart_required"]
    vm = get_vm(lab, namespace, "off")
    assert ifaces(vm) == [{"name": "default", "masquerade": {}, "ports": [{"name": "ssh", "port": 22}]},
                          {"name": "net1", "bridge": {}, "macAddress": "02:00:00:00:aa:01", "bootOrder": 1}]
    assert template(vm)["networks"][1] == {"name": "net1", "multus": {"networkName": "br-a"}}
    assert template(vm)["hostname"] == "off-host" and template(vm)["dnsConfig"] == {"searches": ["example.org"]}
    assert "dnsConfig" not in template(vm)["domain"]

    request_log.mark()
    again = run_playbook(merged).tasks["m"]
    assert not again["changed"] and request_log.writes(include_dry_run=True) == []

    # replaced: net1 exactly as given (MAC and boot order go), default untouched; gathered is typed, and
    # feeding it back as overridden changes nothing: one write for the three tasks
    request_log.mark()
    result = run_playbook(play([
        vmnet("replaced", vm="off", namespace=namespace, state="replaced", config={
            "interfaces": [{"name": "net1", "network": "br-a", "model": "e1000e"}]}),
        dict(vmnet("gathered", vm="off", namespace=namespace, state="gathered"), register="g"),
        vmnet("back", vm="off", namespace=namespace, state="overridden", config="{{ g.gathered }}")]))
    assert result.tasks["replaced"]["changed"] and not result.tasks["back"]["changed"]
    assert result.tasks["gathered"]["gathered"]["interfaces"][1] == {
        "name": "net1", "network": "br-a", "binding": "bridge", "model": "e1000e"}
    assert result.tasks["gathered"]["gathered"]["hostname"] == "off-host"
    assert [e["method"] for e in request_log.writes(include_dry_run=True)] == ["PATCH"]
    vm = get_vm(lab, namespace, "off")
    assert ifaces(vm)[1] == {"name": "net1", "bridge": {}, "model": "e1000e"}
    assert ifaces(vm)[0]["ports"] == [{"name": "ssh", "port": 22}]

    # overridden: exactly default + net2 (net1 and the DNS settings go); deleted: the listed interface,
    # then, without config, everything but the primary network
    result = run_playbook(play([
        vmnet("overridden", vm="off", namespace=namespace, state="overridden", config={
            "interfaces": [{"name": "default", "network": "pod"}, {"name": "net2", "network": "br-b"}]}),
        vmnet("merged", vm="off", namespace=namespace, state="merged", config={
            "interfaces": [{"name": "net3", "network": "br-a"}], "subdomain": "grp"}),
        vmnet("deleted", vm="off", namespace=namespace, state="deleted", config={"interfaces": [{"name": "net2"}]}),
        vmnet("deleted_all", vm="off", namespace=namespace, state="deleted")]))
    assert [i["name"] for i in result.tasks["overridden"]["after"]["interfaces"]] == ["default", "net2"]
    assert "hostname" not in result.tasks["overridden"]["after"]
    assert [i["name"] for i in result.tasks["deleted"]["after"]["interfaces"]] == ["default", "net3"]
    assert all(result.tasks[t]["changed"] for t in ("overridden", "merged", "deleted", "deleted_all"))
    vm = get_vm(lab, namespace, "off")
    assert iface_names(vm) == ["default"] and network_names(vm) == ["default"] and "subdomain" not in template(vm)
    request_log.mark()
    assert not run_playbook(play([vmnet("d", vm="off", namespace=namespace, state="deleted")])).tasks["d"]["changed"]
    assert request_log.writes() == []


def strict(schema):
    if isinstance(schema, dict):
        out = dict((k, strict(v)) for k, v in schema.items())
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
                and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


RENDER = {"interfaces": [
    {"name": "default", "network": "pod", "binding": "passtBinding", "ports": [{"name": "http", "port": 8080}]},
    {"name": "storage", "network": "shared/storage", "binding": "bridge", "mac_address": "02:00:00:00:00:11",
     "model": "virtio", "pci_address": "0000:02:01.0", "boot_order": 2, "link_state": "up", "acpi_index": 5,
     "dhcp_options": {"ntp_servers": ["10.0.0.5"], "private_options": [{"option": 240, "value": "x"}]}},
    {"name": "fast", "network": "sriov-a", "binding": "sriov"},
    {"name": "mv", "network": "macvtap-net", "binding": "plugin:macvtap"}],
    "hostname": "web", "subdomain": "web", "dns_policy": "ClusterFirst",
    "dns_config": {"options": [{"name": "ndots", "value": "2"}]}, "vm_network_cidr": "10.0.5.0/24"}


def test_rendered_validates_against_the_vm_crd_in_strict_mode_without_cluster(run_playbook, request_log):
    with open(os.path.join(SCHEMA_DIR, "kubevirt-v1.9.0-crd-virtualmachine.openapiv3.yaml"), encoding="utf-8") as fh:
        schema = strict(yaml.safe_load(fh)["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    res = run_playbook(play([vmnet("r", vm="web", namespace="vms", state="rendered", config=RENDER)])).tasks["r"]
    assert not res["changed"] and res["api_requests"]["total"] == 0
    manifest = res["rendered"]
    jsonschema.validate(manifest, schema)
    spec = manifest["spec"]["template"]["spec"]
    assert spec["domain"]["devices"]["interfaces"][0] == {"name": "default", "passtBinding": {},
                                                          "ports": [{"name": "http", "port": 8080}]}
    assert spec["networks"][0] == {"name": "default", "pod": {"vmNetworkCIDR": "10.0.5.0/24"}}
    assert spec["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
    broken = copy.deepcopy(manifest)
    broken["spec"]["template"]["spec"]["domain"]["dnsConfig"] = spec["dnsConfig"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    assert request_log.entries() == []


def test_old_passt_binding_value_is_a_deprecated_spelling_of_passt_binding(run_playbook, request_log):
    old = copy.deepcopy(RENDER)
    old["interfaces"][0]["binding"] = "passt"
    res = run_playbook(play([vmnet("new", vm="web", namespace="vms", state="rendered", config=RENDER),
                             vmnet("old", vm="web", namespace="vms", state="rendered", config=old)])).tasks
    assert res["old"]["rendered"] == res["new"]["rendered"]
    assert not res["new"].get("deprecations")
    assert [d["msg"] for d in res["old"]["deprecations"]] == [
        "config.interfaces[0].binding: the value 'passt' is deprecated, write 'passtBinding' (the KubeVirt "
        "interface field of the core passt binding)"]
    assert request_log.entries() == []


def test_admission_mirrors_refuse_before_any_write(lab, namespace, run_playbook, request_log):
    create_nad(lab, namespace, "br-a")
    create_nad(lab, namespace, "plain-for-sriov")
    create_vm(lab, namespace, "target", running=False)
    other = copy.deepcopy(get_vm(lab, namespace, "target"))
    lab.request("POST", VM_PATH % namespace, {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "holder"},
        "spec": {"runStrategy": "Halted", "template": {"spec": dict(
            template(other), domain={"devices": {"interfaces": [
                {"name": "default", "masquerade": {}, "macAddress": "02:00:00:00:00:77"}]},
                "resources": {"requests": {"memory": "64Mi"}}})}}})
    cases = [
        ({"interfaces": [{"name": "second", "network": "pod"}]}, "more than one network is the pod network"),
        ({"interfaces": [{"name": "m", "network": "br-a", "binding": "masquerade"}]},
         "Masquerade interface only implemented with pod network"),
        ({"interfaces": [{"name": "p", "network": "br-a", "binding": "passt"}]},
         "PasstBinding interface only implemented with pod network"),
        ({"interfaces": [{"name": "n", "network": "nowhere"}]},
         "NetworkAttachmentDefinition 'nowhere' not found in namespace '%s'" % namespace),
        ({"interfaces": [{"name": "pl", "network": "br-a", "binding": "plugin:unregistered"}]},
         "binding plugin 'unregistered' is not registered"),
        ({"interfaces": [{"name": "n", "network": "br-a", "mac_address": "02:00:00:00:00:77"}]},
         "is already used by VirtualMachine %s/holder interface default" % namespace),
        ({"interfaces": [{"name": "s", "network": "plain-for-sriov", "binding": "sriov"}]}, "resourceName"),
        ({"interfaces": [{"name": "d", "network": "br-a", "multus_default": True}]},
         "Pod network cannot be defined when Multus default network is defined"),
        ({"interfaces": [{"name": "a", "network": "br-a", "mac_address": "02:00:00:00:00:31"},
                         {"name": "b", "network": "br-a", "mac_address": "02:00:00:00:00:31"}]},
         "is also set on interface a"),
    ]
    request_log.mark()
    tasks = [dict(vmnet("c%d" % i, vm="target", namespace=namespace, state="merged", config=config),
                  ignore_errors=True) for i, (config, _words) in enumerate(cases)]
    tasks.append(dict(vmnet("over", vm="target", namespace=namespace, state="overridden", config={
        "interfaces": [{"name": "n", "network": "br-a", "binding": "bridge", "link_state": "down"}, {
            "name": "s", "network": "br-a", "binding": "sriov", "link_state": "down"}]}), ignore_errors=True))
    result = run_playbook(play(tasks))
    assert len(cases) + 1 == 10
    for index, (_config, words) in enumerate(cases):
        res = result.tasks["c%d" % index]
        assert res.get("failed") and words in res["msg"], (index, res.get("msg"))
        assert res["api_requests"]["writes"] == 0
    assert "link state on sriov" in result.tasks["over"]["msg"]
    assert request_log.writes(include_dry_run=True) == []
    assert iface_names(get_vm(lab, namespace, "target")) == ["default"]


BAD = [
    ({"config": {"interfaces": [{"name": "bad name", "network": "pod"}]}}, "name"),
    ({"config": {"interfaces": [{"name": "a", "network": "br", "binding": "slirp"}]}}, "binding"),
    ({"config": {"interfaces": [{"name": "a", "network": "br", "ports": [{"port": 80}]}]}}, "ports"),
    ({"state": "overridden", "config": {"interfaces": [{"name": "a"}]}}, "network"),
    ({"restart": True, "wait": False, "config": {}}, "restart"),
]


def test_bad_inputs_fail_before_any_request(namespace, run_playbook, request_log):
    tasks = [dict(vmnet("bad%d" % i, dict(options, vm="x", namespace=namespace)), ignore_errors=True)
             for i, (options, _f) in enumerate(BAD)]
    result = run_playbook(play(tasks))
    for index, (_options, field) in enumerate(BAD):
        res = result.tasks["bad%d" % index]
        assert res.get("failed") and ": %s: " % field in res["msg"], (index, res.get("msg"))
        assert res["api_requests"]["total"] == 0
    assert request_log.entries() == []


def test_lost_race_on_the_template_patch_is_replanned(lab, namespace, run_playbook, request_log):
    create_nad(lab, namespace, "br-r")
    create_vm(lab, namespace, "raced", running=False)
    lab.add_fault(method="PATCH", path="/virtualmachines/raced$", action="conflict", count=1)
    res = run_playbook(play([vmnet("m", vm="raced", namespace=namespace, config={
        "interfaces": [{"name": "net1", "network": "br-r"}]})])).tasks["m"]
    assert res["changed"]
    calls = [(e["method"], e["status"]) for e in request_log.entries() if e["path"].endswith("/raced")]
    assert calls[-3:] == [("PATCH", 409), ("GET", 200), ("PATCH", 200)]
    assert iface_names(get_vm(lab, namespace, "raced")) == ["default", "net1"]


def vm_condition(lab, namespace, name, kind):
    for cond in (get_vm(lab, namespace, name).get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return cond
    return None


@pytest.fixture
def tap_plugin(lab):
    """A binding plugin registered in the shared KubeVirt CR for one test."""
    before = lab.request("GET", KUBEVIRT)["spec"]["configuration"].get("network") or {}
    registered = dict(before, binding=dict(before.get("binding") or {}, labtap={"domainAttachmentType": "tap"}))
    lab.request("PATCH", KUBEVIRT, [{"op": "add", "path": "/spec/configuration/network", "value": registered}],
                content_type="application/json-patch+json")
    yield "labtap"
    lab.request("PATCH", KUBEVIRT, [{"op": "add", "path": "/spec/configuration/network", "value": before}],
                content_type="application/json-patch+json")


def test_running_vm_live_plug_and_restart_required_then_restart(lab, namespace, run_playbook, request_log,
                                                                tap_plugin):
    create_nad(lab, namespace, "br-live")
    create_nad(lab, namespace, "tap-net")
    create_vm(lab, namespace, "web")
    wait_running(lab, namespace, "web")
    # live: a bridge NIC (through the hot-plug code); not live: the pod interface's model; at the next start:
    # a NIC with a binding plugin (KubeVirt cannot hot-plug it and does not ask for a restart either)
    task = play([vmnet("m", vm="web", namespace=namespace, dynamic_networks="true", config={
        "interfaces": [{"name": "net1", "network": "br-live"}, {"name": "default", "model": "e1000e"},
                       {"name": "tap1", "network": "tap-net", "binding": "plugin:" + tap_plugin}]})])
    request_log.mark()
    res = run_playbook(task).tasks["m"]
    assert res["changed"] and res["vm"]["running"]
    assert [(i["name"], i["action"]) for i in res["live"]] == [("net1", "plug")] and res["live_method"] == "live"
    assert "domain" in res["live"][0]["status"]["infoSource"]
    assert res["nonlive"] == ["change interface default"]
    assert res["next_start"] == ["add interface tap1 (plugin:labtap)"] and res["pending_start"] == ["tap1"]
    assert res["restart_required"] and not res["restarted"]
    assert res["restart_condition"]["type"] == "RestartRequired" and res["restart_condition"]["status"] == "True"
    assert "non-live-updatable" in res["restart_condition"]["message"]
    assert [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in request_log.writes()] == [("PATCH", "web")] * 2
    assert vm_condition(lab, namespace, "web", "RestartRequired")["status"] == "True"
    assert [i["name"] for i in get_vmi(lab, namespace, "web")["spec"]["domain"]["devices"]["interfaces"]] == [
        "default", "net1"]
    assert iface_names(get_vm(lab, namespace, "web")) == ["default", "net1", "tap1"]

    # rerun: nothing to write, the pending restart still reported
    request_log.mark()
    again = run_playbook(task).tasks["m"]
    assert not again["changed"] and again["restart_required"] and request_log.writes() == []

    # restart: true restarts through the subresource and waits for a new VMI
    old_uid = get_vmi(lab, namespace, "web")["metadata"]["uid"]
    restart = vmnet("m", vm="web", namespace=namespace, restart=True, config={
        "interfaces": [{"name": "default", "model": "e1000e"}]})
    request_log.mark()
    result = run_playbook(play([restart, dict(restart, name="again")]))
    res = result.tasks["m"]
    assert res["changed"] and res["restarted"] and not res["restart_required"]
    assert not result.tasks["again"]["changed"] and not result.tasks["again"]["restarted"]
    assert [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in request_log.writes()] == [("PUT", "restart")]
    vmi = get_vmi(lab, namespace, "web")
    assert vmi["metadata"]["uid"] != old_uid and vmi["status"]["phase"] == "Running"
    assert vmi["spec"]["domain"]["devices"]["interfaces"][0]["model"] == "e1000e"
    assert [i["name"] for i in vmi["spec"]["domain"]["devices"]["interfaces"]] == ["default", "net1", "tap1"]
    assert res["pending_start"] == []
    assert vm_condition(lab, namespace, "web", "RestartRequired") is None


def test_running_vm_unplug_goes_through_hotplug_and_nonlive_change_is_reported(lab, namespace, run_playbook):
    create_nad(lab, namespace, "br-u")
    manifest = vm_manifest("app")
    spec = manifest["spec"]["template"]["spec"]
    spec["domain"]["devices"]["interfaces"].append({"name": "net1", "bridge": {}})
    spec["networks"].append({"name": "net1", "multus": {"networkName": "br-u"}})
    lab.request("POST", VM_PATH % namespace, manifest)
    wait_running(lab, namespace, "app")
    result = run_playbook(play([
        vmnet("unplug", vm="app", namespace=namespace, state="deleted", dynamic_networks="true",
              config={"interfaces": [{"name": "net1"}]}),
        vmnet("model", vm="app", namespace=namespace, config={"interfaces": [{"name": "default", "model": "e1000e"}]})]))
    res = result.tasks["unplug"]
    assert [(i["name"], i["action"]) for i in res["live"]] == [("net1", "unplug")]
    assert res["nonlive"] == [] and not res["restart_required"]
    assert [i["name"] for i in res["after"]["interfaces"]] == ["default"]  # KubeVirt removed it when done
    # changing the pod interface (model) is not live: written, KubeVirt's RestartRequired reported
    res = result.tasks["model"]
    assert res["live"] == [] and res["nonlive"] == ["change interface default"]
    assert res["restart_required"] and res["restart_condition"]["status"] == "True"
    vm = get_vm(lab, namespace, "app")
    assert iface_names(vm) == ["default"] and ifaces(vm)[0]["model"] == "e1000e"
    assert [i["name"] for i in get_vmi(lab, namespace, "app")["spec"]["domain"]["devices"]["interfaces"]] == [
        "default"]


def test_check_mode_on_a_running_vm_writes_nothing(lab, namespace, run_playbook, request_log):
    create_nad(lab, namespace, "br-c")
    create_vm(lab, namespace, "chk")
    wait_running(lab, namespace, "chk")
    request_log.mark()
    result = run_playbook(play([
        dict(vmnet("sriov", vm="chk", namespace=namespace, restart=True, config={
            "interfaces": [{"name": "net1", "network": "br-c", "binding": "sriov"}], "subdomain": "s"}),
            ignore_errors=True),
        vmnet("plug", vm="chk", namespace=namespace, restart=True, config={
            "interfaces": [{"name": "net1", "network": "br-c"}, {"name": "default", "ports": [{"port": 15001}]}],
            "subdomain": "s"})]), check=True)
    assert result.tasks["sriov"].get("failed") and "resourceName" in result.tasks["sriov"]["msg"]
    res = result.tasks["plug"]
    assert res["changed"] and res["restart_required"] and [i["name"] for i in res["live"]] == ["net1"]
    assert res["nonlive"] == ["change interface default", "set subdomain"] and len(res["patches"]) == 2
    assert any("Istio" in w and "15001" in w for w in res["warnings"])
    assert request_log.writes(include_dry_run=True) == []
    assert iface_names(get_vm(lab, namespace, "chk")) == ["default"]


def test_restart_true_does_not_wait_for_a_live_plug_the_restart_makes_anyway(lab, namespace, run_playbook):
    # the VM is pinned to node01, the only node with VFs: a live SR-IOV plug would need a
    # migration to another node with a free VF, which does not exist.  With restart=true and a
    # change that needs the restart anyway (hostname), the module lets the restart bring the VF.
    create_nad(lab, namespace, "sriov-net", resource_name="openshift.io/intelnics")
    body = vm_manifest("pinned")
    template(body)["nodeSelector"] = {"kubernetes.io/hostname": "node01"}
    lab.request("POST", VM_PATH % namespace, body)
    old = wait_running(lab, namespace, "pinned")
    assert old["status"]["nodeName"] == "node01"
    res = run_playbook(play([vmnet("m", vm="pinned", namespace=namespace, restart=True, wait_timeout=90,
                                   dynamic_networks="true", config={
                                       "interfaces": [{"name": "vf1", "network": "sriov-net", "binding": "sriov"}],
                                       "hostname": "pinned-host"})])).tasks["m"]
    assert res["changed"] and res["restarted"] and res["live_method"] == "restart"
    vmi = get_vmi(lab, namespace, "pinned")
    assert vmi["metadata"]["uid"] != old["metadata"]["uid"] and vmi["status"]["phase"] == "Running"
    assert [i["name"] for i in vmi["spec"]["domain"]["devices"]["interfaces"]] == ["default", "vf1"]
    assert vmi["spec"]["hostname"] == "pinned-host"


# ------------------------------------------- issue 18 item 5, issue 19 item 2
def test_an_unrelated_restart_required_is_a_finding_even_with_restart_true(lab, namespace, run_playbook,
                                                                           request_log, capabilities):
    capabilities(dynamic_networks=True)
    create_nad(lab, namespace, "br-rr")
    create_vm(lab, namespace, "mem")
    old = wait_running(lab, namespace, "mem")
    lab.request("PATCH", "%s/mem" % (VM_PATH % namespace), {"spec": {"template": {"spec": {"domain": {
        "resources": {"requests": {"memory": "256Mi"}}}}}}}, content_type="application/merge-patch+json")
    since = wait_for(lambda: (vm_condition(lab, namespace, "mem", "RestartRequired") or {}).get("lastTransitionTime"),
                     timeout=120, message="RestartRequired from the memory change")
    task = play([vmnet("m", vm="mem", namespace=namespace, restart=True, dynamic_networks="true",
                       config={"interfaces": [{"name": "net1", "network": "br-rr"}]})])
    request_log.mark()
    res = run_playbook(task).tasks["m"]
    assert res["changed"] and not res["restarted"] and not res["restart_required"]
    assert [(i["name"], i["action"]) for i in res["live"]] == [("net1", "plug")]
    assert "already had RestartRequired=True" in res["findings"][0] and since in res["findings"][0]
    assert [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in request_log.writes()] == [("PATCH", "mem")]
    assert get_vmi(lab, namespace, "mem")["metadata"]["uid"] == old["metadata"]["uid"]
    request_log.mark()
    again = run_playbook(task).tasks["m"]
    assert not again["changed"] and not again["restarted"] and again["findings"] and request_log.writes() == []


def test_rerun_after_a_timed_out_wait_waits_for_the_declared_interface(lab, namespace, run_playbook, request_log,
                                                                       capabilities, cordon):
    # the NIC arrives only with a migration; with every node cordoned its target pod cannot be
    # scheduled, so the waits below time out until the nodes are uncordoned
    capabilities(dynamic_networks=False, workload_update_methods=["LiveMigrate"])
    create_nad(lab, namespace, "br-to")
    create_vm(lab, namespace, "slow")
    wait_running(lab, namespace, "slow")
    cordon(True)
    options = dict(vm="slow", namespace=namespace, dynamic_networks="false",
                   config={"interfaces": [{"name": "net1", "network": "br-to"}]})
    first = run_playbook(play([vmnet("m", options, wait_timeout=3)]), expect_rc=2).tasks["m"]
    assert "timed out" in first["msg"] and iface_names(get_vm(lab, namespace, "slow")) == ["default", "net1"]

    request_log.mark()
    again = run_playbook(play([vmnet("m", options, wait_timeout=3)]), expect_rc=2).tasks["m"]
    assert "timed out" in again["msg"] and "net1 in the domain" in again["msg"]
    nowait = run_playbook(play([vmnet("m", options, wait=False)])).tasks["m"]
    assert not nowait["changed"] and [p["name"] for p in nowait["pending_hotplug"]] == ["net1"]
    assert nowait["pending_start"] == [] and any("has not finished interface net1" in w for w in nowait["warnings"])
    assert request_log.writes() == []

    cordon(False)   # the migration's target pod is scheduled now
    done = run_playbook(play([vmnet("m", options, wait_timeout=120)])).tasks["m"]
    assert not done["changed"] and done["pending_hotplug"] == []
    assert request_log.writes() == []


def test_evict_only_plug_is_refused_unless_restart_is_accepted(lab, namespace, run_playbook, request_log,
                                                               capabilities):
    # workload-updater.go: no LiveMigrate, Evict configured -> the launcher pod is evicted and the VM
    # starts again; that is a restart, so only restart=true accepts it
    capabilities(dynamic_networks=False, workload_update_methods=["Evict"])
    create_nad(lab, namespace, "br-ev")
    create_vm(lab, namespace, "ev")
    old = wait_running(lab, namespace, "ev")
    options = dict(vm="ev", namespace=namespace, dynamic_networks="false", wait_timeout=120,
                   config={"interfaces": [{"name": "net1", "network": "br-ev"}]})
    request_log.mark()
    refused = run_playbook(play([vmnet("m", options)]), expect_rc=2).tasks["m"]
    assert "kubevirt_vm_network: restart=true" in refused["msg"] and "Evict" in refused["msg"]
    assert request_log.writes(include_dry_run=True) == []
    done = run_playbook(play([vmnet("m", options, restart=True)])).tasks["m"]
    assert done["changed"] and any("restart=true accepts that" in w for w in done["warnings"])
    vmi = get_vmi(lab, namespace, "ev")
    assert vmi["metadata"]["uid"] != old["metadata"]["uid"]
    assert "domain" in next(i for i in vmi["status"]["interfaces"] if i["name"] == "net1")["infoSource"]
