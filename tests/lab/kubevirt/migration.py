"""Live migration as the API shows it (KubeVirt v1.9.0):

The migration controller (``pkg/virt-controller/watch/migration/migration.go``
with virt-handler's part), one phase per ``reconcile_delay``:
``Pending`` -> ``Scheduling`` (the target virt-launcher pod is created, with
``kubevirt.io/migrationJobUID`` and a required anti-affinity to the VMI's
other pods, so it lands on another node; VMI ``status.migrationState`` gets
source/target pods) -> ``Scheduled`` (target pod Ready; ``targetNode``) ->
``PreparingTarget`` -> ``TargetReady`` -> ``Running`` (``startTimestamp``;
the VM shows ``Migrating``) -> ``Succeeded``: the VMI runs on the target node
(``status.nodeName``, label ``kubevirt.io/nodeName``, ``activePods``,
``migrationState`` completed with ``endTimestamp``), its interfaces are those
the target pod carries (pending hot-plugs attached, unplugged ones gone),
``MigrationRequired`` is cleared and the source pod is deleted.  A migration
fails (phase ``Failed`` and a ``FailedMigration`` event) when its VMI does
not exist or is not running, or is not live-migratable (KubeVirt's migration
webhook refuses those; the lab has none).  A target pod that cannot be
scheduled keeps the migration in ``Scheduling``.

The workload updater (``pkg/virt-controller/watch/workload-updater/
workload-updater.go``): a running VMI with ``MigrationRequired=True``, no
unfinished migration and ``LiveMigratable=True`` is migrated through a
VirtualMachineInstanceMigration ``kubevirt-workload-update-<random>``
(annotation ``kubevirt.io/workloadUpdateMigration``) - only while the
KubeVirt CR lists ``LiveMigrate`` in
``spec.workloadUpdateStrategy.workloadUpdateMethods``.  One it does not
migrate (no ``LiveMigrate``, or not live-migratable) has its virt-launcher
pod evicted when the CR lists ``Evict`` (``getUpdateData``
evictOutdatedVMIs; ``SuccessfulEvict`` event): the VMI fails and its VM's
run strategy decides whether it starts again.  Modelled: the cluster's
default evictionStrategy None (the pod-eviction admitter lets the eviction
through); not modelled: the evictionStrategy LiveMigrate/IfPossible/External
evacuation paths and the batch size/interval (the first batch is immediate).
"""

import copy
import logging

from . import net_launcher, net_status
from .kapi import Conflict, KubeError
from .net_base import ClusterView, PacedController, condition_is, drop_condition, find_condition, net_state, now, \
    record_event, status_patch
from .runtime import key_of
from .vmi import (NODE_LABEL, current_pod, launcher_pods, pod_ips, pod_network_status, pod_ready, render_pod,
                  running_conditions, vmi_path)

log = logging.getLogger("lab.kubevirt.migration")

VMIMS = "/apis/kubevirt.io/v1/virtualmachineinstancemigrations"
VMIS = "/apis/kubevirt.io/v1/virtualmachineinstances"
PODS = "/api/v1/pods"
KUBEVIRTS = "/apis/kubevirt.io/v1/kubevirts"
FINAL = ("Succeeded", "Failed")
# phases after Scheduled that only virt-handler's progress separates
HANDLER_STEPS = {"Scheduled": "PreparingTarget", "PreparingTarget": "TargetReady", "TargetReady": "Running"}
WORKLOAD_UPDATE_ANNOTATION = "kubevirt.io/workloadUpdateMigration"
VMI_NAME_LABEL = "kubevirt.io/vmi-name"


def migration_path(namespace, name, sub=""):
    return "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstancemigrations/%s%s" % (namespace, name, sub)


def _target_of(mig, pods):
    return next((p for p in pods if (p["metadata"].get("labels") or {}).get(
        net_launcher.MIGRATION_JOB_LABEL) == mig["metadata"]["uid"]), None)


def is_migrating(vmi):
    state = (vmi.get("status") or {}).get("migrationState") or {}
    return bool(state) and not state.get("completed") and not state.get("failed")


def refusal(vmi):
    """Why a migration of ``vmi`` cannot start, or None."""
    if vmi is None:
        return "Migration failed because vmi does not exist."
    phase = (vmi.get("status") or {}).get("phase")
    if phase != "Running":
        return "Cannot migrate VMI in phase %s: VMI is not running" % (phase or "Pending")
    migratable = find_condition(vmi, "LiveMigratable") or {}
    if migratable.get("status") != "True":
        return "Cannot migrate VMI, Reason: %s, Message: %s" % (migratable.get("reason"), migratable.get("message"))
    return None


class MigrationController(PacedController):
    name = "migration"

    def __init__(self, kube, config, vmims, pods, state):
        super().__init__(kube, config)
        self.cluster = ClusterView(kube, config)
        self.state = state
        self.vmims = vmims
        vmims.add_handler(self.on_event)
        pods.add_handler(self._pod_event)

    def _pod_event(self, _event_type, pod):
        uid = (pod["metadata"].get("labels") or {}).get(net_launcher.MIGRATION_JOB_LABEL)
        for mig in self.vmims.items() if uid else []:
            if mig["metadata"]["uid"] == uid:
                self.enqueue(key_of(mig), self.delay)

    def reconcile(self, key):
        namespace, name = key.split("/", 1)
        mig = self.kube.get_or_none(migration_path(namespace, name))
        if mig is None or (mig.get("status") or {}).get("phase") in FINAL:
            self.forget(key)
            return None
        wait = self.wait_left(key)
        if wait:
            return wait
        phase = (mig.get("status") or {}).get("phase") or ""
        vmi = self.kube.get_or_none(vmi_path(namespace, (mig.get("spec") or {}).get("vmiName", "")))
        problem = refusal(vmi) if phase in ("", "Pending") or vmi is None else None
        if problem:
            return self._fail(mig, problem)
        if phase == "":
            return self._set_phase(mig, "Pending")
        if phase == "Pending":
            return self._create_target(mig, vmi)
        pods = launcher_pods(self.kube, vmi)
        target = _target_of(mig, pods)
        if target is None or target["metadata"].get("deletionTimestamp"):
            return self._fail(mig, "Migration failed because target pod shutdown during migration")
        if phase == "Scheduling":
            return self._target_scheduled(mig, vmi, target) if pod_ready(target) else None
        if phase in HANDLER_STEPS:
            if HANDLER_STEPS[phase] == "Running":
                self._patch_vmi_state(vmi, dict((vmi.get("status") or {}).get("migrationState") or {},
                                                startTimestamp=now()))
            return self._set_phase(mig, HANDLER_STEPS[phase])
        if phase == "Running":
            return self._complete(mig, vmi, pods, target)
        return None

    # ------------------------------------------------------------ helpers
    def _set_phase(self, mig, phase, **extra):
        meta = mig["metadata"]
        if (meta.get("labels") or {}).get(VMI_NAME_LABEL) is None:
            mig = self.kube.merge_patch(migration_path(meta["namespace"], meta["name"]), {"metadata": {"labels": {
                VMI_NAME_LABEL: (mig.get("spec") or {}).get("vmiName")}}})
        status = copy.deepcopy(mig.get("status") or {})
        status.update(extra, phase=phase)
        status["phaseTransitionTimestamps"] = list(status.get("phaseTransitionTimestamps") or []) + [
            {"phase": phase, "phaseTransitionTimestamp": now()}]
        self.kube.merge_patch(migration_path(meta["namespace"], meta["name"], "/status"), {
            "metadata": {"resourceVersion": mig["metadata"]["resourceVersion"]},
            "status": status_patch(mig.get("status") or {}, status)})
        return self.stepped(key_of(mig))

    def _fail(self, mig, message):
        record_event(self.kube, dict(mig, apiVersion="kubevirt.io/v1", kind="VirtualMachineInstanceMigration"),
                     "Warning", "FailedMigration", message, "virtualmachine-controller")
        state = dict((mig.get("status") or {}).get("migrationState") or {}, failed=True, failureReason=message)
        self._set_phase(mig, "Failed", migrationState=state)
        return None

    def _patch_vmi(self, vmi, status, labels=None):
        body = {"metadata": {"resourceVersion": vmi["metadata"]["resourceVersion"]},
                "status": status_patch(vmi.get("status") or {}, status)}
        if labels:
            body["metadata"]["labels"] = labels
        return self.kube.merge_patch(vmi_path(vmi["metadata"]["namespace"], vmi["metadata"]["name"]), body)

    def _patch_vmi_state(self, vmi, state):
        return self._patch_vmi(vmi, dict(vmi.get("status") or {}, migrationState=state))

    # ------------------------------------------------------------- phases
    def _create_target(self, mig, vmi):
        pods = launcher_pods(self.kube, vmi)
        source = current_pod(vmi, pods)
        target = _target_of(mig, pods)
        try:
            target = target or self.kube.create("/api/v1/namespaces/%s/pods" % vmi["metadata"]["namespace"],
                                                render_pod(self.kube, self.config, self.cluster, vmi, migration=mig))
        except (net_launcher.RenderError, KubeError) as exc:
            return self._fail(mig, "failed to create the migration target pod: %s" % exc)
        state = {"migrationUid": mig["metadata"]["uid"], "sourceNode": (vmi.get("status") or {}).get("nodeName"),
                 "sourcePod": (source or {}).get("metadata", {}).get("name"),
                 "targetPod": target["metadata"]["name"], "mode": "PreCopy"}
        self._patch_vmi_state(vmi, state)
        return self._set_phase(mig, "Scheduling", migrationState=state)

    def _target_scheduled(self, mig, vmi, target):
        node = target["spec"]["nodeName"]
        state = dict((vmi.get("status") or {}).get("migrationState") or {}, targetNode=node,
                     targetNodeAddress=(target.get("status") or {}).get("hostIP"))
        status = dict(vmi.get("status") or {}, migrationState=state,
                      activePods=dict((vmi.get("status") or {}).get("activePods") or {},
                                      **{target["metadata"]["uid"]: node}))
        self._patch_vmi(vmi, status)
        return self._set_phase(mig, "Scheduled", migrationState=state)

    def _complete(self, mig, vmi, pods, target):
        node = target["spec"]["nodeName"]
        source_name = ((vmi.get("status") or {}).get("migrationState") or {}).get("sourcePod")
        source = next((p for p in pods if p["metadata"]["name"] == source_name), None)
        status = copy.deepcopy(vmi.get("status") or {})
        state = dict(status.get("migrationState") or {}, completed=True, endTimestamp=now(), targetNode=node)
        status.update(nodeName=node, activePods={target["metadata"]["uid"]: node}, migrationState=state)
        status["interfaces"] = net_status.full_statuses(vmi, pod_ips(target), pod_network_status(target),
                                                        self.state.macs)
        kubevirt = self.cluster.kubevirt()
        status["conditions"] = drop_condition(running_conditions(dict(vmi, status=status), kubevirt, target),
                                              "MigrationRequired")
        self._patch_vmi(vmi, status, labels={NODE_LABEL: node})
        if source is not None:
            self.kube.delete("/api/v1/namespaces/%s/pods/%s" % (source["metadata"]["namespace"],
                                                                source["metadata"]["name"]))
        self._set_phase(mig, "Succeeded", migrationState=state)
        return None


class WorkloadUpdater(PacedController):
    """One key (the KubeVirt CR), re-evaluated whenever a VMI, a migration
    or the CR changes; candidates come from the VMI cache and are re-read
    before a migration is created."""

    name = "workload-updater"
    KEY = "kubevirt/kubevirt"

    def __init__(self, kube, config, vmis):
        super().__init__(kube, config)
        self.cluster = ClusterView(kube, config)
        self.vmis = vmis
        vmis.add_handler(self.trigger)

    def trigger(self, _event_type, _obj):
        self.enqueue(self.KEY, self.delay)

    def reconcile(self, key):
        wait = self.wait_left(key)
        if wait:
            return wait
        methods = self.cluster.workload_update_methods(self.cluster.kubevirt())
        candidates = [vmi for vmi in self.vmis.items()
                      if (vmi.get("status") or {}).get("phase") == "Running"
                      and not vmi["metadata"].get("deletionTimestamp") and not is_migrating(vmi)
                      and condition_is(vmi, "MigrationRequired")]
        if not candidates:
            return None
        if "Evict" in methods:
            self._evict([vmi for vmi in candidates
                         if "LiveMigrate" not in methods or not condition_is(vmi, "LiveMigratable")])
        candidates = [vmi for vmi in candidates if condition_is(vmi, "LiveMigratable")]
        if not candidates or "LiveMigrate" not in methods:
            return None
        unfinished = {"%s/%s" % (m["metadata"]["namespace"], (m.get("spec") or {}).get("vmiName"))
                      for m in self.kube.list(VMIMS)["items"] if (m.get("status") or {}).get("phase") not in FINAL}
        created = False
        for cached in candidates:
            vmi = self.kube.get_or_none(vmi_path(cached["metadata"]["namespace"], cached["metadata"]["name"]))
            if key_of(cached) in unfinished or vmi is None or is_migrating(vmi) \
                    or not condition_is(vmi, "MigrationRequired"):
                continue   # the cache was behind
            try:
                self.kube.create("/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstancemigrations"
                                 % vmi["metadata"]["namespace"], {
                                     "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
                                     "metadata": {"generateName": "kubevirt-workload-update-",
                                                  "annotations": {WORKLOAD_UPDATE_ANNOTATION: ""}},
                                     "spec": {"vmiName": vmi["metadata"]["name"]}})
                created = True
            except (Conflict, KubeError) as exc:
                log.warning("workload update migration for %s: %s", key_of(vmi), exc)
        return self.stepped(key) if created else None

    def _evict(self, candidates):
        """Evict the current launcher pod of each (the Eviction API, as KubeVirt's
        EvictV1beta1 call; no PodDisruptionBudget covers it)."""
        for cached in candidates:
            vmi = self.kube.get_or_none(vmi_path(cached["metadata"]["namespace"], cached["metadata"]["name"]))
            if vmi is None or is_migrating(vmi) or not condition_is(vmi, "MigrationRequired"):
                continue
            pod = current_pod(vmi, launcher_pods(self.kube, vmi))
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                continue
            meta = pod["metadata"]
            try:
                self.kube.create("/api/v1/namespaces/%s/pods/%s/eviction" % (meta["namespace"], meta["name"]), {
                    "apiVersion": "policy/v1beta1", "kind": "Eviction",
                    "metadata": {"name": meta["name"], "namespace": meta["namespace"]}, "deleteOptions": {}})
            except (Conflict, KubeError) as exc:
                log.warning("workload update eviction of %s: %s", key_of(vmi), exc)
                continue
            record_event(self.kube, dict(vmi, apiVersion="kubevirt.io/v1", kind="VirtualMachineInstance"), "Normal",
                         "SuccessfulEvict", "Initiated eviction of VMI as part of automated workload update: <nil>",
                         "workload-update-controller")


def start(ctx):
    state = net_state(ctx)
    vmims = ctx.informer(VMIMS)
    controller = MigrationController(ctx.kube, ctx.config, vmims, ctx.informer(PODS), state)
    controller.start()
    updater = WorkloadUpdater(ctx.kube, ctx.config, ctx.informer(VMIS))
    vmims.add_handler(updater.trigger)
    ctx.informer(KUBEVIRTS).add_handler(updater.trigger)
    updater.start()
    return controller
