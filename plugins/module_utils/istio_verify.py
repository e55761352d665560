# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""After the writes of kubevirt_vm_istio: which running VMs need a restart
to join (or leave) the mesh, whether a restarted one is done (VMI Ready, the
virt-launcher pod with or without istio-proxy), and the per-VM verify report."""


from typing import Any, Collection, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.planner import (
    CREATE, DELETE, UNCHANGED, UPDATE, Action, Kind)
from ansible_collections.kubevirt_net.core.plugins.module_utils.istio import (
    INJECT, MESH_BINDINGS, annotations_of, autoattached, labels_of, pod_interface, selects, template_annotations,
    template_labels)

# (job, Kind, executor result) of every write of a run: job is "owned", "namespace" or "vm"
WriteResult = Tuple[str, Kind, Dict[str, Any]]


def pod_of(vmi: Optional[Dict[str, Any]], pods: Iterable[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The newest non-terminated launcher pod of a VMI."""
    if not vmi:
        return None
    uid = vmi["metadata"].get("uid")
    mine = [p for p in pods if labels_of(p).get("kubevirt.io/created-by") == uid
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not (p.get("metadata") or {}).get("deletionTimestamp")]
    if not mine:
        return None
    return sorted(mine, key=lambda p: (p["metadata"].get("creationTimestamp") or ""))[-1]


def has_proxy(pod: Optional[Dict[str, Any]]) -> bool:
    spec = (pod or {}).get("spec") or {}
    return any(c.get("name") == "istio-proxy" for c in (spec.get("containers") or []) + (spec.get("initContainers") or []))


def vmi_ready(vmi: Optional[Dict[str, Any]]) -> bool:
    if not vmi or (vmi.get("status") or {}).get("phase") != "Running":
        return False
    return (vmspec.condition(vmi, "Ready") or {}).get("status") == "True"


def needs_restart(state: str, vm_after: Dict[str, Any], vmi: Optional[Dict[str, Any]], pod: Optional[Dict[str, Any]],
                  injecting: bool) -> bool:
    """Whether the running VM's pod does not (yet) match its template and its
    namespace as far as Istio goes: the inject annotation on the VMI, the
    binding, and a sidecar exactly when the namespace injects."""
    if vmi is None:
        return False
    annotated_vm = str(template_annotations(vm_after).get(INJECT, "")).lower() == "true"
    annotated_vmi = str(annotations_of(vmi).get(INJECT, "")).lower() == "true"
    if annotated_vm != annotated_vmi:
        return True
    if state == "present":
        _net, iface = pod_interface(vm_after)
        vmi_iface = None
        for candidate in ((vmi.get("spec") or {}).get("domain") or {}).get("devices", {}).get("interfaces") or []:
            if iface is not None and candidate.get("name") == iface.get("name"):
                vmi_iface = candidate
        if iface is not None and vmi_iface is not None and vmspec.binding_of(iface) != vmspec.binding_of(vmi_iface):
            return True
    return pod is not None and has_proxy(pod) != bool(injecting)


def verify_entry(vm_after: Dict[str, Any], vmi: Optional[Dict[str, Any]], pod: Optional[Dict[str, Any]],
                 services: Iterable[Dict[str, Any]], mtls_mode: Optional[str], state: str, restart_required: bool,
                 action: str) -> Dict[str, Any]:
    meta = vm_after.get("metadata") or {}
    _net, iface = pod_interface(vm_after)
    binding = vmspec.binding_of(iface) if iface is not None else ("bridge" if autoattached(vm_after) else None)
    labels = template_labels(vm_after)
    selecting = sorted(s["metadata"].get("name") for s in services   # Services read or rendered: metadata is set
                       if selects((s.get("spec") or {}).get("selector") or {}, labels))
    annotated = str(template_annotations(vm_after).get(INJECT, "")).lower() == "true"
    running = vmi is not None
    entry = {"namespace": meta.get("namespace"), "name": meta.get("name"), "action": action,
             "annotation": annotated, "binding": binding, "binding_ok": binding in MESH_BINDINGS,
             "services": selecting, "running": running, "istio_proxy": has_proxy(pod) if pod is not None else None,
             "ready": vmi_ready(vmi) if running else None, "mtls": mtls_mode, "restart_required": restart_required}
    if state == "present":
        entry["in_mesh"] = bool(annotated and entry["binding_ok"] and selecting and entry["istio_proxy"])
    return entry


# -------------------------------------------------------------- report
def mtls_modes(targets: Iterable[str], pas: Mapping[str, List[Dict[str, Any]]],
               owned_plans: Iterable[Tuple[Kind, List[Action]]]) -> Dict[str, Optional[str]]:
    """namespace -> the namespace-wide PeerAuthentication mode after the run (read, then as planned)."""
    modes: Dict[str, Optional[str]] = {}
    for namespace in targets:
        for pa in pas.get(namespace) or []:
            if not (pa.get("spec") or {}).get("selector"):
                modes.setdefault(namespace, ((pa.get("spec") or {}).get("mtls") or {}).get("mode"))
    for kind, actions in owned_plans:
        if kind.resource.kind != "PeerAuthentication":
            continue
        for action in actions:
            if action.method == DELETE:
                modes.pop(action.key[0], None)
            elif action.desired is not None:
                modes[action.key[0]] = action.desired["spec"]["mtls"]["mode"]
    return modes


def report_objects(results: Iterable[WriteResult]) -> List[Dict[str, Any]]:
    """The per-object part of the report (VMs are in the per-VM report)."""
    objects = []
    for _type, kind, result in results:
        if _type == "vm":
            continue
        entry = {"kind": kind.resource.kind, "namespace": result["namespace"] or None, "name": result["name"],
                 "method": result["method"]}
        if result.get("error"):
            entry["error"] = str(result["error"])
        objects.append(entry)
    return objects


def report_totals(results: Iterable[WriteResult], restarted: Collection[Tuple[str, str]],
                  vm_report: Iterable[Dict[str, Any]]) -> Dict[str, int]:
    """How many objects each method touched (failed writes are not counted), restarts."""
    totals = dict((m, 0) for m in (CREATE, UPDATE, DELETE, UNCHANGED))
    for _type, _kind, result in results:
        if not result.get("error"):
            totals[result["method"]] = totals.get(result["method"], 0) + 1
    totals["restarted"] = len(restarted)
    totals["restart_required"] = len([e for e in vm_report if e["restart_required"]])
    return totals


def report_diff(results: Iterable[WriteResult]) -> Dict[str, Dict[str, Any]]:
    """--diff: before and after of every object that changed, labelled '<Kind> <namespace>/<name>'."""
    before: Dict[str, Any] = {}
    after: Dict[str, Any] = {}
    for _type, kind, result in results:
        if result["method"] == UNCHANGED:
            continue
        label = "%s %s" % (kind.resource.kind, "/".join(p for p in (result["namespace"], result["name"]) if p))
        if result["before"] is not None:
            before[label] = result["before"]
        if result["after"] is not None:
            after[label] = result["after"]
    return {"before": before, "after": after}
