# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The network doctor (kubevirt_vm_network_info): pure diagnosis of KubeVirt
VM networking from objects read from the API.

``Snapshot`` holds what the runner read (one LIST per kind and namespace);
``VmView`` joins one VirtualMachine with its VMI and virt-launcher pod;
``doctor_diagnose.diagnose`` runs the checks (doctor_interfaces: interfaces,
hotplug, sriov; doctor_traffic: reachability, services, dns; doctor_istio;
doctor_impact: topology and impact preview; doctor_networks: reachability per
network) and returns one report per VM.  This file is the checks' shared
model: it imports none of them.  Every finding has ``check``, ``severity`` (error, warning, info),
``code``, ``message`` and ``fix``.  Nothing here talks to the cluster.
"""


import hashlib
from typing import Any, Dict, Iterable, List, Literal, Optional, Sequence, Tuple, Union, cast

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_model as nm
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_sets as nsets
from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo

CHECKS = ("interfaces", "reachability", "services", "dns", "hotplug", "istio", "sriov")
ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}

# the kinds the runner lists per namespace
VM_KIND, VMI_KIND, POD_KIND, SERVICE_KIND, ENDPOINTS_KIND = "vm", "vmi", "pod", "service", "endpoints"
POLICY_KIND, NAD_KIND, VMIM_KIND = "networkpolicy", "nad", "vmim"
MULTI_POLICY_KIND = "multinetworkpolicy"
PEER_VM_KIND = "peer-vm"   # a peer VM read for reachability: looked up, not reported on

LAUNCHER_LABEL = "kubevirt.io"
CREATED_BY_LABEL = "kubevirt.io/created-by"
VM_NAME_LABEL = "vm.kubevirt.io/name"
VMI_ID_LABEL = "vmi.kubevirt.io/id"
RESOURCE_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"
TERMINAL_PHASES = ("Succeeded", "Failed")
MAX_FLOW_VMS = 25


def finding(check: str, severity: str, code: str, message: str, fix: Optional[str], **details: Any) -> Dict[str, Any]:
    """One diagnosis; ``fix`` says what to do ("" is never returned)."""
    out = {"check": check, "severity": severity, "code": code, "message": message,
           "fix": fix or "nothing to do"}
    out.update(details)
    return out


def vmi_id(name: str) -> str:
    """KubeVirt 1.7+ label vmi.kubevirt.io/id: the VMI name, hashed beyond 63."""
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()  # nosec - KubeVirt's label scheme, not security
    return "%s-%s" % (name[:63 - 8 - 1], digest[:8])


def hostname_of(spec: Dict[str, Any], name: str) -> str:
    """dns.SanitizeHostname: spec.hostname, else the VMI name's first label (at most 63)."""
    return spec.get("hostname") or name.split(".")[0][:63]


def meta(obj: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    return (obj or {}).get("metadata") or {}


def key(obj: Optional[Dict[str, Any]]) -> str:
    return "%s/%s" % (meta(obj).get("namespace"), meta(obj).get("name"))


class Snapshot:
    """Everything the doctor reads, keyed by (kind, namespace).  A (kind,
    namespace) that was not read answers [] (the runner reads what is needed)."""

    def __init__(self, server_version: Sequence[int] = (1, 20), kubevirt: Any = None,
                 namespaces: Optional[Iterable[Dict[str, Any]]] = None, cluster_domain: str = "cluster.local") -> None:
        self.server_version = tuple(server_version)
        self.kubevirt = kubevirt if isinstance(kubevirt, KubeVirtInfo) else KubeVirtInfo(kubevirt)
        self.namespaces = dict((meta(n).get("name"), n) for n in namespaces or [])
        self.cluster_domain = cluster_domain
        self.objects: Dict[Tuple[str, Optional[str]], List[Dict[str, Any]]] = {}
        self.nodes: Optional[List[Dict[str, Any]]] = None      # [Node] when read
        self.all_pods: Optional[List[Dict[str, Any]]] = None   # [Pod] cluster-wide (SR-IOV usage) when read
        self.all_nads: Optional[List[Dict[str, Any]]] = None   # [NAD] cluster-wide (finding misplaced NADs) when read
        self.daemonsets: Dict[str, List[Dict[str, Any]]] = {}  # label selector -> [DaemonSet]
        self.webhooks: Optional[List[Dict[str, Any]]] = None   # [MutatingWebhookConfiguration] when read
        # the cluster DNS Service, False when looked for and absent
        self.dns_service: Union[None, Literal[False], Dict[str, Any]] = None
        self.dns_pods: List[Dict[str, Any]] = []
        self.unreadable: List[Dict[str, Any]] = []      # {"what", "error"} of optional reads that failed
        self.admin_policies: List[Dict[str, Any]] = []  # ClusterNetworkPolicy / AdminNetworkPolicy / BaselineAdminNetworkPolicy (kind set)

    def add(self, kind: str, namespace: Optional[str], items: Iterable[Dict[str, Any]]) -> None:
        self.objects.setdefault((kind, namespace), [])
        self.objects[(kind, namespace)].extend(items)

    def add_cluster_wide(self, kind: str, items: Iterable[Dict[str, Any]], namespaces: Iterable[str] = ()) -> None:
        """A cluster-wide LIST: file each object under its namespace (and mark
        ``namespaces`` as read even when empty)."""
        for namespace in namespaces:
            self.objects.setdefault((kind, namespace), [])
        for item in items:
            self.objects.setdefault((kind, meta(item).get("namespace")), []).append(item)

    def has(self, kind: str, namespace: Optional[str]) -> bool:
        return (kind, namespace) in self.objects

    def list(self, kind: str, namespace: Optional[str]) -> List[Dict[str, Any]]:
        return self.objects.get((kind, namespace)) or []

    def find(self, kind: str, namespace: Optional[str], name: Optional[str]) -> Optional[Dict[str, Any]]:
        for obj in self.list(kind, namespace):
            if meta(obj).get("name") == name:
                return obj
        return None

    def all(self, kind: str) -> List[Dict[str, Any]]:
        out = []
        for (obj_kind, _ns), items in sorted(self.objects.items(), key=lambda kv: str(kv[0])):
            if obj_kind == kind:
                out.extend(items)
        return out

    def namespace_labels(self) -> nm.Namespaces:
        return nm.Namespaces(list(self.namespaces.values()), name_label=self.name_label)

    @property
    def name_label(self) -> bool:
        """API servers >= 1.21 label every namespace kubernetes.io/metadata.name."""
        return self.server_version >= (1, 21)

    def policies(self, namespaces: Optional[Iterable[Optional[str]]] = None) -> List[Dict[str, Any]]:
        if namespaces is None:
            return self.all(POLICY_KIND)
        return [p for ns in namespaces for p in self.list(POLICY_KIND, ns)]

    def multi_policies(self) -> List[Dict[str, Any]]:
        return self.all(MULTI_POLICY_KIND)


def active(pod: Dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES and not meta(pod).get("deletionTimestamp")


def pod_ips(pod: Optional[Dict[str, Any]]) -> List[str]:
    status = (pod or {}).get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or [] if p.get("ip")]
    return ips or ([status["podIP"]] if status.get("podIP") else [])


def pod_ready(pod: Dict[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


class VmView:
    """One VirtualMachine with its VMI and virt-launcher pod, as the checks see it."""

    def __init__(self, snap: Snapshot, vm: Dict[str, Any]) -> None:
        self.snap = snap
        self.vm = vm
        # a VirtualMachine the API listed has both
        self.namespace = cast(str, meta(vm).get("namespace"))
        self.name = cast(str, meta(vm).get("name"))
        self.vmi = snap.find(VMI_KIND, self.namespace, self.name)
        status = (self.vmi or {}).get("status") or {}
        self.phase = status.get("phase")
        self.running = self.phase == "Running"
        self.node = status.get("nodeName")
        self.template = vmspec.template_spec(vm)
        self.spec = (self.vmi or {}).get("spec") or self.template
        self.pods = self._launcher_pods()
        self.pod = self._active_pod()
        template_meta = ((vm.get("spec") or {}).get("template") or {}).get("metadata") or {}
        self.template_labels = dict(template_meta.get("labels") or {})
        self.template_annotations = dict(template_meta.get("annotations") or {})
        self.vm_labels = dict(meta(vm).get("labels") or {})
        self.hostname = hostname_of(self.spec, self.name)

    # ------------------------------------------------------------ launcher
    def _launcher_pods(self) -> List[Dict[str, Any]]:
        uid = meta(self.vmi).get("uid")
        pods = []
        for pod in self.snap.list(POD_KIND, self.namespace):
            labels = meta(pod).get("labels") or {}
            if labels.get(LAUNCHER_LABEL) != "virt-launcher":
                continue
            if uid and labels.get(CREATED_BY_LABEL) == uid:
                pods.append(pod)
            elif not labels.get(CREATED_BY_LABEL) and (labels.get(VMI_ID_LABEL) == vmi_id(self.name) or
                                                       labels.get(VM_NAME_LABEL) == self.name):
                pods.append(pod)
        return pods

    def _active_pod(self) -> Optional[Dict[str, Any]]:
        live = [p for p in self.pods if active(p)]
        if not live:
            return None
        on_node = [p for p in live if (p.get("spec") or {}).get("nodeName") == self.node and self.node]
        candidates = on_node or live
        return sorted(candidates, key=lambda p: meta(p).get("creationTimestamp") or "")[-1]

    # ------------------------------------------------------------- labels
    @property
    def predicted_pod_labels(self) -> Dict[str, str]:
        """What KubeVirt puts on the virt-launcher pod when it creates one now."""
        labels = dict(self.template_labels)
        labels[LAUNCHER_LABEL] = "virt-launcher"
        labels[VM_NAME_LABEL] = self.hostname
        if self.snap.kubevirt.at_least(1, 7):
            labels[VMI_ID_LABEL] = vmi_id(self.name)
        if self.spec is not self.template and meta(self.vmi).get("uid"):
            labels[CREATED_BY_LABEL] = meta(self.vmi)["uid"]
        return labels

    @property
    def pod_labels(self) -> Dict[str, str]:
        """The labels Services and NetworkPolicies see: the running pod's, or
        the ones the next pod will get."""
        if self.pod is not None:
            return dict(meta(self.pod).get("labels") or {})
        return self.predicted_pod_labels

    @property
    def selector_labels(self) -> Dict[str, str]:
        """Labels that select this VM's pod and survive a restart."""
        if self.template_labels:
            return dict(self.template_labels)
        if self.snap.kubevirt.at_least(1, 7):
            return {VMI_ID_LABEL: vmi_id(self.name)}
        return {VM_NAME_LABEL: self.hostname}

    # ---------------------------------------------------------- networking
    @property
    def interfaces(self) -> List[Dict[str, Any]]:
        return list(((self.spec.get("domain") or {}).get("devices") or {}).get("interfaces") or [])

    @property
    def networks(self) -> List[Dict[str, Any]]:
        return list(self.spec.get("networks") or [])

    @property
    def template_interfaces(self) -> List[Dict[str, Any]]:
        return vmspec.interfaces_of(self.vm)

    @property
    def template_networks(self) -> List[Dict[str, Any]]:
        return vmspec.networks_of(self.vm)

    def primary(self) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
        """(interface, network) on the primary network, or (None, None)."""
        for network in self.networks:
            if vmspec.is_primary(network):
                return vmspec.find(self.interfaces, network.get("name"))[1], network
        if not self.interfaces and not self.networks and \
                ((self.spec.get("domain") or {}).get("devices") or {}).get("autoattachPodInterface", True) is not False:
            binding = ((self.snap.kubevirt.configuration.get("network") or {}).get("defaultNetworkInterface")
                       or "bridge")
            return {"name": "default", binding: {}, "implicit": True}, {"name": "default", "pod": {}}
        return None, None

    def named_ports(self) -> Dict[Tuple[str, str], int]:
        """(name, protocol) -> port of the pod: its container ports, or the
        interface ports KubeVirt turns into container ports."""
        named = dict(nm.Endpoint.pod(self.pod).named_ports) if self.pod is not None else {}
        for iface in self.interfaces:   # services/rendercontainer.go containerPortsFromVMI
            for port in iface.get("ports") or []:
                if port.get("name") and port.get("port"):
                    named.setdefault((port["name"], port.get("protocol") or "TCP"), int(port["port"]))
        return named

    def endpoint(self) -> nm.Endpoint:
        if self.pod is not None:
            endpoint = nm.Endpoint.pod(self.pod, name="VM %s/%s" % (self.namespace, self.name))
            endpoint.named_ports = self.named_ports()
            return endpoint
        return nm.Endpoint.workload(self.namespace, self.pod_labels, [], self.named_ports(),
                                    name="VM %s/%s" % (self.namespace, self.name))

    @property
    def ref(self) -> str:
        return "VirtualMachine %s/%s" % (self.namespace, self.name)


def vm_views(snap: Snapshot) -> List[VmView]:
    return [VmView(snap, vm) for vm in snap.all(VM_KIND)]


# ----------------------------------------------------------------- peer
class PeerSpec:
    """The ``peer`` option, checked: vm | pod_selector (+namespace) |
    namespace | cidr, with port and protocol."""

    def __init__(self, params: Optional[Dict[str, Any]]) -> None:
        params = params or {}
        self.vm = params.get("vm")
        self.namespace = params.get("namespace")
        self.cidr = params.get("cidr")
        self.protocol = (params.get("protocol") or "TCP").upper()
        port = params.get("port")
        self.port = int(port) if isinstance(port, str) and port.isdigit() else port
        self.selector = selectors.parse("peer.pod_selector", params["pod_selector"]).to_api() \
            if params.get("pod_selector") else None

    @staticmethod
    def problems(params: Optional[Dict[str, Any]]) -> List[str]:
        """Input problems of the ``peer`` option (before any request)."""
        problems: List[str] = []
        if not params:
            return problems
        kinds = [k for k in ("vm", "pod_selector", "cidr") if params.get(k)]
        if len(kinds) > 1:
            problems.append("peer: give one of vm, pod_selector, cidr (got %s)" % ", ".join(kinds))
        if not kinds and not params.get("namespace"):
            problems.append("peer: give vm, pod_selector, namespace or cidr")
        if params.get("cidr") and params.get("namespace"):
            problems.append("peer: cidr is outside the cluster; it takes no namespace")
        if params.get("cidr"):
            try:
                nsets.IPSet.parse(params["cidr"])
            except ValueError:
                problems.append("peer.cidr: %r is not an IP address or CIDR" % (params["cidr"],))
        if params.get("pod_selector"):
            try:
                selectors.parse("peer.pod_selector", params["pod_selector"])
            except selectors.SelectorError as exc:
                problems.append(str(exc))
        protocol = (params.get("protocol") or "TCP").upper()
        if protocol not in nm.PROTOCOLS + (nm.ICMP,):
            problems.append("peer.protocol: %r is not TCP, UDP, SCTP or ICMP" % protocol)
        port = params.get("port")
        if port is None:
            if protocol != nm.ICMP:
                problems.append("peer.port: is required (a number, or a named port of the destination) "
                                "unless protocol is ICMP")
        elif isinstance(port, int) or str(port).isdigit():
            if not 1 <= int(port) <= nm.MAX_PORT:
                problems.append("peer.port: %s is out of range 1-65535" % port)
        elif len(str(port)) > 15 or not nm.PORT_NAME.match(str(port)):
            problems.append("peer.port: %r is neither a port number nor a port name" % (port,))
        return problems

    def describe(self, default_namespace: Optional[str]) -> str:
        if self.cidr:
            return self.cidr
        namespace = self.namespace or default_namespace
        if self.vm:
            return "VM %s/%s" % (namespace, self.vm)
        if self.selector is not None:
            return "pods %s in %s" % (selectors.text(self.selector), namespace)
        return "pods in namespace %s" % namespace

    def port_text(self) -> str:
        if self.protocol == nm.ICMP:
            return "ICMP"
        return "%s/%s" % (self.protocol, self.port)


# ------------------------------------------------------------ the report
def sort_findings(findings: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER.get(f["severity"], 3), f["check"], f["code"]))


def summarize(reports: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    counts = {ERROR: 0, WARNING: 0, INFO: 0}
    for report in reports:
        for item in report["findings"]:
            counts[item["severity"]] = counts.get(item["severity"], 0) + 1
    return {"vms": len(reports), "running": sum(1 for r in reports if r["running"]),
            "findings": counts, "healthy": counts[ERROR] == 0}
