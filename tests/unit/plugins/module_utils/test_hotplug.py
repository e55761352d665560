import copy
import functools

import jsonpatch
import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils import hotplug, hotplug_engine, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import MUTATING_WEBHOOK, NAD, VM, VMI
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from tests.unit.plugins.module_utils.session_double import Clock, FakeRun, FakeSession, store_after_sleeps


def vm(ifaces=None, networks=None):
    ifaces = [{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}}] if ifaces is None else ifaces
    networks = [{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": "br1"}}] \
        if networks is None else networks
    return {"metadata": {"name": "vm1", "namespace": "vms", "resourceVersion": "42"},
            "spec": {"runStrategy": "Always", "template": {"spec": {
                "domain": {"devices": {"interfaces": ifaces}}, "networks": networks}}}}


def plan(requests, machine=None, running=True):
    problems = Problems()
    machine = machine or vm()
    result = hotplug.plan_vm(problems, machine, requests, running)
    return problems.items, result, machine


def apply(machine, ops):
    return jsonpatch.apply_patch(copy.deepcopy(machine), ops)


def spec_lists(machine):
    spec = machine["spec"]["template"]["spec"]
    return spec["domain"]["devices"]["interfaces"], spec["networks"]


def test_plug_adds_interface_and_network_in_one_patch_with_tests_first():
    problems, result, machine = plan([{"interface": "net2", "network": "other/br2", "binding": "sriov",
                                       "mac_address": "02:00:00:00:00:09"}])
    assert problems == [] and result.changes == [("net2", "plug", "sriov on other/br2")]
    assert [op["op"] for op in result.ops] == ["test", "test", "add", "add"]
    ifaces, networks = spec_lists(apply(machine, result.ops))
    assert ifaces[-1] == {"name": "net2", "sriov": {}, "macAddress": "02:00:00:00:00:09"}
    assert networks[-1] == {"name": "net2", "multus": {"networkName": "other/br2"}}


def test_patch_fails_when_someone_else_changed_the_lists():
    _problems, result, machine = plan([{"interface": "net2", "network": "br2"}])
    other = copy.deepcopy(machine)
    spec_lists(other)[0].append({"name": "theirs", "bridge": {}})
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        apply(other, result.ops)


def test_present_and_same_is_unchanged_without_ops():
    problems, result, _machine = plan([{"interface": "net1", "network": "vms/br1"}])
    assert problems == [] and not result.changed and result.ops == []


def test_unplug_running_sets_state_absent_stopped_removes_both():
    _p, result, machine = plan([{"interface": "net1", "state": "absent"}], running=True)
    ifaces, networks = spec_lists(apply(machine, result.ops))
    assert ifaces[1] == {"name": "net1", "bridge": {}, "state": "absent"} and len(networks) == 2
    _p, result, machine = plan([{"interface": "net1", "state": "absent"}], running=False)
    ifaces, networks = spec_lists(apply(machine, result.ops))
    assert [i["name"] for i in ifaces] == ["default"] and [n["name"] for n in networks] == ["default"]
    assert result.changes == [("net1", "remove", "removed from the stopped VM")]


def test_unplug_of_absent_interface_is_unchanged():
    problems, result, _machine = plan([{"interface": "nope", "state": "absent"}])
    assert problems == [] and not result.changed


def test_network_swap_changes_only_network_name():
    _p, result, machine = plan([{"interface": "net1", "network": "br9"}])
    assert result.changes == [("net1", "swap", "br1 -> br9")]
    _ifaces, networks = spec_lists(apply(machine, result.ops))
    assert networks[1] == {"name": "net1", "multus": {"networkName": "br9"}}


@pytest.mark.parametrize("request_,words", [
    ({"interface": "default", "state": "absent"}, "primary network"),
    ({"interface": "default", "network": "br1"}, "primary network"),
    ({"interface": "net1", "network": "br1", "binding": "sriov"}, "changing a binding is not live-updatable"),
    ({"interface": "net1", "network": "br1", "model": "e1000"}, "model virtio -> e1000"),
])
def test_impossible_requests_are_refused(request_, words):
    problems, result, _machine = plan([request_])
    assert problems and words in problems[0]["message"] and result.ops == []


def test_unplug_of_masquerade_on_secondary_is_refused():
    machine = vm(ifaces=[{"name": "default", "masquerade": {}}, {"name": "m", "sriov": {}}],
                 networks=[{"name": "default", "pod": {}}, {"name": "m", "multus": {"networkName": "x"}}])
    problems, _r, _m = plan([{"interface": "m", "state": "absent"}], machine)
    assert "only bridge" in problems[0]["message"]


def test_vm_without_declared_interfaces_is_refused():
    problems, _r, _m = plan([{"interface": "net2", "network": "br2"}], vm(ifaces=[], networks=[]))
    assert problems and "implicitly" in problems[0]["message"]


def test_several_interfaces_in_one_patch():
    _p, result, machine = plan([{"interface": "a", "network": "br-a"}, {"interface": "b", "network": "br-b"},
                                {"interface": "net1", "state": "absent"}])
    ifaces, networks = spec_lists(apply(machine, result.ops))
    assert [i["name"] for i in ifaces] == ["default", "net1", "a", "b"] and ifaces[1]["state"] == "absent"
    assert [n["name"] for n in networks] == ["default", "net1", "a", "b"]


@pytest.mark.parametrize("req,field", [
    ({"interface": "Net_1", "network": "br"}, "interface"),
    ({"interface": "n"}, "network"),
    ({"interface": "n", "network": "a/b/c"}, "network"),
    ({"interface": "n", "network": "br", "binding": "masquerade"}, "binding"),
    ({"interface": "n", "network": "br", "model": "virtio-net"}, "model"),
    ({"interface": "n", "network": "br", "mac_address": "02:00:00:00:00"}, "mac_address"),
    ({"interface": "n", "network": "br", "pci_address": "81:00.1"}, "pci_address"),
])
def test_check_request_names_the_field(req, field):
    problems = Problems()
    hotplug.check_request(problems, "VirtualMachine vms/vm1", req)
    assert [p["field"] for p in problems.items] == [field]


def test_completion_signals():
    vmi = {"status": {"interfaces": [{"name": "net2", "infoSource": "multus-status"}]}}
    assert not hotplug.plug_done(vmi, "net2")
    vmi["status"]["interfaces"][0]["infoSource"] = "domain, guest-agent, multus-status"
    assert hotplug.plug_done(vmi, "net2")
    vmi["status"]["conditions"] = [{"type": "MigrationRequired", "status": "True"}]
    assert not hotplug.plug_done(vmi, "net2")
    machine = vm()
    assert not hotplug.unplug_done(machine, {}, "net1")
    assert hotplug.unplug_done(machine, {"spec": {}, "status": {}}, "gone")


# ------------------------------------------- issue 18/19: KubeVirt v1.9.0 rules
def test_stopped_vm_removes_an_interface_whatever_its_binding():
    # clearDetachedIfacesFromVM: without a VMI any interface goes; the binding rule is for running VMs only
    machine = vm(ifaces=[{"name": "default", "masquerade": {}}, {"name": "vf", "sriov": {}}],
                 networks=[{"name": "default", "pod": {}}, {"name": "vf", "multus": {"networkName": "sriov-a"}}])
    problems, result, machine = plan([{"interface": "vf", "state": "absent"}], machine, running=False)
    assert problems == [] and result.changes == [("vf", "remove", "removed from the stopped VM")]
    ifaces, networks = spec_lists(apply(machine, result.ops))
    assert [i["name"] for i in ifaces] == ["default"] and [n["name"] for n in networks] == ["default"]
    problems, _r, _m = plan([{"interface": "vf", "state": "absent"}], machine, running=True)
    assert "only bridge" in problems[0]["message"]
    problems, _r, _m = plan([{"interface": "default", "state": "absent"}], machine, running=False)
    assert "primary network" in problems[0]["message"] and "kubevirt_vm_network" in problems[0]["message"]


def vmi_with(ifaces=None, statuses=None, conditions=None, networks=None):
    return {"spec": {"domain": {"devices": {"interfaces": ifaces or []}}, "networks": networks or []},
            "status": {"interfaces": statuses or [], "conditions": conditions or []}}


def test_already_declared_plug_is_pending_until_the_domain_has_it():
    machine = vm()
    vmi = vmi_with([{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}}],
                   [{"name": "net1", "infoSource": "multus-status"}])
    assert hotplug.still_pending(machine, vmi, "net1", "present") == hotplug.PLUG
    assert hotplug.declared_pending(machine, vmi) == [
        ("net1", "plug", "declared, not in the guest yet (VMI infoSource: multus-status)")]
    vmi["status"]["interfaces"][0]["infoSource"] = "domain, multus-status"
    assert hotplug.still_pending(machine, vmi, "net1", "present") is None
    assert hotplug.declared_pending(machine, vmi) == []


def test_already_requested_unplug_is_pending_while_the_vmi_has_it():
    machine = vm(ifaces=[{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}, "state": "absent"}])
    vmi = vmi_with([{"name": "net1", "bridge": {}, "state": "absent"}], [{"name": "net1", "infoSource": "domain"}])
    assert hotplug.declared_pending(machine, vmi) == [("net1", "unplug", "declared absent, still in the VMI")]
    gone = vm(ifaces=[{"name": "default", "masquerade": {}}], networks=[{"name": "default", "pod": {}}])
    assert hotplug.still_pending(gone, vmi_with(), "net1", "absent") is None


def test_declared_pending_ignores_what_is_not_a_hotplug():
    machine = vm(ifaces=[{"name": "default", "masquerade": {}}, {"name": "p", "passtBinding": {}}],
                 networks=[{"name": "default", "pod": {}}, {"name": "p", "multus": {"networkName": "x"}}])
    assert hotplug.declared_pending(machine, vmi_with()) == []


def with_restart(machine, since, message="a non-live-updatable field was changed in the template spec"):
    machine = copy.deepcopy(machine)
    machine["status"] = {"conditions": [{"type": "RestartRequired", "status": "True", "lastTransitionTime": since,
                                         "message": message}]}
    return machine


def test_restart_required_is_ours_only_when_it_transitioned_after_the_write():
    before, after = vm(), with_restart(vm(), "2026-01-01T10:00:05Z")
    assert hotplug.restart_newly_set(before, after)["lastTransitionTime"] == "2026-01-01T10:00:05Z"
    older = with_restart(vm(), "2026-01-01T09:00:00Z")
    assert hotplug.restart_newly_set(older, older) is None          # the condition that was there before
    assert hotplug.restart_newly_set(older, after) is not None      # cleared and set again since
    assert hotplug.restart_newly_set(older, vm()) is None
    text = hotplug.restart_finding(older, hotplug.restart_condition(older))
    assert "already had RestartRequired=True" in text and "2026-01-01T09:00:00Z" in text


def test_network_restart_required_ports_vmliveupdate_restart_go():
    machine = vm()
    same = vmi_with([{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}}],
                    networks=[{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": "br1"}}])
    assert not hotplug.network_restart_required(machine, same)
    plugged = vm(ifaces=spec_lists(machine)[0] + [{"name": "net2", "bridge": {}}],
                 networks=spec_lists(machine)[1] + [{"name": "net2", "multus": {"networkName": "b"}}])
    assert not hotplug.network_restart_required(plugged, same)            # a plug needs no restart
    swapped = copy.deepcopy(machine)
    spec_lists(swapped)[1][1]["multus"]["networkName"] = "br9"
    assert not hotplug.network_restart_required(swapped, same)            # nor a NAD swap
    unplugged = copy.deepcopy(machine)
    spec_lists(unplugged)[0][1]["state"] = "absent"
    assert not hotplug.network_restart_required(unplugged, same)          # nor state: absent
    model = copy.deepcopy(machine)
    spec_lists(model)[0][0]["model"] = "e1000e"
    assert hotplug.network_restart_required(model, same)
    removed = vm(ifaces=spec_lists(machine)[0][:1], networks=spec_lists(machine)[1][:1])
    assert hotplug.network_restart_required(removed, same)


@pytest.mark.parametrize("actions,dynamic,sriov,needed", [
    (["unplug"], False, False, True),      # shouldMigrateOnIfaceUnplug, no dynamic-networks controller
    (["unplug"], True, False, False),
    (["plug"], True, False, False),
    (["plug"], False, False, True),
    (["plug"], True, True, True),
    (["swap"], True, False, True),
    ([], False, False, False),
])
def test_needs_migration(actions, dynamic, sriov, needed):
    assert hotplug.needs_migration(actions, dynamic, sriov) is needed


class KV:
    def __init__(self, methods, eviction=None):
        self.workload_update_methods = methods
        self.configuration = {"evictionStrategy": eviction} if eviction else {}


def migratable(status="True", eviction=None):
    vmi = {"spec": {}, "status": {"conditions": [{"type": "LiveMigratable", "status": status}]}}
    if eviction:
        vmi["spec"]["evictionStrategy"] = eviction
    return vmi


@pytest.mark.parametrize("kv,vmi,outcome", [
    (KV(["LiveMigrate"]), migratable(), "migrate"),
    (KV(["LiveMigrate", "Evict"]), migratable(), "migrate"),
    (KV(["Evict"]), migratable(), "evict"),                         # evictionStrategy None (the default)
    (KV(["LiveMigrate", "Evict"]), migratable("False"), "evict"),
    (KV(["Evict"]), migratable(eviction="LiveMigrate"), "migrate"),  # the eviction becomes an evacuation
    (KV(["Evict"], eviction="LiveMigrateIfPossible"), migratable(), "migrate"),
    (KV(["Evict"], eviction="LiveMigrateIfPossible"), migratable("False"), "evict"),
    (KV(["Evict"]), migratable("False", eviction="LiveMigrate"), "stuck"),
    (KV(["Evict"]), migratable(eviction="External"), "stuck"),
    (KV([]), migratable(), "stuck"),
    (KV(["LiveMigrate"]), migratable("False"), "stuck"),
])
def test_workload_update_outcome(kv, vmi, outcome):
    assert hotplug.workload_update_outcome(kv, vmi)[0] == outcome


def test_resources_injector_present():
    assert not hotplug.resources_injector_present(None)
    assert not hotplug.resources_injector_present([{"metadata": {"name": "istio-sidecar-injector"}}])
    assert hotplug.resources_injector_present([{"metadata": {"name": "network-resources-injector-config"}}])


# ------------------------------------------------ the runner's preflight and wait
class FakeModule:
    check_mode = False
    _diff = False

    def __init__(self, **params):
        self.params = dict(dict(vm="vm1", vm_selector=None, namespace="vms", migrate_if_required=False,
                                restart_if_required=False, dynamic_networks="false", max_concurrency=1, wait=True,
                                wait_timeout=5, wait_sleep=0.01), **params)
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


VM_PATH = VM.path("vms", "vm1")
VMI_PATH = VMI.path("vms", "vm1")


class Cluster(FakeSession):
    """FakeSession holding the VM vm1 of namespace vms, its VMI (none when None), the
    ``nads``, the ``nodes`` and the mutating ``webhooks``.  Read-only unless
    ``writable``: a write request fails the test ("no write expected")."""

    def __init__(self, vm_, vmi, webhooks=(), nads=(), nodes=(), writable=False, failures=None):
        objects = {VM_PATH: vm_}
        if vmi:
            objects[VMI_PATH] = vmi
        objects.update((NAD.path(n["metadata"]["namespace"], n["metadata"]["name"]), n) for n in nads)
        objects.update(("/api/v1/nodes/" + n["metadata"]["name"], n) for n in nodes)
        objects.update((MUTATING_WEBHOOK.path(None, w["metadata"]["name"]), w) for w in webhooks)
        super().__init__(objects, failures=failures)
        self.writable = writable

    @property
    def vm(self):
        return self.objects[VM_PATH]

    def request(self, method, path, body=None, query=None, content_type=None, **kwargs):
        if not self.writable:
            self.calls.append((method, path))
            raise AssertionError("no write expected: %s %s" % (method, path))
        return super().request(method, path, body=body, query=query, content_type=content_type, **kwargs)


def running_vmi(ifaces=None, statuses=None, migratable_=True, extra_conditions=()):
    vmi = vmi_with(ifaces, statuses, [{"type": "LiveMigratable", "status": "True" if migratable_ else "False",
                                      "reason": "InterfaceNotLiveMigratable"}] + list(extra_conditions))
    vmi["metadata"] = {"name": "vm1", "namespace": "vms"}
    vmi["status"]["phase"] = "Running"
    return vmi


def runner_for(cluster, requests, **params):
    from ansible_collections.kubevirt_net.core.plugins.module_utils.hotplug_engine import HotplugEngine
    module = FakeModule(**params)
    return HotplugEngine(module.params, requests, FakeRun(cluster), module.warn), module


class KVInfo(KV):
    def __init__(self, methods, gates_on=(), eviction=None):
        super(KVInfo, self).__init__(methods, eviction)
        self.gates_on = set(gates_on)
        self.cr = {"metadata": {"namespace": "kubevirt", "name": "kubevirt"}}

    def gate_enabled(self, gate):
        return gate in self.gates_on


def preflight(cluster, requests, kv, **params):
    hp, module = runner_for(cluster, requests, **params)
    problems = Problems()
    vmis = dict((v["metadata"]["name"], v) for v in cluster.list(VMI.path("vms")))
    hp.preflight(problems, [cluster.vm], vmis, kv)
    return problems, module, hp


UNPLUG_NET1 = [{"interface": "net1", "state": "absent"}]


@pytest.mark.parametrize("methods,words", [
    ([], "will not start one"),                       # the interface would stay 'absent' for ever
    (["Evict"], "evicts the virt-launcher pod"),      # the guest would be shut down
])
def test_unplug_without_dynamic_networks_runs_the_migration_preflight(methods, words):
    problems, _module, _hp = preflight(Cluster(vm(), running_vmi()), UNPLUG_NET1, KVInfo(methods))
    assert problems and words in problems.items[0]["message"], problems.items


def test_evict_is_accepted_with_restart_if_required_and_live_migrate_passes():
    problems, module, _hp = preflight(Cluster(vm(), running_vmi()), UNPLUG_NET1, KVInfo(["Evict"]),
                                      restart_if_required=True)
    assert not problems and "evicts the virt-launcher pod" in module.warnings[0]
    problems, _module, hp = preflight(Cluster(vm(), running_vmi()), UNPLUG_NET1, KVInfo(["LiveMigrate"]))
    assert not problems and hp._needs == {"vm1": True}
    problems, _module, hp = preflight(Cluster(vm(), running_vmi()), UNPLUG_NET1, KVInfo([]), dynamic_networks="true")
    assert not problems and hp._needs == {"vm1": False}


SRIOV_NAD = {"metadata": {"name": "sriov-a", "namespace": "vms",
                          "annotations": {"k8s.v1.cni.cncf.io/resourceName": "openshift.io/intelnics"}}}
VF_NODE = {"metadata": {"name": "node01"}, "status": {"allocatable": {"openshift.io/intelnics": "8"}}}
BR1 = {"metadata": {"name": "br1", "namespace": "vms"}}
BR2 = {"metadata": {"name": "br2", "namespace": "vms"}}
PLUG_VF = [{"interface": "vf", "network": "sriov-a", "binding": "sriov"}]


@pytest.mark.parametrize("gates,webhooks,refused", [
    (["ExternalNetResourceInjection"], [], True),
    (["ExternalNetResourceInjection"], [{"metadata": {"name": "network-resources-injector-config"}}], False),
    ([], [], False),   # gate disabled: virt-controller requests the VF itself
])
def test_sriov_plug_needs_the_injector_when_external_injection_is_on(gates, webhooks, refused):
    cluster = Cluster(vm(), running_vmi(), webhooks=webhooks, nads=[SRIOV_NAD], nodes=[VF_NODE])
    problems, _module, _hp = preflight(cluster, PLUG_VF, KVInfo(["LiveMigrate"], gates))
    assert bool(problems) is refused, problems.items
    if refused:
        assert "network-resources-injector" in problems.items[0]["message"]


def test_rerun_of_a_declared_plug_waits_for_the_domain_and_fails_on_timeout(monkeypatch):
    declared = [{"interface": "net1", "network": "br1"}]
    half = running_vmi([{"name": "net1", "bridge": {}}], [{"name": "net1", "infoSource": "multus-status"}])
    done = running_vmi([{"name": "net1", "bridge": {}}], [{"name": "net1", "infoSource": "domain, multus-status"}])
    cluster = Cluster(vm(), half, nads=[BR1])
    problems, _module, hp = preflight(cluster, declared, KVInfo(["LiveMigrate"]), dynamic_networks="true")
    assert not problems and hp._pending["vm1"] == [
        ("net1", "plug", "declared, not in the guest yet (VMI infoSource: multus-status)")]
    result = hp.new_result(cluster.vm, hotplug.plan_vm(Problems(), cluster.vm, declared, True), True, True, 0)
    assert result["method"] == "unchanged" and result["pending"] == ["net1"]
    # KubeVirt puts net1 in the domain while the wait sleeps for the first time
    with monkeypatch.context() as patched:
        patched.setattr(hotplug_engine, "Deadline", functools.partial(Deadline, sleep=store_after_sleeps(cluster, VMI_PATH, done)))
        hp.wait({"vm1": result})
    assert not result.get("error") and result["pending"] == [] and "domain" in \
        result["interfaces"][0]["status"]["infoSource"]
    assert cluster.paths("LIST").count(VMI.path("vms")) == 3   # preflight's, then the wait's two
    stuck = Cluster(vm(), half, nads=[BR1])
    _problems, _module, hp = preflight(stuck, declared, KVInfo(["LiveMigrate"]), dynamic_networks="true",
                                       wait_timeout=0.05)
    result = hp.new_result(stuck.vm, hotplug.plan_vm(Problems(), stuck.vm, declared, True), True, True, 0)
    hp.wait({"vm1": result})
    assert "timed out" in result["error"] and "net1 in the domain" in result["error"]


def test_an_older_restart_required_is_a_finding_not_a_reason_to_stop():
    older = with_restart(vm(), "2026-01-01T09:00:00Z")
    plugged = running_vmi([{"name": "net2", "bridge": {}}], [{"name": "net2", "infoSource": "domain"}])
    cluster = Cluster(older, plugged, nads=[BR2])
    requests = [{"interface": "net2", "network": "br2"}]
    _problems, _module, hp = preflight(cluster, requests, KVInfo(["LiveMigrate"]), dynamic_networks="true",
                                       restart_if_required=True)
    result = hp.new_result(older, hotplug.plan_vm(Problems(), older, requests, True), True, True, 0)
    assert "already had RestartRequired=True" in result["findings"][0]
    assert hp.progress(result, older, plugged, []) is True       # done: the plug is in the domain
    assert result["method"] == "live" and not result["restart_required"] and not result.get("restarted")
    newer = with_restart(vm(), "2026-01-01T10:00:00Z")
    result = hp.new_result(older, hotplug.plan_vm(Problems(), older, requests, True), True, True, 0)
    with pytest.raises(AssertionError, match="no write expected: PUT"):   # restart_if_required restarts
        hp.progress(result, newer, plugged, [])


def test_an_already_declared_vf_is_not_refused_for_a_missing_injector():
    # only a new VF needs the injector: a re-run over a VM that already has it stays a no-op
    machine = vm(ifaces=[{"name": "default", "masquerade": {}}, {"name": "vf", "sriov": {}}],
                 networks=[{"name": "default", "pod": {}}, {"name": "vf", "multus": {"networkName": "sriov-a"}}])
    vmi = running_vmi([{"name": "vf", "sriov": {}}], [{"name": "vf", "infoSource": "domain, multus-status"}])
    cluster = Cluster(machine, vmi, nads=[SRIOV_NAD], nodes=[VF_NODE])
    problems, _module, hp = preflight(cluster, PLUG_VF, KVInfo(["LiveMigrate"], ["ExternalNetResourceInjection"]))
    assert not problems and hp._pending == {"vm1": []}
    assert not any("mutatingwebhookconfigurations" in path for _m, path in cluster.calls)


# ------------------------------------------------------------ issue 19 item 5: time bounds, conflicts
def test_the_wait_ends_at_wait_timeout_not_one_poll_later(monkeypatch):
    """wait_timeout 15 with a 4 s poll: the last sleep is cut to 3 s (it took 16 s, one poll more)."""
    clock = Clock(now=0.0)
    monkeypatch.setattr(hotplug_engine, "Deadline", lambda seconds: Deadline(seconds, clock=clock, sleep=clock.sleep))
    monkeypatch.setattr(hotplug_engine.time, "sleep", clock.sleep)
    declared = [{"interface": "net1", "network": "br1"}]
    half = running_vmi([{"name": "net1", "bridge": {}}], [{"name": "net1", "infoSource": "multus-status"}])
    stuck = Cluster(vm(), half, nads=[BR1])
    _problems, _module, hp = preflight(stuck, declared, KVInfo(["LiveMigrate"]), dynamic_networks="true",
                                       wait_timeout=15, wait_sleep=4.0)
    result = hp.new_result(stuck.vm, hotplug.plan_vm(Problems(), stuck.vm, declared, True), True, True, 0)
    hp.wait({"vm1": result})
    assert "timed out after 15s" in result["error"]
    assert clock.slept == [4.0, 4.0, 4.0, 3.0] and clock.now == 15.0
    # every read of the wait ran under its deadline (ApiSession cuts timeouts and retries to it)
    assert stuck.deadlines and all(d is stuck.deadlines[0] for d in stuck.deadlines)


def test_a_lost_race_backs_off_before_reading_again():
    declared = [{"interface": "net2", "network": "br2"}]
    conflict = ApiError("PATCH", VM_PATH, 409, message="the object has been modified")
    cluster = Cluster(vm(), running_vmi(), nads=[BR1, BR2], writable=True,
                      failures={("PATCH", VM_PATH): [conflict, conflict]})
    hp, _module = runner_for(cluster, declared, dynamic_networks="true")
    plan = hotplug.plan_vm(Problems(), cluster.vm, declared, True)
    _after, _applied, written = hp.patch_vm(cluster.vm, plan, True)
    assert cluster.names() == [("PATCH", "vm1"), ("GET", "vm1")] * 2 + [("PATCH", "vm1")]
    assert cluster.conflict_pauses == [1, 2]
    assert written and vmspec.find(vmspec.interfaces_of(cluster.vm), "net2")[1] is not None   # the third PATCH landed


def test_a_lost_answer_after_the_patch_landed_is_this_runs_write_and_is_waited_for():
    """issue 19 item 4: a connection dropped once the write had landed: the read-back shows the
    plug is made; it is reported as this run's (written, the plug plan), not as unchanged."""
    declared = [{"interface": "net2", "network": "br2"}]
    cluster = Cluster(vm(), running_vmi(), nads=[BR1, BR2], writable=True, failures={("PATCH", VM_PATH): ["lost"]})
    plan = hotplug.plan_vm(Problems(), cluster.vm, declared, True)
    landed = jsonpatch.apply_patch(copy.deepcopy(cluster.vm), plan.ops)
    hp, _module = runner_for(cluster, declared, dynamic_networks="true")
    after, applied, written = hp.patch_vm(vm(), plan, True)
    assert written and applied is plan and [n for n, a, _d in applied.changes if a == hotplug.PLUG] == ["net2"]
    assert vmspec.find(vmspec.interfaces_of(after), "net2")[1] is not None
    assert [m for m, _p in cluster.calls] == ["PATCH", "GET"]
    # someone else's change (a 409, then the fresh VM already has it) is not this run's write
    cluster.objects[VM_PATH] = vm()

    def someone_else_plugs_it(session):
        session.objects[VM_PATH] = copy.deepcopy(landed)
        raise ApiError("PATCH", VM_PATH, 409, message="the object has been modified")
    cluster.failures[("PATCH", VM_PATH)] = [someone_else_plugs_it]
    _after, applied, written = hp.patch_vm(vm(), plan, True)
    assert not written and not applied.changed
    assert [m for m, _p in cluster.calls] == ["PATCH", "GET"] * 2   # read again, nothing written over theirs


def test_the_whole_planned_template_goes_through_the_admission_mirror():
    """virt-api judges the whole template on every VM update (vms-admitter.go ->
    pkg/network/admitter): a VM whose pod network is bridged on a cluster that no
    longer permits it gets its hot-plug refused before the PATCH, naming the field."""
    from ansible_collections.kubevirt_net.core.plugins.module_utils.hotplug_runner import Hotplug
    from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo

    def kubevirt(permit):
        return KubeVirtInfo({"spec": {"configuration": {"network": {"permitBridgeInterfaceOnPodNetwork": permit}}},
                             "status": {"observedKubeVirtVersion": "v1.9.0"}})
    bridged = vm(ifaces=[{"name": "default", "bridge": {}}], networks=[{"name": "default", "pod": {}}])
    request = {"interface": "net1", "network": "br1", "binding": "bridge", "state": "present"}
    flow = Hotplug.__new__(Hotplug)
    flow.namespace = "vms"
    for permit, refused in ((False, True), (True, False)):
        problems = Problems()
        _items, result, _machine = plan([request], machine=bridged)
        flow.admit(problems, [bridged], {"vm1": (result, True)}, kubevirt(permit))
        fields = [p["field"] for p in problems.items]
        assert ("spec.template.spec.domain.devices.interfaces[0].name" in fields) is refused, problems.render()
    # nothing planned, nothing judged (the admitter runs only on an update)
    problems = Problems()
    _items, result, _machine = plan([dict(request, state="absent", interface="gone")], machine=bridged)
    flow.admit(problems, [bridged], {"vm1": (result, True)}, kubevirt(False))
    assert problems.items == []
