"""Where an SR-IOV hot-plug's migration target pod could run (kube-scheduler's
NodeUnschedulable, TaintToleration, nodeSelector and NodeResourcesFit filters,
KubeVirt's anti-affinity to the source node), and the Pending target's reason."""

from ansible_collections.kubevirt_net.core.plugins.module_utils import sriov_capacity as cap

RES = "openshift.io/intelnics"


def node(name, vfs=0, unschedulable=False, taints=None, labels=None):
    return {"metadata": {"name": name, "labels": dict(labels or {"kubernetes.io/hostname": name})},
            "spec": {"unschedulable": unschedulable, "taints": list(taints or [])},
            "status": {"allocatable": {RES: str(vfs), "cpu": "8"}}}


def pod(node_name, vfs, phase="Running", limits_only=False, labels=None, conditions=None, name="p"):
    resources = {"limits": {RES: str(vfs)}} if limits_only else {"requests": {RES: str(vfs)}, "limits": {RES: str(vfs)}}
    return {"metadata": {"name": name, "labels": dict(labels or {})},
            "spec": {"nodeName": node_name, "containers": [{"name": "compute", "resources": resources}]},
            "status": {"phase": phase, "conditions": list(conditions or [])}}


VMI = {"metadata": {"uid": "vmi-1"}, "spec": {}, "status": {"nodeName": "node01"}}


def test_free_vfs_count_requests_limits_alone_and_skip_finished_pods():
    nodes = [node("node01", 4), node("node02", 2)]
    pods = [pod("node01", 1), pod("node01", 2, limits_only=True), pod("node01", 1, phase="Succeeded"),
            pod("node02", 2, phase="Failed"), pod(None, 5)]
    assert cap.free_per_node(nodes, pods, RES) == {"node01": 1, "node02": 2}


def test_the_source_node_never_hosts_the_target_even_with_free_vfs():
    fits, why = cap.migration_targets([node("node01", 8), node("node02", 0)], [], VMI, {RES: 1})
    assert fits == []
    assert "node01: the VM runs there" in why and "node02: Insufficient %s (needs 1, 0 free)" % RES in why


def test_a_node_with_a_free_vf_fits_and_the_full_set_is_needed():
    nodes = [node("node01", 8), node("node02", 2), node("node03", 1)]
    fits, _why = cap.migration_targets(nodes, [pod("node02", 1)], VMI, {RES: 1})
    assert fits == ["node02", "node03"]
    fits, why = cap.migration_targets(nodes, [pod("node02", 1)], VMI, {RES: 2})
    assert fits == [] and "node02: Insufficient" in why and "(needs 2, 1 free)" in why


def test_cordoned_tainted_and_unselected_nodes_are_filtered_unless_tolerated():
    nodes = [node("node01", 8), node("cordoned", 2, unschedulable=True),
             node("tainted", 2, taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
             node("soft", 2, taints=[{"key": "x", "effect": "PreferNoSchedule"}]),
             node("other-zone", 2, labels={"zone": "b"})]
    vmi = dict(VMI, spec={"nodeSelector": {"zone": "a"}})
    nodes[3]["metadata"]["labels"]["zone"] = "a"
    fits, why = cap.migration_targets(nodes, [], vmi, {RES: 1})
    assert fits == ["soft"]
    assert "cordoned: cordoned" in why and "tainted: taint dedicated=gpu:NoSchedule" in why
    assert "other-zone: nodeSelector zone=a" in why
    tolerant = {"metadata": {"uid": "u"}, "status": {"nodeName": "node01"},
                "spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu",
                                          "effect": "NoSchedule"},
                                         {"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]}}
    fits, _why = cap.migration_targets(nodes, [], tolerant, {RES: 1})
    assert fits == ["cordoned", "other-zone", "soft", "tainted"]


def test_toleration_rules():
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert cap.tolerates([{"operator": "Exists"}], taint)                       # empty key + Exists: all
    assert cap.tolerates([{"key": "k", "operator": "Exists"}], taint)
    assert cap.tolerates([{"key": "k", "value": "v"}], taint)                   # Equal is the default
    assert not cap.tolerates([{"key": "k", "value": "w"}], taint)
    assert not cap.tolerates([{"key": "k", "operator": "Exists", "effect": "NoExecute"}], taint)
    assert not cap.tolerates([], taint)


def test_the_pending_target_pods_scheduler_message_is_reported():
    message = "0/3 nodes are available: 1 node(s) didn't match pod anti-affinity rules, 2 Insufficient %s." % RES
    target = pod(None, 1, phase="Pending", name="virt-launcher-web-tgt",
                 labels={cap.CREATED_BY_LABEL: "vmi-1", cap.MIGRATION_JOB_LABEL: "m-1"},
                 conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                              "message": message}])
    source = pod("node01", 1, name="virt-launcher-web-src", labels={cap.CREATED_BY_LABEL: "vmi-1"})
    other = dict(target, metadata={"name": "x", "labels": {cap.CREATED_BY_LABEL: "vmi-2",
                                                           cap.MIGRATION_JOB_LABEL: "m"}})
    found = cap.target_pod_unschedulable([source, other, target], VMI)
    assert found == "migration target pod virt-launcher-web-tgt is not scheduled: " + message
    assert cap.target_pod_unschedulable([source], VMI) is None
