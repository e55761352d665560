# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Network binding plugins (pure logic).

A plugin is registered cluster-wide in the KubeVirt CR,
``spec.configuration.network.binding.<name>`` (v1.InterfaceBindingPlugin), and
referenced by ``interfaces[].binding.name``.  On OpenShift Virtualization the
HyperConverged CR (``hco.kubevirt.io/v1beta1``) owns the KubeVirt CR and takes
the same map as ``spec.networkBinding``.  KubeVirt's admission does not check
that a referenced plugin exists; a VMI using an unknown one fails to start, so
removal of a plugin in use is refused here.
"""


import re
from typing import Any, Dict, Iterable, List, Optional

from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_SUBDOMAIN, Problems

PLUGIN_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
IMAGE = re.compile(r"^[^\s]+$")
DOMAIN_ATTACHMENT_TYPES = ("tap", "managedTap")
MIGRATION_METHODS = ("link-refresh",)
DOWNWARD_APIS = ("device-info",)
DEFAULT_NETWORK_INTERFACES = ("bridge", "masquerade")
KUBEVIRT_BINDING_PATH = "/spec/configuration/network/binding"
HCO_BINDING_PATH = "/spec/networkBinding"

# (option, minimum KubeVirt version, what) - from KubeVirt's release notes and API comments
VERSION_GATES = (
    ("sidecar_image", (1, 1, 0), "sidecarImage"),
    ("network_attachment_definition", (1, 1, 0), "networkAttachmentDefinition"),
    ("migration_method", (1, 2, 0), "migration"),
    ("migratable", (1, 2, 0), "migration"),
    ("compute_resource_overhead", (1, 3, 0), "computeResourceOverhead"),
    ("downward_api", (1, 3, 0), "downwardAPI (device-info)"),
)
DOMAIN_ATTACHMENT_SINCE = {"tap": (1, 1, 1), "managedTap": (1, 4, 0)}


def entry(params: Dict[str, Any]) -> Dict[str, Any]:
    """The v1.InterfaceBindingPlugin the options describe."""
    out: Dict[str, Any] = {}
    if params.get("sidecar_image"):
        out["sidecarImage"] = params["sidecar_image"]
    if params.get("network_attachment_definition"):
        out["networkAttachmentDefinition"] = params["network_attachment_definition"]
    if params.get("domain_attachment_type"):
        out["domainAttachmentType"] = params["domain_attachment_type"]
    if params.get("migration_method"):
        out["migration"] = {"method": params["migration_method"]}
    elif params.get("migratable"):
        out["migration"] = {}
    if params.get("downward_api"):
        out["downwardAPI"] = params["downward_api"]
    overhead = params.get("compute_resource_overhead") or {}
    resources = dict((k, dict(overhead[k])) for k in ("requests", "limits") if overhead.get(k))
    if resources:
        out["computeResourceOverhead"] = resources
    return out


def typed(api_entry: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The options of a registered plugin (for the result)."""
    api_entry = api_entry or {}
    out: Dict[str, Any] = {}
    for option, field in (("sidecar_image", "sidecarImage"), ("network_attachment_definition",
                                                              "networkAttachmentDefinition"),
                          ("domain_attachment_type", "domainAttachmentType"), ("downward_api", "downwardAPI"),
                          ("compute_resource_overhead", "computeResourceOverhead")):
        if api_entry.get(field) is not None:
            out[option] = api_entry[field]
    if "migration" in api_entry:
        out["migratable"] = True
        if (api_entry.get("migration") or {}).get("method"):
            out["migration_method"] = api_entry["migration"]["method"]
    return out


def check_options(problems: Problems, params: Dict[str, Any]) -> Problems:
    """Checks that need no cluster."""
    name = params.get("name")
    if name is not None and (not PLUGIN_NAME.match(name) or len(name) > 63):
        problems.add("task", "name", "%r is not a plugin name: letters, digits, '-', '_' and '.', at most 63, "
                     "starting and ending with a letter or digit (interfaces reference it as binding.name)" % (name,))
    if params.get("state") == "absent":
        return problems
    if name is not None:
        if not (params.get("sidecar_image") or params.get("domain_attachment_type")):
            problems.add("task", "sidecar_image", "a plugin needs sidecar_image and/or domain_attachment_type: "
                         "without either nothing connects the NIC to the VM's domain")
        image = params.get("sidecar_image")
        if image is not None and not IMAGE.match(image):
            problems.add("task", "sidecar_image", "%r is not a container image reference" % (image,))
        nad = params.get("network_attachment_definition")
        if nad is not None:
            parts = nad.split("/")
            if len(parts) > 2 or not all(p and len(p) <= 253 and DNS1123_SUBDOMAIN.match(p) for p in parts):
                problems.add("task", "network_attachment_definition", "%r is not a NetworkAttachmentDefinition "
                             "reference: '<namespace>/<name>' (or '<name>' in each VM's namespace)" % (nad,))
        if params.get("migration_method") and params.get("migratable") is False:
            problems.add("task", "migratable", "migration_method makes the plugin migratable; drop migratable=false")
        overhead = params.get("compute_resource_overhead") or {}
        for section in ("requests", "limits"):
            for resource, value in (overhead.get(section) or {}).items():
                if not QUANTITY.match(str(value)):
                    problems.add("task", "compute_resource_overhead.%s.%s" % (section, resource),
                                 "%r is not a Kubernetes quantity such as 250Mi or 100m" % (value,))
    elif any(params.get(k) is not None for k, _v, _f in VERSION_GATES) or params.get("domain_attachment_type"):
        problems.add("task", "name", "is required with plugin options")
    if params.get("default_network_interface") == "bridge" and \
            params.get("permit_bridge_interface_on_pod_network") is False:
        problems.add("task", "default_network_interface", "bridge contradicts "
                     "permit_bridge_interface_on_pod_network=false: VMs without interfaces would be refused")
    return problems


def check_versions(problems: Problems, params: Dict[str, Any], kv: KubeVirtInfo) -> Problems:
    """KubeVirt version and feature-gate rules of the options given."""
    version = kv.version or (1, 9, 0)
    if params.get("name") and params.get("state") != "absent":
        if version[:2] < (1, 1):
            problems.add("KubeVirt %s" % kv.version_text, "name", "network binding plugins exist from KubeVirt 1.1")
            return problems
        if not kv.gate_enabled("NetworkBindingPlugins"):
            problems.add("KubeVirt %s" % kv.version_text, "name", "binding plugins are GA from KubeVirt 1.5; before, "
                         "the NetworkBindingPlugins feature gate must be listed in "
                         "spec.configuration.developerConfiguration.featureGates of the KubeVirt CR")
        for option, since, field in VERSION_GATES:
            if params.get(option) and tuple(version) < since:
                problems.add("KubeVirt %s" % kv.version_text, option, "%s exists from KubeVirt %s" % (
                    field, ".".join(str(n) for n in since)))
        attach = params.get("domain_attachment_type")
        if attach and tuple(version) < DOMAIN_ATTACHMENT_SINCE[attach]:
            problems.add("KubeVirt %s" % kv.version_text, "domain_attachment_type", "%s exists from KubeVirt %s" % (
                attach, ".".join(str(n) for n in DOMAIN_ATTACHMENT_SINCE[attach])))
    return problems


def users_of(name: str, vms: Iterable[Dict[str, Any]], vmis: Iterable[Dict[str, Any]]) -> List[str]:
    """'VirtualMachine ns/vm interface x' for every reference to plugin ``name``."""
    users = []
    for kind, objects in (("VirtualMachine", vms), ("VirtualMachineInstance", vmis)):
        for obj in objects:
            meta = obj.get("metadata") or {}
            if kind == "VirtualMachine":
                ifaces = vmspec.interfaces_of(obj)
            else:
                ifaces = (((obj.get("spec") or {}).get("domain") or {}).get("devices") or {}).get("interfaces") or []
            for iface in ifaces:
                if (iface.get("binding") or {}).get("name") == name:
                    users.append("%s %s/%s interface %s" % (kind, meta.get("namespace"), meta.get("name"),
                                                            iface.get("name")))
    return users


def bridge_on_pod_users(vms: Iterable[Dict[str, Any]]) -> List[str]:
    """VMs whose template binds bridge to the pod network."""
    users = []
    for vm in vms:
        networks = vmspec.networks_of(vm)
        for iface in vmspec.interfaces_of(vm):
            network = vmspec.find(networks, iface.get("name"))[1] or {}
            if "bridge" in iface and "pod" in network:
                users.append("VirtualMachine %s/%s interface %s" % (
                    vm["metadata"].get("namespace"), vm["metadata"]["name"], iface.get("name")))
    return users


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _walk(obj: Any, path: str) -> Any:
    node = obj
    for part in [p for p in path.split("/") if p]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def patch(obj: Dict[str, Any], binding_path: str, name: Optional[str], wanted: Optional[Dict[str, Any]],
          settings: Dict[str, Any], settings_path: str = "/spec/configuration/network") -> List[Dict[str, Any]]:
    """JSON Patch on the KubeVirt (or HyperConverged) CR: tests
    ``metadata.generation``, creates missing parents, sets or (``wanted`` None)
    removes the plugin entry and sets the cluster ``settings`` (field -> value)."""
    ops: List[Dict[str, Any]] = [{"op": "test", "path": "/metadata/generation",
                                  "value": (obj.get("metadata") or {}).get("generation")}]
    present: Dict[str, bool] = {}

    def ensure(path: str) -> None:
        parts = [p for p in path.split("/") if p]
        for depth in range(1, len(parts) + 1):
            prefix = "/" + "/".join(parts[:depth])
            if _walk(obj, prefix) is None and prefix not in present:
                ops.append({"op": "add", "path": prefix, "value": {}})
                present[prefix] = True

    if name is not None:
        current = (_walk(obj, binding_path) or {}).get(name)
        if wanted is None and current is not None:
            if list(_walk(obj, binding_path)) == [name]:
                ops.append({"op": "remove", "path": binding_path})  # the last one: leave no empty map behind
            else:
                ops.append({"op": "remove", "path": "%s/%s" % (binding_path, _escape(name))})
        elif wanted is not None and current != wanted:
            ensure(binding_path)
            ops.append({"op": "add", "path": "%s/%s" % (binding_path, _escape(name)), "value": wanted})
    for field, value in sorted(settings.items()):
        if value is None or (_walk(obj, settings_path) or {}).get(field) == value:
            continue
        ensure(settings_path)
        ops.append({"op": "add", "path": "%s/%s" % (settings_path, field), "value": value})
    return ops if len(ops) > 1 else []


def registered(obj: Dict[str, Any], binding_path: str, name: str) -> Optional[Dict[str, Any]]:
    return (_walk(obj, binding_path) or {}).get(name)
