# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Services for KubeVirt VMs (pure logic).

A Service selects the VM's virt-launcher pod.  The pod's labels are the VMI's,
which KubeVirt copies from the VM's ``spec.template.metadata.labels`` when it
creates the VMI (not from the VM's own ``metadata.labels``), plus KubeVirt's
``vmi.kubevirt.io/id`` (1.7+: the VMI name, truncated and hashed beyond 63
characters).  With masquerade or passt on the pod network a non-empty
interface ``ports`` list is all that reaches the guest, so a Service target
port must be in it.  A per-VM DNS record needs ``subdomain`` on the VM and a
headless Service of that name.
"""


import copy
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.planner import Kind
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, SERVICE)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

VMI_ID_LABEL = "vmi.kubevirt.io/id"
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "headless")
HEADLESS = "headless"
TEMPLATE_LABELS, VMI_ID = "template_labels", "vmi_id"
DEFAULT_AFFINITY_TIMEOUT = 10800
FORWARDING_BINDINGS = ("masquerade", "passtBinding")
PROTOCOLS = ("TCP", "UDP", "SCTP")


# the VM accessors live in vmspec; these names are this module's public API
vmi_id = vmspec.vmi_id
template_labels = vmspec.template_labels
metadata_labels = vmspec.metadata_labels
hostname_of = vmspec.hostname_of


def matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def common_labels(vms: List[Dict[str, Any]]) -> Dict[str, str]:
    """The template labels every one of ``vms`` carries with the same value."""
    if not vms:
        return {}
    common = template_labels(vms[0])
    for vm in vms[1:]:
        labels = template_labels(vm)
        common = dict((k, v) for k, v in common.items() if labels.get(k) == v)
    return common


def selector_text(selector: Mapping[str, str]) -> str:
    """The label selector query of a Service's ``spec.selector`` (a label map)."""
    return selectors.query({"matchLabels": selector})


def dns_name(vm: Dict[str, Any], subdomain: str, namespace: str, cluster_domain: str) -> str:
    return "%s.%s.%s.svc.%s" % (hostname_of(vm), subdomain, namespace, cluster_domain.strip("."))


# ------------------------------------------------------------ ports
def pod_interface(vm: Dict[str, Any]) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """(interface, binding) of the VM's pod-network interface, or (None, None)."""
    _network, iface = vmspec.pod_interface(vm)
    if iface is not None:
        return iface, vmspec.binding_of(iface)
    if not vmspec.networks_of(vm) and not vmspec.interfaces_of(vm):
        return {"name": "default"}, None  # implicit pod network, cluster default binding
    return None, None


def port_key(port: Dict[str, Any]) -> Tuple[str, Optional[int]]:
    return (port.get("protocol") or "TCP", port.get("port"))


def target_of(port: Dict[str, Any]) -> Union[int, str, None]:
    """The Service port's targetPort (defaults to port)."""
    target = port.get("target_port")  # type: Any
    if target in (None, ""):
        return port.get("port")
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    return str(target)


def check_ports(problems: Problems, vm: Dict[str, Any], ports: List[Dict[str, Any]]) -> None:
    """Every Service target port must reach the guest: with masquerade or passt
    and a non-empty ``ports`` list it must be listed; a named target port must
    be a named interface port (KubeVirt publishes interface ports as the
    virt-launcher container's ports)."""
    where = "VirtualMachine %s/%s" % (vm["metadata"].get("namespace"), vm["metadata"]["name"])
    iface, binding = pod_interface(vm)
    if iface is None:
        problems.add(where, "interfaces", "has no pod network interface, so a Service (which targets the pod IP) "
                     "does not reach it; use a Multus network's own addressing instead")
        return
    listed = iface.get("ports") or []
    named = dict((p.get("name"), p) for i in vmspec.interfaces_of(vm) for p in (i.get("ports") or [])
                 if p.get("name"))
    for index, port in enumerate(ports):
        target = target_of(port)
        protocol = port.get("protocol") or "TCP"
        field = "ports[%d].target_port" % index
        if isinstance(target, str):
            if target not in named:
                problems.add(where, field, "%r is not a named port of the VM (interface ports: %s); name the port in "
                             "the interface's ports (kubevirt_vm_network) or use a number" % (
                                 target, ", ".join(sorted(named)) or "none named"))
            elif (named[target].get("protocol") or "TCP") != protocol:
                problems.add(where, field, "%r is %s on the VM but the Service port is %s" % (
                    target, named[target].get("protocol") or "TCP", protocol))
            continue
        if binding in FORWARDING_BINDINGS and listed and (protocol, target) not in [port_key(p) for p in listed]:
            problems.add(where, field, "%s/%s is not forwarded: interface %s (%s) forwards only %s. Add the port to "
                         "the interface's ports (kubevirt_vm_network) or empty that list to forward all ports" % (
                             target, protocol, iface.get("name"), binding,
                             ", ".join("%s/%s" % (p.get("port"), p.get("protocol") or "TCP") for p in listed)))


def forwarded_ports(vm: Dict[str, Any]) -> Union[List[str], str, None]:
    iface, binding = pod_interface(vm)
    if iface is None:
        return None
    if binding in FORWARDING_BINDINGS and iface.get("ports"):
        return ["%s/%s" % (p.get("port"), p.get("protocol") or "TCP") for p in iface["ports"]]
    return "all"


# ------------------------------------------------------------ the Service
def service_ports(ports: List[Dict[str, Any]], service_type: str) -> List[Dict[str, Any]]:
    out = []
    for port in ports:
        entry = {"port": port["port"], "protocol": port.get("protocol") or "TCP", "targetPort": target_of(port)}
        if port.get("name"):
            entry["name"] = port["name"]
        if port.get("node_port") and service_type in ("NodePort", "LoadBalancer"):
            entry["nodePort"] = port["node_port"]
        out.append(entry)
    return out


def manifest(params: Dict[str, Any], selector: Mapping[str, str]) -> Dict[str, Any]:
    """The Service this task wants."""
    kind = params["type"]
    labels = dict(params.get("labels") or {})
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    meta = {"name": params["name"], "namespace": params["namespace"], "labels": labels}
    if params.get("annotations"):
        meta["annotations"] = dict(params["annotations"])
    spec = {"type": "ClusterIP" if kind == HEADLESS else kind, "selector": dict(selector),
            "ports": service_ports(params.get("ports") or [], kind),
            "sessionAffinity": params.get("session_affinity") or "None"}
    if kind == HEADLESS:
        spec["clusterIP"] = "None"
    if kind in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = params.get("external_traffic_policy") or "Cluster"
    if spec["sessionAffinity"] == "ClientIP":
        spec["sessionAffinityConfig"] = {"clientIP": {
            "timeoutSeconds": params.get("session_affinity_timeout") or DEFAULT_AFFINITY_TIMEOUT}}
    if not spec["ports"]:
        del spec["ports"]
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def is_headless(service: Optional[Dict[str, Any]]) -> bool:
    return ((service or {}).get("spec") or {}).get("clusterIP") == "None"


def _norm_ports(ports: Optional[List[Dict[str, Any]]], keep_node_ports: bool) -> List[Dict[str, Any]]:
    out = []
    for port in ports or []:
        entry = {"name": port.get("name"), "port": port.get("port"), "protocol": port.get("protocol") or "TCP",
                 "targetPort": port.get("targetPort") if port.get("targetPort") is not None else port.get("port")}
        if keep_node_ports and port.get("nodePort"):
            entry["nodePort"] = port["nodePort"]
        out.append(entry)
    return out


class ServiceKind(Kind):
    """The reconcile engine's view of a VM Service: the fields this module owns,
    with the API server's defaults (protocol, targetPort, sessionAffinity,
    externalTrafficPolicy, allocated nodePorts) not counted as differences."""

    def __init__(self) -> None:
        super(ServiceKind, self).__init__(SERVICE)

    def view(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        spec = obj.get("spec") or {}
        meta = obj.get("metadata") or {}
        out = {"labels": dict(meta.get("labels") or {}), "annotations": dict(meta.get("annotations") or {}),
               "type": HEADLESS if is_headless(obj) else spec.get("type") or "ClusterIP",
               "selector": dict(spec.get("selector") or {}),
               "ports": _norm_ports(spec.get("ports"), True),
               "sessionAffinity": spec.get("sessionAffinity") or "None"}
        if spec.get("externalTrafficPolicy"):
            out["externalTrafficPolicy"] = spec["externalTrafficPolicy"]
        if out["sessionAffinity"] == "ClientIP":
            out["sessionAffinityTimeout"] = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get(
                "timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT
        return out

    def same(self, desired: Dict[str, Any], current: Dict[str, Any]) -> bool:
        want, have = self.view(desired), self.view(current)
        pinned = any(p.get("nodePort") for p in want["ports"])
        if not pinned:
            for port in have["ports"]:
                port.pop("nodePort", None)
        have["labels"] = dict((k, v) for k, v in have["labels"].items() if k in want["labels"])
        have["annotations"] = dict((k, v) for k, v in have["annotations"].items() if k in want["annotations"])
        return want == have

    def patch(self, desired: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, Any]:
        spec = copy.deepcopy(desired["spec"])
        kind = spec.get("type")
        current_ports = (current.get("spec") or {}).get("ports") or []
        if kind in ("NodePort", "LoadBalancer"):
            allocated = dict((port_key(p), p.get("nodePort")) for p in current_ports if p.get("nodePort"))
            for port in spec.get("ports") or []:
                if not port.get("nodePort") and allocated.get(port_key(port)):
                    port["nodePort"] = allocated[port_key(port)]  # keep what the server allocated
        else:
            spec["externalTrafficPolicy"] = None
            spec["healthCheckNodePort"] = None
        if "ports" not in spec:
            spec["ports"] = None
        if spec.get("sessionAffinity") != "ClientIP":
            spec["sessionAffinityConfig"] = None
        meta = {"labels": desired["metadata"].get("labels") or {}}
        if desired["metadata"].get("annotations"):
            meta["annotations"] = desired["metadata"]["annotations"]
        return {"metadata": meta, "spec": spec}

    def expected(self, desired: Dict[str, Any], current: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        if current is None:
            return desired
        out = copy.deepcopy(current)
        out["metadata"].setdefault("labels", {}).update(desired["metadata"].get("labels") or {})
        if desired["metadata"].get("annotations"):
            out["metadata"].setdefault("annotations", {}).update(desired["metadata"]["annotations"])
        patch = self.patch(desired, current)["spec"]
        for key, value in patch.items():
            if value is None:
                out["spec"].pop(key, None)
            else:
                out["spec"][key] = value
        return out


def needs_recreate(desired: Dict[str, Any], current: Optional[Dict[str, Any]]) -> bool:
    """clusterIP is immutable: switching between headless and not needs a new Service."""
    return current is not None and is_headless(desired) != is_headless(current)


# ------------------------------------------------------------ diagnosis
def diagnose(selector: Dict[str, str], vms: List[Dict[str, Any]], vmis: List[Dict[str, Any]], pods: List[Dict[str, Any]],
             endpoints: Optional[Dict[str, Any]], ports: List[Dict[str, Any]]) -> List[str]:
    """Why a Service with ``selector`` has no ready endpoint, in plain words."""
    reasons = []  # type: List[str]
    vmi_by_name = dict((v["metadata"]["name"], v) for v in vmis)
    ready = [a for s in (endpoints or {}).get("subsets") or [] for a in s.get("addresses") or []]
    not_ready = [a for s in (endpoints or {}).get("subsets") or [] for a in s.get("notReadyAddresses") or []]
    by_template = [vm for vm in vms if matches(selector, template_labels(vm))]
    by_metadata = [vm for vm in vms if matches(selector, metadata_labels(vm)) and vm not in by_template]
    if ready:
        return reasons
    if not pods:
        for vm in by_metadata:
            reasons.append("VirtualMachine %s carries %s only in metadata.labels; KubeVirt gives the VMI and its pod "
                           "the labels of spec.template.metadata.labels, so the Service selects nothing. Put the "
                           "labels into the template (they apply when the VM (re)starts)"
                           % (vm["metadata"]["name"], selector_text(selector)))
        for vm in by_template:
            name = vm["metadata"]["name"]
            vmi = vmi_by_name.get(name)
            if vmi is None or (vmi.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                reasons.append("VirtualMachine %s is stopped (runStrategy %s): start it" % (
                    name, (vm.get("spec") or {}).get("runStrategy") or ("Always" if (vm.get("spec") or {}).get(
                        "running") else "Halted")))
            elif not matches(selector, metadata_labels(vmi)):
                reasons.append("VirtualMachine %s has the labels in its template, but its running VMI was created "
                               "before they were added (KubeVirt does not propagate template label changes to a "
                               "running VMI): restart the VM" % name)
            else:
                reasons.append("VirtualMachine %s is running but its virt-launcher pod is not there yet (VMI phase "
                               "%s)" % (name, (vmi.get("status") or {}).get("phase")))
        if not by_template and not by_metadata:
            reasons.append("the selector %s matches no VirtualMachine template and no pod in the namespace"
                           % selector_text(selector))
    elif not_ready:
        reasons.append("%d pod(s) match but are not ready: %s" % (
            len(not_ready), ", ".join(((a.get("targetRef") or {}).get("name") or a.get("ip", "")) for a in not_ready)))
    else:
        reasons.append("pods %s match the selector but the endpoints controller published no address; a named "
                       "target port the pods do not declare excludes them" % ", ".join(
                           p["metadata"]["name"] for p in pods))
    for vm in by_template:
        problems = Problems()
        check_ports(problems, vm, ports)
        reasons.extend("port not forwarded: %s" % p["message"] for p in problems.items)
    return reasons
