"""MultiNetworkPolicy rules: rendering (policy-for), comparison, and the
checks against NADs and VMs that refuse what cannot work (no cluster)."""

import json

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol, netpol_multi
from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_fields import parse_networks
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import MULTI_NETWORK_POLICY
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

BASE = {"name_prefix": "kvnet-", "default_deny": "none", "allow_dns": False, "dns_namespace": "kube-system",
        "dns_namespace_selector": None, "dns_pod_selector": None, "allow_same_namespace": False,
        "allow_from_namespaces": None, "allow_monitoring": None, "rules": None}


def declare(rules):
    problems = Problems()
    templates = netpol.declare(dict(BASE, rules=rules), problems)
    return templates, problems


def nad(namespace, name, config, annotations=None):
    return {"metadata": {"namespace": namespace, "name": name, "annotations": annotations or {}},
            "spec": {"config": json.dumps(config)}}


def vm(namespace, name, networks, template_labels, labels=None):
    return {"metadata": {"namespace": namespace, "name": name, "labels": labels or {}},
            "spec": {"template": {"metadata": {"labels": template_labels},
                                  "spec": {"networks": [{"name": "default", "pod": {}}] + [
                                      {"name": n.replace("/", "-"), "multus": {"networkName": n}} for n in networks]}}}}


@pytest.mark.parametrize("value, expected", [
    (None, []), (["pod"], []), ("storage", [(None, "storage")]), (["ns1/storage"], [("ns1", "storage")]),
    (["b", "a/b", "b"], [(None, "b"), ("a", "b")]),
])
def test_parse_networks(value, expected):
    problems = Problems()
    assert parse_networks(problems, "r", "network", value) == expected
    assert not problems


@pytest.mark.parametrize("value, message", [
    (["pod", "storage"], "cannot be mixed"), (["a/b/c"], "not a NetworkAttachmentDefinition reference"),
    (["Bad_NS/x"], "network"), ([], "must be 'pod'"),
])
def test_parse_networks_refuses(value, message):
    problems = Problems()
    assert parse_networks(problems, "r", "network", value) is None
    assert message in problems.render()


def test_network_rule_renders_a_multinetworkpolicy_with_policy_for():
    templates, problems = declare([{"name": "st", "direction": "ingress", "network": ["storage", "infra/backup"],
                                    "template_selector": {"app": "db"}, "peers": [{"template_selector": {}}]},
                                   {"name": "pod", "direction": "ingress"}])
    assert not problems
    multi, single = templates
    manifest = multi.manifest("tenant-a", "default")
    assert (manifest["apiVersion"], manifest["kind"]) == ("k8s.cni.cncf.io/v1beta1", "MultiNetworkPolicy")
    assert manifest["metadata"]["annotations"] == {
        netpol.POLICY_FOR_ANNOTATION: "infra/backup,tenant-a/storage"}   # resolved per namespace, sorted
    assert manifest["spec"] == {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
                                "ingress": [{"from": [{"podSelector": {}}]}]}
    assert single.manifest("tenant-a", "default")["kind"] == "NetworkPolicy"


def test_end_port_is_refused_on_a_network_rule():
    _templates, problems = declare([{"name": "st", "direction": "ingress", "network": "storage",
                                     "ports": [{"port": 8000, "end_port": 8100}]}])
    assert "has no endPort" in problems.render() and "ports[0].end_port" in problems.render()


def test_policy_for_is_owned_by_the_comparison():
    templates, _p = declare([{"name": "st", "direction": "ingress", "network": "storage"}])
    desired = templates[0].manifest("ns", "default")
    kind = netpol.PolicyKind(MULTI_NETWORK_POLICY)
    current = json.loads(json.dumps(desired))
    current["metadata"]["annotations"]["other"] = "kept"
    assert kind.same(desired, current)
    current["metadata"]["annotations"][netpol.POLICY_FOR_ANNOTATION] = "ns/other"
    assert not kind.same(desired, current)
    assert kind.patch(desired, current)["metadata"]["annotations"] == {netpol.POLICY_FOR_ANNOTATION: "ns/storage"}
    # a NetworkPolicy does not own the annotation
    assert netpol.PolicyKind().owned_annotations == (netpol.DESCRIPTION_ANNOTATION,)


BRIDGE = {"cniVersion": "0.3.1", "type": "bridge", "bridge": "br1",
          "ipam": {"type": "whereabouts", "range": "10.0.0.0/24"}}
SRIOV = {"cniVersion": "0.3.1", "type": "sriov", "ipam": {}}
LAYER2 = {"cniVersion": "0.3.1", "type": "ovn-k8s-cni-overlay", "topology": "layer2", "subnets": "10.1.0.0/24"}


def check(rules, nads, vms=None, targets=("t1",)):
    templates, problems = declare(rules)
    assert not problems, problems.render()
    findings = []
    netpol_multi.check(templates, list(targets), dict(((n["metadata"]["namespace"], n["metadata"]["name"]), n)
                                                      for n in nads),
                       None if vms is None else {"t1": vms}, problems, findings)
    return problems, findings


def test_missing_nad_is_named_per_target_namespace():
    problems, _f = check([{"name": "r", "direction": "ingress", "network": "storage"}],
                         [nad("t1", "storage", BRIDGE)], targets=("t1", "t2"))
    assert problems.render().count("does not exist") == 1 and "t2/storage" in problems.render()


def test_sriov_network_is_refused():
    problems, _f = check([{"name": "r", "direction": "ingress", "network": "fast"}], [nad("t1", "fast", SRIOV)])
    assert "SR-IOV" in problems.render() and "bypasses the host network stack" in problems.render()
    # the SR-IOV operator's NADs carry the resource annotation
    problems, _f = check([{"name": "r", "direction": "ingress", "network": "fast"}],
                         [nad("t1", "fast", {"type": "host-device"},
                              {"k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov_vfio"})])
    assert "SR-IOV" in problems.render()


def test_selector_matching_only_metadata_labels_is_refused_and_template_labels_pass():
    rules = [{"name": "r", "direction": "ingress", "network": "storage", "template_selector": {"app": "db"}}]
    wrong = vm("t1", "db", ["storage"], {"app": "database"}, labels={"app": "db"})
    problems, _f = check(rules, [nad("t1", "storage", BRIDGE)], [wrong])
    assert "matches the metadata.labels of VirtualMachine t1/db" in problems.render()
    right = vm("t1", "db", ["storage"], {"app": "db"})
    problems, findings = check(rules, [nad("t1", "storage", BRIDGE)], [right])
    assert not problems and findings == []
    # VMs on another network do not count
    elsewhere = vm("t1", "db", ["other"], {"x": "y"}, labels={"app": "db"})
    problems, _f = check(rules, [nad("t1", "storage", BRIDGE)], [elsewhere])
    assert not problems


def test_ipblock_warnings_depend_on_the_network():
    rules = [{"name": "r", "direction": "ingress", "network": "l2", "peers": [{"cidr": "10.1.0.0/28"}]}]
    _p, findings = check(rules, [nad("t1", "l2", LAYER2)])
    assert [f["kind"] for f in findings] == ["ipblock-support"] and "layer2" in findings[0]["message"]
    _p, findings = check(rules, [nad("t1", "l2", dict(BRIDGE))])
    assert findings == []
    _p, findings = check(rules, [nad("t1", "l2", dict(BRIDGE, ipam={}))])
    assert "without IPAM" in findings[0]["message"]


def test_peer_selector_matching_only_metadata_labels_is_refused_in_the_policys_namespace():
    """A peer's podSelector, like the target's, selects launcher pods, which carry the template labels only."""
    rules = [{"name": "r", "direction": "ingress", "network": "storage",
              "peers": [{"template_selector": {"app": "web"}}]}]   # no target selector: every pod on the network
    wrong = vm("t1", "web", ["storage"], {"app": "frontend"}, labels={"app": "web"})
    problems, _f = check(rules, [nad("t1", "storage", BRIDGE)], [wrong])
    [item] = problems.items
    assert item["field"] == "peers[0].template_selector"
    assert "matches the metadata.labels of VirtualMachine t1/web" in item["message"]
    assert "this peer of the MultiNetworkPolicy for t1/storage would never match" in item["message"]
    # the template labels match: nothing to say; a selector matching no VM at all may select plain pods
    for vms in ([vm("t1", "web", ["storage"], {"app": "web"}, labels={"app": "web"})],
                [vm("t1", "web", ["storage"], {"app": "frontend"})],
                [vm("t1", "web", ["other"], {"app": "frontend"}, labels={"app": "web"})]):
        problems, findings = check(rules, [nad("t1", "storage", BRIDGE)], vms)
        assert not problems and findings == [], vms
    # egress peers too
    egress = [dict(rules[0], direction="egress")]
    problems, _f = check(egress, [nad("t1", "storage", BRIDGE)], [wrong])
    assert problems.items[0]["field"] == "peers[0].template_selector"


def test_peer_selector_with_namespaces_is_a_warning():
    rules = [{"name": "r", "direction": "ingress", "network": "storage",
              "peers": [{"namespace_selector": {"tenant": "a"}, "template_selector": {"app": "web"}}]}]
    wrong = vm("t1", "web", ["storage"], {"app": "frontend"}, labels={"app": "web"})
    problems, findings = check(rules, [nad("t1", "storage", BRIDGE)], [wrong])
    assert not problems
    assert [f["kind"] for f in findings] == ["peer-selector-metadata-labels"]
    assert "peers[0].template_selector" in findings[0]["message"] and "t1/web" in findings[0]["message"]


def test_peer_selectors_lists_the_label_selecting_peers():
    templates, _p = declare([{"name": "r", "direction": "ingress", "network": "storage",
                              "peers": [{"template_selector": {}}, {"namespaces": ["x"]},
                                        {"namespaces": ["x"], "template_selector": {"a": "b"}},
                                        {"template_selector": {"c": "d"}}]}])
    assert netpol_multi.peer_selectors(templates[0]) == [
        ("peers[2].template_selector", {"matchLabels": {"a": "b"}}, False),
        ("peers[3].template_selector", {"matchLabels": {"c": "d"}}, True)]
