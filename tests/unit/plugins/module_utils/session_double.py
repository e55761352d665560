"""The API-session test double of the unit tests (``FakeSession``, an
in-memory API server) and what every session double needs: the time bounds
of ``ApiSession`` (``within`` a wait's deadline, ``conflict_pause``),
recorded instead of slept, and a ``Clock`` for deadlines."""

import contextlib
import copy
import time

import jsonpatch

from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, parse_server_version


class TimeBounds:
    """Mix into a fake session: ``deadlines`` lists the deadline of every
    ``within`` block entered, ``conflict_pauses`` the attempt numbers passed to
    ``conflict_pause`` (nothing sleeps)."""

    @contextlib.contextmanager
    def within(self, deadline):
        self.__dict__.setdefault("deadlines", []).append(deadline)
        yield deadline

    def conflict_pause(self, attempt):
        self.__dict__.setdefault("conflict_pauses", []).append(attempt)


class Clock:
    """A monotonic clock for ``Deadline``s: ``sleep`` records and advances it."""

    def __init__(self, now=100.0):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


class FakeSession(TimeBounds):
    """The one API-session double of the unit tests: an in-memory API server.

    ``objects``: {path: object} (a path ends with the object's name);
    ``lists``: {collection path: [items] or an exception}, answered as given
    (``"*"``: the answer for any other path; else a LIST is the objects
    directly under the path its label selector matches);
    ``failures``: {(method, name or path): [failure, ...]}, each popped by the
    next matching request before it is served: an exception is raised;
    ``"lost"`` applies the write, then raises a status-less ApiError (the
    answer was lost); ``"race"`` lets another writer change the object's
    ``spec`` to ``{"value": "theirs"}`` first, then raises 409 Conflict; a
    callable gets the session and may change it.

    Writes follow the API server: POST of an existing name is 409
    AlreadyExists; a merge patch (dict body) or PUT with
    ``metadata.resourceVersion`` different from the stored one is 409
    Conflict; a JSON Patch (list body) whose ``test`` fails is 422; every
    write bumps ``resourceVersion``, a change of ``spec`` bumps
    ``generation``; DELETE of a missing object is 404.  Reads follow
    ``ApiSession``: a GET of a missing object (or of a stored 404) is None.
    ``calls`` records (method, path) of every request, reads included;
    ``list_selectors`` (path, label_selector, field_selector) of every LIST.
    ``on_request(session, method, path)``, when given, runs at every request
    (a read that costs time on a fake clock, say)."""

    def __init__(self, objects=None, lists=None, failures=None, on_request=None):
        self.objects = dict((path, obj if isinstance(obj, Exception) else copy.deepcopy(obj))
                            for path, obj in (objects or {}).items())
        self.lists = dict(lists or {})
        self.failures = dict((key, list(queue)) for key, queue in (failures or {}).items())
        self.calls = []
        self.list_selectors = []
        self.on_request = on_request
        self.rv = 100

    # ------------------------------------------------------------ helpers
    @staticmethod
    def name_of(path):
        return path.rstrip("/").split("/")[-1]

    def paths(self, method):
        """The paths of the ``method`` requests made (GET, LIST, POST, ...), in order."""
        return [p for m, p in self.calls if m == method]

    def server_version(self):
        """``ApiSession.server_version``: the stored ``/version`` object, read once with a GET."""
        if getattr(self, "_version", None) is None:
            self._version = parse_server_version(self.get("/version"))
        return self._version

    def writes(self):
        """(method, path) of the requests that are not reads, in order."""
        return [(m, p) for m, p in self.calls if m not in ("GET", "LIST")]

    def names(self, *methods):
        """(method, name) of the requests made, in order (all methods when none given)."""
        return [(m, self.name_of(p)) for m, p in self.calls if not methods or m in methods]

    def _record(self, method, path):
        self.calls.append((method, path))
        if self.on_request:
            self.on_request(self, method, path)

    def _bump(self, obj, spec_changed):
        self.rv += 1
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(self.rv)
        if spec_changed:
            meta["generation"] = int(meta.get("generation") or 0) + 1

    def _failure(self, method, path, apply):
        queue = self.failures.get((method, path)) or self.failures.get((method, self.name_of(path))) or []
        if not queue:
            return
        failure = queue.pop(0)
        if failure == "lost":
            apply()
            raise ApiError(method, path, None, message="connection reset")
        if failure == "race":
            theirs = self.objects[path]
            theirs["spec"] = {"value": "theirs"}
            self._bump(theirs, True)
            raise ApiError(method, path, 409, {"reason": "Conflict"})
        if callable(failure):
            failure(self)
            return
        raise failure

    # ------------------------------------------------------------ reads
    def get(self, path, query=None):
        self._record("GET", path)
        self._failure("GET", path, lambda: None)
        obj = self.objects.get(path)
        if isinstance(obj, ApiError) and obj.status == 404:   # ApiSession.get: None when it does not exist
            return None
        if isinstance(obj, Exception):
            raise obj
        return copy.deepcopy(obj)

    def list(self, path, label_selector=None, field_selector=None, page_size=None):
        self._record("LIST", path)
        self.list_selectors.append((path, label_selector, field_selector))
        self._failure("LIST", path, lambda: None)
        if path in self.lists or "*" in self.lists:
            answer = self.lists[path] if path in self.lists else self.lists["*"]
            if isinstance(answer, Exception):
                raise answer
            return copy.deepcopy(list(answer))
        prefix = path.rstrip("/") + "/"
        wanted = selectors.parse("label_selector", label_selector) if label_selector else None
        items = [o for p, o in sorted(self.objects.items()) if p.startswith(prefix) and "/" not in p[len(prefix):]]
        return [copy.deepcopy(o) for o in items
                if wanted is None or wanted.matches((o.get("metadata") or {}).get("labels"))]

    # ------------------------------------------------------------ writes
    def request(self, method, path, body=None, query=None, content_type=None, **_):
        if method == "POST":   # recorded under the path of the object it creates
            target = path.rstrip("/") + "/" + body["metadata"]["name"]
            self._record(method, target)

            def create():
                obj = copy.deepcopy(body)
                obj["metadata"].setdefault("uid", "uid-" + body["metadata"]["name"])
                self._bump(obj, True)
                self.objects[target] = obj
            self._failure(method, target, create)
            if target in self.objects:
                raise ApiError(method, path, 409, {"reason": "AlreadyExists"})
            create()
            return copy.deepcopy(self.objects[target])
        self._record(method, path)
        if method == "DELETE":
            self._failure(method, path, lambda: self.objects.pop(path, None))
            if path not in self.objects:
                raise ApiError(method, path, 404, {"reason": "NotFound"})
            return self.objects.pop(path)
        if method in ("PATCH", "PUT"):
            def update():
                current = self.objects[path]
                if isinstance(body, list):   # JSON Patch
                    try:
                        new = jsonpatch.apply_patch(copy.deepcopy(current), body)
                    except jsonpatch.JsonPatchTestFailed as exc:
                        raise ApiError(method, path, 422, message="test failed") from exc
                elif method == "PUT":
                    new = copy.deepcopy(body)
                else:   # JSON merge patch
                    new = merge_patch(current, body)
                new.setdefault("metadata", {})["resourceVersion"] = current["metadata"].get("resourceVersion")
                self._bump(new, new.get("spec") != current.get("spec"))
                self.objects[path] = new
            if path not in self.objects:
                raise ApiError(method, path, 404, {"reason": "NotFound"})
            self._failure(method, path, update)
            wanted = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
            if wanted is not None and wanted != self.objects[path]["metadata"].get("resourceVersion"):
                raise ApiError(method, path, 409, {"reason": "Conflict"})
            update()
            return copy.deepcopy(self.objects[path])
        raise AssertionError("unexpected %s %s" % (method, path))


def store_after_sleeps(session, path, obj, after=1):
    """A ``sleep`` for a wait's ``Deadline``: at the ``after``-th sleep the API server comes to
    hold ``obj`` at ``path`` (KubeVirt finishing what the module waits for)."""
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        if len(slept) == after:
            session.objects[path] = copy.deepcopy(obj)
        time.sleep(seconds)
    return sleep


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class Done(Exception):
    """How a flow ended under ``FakeRun``: ``failed`` and the module result."""

    def __init__(self, failed, result):
        super().__init__(result.get("msg"))
        self.failed, self.result = failed, result


class FakeRun:
    """The module.Run double: holds the session; ``fail`` and ``exit`` raise ``Done``."""

    def __init__(self, session=None):
        self.session = session

    def fail(self, msg, **extra):
        raise Done(True, dict(extra, msg=msg))

    def fail_problems(self, problems, **extra):
        self.fail(problems.render(), problems=problems.items, **extra)

    def fail_api(self, err, context=None, **extra):
        report = err.report(context)
        self.fail(report["msg"], **dict(extra, status=report["status"], reason=report["reason"]))

    def exit(self, **result):
        raise Done(False, result)
