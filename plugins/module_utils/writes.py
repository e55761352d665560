# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Guarded writes: the one place that changes objects with JSON Patches built
from what was read, and that follows what KubeVirt makes of a VM template
change.

* ``guarded_patch`` sends ``build(obj)`` (a JSON Patch that starts with
  ``test`` operations, so a concurrent change makes the server refuse it); on
  a lost race it backs off (jittered, ``session.conflict_pause``), reads the
  object again and builds the patch anew, at most ``MAX_REPLANS`` times.  A
  lost answer (reset, timeout: the write may have landed) is read back before
  anything is repeated: when the object now needs no patch, the write is
  counted as done by this run (``GuardedWrite.written``), never as "unchanged".
* ``TemplateWriter`` patches VM templates and waits, through ``waits.poll``,
  until KubeVirt's VM controller has seen the new generation, or until a
  restarted VM runs again.
* ``vm_action`` calls a VM subresource of KubeVirt's API (restart, start, ...).
"""

import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import JSON_PATCH, ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import VM, VM_SUBRESOURCES, VMI
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from ansible_collections.kubevirt_net.core.plugins.module_utils.waits import poll

MAX_REPLANS = 5
STOPPED_PHASES = ("Succeeded", "Failed")

Obj = Dict[str, Any]
Ops = List[Dict[str, Any]]


def generation_of(obj: Optional[Obj]) -> Optional[int]:
    return vmspec.metadata_of(obj).get("generation")


def generation_test(obj: Obj) -> Dict[str, Any]:
    """The ``test`` operation that guards a patch by ``metadata.generation``."""
    return {"op": "test", "path": "/metadata/generation", "value": generation_of(obj)}


def same_generation(fresh: Obj, sent_against: Obj) -> bool:
    """A 422 on an object whose generation did not move was not a lost race:
    the server (or an admission webhook) refused the change itself."""
    return generation_of(fresh) == generation_of(sent_against)


class GuardedWrite:
    """What ``guarded_patch`` did: ``obj`` the object afterwards (the server's
    answer, or a fresh read), ``ops`` the patch the server applied ([] when
    nothing was written by this run), ``written`` whether the server confirmed
    a write of this run (an answer, or a read-back after a lost answer)."""

    def __init__(self, obj: Obj, ops: Ops, lost_answer: bool = False) -> None:
        self.obj = obj
        self.ops = ops
        self.written = bool(ops)
        self.lost_answer = lost_answer

    def __iter__(self) -> Iterator[Any]:  # (obj, ops) unpacking, as guarded_patch returned before
        return iter((self.obj, self.ops))


def guarded_patch(session: Any, path: str, obj: Obj, build: Callable[[Obj], Ops], kind: str,
                  refused: Callable[[Obj, Obj], bool] = same_generation) -> GuardedWrite:
    """Apply the JSON Patch ``build(obj)`` ([] when nothing is left to do) to
    the object at ``path``.  On a lost race (409/422 while the object changed,
    as ``refused(fresh, obj)`` tells, or a lost answer) the object is read
    again and the patch built anew (bounded, with jittered back-off after a
    conflict).  ``build`` may raise ``ApiError`` when a fresh object cannot
    be patched any more."""
    lost: Ops = []  # the patch whose answer was lost, until a read shows whether it landed
    for attempt in range(1, MAX_REPLANS + 1):
        ops = build(obj)
        if not ops:
            # nothing left to do: our lost write landed, or someone else made it so
            return GuardedWrite(obj, lost, lost_answer=bool(lost))
        try:
            return GuardedWrite(session.request("PATCH", path, body=ops, content_type=JSON_PATCH), ops)
        except ApiError as err:
            if err.status not in (409, 422, None):
                raise
            lost = ops if err.status is None else []
            if err.status is not None:
                session.conflict_pause(attempt)  # jittered back-off before reading again
            fresh = session.get(path)
            if fresh is None:
                raise ApiError("PATCH", path, 404, message="the %s was deleted while it was being patched" % kind)
            if err.status == 422 and refused(fresh, obj):
                raise
            obj = fresh
    if lost and not build(obj):
        return GuardedWrite(obj, lost, lost_answer=True)
    raise ApiError("PATCH", path, 409, message="the %s kept changing while it was being patched; gave up after %d "
                   "tries" % (kind, MAX_REPLANS))


def restart_required(vm: Optional[Obj]) -> Optional[Obj]:
    """The VM's RestartRequired condition when it is True, else None."""
    cond = vmspec.condition(vm or {}, "RestartRequired")
    return cond if cond and cond.get("status") == "True" else None


def vmi_running(vmi: Optional[Obj]) -> bool:
    return vmi is not None and (vmi.get("status") or {}).get("phase") not in STOPPED_PHASES


def vm_action(session: Any, namespace: str, name: str, action: str) -> Any:
    """PUT a VM subresource of KubeVirt's API (``restart``, ``start``, ...)."""
    return session.request("PUT", VM_SUBRESOURCES.path(namespace, name, subresource=action), body={})


class TemplateWriter:
    """Changes VM templates with guarded JSON Patches and follows what KubeVirt
    makes of them (RestartRequired, restarts).  Used by kubevirt_vm_network and
    kubevirt_vm_service."""

    def __init__(self, session: Any, namespace: str, wait_timeout: float = 300, wait_sleep: float = 1.0,
                 sleep: Callable[[float], Any] = time.sleep) -> None:
        self.session = session
        self.namespace = namespace
        self.wait_timeout = wait_timeout
        self.wait_sleep = max(wait_sleep, 0.05)
        self._sleep = sleep
        self.last: Optional[Obj] = None  # the VM as observe() last read it

    def vm_path(self, name: str) -> str:
        return VM.path(self.namespace, name)

    def patch(self, vm: Obj, build: Callable[[Obj], Ops]) -> GuardedWrite:
        """Apply ``build(vm)`` to the VM with guarded_patch()."""
        return guarded_patch(self.session, self.vm_path(vm["metadata"]["name"]), vm, build, "VirtualMachine")

    def observe(self, name: str, generation: Optional[int], deadline: Deadline,
                expect_restart: bool = True) -> Optional[Obj]:
        """Wait until KubeVirt's VM controller has seen ``generation``
        (``status.desiredGeneration``, which syncGenerationInfo sets with the
        conditions); returns the VM, or None when the deadline passed first.

        A VM status without generation tracking (an emulator, a stripped-down
        controller) gives no such signal: then the expected outcome is the
        signal - a ``RestartRequired`` condition when a restart is expected,
        nothing to wait for otherwise."""
        def probe() -> Optional[Tuple[Optional[Obj]]]:
            vm = self.last = self._get(name)
            status = (vm or {}).get("status") or {}
            if vm is None or (status.get("desiredGeneration") or 0) >= (generation or 0):
                return (vm,)
            if vm and "desiredGeneration" not in status and (not expect_restart or restart_required(vm)):
                return (vm,)
            return None
        seen = poll(probe, deadline, self.wait_sleep, session=self.session, sleep=self._sleep)
        return None if seen is None else seen[0]

    def _get(self, name: str) -> Optional[Obj]:
        try:
            return self.session.get(self.vm_path(name))
        except ApiError:
            return {}  # a failed read while waiting counts as "not yet"

    def restart(self, name: str) -> None:
        vm_action(self.session, self.namespace, name, "restart")

    def wait_restarted(self, name: str, old_uid: Optional[str], deadline: Deadline) -> Optional[Obj]:
        """After a restart: a new VMI (another uid) is Running and the VM no
        longer reports RestartRequired.  Returns the VMI, or None on timeout."""
        def probe() -> Optional[Obj]:
            try:
                vmi = self.session.get(VMI.path(self.namespace, name))
                vm = self.session.get(self.vm_path(name))
            except ApiError:
                return None
            if vmi and vm and vmi["metadata"].get("uid") != old_uid and \
                    (vmi.get("status") or {}).get("phase") == "Running" and not restart_required(vm):
                return vmi
            return None
        return poll(probe, deadline, self.wait_sleep, session=self.session, sleep=self._sleep)
