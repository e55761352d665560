# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""VirtualMachineClone (clone.kubevirt.io) with network overrides.

What KubeVirt v1.9.0 does with a clone, and so what this file models:

1. ``pkg/storage/snapshot/restore.go generateRestoredVMSpec`` builds the new
   VM from the snapshot: name/namespace, the source's labels and annotations
   (Go ``omitempty``: an empty map is left out), the
   ``restore.kubevirt.io/lastRestoreUID`` annotation (so the annotation map
   always exists), the spec with ``runStrategy: Halted`` (``running: false``
   when the source used ``running``).
2. ``pkg/virt-controller/watch/clone/vm-target.go generatePatches`` adds its
   own patches: every source interface's MAC replaced by ``newMacAddresses``
   or blanked, firmware serial replaced/blanked and UUID blanked (when the
   source has ``firmware``), label/annotation removals per filters; then the
   clone's ``spec.patches``.
3. ``pkg/storage/admitters/vmrestore.go validatePatches`` (the restore
   webhook) must accept every one of those strings, or the restore is never
   created and the clone stays in RestoreInProgress for ever.
4. ``restore.go patchVM`` applies them with evanphx/json-patch v4 and
   creates the VM, which the VM admission webhook checks.

Typed overrides become patches here that pass step 3; every patch is tried
locally, in KubeVirt's order and with json-patch v4 semantics, before anything
is submitted.
"""


import copy
import hashlib
import json
import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import macaddr, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

CLONED_FROM = "kubevirt-net.io/cloned-from"
CLONE_DIGEST = "kubevirt-net.io/clone-digest"
LAST_RESTORE = "restore.kubevirt.io/lastRestoreUID"
LAST_RESTORE_VALUE = "(set by KubeVirt: <restore name>-<restore uid>)"
WEBHOOK = "KubeVirt's restore webhook (pkg/storage/admitters/vmrestore.go validatePatches)"

Op = Dict[str, Any]


# ------------------------------------------------------------------ restore webhook
def restore_webhook_causes(patch: str) -> List[str]:
    """Port of ``pkg/storage/admitters/vmrestore.go validatePatches`` for one
    patch string: the text without leading/trailing ``{``/``}`` is split on
    ``,``; each piece needs exactly one ``:``; a ``"path"`` value must start
    with ``"/spec/``, ``"/metadata/labels/`` or ``"/metadata/annotations/``."""
    causes = []
    for piece in patch.strip("{}").split(","):
        parts = piece.split(":")
        if len(parts) != 2:
            causes.append('patch format is not valid - one ":" expected in a single key-value json patch: %s' % piece)
            continue
        key, value = parts[0].strip(), parts[1].strip()
        if key == '"path"':
            if value.startswith('"/metadata/labels/') or value.startswith('"/metadata/annotations/'):
                continue
            if not value.startswith('"/spec/'):
                causes.append("patching is valid only for elements under /spec/ only: %s" % piece)
    return causes


def _json_string(text: str) -> str:
    """A JSON string literal with ':' and ',' written as \\u escapes: the same
    string to any JSON decoder (evanphx/json-patch, Go encoding/json), but no
    separator for validatePatches' plain ``strings.Split``."""
    return json.dumps(text).replace(":", "\\u003a").replace(",", "\\u002c")


def encode_patch(op: Op) -> str:
    """One flat operation (scalar, ``{}`` or ``[]`` value) as the string that
    goes into ``spec.patches``."""
    parts = []
    for key in ("op", "path", "from", "value"):
        if key not in op:
            continue
        value = op[key]
        if isinstance(value, str):
            text = _json_string(value)
        elif isinstance(value, (dict, list)):
            if value:
                raise ValueError("not a flat operation: %r" % (op,))
            text = "{}" if isinstance(value, dict) else "[]"
        else:
            text = json.dumps(value)
        parts.append('"%s": %s' % (key, text))
    return "{%s}" % ", ".join(parts)


# ------------------------------------------------------------------ MACs
def parse_mac(text: Any) -> Optional[bytes]:
    """A MAC KubeVirt takes (``pkg/network/link/mac.go ValidateMacAddress``:
    Go's ``net.ParseMAC``, at most 6 bytes; macaddr.py ports ParseMAC)."""
    parsed = macaddr.parse(text)
    return parsed if parsed is not None and len(parsed) == 6 else None


def restore_mac(text: str) -> str:
    """The dash form (``02-00-00-aa-00-01``): validatePatches accepts it (no
    ':'), Go's net.ParseMAC accepts it (VM admitter, virt-launcher), and
    KubeVirt's own e2e tests clone with it (tests/clone_test.go)."""
    mac = parse_mac(text)
    if mac is None:
        raise ValueError("not a MAC address: %r" % (text,))
    return "-".join("%02x" % b for b in mac)


# Bindings whose macAddress reaches the libvirt domain as written (pkg/virt-launcher/virtwrap/converter/
# network/builder.go withMACAddress; cmd/sidecars/network-passt-binding): libvirt's virMacAddrParse takes
# only ':'.  Tap bindings (bridge, masquerade) are re-formatted by pkg/network/domainspec/generators.go
# (net.ParseMAC(...).String()) and SR-IOV MACs go through the CNI, so the dash form is safe there.
VERBATIM_MAC_BINDINGS = ("passtBinding", "binding")


def verbatim_mac_interfaces(source: Dict[str, Any], opts: Dict[str, Any]) -> List[str]:
    """Source interfaces with a new MAC whose target binding passes the MAC verbatim to libvirt."""
    overrides = dict((n.get("interface"), n.get("binding")) for n in opts.get("networks") or [])
    macs = opts.get("new_mac_addresses") or {}
    return [i["name"] for i in vmspec.interfaces_of(source) if i.get("name") in macs and
            (overrides.get(i.get("name")) or vmspec.binding_of(i)) in VERBATIM_MAC_BINDINGS]


def verbatim_mac_patches(base: Dict[str, Any], macs: Dict[str, str], names: List[str]) -> List[Tuple[str, Op]]:
    """Their MACs in colon form through the clone's own patches (encode_patch escapes the ':'), computed
    against ``base`` before any override moves an interface."""
    ops = []
    for idx, iface in enumerate(vmspec.interfaces_of(base)):
        if iface.get("name") in names:
            ops.append(("new_mac_addresses.%s" % iface["name"], {
                "op": "replace", "path": "%s/%d/macAddress" % (vmspec.IFACES_PATH, idx),
                "value": macaddr.canonical(macs[iface["name"]])}))
    return ops


# ------------------------------------------------------------------ filters
# Constructs whose meaning differs between Go's RE2 (what KubeVirt runs) and
# Python's re, or which RE2 refuses (then KubeVirt matches nothing, silently).
_RE2_DIFFERENT = re.compile(r"\(\?[=!<>]|\\[1-9pPzQE]|\[:|[*+?}][+]")


def check_filters(problems: Problems, where: str, field: str, filters: Optional[List[str]]) -> List[str]:
    """The clone admitter's syntax (pkg/virt-api/webhooks/validating-webhook/
    admitters/vmclone-admitter.go validateFilters: ``!`` only first, ``*``
    only last, ``!`` alone refused) plus what vm-target.go then does with
    a filter: an unanchored regular expression (a bad one matches nothing).
    Returns warnings for filters that match every key."""
    warnings = []
    for index, text in enumerate(filters or []):
        name = "%s[%d]" % (field, index)
        body = text[1:] if text.startswith("!") else text
        if not body or "!" in body or ("*" in body and body.index("*") != len(body) - 1):
            problems.add(where, name, "%r is not a filter: KubeVirt's clone webhook needs '!' only at the beginning "
                         "and '*' only at the end, e.g. ['*', '!debug'] (keep all but keys matching 'debug')"
                         % (text,))
            continue
        if text == "!*":
            # vm-target.go turns only a plain "*" into ".*"; the negation's "*" goes to
            # regexp.MatchString, which fails on it, logs and matches nothing: no key is removed
            problems.add(where, name, "'!*' removes nothing: KubeVirt passes the '*' of a negation to Go's regexp, "
                         "which refuses it, so the filter matches no key; to remove every key give %s: [] "
                         "(keep nothing), or list the keys to remove, e.g. ['*', '!debug']" % field)
            continue
        if body == "*":
            continue
        if _RE2_DIFFERENT.search(body):
            problems.add(where, name, "%r uses regular-expression syntax that Go's RE2 (KubeVirt matches filters "
                         "with it) refuses or reads differently; use plain text, '.', '^', '$', '[...]' or "
                         "'x*'" % (text,))
            continue
        try:
            matches_all = re.compile(body).search("") is not None
        except re.error as exc:
            problems.add(where, name, "%r is not a regular expression (%s): KubeVirt would match no key with it; "
                         "escape special characters, e.g. '\\.'" % (text, exc))
            continue
        if matches_all:
            warnings.append("%s: %s %r matches every key: KubeVirt reads filters as unanchored regular expressions "
                            "and this one matches the empty string ('x*' means 'zero or more x')%s"
                            % (where, name, text, "; as a negation it removes every key" if text.startswith("!")
                               else ""))
    return warnings


def check_target_options(problems: Problems, where: str, opts: Dict[str, Any]) -> None:
    """The options the module applies to the target VM itself, checked before
    the clone is created (issue 19): label keys and values as the API server
    checks them (the labels are written after KubeVirt built the VM, so a bad
    one would fail only once the clone exists), and ``hostname``/``subdomain``
    as DNS-1123 labels, the pod fields KubeVirt copies them to
    (k8s.io/kubernetes pkg/apis/core/validation ValidatePodSpec)."""
    problems.labels(where, "labels", opts.get("labels"))
    problems.labels(where, "template_labels", opts.get("template_labels"))
    for field in ("hostname", "subdomain"):
        if opts.get(field) not in (None, ""):
            problems.dns_label(where, field, opts[field])


def _filter_matches(regex: str, key: str) -> bool:
    """regexp.MatchString: unanchored; an invalid expression matches nothing."""
    try:
        return re.search(regex, key) is not None
    except re.error:
        return False


def kept_keys(values: Optional[Dict[str, str]], filters: Optional[List[str]]) -> List[str]:
    """vm-target.go addRemovePatchesFromFilter: no filters (nil) keep every
    key; otherwise a key stays when a regular filter matches it (``*`` alone
    is ``.*``) and no ``!`` filter does.  ``[]`` and negations alone keep
    nothing."""
    if filters is None:
        return sorted(values or {})
    regular = [".*" if f == "*" else f for f in filters if f == "*" or not f.startswith("!")]
    negation = [f[1:] for f in filters if f != "*" and f.startswith("!")]
    return sorted(k for k in values or {} if any(_filter_matches(r, k) for r in regular)
                  and not any(_filter_matches(n, k) for n in negation))


def apply_filters(values: Optional[Dict[str, str]], filters: Optional[List[str]]) -> Dict[str, str]:
    """What KubeVirt keeps of a label/annotation map."""
    keep = set(kept_keys(values, filters))
    return dict((k, v) for k, v in (values or {}).items() if k in keep)


# ------------------------------------------------------------------ json-patch v4
class PatchFailed(Exception):
    pass


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _container(doc: Any, path: Any) -> Tuple[Any, str]:
    """evanphx/json-patch v4 findObject: every parent must exist."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise PatchFailed("path %r is not a JSON pointer" % (path,))
    parts = path.split("/")[1:]
    node = doc
    for part in parts[:-1]:
        token = _unescape(part)
        idx = _index(token, len(node)) if isinstance(node, list) else None
        if isinstance(node, dict) and node.get(token) is not None:
            node = node[token]
        elif idx is not None:
            node = node[idx]
        else:
            raise PatchFailed("doc is missing path: %s" % path)
        if not isinstance(node, (dict, list)):
            raise PatchFailed("doc is missing path: %s" % path)
    return node, _unescape(parts[-1])


def _index(token: str, length: int, extra: int = 0) -> Optional[int]:
    """An array index as v4 reads it (negative counts from the end)."""
    try:
        idx = int(token)
    except ValueError:
        return None
    if idx < 0:
        idx += length + extra
    return idx if 0 <= idx < length + extra else None


def _get(doc: Any, path: Any) -> Any:
    if path == "":
        return doc
    node, key = _container(doc, path)
    if isinstance(node, dict):
        if key not in node:
            raise PatchFailed("doc is missing key: %s" % path)
        return node[key]
    idx = _index(key, len(node))
    if idx is None:
        raise PatchFailed("invalid index: %s" % path)
    return node[idx]


def apply_op(doc: Any, op: Op) -> Any:
    """One operation with evanphx/json-patch v4 semantics (restore.go
    patchVM): ``replace`` on a missing object member sets it; ``add`` into an
    array takes an index up to its length or ``-``; parents must exist."""
    doc = copy.deepcopy(doc)
    kind, path = op.get("op"), op.get("path")
    if kind in ("move", "copy"):
        value = copy.deepcopy(_get(doc, op.get("from", "")))
        if kind == "move":
            doc = apply_op(doc, {"op": "remove", "path": op.get("from")})
        return apply_op(doc, {"op": "add", "path": path, "value": value})
    if kind == "test":
        if _get(doc, path) != op.get("value"):
            raise PatchFailed("testing value %s failed" % path)
        return doc
    node, key = _container(doc, path)
    value = copy.deepcopy(op.get("value"))
    if isinstance(node, dict):
        if kind == "remove" and key not in node:
            raise PatchFailed("Unable to remove nonexistent key: %s" % key)
        if kind == "remove":
            del node[key]
        elif kind in ("add", "replace"):
            node[key] = value
        else:
            raise PatchFailed("Unexpected kind: %s" % kind)
        return doc
    if kind == "add":
        idx = len(node) if key == "-" else _index(key, len(node), 1)
        if idx is None:
            raise PatchFailed("Unable to access invalid index: %s" % path)
        node.insert(idx, value)
        return doc
    idx = _index(key, len(node))
    if idx is None:
        raise PatchFailed("Unable to access invalid index: %s" % path)
    if kind == "remove":
        del node[idx]
    elif kind == "replace":
        node[idx] = value
    else:
        raise PatchFailed("Unexpected kind: %s" % kind)
    return doc


def flatten(op: Op, doc: Any) -> List[Op]:
    """``op`` as operations whose values are scalars, ``{}`` or ``[]`` (the
    only values validatePatches lets through), with the same effect on
    ``doc``: an object is added empty and then member by member, a list
    empty and then element by element.  ``test`` of an object cannot be split."""
    value = op.get("value")
    if op.get("op") not in ("add", "replace") or not isinstance(value, (dict, list)) or not value:
        return [op]
    path = op["path"]
    parent, key = _container(doc, path)
    if isinstance(parent, list):
        adding = op["op"] == "add"
        idx = len(parent) if adding and key == "-" else _index(key, len(parent), 1 if adding else 0)
        if idx is None:
            raise PatchFailed("Unable to access invalid index: %s" % path)
        path = "%s/%d" % (path.rsplit("/", 1)[0], idx)
    out = [dict(op, path=op["path"], value={} if isinstance(value, dict) else [])]
    current = apply_op(doc, out[0])
    children = value.items() if isinstance(value, dict) else (("-", v) for v in value)
    for key, child in children:
        sub = {"op": "add", "path": "%s/%s" % (path, _escape(key) if key != "-" else "-"), "value": child}
        for flat in flatten(sub, current):
            current = apply_op(current, flat)
            out.append(flat)
    return out


# ------------------------------------------------------------------ the target KubeVirt builds
def _drop_empty_maps(meta: Dict[str, Any]) -> None:
    for key in ("labels", "annotations"):
        if not meta.get(key):
            meta.pop(key, None)


def restored_vm(source: Dict[str, Any], target: str, namespace: Optional[str]) -> Dict[str, Any]:
    """restore.go generateRestoredVMSpec for a target that does not exist yet,
    as json.Marshal presents it to patchVM (volume renames left out: the
    restore's UID is not known before it exists)."""
    meta = source.get("metadata") or {}
    spec = copy.deepcopy(source.get("spec") or {})
    metadata: Dict[str, Any] = {
        "name": target, "namespace": namespace or meta.get("namespace"),
        "labels": dict(meta.get("labels") or {}), "annotations": dict(meta.get("annotations") or {})}
    metadata["annotations"][LAST_RESTORE] = LAST_RESTORE_VALUE  # setLastRestoreAnnotation: always a map
    _drop_empty_maps(metadata)
    if spec.get("running") is not None:
        spec["running"] = False
    else:
        spec["runStrategy"] = "Halted"
    template = spec.setdefault("template", {})
    template["metadata"] = dict(template.get("metadata") or {})  # a struct: marshalled even when empty
    _drop_empty_maps(template["metadata"])
    domain = template.setdefault("spec", {}).setdefault("domain", {})
    domain.setdefault("devices", {})  # Devices is a struct, not omitempty
    return {"apiVersion": source.get("apiVersion", "kubevirt.io/v1"), "kind": "VirtualMachine",
            "metadata": metadata, "spec": spec}


def kubevirt_patches(source: Dict[str, Any], opts: Dict[str, Any]) -> List[Op]:
    """vm-target.go generatePatches (KubeVirt's own part, in its order)."""
    meta = source.get("metadata") or {}
    template = ((source.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    firmware = ((template.get("spec") or {}).get("domain") or {}).get("firmware")
    macs = opts.get("new_mac_addresses") or {}
    ops = [{"op": "replace", "path": "%s/%d/macAddress" % (vmspec.IFACES_PATH, idx),
            "value": restore_mac(macs[iface.get("name")]) if iface.get("name") in macs else ""}
           for idx, iface in enumerate(vmspec.interfaces_of(source))]
    if firmware is not None:
        ops.append({"op": "replace", "path": "/spec/template/spec/domain/firmware/serial",
                    "value": opts.get("new_smbios_serial") or ""})
    annotations = dict((k, v) for k, v in (meta.get("annotations") or {}).items() if k != LAST_RESTORE)
    for values, filters, base in ((meta.get("labels"), opts.get("label_filters"), "/metadata/labels"),
                                  (annotations, opts.get("annotation_filters"), "/metadata/annotations"),
                                  (tmeta.get("labels"), opts.get("template_label_filters"),
                                   "/spec/template/metadata/labels"),
                                  (tmeta.get("annotations"), opts.get("template_annotation_filters"),
                                   "/spec/template/metadata/annotations")):
        if filters is not None:
            keep = set(kept_keys(values, filters))
            ops += [{"op": "remove", "path": "%s/%s" % (base, _escape(k))} for k in sorted(values or {})
                    if k not in keep]
    if firmware is not None:
        ops.append({"op": "replace", "path": "/spec/template/spec/domain/firmware/uuid", "value": ""})
    return ops


def kubevirt_base(source: Dict[str, Any], opts: Dict[str, Any], namespace: Optional[str] = None) -> Dict[str, Any]:
    """The target VM as KubeVirt has it when the clone's ``patches`` apply."""
    doc = restored_vm(source, opts["target"], namespace)
    for op in kubevirt_patches(source, opts):
        doc = apply_op(doc, op)
    return doc


def go_round_trip(vm: Dict[str, Any]) -> Dict[str, Any]:
    """What json.Unmarshal + Create leave of the patched VM (``omitempty``):
    blanked MACs, serial and UUID and empty label/annotation maps disappear."""
    vm = copy.deepcopy(vm)
    template = (vm.get("spec") or {}).get("template") or {}
    _drop_empty_maps(vm.get("metadata") or {})
    _drop_empty_maps(template.get("metadata") or {})
    for iface in vmspec.interfaces_of(vm):
        if not iface.get("macAddress"):
            iface.pop("macAddress", None)
    firmware = ((template.get("spec") or {}).get("domain") or {}).get("firmware")
    for key in ("serial", "uuid"):
        if isinstance(firmware, dict) and not firmware.get(key):
            firmware.pop(key, None)
    return vm


# ------------------------------------------------------------------ the module's overrides
def _mac_for(opts: Dict[str, Any], name: str) -> Optional[str]:
    mac = (opts.get("new_mac_addresses") or {}).get(name)
    return restore_mac(mac) if mac else None


def override_patches(problems: Problems, where: str, base: Dict[str, Any],
                     opts: Dict[str, Any]) -> Tuple[List[Tuple[str, Op]], Dict[str, Any]]:
    """The typed overrides as (option, JSON Patch operation) against ``base``
    (what KubeVirt built), and a merge patch for what no restore patch can
    express, applied to the target after the clone succeeded.

    A MAC for an interface the source lacks goes on the added interface entry:
    vm-target.go addMacAddressPatches walks only the source's interfaces."""
    ops = []  # type: List[Tuple[str, Op]]
    post = {}  # type: Dict[str, Any]
    ifaces = vmspec.interfaces_of(base)
    networks = vmspec.networks_of(base)
    tspec = vmspec.template_spec(base)
    removals = []
    added_ifaces = 0
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
            if i_index is None:
                raise AssertionError("find() gives an index with the interface")
            removals.append((i_index, n_index))
            continue
        if iface is None:
            if not net.get("network"):
                problems.add(where, field, "interface %r is new: give its network" % name)
                continue
            entry = {"name": name, net.get("binding") or "bridge": {}}
            if net.get("model"):
                entry["model"] = net["model"]
            if _mac_for(opts, name):
                entry["macAddress"] = _mac_for(opts, name)
            if "interfaces" not in (tspec.get("domain") or {}).get("devices", {}) and not added_ifaces:
                ops.append((field, {"op": "add", "path": vmspec.IFACES_PATH, "value": []}))
            if "networks" not in tspec and not added_ifaces:
                ops.append((field, {"op": "add", "path": vmspec.NETWORKS_PATH, "value": []}))
            added_ifaces += 1
            ops.append((field, {"op": "add", "path": vmspec.IFACES_PATH + "/-", "value": entry}))
            ops.append((field, {"op": "add", "path": vmspec.NETWORKS_PATH + "/-",
                                "value": {"name": name, "multus": {"networkName": net["network"]}}}))
            continue
        if i_index is None:
            raise AssertionError("find() gives an index with the interface")
        ipath = "%s/%d" % (vmspec.IFACES_PATH, i_index)
        if net.get("network"):
            if network is not None and vmspec.is_primary(network) and "pod" in network:
                problems.add(where, field, "interface %r is on the pod network; it cannot be moved to a Multus "
                             "network by a clone override (drop it and add another)" % name)
                continue
            if network is None:
                problems.add(where, field, "interface %r has no network entry in the source VM" % name)
                continue
            if n_index is None:
                raise AssertionError("find() gives an index with the network")
            if vmspec.nad_reference(network) != net["network"]:
                ops.append((field, {"op": "replace", "path": "%s/%d/multus/networkName"
                                    % (vmspec.NETWORKS_PATH, n_index), "value": net["network"]}))
        binding = net.get("binding")
        current = vmspec.binding_of(iface)
        if binding and binding != current:
            if current:
                ops.append((field, {"op": "remove", "path": "%s/%s" % (ipath, current)}))
            ops.append((field, {"op": "add", "path": "%s/%s" % (ipath, binding), "value": {}}))
        if net.get("model") and net["model"] != (iface.get("model") or "virtio"):
            ops.append((field, {"op": "add", "path": ipath + "/model", "value": net["model"]}))
    for i_index, n_index in sorted(removals, reverse=True):
        ops.append(("networks", {"op": "remove", "path": "%s/%d" % (vmspec.IFACES_PATH, i_index)}))
    for n_index in sorted((n for _i, n in removals if n is not None), reverse=True):
        ops.append(("networks", {"op": "remove", "path": "%s/%d" % (vmspec.NETWORKS_PATH, n_index)}))
    labels = dict((k, str(v)) for k, v in sorted((opts.get("labels") or {}).items()))
    if labels and "labels" in base["metadata"]:
        ops += [("labels", {"op": "add", "path": "/metadata/labels/" + _escape(k), "value": v})
                for k, v in labels.items()]
    elif labels:
        # the source has no labels, so the restored VM has no map to add keys to, and the restore
        # webhook refuses a patch of /metadata/labels itself: set them on the target afterwards
        post = {"metadata": {"labels": labels}}
    template_labels = dict((k, str(v)) for k, v in sorted((opts.get("template_labels") or {}).items()))
    if template_labels and "labels" in base["spec"]["template"]["metadata"]:
        ops += [("template_labels", {"op": "add", "path": "/spec/template/metadata/labels/" + _escape(k),
                                     "value": v}) for k, v in template_labels.items()]
    elif template_labels:  # the parent is under /spec/: the restore webhook allows adding it
        ops.append(("template_labels", {"op": "add", "path": "/spec/template/metadata/labels",
                                        "value": template_labels}))
    for key in ("hostname", "subdomain"):
        if opts.get(key):
            ops.append((key, {"op": "add", "path": "/spec/template/spec/" + key, "value": opts[key]}))
    if opts.get("run_strategy"):
        if "running" in base["spec"]:
            ops.append(("run_strategy", {"op": "remove", "path": "/spec/running"}))
        ops.append(("run_strategy", {"op": "add", "path": "/spec/runStrategy", "value": opts["run_strategy"]}))
    return ops, post


def identity_patches(source_name: str, digest: str) -> List[Op]:
    return [{"op": "add", "path": "/metadata/annotations/" + _escape(CLONED_FROM), "value": source_name},
            {"op": "add", "path": "/metadata/annotations/" + _escape(CLONE_DIGEST), "value": digest}]


def digest_of(opts: Dict[str, Any], source_name: str) -> str:
    keys = ("label_filters", "annotation_filters", "template_label_filters", "template_annotation_filters",
            "new_mac_addresses", "new_smbios_serial", "volume_name_policy", "networks", "labels",
            "template_labels", "hostname", "subdomain", "run_strategy", "patches")
    canonical = json.dumps(dict([("source", source_name)] + [(k, opts.get(k)) for k in keys]), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _missing_hint(path: str, base: Dict[str, Any]) -> str:
    if path.startswith("/metadata/labels/") and "labels" not in base["metadata"]:
        return ("; the source VM has no labels, so the VM KubeVirt restores has no /metadata/labels map and the "
                "restore webhook refuses a patch of /metadata/labels itself: use the 'labels' option instead (set "
                "on the target after the clone)")
    if path.startswith("/spec/"):
        return "; add the missing parent first (e.g. {\"op\": \"add\", \"path\": \"<parent>\", \"value\": {}})"
    if not path.startswith(("/metadata/labels/", "/metadata/annotations/")):
        return ("; KubeVirt's restore only takes patches of /spec/..., /metadata/labels/<key> and "
                "/metadata/annotations/<key>")
    return ""


def express(problems: Problems, where: str, base: Dict[str, Any],
            sourced: List[Tuple[str, Op]]) -> Tuple[Optional[Dict[str, Any]], List[Op]]:
    """Turn each (option, operation) into operations KubeVirt's restore
    webhook accepts (objects and lists split member by member, ':' and ','
    in strings escaped), apply them to ``base`` in order with json-patch v4
    semantics, and check every resulting string with the port of
    validatePatches.  Returns the patched VM (None on a problem) and the flat
    operations."""
    doc: Optional[Dict[str, Any]] = base
    flat_ops: List[Op] = []
    for field, op in sourced:
        shown = json.dumps(op, sort_keys=True)
        if op.get("op") == "test" and isinstance(op.get("value"), (dict, list)) and op["value"]:
            problems.add(where, field, "%s cannot pass %s: an object or list value always contains ':' or ','; "
                         "test its scalar members one by one" % (shown, WEBHOOK))
            return None, flat_ops
        try:
            pieces = flatten(op, doc)
            for piece in pieces:
                doc = apply_op(doc, piece)
        except PatchFailed as exc:
            problems.add(where, field, "%s does not apply to the VM KubeVirt builds for the target: %s%s"
                         % (shown, exc, _missing_hint(str(op.get("path")), base)))
            return None, flat_ops
        for piece in pieces:
            causes = restore_webhook_causes(encode_patch(piece))
            if causes:
                problems.add(where, field, "%s would be refused by %s: %s; KubeVirt's restore only takes patches "
                             "of /spec/..., /metadata/labels/<key> and /metadata/annotations/<key> (use the "
                             "'labels' option for labels)" % (shown, WEBHOOK, "; ".join(causes)))
                return None, flat_ops
        flat_ops.extend(pieces)
    return doc, flat_ops


def merge(doc: Dict[str, Any], patch: Dict[str, Any]) -> Dict[str, Any]:
    """RFC 7386 merge patch (what the module sends after the clone)."""
    out = copy.deepcopy(doc)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def clone_manifest(opts: Dict[str, Any], namespace: str, patches: List[Op], api_version: str,
                   supports_patches: bool, supports_volume_policy: bool) -> Dict[str, Any]:
    """The VirtualMachineClone; ``opts['new_mac_addresses']`` must name
    source interfaces only (KubeVirt ignores the others)."""
    spec: Dict[str, Any] = {
        "source": {"apiGroup": "kubevirt.io" if opts["source_kind"] == "VirtualMachine" else "snapshot.kubevirt.io",
                   "kind": opts["source_kind"], "name": opts["source"]},
        "target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": opts["target"]}}
    for option, field in (("label_filters", "labelFilters"), ("annotation_filters", "annotationFilters"),
                          ("new_smbios_serial", "newSMBiosSerial")):
        if opts.get(option) is not None:
            spec[field] = opts[option]
    if opts.get("new_mac_addresses"):
        spec["newMacAddresses"] = dict((k, restore_mac(v)) for k, v in opts["new_mac_addresses"].items())
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
        spec["patches"] = [encode_patch(op) for op in patches]
    return {"apiVersion": "clone.kubevirt.io/" + api_version, "kind": "VirtualMachineClone",
            "metadata": {"generateName": "%s-clone-" % opts["target"][:40], "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "kubevirt_net.core"}},
            "spec": spec}
