# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""VirtualMachineClone (clone.kubevirt.io) with network overrides.

KubeVirt copies the source VM, filters its labels/annotations, gives the
listed interfaces new MACs and blanks every other MAC, sets a new SMBIOS
serial, and then applies ``patches`` (JSON Patch strings).  Typed overrides
(another network for an interface, another binding or model, a dropped or an
added interface, labels, hostname, run strategy) become such patches here,
and every patch is tried locally against what KubeVirt will have built before
anything is submitted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json

from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec

try:
    import jsonpatch
except ImportError:  # pragma: no cover
    jsonpatch = None

CLONED_FROM = "kubevirt-net.io/cloned-from"
CLONE_DIGEST = "kubevirt-net.io/clone-digest"


def check_filters(problems, where, field, filters):
    """KubeVirt's filter syntax: '*' only at the end, '!' only at the beginning."""
    for index, text in enumerate(filters or []):
        body = text[1:] if text.startswith("!") else text
        if not body or "!" in body or ("*" in body and body.index("*") != len(body) - 1):
            problems.add(where, "%s[%d]" % (field, index), "%r is not a filter: use 'key', 'prefix*' or '!key' "
                         "('*' only at the end, '!' only at the beginning)" % (text,))


def _matches(pattern, key):
    return key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern


def apply_filters(values, filters):
    """What KubeVirt keeps of a label/annotation map (unset filters keep all)."""
    if filters is None:
        return dict(values or {})
    positive = [f for f in filters if not f.startswith("!")]
    negative = [f[1:] for f in filters if f.startswith("!")]
    kept = {}
    for key, value in (values or {}).items():
        if positive and not any(_matches(p, key) for p in positive):
            continue
        if any(_matches(n, key) for n in negative):
            continue
        kept[key] = value
    return kept


def kubevirt_base(source, opts):
    """The target VM as KubeVirt builds it before applying ``patches``."""
    target = copy.deepcopy(source)
    meta = target.setdefault("metadata", {})
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "ownerReferences"):
        meta.pop(key, None)
    meta["name"] = opts["target"]
    meta["labels"] = apply_filters(meta.get("labels"), opts.get("label_filters"))
    meta["annotations"] = apply_filters(meta.get("annotations"), opts.get("annotation_filters"))
    template_meta = target.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
    template_meta["labels"] = apply_filters(template_meta.get("labels"), opts.get("template_label_filters"))
    template_meta["annotations"] = apply_filters(template_meta.get("annotations"),
                                                 opts.get("template_annotation_filters"))
    new_macs = opts.get("new_mac_addresses") or {}
    for iface in vmspec.interfaces_of(target):
        if iface.get("name") in new_macs:
            iface["macAddress"] = new_macs[iface["name"]]
        else:
            iface.pop("macAddress", None)
    target.pop("status", None)
    return target


def _escape(key):
    return key.replace("~", "~0").replace("/", "~1")


def override_patches(problems, where, base, opts, namespace):
    """JSON Patch operations for the typed overrides, computed against ``base``."""
    ops = []
    ifaces = vmspec.interfaces_of(base)
    networks = vmspec.networks_of(base)
    removals = []
    for index, net in enumerate(opts.get("networks") or []):
        field = "networks[%d]" % index
        name = net.get("interface")
        i_index, iface = vmspec.find(ifaces, name)
        n_index, network = vmspec.find(networks, name)
        if net.get("state") == "absent":
            if iface is None:
                problems.add(where, field, "interface %r is not in the source VM; nothing to drop" % name)
                continue
            if network is not None and vmspec.is_primary(network) and len(ifaces) == 1:
                problems.add(where, field, "would drop the only interface; keep it or add another")
            removals.append((i_index, n_index))
            continue
        ipath = "%s/%d" % (vmspec.IFACES_PATH, i_index) if iface is not None else None
        if iface is None:
            if not net.get("network"):
                problems.add(where, field, "interface %r is new: give its network" % name)
                continue
            entry = {"name": name, net.get("binding") or "bridge": {}}
            if net.get("model"):
                entry["model"] = net["model"]
            ops.append({"op": "add", "path": vmspec.IFACES_PATH + "/-", "value": entry})
            ops.append({"op": "add", "path": vmspec.NETWORKS_PATH + "/-",
                        "value": {"name": name, "multus": {"networkName": net["network"]}}})
            continue
        if net.get("network"):
            if network is not None and vmspec.is_primary(network) and "pod" in network:
                problems.add(where, field, "interface %r is on the pod network; it cannot be moved to a Multus "
                             "network by a clone override (drop it and add another)" % name)
                continue
            if vmspec.nad_reference(network) != net["network"]:
                ops.append({"op": "replace", "path": "%s/%d/multus/networkName" % (vmspec.NETWORKS_PATH, n_index),
                            "value": net["network"]})
        binding = net.get("binding")
        current = vmspec.binding_of(iface)
        if binding and binding != current:
            ops.append({"op": "remove", "path": "%s/%s" % (ipath, current)})
            ops.append({"op": "add", "path": "%s/%s" % (ipath, binding), "value": {}})
        if net.get("model") and net["model"] != (iface.get("model") or "virtio"):
            ops.append({"op": "add", "path": ipath + "/model", "value": net["model"]})
    for i_index, n_index in sorted(removals, reverse=True):
        ops.append({"op": "remove", "path": "%s/%d" % (vmspec.IFACES_PATH, i_index)})
    for n_index in sorted((n for _i, n in removals if n is not None), reverse=True):
        ops.append({"op": "remove", "path": "%s/%d" % (vmspec.NETWORKS_PATH, n_index)})
    for key, path in (("labels", "/metadata/labels"), ("template_labels", "/spec/template/metadata/labels")):
        for label, value in sorted((opts.get(key) or {}).items()):
            ops.append({"op": "add", "path": "%s/%s" % (path, _escape(label)), "value": str(value)})
    for key, field in (("hostname", "hostname"), ("subdomain", "subdomain")):
        if opts.get(key):
            ops.append({"op": "add", "path": "/spec/template/spec/" + field, "value": opts[key]})
    if opts.get("run_strategy"):
        if "running" in (base.get("spec") or {}):
            ops.append({"op": "remove", "path": "/spec/running"})
        ops.append({"op": "add", "path": "/spec/runStrategy", "value": opts["run_strategy"]})
    return ops


def identity_patches(source_name, digest):
    return [{"op": "add", "path": "/metadata/annotations/" + _escape(CLONED_FROM), "value": source_name},
            {"op": "add", "path": "/metadata/annotations/" + _escape(CLONE_DIGEST), "value": digest}]


def digest_of(opts, source_name):
    keys = ("label_filters", "annotation_filters", "template_label_filters", "template_annotation_filters",
            "new_mac_addresses", "new_smbios_serial", "volume_name_policy", "networks", "labels",
            "template_labels", "hostname", "subdomain", "run_strategy", "patches")
    canonical = json.dumps(dict([("source", source_name)] + [(k, opts.get(k)) for k in keys]), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def try_patches(problems, where, base, ops, raw_count):
    """Apply ``ops`` to ``base`` locally; a failing op is reported with its index."""
    doc = copy.deepcopy(base)
    for index, op in enumerate(ops):
        try:
            doc = jsonpatch.apply_patch(doc, [op])
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            own = index >= len(ops) - raw_count
            field = "patches[%d]" % (index - (len(ops) - raw_count)) if own else "networks"
            problems.add(where, field, "%s does not apply to the source VM: %s" % (json.dumps(op), exc))
            return None
    return doc


def clone_manifest(opts, namespace, patches, api_version, supports_patches, supports_volume_policy):
    spec = {"source": {"apiGroup": "kubevirt.io" if opts["source_kind"] == "VirtualMachine" else
                       "snapshot.kubevirt.io", "kind": opts["source_kind"], "name": opts["source"]},
            "target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": opts["target"]}}
    for option, field in (("label_filters", "labelFilters"), ("annotation_filters", "annotationFilters"),
                          ("new_mac_addresses", "newMacAddresses"), ("new_smbios_serial", "newSMBiosSerial")):
        if opts.get(option) is not None:
            spec[field] = opts[option]
    template = {}
    for option, field in (("template_label_filters", "labelFilters"),
                          ("template_annotation_filters", "annotationFilters")):
        if opts.get(option) is not None:
            template[field] = opts[option]
    if template:
        spec["template"] = template
    if opts.get("volume_name_policy") and supports_volume_policy:
        spec["volumeNamePolicy"] = opts["volume_name_policy"]
    if patches and supports_patches:
        spec["patches"] = [json.dumps(op, sort_keys=True) for op in patches]
    return {"apiVersion": "clone.kubevirt.io/" + api_version, "kind": "VirtualMachineClone",
            "metadata": {"generateName": "%s-clone-" % opts["target"][:40], "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "kubevirt_net.core"}},
            "spec": spec}
