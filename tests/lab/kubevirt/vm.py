"""The VirtualMachine controller, as KubeVirt v1.9.0's virt-controller runs it
(``pkg/virt-controller/watch/vm/vm.go``, with the network synchronizer of
``pkg/network/controllers/vm.go``):

- run strategies (``syncRunStrategy``): ``Always`` keeps a VMI (a stop
  request for it, or a finished VMI, restarts it); ``RerunOnFailure``
  restarts a failed VMI only; ``Manual`` follows ``status.stateChangeRequests``;
  ``Halted`` deletes the VMI (a start request flips it to ``Always``);
  ``Once`` starts a VMI when there is none; legacy ``spec.running`` maps to
  Always/Halted.  The first state change request is dropped once done
  (``isTrimFirstChangeRequestNeeded``);
- starting: a ControllerRevision ``revision-start-vm-<uid>-<generation>``
  holding the VM spec, then the VMI: same name, ``spec.template`` metadata
  (labels/annotations of the template, not of the VM), the template spec with
  KubeVirt's default pod interface when none is given
  (``vmispec.SetDefaultNetworkInterface``), the ``kubevirt.io/vm-generation``
  annotation, ``status.virtualMachineRevisionName``, owned by the VM
  (controller) so the garbage collector removes it with the VM;
- network sync of a running VM: bridge/SR-IOV interfaces added to the
  template are copied with their network into the VMI, ``state`` changes too,
  Multus networkNames follow (LiveUpdateNADRef); an unplugged (``absent``)
  interface that the VMI status no longer reports is removed with its
  network from the VMI spec and from the VM template (on a stopped VM at once);
- ``RestartRequired`` (``syncRestartRequired``): set with KubeVirt's message
  while the template differs from the started revision in a way a running VM
  cannot follow, removed when it no longer does.  Newly added interfaces are
  not such a change (restart.go only looks at the VMI's current ones): one
  that cannot be hot-plugged simply waits for the next start;
- status: ``printableStatus`` (Terminating, Stopping, Migrating, Running,
  Unschedulable, Starting, Stopped), ``ready``, ``created``, ``runStrategy``,
  ``desiredGeneration``/``observedGeneration``, ``Ready`` (``VMINotExists``
  without a VMI, else the VMI's), the VMI's other conditions, ``Failure`` on a
  failed start, ``RestartRequired``.
"""

import copy
import json

from . import net_spec
from .kapi import Conflict, KubeError, NotFound
from .net_base import ClusterView, PacedController, condition_is, drop_condition, find_condition, set_condition, \
    status_patch


VMS = "/apis/kubevirt.io/v1/virtualmachines"
VMIS = "/apis/kubevirt.io/v1/virtualmachineinstances"
RESTART_MESSAGE = "a non-live-updatable field was changed in the template spec"
GENERATION_ANNOTATION = "kubevirt.io/vm-generation"
NOT_SYNCED = ("Ready", "Failure", "RestartRequired")

# what syncRunStrategy does this round
START, STOP, SET_ALWAYS, RESTART_FAILED = "start", "stop", "set-always", "restart-failed"


def vm_path(namespace, name, sub=""):
    return "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines/%s%s" % (namespace, name, sub)


def vmi_path(namespace, name=None):
    base = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances" % namespace
    return base + "/" + name if name else base


def revision_name(vm):
    return "revision-start-vm-%s-%d" % (vm["metadata"]["uid"], vm["metadata"].get("generation", 1))


# ------------------------------------------------------------ pure rules
def run_strategy(vm):
    """VirtualMachine.RunStrategy(): ``running`` wins when set."""
    spec = vm.get("spec") or {}
    if spec.get("running") is not None:
        return "Always" if spec["running"] else "Halted"
    return spec.get("runStrategy") or "Halted"


def is_final(vmi):
    return ((vmi or {}).get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _requests(vm):
    return (vm.get("status") or {}).get("stateChangeRequests") or []


def has_start_request(vm):
    requests = _requests(vm)
    return bool(requests) and requests[0].get("action") == "Start"


def has_stop_request_for(vm, vmi):
    requests = _requests(vm)
    return bool(requests) and vmi is not None and requests[0].get("action") == "Stop" \
        and requests[0].get("uid") == vmi["metadata"].get("uid")


def first_request_done(vm, vmi):
    """isTrimFirstChangeRequestNeeded."""
    requests = _requests(vm)
    if not requests:
        return False
    first = requests[0]
    if first.get("action") == "Stop":
        return vmi is None or not first.get("uid") or first["uid"] != vmi["metadata"].get("uid")
    if first.get("action") == "Start":
        return vmi is not None and not vmi["metadata"].get("deletionTimestamp") and not is_final(vmi)
    return False


def run_strategy_action(vm, vmi):
    """syncRunStrategy: START, STOP, SET_ALWAYS, RESTART_FAILED or None."""
    strategy = run_strategy(vm)
    deleting = vmi is not None and vmi["metadata"].get("deletionTimestamp")
    if strategy == "Always":
        if vmi is None:
            return START
        return STOP if (has_stop_request_for(vm, vmi) or is_final(vmi)) and not deleting else None
    if strategy == "RerunOnFailure":
        if vmi is not None:
            phase = (vmi.get("status") or {}).get("phase")
            if deleting or not (has_stop_request_for(vm, vmi) or phase in ("Failed", "Succeeded")):
                return None
            return RESTART_FAILED if phase == "Failed" else STOP
        seen = (vm.get("status") or {}).get("runStrategy")
        return START if has_start_request(vm) or seen != strategy else None
    if strategy == "Manual":
        if vmi is not None:
            return STOP if has_stop_request_for(vm, vmi) and not deleting else None
        return START if has_start_request(vm) else None
    if strategy == "Halted":
        if vmi is None:
            return SET_ALWAYS if has_start_request(vm) else None
        return None if deleting else STOP
    if strategy == "Once":
        return START if vmi is None else None
    return None


def printable_status(vm, vmi):
    """setPrintableStatus, first match wins."""
    if vm["metadata"].get("deletionTimestamp"):
        return "Terminating"
    if vmi is None:
        return "Stopped"
    status = vmi.get("status") or {}
    phase = status.get("phase") or ""
    if not is_final(vmi) and vmi["metadata"].get("deletionTimestamp"):
        return "Stopping"
    migration = status.get("migrationState") or {}
    if migration.get("startTimestamp") and not migration.get("endTimestamp"):
        return "Migrating"
    if phase == "Running":
        return "Paused" if condition_is(vmi, "Paused") else "Running"
    pod_scheduled = find_condition(vmi, "PodScheduled") or {}
    if pod_scheduled.get("status") == "False" and pod_scheduled.get("reason") == "Unschedulable":
        return "Unschedulable"
    if phase in ("", "Pending", "Scheduling", "Scheduled"):
        return "Starting"
    return "Stopped"


def default_interface(spec, network_config):
    """vmispec.SetDefaultNetworkInterface: the template spec the VMI gets,
    or a ValueError KubeVirt would report."""
    devices = (spec.get("domain") or {}).get("devices") or {}
    if devices.get("autoattachPodInterface") is False or net_spec.interfaces(spec) or net_spec.networks(spec):
        return spec
    binding = network_config.get("defaultNetworkInterface") or "bridge"
    if binding == "bridge" and network_config.get("permitBridgeInterfaceOnPodNetwork") is False:
        raise ValueError("bridge interface is not enabled in kubevirt-config")
    if binding not in ("bridge", "masquerade"):
        raise ValueError("%s interface is deprecated as of v1.3" % binding)
    return net_spec.with_interfaces(spec, [{"name": "default", binding: {}}], [{"name": "default", "pod": {}}])


def new_vmi(vm, spec):
    meta = vm["metadata"]
    template_meta = ((vm.get("spec") or {}).get("template") or {}).get("metadata") or {}
    annotations = dict(template_meta.get("annotations") or {})
    annotations[GENERATION_ANNOTATION] = str(meta.get("generation", 1))
    body = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                         "annotations": annotations,
                         "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                                              "name": meta["name"], "uid": meta["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": copy.deepcopy(spec), "status": {"virtualMachineRevisionName": revision_name(vm)}}
    if template_meta.get("labels"):
        body["metadata"]["labels"] = dict(template_meta["labels"])
    return body


# ------------------------------------------------------------ controller
class VMController(PacedController):
    name = "vm"

    def __init__(self, kube, config, vms, vmis):
        super().__init__(kube, config)
        self.cluster = ClusterView(kube, config)
        self.revisions = {}   # ControllerRevisions never change: name -> VM spec
        vms.add_handler(self.on_event)
        vmis.add_handler(self._vmi_event)

    def _vmi_event(self, _event_type, vmi):
        for ref in vmi["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "VirtualMachine" and ref.get("controller"):
                self.enqueue("%s/%s" % (vmi["metadata"]["namespace"], ref["name"]), self.delay)

    def reconcile(self, key):
        namespace, name = key.split("/", 1)
        vm = self.kube.get_or_none(vm_path(namespace, name))
        if vm is None:
            self.forget(key)
            return None
        wait = self.wait_left(key)
        if wait:
            return wait
        vmi = self.kube.get_or_none(vmi_path(namespace, name))
        original = copy.deepcopy(vm)
        kubevirt = self.cluster.kubevirt()
        failure = None
        acted = False
        if not vm["metadata"].get("deletionTimestamp"):
            try:
                vm, vmi, acted = self._sync_run_strategy(vm, vmi, kubevirt)
            except (KubeError, ValueError) as exc:
                failure = "Failure while starting VMI: %s" % _message(exc)
            if vmi is not None and not vmi["metadata"].get("deletionTimestamp"):
                vm, vmi = self._sync_networks(vm, vmi, kubevirt)
            elif vmi is None:
                vm = self._clear_absent_on_stopped(vm)
        restart = self._restart_required(vm, vmi, kubevirt)
        vmi = self._bump_generation(vm, vmi, restart)
        self._update_status(original, vm, vmi, restart, failure)
        return self.stepped(key) if acted else (5.0 if failure else None)

    def _bump_generation(self, vm, vmi, restart):
        """conditionallyBumpGenerationAnnotationOnVmi: a template change the
        running VMI follows counts as observed."""
        generation = str(vm["metadata"].get("generation", 1))
        if vmi is None or restart or vmi["metadata"].get("deletionTimestamp") or \
                (vmi["metadata"].get("annotations") or {}).get(GENERATION_ANNOTATION) == generation:
            return vmi
        return self.kube.merge_patch(vmi_path(vmi["metadata"]["namespace"], vmi["metadata"]["name"]), {
            "metadata": {"annotations": {GENERATION_ANNOTATION: generation}}})

    # ---------------------------------------------------- run strategy
    def _sync_run_strategy(self, vm, vmi, kubevirt):
        action = run_strategy_action(vm, vmi)
        meta = vm["metadata"]
        if action == START:
            return vm, self._start(vm, kubevirt), True
        if action in (STOP, RESTART_FAILED):
            self.kube.delete(vmi_path(meta["namespace"], meta["name"]))
            if action == RESTART_FAILED:
                vm = self.kube.json_patch(vm_path(meta["namespace"], meta["name"], "/status"), [
                    {"op": "add", "path": "/status/stateChangeRequests",
                     "value": _requests(vm) + [{"action": "Start"}]}])
            return vm, self.kube.get_or_none(vmi_path(meta["namespace"], meta["name"])), True
        if action == SET_ALWAYS:
            field = "/spec/running" if (vm.get("spec") or {}).get("running") is not None else "/spec/runStrategy"
            value = True if field == "/spec/running" else "Always"
            return self.kube.json_patch(vm_path(meta["namespace"], meta["name"]),
                                        [{"op": "replace", "path": field, "value": value}]), vmi, True
        return vm, vmi, False

    def _start(self, vm, kubevirt):
        meta = vm["metadata"]
        template = (vm.get("spec") or {}).get("template") or {}
        spec = default_interface(template.get("spec") or {}, self.cluster.network(kubevirt))
        self._save_revision(vm)
        try:
            return self.kube.create(vmi_path(meta["namespace"]), new_vmi(vm, spec))
        except Conflict:
            return self.kube.get_or_none(vmi_path(meta["namespace"], meta["name"]))

    def _save_revision(self, vm):
        meta = vm["metadata"]
        base = "/apis/apps/v1/namespaces/%s/controllerrevisions" % meta["namespace"]
        name = revision_name(vm)
        prefix = "revision-start-vm-%s-" % meta["uid"]
        for old in self.kube.list(base)["items"]:
            if old["metadata"]["name"].startswith(prefix) and old["metadata"]["name"] != name:
                self.kube.delete(base + "/" + old["metadata"]["name"])
        try:
            self.kube.create(base, {
                "apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": name, "ownerReferences": [
                    {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": meta["name"],
                     "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
                "data": {"spec": vm.get("spec") or {}}, "revision": meta.get("generation", 1)})
        except Conflict:
            pass

    def _started_spec(self, vmi):
        """The VM spec the VMI was started from (its ControllerRevision)."""
        name = (vmi.get("status") or {}).get("virtualMachineRevisionName")
        if not name:
            return None
        key = "%s/%s" % (vmi["metadata"]["namespace"], name)
        if key not in self.revisions:
            revision = self.kube.get_or_none("/apis/apps/v1/namespaces/%s/controllerrevisions/%s"
                                             % (vmi["metadata"]["namespace"], name))
            if revision is None:
                return None
            self.revisions[key] = (revision.get("data") or {}).get("spec")
        return self.revisions[key]

    # -------------------------------------------------------- network sync
    def _sync_networks(self, vm, vmi, kubevirt):
        meta = vm["metadata"]
        template_spec = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
        vmi_spec = vmi.get("spec") or {}
        reported = set(net_spec.by_name((vmi.get("status") or {}).get("interfaces")))
        wanted = net_spec.apply_dynamic_iface_requests(template_spec, vmi_spec,
                                                       self.cluster.gate(kubevirt, "LiveUpdateNADRef"))
        ifaces, nets = net_spec.clear_detached(net_spec.interfaces(wanted), net_spec.networks(wanted), reported)
        if ifaces != net_spec.interfaces(vmi_spec) or nets != net_spec.networks(vmi_spec):
            vmi = self.kube.json_patch(vmi_path(meta["namespace"], meta["name"]), [
                {"op": "test", "path": "/spec/networks", "value": net_spec.networks(vmi_spec)},
                {"op": "add", "path": "/spec/networks", "value": nets},
                {"op": "test", "path": "/spec/domain/devices/interfaces", "value": net_spec.interfaces(vmi_spec)},
                {"op": "add", "path": "/spec/domain/devices/interfaces", "value": ifaces}])
        keep = set(net_spec.by_name(ifaces)) | reported
        return self._write_template_networks(vm, [i for i in net_spec.interfaces(template_spec)
                                                  if i.get("state") != net_spec.ABSENT or i["name"] in keep]), vmi

    def _clear_absent_on_stopped(self, vm):
        template_spec = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
        return self._write_template_networks(vm, [i for i in net_spec.interfaces(template_spec)
                                                  if i.get("state") != net_spec.ABSENT])

    def _write_template_networks(self, vm, ifaces):
        """clearDetachedIfacesFromVM: keep ``ifaces`` and their networks."""
        template_spec = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
        if len(ifaces) == len(net_spec.interfaces(template_spec)):
            return vm
        nets = net_spec.networks_of_interfaces(net_spec.networks(template_spec), ifaces)
        meta = vm["metadata"]
        return self.kube.json_patch(vm_path(meta["namespace"], meta["name"]), [
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
            {"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces", "value": ifaces},
            {"op": "replace", "path": "/spec/template/spec/networks", "value": nets}])

    # --------------------------------------------------------------- status
    def _restart_required(self, vm, vmi, kubevirt):
        if vmi is None or vmi["metadata"].get("deletionTimestamp"):
            return False
        started = self._started_spec(vmi)
        if started is None:
            return False
        network_config = self.cluster.network(kubevirt)

        def effective(spec):
            try:
                return default_interface(spec, network_config)
            except ValueError:
                return spec

        seen = effective(((started.get("template") or {}).get("spec")) or {})
        current = effective((((vm.get("spec") or {}).get("template") or {}).get("spec")) or {})
        return net_spec.restart_required(seen, current, vmi.get("spec") or {},
                                         self.cluster.gate(kubevirt, "LiveUpdateNADRef"),
                                         self.cluster.live_update(kubevirt))

    def _update_status(self, original, vm, vmi, restart, failure):
        old = copy.deepcopy(vm.get("status") or {})
        status = copy.deepcopy(old)
        meta = vm["metadata"]
        status["created"] = vmi is not None
        status["ready"] = vmi is not None and condition_is(vmi, "Ready")
        if status.get("runStrategy") or vmi is not None:
            status["runStrategy"] = run_strategy(original)
        status["desiredGeneration"] = meta.get("generation", 1)
        if vmi is not None:
            started = (vmi["metadata"].get("annotations") or {}).get(GENERATION_ANNOTATION)
            status["observedGeneration"] = int(started or meta.get("generation", 1))
        if first_request_done(vm, vmi):
            status["stateChangeRequests"] = _requests(vm)[1:]
        if not status.get("stateChangeRequests"):
            status.pop("stateChangeRequests", None)
        conditions = self._conditions(status.get("conditions"), vmi, restart, failure)
        if conditions:
            status["conditions"] = conditions
        status["printableStatus"] = printable_status(vm, vmi)
        patch = status_patch(old, status)
        if not patch:
            return
        try:
            self.kube.merge_patch(vm_path(meta["namespace"], meta["name"], "/status"), {
                "metadata": {"resourceVersion": vm["metadata"]["resourceVersion"]}, "status": patch})
        except NotFound:
            pass

    @staticmethod
    def _conditions(conditions, vmi, restart, failure):
        """syncConditions + syncRestartRequired."""
        conditions = list(conditions or [])
        if vmi is None:
            conditions = set_condition(conditions, "Ready", "False", "VMINotExists", "VMI does not exist")
        else:
            ready = find_condition(vmi, "Ready")
            if ready is None:
                conditions = set_condition(conditions, "Ready", "False", "VMIConditionMissing",
                                           "VMI is missing the Ready condition")
            else:
                conditions = set_condition(conditions, "Ready", ready["status"], ready.get("reason", ""),
                                           ready.get("message", ""))
            synced = [c for c in (vmi.get("status") or {}).get("conditions") or [] if c["type"] not in NOT_SYNCED]
            names = {c["type"] for c in synced}
            conditions = [c for c in conditions if c["type"] in NOT_SYNCED or c["type"] in names]
            for cond in synced:
                conditions = set_condition(conditions, cond["type"], cond["status"], cond.get("reason", ""),
                                           cond.get("message", ""))
        if failure:
            conditions = set_condition(conditions, "Failure", "True", "FailedCreate", failure)
        else:
            conditions = drop_condition(conditions, "Failure")
        if restart:
            conditions = set_condition(conditions, "RestartRequired", "True", "", RESTART_MESSAGE)
        else:
            conditions = drop_condition(conditions, "RestartRequired")
        return conditions


def _message(exc):
    body = getattr(exc, "body", None)
    if body:
        try:
            return json.loads(body).get("message") or body
        except ValueError:
            return body
    return str(exc)


def start(ctx):
    controller = VMController(ctx.kube, ctx.config, ctx.informer(VMS), ctx.informer(VMIS))
    controller.start()
    return controller
