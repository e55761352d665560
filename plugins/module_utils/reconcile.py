# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Reconcile, don't loop: desired objects against what one LIST returned.

A ``Kind`` tells the engine which fields the collection owns (``view``) and
how to write them (``patch``).  ``plan`` compares views and decides per
object: create, update, delete or nothing; ``Executor`` carries the plan out,
concurrently, with the conflict and fault handling every module needs:

* update: a merge patch that carries the ``resourceVersion`` it was computed
  from, so a concurrent change answers 409; the object is then read again and
  the decision made anew (bounded);
* create: 409 AlreadyExists (someone was faster) becomes a fresh decision;
* a write whose answer was lost (timeout, reset) is verified by reading the
  object back before it is repeated, so nothing is applied twice;
* check mode plans the same way and sends no write at all;
* a result reports what the server confirmed: an action whose write failed
  has ``method: failed``, the planned method in ``planned`` and ``error``.
"""

from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession, MERGE_PATCH
from ansible_collections.kubevirt_net.core.plugins.module_utils.planner import (  # noqa: F401 pylint: disable=unused-import
    CREATE, DELETE, UNCHANGED, UPDATE, Action, Kind, diff_of, key_of, plan)
from ansible_collections.kubevirt_net.core.plugins.module_utils.waits import fan_out

MAX_DECISIONS = 5
FAILED = "failed"   # the method of an action whose write the server did not confirm


class Executor:
    def __init__(self, session: ApiSession, kind: Kind, check_mode: bool = False, workers: int = 8) -> None:
        self.session = session
        self.kind = kind
        self.check_mode = check_mode
        self.workers = workers

    def run(self, actions: List[Action]) -> List[Dict[str, Any]]:
        """Carry out ``actions``; returns one result dict per action, in order.
        An ApiError of one object does not stop the others: its result has
        ``error`` and the caller decides how to fail."""
        writes = [a for a in actions if a.method != UNCHANGED]
        if self.check_mode or len(writes) <= 1:
            return [self._one(action) for action in actions]
        return fan_out(self._one, actions, min(self.workers, len(writes)))

    # ------------------------------------------------------------ per object
    def _one(self, action: Action) -> Dict[str, Any]:
        after = None if action.desired is None else self.kind.expected(action.desired, action.current)
        result = {"namespace": action.key[0], "name": action.key[1], "method": action.method,
                  "before": self._view(action.current), "after": self._view(after),
                  "object": action.current}
        if action.method == UNCHANGED:
            return result
        if action.method == DELETE:
            result["after"] = None
        if self.check_mode:
            result["object"] = action.desired
            return result
        try:
            if action.method == DELETE:
                if action.current is None:
                    raise AssertionError("plan() deletes only an object it read")
                self._delete(action.current)
            else:
                method, obj, before = self._converge(action)
                result.update(method=method, object=obj)
                if before is not None:
                    result["before"] = self._view(before)
        except ApiError as err:
            # what the server confirmed: nothing of this action (issue 19 item 4); the plan stays visible
            result.update(error=err, method=FAILED, planned=action.method)
        return result

    def _view(self, obj: Optional[Dict[str, Any]]) -> Any:
        return None if obj is None else self.kind.view(obj)

    def _path(self, obj: Mapping[str, Any]) -> str:
        namespace, name = key_of(obj)
        return self.kind.resource.path(namespace or None, name)

    def _read(self, obj: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
        return self.session.get(self._path(obj))

    def _converge(self, action: Action) -> Tuple[str, Any, Optional[Dict[str, Any]]]:
        """Create or update until the object matches; returns (method, object, before)."""
        desired, current = action.desired, action.current
        if desired is None:
            raise AssertionError("a create or an update has a desired object")
        for attempt in range(1, MAX_DECISIONS + 1):
            lost = False
            try:
                if current is None:
                    return CREATE, self._create(desired), None
                return UPDATE, self._update(desired, current), current
            except ApiError as err:
                if err.status not in (409, None):
                    raise
                lost = err.status is None  # the answer was lost: the write may have landed
                if not lost:
                    self.session.conflict_pause(attempt)  # jittered back-off before reading again
            fresh = self._read(desired)
            if fresh is not None and self.kind.same(desired, fresh):
                if lost:
                    return (CREATE if current is None else UPDATE), fresh, current
                return UNCHANGED, fresh, None  # someone else made it so meanwhile
            current = fresh
        raise ApiError("PATCH", self._path(desired), 409,
                       message="the object kept changing while it was being updated; gave up after %d tries"
                       % MAX_DECISIONS)

    def _create(self, desired: Dict[str, Any]) -> Any:
        return self.session.request("POST", self.kind.resource.path(key_of(desired)[0] or None), body=desired)

    def _update(self, desired: Dict[str, Any], current: Dict[str, Any]) -> Any:
        patch = self.kind.patch(desired, current)
        patch.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self.session.request("PATCH", self._path(desired), body=patch, content_type=MERGE_PATCH)

    def _delete(self, current: Dict[str, Any]) -> Any:
        try:
            return self.session.request("DELETE", self._path(current), body={
                "apiVersion": "v1", "kind": "DeleteOptions",
                "preconditions": {"uid": current["metadata"]["uid"]}})
        except ApiError as err:
            if err.status == 404:
                return None
            if err.status is None and self._read(current) is None:
                return None
            raise
