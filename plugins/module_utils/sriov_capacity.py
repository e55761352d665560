# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Can an SR-IOV hot-plug finish?  Where a migration target pod could run, and
why the one that exists does not.

Plugging an SR-IOV interface into a running VM needs a live migration: the
VF is allocated to the *migration target* pod, which requests every SR-IOV
resource of the VMI (the source pod keeps its own VFs until the hand-over).
virt-controller gives the target pod a required pod anti-affinity on
``kubevirt.io/created-by=<vmi uid>`` over ``kubernetes.io/hostname``
(``pkg/virt-controller/watch/migration/migration.go
createMigrationPodAntiAffinityRule``, v1.9.0), so it can never land on the
VM's current node.  kube-scheduler then needs a node that passes its filters;
the ones that decide here are NodeUnschedulable, TaintToleration, the VMI's
nodeSelector, and NodeResourcesFit for the extended resource (allocatable
minus what the pods bound to the node request).

This file is pure: the caller reads nodes and pods (one LIST each) and gets
the nodes that could host the target, or the reason none can; and, once a
target pod exists and stays Pending, kube-scheduler's own message from its
``PodScheduled`` condition.
"""


from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

CREATED_BY_LABEL = "kubevirt.io/created-by"          # kubevirt.io/api/core/v1 CreatedByLabel
MIGRATION_JOB_LABEL = "kubevirt.io/migrationJobUID"  # kubevirt.io/api/core/v1 MigrationJobLabel
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
TERMINAL_PHASES = ("Succeeded", "Failed")


def _quantity(value: Any) -> int:
    """An extended resource count (device plugins advertise integers)."""
    try:
        return int(str(value if value is not None else "0").strip() or "0")
    except ValueError:
        return 0


def pod_requests(pod: Mapping[str, Any], resource: str) -> int:
    """What one pod requests of an extended resource (its containers' requests;
    for extended resources a limit alone sets the request, k8s.io/api core v1)."""
    total = 0
    for container in ((pod.get("spec") or {}).get("containers") or []):
        resources = container.get("resources") or {}
        value = (resources.get("requests") or {}).get(resource)
        if value is None:
            value = (resources.get("limits") or {}).get(resource)
        total += _quantity(value)
    return total


def free_per_node(nodes: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]],
                  resource: str) -> Dict[str, int]:
    """allocatable - requested, per node, for one extended resource."""
    used: Dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES:
            used[node] = used.get(node, 0) + pod_requests(pod, resource)
    return dict((n["metadata"]["name"],
                 _quantity(((n.get("status") or {}).get("allocatable") or {}).get(resource)) -
                 used.get(n["metadata"]["name"], 0)) for n in nodes)


def tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """k8s.io/api/core/v1 Toleration.ToleratesTaint."""
    for toleration in tolerations or []:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = toleration.get("key") or ""
        operator = toleration.get("operator") or "Equal"
        if key == "" and operator == "Exists":
            return True
        if key != taint.get("key"):
            continue
        if operator == "Exists" or (toleration.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _node_problem(node: Mapping[str, Any], vmi: Mapping[str, Any]) -> Optional[str]:
    """Why kube-scheduler would filter this node out for the VMI's pods (None: it would not)."""
    spec = vmi.get("spec") or {}
    tolerations = spec.get("tolerations") or []
    if (node.get("spec") or {}).get("unschedulable") and \
            not tolerates(tolerations, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}):
        return "cordoned"
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return "taint %s=%s:%s" % (taint.get("key"), taint.get("value") or "", taint.get("effect"))
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return "nodeSelector %s=%s" % (key, value)
    return None


def migration_targets(nodes: Sequence[Mapping[str, Any]], pods: Sequence[Mapping[str, Any]],
                      vmi: Mapping[str, Any], needs: Mapping[str, int]) -> Tuple[List[str], str]:
    """(nodes that could run the VMI's migration target pod, the reason per
    rejected node as one sentence).  ``needs``: SR-IOV resource -> VFs the
    target pod requests (every SR-IOV interface of the VMI after the change)."""
    source = (vmi.get("status") or {}).get("nodeName")
    free = dict((resource, free_per_node(nodes, pods, resource)) for resource in needs)
    fits, reasons = [], []
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        name = node["metadata"]["name"]
        if name == source:
            reasons.append("%s: the VM runs there (the migration target has a required anti-affinity to it)" % name)
            continue
        problem = _node_problem(node, vmi)
        if problem:
            reasons.append("%s: %s" % (name, problem))
            continue
        short = ["%s (needs %d, %d free)" % (r, n, free[r].get(name, 0)) for r, n in sorted(needs.items())
                 if free[r].get(name, 0) < n]
        if short:
            reasons.append("%s: Insufficient %s" % (name, ", ".join(short)))
            continue
        fits.append(name)
    return fits, "; ".join(reasons)


def target_pod_unschedulable(pods: Sequence[Mapping[str, Any]], vmi: Mapping[str, Any]) -> Optional[str]:
    """kube-scheduler's message for the VMI's Pending migration target pod
    (``PodScheduled=False``, reason ``Unschedulable``), or None."""
    uid = (vmi.get("metadata") or {}).get("uid")
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if not uid or labels.get(CREATED_BY_LABEL) != uid or MIGRATION_JOB_LABEL not in labels:
            continue
        status = pod.get("status") or {}
        if status.get("phase") != "Pending":
            continue
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return "migration target pod %s is not scheduled: %s" % (
                    pod["metadata"].get("name"), condition.get("message") or condition.get("reason") or "Pending")
    return None
