import copy
import functools

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import hotplug_engine
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import KUBEVIRT, NAD, VMI
from ansible_collections.kubevirt_net.core.plugins.module_utils.writes import TemplateWriter, guarded_patch
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from tests.unit.plugins.module_utils.session_double import Done, FakeRun, FakeSession, store_after_sleeps

PATH = "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines/vm1"


def session_with(obj, failures=()):
    """The shared FakeSession holding the VM at PATH; ``failures`` (a status, an
    exception or a callable) are served to its PATCHes in turn."""
    return FakeSession({PATH: obj}, failures={("PATCH", PATH): [
        ApiError("PATCH", PATH, f) if isinstance(f, int) else f for f in failures]})


def stored(session):
    return session.objects[PATH]


def vm(generation=1, hostname=None):
    spec = {"domain": {"devices": {}}}
    if hostname:
        spec["hostname"] = hostname
    return {"metadata": {"name": "vm1", "generation": generation}, "spec": {"template": {"spec": spec}}}


def set_hostname(value):
    def build(obj):
        if obj["spec"]["template"]["spec"].get("hostname") == value:
            return []
        return [{"op": "test", "path": "/metadata/generation", "value": obj["metadata"]["generation"]},
                {"op": "add", "path": "/spec/template/spec/hostname", "value": value}]
    return build


def test_a_concurrent_spec_change_is_read_again_and_replanned():
    def someone_else(session):
        stored(session)["spec"]["template"]["spec"]["subdomain"] = "theirs"
        stored(session)["metadata"]["generation"] += 1
    session = session_with(vm(), failures=[someone_else])
    obj, ops = guarded_patch(session, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert obj["spec"]["template"]["spec"] == {"domain": {"devices": {}}, "hostname": "h", "subdomain": "theirs"}
    assert [c[0] for c in session.calls] == ["PATCH", "GET", "PATCH"] and ops[0]["value"] == 2


def test_a_refusal_without_a_concurrent_change_is_raised():
    session = session_with(vm(), failures=[422])
    with pytest.raises(ApiError) as err:
        guarded_patch(session, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert err.value.status == 422 and [c[0] for c in session.calls] == ["PATCH", "GET"]


def test_a_lost_answer_is_verified_before_repeating_and_counts_as_this_runs_write():
    def lands_then_connection_drops(session):
        stored(session)["spec"]["template"]["spec"]["hostname"] = "h"
        stored(session)["metadata"]["generation"] += 1
        raise ApiError("PATCH", PATH, None, message="connection reset")
    session = session_with(vm(), failures=[lands_then_connection_drops])
    done = guarded_patch(session, PATH, vm(), set_hostname("h"), "VirtualMachine")
    # issue 19 item 4: the read-back confirms the write landed: it is this run's, not "unchanged"
    assert done.obj["spec"]["template"]["spec"]["hostname"] == "h" and done.written and done.lost_answer
    assert done.ops == set_hostname("h")(vm())
    assert [c[0] for c in session.calls] == ["PATCH", "GET"]


def test_a_change_someone_else_made_is_not_this_runs_write():
    def someone_else_sets_it(session):
        stored(session)["spec"]["template"]["spec"]["hostname"] = "h"
        stored(session)["metadata"]["generation"] += 1
        raise ApiError("PATCH", PATH, 409, message="the object has been modified")
    session = session_with(vm(), failures=[someone_else_sets_it])
    done = guarded_patch(session, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert not done.written and done.ops == [] and done.obj["spec"]["template"]["spec"]["hostname"] == "h"


def test_other_errors_are_not_retried_and_gives_up_after_bounded_tries():
    with pytest.raises(ApiError) as err:
        guarded_patch(session_with(vm(), failures=[403]), PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert err.value.status == 403

    def always_moving(session):
        stored(session)["metadata"]["generation"] += 1
        raise ApiError("PATCH", PATH, 409)
    session = session_with(vm(), failures=[always_moving] * 10)
    with pytest.raises(ApiError) as err:
        guarded_patch(session, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert "gave up after 5 tries" in str(err.value)


def test_observe_waits_for_the_controller_to_see_the_generation():
    synced = {"metadata": {"name": "vm1", "generation": 3}, "status": {"desiredGeneration": 3, "conditions": [
        {"type": "RestartRequired", "status": "True"}]}}
    session = FakeSession({PATH: dict(synced, status={"desiredGeneration": 1})})
    slept = []

    def controller_syncs(seconds):   # while the writer sleeps, KubeVirt's VM controller sees generation 3
        slept.append(seconds)
        session.objects[PATH] = copy.deepcopy(synced)
    writer = TemplateWriter(session, "vms", wait_sleep=0.5, sleep=controller_syncs)
    seen = writer.observe("vm1", 3, deadline=Deadline(3600))
    assert seen["status"]["desiredGeneration"] == 3 and slept == [0.5]
    assert session.calls == [("GET", PATH)] * 2
    assert writer.observe("vm1", 4, deadline=Deadline(0)) is None


def test_observe_without_generation_tracking_takes_the_expected_outcome_as_signal():
    restart = {"status": {"conditions": [{"type": "RestartRequired", "status": "True"}]}}
    session = FakeSession({PATH: {"status": {}}})

    def condition_set(_seconds):   # while the writer sleeps, the VM controller sets RestartRequired
        session.objects[PATH] = copy.deepcopy(restart)
    writer = TemplateWriter(session, "vms", wait_sleep=0.1, sleep=condition_set)
    assert writer.observe("vm1", 5, deadline=Deadline(3600), expect_restart=False) == {"status": {}}
    seen = writer.observe("vm1", 5, deadline=Deadline(3600), expect_restart=True)
    assert seen["status"]["conditions"][0]["type"] == "RestartRequired"
    assert session.calls == [("GET", PATH)] * 3   # the second observe waited for the condition
    session.objects[PATH] = {"status": {}}
    assert writer.observe("vm1", 5, deadline=Deadline(0), expect_restart=True) is None and writer.last == {"status": {}}


# ------------------------------------------- issue 18 item 5, issue 19 item 2: the module's flow
KUBEVIRT_CR = {"metadata": {"name": "kubevirt", "namespace": "kubevirt"},
               "spec": {"workloadUpdateStrategy": {"workloadUpdateMethods": ["LiveMigrate"]}},
               "status": {"observedKubeVirtVersion": "v1.9.0"}}
VMI_PATH = VMI.path("vms", "vm1")


def cluster_of(vm_, vmi):
    """What kubevirt_vm_network reads: the KubeVirt CR, the NAD br1 of namespace vms, the VM vm1 and its VMI."""
    nad = {"metadata": {"name": "br1", "namespace": "vms"}}
    return FakeSession({PATH: vm_, VMI_PATH: vmi, NAD.path("vms", "br1"): nad}, lists={KUBEVIRT.path(): [KUBEVIRT_CR]})


class Module:
    check_mode = False
    _diff = False

    def __init__(self, **params):
        self.params = dict(dict(vm="vm1", namespace="vms", state="merged", restart=False, migrate_if_required=False,
                                dynamic_networks="true", wait=True, wait_timeout=5, wait_sleep=0.01), **params)
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def running_vm(extra_status=None):
    machine = {"metadata": {"name": "vm1", "namespace": "vms", "generation": 2, "resourceVersion": "7"},
               "spec": {"runStrategy": "Always", "template": {"spec": {
                   "domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}},
                                                         {"name": "net1", "bridge": {}}]}},
                   "networks": [{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": "br1"}}]}}},
               "status": extra_status or {}}
    return machine


def vmi_of(machine, info_source, memory=None):
    spec = copy.deepcopy(machine["spec"]["template"]["spec"])
    return {"metadata": {"name": "vm1", "namespace": "vms", "uid": "u1"},
            "spec": spec, "status": {"phase": "Running", "interfaces": [
                {"name": "default", "infoSource": "domain, guest-agent"},
                {"name": "net1", "infoSource": info_source}],
                "conditions": [{"type": "LiveMigratable", "status": "True"}]}}


def converge(cluster, **params):
    from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network_runner as runner_mod
    params.setdefault("config", {"interfaces": [{"name": "net1", "network": "br1"}]})
    module = Module(**params)
    flow = runner_mod.VmNetwork.__new__(runner_mod.VmNetwork)
    flow.module, flow.params, flow.namespace, flow.name = module, module.params, "vms", "vm1"
    flow.state, flow.config, flow.runner, flow.patches, flow._before = "merged", module.params["config"], \
        FakeRun(cluster), [], None
    with pytest.raises(Done) as done:
        flow.converge()
    assert [c for c in cluster.calls if c[0] not in ("GET", "LIST")] == []   # this flow writes nothing here
    return done.value, module


def test_a_declared_interface_the_vmi_lacks_is_pending_not_done(monkeypatch):
    machine = running_vm()
    cluster = cluster_of(machine, vmi_of(machine, "multus-status"))
    out, module = converge(cluster, wait=False)
    assert not out.failed and not out.result["changed"]
    assert [(p["name"], p["action"]) for p in out.result["pending_hotplug"]] == [("net1", "plug")]
    assert any("has not finished interface net1" in w for w in module.warnings)
    stuck, _module = converge(cluster_of(machine, vmi_of(machine, "multus-status")), wait_timeout=0.05)
    assert stuck.failed and "net1 in the domain" in stuck.result["msg"]
    # KubeVirt puts net1 in the domain while the hot-plug wait sleeps for the second time
    cluster = cluster_of(machine, vmi_of(machine, "multus-status"))
    sleep = store_after_sleeps(cluster, VMI_PATH, vmi_of(machine, "domain, multus-status"), after=2)
    monkeypatch.setattr(hotplug_engine, "Deadline", functools.partial(Deadline, sleep=sleep))
    waited, _module = converge(cluster)
    assert not waited.failed and not waited.result["changed"] and waited.result["pending_hotplug"] == []
    assert cluster.paths("LIST").count(VMI.path("vms")) == 3   # read until the interface was in the domain


def test_an_older_unrelated_restart_required_is_a_finding_and_restart_true_does_not_restart():
    cond = {"type": "RestartRequired", "status": "True", "lastTransitionTime": "2026-01-01T09:00:00Z",
            "message": "a non-live-updatable field was changed in the template spec"}
    machine = running_vm({"conditions": [cond]})
    cluster = cluster_of(machine, vmi_of(machine, "domain, multus-status"))   # the memory changed, not the network
    out, module = converge(cluster, restart=True)
    assert not out.failed and not out.result["changed"] and not out.result["restart_required"]
    assert "already had RestartRequired=True" in out.result["findings"][0]
    assert module.warnings == out.result["findings"]
    # a RestartRequired that the declared network explains (the VMI still has the old model) is acted on
    modelled = running_vm({"conditions": [cond]})
    modelled["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1]["model"] = "e1000e"
    vmi = vmi_of(running_vm(), "domain, multus-status")
    out, _module = converge(cluster_of(modelled, vmi), wait=False, config={"interfaces": [
        {"name": "net1", "network": "br1", "model": "e1000e"}]})
    assert out.result["restart_required"] and out.result["findings"] == []


# ------------------------------------------------------------ issue 19 item 5: time bounds, conflicts
def test_a_lost_race_backs_off_before_the_object_is_read_again():
    def always_moving(session):
        stored(session)["metadata"]["generation"] += 1
        raise ApiError("PATCH", PATH, 409)
    session = session_with(vm(), failures=[always_moving] * 2)
    guarded_patch(session, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert session.conflict_pauses == [1, 2]
    lost = session_with(vm(), failures=[ApiError("PATCH", PATH, None)])   # the answer lost, the write not applied
    guarded_patch(lost, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert not getattr(lost, "conflict_pauses", [])  # a lost answer is no contention: read back at once


def test_observe_and_wait_restarted_end_at_the_deadline():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    running = {"metadata": {"uid": "old"}, "status": {"desiredGeneration": 1, "phase": "Running"}}
    reads = FakeSession({PATH: running, VMI.path("vms", "vm1"): running})   # nothing changes
    writer = TemplateWriter(reads, "vms", wait_sleep=4.0, sleep=sleep)
    assert writer.observe("vm1", 2, deadline=Deadline(15, clock=lambda: now[0])) is None
    assert slept == [4.0, 4.0, 4.0, 3.0] and now[0] == 15.0 and reads.deadlines
    assert reads.calls == [("GET", PATH)] * 5
    slept[:], now[0] = [], 0.0
    assert writer.wait_restarted("vm1", "old", Deadline(6, clock=lambda: now[0])) is None
    assert slept == [4.0, 2.0] and now[0] == 6.0
    assert reads.calls[5:] == [("GET", VMI.path("vms", "vm1")), ("GET", PATH)] * 3
