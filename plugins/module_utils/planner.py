# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The pure half of the reconcile engine: what the collection owns of an
object (``Kind``), what to do about each desired object (``plan`` ->
``Action``) and the Ansible diff of the results.  No I/O: planning files
(nad, vm_service, istio, netpol) import this, never the executor
(``reconcile.Executor``), which carries actions out against the API."""

from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

CREATE, UPDATE, DELETE, UNCHANGED = "created", "updated", "deleted", "unchanged"

Key = Tuple[str, str]  # (namespace or "", name)


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


class Kind:
    """How the engine treats one resource type.  Subclass and override."""

    def __init__(self, resource: Any) -> None:
        self.resource = resource

    def view(self, obj: Dict[str, Any]) -> Any:
        """The part of ``obj`` this collection owns, for comparison and diff."""
        raise NotImplementedError

    def patch(self, desired: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, Any]:
        """The merge patch that turns ``current`` into ``desired``."""
        raise NotImplementedError

    def same(self, desired: Dict[str, Any], current: Dict[str, Any]) -> bool:
        return self.view(desired) == self.view(current)

    def expected(self, desired: Dict[str, Any], current: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """What ``current`` looks like once ``desired`` is applied (for --diff)."""
        del current
        return desired


class Action:
    def __init__(self, method: str, desired: Optional[Dict[str, Any]] = None,
                 current: Optional[Dict[str, Any]] = None) -> None:
        self.method = method
        self.desired = desired
        self.current = current

    @property
    def key(self) -> Key:
        return key_of(self.desired if self.desired is not None else self.current)  # type: ignore[arg-type]


def plan(kind: Kind, desired: Iterable[Dict[str, Any]], existing: Mapping[Key, Dict[str, Any]],
         deletions: Iterable[Dict[str, Any]] = ()) -> List[Action]:
    """Actions for ``desired`` objects given ``existing`` (key -> object)."""
    actions = []
    for obj in desired:
        current = existing.get(key_of(obj))
        if current is None:
            actions.append(Action(CREATE, obj))
        elif kind.same(obj, current):
            actions.append(Action(UNCHANGED, obj, current))
        else:
            actions.append(Action(UPDATE, obj, current))
    actions.extend(Action(DELETE, None, obj) for obj in deletions)
    return actions


def diff_of(results: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Ansible ``diff`` (before/after) for a list of results."""
    changed = [r for r in results if r["method"] != UNCHANGED]
    if len(changed) == 1:
        return {"before": changed[0]["before"] or {}, "after": changed[0]["after"] or {}}
    return {
        "before": dict(("%s/%s" % (r["namespace"], r["name"]), r["before"]) for r in changed if r["before"]),
        "after": dict(("%s/%s" % (r["namespace"], r["name"]), r["after"]) for r in changed if r["after"]),
    }
