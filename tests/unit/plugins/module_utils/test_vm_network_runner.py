import copy

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.writes import TemplateWriter, guarded_patch
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from tests.unit.plugins.module_utils.session_double import Done, FakeRun, FakeSession, TimeBounds

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
    states = [{"status": {"desiredGeneration": 1}}, {"status": {"desiredGeneration": 3, "conditions": [
        {"type": "RestartRequired", "status": "True"}]}}]

    class Reads(TimeBounds):
        def get(self, path):
            return dict(states.pop(0) if len(states) > 1 else states[0], metadata={"generation": 3})
    slept = []
    writer = TemplateWriter(Reads(), "vms", wait_sleep=0.5, sleep=slept.append)
    seen = writer.observe("vm1", 3, deadline=Deadline(3600))
    assert seen["status"]["desiredGeneration"] == 3 and slept == [0.5]
    assert writer.observe("vm1", 4, deadline=Deadline(0)) is None


def test_observe_without_generation_tracking_takes_the_expected_outcome_as_signal():
    answers = [{"status": {}}, {"status": {"conditions": [{"type": "RestartRequired", "status": "True"}]}}]

    class Reads(TimeBounds):
        def get(self, path):
            return answers.pop(0) if len(answers) > 1 else answers[0]
    writer = TemplateWriter(Reads(), "vms", wait_sleep=0.1, sleep=lambda _s: None)
    assert writer.observe("vm1", 5, deadline=Deadline(3600), expect_restart=False) == {"status": {}}
    seen = writer.observe("vm1", 5, deadline=Deadline(3600), expect_restart=True)
    assert seen["status"]["conditions"][0]["type"] == "RestartRequired"
    answers[:] = [{"status": {}}]
    assert writer.observe("vm1", 5, deadline=Deadline(0), expect_restart=True) is None and writer.last == {"status": {}}


# ------------------------------------------- issue 18 item 5, issue 19 item 2: the module's flow
class Cluster(TimeBounds):
    """What kubevirt_vm_network reads; ``vmis`` is served in turn (the last one repeats). Any write fails the test."""

    def __init__(self, vm_, vmis):
        self.vm, self.vmis = vm_, list(vmis)
        self.writes = []

    def _vmi(self):
        return copy.deepcopy(self.vmis.pop(0) if len(self.vmis) > 1 else self.vmis[0])

    def list(self, path, label_selector=None, **_kw):
        if "/kubevirts" in path:
            return [{"metadata": {"name": "kubevirt", "namespace": "kubevirt"},
                     "spec": {"workloadUpdateStrategy": {"workloadUpdateMethods": ["LiveMigrate"]}},
                     "status": {"observedKubeVirtVersion": "v1.9.0"}}]
        if "network-attachment-definitions" in path:
            return [{"metadata": {"name": "br1", "namespace": "vms"}}]
        if "virtualmachineinstances" in path and "migrations" not in path:
            return [self._vmi()]
        if path.endswith("/virtualmachines"):
            return [copy.deepcopy(self.vm)]
        return []

    def get(self, path):
        if "/virtualmachineinstances/" in path:
            return self._vmi()
        return copy.deepcopy(self.vm)

    def request(self, method, path, body=None, content_type=None):
        self.writes.append((method, path))
        raise AssertionError("unexpected write %s %s" % (method, path))


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
    return done.value, module


def test_a_declared_interface_the_vmi_lacks_is_pending_not_done():
    machine = running_vm()
    cluster = Cluster(machine, [vmi_of(machine, "multus-status")])
    out, module = converge(cluster, wait=False)
    assert not out.failed and not out.result["changed"]
    assert [(p["name"], p["action"]) for p in out.result["pending_hotplug"]] == [("net1", "plug")]
    assert any("has not finished interface net1" in w for w in module.warnings) and cluster.writes == []
    stuck, _module = converge(Cluster(machine, [vmi_of(machine, "multus-status")]), wait_timeout=0.05)
    assert stuck.failed and "net1 in the domain" in stuck.result["msg"]
    waited, _module = converge(Cluster(machine, [vmi_of(machine, "multus-status")] * 3 +
                                       [vmi_of(machine, "domain, multus-status")]))
    assert not waited.failed and not waited.result["changed"] and waited.result["pending_hotplug"] == []


def test_an_older_unrelated_restart_required_is_a_finding_and_restart_true_does_not_restart():
    cond = {"type": "RestartRequired", "status": "True", "lastTransitionTime": "2026-01-01T09:00:00Z",
            "message": "a non-live-updatable field was changed in the template spec"}
    machine = running_vm({"conditions": [cond]})
    cluster = Cluster(machine, [vmi_of(machine, "domain, multus-status")])   # the memory changed, not the network
    out, module = converge(cluster, restart=True)
    assert not out.failed and not out.result["changed"] and not out.result["restart_required"]
    assert "already had RestartRequired=True" in out.result["findings"][0] and cluster.writes == []
    assert module.warnings == out.result["findings"]
    # a RestartRequired that the declared network explains (the VMI still has the old model) is acted on
    modelled = running_vm({"conditions": [cond]})
    modelled["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1]["model"] = "e1000e"
    vmi = vmi_of(running_vm(), "domain, multus-status")
    out, _module = converge(Cluster(modelled, [vmi]), wait=False, config={"interfaces": [
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
    lost = session_with(vm(), failures=[lambda s: (_item for _item in ()).throw(ApiError("PATCH", PATH, None))])
    guarded_patch(lost, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert not getattr(lost, "conflict_pauses", [])  # a lost answer is no contention: read back at once


def test_observe_and_wait_restarted_end_at_the_deadline():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    class Reads(TimeBounds):
        def get(self, path):
            return {"metadata": {"uid": "old"}, "status": {"desiredGeneration": 1, "phase": "Running"}}
    reads = Reads()
    writer = TemplateWriter(reads, "vms", wait_sleep=4.0, sleep=sleep)
    assert writer.observe("vm1", 2, deadline=Deadline(15, clock=lambda: now[0])) is None
    assert slept == [4.0, 4.0, 4.0, 3.0] and now[0] == 15.0 and reads.deadlines
    slept[:], now[0] = [], 0.0
    assert writer.wait_restarted("vm1", "old", Deadline(6, clock=lambda: now[0])) is None
    assert slept == [4.0, 2.0] and now[0] == 6.0
