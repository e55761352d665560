# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Putting KubeVirt VMs into an Istio (sidecar) mesh: the pure part.

Everything here works on objects already read and sends no request, so it is
unit-tested without a cluster: option checks, the KubeVirt/Istio matrix, the
per-namespace and per-VM decisions and refusals, the manifests (Service,
PeerAuthentication, DestinationRule, ``istio-cni`` NAD), the reconcile
``Kind``s that turn decisions into conflict-safe merge patches, and the
per-VM verify report.

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

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol, selectors, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import parse_version
from ansible_collections.kubevirt_net.core.plugins.module_utils.planner import Kind
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAMESPACE, VM, ResourceType)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_SUBDOMAIN

INJECT = "sidecar.istio.io/inject"
INJECTION_LABEL = "istio-injection"
REV_LABEL = "istio.io/rev"
AMBIENT_LABEL = "istio.io/dataplane-mode"
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


def peer_authentication(version):
    return ResourceType("security.istio.io", version, "peerauthentications", "PeerAuthentication")


def destination_rule(version):
    return ResourceType("networking.istio.io", version, "destinationrules", "DestinationRule")


# ------------------------------------------------------------------ options
class Config:
    """The checked options of one run."""

    def __init__(self, params):
        self.state = params.get("state") or "present"
        self.mode = params.get("mode") or "sidecar"
        self.revision = params.get("revision")
        self.fix_binding = bool(params.get("fix_binding"))
        self.mtls = params.get("mtls") or "unset"
        self.mtls_policy_name = params.get("mtls_policy_name") or "default"
        self.destination_rule = bool(params.get("destination_rule"))
        self.cni_nad = bool(params.get("cni_nad"))
        self.restart = params.get("restart") or "never"
        self.batch_size = params.get("restart_batch_size")
        if self.batch_size is None:
            self.batch_size = 5
        self.cluster_domain = params.get("cluster_domain") or "cluster.local"
        self.istio_version_text = params.get("istio_version")
        self.istio_version = None
        self.explicit = []
        self.selector = None
        self.vm_entries = None      # None: every VM of the target namespaces
        self.services = []

    @property
    def injection_labels(self):
        """Desired namespace labels (None removes the key)."""
        if self.mode == "revision":
            return {REV_LABEL: self.revision, INJECTION_LABEL: None}
        return {INJECTION_LABEL: "enabled"}


def check_params(params, problems):
    """Every option, checked before any request; returns a ``Config``."""
    config = Config(params)
    for index, name in enumerate(params.get("namespaces") or []):
        if problems.dns_label("task", "namespaces[%d]" % index, name) and name not in config.explicit:
            config.explicit.append(name)
    if params.get("namespace_selector") is not None:
        config.selector = netpol.parse_selector(problems, "task", "namespace_selector", params["namespace_selector"])
        if config.selector == {}:
            problems.add("task", "namespace_selector", "is empty and would select every namespace (kube-system, "
                                                       "istio-system, ...): give labels, or list namespaces")
            config.selector = None
        elif config.selector is not None and selectors.from_api(config.selector).selects_unlabelled:
            problems.add("task", "namespace_selector", selectors.everything_problem(
                selectors.from_api(config.selector), "namespace (kube-system, istio-system, ...)", "list namespaces"))
            config.selector = None
    elif not params.get("namespaces"):
        problems.add("task", "namespaces", "no target namespaces: set namespaces and/or namespace_selector")
    if config.state == "rendered" and params.get("namespace_selector") is not None and not config.explicit:
        problems.add("task", "namespaces", "state=rendered does not contact the cluster, so it cannot resolve "
                                           "namespace_selector: list namespaces to render for")
    if config.mode == "revision":
        if not config.revision:
            problems.add("task", "revision", "is required with mode=revision (the Istio revision or tag, e.g. "
                                             "'1-26-1' or 'stable', that istio.io/rev names)")
        elif selectors.value_problem(config.revision):
            problems.add("task", "revision", "%r is not a valid label value: at most 63 letters, digits, '-', '_' "
                                             "or '.'" % (config.revision,))
    elif config.revision:
        problems.add("task", "revision", "is only used with mode=revision; mode=sidecar labels namespaces "
                                         "istio-injection=enabled (remove revision or set mode=revision)")
    if config.istio_version_text:
        config.istio_version = parse_version(config.istio_version_text)
        if config.istio_version is None:
            problems.add("task", "istio_version", "%r is not a version: use e.g. '1.26.2'"
                         % (config.istio_version_text,))
    if not dns_subdomain_ok(config.cluster_domain):
        problems.add("task", "cluster_domain", "%r is not a DNS name such as 'cluster.local'" % (config.cluster_domain,))
    problems.dns_subdomain("task", "mtls_policy_name", config.mtls_policy_name)
    if params.get("istio_namespace") is not None:  # read for istiod and the injector (issue 19)
        problems.dns_label("task", "istio_namespace", params["istio_namespace"])
    problems.int_range("task", "restart_batch_size", config.batch_size, 1, 100)
    problems.int_range("task", "max_concurrency", params.get("max_concurrency"), 1, 64)
    config.vm_entries = _check_vms(params.get("vms"), problems)
    config.services = _check_services(params.get("services"), problems)
    if config.state == "absent" and config.restart == "stopped_only":
        problems.add("task", "restart", "stopped_only applies to state=present; with state=absent use never or rolling")
    return config


def dns_subdomain_ok(value):
    return isinstance(value, str) and bool(DNS1123_SUBDOMAIN.match(value))


class VmEntry:
    def __init__(self, namespace, names, selector, where):
        self.namespace = namespace
        self.names = names
        self.selector = selector
        self.where = where

    def applies_to(self, namespace):
        return self.namespace is None or self.namespace == namespace

    def selects(self, vm):
        meta = vm.get("metadata") or {}
        if not self.applies_to(meta.get("namespace")):
            return False
        if meta.get("name") in self.names:
            return True
        return self.selector is not None and netpol.selector_matches(self.selector, template_labels(vm))


def _selector_dict(problems, where, field, value):
    """A template-label selector in API form from a dict (labels, or match_labels/match_expressions) or a
    kubectl-style string ('app=web,tier in (a,b)'); None when not given or invalid (reported)."""
    if isinstance(value, str):
        try:
            parsed = selectors.parse(field, value)
        except selectors.SelectorError as err:
            problems.add(where, field, err.problem)
            return None
        return parsed.to_api() if parsed is not None else None
    return netpol.parse_selector(problems, where, field, value)


def _check_vms(items, problems):
    if items is None:
        return None
    entries = []
    for index, item in enumerate(items):
        where = "vms[%d]" % index
        if not isinstance(item, dict):
            problems.add("task", where, "must be a dict with namespace, names and/or template_selector")
            continue
        namespace = item.get("namespace")
        if namespace is not None and not problems.dns_label("task", where + ".namespace", namespace):
            continue
        names = []
        for pos, name in enumerate(item.get("names") or []):
            if problems.dns_subdomain("task", "%s.names[%d]" % (where, pos), name):
                names.append(name)
        selector = None
        field = where + ".template_selector"
        if item.get("template_selector") is not None:
            selector = _selector_dict(problems, "task", field, item["template_selector"])
            if selector == {}:
                problems.add("task", field, "is empty: omit vms to select every VM of the target namespaces, or give "
                                            "template labels")
                selector = None
            elif selector is not None and selectors.from_api(selector).selects_unlabelled:
                problems.add("task", field, selectors.everything_problem(
                    selectors.from_api(selector), "VM of the target namespaces",
                    "omit vms to enrol every VM of the target namespaces on purpose"))
                selector = None
        if not item.get("names") and item.get("template_selector") is None:
            problems.add("task", where, "selects nothing: give names and/or template_selector (template labels)")
        entries.append(VmEntry(namespace, names, selector, where))
    return entries


class ServiceDecl:
    def __init__(self, name, namespace, selector, ports, service_type, where):
        self.name = name
        self.namespace = namespace
        self.selector = selector
        self.ports = ports
        self.type = service_type
        self.where = where

    def target_ports(self):
        return [(p["targetPort"], p["protocol"]) for p in self.ports]


def _check_services(items, problems):
    decls, seen = [], set()
    for index, item in enumerate(items or []):
        where = "services[%d]" % index
        if not isinstance(item, dict):
            problems.add("task", where, "must be a dict with name, template_selector and ports")
            continue
        name = item.get("name")
        ok = problems.dns_label("service %s" % (name or index), where + ".name", name)
        namespace = item.get("namespace")
        if namespace is not None:
            ok = problems.dns_label("service %s" % name, where + ".namespace", namespace) and ok
        key = (namespace, name)
        if ok and (key in seen or (namespace is None and any(k[1] == name for k in seen))
                   or (namespace is not None and (None, name) in seen)):
            problems.add("service %s" % name, where + ".name",
                         "is declared twice for the same namespace: Service names must be unique per namespace")
        seen.add(key)
        field = where + ".template_selector"
        parsed = _selector_dict(problems, "service %s" % name, field, item.get("template_selector"))
        if not parsed:
            if parsed == {} or item.get("template_selector") is None:
                problems.add("service %s" % name, field, "is required: the template labels "
                             "(spec.template.metadata.labels) of the VMs the Service selects, e.g. {app: web}")
            selector = None
        elif parsed.get("matchExpressions"):
            problems.add("service %s" % name, field, "a Service selects by equality only: give a dict of labels "
                         "or 'key=value,...'")
            selector = None
        else:
            selector = parsed.get("matchLabels")
        ports = _check_ports(item.get("ports"), name, where, problems)
        service_type = item.get("type") or "ClusterIP"
        if service_type not in SERVICE_TYPES:
            problems.add("service %s" % name, where + ".type", "%r is not supported: use %s"
                         % (service_type, ", ".join(SERVICE_TYPES)))
        decls.append(ServiceDecl(name, namespace, selector, ports, service_type, where))
    return decls


def _check_ports(items, service, where, problems):
    here = "service %s" % service
    if not items:
        problems.add(here, where + ".ports", "needs at least one port (Istio associates a workload with the "
                                             "Service ports it declares)")
        return []
    ports, numbers, names = [], set(), set()
    for index, item in enumerate(items):
        field = "%s.ports[%d]" % (where, index)
        if not isinstance(item, dict):
            problems.add(here, field, "must be a dict with port (and target_port, protocol, app_protocol, name)")
            continue
        port, target = item.get("port"), item.get("target_port")
        if target is None:
            target = port
        good = problems.int_range(here, field + ".port", port, 1, 65535) and port is not None
        if port is None:
            problems.add(here, field + ".port", "is required (1-65535)")
        good = problems.int_range(here, field + ".target_port", target, 1, 65535) and good
        protocol = str(item.get("protocol") or "TCP").upper()
        if protocol not in ("TCP", "UDP"):
            problems.add(here, field + ".protocol", "%r is not supported: use TCP or UDP" % (item.get("protocol"),))
            good = False
        app = item.get("app_protocol") or ("tcp" if protocol == "TCP" else None)
        if app is not None and app not in APP_PROTOCOLS:
            problems.add(here, field + ".app_protocol", "%r is not a protocol Istio understands: use one of %s"
                         % (app, ", ".join(APP_PROTOCOLS)))
            good = False
        if good and target in RESERVED_PORTS:
            problems.add(here, field + ".target_port", "%d is reserved by Istio (%s): the sidecar owns it and "
                         "KubeVirt never forwards it to the VM; use another port"
                         % (target, ", ".join(str(p) for p in RESERVED_PORTS)))
            good = False
        if good and (port, protocol) in numbers:
            problems.add(here, field + ".port", "%d/%s is listed twice in this Service" % (port, protocol))
            good = False
        name = item.get("name") or ("%s-%d" % (app or protocol.lower(), port if port else 0))
        if good and (not PORT_NAME.match(name) or len(name) > 63):
            problems.add(here, field + ".name", "%r is not a valid port name (DNS-1123 label, e.g. 'http-web')" % name)
            good = False
        if good and name in names:
            problems.add(here, field + ".name", "%r is used twice in this Service" % name)
            good = False
        if good:
            numbers.add((port, protocol))
            names.add(name)
            entry = {"name": name, "port": port, "targetPort": target, "protocol": protocol}
            if app:
                entry["appProtocol"] = app
            ports.append(entry)
    return ports


# ---------------------------------------------------------- version matrix
def broken_istio(istio_version):
    """True for the Istio releases whose CNI plugin ignores the old kubevirtInterfaces annotation
    (see BROKEN_ISTIO_RANGES); a version without a patch number counts as .0."""
    version = tuple((list(istio_version) + [0, 0, 0])[:3])
    return any(low <= version < high for low, high in BROKEN_ISTIO_RANGES)


def matrix_problem(kubevirt_version, istio_version):
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


def istio_version_from_image(image):
    """(major, minor, patch) from an istiod/pilot image tag such as 'docker.io/istio/pilot:1.26.2-distroless'."""
    tag = str(image or "").rpartition(":")[2]
    return parse_version(tag)


# --------------------------------------------------------------- namespaces
def labels_of(obj):
    return dict((obj.get("metadata") or {}).get("labels") or {})


def annotations_of(obj):
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def namespace_findings(namespace, obj, config, problems, findings):
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


def namespace_desired(namespace, obj, config):
    """The namespace labels/annotations to write (None: nothing to change)."""
    labels, annotations = labels_of(obj), annotations_of(obj)
    marked = [k for k in (annotations.get(NS_MARK) or "").split(",") if k]
    want_labels, want_annotations = {}, {}
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
    meta = {"name": namespace}
    if want_labels:
        meta["labels"] = want_labels
    if want_annotations:
        meta["annotations"] = want_annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def injection_expected(labels, state="present", config=None):
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

    def __init__(self):
        super(NamespaceKind, self).__init__(NAMESPACE)

    def view(self, obj):
        labels, annotations = labels_of(obj), annotations_of(obj)
        view = {"name": (obj.get("metadata") or {}).get("name"),
                "labels": dict((k, labels[k]) for k in (INJECTION_LABEL, REV_LABEL) if labels.get(k) is not None)}
        if annotations.get(NS_MARK):
            view["annotations"] = {NS_MARK: annotations[NS_MARK]}
        return view

    def same(self, desired, current):
        have_labels, have_annotations = labels_of(current), annotations_of(current)
        meta = desired["metadata"]
        return (all(have_labels.get(k) == v for k, v in (meta.get("labels") or {}).items())
                and all(have_annotations.get(k) == v for k, v in (meta.get("annotations") or {}).items()))

    def patch(self, desired, current):
        meta = desired["metadata"]
        patch = {"metadata": {}}
        for field in ("labels", "annotations"):
            if meta.get(field):
                patch["metadata"][field] = dict(meta[field])
        return patch

    def expected(self, desired, current):
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


# ---------------------------------------------------------------------- VMs
def template_labels(vm):
    return dict((((vm.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})


def template_annotations(vm):
    return dict((((vm.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {})


def vm_ref(vm):
    meta = vm.get("metadata") or {}
    return "%s/%s" % (meta.get("namespace"), meta.get("name"))


def pod_interface(vm):
    """(network, interface) of the VM's pod network; (None, None) without one."""
    interfaces = vmspec.interfaces_of(vm)
    for network in vmspec.networks_of(vm):
        if "pod" in network:
            _index, iface = vmspec.find(interfaces, network.get("name"))
            return network, iface
    return None, None


def autoattached(vm):
    """No interfaces and no networks: KubeVirt adds a default pod interface."""
    devices = ((vmspec.template_spec(vm).get("domain") or {}).get("devices") or {})
    return (not vmspec.interfaces_of(vm) and not vmspec.networks_of(vm)
            and devices.get("autoattachPodInterface") is not False)


class VmCheck:
    """What one selected VM needs, and what stops it."""

    def __init__(self, vm):
        self.vm = vm
        self.ref = vm_ref(vm)
        self.binding = None
        self.interface = None
        self.ports = []
        self.port_ranges = []
        self.fix = False
        self.autoattach = False


def check_vm(vm, config, default_binding, problems, findings):
    """Refusals and warnings for one selected VM; returns a ``VmCheck``."""
    check = VmCheck(vm)
    where = "VirtualMachine %s" % check.ref
    if config.state != "present":
        return check
    network, iface = pod_interface(vm)
    if network is None and autoattached(vm):
        check.autoattach = True
        check.interface = "default"
        check.binding = default_binding or "bridge"
    elif network is None:
        multus_default = any((n.get("multus") or {}).get("default") for n in vmspec.networks_of(vm))
        note = " (a Multus default network replaces it)" if multus_default else ""
        problems.add(where, "spec.template.spec.networks",
                     "has no pod network%s: Istio's sidecar handles the pod network only; add a network with "
                     "pod: {} and a masquerade interface" % note)
        return check
    elif iface is None:
        problems.add(where, "spec.template.spec.domain.devices.interfaces",
                     "has no interface for the pod network %r" % network.get("name"))
        return check
    else:
        check.interface = iface.get("name")
        check.binding = vmspec.binding_of(iface)
        check.ports = list(iface.get("ports") or [])
        check.port_ranges = list(iface.get("portRanges") or [])
    if check.binding in MESH_BINDINGS:
        pass
    elif check.binding == "bridge":
        if config.fix_binding:
            check.fix = True
        else:
            problems.add(where, "interface %s" % check.interface,
                         "uses bridge binding on the pod network%s: Istio does not work with it (the pod keeps no IP "
                         "for the sidecar). Change it to masquerade: {} (or passtBinding), or set fix_binding=true to "
                         "have this module do it (applies at the next restart)"
                         % (" (KubeVirt's default for a VM without interfaces)" if check.autoattach else ""))
    else:
        problems.add(where, "interface %s" % check.interface,
                     "uses %s binding on the pod network: Istio needs masquerade or passtBinding; change the "
                     "interface binding" % (check.binding or "no"))
    reserved = sorted(set(int(p.get("port")) for p in check.ports if _int(p.get("port")) in RESERVED_PORTS))
    if reserved:
        problems.add(where, "interface %s ports" % check.interface,
                     "lists Istio's reserved port(s) %s: the sidecar owns %s and KubeVirt never forwards them to the "
                     "guest; remove them from ports (or move the guest service to another port)"
                     % (", ".join(str(p) for p in reserved), ", ".join(str(p) for p in RESERVED_PORTS)))
    masquerade = check.binding == "masquerade" or check.fix
    if masquerade and ssh_bypasses_mesh(check.ports, check.port_ranges):
        findings.append(ssh_finding(check.ref, listed=bool(check.ports or check.port_ranges)))
    udp = sorted(set(_int(p.get("port")) for p in check.ports
                     if str(p.get("protocol") or "TCP").upper() == "UDP" and _int(p.get("port")) != SSH_PORT))
    if udp and masquerade:
        findings.append({"kind": "udp-outside-mesh", "vm": check.ref, "ports": udp,
                         "message": "%s: UDP port(s) %s do not reach the guest in the mesh: with the sidecar, "
                                    "KubeVirt's masquerade forwards only port 22 itself and leaves every other port "
                                    "to Envoy, which proxies TCP only; serve them over TCP, or keep this VM out "
                                    "of the mesh" % (check.ref, ", ".join(str(p) for p in udp))})
    return check


def ssh_bypasses_mesh(ports, port_ranges):
    """Whether KubeVirt forwards TCP port 22 straight to the guest of a masquerade
    interface in the mesh: pkg/network/setup/netpod/masquerade/masquerade.go (v1.9.0)
    forwards istio.NonProxiedPorts() (22) when it is listed in ``ports``, falls in a
    ``portRanges`` entry, or when both lists are empty (every port is forwarded then)."""
    if not ports and not port_ranges:
        return True
    if any(_int(p.get("port")) == SSH_PORT for p in ports):
        return True
    return any((_int(r.get("start")) or 0) <= SSH_PORT <= (_int(r.get("end")) or 0) for r in port_ranges)


def ssh_finding(ref, listed=True):
    why = ("" if listed else " (the interface lists no ports, so KubeVirt forwards every port, and 22 goes around "
                             "the sidecar)")
    return {"kind": "ssh-outside-mesh", "vm": ref,
            "message": "%s: port 22 is forwarded straight to the VM, outside Envoy%s: STRICT mTLS and "
                       "AuthorizationPolicy do not protect SSH (KubeVirt excludes it from Istio's capture); list the "
                       "ports the guest serves without 22 to keep SSH out, or protect it in the guest"
                       % (ref, why)}


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def ipv6_only(vmi, pod):
    """True when the running VM's pod network has IPv6 addresses only."""
    ips = []
    for status_iface in (vmi or {}).get("status", {}).get("interfaces") or []:
        if status_iface.get("podInterfaceName") in (None, "eth0") or status_iface.get("name") == "default":
            ips.extend(status_iface.get("ipAddresses") or ([status_iface["ipAddress"]]
                                                           if status_iface.get("ipAddress") else []))
    pod_status = (pod or {}).get("status") or {}
    ips.extend(p.get("ip") for p in pod_status.get("podIPs") or [] if p.get("ip"))
    if pod_status.get("podIP"):
        ips.append(pod_status["podIP"])
    ips = [ip for ip in ips if ip]
    return bool(ips) and all(":" in ip for ip in ips)


def transform_vm(vm, state, fix):
    """The VM as this module wants it: the inject annotation set (present) or
    removed (absent); with ``fix`` the pod interface's bridge -> masquerade
    (an autoattached default interface is written out explicitly)."""
    out = copy.deepcopy(vm)
    template = out.setdefault("spec", {}).setdefault("template", {})
    meta = template.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    if state == "present":
        annotations[INJECT] = "true"
    else:
        annotations.pop(INJECT, None)
    meta["annotations"] = annotations
    if fix and state == "present":
        spec = template.setdefault("spec", {})
        devices = spec.setdefault("domain", {}).setdefault("devices", {})
        if autoattached(out):
            devices["interfaces"] = [{"name": "default", "masquerade": {}}]
            spec["networks"] = [{"name": "default", "pod": {}}]
        else:
            network, _iface = pod_interface(out)
            if network is not None:
                interfaces = []
                for iface in devices.get("interfaces") or []:
                    if iface.get("name") == network.get("name") and "bridge" in iface:
                        iface = dict(iface)
                        del iface["bridge"]
                        iface["masquerade"] = {}
                    interfaces.append(iface)
                devices["interfaces"] = interfaces
    return out


def vm_desired(vm, state, fix):
    """The plan entry for a VM (the Kind re-derives the change from what it reads)."""
    meta = vm.get("metadata") or {}
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"namespace": meta.get("namespace"), "name": meta.get("name")},
            "_istio": {"state": state, "fix": fix}}


class VmKind(Kind):
    """Owned: the template's inject annotation and (with fix) the pod
    interface's binding.  The change is computed from the object read, so a
    409 re-read applies the same intent to the fresh VM."""

    def __init__(self):
        super(VmKind, self).__init__(VM)

    def view(self, obj):
        meta = obj.get("metadata") or {}
        view = {"namespace": meta.get("namespace"), "name": meta.get("name"),
                "template_annotations": {INJECT: template_annotations(obj).get(INJECT)}}
        interfaces = vmspec.interfaces_of(obj)
        if interfaces or vmspec.networks_of(obj):
            view["interfaces"] = [{"name": i.get("name"), "binding": vmspec.binding_of(i)} for i in interfaces]
        return view

    @staticmethod
    def _want(desired, current):
        intent = desired.get("_istio") or {}
        return transform_vm(current, intent.get("state", "present"), intent.get("fix", False))

    def same(self, desired, current):
        return self.view(self._want(desired, current)) == self.view(current)

    def expected(self, desired, current):
        return self._want(desired, current) if current is not None else desired

    def patch(self, desired, current):
        want = self._want(desired, current)
        annotation = template_annotations(want).get(INJECT)
        patch = {"spec": {"template": {"metadata": {"annotations": {INJECT: annotation}}}}}
        if vmspec.interfaces_of(want) != vmspec.interfaces_of(current):
            spec = patch["spec"]["template"].setdefault("spec", {})
            spec["domain"] = {"devices": {"interfaces": vmspec.interfaces_of(want)}}
        if vmspec.networks_of(want) != vmspec.networks_of(current):
            patch["spec"]["template"].setdefault("spec", {})["networks"] = vmspec.networks_of(want)
        return patch


# ------------------------------------------------------------ owned objects
def owned_meta(name, namespace):
    return {"name": name, "namespace": namespace, "labels": dict(OWNED_LABELS)}


def is_ours(obj):
    labels = labels_of(obj)
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE and labels.get(COMPONENT_LABEL) == COMPONENT


def service_manifest(decl, namespace, server_version=None):
    ports = []
    for port in decl.ports:
        entry = dict(port)
        if server_version is not None and tuple(server_version) < APP_PROTOCOL_MINIMUM:
            entry.pop("appProtocol", None)
        ports.append(entry)
    return {"apiVersion": "v1", "kind": "Service", "metadata": owned_meta(decl.name, namespace),
            "spec": {"type": decl.type, "selector": dict(decl.selector or {}), "ports": ports}}


def peer_authentication_manifest(namespace, mode, name="default", version="v1"):
    return {"apiVersion": "security.istio.io/%s" % version, "kind": "PeerAuthentication",
            "metadata": owned_meta(name, namespace), "spec": {"mtls": {"mode": MTLS_MODES[mode]}}}


def destination_rule_manifest(namespace, cluster_domain="cluster.local", version="v1"):
    return {"apiVersion": "networking.istio.io/%s" % version, "kind": "DestinationRule",
            "metadata": owned_meta(DESTINATION_RULE_NAME, namespace),
            "spec": {"host": "*.%s.svc.%s" % (namespace, cluster_domain), "exportTo": ["."],
                     "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}}


def cni_nad_manifest(namespace):
    """The empty NAD Multus needs to run Istio CNI as a chained plugin for the pod."""
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": owned_meta(CNI_NAD_NAME, namespace)}


def normalize_service_spec(spec):
    spec = spec or {}
    ports = []
    for port in spec.get("ports") or []:
        entry = {"name": port.get("name"), "port": port.get("port"),
                 "targetPort": port.get("targetPort", port.get("port")), "protocol": port.get("protocol") or "TCP"}
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        ports.append(entry)
    return {"type": spec.get("type") or "ClusterIP", "selector": dict(spec.get("selector") or {}),
            "ports": sorted(ports, key=lambda p: (p["port"], p["protocol"]))}


class OwnedKind(Kind):
    """Owned: our labels and the keys of the desired spec (for a Service:
    type, selector and ports, compared after the server's defaults)."""

    def __init__(self, resource, service=False):
        super(OwnedKind, self).__init__(resource)
        self.service = service

    def _spec(self, obj):
        if self.service:
            return normalize_service_spec(obj.get("spec"))
        return copy.deepcopy(obj.get("spec") or {})

    def view(self, obj):
        meta = obj.get("metadata") or {}
        labels = labels_of(obj)
        return {"namespace": meta.get("namespace"), "name": meta.get("name"),
                "labels": dict((k, labels.get(k)) for k in OWNED_LABELS),
                "spec": self._spec(obj)}

    def same(self, desired, current):
        have = labels_of(current)
        if any(have.get(k) != v for k, v in OWNED_LABELS.items()):
            return False
        want, spec = self._spec(desired), self._spec(current)
        return all(spec.get(k) == v for k, v in want.items())

    def patch(self, desired, current):
        patch = {"metadata": {"labels": dict(OWNED_LABELS)}}
        want, have = desired.get("spec") or {}, current.get("spec") or {}
        spec = {}
        for key, value in want.items():
            old = have.get(key)
            if isinstance(value, dict) and isinstance(old, dict) and key == "selector":
                sub = netpol.merge_patch(old, value)
                if sub:
                    spec[key] = sub
            elif self._spec({"spec": {key: value}}).get(key) != self._spec({"spec": {key: old}}).get(key) \
                    or old is None:
                spec[key] = copy.deepcopy(value)
        if self.service:
            spec["ports"] = copy.deepcopy(want.get("ports") or [])
        if spec:
            patch["spec"] = spec
        return patch

    def expected(self, desired, current):
        if current is None:
            return desired
        out = copy.deepcopy(current)
        out.setdefault("metadata", {})["labels"] = dict(labels_of(current), **OWNED_LABELS)
        out["spec"] = dict(out.get("spec") or {}, **copy.deepcopy(desired.get("spec") or {}))
        return out


def selects(selector, labels):
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def service_problems(decl, namespace, vms, existing, problems, findings):
    """Collisions and forwarding problems of one declared Service in one namespace.
    ``vms`` are the selected VMs' checks of the namespace; ``existing`` the
    namespace's Services by name."""
    where = "service %s/%s" % (namespace, decl.name)
    current = existing.get(decl.name)
    if current is not None and not is_ours(current):
        problems.add(where, "name", "a Service %s/%s exists and is not managed by this module (no labels %s): it is "
                     "left alone; choose another name, or delete it first" % (namespace, decl.name, ", ".join(
                         "%s=%s" % kv for kv in sorted(OWNED_LABELS.items()))))
    selected = [c for c in vms if selects(decl.selector, template_labels(c.vm))]
    if not selected:
        findings.append({"kind": "service-selects-no-vm", "namespace": namespace, "service": decl.name,
                         "message": "Service %s/%s selects %s, which matches the template labels of no selected VM"
                         % (namespace, decl.name, decl.selector)})
    for check in selected:
        if not check.ports:
            continue
        forwarded = set((_int(p.get("port")), str(p.get("protocol") or "TCP").upper()) for p in check.ports)
        for target, protocol in decl.target_ports():
            if (target, protocol) not in forwarded:
                problems.add(where, "ports target_port %d/%s" % (target, protocol),
                             "is not in the ports list of %s interface %s (%s), so KubeVirt does not forward it to "
                             "the guest: add it there, or leave that list empty to forward every port"
                             % (check.ref, check.interface, ", ".join("%s/%s" % f for f in sorted(forwarded))))
    udp = sorted(set(target for target, protocol in decl.target_ports() if protocol == "UDP"))
    if udp and selected:
        findings.append({"kind": "udp-outside-mesh", "service": "%s/%s" % (namespace, decl.name), "ports": udp,
                         "message": "Service %s/%s forwards UDP target port(s) %s to VMs in the mesh: Envoy proxies "
                                    "TCP only and KubeVirt's masquerade forwards no other port itself with the "
                                    "sidecar (pkg/network/setup/netpod/masquerade/masquerade.go), so this traffic "
                                    "does not reach the guest" % (namespace, decl.name, ", ".join(str(p) for p in udp))})
    for target, protocol in decl.target_ports():
        if target == SSH_PORT and protocol == "TCP":
            findings.append({"kind": "ssh-outside-mesh", "service": "%s/%s" % (namespace, decl.name),
                             "message": "Service %s/%s targets port 22: KubeVirt forwards SSH straight to the VM, "
                                        "outside Envoy, so mTLS and AuthorizationPolicy do not apply to it"
                                        % (namespace, decl.name)})
    # another Service (not this one) selecting the same VMs on the same target port with another protocol
    for other in existing.values():
        name = (other.get("metadata") or {}).get("name")
        if name == decl.name:
            continue
        other_selector = (other.get("spec") or {}).get("selector") or {}
        if not any(selects(other_selector, template_labels(c.vm)) for c in selected):
            continue
        for port in (other.get("spec") or {}).get("ports") or []:
            target = _int(port.get("targetPort", port.get("port")))
            for decl_port in decl.ports:
                if decl_port["targetPort"] != target or decl_port["protocol"] != (port.get("protocol") or "TCP"):
                    continue
                theirs = port.get("appProtocol") or _name_protocol(port.get("name"))
                ours = decl_port.get("appProtocol") or _name_protocol(decl_port.get("name"))
                if theirs and ours and theirs != ours:
                    problems.add(where, "ports %s" % decl_port["name"],
                                 "target port %d is also exposed by Service %s/%s as %s, but here as %s: Istio "
                                 "cannot treat one workload port as two protocols; use the same app_protocol"
                                 % (target, namespace, name, theirs, ours))


def _name_protocol(name):
    prefix = str(name or "").split("-", 1)[0]
    if str(name or "").startswith("grpc-web"):
        return "grpc-web"
    return prefix if prefix in APP_PROTOCOLS else None


# ------------------------------------------------------------ restart/verify
def pod_of(vmi, pods):
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


def has_proxy(pod):
    spec = (pod or {}).get("spec") or {}
    return any(c.get("name") == "istio-proxy" for c in (spec.get("containers") or []) + (spec.get("initContainers") or []))


def vmi_ready(vmi):
    if not vmi or (vmi.get("status") or {}).get("phase") != "Running":
        return False
    return (vmspec.condition(vmi, "Ready") or {}).get("status") == "True"


def needs_restart(state, vm_after, vmi, pod, injecting):
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


def verify_entry(vm_after, vmi, pod, services, mtls_mode, state, restart_required, action):
    meta = vm_after.get("metadata") or {}
    _net, iface = pod_interface(vm_after)
    binding = vmspec.binding_of(iface) if iface is not None else ("bridge" if autoattached(vm_after) else None)
    labels = template_labels(vm_after)
    selecting = sorted((s.get("metadata") or {}).get("name") for s in services
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
