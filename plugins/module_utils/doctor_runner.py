# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_vm_network_info module's flow: options checked -> bounded
reads (one LIST per kind and namespace, or one cluster-wide LIST per kind
without a namespace; GET only) -> doctor_diagnose.diagnose -> result.  The module
never sends anything but GET requests."""


import copy
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

from ansible_collections.kubevirt_net.core.plugins.module_utils import doctor, doctor_diagnose, doctor_networks, netpol_admin
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_model as nm
from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor_dns import DNS_NAMESPACE
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor_traffic import ISTIO_CNI_SELECTOR, selecting_services
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    DAEMONSET, ENDPOINTS, KUBEVIRT,
    MULTI_NETWORK_POLICY, MUTATING_WEBHOOK, NAD, NAMESPACE, NETWORK_POLICY, NODE, POD, SERVICE, VM, VMI, VMIM,
    ResourceType)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_LABEL, DNS1123_SUBDOMAIN

DYNAMIC_NETWORKS_SELECTOR = "app=dynamic-networks-controller"

KINDS = ((doctor.VMI_KIND, VMI), (doctor.POD_KIND, POD), (doctor.SERVICE_KIND, SERVICE),
         (doctor.ENDPOINTS_KIND, ENDPOINTS), (doctor.POLICY_KIND, NETWORK_POLICY), (doctor.NAD_KIND, NAD),
         (doctor.VMIM_KIND, VMIM))
OPTIONAL_STATUS = (401, 403, 404)
PENDING_KINDS = ("NetworkPolicy", "MultiNetworkPolicy") + doctor_networks.ADMIN_KINDS
T = TypeVar("T")


def check_params(params: Dict[str, Any]) -> List[str]:
    """Problems with the options, as texts; nothing is read before they are fixed."""
    problems: List[str] = []
    for option in ("namespace", "vm"):
        value = params.get(option)
        if value is not None and (len(value) > 253 or not (DNS1123_LABEL if option == "namespace"
                                                           else DNS1123_SUBDOMAIN).match(value)):
            problems.append("%s: %r is not a valid name" % (option, value))
    if params.get("vm") and not params.get("namespace"):
        problems.append("vm: give namespace too (a VM name is unique only within its namespace)")
    for option in ("vm_selector", "template_selector"):
        try:  # parsed here so a malformed selector never reaches the API server (its 400 names no option)
            selectors.parse(option, params.get(option))
        except selectors.SelectorError as exc:
            problems.append(str(exc))
    problems.extend(doctor.PeerSpec.problems(params.get("peer")))
    for index, policy in enumerate(params.get("policies") or []):
        kind = policy.get("kind") or "NetworkPolicy"
        if kind not in PENDING_KINDS:
            problems.append("policies[%d]: kind %r is not one of %s" % (index, kind, ", ".join(PENDING_KINDS)))
            continue
        if not (policy.get("metadata") or {}).get("name"):
            problems.append("policies[%d]: metadata.name is required" % index)
        if kind in doctor_networks.ADMIN_KINDS:
            pass   # cluster-scoped
        elif not (policy.get("metadata") or {}).get("namespace") and not params.get("namespace"):
            problems.append("policies[%d]: metadata.namespace is required when the namespace option is not set"
                            % index)
        if policy.get("state") not in (None, "present", "absent"):
            problems.append("policies[%d]: state must be present or absent" % index)
    return problems


def pending_policies(params: Dict[str, Any]) -> Optional[List[Dict[str, Any]]]:
    if params.get("policies") is None:
        return None
    out = []
    for policy in params["policies"]:
        policy = copy.deepcopy(policy)
        policy.setdefault("apiVersion", "networking.k8s.io/v1")
        policy.setdefault("kind", "NetworkPolicy")
        if policy["kind"] not in doctor_networks.ADMIN_KINDS:
            policy.setdefault("metadata", {}).setdefault("namespace", params.get("namespace"))
            policy.setdefault("spec", {}).setdefault("podSelector", {})
        out.append(policy)
    return out


class Reader:
    """GET-only access with a log of what was read."""

    def __init__(self, session: ApiSession) -> None:
        self.session = session
        self.reads: List[str] = []

    def list(self, resource: ResourceType, namespace: Optional[str] = None, label_selector: Optional[str] = None,
             field_selector: Optional[str] = None) -> List[Dict[str, Any]]:
        path = resource.path(namespace)
        text = path + "".join("?%s=%s" % (k, v) for k, v in (("labelSelector", label_selector),
                                                             ("fieldSelector", field_selector)) if v)
        self.reads.append(text)
        return self.session.list(path, label_selector=label_selector, field_selector=field_selector)

    def get(self, path: str) -> Optional[Dict[str, Any]]:
        self.reads.append(path)
        return self.session.get(path)

    def optional(self, snap: doctor.Snapshot, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> Optional[T]:
        """A read the diagnosis can do without (e.g. forbidden by RBAC)."""
        try:
            return call(*args, **kwargs)
        except ApiError as exc:
            if exc.status not in OPTIONAL_STATUS:
                raise
            snap.unreadable.append({"what": what, "error": "%s %s" % (exc.status, exc.message)})
            return None


def collect(reader: Reader, params: Dict[str, Any]) -> doctor.Snapshot:
    """The Snapshot for these options: phase 1 reads the VMs and the kinds of
    their namespaces; phase 2 reads what the VMs turn out to need."""
    session = reader.session
    version = session.server_version()
    reader.reads.append("/version")
    snap = doctor.Snapshot(version, None, [], params.get("cluster_domain") or "cluster.local")
    kv = reader.optional(snap, "KubeVirt CR", reader.list, KUBEVIRT)
    snap.kubevirt = KubeVirtInfo(kv[0] if kv else None)
    namespaces = reader.optional(snap, "namespaces", reader.list, NAMESPACE)
    snap.namespaces = dict((doctor.meta(n).get("name"), n) for n in namespaces or [])
    namespace = params.get("namespace")
    field = "metadata.name=%s" % params["vm"] if params.get("vm") else None
    selector = selectors.parse("vm_selector", params.get("vm_selector"))
    vms = reader.list(VM, namespace, label_selector=selector.to_query() if selector else None, field_selector=field)
    template = selectors.parse("template_selector", params.get("template_selector"))
    if template is not None:  # the labels the launcher pod carries, matched here (no server-side selector for them)
        vms = [vm for vm in vms if template.matches(vmspec.template_labels(vm))]
    if namespace:
        scope = [namespace]
        snap.add(doctor.VM_KIND, namespace, vms)
        for kind, resource in KINDS:
            snap.add(kind, namespace, reader.list(resource, namespace))
    else:
        scope = sorted(set(doctor.meta(v).get("namespace") for v in vms))
        snap.add_cluster_wide(doctor.VM_KIND, vms, scope)
        if scope:
            for kind, resource in KINDS:
                snap.add_cluster_wide(kind, reader.list(resource), scope)
    if "reachability" in (params.get("checks") or doctor.CHECKS) and scope:
        _read_policy_kinds(reader, snap, namespace, scope)
    _phase_two(reader, snap, params, scope)
    return snap


def _read_policy_kinds(reader: Reader, snap: doctor.Snapshot, namespace: Optional[str], scope: Sequence[str]) -> None:
    """MultiNetworkPolicies of the VMs' namespaces and the cluster admin
    policies the cluster serves (discovery: one GET), all optional: a cluster
    without the CRDs has none."""
    if namespace:
        items = reader.optional(snap, "multi-networkpolicies in %s" % namespace, reader.list, MULTI_NETWORK_POLICY,
                                namespace)
        snap.add(doctor.MULTI_POLICY_KIND, namespace, items or [])
    else:
        items = reader.optional(snap, "multi-networkpolicies", reader.list, MULTI_NETWORK_POLICY)
        snap.add_cluster_wide(doctor.MULTI_POLICY_KIND, items or [], scope)
    group = reader.optional(snap, "policy.networking.k8s.io API", reader.get, "/apis/" + netpol_admin.GROUP)
    for resource in netpol_admin.served_kinds(group):   # both API versions when both are served
        items = reader.optional(snap, resource.plural, reader.list, resource)
        snap.admin_policies.extend(dict(o, kind=resource.kind) for o in items or [])


def _ensure(reader: Reader, snap: doctor.Snapshot, kind: str, resource: ResourceType, namespace: Optional[str],
            optional: bool = False) -> None:
    if snap.has(kind, namespace):
        return
    if optional:
        items = reader.optional(snap, "%s in %s" % (resource.plural, namespace), reader.list, resource, namespace)
        snap.add(kind, namespace, items or [])
    else:
        snap.add(kind, namespace, reader.list(resource, namespace))


def _phase_two(reader: Reader, snap: doctor.Snapshot, params: Dict[str, Any], scope: Sequence[str]) -> None:
    checks = params.get("checks") or doctor.CHECKS
    views = doctor.vm_views(snap)
    peer = params.get("peer") or {}
    # NADs referenced across namespaces
    missing_nad = False
    for view in views:
        for network in view.networks + view.template_networks:
            ref = vmspec.nad_reference(network)
            if ref:
                nad_ns, nad_name = vmspec.split_reference(ref, view.namespace)
                _ensure(reader, snap, doctor.NAD_KIND, NAD, nad_ns, optional=True)
                missing_nad = missing_nad or snap.find(doctor.NAD_KIND, nad_ns, nad_name) is None
    if missing_nad and "interfaces" in checks:
        snap.all_nads = reader.optional(snap, "NetworkAttachmentDefinitions (all namespaces)", reader.list, NAD)
    # the peer's namespace(s)
    if peer and not peer.get("cidr"):
        peer_namespaces = [peer["namespace"]] if peer.get("namespace") else scope
        for peer_ns in peer_namespaces:
            for kind, resource in ((doctor.POD_KIND, POD), (doctor.VMI_KIND, VMI),
                                   (doctor.POLICY_KIND, NETWORK_POLICY)):
                _ensure(reader, snap, kind, resource, peer_ns)
            _ensure(reader, snap, doctor.MULTI_POLICY_KIND, MULTI_NETWORK_POLICY, peer_ns, optional=True)
            if peer.get("vm") and not snap.find(doctor.VM_KIND, peer_ns, peer["vm"]):
                snap.add(doctor.PEER_VM_KIND, peer_ns,
                         reader.list(VM, peer_ns, field_selector="metadata.name=%s" % peer["vm"]))
    # DNS
    if "dns" in checks and views:
        service = reader.optional(snap, "Service kube-system/kube-dns", reader.get,
                                  SERVICE.path(DNS_NAMESPACE, "kube-dns"))
        snap.dns_service = service if service else False
        endpoints = dict((id(v), v.endpoint()) for v in views)
        if any(nm.applying(snap.policies(), endpoints[id(v)], nm.EGRESS) for v in views):
            pods = reader.optional(snap, "DNS pods", reader.list, POD, DNS_NAMESPACE, label_selector="k8s-app=kube-dns")
            snap.dns_pods = pods or []
            _ensure(reader, snap, doctor.POLICY_KIND, NETWORK_POLICY, DNS_NAMESPACE, optional=True)
    # hot-plug capability
    if "hotplug" in checks and any(v.running for v in views):
        items = reader.optional(snap, "dynamic-networks controller", reader.list, DAEMONSET,
                                label_selector=DYNAMIC_NETWORKS_SELECTOR)
        if items is not None:
            snap.daemonsets[DYNAMIC_NETWORKS_SELECTOR] = items
    # Istio, SR-IOV, node ports
    sriov = "sriov" in checks and any("sriov" in i for v in views for i in v.interfaces)
    if ("istio" in checks or sriov) and views:
        snap.webhooks = reader.optional(snap, "mutating webhook configurations", reader.list, MUTATING_WEBHOOK)
    if "istio" in checks and views:
        items = reader.optional(snap, "Istio CNI DaemonSet", reader.list, DAEMONSET, label_selector=ISTIO_CNI_SELECTOR)
        if items is not None:
            snap.daemonsets[ISTIO_CNI_SELECTOR] = items
    node_ports = "services" in checks and any(
        (s.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")
        for v in views for s, _how in selecting_services(snap, v))
    if sriov or node_ports:
        snap.nodes = reader.optional(snap, "nodes", reader.list, NODE)
    if sriov:
        snap.all_pods = reader.optional(snap, "pods (all namespaces)", reader.list, POD,
                                        field_selector="status.phase!=Succeeded,status.phase!=Failed")


def run(module: Any) -> None:
    """The doctor's flow, on the module built by kubevirt_vm_network_info."""
    runner = Run(module)
    params = module.params
    problems = check_params(params)
    if problems:
        runner.fail("%d invalid option(s), nothing was read:\n- %s" % (len(problems), "\n- ".join(problems)),
                    vms=[])
    reader = Reader(runner.session)
    try:
        snap = collect(reader, params)
    except ApiError as exc:
        runner.fail("reading the cluster failed: %s" % exc, reads=reader.reads)
    if params.get("vm") and not snap.all(doctor.VM_KIND):
        runner.fail("VirtualMachine %s/%s not found" % (params.get("namespace"), params["vm"]), reads=reader.reads,
                    vms=[])
    chosen = [f for f in ("vm_selector", "template_selector") if params.get(f) not in (None, "", {})]
    if chosen and not snap.all(doctor.VM_KIND):
        given = ", ".join("%s %r" % (f, params[f]) for f in chosen)
        where = " in namespace %s" % params["namespace"] if params.get("namespace") else ""
        text = ("%s matched no VirtualMachine%s (vm_selector matches the VM's own metadata.labels, template_selector "
                "its spec.template.metadata.labels)" % (given, where))
        if not params.get("allow_no_match"):
            runner.fail(text + ": nothing was diagnosed, so no answer can be 'healthy'; correct the selector, or set "
                        "allow_no_match: true to accept an empty match", reads=reader.reads, vms=[])
        module.warn(text)
    result = doctor_diagnose.diagnose(snap, checks=params.get("checks") or doctor.CHECKS, peer=params.get("peer"),
                                      direction=params.get("direction") or "both",
                                      pending_policies=pending_policies(params))
    result.update({"changed": False, "kubevirt": snap.kubevirt.as_dict(), "reads": reader.reads,
                   "unreadable": snap.unreadable,
                   "server_version": "%d.%d" % snap.server_version})
    runner.exit(**result)
