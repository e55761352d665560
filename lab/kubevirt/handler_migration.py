"""virt-handler's part of a live migration (KubeVirt v1.9.0), for the
emulated virt-handler of handler.py.  KubeVirt's real virt-controller
(``pkg/virt-controller/watch/migration/migration.go``) drives the
VirtualMachineInstanceMigration: it creates the target pod, hands the
migration to virt-handler by writing ``status.migrationState``
(``migrationUid``, ``sourceNode``, ``targetNode``, ``sourcePod``,
``targetPod``) and the VMI label ``kubevirt.io/migrationTargetNodeName``
(``handleTargetPodHandoff``), and moves the phases on from what virt-handler
writes (``processMigrationPhase``):

- ``PreparingTarget`` -> ``TargetReady`` once ``targetNode`` and
  ``targetNodeAddress`` are set (the target's write);
- ``TargetReady`` -> ``Running`` once ``startTimestamp`` is set (the source's
  write);
- ``Running`` -> ``Succeeded`` once ``completed`` is set (the target's write)
  and the VMI has no ``MigrationRequired=True`` condition (the target removes
  it when its domain runs); ``failed`` (the source's write on an abort) ends
  it ``Failed``.

This module plays the two virt-handlers (the source node's and the target
node's, each writing with its own node-bound token, so KubeVirt's
NodeRestriction - ``pkg/virt-api/webhooks/validating-webhook/admitters/
vmi-update-admitter.go``: only the VMI's ``status.nodeName`` or its
``migrationState.targetNode`` may write, and only virt-controller may set the
target node - judges them) and the hypervisor between them: the domain is
detected on the target once the migration started, runs there next, and the
migration ends after that.  It decides nothing virt-controller decides: no
phases, no pods created or deleted, no ``migrationState`` before the hand-off.

Each write is one observable step, ``reconcile_delay`` apart, in the order
KubeVirt's handlers make them (``pkg/virt-handler/migration-target.go``,
``migration-source.go``, ``vm.go``):

1. target ``processVMI`` + ``updateStatus``: ``targetNodeAddress`` (the
   target virt-handler's pod IP, its ``--migration-ip``) and
   ``targetDirectMigrationNodePorts``; events ``PreparingTarget``;
2. source ``migrateVMI`` + ``setMigrationProgressStatus``: ``startTimestamp``
   and ``mode`` ``PreCopy`` from the domain's migration metadata; event
   ``Migrating``;
3. target ``updateStatus``: ``targetNodeDomainDetected``;
4. target ``updateStatus``: ``targetNodeDomainReadyTimestamp``, condition
   ``MigrationRequired`` removed;
5. target ``ackMigrationCompletion``: ``endTimestamp``, ``status.nodeName``
   and label ``kubevirt.io/nodeName`` = target, ``migrationTransport``
   ``Unix``, ``launcherContainerImageVersion``/``evacuationNodeName``
   cleared, the memory overhead from ``targetMemoryOverhead``; event
   ``Migrated``.  The source domain is then shut off (reason Migrated): the
   source virt-launcher exits and its pod ends ``Succeeded`` (the kubelet's
   report; KubeVirt does not delete that pod, ``garbageCollectFinalizedMigrations``
   only removes the source pods of migrations beyond the five newest);
6. target ``finalizeMigration``: ``completed``;
7. target ``finalCleanup``: label ``kubevirt.io/migrationTargetNodeName``
   (and, on success, annotation ``kubevirt.io/create-migration-target``)
   removed;
8. the target's ``vm.go`` sync (the VMI is its own now): the domain's
   interfaces as the target pod carries them (handler.domain_interfaces:
   hot-plugs that needed the migration attached, unplugged ones gone).

Abort (virt-controller sets ``abortRequested`` when a running migration's
object is deleted, ``markMigrationAbortInVmiStatus``): the source cancels
(``handleMigrationAbort``; event ``Migrating`` "VirtualMachineInstance is
aborting migration.") and reports what the launcher puts in the domain's
metadata (``live-migration-source.go`` ``setMigrationResult``: ``failed``,
``failureReason`` "Live migration has been aborted", ``abortStatus``
``Succeeded``, ``endTimestamp``), with ``completed`` (``setMigrationProgressStatus``).
The target then cleans up (``finalCleanup`` for a failed migration: only the
target-node label goes) and its launcher exits (``SignalTargetPodCleanup``).
"""

import copy
import hashlib
import logging

from .kapi import Conflict, KubeError, NotFound
from .net_base import drop_condition, now, record_event
from .runtime import key_of

log = logging.getLogger("lab.kubevirt.handler")

NODE_NAME_LABEL = "kubevirt.io/nodeName"
TARGET_NODE_LABEL = "kubevirt.io/migrationTargetNodeName"
CREATE_TARGET_ANNOTATION = "kubevirt.io/create-migration-target"
EVICTION_SOURCE_ANNOTATION = "kubevirt.io/eviction-source"
OUTDATED_IMAGE_LABEL = "kubevirt.io/outdatedLauncherImage"
# pkg/virt-handler/migration-proxy: the libvirt direct migration port (block migration adds 49153)
LIBVIRT_DIRECT_MIGRATION_PORT = 49152
ABORTED = "Live migration has been aborted"   # pkg/virt-launcher/virtwrap/live-migration-source.go
# pkg/virt-handler/controller.go
VMI_MIGRATING = "VirtualMachineInstance is migrating."
VMI_ABORTING = "VirtualMachineInstance is aborting migration."
VMI_TARGET_PREPARED = "VirtualMachineInstance Migration Target Prepared."


# ----------------------------------------------------------------- pure rules
def is_done(state):
    """``isMigrationDone`` (migration-source.go): an end time and a result."""
    return not state or bool(state.get("endTimestamp") and (state.get("completed") or state.get("failed")))


def needs_finalization(state):
    """``migrationNeedsFinalization`` (migration-target.go): started and ended
    but neither completed nor failed yet."""
    return bool(state and state.get("startTimestamp") and state.get("endTimestamp")
                and not state.get("completed") and not state.get("failed"))


def is_target_of(vmi, node):
    """``isMigrationTarget`` (migration-target.go): the VMI's label
    ``kubevirt.io/migrationTargetNodeName`` names this node."""
    return ((vmi.get("metadata") or {}).get("labels") or {}).get(TARGET_NODE_LABEL) == node


def is_source_of(vmi, node):
    """``isMigrationSource`` (migration-source.go, not decentralized): the VMI
    runs on this node and the migration leaves from it."""
    status = vmi.get("status") or {}
    return status.get("nodeName") == node and (status.get("migrationState") or {}).get("sourceNode") == node


def listener_ports(vmi_uid):
    """The target's migration proxy listeners (``GetTargetListenerPorts``):
    a port for virtqemud's socket (source port 0) and one for libvirt's direct
    migration port; the lab has no sockets, so the ports only need to be
    stable per VMI."""
    digest = hashlib.sha256(vmi_uid.encode()).digest()
    base = 32768 + int.from_bytes(digest[:2], "big") % 28000
    return {str(base): 0, str(base + 1): LIBVIRT_DIRECT_MIGRATION_PORT}


def next_step(vmi):
    """The next write virt-handler makes for a VMI whose ``migrationState``
    virt-controller handed off, as ``(node role, step)`` - role ``source`` or
    ``target`` - or None when neither handler has anything to write.  The
    order is the order of KubeVirt's handlers (module docstring)."""
    status = vmi.get("status") or {}
    state = status.get("migrationState") or {}
    if not state.get("targetNode"):
        return None
    target_labelled = is_target_of(vmi, state["targetNode"])
    if is_done(state):
        # migration-target.go sync -> finalCleanup, while the target label is still there
        if target_labelled:
            return "target", "cleanup"
        return None
    if state.get("abortRequested") and not state.get("endTimestamp") \
            and status.get("nodeName") == state.get("sourceNode"):
        return "source", "abort"          # migration-source.go migrateVMI -> handleMigrationAbort
    if state.get("failed"):
        return None
    if needs_finalization(state):
        return "target", "finalize"       # migration-target.go processVMI -> finalizeMigration
    if not target_labelled:
        return None                       # not handed to the target node (yet)
    if not state.get("targetNodeAddress"):
        return "target", "prepare"        # processVMI (SyncMigrationTarget) + updateStatus
    if not state.get("startTimestamp"):
        if state.get("targetDirectMigrationNodePorts") and status.get("nodeName") == state.get("sourceNode"):
            return "source", "start"      # migrateVMI: the ports are published
        return None
    if not state.get("targetNodeDomainDetected"):
        return "target", "detected"
    if not state.get("targetNodeDomainReadyTimestamp"):
        return "target", "ready"
    if not state.get("endTimestamp"):
        return "target", "ack"
    return None


def apply_step(vmi, step, node, address=None, stamp=None):
    """The VMI as the handler of ``node`` writes it for ``step`` (a deep
    copy; spec untouched).  ``address`` is the target's migration IP."""
    stamp = stamp or now()
    out = copy.deepcopy(vmi)
    meta = out["metadata"]
    labels = meta.setdefault("labels", {})
    annotations = meta.get("annotations") or {}
    status = out.setdefault("status", {})
    state = status["migrationState"]
    target_state = state.get("targetState")
    if step == "prepare":
        # migration-target.go updateStatus: the listener is up
        ports = listener_ports(meta["uid"])
        state["targetNodeAddress"] = address
        state["targetDirectMigrationNodePorts"] = ports
        if target_state is not None:
            target_state.update(nodeAddress=address, directMigrationNodePorts=ports)
    elif step == "start":
        # migration-source.go setMigrationProgressStatus: the domain's migration metadata
        state["startTimestamp"] = stamp
        state["mode"] = "PreCopy"
    elif step == "detected":
        state["targetNodeDomainDetected"] = True
        if target_state is not None:
            target_state["domainDetected"] = True
    elif step == "ready":
        state["targetNodeDomainReadyTimestamp"] = stamp
        if target_state is not None:
            target_state["domainReadyTimestamp"] = stamp
        status["conditions"] = drop_condition(status.get("conditions"), "MigrationRequired")
    elif step == "ack":
        # migration-target.go ackMigrationCompletion
        state["endTimestamp"] = stamp
        labels[NODE_NAME_LABEL] = node
        annotations.pop(EVICTION_SOURCE_ANNOTATION, None)
        labels.pop(OUTDATED_IMAGE_LABEL, None)
        status.pop("launcherContainerImageVersion", None)
        status["nodeName"] = node
        status.pop("evacuationNodeName", None)
        status["migrationTransport"] = "Unix"
        if state.get("targetMemoryOverhead") is not None:
            status.setdefault("memory", {})["memoryOverhead"] = state["targetMemoryOverhead"]
    elif step == "finalize":
        state["completed"] = True
    elif step == "cleanup":
        labels.pop(TARGET_NODE_LABEL, None)
        if not state.get("failed"):
            annotations.pop(CREATE_TARGET_ANNOTATION, None)
    elif step == "abort":
        # live-migration-source.go setMigrationResult + setMigrationAbortStatus, copied by
        # migration-source.go setMigrationProgressStatus
        state.update(failed=True, completed=True, endTimestamp=stamp, abortStatus="Succeeded",
                     failureReason=ABORTED)
        state.setdefault("startTimestamp", stamp)
    else:
        raise ValueError("unknown migration step %r" % step)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return out


def exited_pod_status(pod, stamp):
    """The status the kubelet reports once a virt-launcher pod's containers
    exited 0 (restartPolicy Never): phase ``Succeeded``, containers
    terminated ``Completed``, Ready ``False`` with ``PodCompleted``."""
    statuses = []
    for entry in (pod.get("status") or {}).get("containerStatuses") or []:
        started = ((entry.get("state") or {}).get("running") or {}).get("startedAt") or stamp
        statuses.append(dict(entry, ready=False, started=False, state={"terminated": {
            "exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": stamp,
            "containerID": entry.get("containerID")}}))
    conditions = []
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Ready", "ContainersReady"):
            cond = dict(cond, status="False", reason="PodCompleted", lastTransitionTime=stamp)
        conditions.append(cond)
    return {"phase": "Succeeded", "conditions": conditions, "containerStatuses": statuses}


# ------------------------------------------------------------------ the handler
class MigrationHandler:
    """The migration side of one VirtHandler (its clients, pacing and MAC book)."""

    def __init__(self, handler):
        self.handler = handler
        self.kube = handler.kube
        self._synced = set()   # migrations whose target vm.go sync (step 8) ran

    # ---------------------------------------------------------------- I/O
    def _migration_ip(self, node):
        """virt-handler's ``--migration-ip``: its own pod IP (migration.go
        ``FindMigrationIP`` keeps it when there is no ``migration0``)."""
        pods = self.kube.list("/api/v1/namespaces/kubevirt/pods", labelSelector="kubevirt.io=virt-handler",
                              fieldSelector="spec.nodeName=" + node)["items"]
        return next(((p.get("status") or {}).get("podIP") for p in pods if (p.get("status") or {}).get("podIP")),
                    None)

    def _put(self, vmi, body, node):
        from .handler import vmi_path
        try:
            self.handler.client(node).replace(vmi_path(vmi["metadata"]["namespace"], vmi["metadata"]["name"]), body)
        except Conflict:
            self.handler.enqueue("%s/%s" % (vmi["metadata"]["namespace"], vmi["metadata"]["name"]), 0.1)
            return False
        return True

    def _event(self, vmi, node, kind, reason, message):
        try:
            record_event(self.kube, dict(vmi, kind="VirtualMachineInstance", apiVersion="kubevirt.io/v1"),
                         kind, reason, message, "virt-handler", node)
        except KubeError as exc:
            log.info("event %s on %s: %s", reason, vmi["metadata"]["name"], exc)

    def _exit_pod(self, pod):
        """kubelet: the virt-launcher's containers exited."""
        try:
            self.kube.merge_patch("/api/v1/namespaces/%s/pods/%s/status" % (
                pod["metadata"]["namespace"], pod["metadata"]["name"]), {"status": exited_pod_status(pod, now())})
        except NotFound:
            pass

    # ---------------------------------------------------------- reconcile
    def reconcile(self, vmi, pods):
        """(handled, requeue): ``handled`` is False when the ordinary
        virt-handler sync (handler.py) should run for this VMI."""
        from .handler import domain_interfaces
        key = key_of(vmi)
        status = vmi.get("status") or {}
        state = status.get("migrationState") or {}
        by_name = {p["metadata"]["name"]: p for p in pods}
        # the launchers whose domain is gone exit; their kubelet reports the pods Succeeded
        for pod in self._exited_launchers(vmi, state, by_name):
            self._exit_pod(pod)
            return True, self.handler.stepped(key)
        step = next_step(vmi)
        if step is None:
            if not state.get("completed") or state.get("failed") or not state.get("migrationUid"):
                return not is_done(state), None
            if state["migrationUid"] in self._synced or status.get("nodeName") != state.get("targetNode"):
                return False, None
            # step 8: the target's vm.go owns the VMI; its domain shows the target pod's interfaces
            target_pod = by_name.get(state.get("targetPod"))
            if target_pod is None or (target_pod.get("status") or {}).get("phase") != "Running":
                return False, None
            new = copy.deepcopy(vmi)
            new["status"]["interfaces"] = domain_interfaces(vmi, target_pod, self.handler.state.macs)
            new["status"]["conditions"] = self.handler._conditions(vmi)   # pylint: disable=protected-access
            if new["status"] == status or self._put(vmi, new, state["targetNode"]):
                self._synced.add(state["migrationUid"])
            return True, self.handler.stepped(key)
        role, name = step
        node = state["targetNode"] if role == "target" else status.get("nodeName")
        address = None
        if name == "prepare":
            target_pod = by_name.get(state.get("targetPod"))
            if target_pod is None or (target_pod.get("status") or {}).get("phase") != "Running":
                return True, None   # no launcher to talk to yet; the pod's update brings the VMI back
            address = self._migration_ip(node)
            if not address:
                return True, 1.0
        new = apply_step(vmi, name, node, address=address)
        if not self._put(vmi, new, node):
            return True, None
        if name == "prepare":
            ports = ",".join(sorted(new["status"]["migrationState"]["targetDirectMigrationNodePorts"]))
            self._event(vmi, node, "Normal", "PreparingTarget",
                        "Migration Target is listening at %s, on ports: %s" % (address, ports))
            self._event(vmi, node, "Normal", "PreparingTarget", VMI_TARGET_PREPARED)
        elif name == "start":
            self._event(vmi, node, "Normal", "Migrating", VMI_MIGRATING)
        elif name == "abort":
            self._event(vmi, node, "Normal", "Migrating", VMI_ABORTING)
            self._event(vmi, node, "Warning", "Migrated", "VirtualMachineInstance migration uid %s failed. reason:%s"
                        % (state.get("migrationUid"), ABORTED))
        elif name == "ack":
            self._event(vmi, node, "Normal", "Migrated", "The VirtualMachineInstance migrated to node %s." % node)
        return True, self.handler.stepped(key)

    @staticmethod
    def _exited_launchers(vmi, state, by_name):
        """The launcher pods whose domain left: the source's once the target
        acknowledged the end (its domain shut off, reason Migrated), the
        target's once a failed migration was cleaned up
        (``SignalTargetPodCleanup``)."""
        status = vmi.get("status") or {}
        names = []
        if state.get("endTimestamp") and not state.get("failed") and status.get("nodeName") == state.get(
                "targetNode") and state.get("sourcePod"):
            names.append(state["sourcePod"])
        if state.get("failed") and is_done(state) and not is_target_of(vmi, state.get("targetNode")) \
                and state.get("targetPod") and status.get("nodeName") != state.get("targetNode"):
            names.append(state["targetPod"])
        return [by_name[n] for n in names if n in by_name and (by_name[n].get("status") or {}).get("phase")
                == "Running" and not by_name[n]["metadata"].get("deletionTimestamp")]


def reconcile(handler, vmi, pods):
    """Called by handler.VirtHandler.reconcile for a VMI with
    ``status.migrationState``; see MigrationHandler.reconcile."""
    migrations = getattr(handler, "_migrations", None)
    if migrations is None:
        migrations = handler._migrations = MigrationHandler(handler)   # pylint: disable=protected-access
    return migrations.reconcile(vmi, pods)
