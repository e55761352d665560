# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""How far the clone of one target got, from what the cluster shows (issue 19: a re-run must not
call a clone done that is not, nor start a second one).

A clone is done when KubeVirt finished it (the VirtualMachineClone reached ``Succeeded``,
pkg/virt-controller/watch/clone/clone.go ``syncTargetVM``; the target VM exists from the
restore on, before that phase) and the steps this module takes afterwards are in place: the
``post_clone_patch`` (labels), ``start`` and ``cleanup`` (the finished VirtualMachineClone
deleted).  The VirtualMachineClones looked at are the ones this collection made (its
``app.kubernetes.io/managed-by`` label), of the same source into the same target.  No I/O here.
"""

import json
from typing import Any, Dict, List, Optional

FINISHED = ("Succeeded", "Failed")
# the after-clone steps, in the order they run
POST_CLONE_PATCH, START, CLEANUP = "post_clone_patch", "start", "cleanup"


def phase_of(vm_clone: Dict[str, Any]) -> str:
    return ((vm_clone.get("status") or {}).get("phase")) or ""


def of_target(clones: List[Dict[str, Any]], source: str, target: str) -> List[Dict[str, Any]]:
    """The VirtualMachineClones of ``source`` into ``target``, oldest first."""
    mine = [c for c in clones if ((c.get("spec") or {}).get("target") or {}).get("name") == target
            and ((c.get("spec") or {}).get("source") or {}).get("name") == source]
    return sorted(mine, key=lambda c: (c.get("metadata") or {}).get("creationTimestamp") or "")


def unfinished(clones: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The newest clone KubeVirt has not finished yet, or None."""
    running = [c for c in clones if phase_of(c) not in FINISHED]
    return running[-1] if running else None


def made_target(vm_clone: Dict[str, Any], vm: Dict[str, Any], last_restore: str) -> bool:
    """Whether the target ``vm`` was made by ``vm_clone``'s restore: KubeVirt writes
    ``<restore name>-<restore uid>`` into the target's ``last_restore`` annotation
    (pkg/storage/snapshot/restore.go setLastRestoreAnnotation) and the clone names its restore in
    ``status.restoreName``.  An unfinished clone whose restore did not make an existing target never
    finishes: the restore refuses a target that exists and is not its source (restore.go
    errorRestoreToExistingTarget) - a duplicate, e.g. from a POST whose answer was lost and which
    landed late."""
    restore = (vm_clone.get("status") or {}).get("restoreName")
    if not restore:
        return False
    mark = ((vm.get("metadata") or {}).get("annotations") or {}).get(last_restore) or ""
    return str(mark).startswith("%s-" % restore)


def same_overrides(vm_clone: Dict[str, Any], digest: str, annotation: str) -> bool:
    """Whether ``vm_clone`` was made with the overrides of ``digest``: its annotation, or (a clone made
    before the annotation existed) the identity patch carrying the digest among its ``spec.patches``."""
    recorded = ((vm_clone.get("metadata") or {}).get("annotations") or {}).get(annotation)
    if recorded:
        return recorded == digest
    return digest in json.dumps((vm_clone.get("spec") or {}).get("patches") or [])


def is_stopped(vm: Dict[str, Any]) -> bool:
    """A VM the ``start`` subresource has not started: KubeVirt's start turns ``runStrategy: Halted``
    into ``Always`` and ``running: false`` into ``true`` (pkg/virt-api/rest/lifecycle.go
    StartVMRequestHandler, getRunningPatch).  Other strategies (``Manual``: start only asks for a VMI)
    are not judged: the spec does not tell whether start ran."""
    spec = vm.get("spec") or {}
    return spec.get("running") is False or spec.get("runStrategy") == "Halted"


def missing_steps(vm: Dict[str, Any], post: Dict[str, Any], start: bool, cleanup: bool,
                  finished: List[Dict[str, Any]]) -> List[str]:
    """The after-clone steps not in place on the target ``vm`` (which the clone made): the labels of
    ``post`` missing or different, the VM not started although ``start``, a finished clone left
    although ``cleanup``."""
    steps = []
    labels = ((vm.get("metadata") or {}).get("labels")) or {}
    wanted = ((post or {}).get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        steps.append(POST_CLONE_PATCH)
    if start and is_stopped(vm):
        steps.append(START)
    if cleanup and any(phase_of(c) == "Succeeded" for c in finished):
        steps.append(CLEANUP)
    return steps
