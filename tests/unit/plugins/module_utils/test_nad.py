import json

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import nad
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from tests.unit.plugins.module_utils.session_double import FakeSession


def bridge(name, namespace="vms", **ipam):
    return nad.manifest({"name": name, "namespace": namespace, "type": "bridge", "bridge": "br1", "vlan": 10,
                         "cni_version": "0.3.1", "ipam": ipam or {"type": "none"}})


def existing(obj, rv="1"):
    obj = json.loads(json.dumps(obj))
    obj["metadata"].update(resourceVersion=rv, uid="u-" + obj["metadata"]["name"])
    return obj


def test_manifest_labels_and_sriov_annotation():
    m = nad.manifest({"name": "s", "namespace": "vms", "type": "sriov", "resource_name": "openshift.io/nics",
                      "cni_version": "0.3.1", "description": "fast", "labels": {"team": "a"}})
    assert m["metadata"]["labels"] == {"team": "a", "app.kubernetes.io/managed-by": "kubevirt_net.core"}
    assert m["metadata"]["annotations"] == {"description": "fast",
                                            "k8s.v1.cni.cncf.io/resourceName": "openshift.io/nics"}
    assert json.loads(m["spec"]["config"])["type"] == "sriov"


def test_same_compares_parsed_config_and_owned_keys_only():
    kind = nad.NadKind()
    desired = bridge("a")
    current = existing(desired)
    current["spec"]["config"] = json.dumps(json.loads(current["spec"]["config"]), indent=4)  # other formatting
    current["metadata"]["labels"]["someone-else"] = "x"
    assert kind.same(desired, current)
    current["spec"]["config"] = current["spec"]["config"].replace('"vlan": 10', '"vlan": 11')
    assert not kind.same(desired, current)


def test_patch_and_expected_keep_foreign_labels():
    kind = nad.NadKind()
    desired = bridge("a")
    current = existing(desired)
    current["metadata"]["labels"]["someone-else"] = "x"
    patch = kind.patch(desired, current)
    assert "someone-else" not in patch["metadata"]["labels"]
    assert kind.expected(desired, current)["metadata"]["labels"]["someone-else"] == "x"


def test_overlap_on_same_segment_is_reported_with_both_names():
    problems = Problems()
    mine = bridge("a", type="host-local", subnet="10.0.0.0/24", range_start="10.0.0.10", range_end="10.0.0.50")
    theirs = existing(bridge("b", type="host-local", subnet="10.0.0.0/24", range_start="10.0.0.40"))
    nad.check_overlaps(problems, [mine], {("vms", "b"): theirs})
    assert len(problems) == 1
    item = problems.items[0]
    assert item["object"] == "network vms/a" and item["field"] == "ipam"
    assert "10.0.0.40-10.0.0.50" in item["message"] and "vms/b" in item["message"]


def test_no_overlap_on_other_vlan_deleted_or_whereabouts_pairs():
    mine = bridge("a", type="host-local", subnet="10.0.0.0/24")
    other_vlan = existing(bridge("b", type="host-local", subnet="10.0.0.0/24"))
    other_vlan["spec"]["config"] = other_vlan["spec"]["config"].replace('"vlan":10', '"vlan":11')
    problems = Problems()
    nad.check_overlaps(problems, [mine], {("vms", "b"): other_vlan})
    assert not problems
    nad.check_overlaps(problems, [mine], {("vms", "c"): existing(bridge("c", type="host-local", subnet="10.0.0.0/24"))},
                       removed={("vms", "c")})
    assert not problems
    wa = bridge("w1", type="whereabouts", subnet="10.5.0.0/24", exclude=["10.5.0.0/32"])
    nad.check_overlaps(problems, [wa], {("x", "w2"): existing(bridge("w2", "x", type="whereabouts", subnet="10.5.0.0/24"))})
    assert not problems


def test_replacing_own_previous_version_is_not_an_overlap():
    problems = Problems()
    mine = bridge("a", type="host-local", subnet="10.0.0.0/24")
    nad.check_overlaps(problems, [mine], {("vms", "a"): existing(mine)})
    assert not problems


def test_users_of_resolves_same_and_cross_namespace_references():
    vm = {"metadata": {"namespace": "vms", "name": "db"}, "spec": {"template": {"spec": {"networks": [
        {"name": "default", "pod": {}}, {"name": "n1", "multus": {"networkName": "br-a"}},
        {"name": "n2", "multus": {"networkName": "shared/br-b"}}]}}}}
    vmi = {"metadata": {"namespace": "other", "name": "web"}, "spec": {"networks": [
        {"name": "n", "multus": {"networkName": "shared/br-b"}}]}}
    users = nad.users_of([vm], [vmi])
    assert users[("vms", "br-a")] == ["VirtualMachine vms/db"]
    assert users[("shared", "br-b")] == ["VirtualMachine vms/db", "VirtualMachineInstance other/web"]
    assert ("vms", "default") not in users


# ------------------------------------------------------------ metadata and namespaces, before any write
@pytest.mark.parametrize("labels,field,words", [
    ({"bad key": "x"}, "labels.bad key", "not a valid key"),
    ({"-app": "x"}, "labels.-app", "not a valid key"),
    ({"a" * 64: "x"}, "labels." + "a" * 64, "at most 63"),
    ({"Example.COM/tier": "x"}, "labels.Example.COM/tier", "invalid prefix"),
    ({"/tier": "x"}, "labels./tier", "invalid prefix"),
    ({"a/b/c": "x"}, "labels.a/b/c", "invalid prefix"),
    ({"tier": "not valid!"}, "labels.tier", "not a valid label value"),
    ({"tier": "x" * 64}, "labels.tier", "not a valid label value"),
    ({"tier": 8}, "labels.tier", "quote"),
])
def test_label_keys_and_values_follow_kubernetes_rules(labels, field, words):
    found = Problems()
    nad.check_metadata(found, "network vms/n1", {"labels": labels})
    assert [p["field"] for p in found.items] == [field] and words in found.items[0]["message"], found.items


def test_good_labels_and_annotation_keys():
    found = Problems()
    nad.check_metadata(found, "w", {"labels": {"app.kubernetes.io/name": "db", "tier": "", "a_b.c-d": "A_b.9"},
                                    "annotations": {"k8s.v1.cni.cncf.io/resourceName": "x y z: anything"}})
    assert found.items == []
    nad.check_metadata(found, "w", {"annotations": {"bad key": "v", "ok": 5}})
    assert [p["field"] for p in found.items] == ["annotations.bad key", "annotations.ok"]


def test_missing_namespaces_one_get_each_and_forbidden_reads_are_not_missing():
    session = FakeSession({"/api/v1/namespaces/vms": {"kind": "Namespace"}, "/api/v1/namespaces/nope": None,
                           "/api/v1/namespaces/hidden": ApiError("GET", "/api/v1/namespaces/hidden", status=403)})
    assert nad.missing_namespaces(session, ["vms", "nope", "hidden", "vms"]) == ["nope"]
    assert sorted(session.paths("GET")) == ["/api/v1/namespaces/%s" % n for n in ("hidden", "nope", "vms")]


def test_missing_namespaces_passes_other_errors_on():
    session = FakeSession({"/api/v1/namespaces/x": ApiError("GET", "/api/v1/namespaces/x", status=500)})
    with pytest.raises(ApiError):
        nad.missing_namespaces(session, ["x"])


# ------------------------------------------------- overlaps across namespaces (overlap_scope)
NAD_PATH_VMS = "/apis/k8s.cni.cncf.io/v1/namespaces/vms/network-attachment-definitions"


def listing(answer):
    """The shared FakeSession answering every LIST with ``answer``."""
    return FakeSession(lists={"*": answer})


def test_overlap_in_another_namespace_on_the_same_bridge_warns_by_default_and_is_refused_at_cluster_scope():
    mine = bridge("a", "vms", type="host-local", subnet="10.0.0.0/24")
    foreign = existing(bridge("b", "team-b", type="host-local", subnet="10.0.0.0/24"))
    neighbour = existing(bridge("c", "vms", type="host-local", subnet="10.9.0.0/24"))
    session = listing([foreign, neighbour])
    local, everywhere, warnings = nad.read_nads(session, ["vms"], "namespace")
    # one cluster-wide LIST serves both the task's namespace and the overlap check
    assert session.paths("LIST") == ["/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"]
    assert list(local) == [("vms", "c")] and len(everywhere) == 2
    problems = Problems()
    nad.check_overlaps(problems, [mine], everywhere, warnings=warnings, local={"vms"})
    assert not problems and len(warnings) == 1
    assert "team-b/b" in warnings[0] and "br1" in warnings[0] and "overlap_scope=cluster" in warnings[0]
    _local, everywhere, warnings = nad.read_nads(listing([foreign]), ["vms"], "cluster")
    assert warnings is None
    nad.check_overlaps(problems, [mine], everywhere, warnings=warnings, local={"vms"})
    assert len(problems) == 1 and "team-b/b" in problems.items[0]["message"]


def test_nothing_to_check_lists_per_namespace():
    session = listing([])
    nad.read_nads(session, ["b", "a"])
    assert session.paths("LIST") == ["/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions" % n
                                     for n in ("a", "b")]


def test_overlap_scope_namespace_still_refuses_inside_the_tasks_namespaces():
    mine = bridge("a", "vms", type="host-local", subnet="10.0.0.0/24")
    neighbour = existing(bridge("b", "vms", type="host-local", subnet="10.0.0.0/24"))
    problems, warnings = Problems(), []
    nad.check_overlaps(problems, [mine], {("vms", "b"): neighbour}, warnings=warnings, local={"vms"})
    assert len(problems) == 1 and warnings == []


def test_cluster_wide_list_forbidden():
    everywhere_path = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
    forbidden = ApiError("GET", everywhere_path, status=403, body={"reason": "Forbidden"})

    def namespaced():   # may list the NADs of namespace vms only
        return FakeSession({NAD_PATH_VMS + "/x": existing(bridge("x"))}, lists={everywhere_path: forbidden})

    session = namespaced()
    local, everywhere, warnings = nad.read_nads(session, ["vms"], "namespace")
    assert list(local) == [("vms", "x")] and everywhere == local
    assert len(warnings) == 1 and "not checked" in warnings[0]
    assert session.paths("LIST") == [everywhere_path, NAD_PATH_VMS]
    with pytest.raises(ApiError):
        nad.read_nads(namespaced(), ["vms"], "cluster")


def test_many_foreign_overlaps_are_capped_with_a_count():
    mine = bridge("a", "vms", type="host-local", subnet="10.0.0.0/24")
    others = dict((("ns%d" % i, "n"), existing(bridge("n", "ns%d" % i, type="host-local", subnet="10.0.0.0/24")))
                  for i in range(30))
    problems, warnings = Problems(), []
    nad.check_overlaps(problems, [mine], others, warnings=warnings, local={"vms"})
    assert len(warnings) == problems.max_per_field + 1
    assert warnings[-1] == "... and %d more overlaps with networks in other namespaces" % (30 - problems.max_per_field)
