import copy

import jsonpatch
import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.vm_network_runner import TemplateWriter, guarded_patch

PATH = "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines/vm1"


class FakeSession(object):
    """A VM store that answers GET/PATCH like the API server (JSON Patch, generation bumps),
    with scripted failures."""

    def __init__(self, obj, failures=()):
        self.obj = obj
        self.failures = list(failures)
        self.calls = []

    def get(self, path):
        self.calls.append(("GET", path))
        return copy.deepcopy(self.obj)

    def request(self, method, path, body=None, content_type=None):
        self.calls.append((method, path))
        if self.failures:
            failure = self.failures.pop(0)
            if callable(failure):
                failure(self)
            else:
                raise ApiError(method, path, failure)
        try:
            patched = jsonpatch.apply_patch(copy.deepcopy(self.obj), body)
        except jsonpatch.JsonPatchTestFailed:
            raise ApiError(method, path, 422, message="test failed")
        patched["metadata"]["generation"] += 1
        self.obj = patched
        return copy.deepcopy(patched)


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
        session.obj["spec"]["template"]["spec"]["subdomain"] = "theirs"
        session.obj["metadata"]["generation"] += 1
    session = FakeSession(vm(), failures=[someone_else])
    obj, ops = guarded_patch(session, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert obj["spec"]["template"]["spec"] == {"domain": {"devices": {}}, "hostname": "h", "subdomain": "theirs"}
    assert [c[0] for c in session.calls] == ["PATCH", "GET", "PATCH"] and ops[0]["value"] == 2


def test_a_refusal_without_a_concurrent_change_is_raised():
    session = FakeSession(vm(), failures=[422])
    with pytest.raises(ApiError) as err:
        guarded_patch(session, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert err.value.status == 422 and [c[0] for c in session.calls] == ["PATCH", "GET"]


def test_a_lost_answer_is_verified_before_repeating():
    def lands_then_connection_drops(session):
        session.obj["spec"]["template"]["spec"]["hostname"] = "h"
        session.obj["metadata"]["generation"] += 1
        raise ApiError("PATCH", PATH, None, message="connection reset")
    session = FakeSession(vm(), failures=[lands_then_connection_drops])
    obj, ops = guarded_patch(session, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert obj["spec"]["template"]["spec"]["hostname"] == "h" and ops == []
    assert [c[0] for c in session.calls] == ["PATCH", "GET"]


def test_other_errors_are_not_retried_and_gives_up_after_bounded_tries():
    with pytest.raises(ApiError) as err:
        guarded_patch(FakeSession(vm(), failures=[403]), PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert err.value.status == 403

    def always_moving(session):
        session.obj["metadata"]["generation"] += 1
        raise ApiError("PATCH", PATH, 409)
    session = FakeSession(vm(), failures=[always_moving] * 10)
    with pytest.raises(ApiError) as err:
        guarded_patch(session, PATH, vm(), set_hostname("h"), "VirtualMachine")
    assert "gave up after 5 tries" in str(err.value)


def test_observe_waits_for_the_controller_to_see_the_generation():
    states = [{"status": {"desiredGeneration": 1}}, {"status": {"desiredGeneration": 3, "conditions": [
        {"type": "RestartRequired", "status": "True"}]}}]

    class Reads(object):
        def get(self, path):
            return dict(states.pop(0) if len(states) > 1 else states[0], metadata={"generation": 3})
    slept = []
    writer = TemplateWriter(Reads(), "vms", wait_sleep=0.5, sleep=slept.append)
    seen = writer.observe("vm1", 3, deadline=float("inf"))
    assert seen["status"]["desiredGeneration"] == 3 and slept == [0.5]
    assert writer.observe("vm1", 4, deadline=0) is None


def test_observe_without_generation_tracking_takes_the_expected_outcome_as_signal():
    answers = [{"status": {}}, {"status": {"conditions": [{"type": "RestartRequired", "status": "True"}]}}]

    class Reads(object):
        def get(self, path):
            return answers.pop(0) if len(answers) > 1 else answers[0]
    writer = TemplateWriter(Reads(), "vms", wait_sleep=0.1, sleep=lambda _s: None)
    assert writer.observe("vm1", 5, deadline=float("inf"), expect_restart=False) == {"status": {}}
    seen = writer.observe("vm1", 5, deadline=float("inf"), expect_restart=True)
    assert seen["status"]["conditions"][0]["type"] == "RestartRequired"
    answers[:] = [{"status": {}}]
    assert writer.observe("vm1", 5, deadline=0, expect_restart=True) is None and writer.last == {"status": {}}
