import json

from ansible_collections.kubevirt_net.core.plugins.module_utils import nad
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


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
