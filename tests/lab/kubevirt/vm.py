"""The VirtualMachine controller (KubeVirt v1.9 ``pkg/virt-controller/watch/vm``
and ``pkg/network/controllers/vm.go``), as far as networking shows it:

- run strategy: ``Always``/``RerunOnFailure`` (and legacy ``running: true``)
  keep a VMI; ``Halted`` (``running: false``) deletes it; ``Manual`` follows
  the start/stop subresources (``status.stateChangeRequests``);
- the VMI is created from ``spec.template`` (labels/annotations from the
  template's metadata, not the VM's), owned by the VM (garbage collected);
- network sync of a running VM: interfaces+networks added to the template with
  a ``bridge`` or ``sriov`` binding are copied into the VMI spec, ``state``
  changes too; once an unplugged interface is gone from the VMI status, it and
  its network are removed from the VMI spec and the VM template
  (clearDetachedIfacesFromVMI/FromVM);
- ``RestartRequired`` when the template changed in a way the running VMI cannot
  follow (anything but the live-updatable network changes above, a NAD swap,
  and metadata), with KubeVirt's message;
- status: ``printableStatus``, ``ready``, ``created``, conditions ``Ready``
  (``VMINotExists`` when there is no VMI).
"""

import copy
import datetime
import logging

from .kapi import Conflict, NotFound
from .runtime import Controller, key_of

log = logging.getLogger("lab.kubevirt.vm")

VMS = "/apis/kubevirt.io/v1/virtualmachines"
VMIS = "/apis/kubevirt.io/v1/virtualmachineinstances"
RESTART_MESSAGE = "a non-live-updatable field was changed in the template spec"
LIVE_BINDINGS = ("bridge", "sriov")


def vm_path(namespace, name, sub=None):
    return "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines/%s%s" % (namespace, name, "/" + sub if sub else "")


def vmi_path(namespace, name=None):
    base = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances" % namespace
    return base + "/" + name if name else base


def wants_running(vm):
    spec = vm.get("spec") or {}
    strategy = spec.get("runStrategy")
    if strategy is None:
        return bool(spec.get("running"))
    if strategy == "Manual" or strategy == "Once":
        requests = (vm.get("status") or {}).get("stateChangeRequests") or []
        if requests:
            return requests[-1].get("action") == "Start"
        return strategy == "Once" and not (vm.get("status") or {}).get("created")
    return strategy in ("Always", "RerunOnFailure")


def _ifaces(spec):
    return ((spec.get("domain") or {}).get("devices") or {}).get("interfaces") or []


def _binding(iface):
    for name in ("bridge", "masquerade", "sriov", "passtBinding", "binding"):
        if name in iface:
            return name
    return None


def _without_network(spec):
    """The template spec minus what may change live (interfaces/networks)."""
    spec = copy.deepcopy(spec)
    devices = (spec.get("domain") or {}).get("devices") or {}
    devices.pop("interfaces", None)
    spec.pop("networks", None)
    for key in ("hostname", "subdomain"):
        spec.pop(key, None)
    return spec


def live_updatable(old_spec, new_spec):
    """True when the template change from ``old_spec`` is something a running
    VMI can follow: bridge/sriov interfaces added with their network, state
    changes, a Multus networkName swap."""
    if _without_network(old_spec) != _without_network(new_spec):
        return False
    old_ifaces = {i["name"]: i for i in _ifaces(old_spec)}
    old_nets = {n["name"]: n for n in old_spec.get("networks") or []}
    for iface in _ifaces(new_spec):
        before = old_ifaces.get(iface["name"])
        if before is None:
            if _binding(iface) not in LIVE_BINDINGS:
                return False
            continue
        if {k: v for k, v in iface.items() if k != "state"} != {k: v for k, v in before.items() if k != "state"}:
            return False
    for net in new_spec.get("networks") or []:
        before = old_nets.get(net["name"])
        if before is None:
            continue
        if "multus" in net and "multus" in before:
            if {k: v for k, v in net["multus"].items() if k != "networkName"} != \
                    {k: v for k, v in before["multus"].items() if k != "networkName"}:
                return False
        elif net != before:
            return False
    # an interface or network removed from the template (not via state: absent)
    new_names = {i["name"] for i in _ifaces(new_spec)}
    return all(name in new_names for name in old_ifaces)


class VMController(Controller):
    name = "vm"

    def __init__(self, kube, config, vms, vmis):
        super().__init__(kube, config)
        self.vms = vms
        self.vmis = vmis
        vms.add_handler(lambda _t, obj: self.enqueue(key_of(obj), self.config.get("reconcile_delay")))
        vmis.add_handler(self._vmi_changed)

    def _vmi_changed(self, _event, vmi):
        for ref in (vmi.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("kind") == "VirtualMachine":
                self.enqueue("%s/%s" % (vmi["metadata"]["namespace"], ref["name"]),
                             self.config.get("reconcile_delay"))

    def reconcile(self, key):
        namespace, name = key.split("/", 1)
        try:
            vm = self.kube.get(vm_path(namespace, name))
        except NotFound:
            return None
        vmi = self.kube.get_or_none(vmi_path(namespace, name))
        if (vm.get("metadata") or {}).get("deletionTimestamp"):
            return None
        running = wants_running(vm)
        if running and vmi is None:
            vmi = self._create_vmi(vm)
        elif not running and vmi is not None:
            if not (vmi.get("metadata") or {}).get("deletionTimestamp"):
                self.kube.delete(vmi_path(namespace, name))
            vmi = None
        elif vmi is not None and (vmi.get("status") or {}).get("phase") in ("Succeeded", "Failed") and \
                (vm.get("spec") or {}).get("runStrategy") in ("Always", "RerunOnFailure"):
            self.kube.delete(vmi_path(namespace, name))
            return 0.2
        if vmi is not None:
            vm, vmi = self._sync_networks(vm, vmi)
        self._update_status(vm, vmi)
        return None

    def _create_vmi(self, vm):
        meta = vm["metadata"]
        template = copy.deepcopy((vm.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        body = {
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                         "labels": dict(tmeta.get("labels") or {}, **{"kubevirt.io/vm": meta["name"]}),
                         "annotations": dict(tmeta.get("annotations") or {}),
                         "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                                              "name": meta["name"], "uid": meta["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": template.get("spec") or {},
        }
        spec = body["spec"]
        if not _ifaces(spec) and not spec.get("networks"):
            devices = spec.setdefault("domain", {}).setdefault("devices", {})
            if devices.get("autoattachPodInterface", True) is not False:
                devices["interfaces"] = [{"name": "default", "bridge": {}}]
                spec["networks"] = [{"name": "default", "pod": {}}]
        try:
            return self.kube.create(vmi_path(meta["namespace"]), body)
        except Conflict:
            return self.kube.get(vmi_path(meta["namespace"], meta["name"]))

    def _sync_networks(self, vm, vmi):
        """Copy live-updatable interface changes into the VMI; clear detached ones."""
        namespace, name = vm["metadata"]["namespace"], vm["metadata"]["name"]
        tspec = (vm.get("spec") or {}).get("template", {}).get("spec") or {}
        vspec = copy.deepcopy(vmi.get("spec") or {})
        v_ifaces = {i["name"]: i for i in _ifaces(vspec)}
        v_nets = {n["name"]: n for n in vspec.get("networks") or []}
        t_nets = {n["name"]: n for n in tspec.get("networks") or []}
        changed = False
        for iface in _ifaces(tspec):
            current = v_ifaces.get(iface["name"])
            net = t_nets.get(iface["name"])
            if current is None and _binding(iface) in LIVE_BINDINGS and net is not None and iface.get("state") != "absent":
                vspec["domain"]["devices"]["interfaces"].append(copy.deepcopy(iface))
                vspec.setdefault("networks", []).append(copy.deepcopy(net))
                changed = True
            elif current is not None and current.get("state") != iface.get("state"):
                current["state"] = iface.get("state")
                if current.get("state") is None:
                    current.pop("state")
                changed = True
            if net is not None and iface["name"] in v_nets and "multus" in net and "multus" in v_nets[iface["name"]] \
                    and net["multus"].get("networkName") != v_nets[iface["name"]]["multus"].get("networkName"):
                v_nets[iface["name"]]["multus"]["networkName"] = net["multus"]["networkName"]
                changed = True
        # detached interfaces: gone from the VMI status -> drop from VMI spec and VM template
        reported = {i.get("name") for i in (vmi.get("status") or {}).get("interfaces") or []}
        detached = [i["name"] for i in _ifaces(vspec) if i.get("state") == "absent" and i["name"] not in reported
                    and (vmi.get("status") or {}).get("phase") == "Running"]
        if detached:
            vspec["domain"]["devices"]["interfaces"] = [i for i in _ifaces(vspec) if i["name"] not in detached]
            vspec["networks"] = [n for n in vspec.get("networks") or [] if n["name"] not in detached]
            changed = True
        if changed:
            vmi = self.kube.json_patch(vmi_path(namespace, name), [
                {"op": "test", "path": "/metadata/resourceVersion", "value": vmi["metadata"]["resourceVersion"]},
                {"op": "replace", "path": "/spec", "value": vspec}])
        if detached:
            ifaces = [i for i in _ifaces(tspec) if i["name"] not in detached]
            nets = [n for n in tspec.get("networks") or [] if n["name"] not in detached]
            vm = self.kube.json_patch(vm_path(namespace, name), [
                {"op": "test", "path": "/spec/template/spec/domain/devices/interfaces", "value": _ifaces(tspec)},
                {"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces", "value": ifaces},
                {"op": "replace", "path": "/spec/template/spec/networks", "value": nets}])
        return vm, vmi

    def _update_status(self, vm, vmi):
        namespace, name = vm["metadata"]["namespace"], vm["metadata"]["name"]
        phase = ((vmi or {}).get("status") or {}).get("phase")
        ready = vmi is not None and any(c.get("type") == "Ready" and c.get("status") == "True"
                                        for c in (vmi.get("status") or {}).get("conditions") or [])
        if vmi is None:
            printable = "Stopped"
        elif phase == "Running":
            printable = "Running"
        elif phase in ("Succeeded", "Failed"):
            printable = "Stopped" if phase == "Succeeded" else "CrashLoopBackOff"
        else:
            printable = "Starting"
        conditions = []
        old = {c["type"]: c for c in (vm.get("status") or {}).get("conditions") or []}
        if vmi is None:
            conditions.append(_condition(old, "Ready", "False", "VMINotExists", "VMI does not exist"))
        else:
            conditions.append(_condition(old, "Ready", "True" if ready else "False", "" if ready else "NotReady", ""))
            tspec = (vm.get("spec") or {}).get("template", {}).get("spec") or {}
            if not live_updatable(vmi.get("spec") or {}, tspec):
                conditions.append(_condition(old, "RestartRequired", "True", "", RESTART_MESSAGE))
        status = {"printableStatus": printable, "ready": ready, "created": vmi is not None,
                  "conditions": conditions}
        for key in ("stateChangeRequests",):
            if (vm.get("status") or {}).get(key):
                status[key] = vm["status"][key]
        current = vm.get("status") or {}
        if {k: current.get(k) for k in status} != status:
            try:
                self.kube.merge_patch(vm_path(namespace, name, "status"),
                                      {"status": dict(status, conditions=conditions)})
            except NotFound:
                pass


def _condition(old, kind, status, reason, message):
    previous = old.get(kind) or {}
    entry = {"type": kind, "status": status}
    if reason:
        entry["reason"] = reason
    if message:
        entry["message"] = message
    entry["lastTransitionTime"] = previous.get("lastTransitionTime") if previous.get("status") == status else None
    entry["lastProbeTime"] = None
    if entry["lastTransitionTime"] is None:
        entry["lastTransitionTime"] = datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"
    return entry


def start(ctx):
    controller = VMController(ctx.kube, ctx.config, ctx.informer(VMS), ctx.informer(VMIS))
    controller.start()
    return controller
