"""VirtualMachineInstanceMigration (KubeVirt v1.9 migration controller, as the
API shows it): phases Pending -> Scheduling -> Scheduled -> PreparingTarget ->
TargetReady -> Running -> Succeeded, one per ``reconcile_delay``; Failed when
the VMI is missing, not running or not LiveMigratable.  On success the VMI runs
on another node in a new virt-launcher pod that has every network of the VMI
spec (pending hot-plugs attached, unplugged ones gone), ``status.migrationState``
is filled in and ``MigrationRequired`` is removed."""

import logging

from .kapi import NotFound
from .runtime import Controller, key_of
from .vmi import ifaces_of, networks_of, now

log = logging.getLogger("lab.kubevirt.migration")

VMIMS = "/apis/kubevirt.io/v1/virtualmachineinstancemigrations"
STEPS = ["Pending", "Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running", "Succeeded"]


class MigrationController(Controller):
    name = "migration"

    def __init__(self, kube, config, vmims, vmi_controller):
        super().__init__(kube, config)
        self.vmis = vmi_controller
        vmims.add_handler(lambda _t, obj: self.enqueue(key_of(obj), self.config.get("reconcile_delay")))

    def path(self, namespace, name, sub=None):
        return "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstancemigrations/%s%s" % (
            namespace, name, "/" + sub if sub else "")

    def set_phase(self, mig, phase, **extra):
        status = dict(extra, phase=phase)
        stamps = list((mig.get("status") or {}).get("phaseTransitionTimestamps") or [])
        stamps.append({"phase": phase, "phaseTransitionTimestamp": now()})
        status["phaseTransitionTimestamps"] = stamps
        return self.kube.merge_patch(self.path(mig["metadata"]["namespace"], mig["metadata"]["name"], "status"),
                                     {"status": status})

    def reconcile(self, key):
        namespace, name = key.split("/", 1)
        try:
            mig = self.kube.get(self.path(namespace, name))
        except NotFound:
            return None
        phase = (mig.get("status") or {}).get("phase") or ""
        if phase in ("Succeeded", "Failed"):
            return None
        vmi_name = (mig.get("spec") or {}).get("vmiName")
        vmi = self.kube.get_or_none("/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s"
                                    % (namespace, vmi_name))
        problem = None
        if vmi is None:
            problem = "VMI %s/%s does not exist" % (namespace, vmi_name)
        elif (vmi.get("status") or {}).get("phase") != "Running":
            problem = "VMI %s/%s is not running" % (namespace, vmi_name)
        elif not any(c["type"] == "LiveMigratable" and c["status"] == "True"
                     for c in (vmi.get("status") or {}).get("conditions") or []):
            problem = "VMI %s/%s is not live-migratable" % (namespace, vmi_name)
        if problem:
            self.set_phase(mig, "Failed", conditions=[{"type": "Failed", "status": "True", "reason": "Failed",
                                                       "message": problem, "lastTransitionTime": now()}])
            return None
        index = STEPS.index(phase) + 1 if phase in STEPS else 0
        if STEPS[index] == "Succeeded":
            self.complete(mig, vmi)
            return None
        self.set_phase(mig, STEPS[index])
        return self.config.get("reconcile_delay") or 0.02

    def complete(self, mig, vmi):
        source_node = (vmi.get("status") or {}).get("nodeName")
        target_node, _message = self.vmis.pick_node(vmi, exclude=source_node)
        target_node = target_node or source_node
        old_pod = self.vmis.pod_of(vmi)
        new_pod = self.vmis.create_pod(vmi)
        self.vmis.run_pod(new_pod, target_node)
        nets = networks_of(vmi)
        self.vmis.set_attached(new_pod, dict((i["name"], "domain") for i in ifaces_of(vmi)
                                             if "multus" in (nets.get(i["name"]) or {}) and i.get("state") != "absent"))
        if old_pod is not None:
            self.kube.delete("/api/v1/namespaces/%s/pods/%s"
                             % (old_pod["metadata"]["namespace"], old_pod["metadata"]["name"]))
        new_pod = self.vmis.pod_of(vmi)
        status = self.vmis.running_status(vmi, new_pod)
        status["conditions"] = [c for c in status["conditions"] if c["type"] != "MigrationRequired"]
        status["nodeName"] = target_node
        status["migrationState"] = {
            "sourceNode": source_node, "targetNode": target_node, "completed": True, "failed": False,
            "startTimestamp": (mig.get("metadata") or {}).get("creationTimestamp"), "endTimestamp": now(),
            "migrationUid": mig["metadata"]["uid"], "targetPod": new_pod["metadata"]["name"],
            "mode": "PreCopy", "sourcePod": (old_pod or {}).get("metadata", {}).get("name")}
        self.vmis.patch_status(vmi, status)
        self.vmis.pending_since.pop(key_of(vmi), None)
        self.set_phase(mig, "Succeeded", migrationState=status["migrationState"])


def start(ctx):
    controller = MigrationController(ctx.kube, ctx.config, ctx.informer(VMIMS), ctx.vmi_controller)
    controller.start()
    return controller
