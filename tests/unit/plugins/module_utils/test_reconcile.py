"""The reconcile engine against a fake API session (no network)."""

import copy

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import (
    CREATE, DELETE, UNCHANGED, UPDATE, Executor, Kind, diff_of, plan)
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import ResourceType
from tests.unit.plugins.module_utils.session_double import TimeBounds

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


class FakeSession(TimeBounds):
    """A store of objects plus scripted failures: failures[(method, name)] = [ApiError-or-'lost', ...]."""

    def __init__(self, objects=(), failures=None):
        self.store = dict((o["metadata"]["name"], copy.deepcopy(o)) for o in objects)
        self.failures = failures or {}
        self.requests = []
        self.rv = 100

    def _fail(self, method, name, apply):
        queue = self.failures.get((method, name)) or []
        if queue:
            failure = queue.pop(0)
            if failure == "lost":  # the write lands, the answer is lost
                apply()
                raise ApiError(method, name, None, message="connection reset")
            if failure == "race":  # someone else changes the object first
                self.store[name]["spec"] = {"value": "theirs"}
                self._bump(name)
                raise ApiError(method, name, 409, {"reason": "Conflict"})
            raise failure

    def _bump(self, name):
        self.rv += 1
        self.store[name]["metadata"]["resourceVersion"] = str(self.rv)

    def request(self, method, path, body=None, query=None, content_type=None, **_):
        name = path.rstrip("/").split("/")[-1] if method != "POST" else body["metadata"]["name"]
        self.requests.append((method, name))
        if method == "POST":
            def create():
                obj = copy.deepcopy(body)
                obj["metadata"]["uid"] = "uid-" + name
                self.store[name] = obj
                self._bump(name)
            self._fail(method, name, create)
            if name in self.store:
                raise ApiError(method, path, 409, {"reason": "AlreadyExists"})
            create()
            return copy.deepcopy(self.store[name])
        if method == "PATCH":
            def update():
                self.store[name]["spec"] = body["spec"]
                self._bump(name)
            self._fail(method, name, update)
            if body["metadata"]["resourceVersion"] != self.store[name]["metadata"]["resourceVersion"]:
                raise ApiError(method, path, 409, {"reason": "Conflict"})
            update()
            return copy.deepcopy(self.store[name])
        if method == "DELETE":
            self._fail(method, name, lambda: self.store.pop(name, None))
            if name not in self.store:
                raise ApiError(method, path, 404, {"reason": "NotFound"})
            return self.store.pop(name)
        raise AssertionError(method)

    def get(self, path, query=None):
        name = path.rstrip("/").split("/")[-1]
        self.requests.append(("GET", name))
        return copy.deepcopy(self.store.get(name))


def run(session, desired, deletions=(), check_mode=False):
    existing = dict((("ns", n), copy.deepcopy(o)) for n, o in session.store.items())
    actions = plan(ThingKind(THING), desired, existing, deletions)
    return Executor(session, ThingKind(THING), check_mode=check_mode).run(actions)


def test_plan_and_apply_create_update_unchanged_delete():
    session = FakeSession([thing("same", 1, "1"), thing("old", 1, "2"), thing("gone", 1, "3")])
    results = run(session, [thing("same", 1), thing("old", 2), thing("new", 3)],
                  deletions=[session.store["gone"]])
    assert [r["method"] for r in results] == [UNCHANGED, UPDATE, CREATE, DELETE]
    assert session.store["old"]["spec"] == {"value": 2} and "gone" not in session.store
    writes = sorted(r for r in session.requests if r[0] != "GET")
    assert writes == [("DELETE", "gone"), ("PATCH", "old"), ("POST", "new")]


def test_second_run_makes_no_request_beyond_the_plan():
    session = FakeSession([thing("a", 1, "1")])
    results = run(session, [thing("a", 1)])
    assert results[0]["method"] == UNCHANGED and session.requests == []


def test_check_mode_sends_nothing_and_reports_the_change():
    session = FakeSession([thing("a", 1, "1"), thing("b", 1, "2")])
    results = run(session, [thing("a", 2), thing("c", 1)], deletions=[session.store["b"]], check_mode=True)
    assert [r["method"] for r in results] == [UPDATE, CREATE, DELETE]
    assert session.requests == []
    assert diff_of(results)["after"]["ns/a"] == {"name": "a", "spec": {"value": 2}}


def test_conflict_reads_again_and_reapplies():
    session = FakeSession([thing("a", 1, "1")], failures={("PATCH", "a"): ["race"]})
    results = run(session, [thing("a", 2)])
    assert results[0]["method"] == UPDATE and session.store["a"]["spec"] == {"value": 2}
    assert session.requests == [("PATCH", "a"), ("GET", "a"), ("PATCH", "a")]
    assert results[0]["before"]["spec"] == {"value": "theirs"}
    assert session.conflict_pauses == [1]  # jittered back-off before the read (issue 19 item 5)


def test_lost_answer_of_a_landed_write_is_not_repeated():
    session = FakeSession([thing("a", 1, "1")], failures={("PATCH", "a"): ["lost"], ("POST", "b"): ["lost"]})
    results = run(session, [thing("a", 2), thing("b", 5)])
    assert [r["method"] for r in results] == [UPDATE, CREATE]
    assert session.requests.count(("PATCH", "a")) == 1 and session.requests.count(("POST", "b")) == 1


def test_create_that_someone_else_won_becomes_update_or_unchanged():
    session = FakeSession([], failures={("POST", "a"): [ApiError("POST", "a", 409, {"reason": "AlreadyExists"})]})
    session.store["a"] = thing("a", 9, "7")  # exists already, but our plan did not see it
    results = Executor(session, ThingKind(THING)).run(plan(ThingKind(THING), [thing("a", 1)], {}))
    assert results[0]["method"] == UPDATE and session.store["a"]["spec"] == {"value": 1}


def test_errors_stay_per_object():
    boom = ApiError("PATCH", "a", 422, {"reason": "Invalid", "message": "spec.value: bad"})
    session = FakeSession([thing("a", 1, "1")], failures={("PATCH", "a"): [boom]})
    results = run(session, [thing("a", 2), thing("b", 1)])
    assert results[0]["error"] is boom and "b" in session.store
    # issue 19 item 4: the result says what the server confirmed, the plan stays visible
    assert (results[0]["method"], results[0]["planned"]) == ("failed", UPDATE) and results[1]["method"] == CREATE


def test_endless_conflicts_give_up():
    session = FakeSession([thing("a", 1, "1")], failures={("PATCH", "a"): ["race"] * 10})
    results = run(session, [thing("a", 2)])
    assert results[0]["error"].status == 409 and "gave up" in str(results[0]["error"])
    assert session.conflict_pauses == [1, 2, 3, 4, 5]  # growing back-off, bounded tries


def test_delete_of_vanished_object_is_fine():
    session = FakeSession([thing("a", 1, "1")])
    gone = session.store.pop("a")
    results = run(session, [], deletions=[gone])
    assert results[0]["method"] == DELETE and "error" not in results[0]


@pytest.mark.parametrize("n", [1, 12])
def test_many_writes_run_concurrently_and_keep_order(n):
    session = FakeSession()
    results = run(session, [thing("t%02d" % i, i) for i in range(n)])
    assert [r["name"] for r in results] == ["t%02d" % i for i in range(n)]
    assert len(session.store) == n
