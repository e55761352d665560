# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""NetworkAttachmentDefinitions: manifests from typed networks, the fields
this collection owns, address-overlap checks on shared layer-2 segments, and
which VMs use a network (delete protection)."""


from typing import Any, Collection, Dict, Iterable, List, Optional, Set, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import cni, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.planner import Key, Kind, key_of
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAD, NAMESPACE)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

DESCRIPTION_ANNOTATION = "description"


def manifest(net: Dict[str, Any]) -> Dict[str, Any]:
    """The NAD for a validated network option dict."""
    config = cni.build_config(net)
    labels = dict(net.get("labels") or {})
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    annotations = dict(net.get("annotations") or {})
    if net.get("description"):
        annotations[DESCRIPTION_ANNOTATION] = net["description"]
    if net["type"] == "sriov":
        annotations[cni.RESOURCE_NAME_ANNOTATION] = net["resource_name"]
    metadata = {"name": net["name"], "namespace": net["namespace"], "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": NAD.api_version, "kind": NAD.kind, "metadata": metadata,
            "spec": {"config": cni.dumps(config)}}


def check_metadata(problems: Any, where: str, net: Dict[str, Any]) -> None:
    """Label keys and values, annotation keys: what the API server would
    refuse with a 422 after the POST (apimachinery ValidateLabels /
    ValidateAnnotations: qualified-name keys, label values)."""
    problems.labels(where, "labels", net.get("labels"))
    problems.labels(where, "annotations", net.get("annotations"), values=False)


def missing_namespaces(session: Any, namespaces: Iterable[str]) -> List[str]:
    """The namespaces of ``namespaces`` that do not exist: one GET each.  A
    namespace the user may not read (401/403) is assumed to exist: the write
    itself will tell."""
    missing = []
    for namespace in sorted(set(namespaces)):
        try:
            if session.get(NAMESPACE.path(name=namespace)) is None:
                missing.append(namespace)
        except ApiError as err:
            if err.status not in (401, 403):
                raise
    return missing


is_managed = vmspec.is_managed  # one home for the managed-by test


class NadKind(Kind):
    """Owned: the labels and annotations we set, and ``spec.config`` compared
    as parsed JSON (never as a string)."""

    def __init__(self) -> None:
        super(NadKind, self).__init__(NAD)

    def view(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        meta = obj.get("metadata") or {}
        config = (obj.get("spec") or {}).get("config")
        return {"name": meta.get("name"), "namespace": meta.get("namespace"),
                "labels": dict(meta.get("labels") or {}), "annotations": dict(meta.get("annotations") or {}),
                "config": cni.parse(config) if cni.parse(config) is not None else config}

    def expected(self, desired: Dict[str, Any], current: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """``current`` once patched: our labels/annotations merged, our config."""
        if current is None:
            return desired
        meta = dict(current.get("metadata") or {})
        meta["labels"] = dict(meta.get("labels") or {}, **(desired["metadata"].get("labels") or {}))
        meta["annotations"] = dict(meta.get("annotations") or {}, **(desired["metadata"].get("annotations") or {}))
        return dict(current, metadata=meta, spec=dict(current.get("spec") or {}, **desired["spec"]))

    def same(self, desired: Dict[str, Any], current: Dict[str, Any]) -> bool:
        want, have = self.view(desired), self.view(current)
        return (want["config"] == have["config"]
                and all(have["labels"].get(k) == v for k, v in want["labels"].items())
                and all(have["annotations"].get(k) == v for k, v in want["annotations"].items()))

    def patch(self, desired: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, Any]:
        meta = desired["metadata"]
        patch: Dict[str, Dict[str, Any]] = {"metadata": {"labels": dict(meta.get("labels") or {})}, "spec": dict(desired["spec"])}
        if meta.get("annotations"):
            patch["metadata"]["annotations"] = dict(meta["annotations"])
        return patch


def read_nads(session: ApiSession, namespaces: Iterable[str], scope: Optional[str] = None
              ) -> Tuple[Dict[Key, Dict[str, Any]], Dict[Key, Dict[str, Any]], Optional[List[str]]]:
    """The NADs of ``namespaces`` (key -> object), every NAD to check overlaps
    against, and the warnings list for ``check_overlaps``.

    Without ``scope`` (nothing to check): one LIST per namespace.  With a scope:
    one cluster-wide LIST serves both.  scope=namespace: overlaps outside the
    task's namespaces are warnings, and when this identity may not list
    cluster-wide, one LIST per namespace plus a warning that other namespaces
    were not checked; scope=cluster: they are refusals, and a forbidden LIST
    fails the task."""
    wanted = set(namespaces)

    def per_namespace() -> Dict[Key, Dict[str, Any]]:
        found: Dict[Key, Dict[str, Any]] = {}
        for namespace in sorted(wanted):
            for obj in session.list(NAD.path(namespace)):
                found[key_of(obj)] = obj
        return found

    if scope is None:
        existing = per_namespace()
        return existing, existing, None
    try:
        everything = dict((key_of(obj), obj) for obj in session.list(NAD.path()))
    except ApiError as err:
        if scope == "cluster" or err.status not in (401, 403):
            raise
        existing = per_namespace()
        return existing, existing, [
            "overlap_scope=namespace: could not list NetworkAttachmentDefinitions in all namespaces (%s), so "
            "overlaps with networks of other namespaces on the same bridge were not checked"
            % (err.reason or err.status)]
    existing = dict((key, obj) for key, obj in everything.items() if key[0] in wanted)
    return existing, everything, ([] if scope == "namespace" else None)


def check_overlaps(problems: Problems, desired: Iterable[Dict[str, Any]], existing: Dict[Key, Dict[str, Any]],
                   removed: Collection[Key] = (), warnings: Optional[List[str]] = None,
                   local: Optional[Collection[str]] = None) -> None:
    """Networks on one layer-2 segment must not hand out the same addresses.

    ``desired``: the NADs this run writes; ``existing``: every NAD read (key ->
    object); ``removed``: keys this run deletes.  Two whereabouts networks may
    share a range (whereabouts allocates cluster-wide per range), every other
    pairing may not.  Only pairs that involve a network of this run are
    reported.  The segment key has no namespace: a Linux bridge, OVS bridge or
    macvlan master is node-wide, so NADs of different namespaces on one bridge
    share its layer 2.  With ``warnings`` (a list) and ``local`` (namespaces),
    an overlap with a network outside ``local`` is appended to ``warnings``
    instead of refused (overlap_scope=namespace)."""
    final = dict((k, v) for k, v in existing.items() if k not in removed)
    ours: Set[Key] = set()
    for obj in desired:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        final[key] = obj
        ours.add(key)
    segments: Dict[Tuple[Any, ...], List[Tuple[Key, Any, Optional[str]]]] = {}
    for key in sorted(final):
        config = cni.parse((final[key].get("spec") or {}).get("config"))
        if not config:
            continue
        segment = cni.l2_key(config)
        pools = cni.address_pools(config)
        if segment is None or not pools:
            continue
        segments.setdefault(segment, []).append((key, pools, cni.ipam_kind(config)))
    shared: Dict[Tuple[Tuple[str, ...], Tuple[str, ...]], Any] = {}  # networks often repeat one range: intersect each distinct pair of ranges once
    foreign = 0
    for segment, members in segments.items():
        ranges = [tuple(str(c) for c in pools.iter_cidrs()) for _key, pools, _kind in members]
        for index, (key_a, pools_a, kind_a) in enumerate(members):
            for offset, (key_b, pools_b, kind_b) in enumerate(members[index + 1:], index + 1):
                if key_a not in ours and key_b not in ours:
                    continue
                if kind_a == kind_b == "whereabouts":
                    continue
                pair = (ranges[index], ranges[offset])
                if pair not in shared:
                    shared[pair] = pools_a & pools_b
                overlap = shared[pair]
                if overlap:
                    mine, other = (key_a, key_b) if key_a in ours else (key_b, key_a)
                    where = "network %s/%s" % mine
                    if warnings is not None and local is not None and other[0] not in local:
                        foreign += 1
                        if foreign <= problems.max_per_field:
                            warnings.append("%s hands out %s, which network %s/%s in another namespace on the same "
                                            "node-wide segment (%s) also hands out: give each its own range (or set "
                                            "overlap_scope=cluster to refuse this)"
                                            % (where, _short(overlap), other[0], other[1], _segment_text(segment)))
                        continue
                    if problems.full(where, "ipam"):  # only counted from here on (Problems.max_per_field)
                        problems.add(where, "ipam", "")
                        continue
                    problems.add(where, "ipam",
                                 "hands out %s, which network %s/%s on the same segment (%s) also hands out: "
                                 "give each network its own range_start/range_end or exclude"
                                 % (_short(overlap), other[0], other[1], _segment_text(segment)))
    if foreign > problems.max_per_field:
        if warnings is None:
            raise AssertionError("foreign is only counted with warnings")
        warnings.append("... and %d more overlaps with networks in other namespaces"
                        % (foreign - problems.max_per_field))


def _short(pools: Any) -> str:  # a netaddr.IPSet (netaddr is imported by ipam only)
    from ansible_collections.kubevirt_net.core.plugins.module_utils.ipam import describe_pools
    return describe_pools(pools)


def _segment_text(segment: Tuple[Any, ...]) -> str:
    kind = segment[0]
    if kind in ("bridge", "ovs"):
        return "%s %s, vlan %s" % (kind, segment[1], segment[2])
    if kind == "localnet":
        return "localnet %s, vlan %s" % (segment[1], segment[2])
    return "%s %s" % (kind, segment[1])


def users_of(vms: Iterable[Dict[str, Any]],
             vmis: Iterable[Dict[str, Any]]) -> Dict[Tuple[Optional[str], str], List[str]]:
    """(namespace, nad name) -> sorted list of 'VirtualMachine ns/name' users."""
    users: Dict[Tuple[Optional[str], str], Set[str]] = {}
    for kind, objects in (("VirtualMachine", vms), ("VirtualMachineInstance", vmis)):
        for obj in objects:
            meta = obj.get("metadata") or {}
            spec = obj.get("spec") or {}
            if kind == "VirtualMachine":
                spec = ((spec.get("template") or {}).get("spec")) or {}
            for network in spec.get("networks") or []:
                ref = (network.get("multus") or {}).get("networkName")
                if not ref:
                    continue
                namespace, _sep, name = ref.rpartition("/")
                key = (namespace or meta.get("namespace"), name)
                users.setdefault(key, set()).add("%s %s/%s" % (kind, meta.get("namespace"), meta.get("name")))
    return dict((k, sorted(v)) for k, v in users.items())
