# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_vm_istio options, checked before any request: the task's
namespaces, VM entries (names, template_selector) and Service declarations
(ports, appProtocol, Istio's reserved ports) turned into one Config."""


from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set, Tuple, cast

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol, selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils.istio import (
    APP_PROTOCOLS, INJECTION_LABEL, PORT_NAME, RESERVED_PORTS, REV_LABEL, SERVICE_TYPES, template_labels)
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import parse_version
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_SUBDOMAIN, Problems


class Config:
    """The checked options of one run."""

    def __init__(self, params: Dict[str, Any]) -> None:
        self.state = params.get("state") or "present"
        self.mode = params.get("mode") or "sidecar"
        self.revision = params.get("revision")
        self.fix_binding = bool(params.get("fix_binding"))
        self.mtls = params.get("mtls") or "unset"
        self.mtls_policy_name = params.get("mtls_policy_name") or "default"
        self.destination_rule = bool(params.get("destination_rule"))
        self.cni_nad = bool(params.get("cni_nad"))
        self.restart = params.get("restart") or "never"
        batch_size = params.get("restart_batch_size")
        self.batch_size: int = 5 if batch_size is None else batch_size
        self.cluster_domain = params.get("cluster_domain") or "cluster.local"
        self.istio_version_text = params.get("istio_version")
        self.istio_version: Optional[Tuple[int, ...]] = None
        self.explicit: List[str] = []
        self.selector: Optional[Dict[str, Any]] = None
        self.vm_entries: Optional[List[VmEntry]] = None      # None: every VM of the target namespaces
        self.services: List[ServiceDecl] = []

    @property
    def injection_labels(self) -> Dict[str, Optional[str]]:
        """Desired namespace labels (None removes the key)."""
        if self.mode == "revision":
            return {REV_LABEL: self.revision, INJECTION_LABEL: None}
        return {INJECTION_LABEL: "enabled"}


def check_params(params: Dict[str, Any], problems: Problems) -> Config:
    """Every option, checked before any request; returns a ``Config``."""
    config = Config(params)
    for index, name in enumerate(params.get("namespaces") or []):
        if problems.dns_label("task", "namespaces[%d]" % index, name) and name not in config.explicit:
            config.explicit.append(name)
    if params.get("namespace_selector") is not None:
        config.selector = netpol.parse_selector(problems, "task", "namespace_selector", params["namespace_selector"])
        parsed = selectors.from_api(config.selector)
        if config.selector == {}:
            problems.add("task", "namespace_selector", "is empty and would select every namespace (kube-system, "
                                                       "istio-system, ...): give labels, or list namespaces")
            config.selector = None
        elif parsed is not None and parsed.selects_unlabelled:
            problem = selectors.everything_problem(parsed, "namespace (kube-system, istio-system, ...)",
                                                   "list namespaces")
            if problem is None:
                raise AssertionError("everything_problem explains every selector that selects unlabelled ones")
            problems.add("task", "namespace_selector", problem)
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


def dns_subdomain_ok(value: object) -> bool:
    return isinstance(value, str) and bool(DNS1123_SUBDOMAIN.match(value))


class VmEntry:
    def __init__(self, namespace: Optional[str], names: List[str], selector: Optional[Dict[str, Any]], where: str) -> None:
        self.namespace = namespace
        self.names = names
        self.selector = selector
        self.where = where

    def applies_to(self, namespace: Optional[str]) -> bool:
        return self.namespace is None or self.namespace == namespace

    def selects(self, vm: Dict[str, Any]) -> bool:
        meta = vm.get("metadata") or {}
        if not self.applies_to(meta.get("namespace")):
            return False
        if meta.get("name") in self.names:
            return True
        return self.selector is not None and selectors.matches(self.selector, template_labels(vm))


def _selector_dict(problems: Problems, where: str, field: str, value: Any) -> Optional[Dict[str, Any]]:
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


def _check_vms(items: Optional[List[Any]], problems: Problems) -> Optional[List[VmEntry]]:
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
                problem = selectors.everything_problem(
                    selectors.from_api(selector), "VM of the target namespaces",
                    "omit vms to enrol every VM of the target namespaces on purpose")
                if problem is None:
                    raise AssertionError("everything_problem explains every selector that selects unlabelled ones")
                problems.add("task", field, problem)
                selector = None
        if not item.get("names") and item.get("template_selector") is None:
            problems.add("task", where, "selects nothing: give names and/or template_selector (template labels)")
        entries.append(VmEntry(namespace, names, selector, where))
    return entries


@dataclass
class ServiceDecl:
    """One entry of ``services``, checked: ports in API form, ``where`` the option path for messages."""
    name: str
    namespace: Optional[str]
    selector: Dict[str, str]
    ports: List[Dict[str, Any]]
    type: str
    where: str

    def target_ports(self) -> List[Tuple[int, str]]:
        return [(p["targetPort"], p["protocol"]) for p in self.ports]


def _check_services(items: Optional[List[Any]], problems: Problems) -> List[ServiceDecl]:
    decls: List[ServiceDecl] = []
    seen: Set[Tuple[Optional[str], Optional[str]]] = set()
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
        # name and selector are None only with a problem added: the run stops on it before any use of the decl
        decls.append(ServiceDecl(cast(str, name), namespace, cast(Dict[str, str], selector), ports, service_type,
                                 where))
    return decls


def _check_ports(items: Optional[List[Any]], service: Optional[str], where: str, problems: Problems) -> List[Dict[str, Any]]:
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
        port: Any = item.get("port")  # user input: checked below
        target: Any = item.get("target_port")
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
