"""clone_progress.py and Cloner.progress: how far a target's clone got (issue 19 item 2)."""

import types

from ansible_collections.kubevirt_net.core.plugins.module_utils import clone, clone_progress, clone_runner
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import MANAGED_BY_LABEL, MANAGED_BY_VALUE, VM_CLONE
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from tests.unit.plugins.module_utils.session_double import Clock, FakeSession


def vm_clone(name, phase, digest="d1", target="web-1", created="2026-12-02T10:00:00Z"):
    return {"metadata": {"name": name, "creationTimestamp": created, "annotations": {clone.CLONE_DIGEST: digest},
                         "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}},
            "spec": {"source": {"name": "golden"}, "target": {"name": target}},
            "status": {"phase": phase} if phase else {}}


def test_the_newest_unfinished_clone_of_the_target_is_found():
    clones = [vm_clone("a", "Succeeded", created="1"), vm_clone("c", "RestoreInProgress", created="3"),
              vm_clone("b", None, created="2"), vm_clone("x", None, target="other", created="4")]
    mine = clone_progress.of_target(clones, "golden", "web-1")
    assert [c["metadata"]["name"] for c in mine] == ["a", "b", "c"]
    assert clone_progress.unfinished(mine)["metadata"]["name"] == "c"
    assert clone_progress.unfinished([vm_clone("a", "Succeeded"), vm_clone("f", "Failed")]) is None


def test_same_overrides_by_annotation_or_by_the_identity_patch():
    assert clone_progress.same_overrides(vm_clone("a", None, digest="d1"), "d1", clone.CLONE_DIGEST)
    assert not clone_progress.same_overrides(vm_clone("a", None, digest="d2"), "d1", clone.CLONE_DIGEST)
    patches = [clone.encode_patch(op) for op in clone.identity_patches("golden", "d1")]
    old = {"metadata": {"name": "a"}, "spec": {"patches": patches}}
    assert clone_progress.same_overrides(old, "d1", clone.CLONE_DIGEST)
    assert not clone_progress.same_overrides(old, "d9", clone.CLONE_DIGEST)


def test_missing_after_clone_steps():
    post = {"metadata": {"labels": {"app": "web-1"}}}
    halted = {"metadata": {"labels": {"app": "web-1"}}, "spec": {"runStrategy": "Halted"}}
    assert clone_progress.missing_steps(halted, post, False, True, []) == []
    assert clone_progress.missing_steps(halted, post, True, True, [vm_clone("a", "Succeeded")]) == ["start", "cleanup"]
    unlabelled = {"metadata": {}, "spec": {"runStrategy": "Always"}}
    assert clone_progress.missing_steps(unlabelled, post, True, False, [vm_clone("a", "Succeeded")]) == [
        "post_clone_patch"]
    assert clone_progress.is_stopped({"spec": {"running": False}})
    assert not clone_progress.is_stopped({"spec": {"runStrategy": "Manual"}, "status": {"printableStatus": "Stopped"}})
    assert not clone_progress.is_stopped({"spec": {"runStrategy": "Always"}})


def cloner(clones, on_request=None, **params):
    """A Cloner whose API server holds the VirtualMachineClones ``clones`` (in namespace vms)."""
    session = FakeSession(dict((VM_CLONE.path("vms", c["metadata"]["name"]), c) for c in clones),
                          on_request=on_request)
    module = types.SimpleNamespace(params=dict({"namespace": "vms", "source": "golden", "start": False,
                                                "cleanup": True}, **params))
    c = clone_runner.Cloner(module, {})
    c.runner._session = session  # pylint: disable=protected-access
    return c


def plan(method, post=None):
    return {"name": "web-1", "method": method, "digest": "d1", "api": VM_CLONE, "post": post or {}}


def test_an_unfinished_clone_is_resumed_not_created_again():
    plans = [plan("create", post={"metadata": {"labels": {"a": "b"}}})]
    problems = Problems()
    cloner([vm_clone("old", "SnapshotInProgress")]).progress(problems, plans, {"web-1": None})
    assert problems.items == [] and plans[0]["method"] == "resume" and plans[0]["clone"] == "old"
    assert plans[0]["steps"] == ["clone", "post_clone_patch", "cleanup"]


def test_an_unfinished_clone_with_other_overrides_is_refused():
    problems = Problems()
    cloner([vm_clone("old", None, digest="zz")]).progress(problems, [plan("create")], {"web-1": None})
    assert problems.items[0]["field"] == "name" and "has not finished (phase unset)" in problems.items[0]["message"]


def test_a_finished_clone_is_unchanged_only_with_every_step_in_place():
    vm = {"metadata": {"labels": {}}, "spec": {"runStrategy": "Halted"}}
    plans = [plan("unchanged", post={"metadata": {"labels": {"a": "b"}}})]
    cloner([vm_clone("done", "Succeeded")]).progress(Problems(), plans, {"web-1": vm})
    assert plans[0]["method"] == "complete" and plans[0]["steps"] == ["post_clone_patch", "cleanup"]
    assert plans[0]["finished"] == ["done"]
    vm["metadata"]["labels"] = {"a": "b"}
    plans = [plan("unchanged", post={"metadata": {"labels": {"a": "b"}}})]
    cloner([]).progress(Problems(), plans, {"web-1": vm})
    assert plans[0]["method"] == "unchanged"


def test_an_unfinished_clone_that_did_not_make_the_existing_target_is_a_stray():
    """A duplicate (a late POST): its restore is refused as the target exists; it is not followed."""
    made = {"metadata": {"labels": {}, "annotations": {clone.LAST_RESTORE: "restore-abc-uid-1"}},
            "spec": {"runStrategy": "Halted"}}
    mine = dict(vm_clone("first", "CreatingTargetVM"), status={"phase": "CreatingTargetVM",
                                                               "restoreName": "restore-abc"})
    assert clone_progress.made_target(mine, made, clone.LAST_RESTORE)
    plans = [plan("unchanged")]
    cloner([mine]).progress(Problems(), plans, {"web-1": made})
    assert plans[0]["method"] == "resume" and plans[0]["clone"] == "first"

    stray = dict(vm_clone("late", "RestoreInProgress"), status={"phase": "RestoreInProgress",
                                                                "restoreName": "restore-late"})
    warnings = []
    c = cloner([stray])
    c.module.warn = warnings.append
    plans = [plan("unchanged")]
    c.progress(Problems(), plans, {"web-1": made})
    assert plans[0]["method"] == "unchanged" and "never will" in warnings[0]


def test_every_clone_of_a_task_waits_within_one_wait_timeout():
    """issue 19 item 5: a batch beyond max_concurrency used to wait about ceil(N/c) x wait_timeout,
    each wait_clone starting a fresh deadline."""
    from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline

    clock = Clock(now=0.0)

    def read_takes_a_second(_session, method, path):
        if (method, path) == ("LIST", VM_CLONE.path("vms")):
            clock.now += 1.0

    c = cloner([vm_clone("c1", "RestoreInProgress"), vm_clone("c2", "RestoreInProgress")],
               on_request=read_takes_a_second, wait_timeout=10, wait_sleep=1.0)
    c._deadline = Deadline(10, clock=clock, sleep=clock.sleep)  # pylint: disable=protected-access
    assert c.task_deadline() is c.task_deadline()
    results = []
    for name in ("c1", "c2"):
        result = {"clone": name, "phases": [], "pending": ["clone"]}
        c.wait_clone(plan("create"), result)
        results.append(result)
    assert all("timed out after 10s" in r["error"] for r in results)
    # the first wait used the task's 10 s; the second had none left: it looked once more and stopped
    assert clock.now <= 12.5, clock.now
