# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Putting KubeVirt VMs into an Istio (sidecar) mesh: the pure part.

Everything in the istio*.py files except istio_cluster.py works on objects
already read and sends no request, so it is unit-tested without a cluster.
This file holds the names they share (labels, annotations, reserved ports,
template accessors), the sidecar injectors among the cluster's webhooks, the
KubeVirt/Istio matrix and the namespace decisions; the options are checked in
istio_options.py, the per-VM decisions and the VM ``Kind`` live in
istio_vms.py, the owned objects (Service, PeerAuthentication,
DestinationRule, ``istio-cni`` NAD) and their ``Kind`` in istio_objects.py,
and the restart and verify rules in istio_verify.py.

What KubeVirt needs for a VM to join the mesh (KubeVirt v1.9.0,
``pkg/network/istio``, user-guide ``istio_service_mesh.md``): the namespace
injection label (``istio-injection=enabled`` or ``istio.io/rev``), the
*annotation* ``sidecar.istio.io/inject: "true"`` on the VM template (a label
alone gets the pod injected but KubeVirt skips its Istio network setup), a pod
network with ``masquerade`` or ``passtBinding`` (not ``bridge``), IPv4, none
of Istio's ports in the interface ``ports``, Istio CNI (plus an empty
``istio-cni`` NAD when Multus runs the pod network) and a Service selecting the
VM's template labels.  Template changes reach the pod at the next restart.
"""


import copy
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Protocol, Sequence, Set, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import parse_version
from ansible_collections.kubevirt_net.core.plugins.module_utils.planner import Kind
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAMESPACE, ResourceType)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

INJECT = "sidecar.istio.io/inject"
INJECTION_LABEL = "istio-injection"
REV_LABEL = "istio.io/rev"
AMBIENT_LABEL = "istio.io/dataplane-mode"
# the Envoy ports KubeVirt reserves (pkg/network/istio/ports.go ReservedPorts(), v1.9.0): admin, outbound,
# debug, inbound, tunnel, secure network, merged telemetry, health check, DNS, Prometheus telemetry
RESERVED_PORTS = (15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090)
SSH_PORT = 22
COMPONENT_LABEL = "kubevirt-net.io/component"
COMPONENT = "istio"
OWNED_LABELS = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, COMPONENT_LABEL: COMPONENT}
# namespace annotation: the injection label keys this module added (absent removes only those)
NS_MARK = "kubevirt-net.io/istio-labels"
CNI_NAD_NAME = "istio-cni"
DESTINATION_RULE_NAME = "kvnet-istio-mutual"
MESH_BINDINGS = ("masquerade", "passtBinding")
APP_PROTOCOLS = ("http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "mongo", "mysql", "redis")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
MTLS_MODES = {"strict": "STRICT", "permissive": "PERMISSIVE"}
# KubeVirt <= 1.6 marks the launcher pod only with traffic.sidecar.istio.io/kubevirtInterfaces; KubeVirt 1.7
# (kubevirt#15661) adds istio.io/reroute-virtual-interfaces (pkg/network/pod/annotations/generator.go sets both).
# Istio's CNI plugin lost the old annotation in 1.25.0: cni/pkg/plugin/sidecar_redirect.go reads it and then
# overwrites the value with the new annotation's default "" (getAnnotationOrDefault returns the default when the
# annotation is absent), so no virtual interface is rerouted.  istio#57686 ("Only check deprecated
# kubevirtInterfaces if reroute-virtual-interfaces was not found") fixed it in 1.26.5 and 1.27.2; 1.28.0 and
# later have it.  Read at the tags 1.24.0 .. 1.30.3 of istio/istio.  (istio#57662 says "removed in 1.26" because
# that is where it was noticed; the source shows 1.25.0.)
BROKEN_KUBEVIRT_BELOW = (1, 7)
BROKEN_ISTIO_RANGES = (((1, 25, 0), (1, 26, 5)), ((1, 27, 0), (1, 27, 2)))
APP_PROTOCOL_MINIMUM = (1, 20)   # Service ports[].appProtocol GA (dropped by older servers when the gate is off)
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class NamespaceConfig(Protocol):
    """What the namespace decisions read of istio_options.Config (which imports this file)."""
    state: str
    mode: str

    @property
    def injection_labels(self) -> Dict[str, Optional[str]]:
        """Desired namespace labels (None removes the key)."""


def peer_authentication(version: str) -> ResourceType:
    return ResourceType("security.istio.io", version, "peerauthentications", "PeerAuthentication")


def destination_rule(version: str) -> ResourceType:
    return ResourceType("networking.istio.io", version, "destinationrules", "DestinationRule")


# ---------------------------------------------------------------- accessors
def template_labels(vm: Dict[str, Any]) -> Dict[str, str]:
    return dict((((vm.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})


def template_annotations(vm: Dict[str, Any]) -> Dict[str, str]:
    return dict((((vm.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {})


def vm_ref(vm: Dict[str, Any]) -> str:
    meta = vm.get("metadata") or {}
    return "%s/%s" % (meta.get("namespace"), meta.get("name"))


def pod_interface(vm: Dict[str, Any]) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
    """(network, interface) of the VM's pod network; (None, None) without one."""
    interfaces = vmspec.interfaces_of(vm)
    for network in vmspec.networks_of(vm):
        if "pod" in network:
            _index, iface = vmspec.find(interfaces, network.get("name"))
            return network, iface
    return None, None


def autoattached(vm: Dict[str, Any]) -> bool:
    """No interfaces and no networks: KubeVirt adds a default pod interface."""
    devices = ((vmspec.template_spec(vm).get("domain") or {}).get("devices") or {})
    return (not vmspec.interfaces_of(vm) and not vmspec.networks_of(vm)
            and devices.get("autoattachPodInterface") is not False)


def port_number(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def selects(selector: Mapping[str, str], labels: Optional[Mapping[str, str]]) -> bool:
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


# ------------------------------------------- injectors and version matrix
def sidecar_injectors(webhook_configurations: Optional[Iterable[Dict[str, Any]]]) -> Optional[Dict[Optional[str], str]]:
    """The Istio sidecar-injector webhooks among the cluster's
    MutatingWebhookConfigurations (kubevirt.mutating_webhooks), as
    ``{configuration name: istio.io/rev label}``; None when they could not be
    read.  istiod's chart
    (manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml)
    registers ``istio-sidecar-injector[-<revision>]`` whose webhooks are named
    ``*sidecar-injector.istio.io`` and labels it ``istio.io/rev``."""
    if webhook_configurations is None:
        return None
    found: Dict[Optional[str], str] = {}
    for item in webhook_configurations:
        if any(str(hook.get("name") or "").endswith("sidecar-injector.istio.io") for hook in item.get("webhooks") or []):
            meta = item.get("metadata") or {}
            found[meta.get("name")] = (meta.get("labels") or {}).get(REV_LABEL) or "default"
    return found


def injector_services(webhook_configurations: Optional[Iterable[Dict[str, Any]]]) -> Dict[Tuple[str, str], Set[str]]:
    """The Services Istio's sidecar-injector webhooks call, as
    ``{(namespace, name): set of istio.io/rev}`` (istiod's chart points them at
    Service ``istiod[-<revision>]`` in the Istio namespace); webhooks called by
    URL are left out (nothing to check)."""
    found: Dict[Tuple[str, str], Set[str]] = {}
    for item in webhook_configurations or []:
        rev = ((item.get("metadata") or {}).get("labels") or {}).get(REV_LABEL) or "default"
        for hook in item.get("webhooks") or []:
            if not str(hook.get("name") or "").endswith("sidecar-injector.istio.io"):
                continue
            service = (hook.get("clientConfig") or {}).get("service") or {}
            if service.get("namespace") and service.get("name"):
                found.setdefault((service["namespace"], service["name"]), set()).add(rev)
    return found


def ready_addresses(endpoints: Optional[Dict[str, Any]]) -> int:
    """How many ready addresses an Endpoints object lists (0 for None)."""
    return sum(len(subset.get("addresses") or []) for subset in (endpoints or {}).get("subsets") or [])


def broken_istio(istio_version: Sequence[int]) -> bool:
    """True for the Istio releases whose CNI plugin ignores the old kubevirtInterfaces annotation
    (see BROKEN_ISTIO_RANGES); a version without a patch number counts as .0."""
    version = tuple((list(istio_version) + [0, 0, 0])[:3])
    return any(low <= version < high for low, high in BROKEN_ISTIO_RANGES)


def matrix_problem(kubevirt_version: Optional[Sequence[int]], istio_version: Optional[Sequence[int]]) -> Optional[str]:
    """Why this KubeVirt/Istio pair cannot work, or None."""
    if kubevirt_version is None or istio_version is None:
        return None
    if tuple(kubevirt_version[:2]) < BROKEN_KUBEVIRT_BELOW and broken_istio(istio_version):
        return ("KubeVirt %d.%d with Istio %s is a known broken combination: KubeVirt before 1.7 marks the VM's "
                "interface only with traffic.sidecar.istio.io/kubevirtInterfaces, which Istio's CNI plugin ignores "
                "from 1.25.0 until the fix of istio#57686 (1.26.5, 1.27.2, 1.28.0), so the VM's traffic is not "
                "rerouted through the sidecar: upgrade KubeVirt to 1.7 or newer (it also sets "
                "istio.io/reroute-virtual-interfaces), or run Istio 1.24, 1.26.5+, 1.27.2+ or 1.28+"
                % (kubevirt_version[0], kubevirt_version[1], ".".join(str(p) for p in istio_version)))
    return None


def istio_version_from_image(image: Optional[str]) -> Optional[Tuple[int, ...]]:
    """(major, minor, patch) from an istiod/pilot image tag such as 'docker.io/istio/pilot:1.26.2-distroless'."""
    tag = str(image or "").rpartition(":")[2]
    return parse_version(tag)


# --------------------------------------------------------------- namespaces
def labels_of(obj: Dict[str, Any]) -> Dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def annotations_of(obj: Dict[str, Any]) -> Dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def namespace_findings(namespace: str, obj: Dict[str, Any], config: NamespaceConfig, problems: Problems,
                       findings: List[Dict[str, Any]]) -> None:
    """Refusals and warnings for one namespace (before any write)."""
    labels = labels_of(obj)
    where = "namespace %s" % namespace
    if labels.get(AMBIENT_LABEL) == "ambient" and config.state == "present":
        problems.add(where, "labels.%s" % AMBIENT_LABEL,
                     "is 'ambient': KubeVirt does not support Istio ambient mode (inbound connections to masquerade "
                     "VMs hang, kubevirt#18871; maintainers: not supported, no plans). Use sidecar mode for VM "
                     "namespaces: remove the label (or set istio.io/dataplane-mode=none) and run again")
    if INJECTION_LABEL in labels and REV_LABEL in labels:
        findings.append({"kind": "both-injection-labels", "namespace": namespace,
                         "message": "namespace %s carries both %s=%s and %s=%s: Istio uses %s (the first wins)%s"
                         % (namespace, INJECTION_LABEL, labels[INJECTION_LABEL], REV_LABEL, labels[REV_LABEL],
                            INJECTION_LABEL, "; mode=revision removes it" if config.mode == "revision"
                            and config.state == "present" else "")})
    if labels.get(INJECTION_LABEL) == "disabled" and config.state == "present":
        findings.append({"kind": "injection-disabled", "namespace": namespace,
                         "message": "namespace %s had %s=disabled: it is switched on" % (namespace, INJECTION_LABEL)})


def namespace_desired(namespace: str, obj: Dict[str, Any], config: NamespaceConfig) -> Optional[Dict[str, Any]]:
    """The namespace labels/annotations to write (None: nothing to change)."""
    labels, annotations = labels_of(obj), annotations_of(obj)
    marked = [k for k in (annotations.get(NS_MARK) or "").split(",") if k]
    want_labels: Dict[str, Optional[str]] = {}
    want_annotations: Dict[str, Optional[str]] = {}
    if config.state != "absent":   # present, rendered
        added = list(marked)
        for key, value in config.injection_labels.items():
            if value is None:
                if key in labels:
                    want_labels[key] = None
                    if key in added:
                        added.remove(key)
            elif labels.get(key) != value:
                want_labels[key] = value
                if key not in added:
                    added.append(key)
        for key in [k for k in added if k not in config.injection_labels and k in (INJECTION_LABEL, REV_LABEL)]:
            # a label this module added earlier in the other mode
            want_labels[key] = None
            added.remove(key)
        mark = ",".join(sorted(added)) or None
        if mark != annotations.get(NS_MARK):
            want_annotations[NS_MARK] = mark
    else:  # absent: remove what this module added
        for key in marked:
            if key in labels:
                want_labels[key] = None
        if NS_MARK in annotations:
            want_annotations[NS_MARK] = None
    if not want_labels and not want_annotations:
        return None
    meta: Dict[str, Any] = {"name": namespace}
    if want_labels:
        meta["labels"] = want_labels
    if want_annotations:
        meta["annotations"] = want_annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def injection_expected(labels: Mapping[str, str], state: str = "present", config: Optional[NamespaceConfig] = None) -> bool:
    """Whether Istio injects pods of a namespace with these labels."""
    if config is not None and state == "present":
        labels = dict(labels)
        for key, value in config.injection_labels.items():
            if value is None:
                labels.pop(key, None)
            else:
                labels[key] = value
    injection = labels.get(INJECTION_LABEL)
    if injection is not None:
        return injection == "enabled"
    return bool(labels.get(REV_LABEL))


class NamespaceKind(Kind):
    """Owned: the injection labels and the marker annotation (None removes)."""

    def __init__(self) -> None:
        super(NamespaceKind, self).__init__(NAMESPACE)

    def view(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        labels, annotations = labels_of(obj), annotations_of(obj)
        view = {"name": (obj.get("metadata") or {}).get("name"),
                "labels": dict((k, labels[k]) for k in (INJECTION_LABEL, REV_LABEL) if labels.get(k) is not None)}
        if annotations.get(NS_MARK):
            view["annotations"] = {NS_MARK: annotations[NS_MARK]}
        return view

    def same(self, desired: Dict[str, Any], current: Dict[str, Any]) -> bool:
        have_labels, have_annotations = labels_of(current), annotations_of(current)
        meta = desired["metadata"]
        return (all(have_labels.get(k) == v for k, v in (meta.get("labels") or {}).items())
                and all(have_annotations.get(k) == v for k, v in (meta.get("annotations") or {}).items()))

    def patch(self, desired: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, Any]:
        meta = desired["metadata"]
        patch: Dict[str, Dict[str, Any]] = {"metadata": {}}
        for field in ("labels", "annotations"):
            if meta.get(field):
                patch["metadata"][field] = dict(meta[field])
        return patch

    def expected(self, desired: Dict[str, Any], current: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        obj = copy.deepcopy(current or {"metadata": {"name": desired["metadata"]["name"]}})
        meta = obj.setdefault("metadata", {})
        for field in ("labels", "annotations"):
            values = dict(meta.get(field) or {})
            for key, value in (desired["metadata"].get(field) or {}).items():
                if value is None:
                    values.pop(key, None)
                else:
                    values[key] = value
            meta[field] = values
        return obj
