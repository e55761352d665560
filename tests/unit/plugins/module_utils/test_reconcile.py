"""The reconcile engine against a fake API session (no network)."""

import copy

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import (
    CREATE, DELETE, UNCHANGED, UPDATE, Executor, Kind, diff_of, plan)
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import ResourceType
from tests.unit.plugins.module_utils.session_double import FakeSession

THING = ResourceType("example.io", "v1", "things", "Thing")


class ThingKind(Kind):
    def view(self, obj):
        return {"name": obj["metadata"]["name"], "spec": obj.get("spec")}

    def patch(self, desired, current):
        return {"spec": desired["spec"]}


def thing(name, value, rv=None):
    obj = {"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {"name": name, "namespace": "ns"},
           "spec": {"value": value}}
    if rv:
        obj["metadata"].update(resourceVersion=rv, uid="uid-" + name)
    return obj


def at(name):
    return THING.path("ns", name)


def fake(objects=(), failures=None):
    """The shared FakeSession holding ``objects`` (Things in namespace ns)."""
    return FakeSession(dict((at(o["metadata"]["name"]), o) for o in objects), failures=failures)


def stored(session, name):
    return session.objects.get(at(name))


def run(session, desired, deletions=(), check_mode=False):
    existing = dict((("ns", FakeSession.name_of(p)), copy.deepcopy(o)) for p, o in session.objects.items())
    actions = plan(ThingKind(THING), desired, existing, deletions)
    return Executor(session, ThingKind(THING), check_mode=check_mode).run(actions)


def test_plan_and_apply_create_update_unchanged_delete():
    session = fake([thing("same", 1, "1"), thing("old", 1, "2"), thing("gone", 1, "3")])
    results = run(session, [thing("same", 1), thing("old", 2), thing("new", 3)],
                  deletions=[stored(session, "gone")])
    assert [r["method"] for r in results] == [UNCHANGED, UPDATE, CREATE, DELETE]
    assert stored(session, "old")["spec"] == {"value": 2} and stored(session, "gone") is None
    writes = sorted(r for r in session.names() if r[0] != "GET")
    assert writes == [("DELETE", "gone"), ("PATCH", "old"), ("POST", "new")]


def test_second_run_makes_no_request_beyond_the_plan():
    session = fake([thing("a", 1, "1")])
    results = run(session, [thing("a", 1)])
    assert results[0]["method"] == UNCHANGED and session.names() == []


def test_check_mode_sends_nothing_and_reports_the_change():
    session = fake([thing("a", 1, "1"), thing("b", 1, "2")])
    results = run(session, [thing("a", 2), thing("c", 1)], deletions=[stored(session, "b")], check_mode=True)
    assert [r["method"] for r in results] == [UPDATE, CREATE, DELETE]
    assert session.names() == []
    assert diff_of(results)["after"]["ns/a"] == {"name": "a", "spec": {"value": 2}}


def test_conflict_reads_again_and_reapplies():
    session = fake([thing("a", 1, "1")], failures={("PATCH", "a"): ["race"]})
    results = run(session, [thing("a", 2)])
    assert results[0]["method"] == UPDATE and stored(session, "a")["spec"] == {"value": 2}
    assert session.names() == [("PATCH", "a"), ("GET", "a"), ("PATCH", "a")]
    assert results[0]["before"]["spec"] == {"value": "theirs"}
    assert session.conflict_pauses == [1]  # jittered back-off before the read (issue 19 item 5)


def test_lost_answer_of_a_landed_write_is_not_repeated():
    session = fake([thing("a", 1, "1")], failures={("PATCH", "a"): ["lost"], ("POST", "b"): ["lost"]})
    results = run(session, [thing("a", 2), thing("b", 5)])
    assert [r["method"] for r in results] == [UPDATE, CREATE]
    assert session.names().count(("PATCH", "a")) == 1 and session.names().count(("POST", "b")) == 1


def test_create_that_someone_else_won_becomes_update_or_unchanged():
    session = fake([], failures={("POST", "a"): [ApiError("POST", "a", 409, {"reason": "AlreadyExists"})]})
    session.objects[at("a")] = thing("a", 9, "7")  # exists already, but our plan did not see it
    results = Executor(session, ThingKind(THING)).run(plan(ThingKind(THING), [thing("a", 1)], {}))
    assert results[0]["method"] == UPDATE and stored(session, "a")["spec"] == {"value": 1}


def test_errors_stay_per_object():
    boom = ApiError("PATCH", "a", 422, {"reason": "Invalid", "message": "spec.value: bad"})
    session = fake([thing("a", 1, "1")], failures={("PATCH", "a"): [boom]})
    results = run(session, [thing("a", 2), thing("b", 1)])
    assert results[0]["error"] is boom and stored(session, "b") is not None
    # issue 19 item 4: the result says what the server confirmed, the plan stays visible
    assert (results[0]["method"], results[0]["planned"]) == ("failed", UPDATE) and results[1]["method"] == CREATE


def test_endless_conflicts_give_up():
    session = fake([thing("a", 1, "1")], failures={("PATCH", "a"): ["race"] * 10})
    results = run(session, [thing("a", 2)])
    assert results[0]["error"].status == 409 and "gave up" in str(results[0]["error"])
    assert session.conflict_pauses == [1, 2, 3, 4, 5]  # growing back-off, bounded tries


def test_delete_of_vanished_object_is_fine():
    session = fake([thing("a", 1, "1")])
    gone = session.objects.pop(at("a"))
    results = run(session, [], deletions=[gone])
    assert results[0]["method"] == DELETE and "error" not in results[0]


@pytest.mark.parametrize("n", [1, 12])
def test_many_writes_run_concurrently_and_keep_order(n):
    session = fake()
    results = run(session, [thing("t%02d" % i, i) for i in range(n)])
    assert [r["name"] for r in results] == ["t%02d" % i for i in range(n)]
    assert len(session.objects) == n
