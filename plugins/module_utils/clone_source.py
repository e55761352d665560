# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The VM a clone is built from, read as KubeVirt v1.9.0 reads it: a running VirtualMachine as
its snapshot will hold it, a VirtualMachineSnapshot through its VirtualMachineSnapshotContent."""

import copy
from typing import Any, Callable, Dict, NoReturn

from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    CONTROLLER_REVISION, VM_SNAPSHOT, VM_SNAPSHOT_CONTENT, VMI)


def snapshot_vm(session: Any, namespace: str, name: str, fail: Callable[[str], NoReturn]) -> Dict[str, Any]:
    """The VM the VirtualMachineSnapshot ``name`` holds, read as KubeVirt's clone controller reads it
    (pkg/virt-controller/watch/clone/clone.go getVmFromSnapshot/getSnapshotContent): the
    VirtualMachineSnapshotContent named in the snapshot's ``status.virtualMachineSnapshotContentName``
    (else ``vmsnapshot-content-<snapshot uid>``, pkg/storage/snapshot/snapshot.go
    GetVMSnapshotContentName), its ``spec.source.virtualMachine`` (kubevirt.io/api snapshot/v1beta1
    types.go SourceSpec).  A v1beta1 snapshot has no ``status.virtualMachine``, and the VM it was
    taken of may have changed (or be gone) since.  ``fail(msg)`` does not return."""
    where = "VirtualMachineSnapshot %s/%s (source)" % (namespace, name)
    snap = session.get(VM_SNAPSHOT.path(namespace, name))
    if snap is None:
        fail("%s not found; check source, source_kind and namespace" % where)
    status = snap.get("status") or {}
    if status.get("readyToUse") is not True:
        # clone.go verifySnapshotReady: KubeVirt waits for it, and the VM it holds is not known before
        fail("%s is not ready to use yet (phase %s), so the VM it holds is not known: wait until its "
             "status.readyToUse is true (its Ready condition True), then run again"
             % (where, status.get("phase") or "unset"))
    content_name = status.get("virtualMachineSnapshotContentName") or \
        "vmsnapshot-content-%s" % (snap.get("metadata") or {}).get("uid")
    content = session.get(VM_SNAPSHOT_CONTENT.path(namespace, content_name))
    if content is None:
        fail("%s: its VirtualMachineSnapshotContent %s/%s does not exist, and KubeVirt reads the VM to clone "
             "from it (the clone would fail): take a new snapshot" % (where, namespace, content_name))
    vm = ((content.get("spec") or {}).get("source") or {}).get("virtualMachine")
    if not vm or not (vm.get("spec") or {}).get("template"):
        fail("%s: its VirtualMachineSnapshotContent %s/%s holds no VirtualMachine "
             "(spec.source.virtualMachine.spec.template): take a new snapshot of a VirtualMachine"
             % (where, namespace, content_name))
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": vm.get("metadata") or {},
            "spec": vm["spec"], "status": vm.get("status") or {}}


def online_spec(session: Any, namespace: str, vm: Dict[str, Any]) -> Dict[str, Any]:
    """The VM as KubeVirt snapshots it.  A running source is snapshotted from
    the revision its VMI started with, with today's volumes, disks and data
    volume templates (pkg/storage/snapshot/source.go, Spec/getVMRevision):
    NICs hot-plugged since the start are not in it, so patches must not
    assume them (the restore would fail with "missing path" for ever)."""
    vmi = session.get(VMI.path(namespace, (vm.get("metadata") or {}).get("name")))
    name = ((vmi or {}).get("status") or {}).get("virtualMachineRevisionName")
    if not name:
        return vm
    revision = session.get(CONTROLLER_REVISION.path(namespace, name))
    spec = ((revision or {}).get("data") or {}).get("spec")
    if not spec:
        return vm
    online = copy.deepcopy(vm)
    online["spec"] = copy.deepcopy(spec)
    current, snap = vm.get("spec") or {}, online["spec"]
    if "dataVolumeTemplates" in current:
        snap["dataVolumeTemplates"] = current["dataVolumeTemplates"]
    tmpl_now = (current.get("template") or {}).get("spec") or {}
    tmpl = snap.setdefault("template", {}).setdefault("spec", {})
    if "volumes" in tmpl_now:
        tmpl["volumes"] = tmpl_now["volumes"]
    disks = ((tmpl_now.get("domain") or {}).get("devices") or {}).get("disks")
    if disks is not None:
        tmpl.setdefault("domain", {}).setdefault("devices", {})["disks"] = disks
    return online
