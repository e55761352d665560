"""The VirtualMachineInstance lifecycle: virt-controller's VMI controller
(KubeVirt v1.9.0 ``pkg/virt-controller/watch/vmi/lifecycle.go``) and what
virt-handler reports (``pkg/virt-handler/vm.go``), one observable step per
``reconcile_delay``:

- ``""`` -> ``Pending``: the virt-launcher pod is created
  (tests/lab/kubevirt/net_launcher.py); if it cannot be rendered (an
  unregistered binding plugin, a missing NAD when ExternalNetResourceInjection
  is disabled) the VMI stays Pending with ``Synchronized=False/FailedCreate``
  and ``failed to render launch manifest: ...``;
- ``Pending`` -> ``Scheduling`` once the pod exists; while the pod is not
  scheduled its ``PodScheduled=False`` condition is copied to the VMI
  (``Unschedulable`` with the scheduler's message, e.g. no Node offers an
  SR-IOV NAD's resource); a pod whose sandbox cannot be created (a NAD that
  does not exist) keeps the VMI here, explained only by the pod's
  ``FailedCreatePodSandBox`` event, as in a real cluster;
- ``Scheduling`` -> ``Scheduled`` when the pod is Ready: ``status.nodeName``,
  label ``kubevirt.io/nodeName``, ``activePods``, ``migrationTransport``;
- ``Scheduled`` -> ``Running`` (virt-handler): ``status.interfaces``
  (tests/lab/kubevirt/net_status.py), ``Ready``, ``AgentConnected``,
  ``LiveMigratable`` (``InterfaceNotLiveMigratable`` per
  ``vmispec.VerifyVMIMigratable``), guest OS info, launcher image;
- while Running, hot-plug/unplug moves one step at a time: the launcher pod's
  ``k8s.v1.cni.cncf.io/networks`` is rewritten (``GenerateFromActivePod``),
  the pod attaches it (multus-dynamic-networks-controller, capability
  ``dynamic_networks``; tests/lab/kubevirt/net_podruntime.py), then
  virt-handler reports it (``multus-status``) and plugs it into the domain;
  ``MigrationRequired`` follows ``pkg/network/migration/evaluator.go``
  (False/AutoMigrationPending, True/AutoMigrationDueToLiveUpdate once the
  grace period - capability ``dynamic_network_grace_period``, KubeVirt's
  15 s - has passed since the transition; SR-IOV and a NAD swap at once;
  not evaluated during a migration);
- a deleted VMI (finalizer ``foregroundDeleteVirtualMachine``) has its pods
  deleted, then the finalizer removed; a Running VMI whose pod vanished fails.

VMI status is written with a plain patch of the object (the VMI CRD has no
status subresource), guarded by the resourceVersion.
"""

import copy
import json

from . import net_launcher, net_spec, net_status
from .kapi import Conflict, KubeError, NotFound
from .net_base import ClusterView, PacedController, drop_condition, find_condition, net_state, now, \
    seconds_since, set_condition, status_patch
from .net_podruntime import start as start_pod_runtime
from .runtime import key_of


VMIS = "/apis/kubevirt.io/v1/virtualmachineinstances"
PODS = "/api/v1/pods"
FINALIZER = "foregroundDeleteVirtualMachine"
NODE_LABEL = "kubevirt.io/nodeName"
GUEST_OS = {"id": "fedora", "name": "Fedora Linux", "prettyName": "Fedora Linux 41 (Cloud Edition)",
            "version": "41 (Cloud Edition)", "versionId": "41", "kernelRelease": "6.11.4-301.fc41.x86_64"}


def vmi_path(namespace, name):
    return "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s" % (namespace, name)


# ------------------------------------------------------- shared with migration
def launcher_pods(kube, vmi):
    return kube.list("/api/v1/namespaces/%s/pods" % vmi["metadata"]["namespace"],
                     labelSelector="%s=%s" % (net_launcher.CREATED_BY, vmi["metadata"]["uid"]))["items"]


def current_pod(vmi, pods):
    """The pod the VMI runs in: before scheduling, the one launcher pod that
    is not a migration target; afterwards the active pod on status.nodeName."""
    status = vmi.get("status") or {}
    live = sorted((p for p in pods if not p["metadata"].get("deletionTimestamp")),
                  key=lambda p: p["metadata"]["creationTimestamp"])
    if status.get("nodeName"):
        active = status.get("activePods") or {}
        return next((p for p in live if p["metadata"]["uid"] in active
                     and (p.get("spec") or {}).get("nodeName") == status["nodeName"]), None)
    return next((p for p in live if net_launcher.MIGRATION_JOB_LABEL not in (p["metadata"].get("labels") or {})),
                None)


def pod_ready(pod):
    return (find_condition(pod, "Ready") or {}).get("status") == "True"


def pod_network_status(pod):
    return json.loads(((pod or {}).get("metadata", {}).get("annotations") or {}).get(
        net_launcher.NETWORK_STATUS_ANNOTATION) or "[]")


def pod_ips(pod):
    return [entry["ip"] for entry in ((pod or {}).get("status") or {}).get("podIPs") or []]


def render_pod(kube, config, cluster, vmi, migration=None):
    """The launcher pod for ``vmi`` as virt-controller renders it now."""
    kubevirt = cluster.kubevirt()
    namespace = vmi["metadata"]["namespace"]
    nads = {}
    for network in net_spec.networks(vmi.get("spec")):
        if net_spec.is_secondary_multus(network):
            ref = net_spec.nad_ref(namespace, network["multus"].get("networkName"))
            nads[ref] = kube.get_or_none("/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/%s"
                                         % ref)
    return net_launcher.render(vmi, kubevirt, nads, cluster.namespace_labels(namespace), config.get("istio"),
                               cluster.gate(kubevirt, "ExternalNetResourceInjection"), migration)


def running_conditions(vmi, kubevirt, pod):
    """Ready (from the pod), AgentConnected and LiveMigratable of a running VMI."""
    conditions = copy.deepcopy((vmi.get("status") or {}).get("conditions") or [])
    ready = find_condition(pod, "Ready") or {}
    conditions = set_condition(conditions, "Ready", ready.get("status", "False"), ready.get("reason", ""),
                               ready.get("message", ""))
    conditions = set_condition(conditions, "AgentConnected", "True")
    migratable, message = net_spec.live_migratable(vmi.get("spec"), vmi["metadata"].get("annotations"),
                                                   net_launcher.binding_plugins(kubevirt))
    if migratable:
        conditions = set_condition(conditions, "LiveMigratable", "True")
    else:
        conditions = set_condition(conditions, "LiveMigratable", "False", "InterfaceNotLiveMigratable", message)
    return drop_condition(conditions, "PodScheduled")


class VMIController(PacedController):
    name = "vmi"

    def __init__(self, kube, config, vmis, pods, state):
        super().__init__(kube, config)
        self.cluster = ClusterView(kube, config)
        self.state = state
        vmis.add_handler(self._vmi_event)
        pods.add_handler(self._pod_event)

    def _vmi_event(self, event_type, vmi):
        if event_type == "DELETED":
            uid = vmi["metadata"]["uid"]
            self.state.macs.release(uid)
            self.state.ips.release(lambda owner: owner[0] == uid)
            self.forget(key_of(vmi))
            return
        self.on_event(event_type, vmi)

    def _pod_event(self, _event_type, pod):
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "VirtualMachineInstance":
                self.enqueue("%s/%s" % (pod["metadata"]["namespace"], ref["name"]), self.delay)

    # ---------------------------------------------------------- reconcile
    def reconcile(self, key):
        namespace, name = key.split("/", 1)
        vmi = self.kube.get_or_none(vmi_path(namespace, name))
        if vmi is None:
            return None
        wait = self.wait_left(key)
        if wait:
            return wait
        pods = launcher_pods(self.kube, vmi)
        if vmi["metadata"].get("deletionTimestamp"):
            return self._delete(vmi, pods)
        phase = (vmi.get("status") or {}).get("phase") or ""
        if phase in ("", "Pending"):
            return self._pending(vmi, pods)
        if phase == "Scheduling":
            return self._scheduling(vmi, pods)
        if phase == "Scheduled":
            return self._start_domain(vmi, pods)
        if phase == "Running":
            return self._running(vmi, pods)
        return None

    def _write(self, vmi, status, labels=None, finalizers=None):
        """Patch status (and labels/finalizers) when they differ; True if written."""
        patch = status_patch(vmi.get("status") or {}, status)
        meta = {}
        if labels is not None and labels != (vmi["metadata"].get("labels") or {}):
            meta["labels"] = {k: labels.get(k) for k in set(labels) | set(vmi["metadata"].get("labels") or {})}
        if finalizers is not None and finalizers != (vmi["metadata"].get("finalizers") or []):
            meta["finalizers"] = finalizers
        if not patch and not meta:
            return False
        meta["resourceVersion"] = vmi["metadata"]["resourceVersion"]
        body = {"metadata": meta}
        if patch:
            body["status"] = patch
        self.kube.merge_patch(vmi_path(vmi["metadata"]["namespace"], vmi["metadata"]["name"]), body)
        return True

    @staticmethod
    def _phase(status, phase):
        status["phase"] = phase
        stamps = list(status.get("phaseTransitionTimestamps") or [])
        stamps.append({"phase": phase, "phaseTransitionTimestamp": now()})
        status["phaseTransitionTimestamps"] = stamps

    # ------------------------------------------------------------- phases
    def _pending(self, vmi, pods):
        status = copy.deepcopy(vmi.get("status") or {})
        finalizers = list(vmi["metadata"].get("finalizers") or [])
        if FINALIZER not in finalizers:
            finalizers.append(FINALIZER)
        pod = current_pod(vmi, pods)
        if pod is not None:
            self._phase(status, "Scheduling")
            status["conditions"] = drop_condition(status.get("conditions"), "Synchronized")
            self._write(vmi, status, finalizers=finalizers)
            return self.stepped(key_of(vmi))
        try:
            self.kube.create("/api/v1/namespaces/%s/pods" % vmi["metadata"]["namespace"],
                             render_pod(self.kube, self.config, self.cluster, vmi))
        except (net_launcher.RenderError, KubeError) as exc:
            message = "failed to render launch manifest: %s" % exc if isinstance(exc, net_launcher.RenderError) \
                else "failed to create virtual machine pod: %s" % exc
            if status.get("phase") != "Pending":
                self._phase(status, "Pending")
            status["conditions"] = set_condition(status.get("conditions"), "Synchronized", "False",
                                                 "FailedCreate", message)
            self._write(vmi, status, finalizers=finalizers)
            return 5.0
        if status.get("phase") != "Pending":
            self._phase(status, "Pending")
        status["conditions"] = set_condition(status.get("conditions"), "Ready", "False", "PodNotExists",
                                             "virt-launcher pod has not yet been scheduled")
        self._write(vmi, status, finalizers=finalizers)
        return self.stepped(key_of(vmi))

    def _scheduling(self, vmi, pods):
        status = copy.deepcopy(vmi.get("status") or {})
        pod = current_pod(vmi, pods)
        if pod is None:
            self._phase(status, "Failed")
            self._write(vmi, status)
            return None
        unscheduled = find_condition(pod, "PodScheduled") or {}
        conditions = status.get("conditions")
        if unscheduled.get("status") == "False":
            conditions = set_condition(conditions, "PodScheduled", "False", unscheduled.get("reason", ""),
                                       unscheduled.get("message", ""))
        else:
            conditions = drop_condition(conditions, "PodScheduled")
        conditions = set_condition(conditions, "Ready", "False", "GuestNotRunning",
                                   "Guest VM is not reported as running")
        status["conditions"] = conditions
        labels = None
        if pod_ready(pod):
            node = pod["spec"]["nodeName"]
            self._phase(status, "Scheduled")
            status.update(nodeName=node, activePods={pod["metadata"]["uid"]: node}, migrationTransport="Unix",
                          qosClass=(pod.get("status") or {}).get("qosClass", "Burstable"))
            labels = dict(vmi["metadata"].get("labels") or {}, **{NODE_LABEL: node})
        written = self._write(vmi, status, labels=labels)
        return self.stepped(key_of(vmi)) if written and labels else None

    def _start_domain(self, vmi, pods):
        """virt-handler starts the domain: the VMI is Running."""
        pod = current_pod(vmi, pods)
        if pod is None:
            return None
        status = copy.deepcopy(vmi.get("status") or {})
        kubevirt = self.cluster.kubevirt()
        status["interfaces"] = net_status.full_statuses(vmi, pod_ips(pod), pod_network_status(pod), self.state.macs)
        status["conditions"] = running_conditions(vmi, kubevirt, pod)
        compute = next((c for c in pod["spec"]["containers"] if c["name"] == "compute"), {})
        status.update(guestOSInfo=GUEST_OS, launcherContainerImageVersion=compute.get("image"),
                      migrationMethod="LiveMigration", runtimeUser=107, selinuxContext="none")
        self._phase(status, "Running")
        self._write(vmi, status)
        return self.stepped(key_of(vmi))

    # ------------------------------------------------------------- running
    def _running(self, vmi, pods):
        key = key_of(vmi)
        pod = current_pod(vmi, pods)
        status = copy.deepcopy(vmi.get("status") or {})
        if pod is None:
            if not any(p for p in pods if not p["metadata"].get("deletionTimestamp")):
                self._phase(status, "Failed")
                status["conditions"] = set_condition(status.get("conditions"), "Ready", "False", "PodTerminating",
                                                     "virt-launcher pod is terminating")
                self._write(vmi, status)
            return None
        kubevirt = self.cluster.kubevirt()
        status["conditions"] = running_conditions(vmi, kubevirt, pod)
        migration = status.get("migrationState") or {}
        migrating = bool(migration) and not migration.get("completed") and not migration.get("failed")
        stepped = False
        if not migrating:
            stepped = self._update_pod_networks(vmi, pod, kubevirt)
            if not stepped:
                interfaces = net_status.next_hotplug_statuses(vmi, pod_ips(pod), pod_network_status(pod),
                                                              self.state.macs)
                if interfaces is not None:
                    status["interfaces"] = interfaces
                    stepped = True
        requeue = None
        if not migrating:
            status["conditions"], requeue = self._migration_required(
                dict(vmi, status=status), pod, status["conditions"])
        self._write(vmi, status)
        return self.stepped(key) if stepped else requeue

    def _update_pod_networks(self, vmi, pod, kubevirt):
        """virt-controller rewrites a ready pod's networks annotation while an
        interface waits to be plugged or unplugged; True when it did."""
        if not pod_ready(pod):
            return False
        try:
            wanted = net_launcher.hotplug_selections(vmi, net_launcher.binding_plugins(kubevirt))
        except net_launcher.RenderError:
            return False
        annotations = pod["metadata"].get("annotations") or {}
        current = json.loads(annotations.get(net_launcher.NETWORKS_ANNOTATION) or "[]")
        if wanted is None or wanted == current:
            return False
        self.kube.merge_patch("/api/v1/namespaces/%s/pods/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"]),
                              {"metadata": {"annotations": {
                                  net_launcher.NETWORKS_ANNOTATION: json.dumps(wanted) if wanted else ""}}})
        return True

    def _migration_required(self, vmi, pod, conditions):
        """syncMigrationRequiredCondition; returns (conditions, requeue)."""
        result = net_spec.migration_requirement(
            vmi.get("spec"), (vmi.get("status") or {}).get("interfaces"),
            pod_network_status(pod), vmi["metadata"]["namespace"])
        existing = find_condition(conditions, "MigrationRequired")
        if result == net_spec.NOT_REQUIRED:
            return drop_condition(conditions, "MigrationRequired"), None
        if (existing or {}).get("status") == "True":
            return conditions, None
        if result == net_spec.IMMEDIATE:
            return set_condition(conditions, "MigrationRequired", "True", "AutoMigrationDueToLiveUpdate"), None
        grace = float(self.config.get("dynamic_network_grace_period"))
        if existing is not None and existing.get("status") == "False":
            elapsed = seconds_since(existing["lastTransitionTime"])
            if elapsed > grace:
                return set_condition(conditions, "MigrationRequired", "True", "AutoMigrationDueToLiveUpdate"), None
            return conditions, grace - elapsed + 0.5
        return set_condition(conditions, "MigrationRequired", "False", "AutoMigrationPending"), grace + 0.5

    # ------------------------------------------------------------ deletion
    def _delete(self, vmi, pods):
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        for pod in live:
            self.kube.delete("/api/v1/namespaces/%s/pods/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"]))
        if live:
            return self.stepped(key_of(vmi))
        if pods:
            return None   # the pod runtime finishes their deletion
        finalizers = [f for f in vmi["metadata"].get("finalizers") or [] if f != FINALIZER]
        try:
            self._write(vmi, vmi.get("status") or {}, finalizers=finalizers)
        except (NotFound, Conflict):
            return 0.1
        return None


def start(ctx):
    state = net_state(ctx)
    pods = ctx.informer(PODS)
    start_pod_runtime(ctx, state.ips)
    controller = VMIController(ctx.kube, ctx.config, ctx.informer(VMIS), pods, state)
    controller.start()
    return controller
