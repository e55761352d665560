"""NetworkPolicy declarations: rendering, the API server's checks, comparison
with what the server stores, VM findings (no cluster)."""

import copy
import json

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol, netpol_report, selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

BASE = {"name_prefix": "kvnet-", "default_deny": "none", "allow_dns": False, "dns_namespace": "kube-system",
        "dns_namespace_selector": None, "dns_pod_selector": None, "allow_same_namespace": False,
        "allow_from_namespaces": None, "allow_monitoring": None, "rules": None}


def declare(**params):
    problems = Problems()
    templates = netpol.declare(dict(BASE, **params), problems)
    return templates, problems


def specs(**params):
    templates, problems = declare(**params)
    assert not problems, problems.render()
    return dict((t.name, t.spec) for t in templates)


def rule(**kwargs):
    base = {"name": "r", "direction": "ingress", "template_selector": None, "peers": None, "ports": None,
            "description": None}
    base.update(kwargs)
    return base


def problem_fields(problems):
    return [p["field"] for p in problems.items]


# ---------------------------------------------------------------- selectors
def test_selector_forms_and_canonical_order():
    problems = Problems()
    assert netpol.parse_selector(problems, "x", "s", {"b": "2", "a": "1"}) == {"matchLabels": {"a": "1", "b": "2"}}
    full = netpol.parse_selector(problems, "x", "s", {"match_expressions": [
        {"key": "tier", "operator": "In", "values": ["b", "a", "b"]}, {"key": "app", "operator": "Exists"}],
        "match_labels": {"z": "1"}})
    assert full == {"matchLabels": {"z": "1"}, "matchExpressions": [
        {"key": "app", "operator": "Exists"}, {"key": "tier", "operator": "In", "values": ["a", "b"]}]}
    assert netpol.parse_selector(problems, "x", "s", {"matchLabels": {"a": "1"}}) == {"matchLabels": {"a": "1"}}
    assert netpol.parse_selector(problems, "x", "s", {}) == {}
    assert netpol.parse_selector(problems, "x", "s", None) is None
    assert not problems
    assert selectors.query(full) == "z=1,app,tier in (a,b)"
    assert selectors.text(full) == "z=1,app,tier in (a,b)" and selectors.text({}) == "<all>"
    assert selectors.text(None) == "<none>" and selectors.describe({}) == "{} (everything)"


@pytest.mark.parametrize("value,field", [
    ({"app": 1}, "s.match_labels[app]"),
    ({"app": True}, "s.match_labels[app]"),
    ({"-bad": "x"}, "s.match_labels[-bad]"),
    ({"Bad_Prefix.io/app": "x"}, "s.match_labels[Bad_Prefix.io/app]"),
    ({"app": "x" * 64}, "s.match_labels[app]"),
    ({"match_expressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}, "s.match_expressions[0].operator"),
    ({"match_expressions": [{"key": "a", "operator": "In"}]}, "s.match_expressions[0].values"),
    ({"match_expressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "s.match_expressions[0].values"),
    ({"match_expressions": [{"key": "a", "operator": "In", "values": ["bad value"]}]},
     "s.match_expressions[0].values[0]"),
])
def test_selector_problems(value, field):
    problems = Problems()
    assert netpol.parse_selector(problems, "x", "s", value) is None
    assert field in problem_fields(problems)


def test_selector_matches():
    sel = {"matchLabels": {"app": "db"}, "matchExpressions": [
        {"key": "tier", "operator": "NotIn", "values": ["test"]}, {"key": "old", "operator": "DoesNotExist"}]}
    assert selectors.matches(sel, {"app": "db"})
    assert selectors.matches(sel, {"app": "db", "tier": "prod"})
    assert not selectors.matches(sel, {"app": "db", "tier": "test"})
    assert not selectors.matches(sel, {"app": "db", "old": ""})
    assert not selectors.matches(sel, {"app": "web"})
    assert selectors.matches({}, {})
    assert selectors.matches({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""})


def test_name_label_use():
    assert netpol.name_selector(["b", "a"]) == {"matchExpressions": [
        {"key": netpol.NAME_LABEL, "operator": "In", "values": ["a", "b"]}]}
    assert netpol.name_label_use(netpol.name_selector(["a"])) == ({"a"}, set())
    assert netpol.name_label_use({"matchExpressions": [{"key": netpol.NAME_LABEL, "operator": "NotIn",
                                                        "values": ["x"]}]}) == (set(), {"NotIn"})


# ----------------------------------------------------------------- CIDRs
@pytest.mark.parametrize("value,fragment", [
    ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
    ("010.0.0.0/8", "leading 0s"),
    ("10.0.0.0/08", "canonical form: write 10.0.0.0/8"),
    ("::ffff:10.0.0.0/104", "IPv4-mapped"),
    ("FD00::/64", "canonical form: write fd00::/64"),
    ("fd00:0::/64", "canonical form: write fd00::/64"),
    ("10.0.0.0", "no prefix length"),
    ("10.0.0.0/33", "not a valid CIDR"),
    ("10.0.0/24", "not a valid CIDR"),
])
def test_cidr_strictness(value, fragment):
    problems = Problems()
    assert netpol.parse_cidr(problems, "x", "cidr", value) is None
    assert fragment in problems.items[0]["message"]


def test_cidr_canonical_accepted():
    problems = Problems()
    assert str(netpol.parse_cidr(problems, "x", "c", "192.0.2.0/24")) == "192.0.2.0/24"
    assert str(netpol.parse_cidr(problems, "x", "c", "fd00::/64")) == "fd00::/64"
    assert str(netpol.parse_cidr(problems, "x", "c", "0.0.0.0/0")) == "0.0.0.0/0"
    assert not problems


@pytest.mark.parametrize("excepts,fragment", [
    (["10.0.0.0/8"], "strict subset"),
    (["11.0.0.0/16"], "strict subset"),
    (["10.0.0.0/7"], "strict subset"),
    (["fd00::/64"], "family"),
])
def test_except_must_be_strict_subset_same_family(excepts, fragment):
    problems = Problems()
    peer = netpol.parse_peer(problems, "x", "p", {"cidr": "10.0.0.0/8", "except": excepts})
    assert peer is None and fragment in problems.items[0]["message"]


def test_except_rendered_sorted():
    problems = Problems()
    peer = netpol.parse_peer(problems, "x", "p", {"cidr": "10.0.0.0/8", "except": ["10.2.0.0/16", "10.1.0.0/16"]})
    assert peer == {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.2.0.0/16"]}}


# ----------------------------------------------------------------- peers
def test_peer_shapes():
    problems = Problems()
    assert netpol.parse_peer(problems, "x", "p", {"template_selector": {"app": "web"}, "namespaces": ["a"]}) == {
        "podSelector": {"matchLabels": {"app": "web"}},
        "namespaceSelector": {"matchLabels": {netpol.NAME_LABEL: "a"}}}
    assert netpol.parse_peer(problems, "x", "p", {"namespace_selector": {}}) == {"namespaceSelector": {}}
    assert not problems
    assert netpol.parse_peer(problems, "x", "p", {"cidr": "10.0.0.0/8", "template_selector": {"a": "b"}}) is None
    assert "may not be combined" in problems.items[-1]["message"]
    assert netpol.parse_peer(problems, "x", "p", {}) is None
    assert "must specify a peer" in problems.items[-1]["message"]
    assert netpol.parse_peer(problems, "x", "p", {"namespaces": ["a"], "namespace_selector": {"x": "y"}}) is None


# ----------------------------------------------------------------- ports
@pytest.mark.parametrize("item,field,fragment", [
    ({"port": 0}, "p.port", "1-65535"),
    ({"port": 70000}, "p.port", "1-65535"),
    ({"port": "Web"}, "p.port", "IANA"),
    ({"port": "a-very-long-port-name"}, "p.port", "IANA"),
    ({"port": "80-90"}, "p.port", "IANA"),
    ({"port": "web--1"}, "p.port", "IANA"),
    ({"port": 80, "protocol": "tcp"}, "p.protocol", "upper case"),
    ({"port": 80, "protocol": "ICMP"}, "p.protocol", "TCP, UDP or SCTP"),
    ({"port": 90, "end_port": 80}, "p.end_port", "greater than or equal"),
    ({"port": "http", "end_port": 90}, "p.end_port", "non-numeric"),
    ({"end_port": 90}, "p.end_port", "numeric port"),
    ({"port": 80, "end_port": 70000}, "p.end_port", "1-65535"),
])
def test_port_problems(item, field, fragment):
    problems = Problems()
    assert netpol.parse_port(problems, "x", "p", item) is None
    assert problems.items[0]["field"] == field and fragment in problems.items[0]["message"]


def test_ports_rendered_with_explicit_protocol():
    problems = Problems()
    assert netpol.parse_port(problems, "x", "p", {"port": "3306"}) == {"protocol": "TCP", "port": 3306}
    assert netpol.parse_port(problems, "x", "p", {"port": "mysql", "protocol": "TCP"}) == {
        "protocol": "TCP", "port": "mysql"}
    assert netpol.parse_port(problems, "x", "p", {"port": 8000, "end_port": 8100, "protocol": "UDP"}) == {
        "protocol": "UDP", "port": 8000, "endPort": 8100}
    assert netpol.parse_port(problems, "x", "p", {"protocol": "SCTP"}) == {"protocol": "SCTP"}
    assert not problems


# -------------------------------------------------------------- baselines
def test_baselines_rendered_exactly():
    got = specs(default_deny="both", allow_dns=True, allow_same_namespace=True,
                allow_from_namespaces={"team": "ops"},
                allow_monitoring={"namespaces": ["monitoring"], "pod_selector": {"app": "prometheus"},
                                  "ports": [{"port": 9100, "protocol": "TCP", "end_port": None}],
                                  "namespace_selector": None, "template_selector": None})
    assert list(got) == ["kvnet-default-deny", "kvnet-allow-dns", "kvnet-allow-same-namespace",
                         "kvnet-allow-from-namespaces", "kvnet-allow-monitoring"]
    assert got["kvnet-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert got["kvnet-allow-dns"] == {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"namespaceSelector": {"matchLabels": {netpol.NAME_LABEL: "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}
    assert got["kvnet-allow-same-namespace"] == {
        "podSelector": {}, "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {}}]}], "egress": [{"to": [{"podSelector": {}}]}]}
    assert got["kvnet-allow-from-namespaces"]["ingress"] == [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]}]
    assert got["kvnet-allow-monitoring"]["ingress"] == [{
        "from": [{"namespaceSelector": {"matchLabels": {netpol.NAME_LABEL: "monitoring"}},
                  "podSelector": {"matchLabels": {"app": "prometheus"}}}],
        "ports": [{"protocol": "TCP", "port": 9100}]}]


@pytest.mark.parametrize("deny,types", [
    ("none", ["Ingress"]), ("ingress", ["Ingress"]), ("egress", ["Egress"]), ("both", ["Ingress", "Egress"])])
def test_same_namespace_follows_the_directions_default_deny_closes(deny, types):
    got = specs(default_deny=deny, allow_same_namespace=True)["kvnet-allow-same-namespace"]
    assert got["policyTypes"] == types
    assert ("egress" in got) == ("Egress" in types) and ("ingress" in got) == ("Ingress" in types)


def test_dns_by_selector_instead_of_name():
    got = specs(allow_dns=True, dns_namespace_selector={"dns": "yes"}, dns_pod_selector={"app": "coredns"})
    assert got["kvnet-allow-dns"]["egress"][0]["to"] == [
        {"namespaceSelector": {"matchLabels": {"dns": "yes"}}, "podSelector": {"matchLabels": {"app": "coredns"}}}]


# ------------------------------------------------------------------ rules
def test_rule_rendering_and_default_template_selector():
    got = specs(rules=[
        rule(name="db-from-app", template_selector={"app": "db"}, peers=[{"template_selector": {"app": "web"}}],
             ports=[{"port": 3306}]),
        rule(name="out", direction="egress", peers=[{"cidr": "192.0.2.0/24"}])])
    assert got["kvnet-db-from-app"] == {
        "podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                     "ports": [{"protocol": "TCP", "port": 3306}]}]}
    assert got["kvnet-out"] == {"podSelector": {"matchLabels": {"kubevirt.io": "virt-launcher"}},
                                "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}]}


def test_rule_names_unique_and_distinct_from_baselines():
    _t, problems = declare(default_deny="both", rules=[rule(name="a"), rule(name="a"), rule(name="default-deny")])
    assert [p["object"] for p in problems.items] == ["rules[1] (a)", "rules[2] (default-deny)"]


def test_empty_lists_are_refused_not_widened():
    _t, problems = declare(rules=[rule(name="a", peers=[]), rule(name="b", ports=[])])
    assert problem_fields(problems) == ["peers", "ports"]


def test_policy_name_too_long_or_invalid():
    _t, problems = declare(name_prefix="X_", rules=[rule(name="a")])
    assert [(p["object"], p["field"]) for p in problems.items] == [("rule a", "name")]
    assert "'X_a' is not a valid NetworkPolicy name" in problems.items[0]["message"]
    # 6 ("kvnet-") + 250 = 256 characters: over a DNS-1123 subdomain's 253
    _t, problems = declare(rules=[rule(name="a" * 250)])
    assert [p["field"] for p in problems.items] == ["name"]
    assert "'kvnet-%s' is not a valid NetworkPolicy name" % ("a" * 250) in problems.items[0]["message"]
    _t, problems = declare(rules=[rule(name="a" * 247)])  # 253: the longest valid name
    assert not problems.items


def test_rendering_is_deterministic():
    """The same declaration written in another order (dict keys, list items)
    renders byte for byte the same policies: the order must come from the
    renderer, not from the input."""
    def params(flip):
        order = (lambda items: list(reversed(items))) if flip else list
        labels = dict(order([("z", "1"), ("a", "2")]))
        return dict(default_deny="both", allow_dns=True, rules=[rule(
            name="x", template_selector=dict(order([
                ("match_expressions", [{"key": "t", "operator": "In", "values": order(["b", "a"])}]),
                ("match_labels", labels)])),
            peers=[{"cidr": "10.0.0.0/8", "except": order(["10.9.0.0/16", "10.1.0.0/16"])}],
            ports=[{"port": 1}])])

    first = json.dumps([t.manifest("ns", "default") for t in declare(**params(False))[0]])
    second = json.dumps([t.manifest("ns", "default") for t in declare(**params(True))[0]])
    assert first == second
    assert '"except": ["10.1.0.0/16", "10.9.0.0/16"]' in first and '"values": ["a", "b"]' in first


def test_end_port_and_namespace_selector_discovery():
    templates, _p = declare(allow_dns=True, rules=[rule(name="r", ports=[{"port": 8000, "end_port": 8100}],
                                                        peers=[{"namespaces": ["a", "b"]}])])
    assert [(t.name, where) for t, where, _port in netpol.uses_end_port(templates)] == [
        ("kvnet-r", "ingress[0].ports[0]")]
    names = sorted(",".join(sorted(netpol.name_label_use(sel)[0])) for _t, sel in netpol.namespace_selectors(templates))
    assert names == ["a,b", "kube-system"]


# ------------------------------------------------------------- comparison
def stored(manifest, spec=None):
    """What the 1.20 API server returns for a manifest: defaults filled in,
    empty parts dropped, server metadata added."""
    obj = copy.deepcopy(manifest)
    obj["metadata"].update(resourceVersion="7", uid="u1", generation=1)
    obj["spec"] = spec if spec is not None else obj["spec"]
    return obj


def test_server_defaults_are_normalised():
    rendered = {"podSelector": {}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 80}]}]}
    server = {"podSelector": {}, "ingress": [{"ports": [{"port": 80}], "from": [{"podSelector": {}}]}]}
    assert netpol.normalize_spec(rendered) == netpol.normalize_spec(server)
    # egress: [] without policyTypes silently becomes ingress-only: not the same as an egress deny
    deny_egress = {"podSelector": {}, "policyTypes": ["Egress"]}
    assert netpol.normalize_spec({"podSelector": {}, "egress": []}) != netpol.normalize_spec(deny_egress)
    assert netpol.normalize_spec({"podSelector": {"matchLabels": {}}, "ingress": [{"from": []}]}) == \
        netpol.normalize_spec({"podSelector": {}, "ingress": [{}]})


def apply_merge_patch(target, patch):
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = apply_merge_patch(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def test_kind_same_patch_expected():
    kind = netpol.PolicyKind()
    templates, _p = declare(rules=[rule(name="db", template_selector={"app": "db"}, peers=[{"template_selector": {"app": "web"}}],
                                        ports=[{"port": 3306}])])
    desired = templates[0].manifest("ns", "default")
    current = stored(desired, {"podSelector": {"matchLabels": {"app": "db"}},
                               "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                            "ports": [{"port": 3306}]}], "policyTypes": ["Ingress"]})
    assert kind.same(desired, current)
    drifted = stored(desired, {"podSelector": {"matchLabels": {"app": "db", "extra": "1"}},
                               "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
                               "ingress": [{"ports": [{"port": 3307}]}], "policyTypes": ["Ingress", "Egress"]})
    drifted["metadata"]["labels"]["team"] = "x"
    assert not kind.same(desired, drifted)
    patch = kind.patch(desired, drifted)
    assert patch["spec"]["podSelector"] == {"matchLabels": {"extra": None}}
    assert patch["spec"]["egress"] is None
    patched = apply_merge_patch(drifted, patch)
    assert kind.same(desired, patched)
    assert patched["metadata"]["labels"]["team"] == "x"  # other labels are left alone
    assert kind.view(kind.expected(desired, drifted))["spec"] == kind.view(patched)["spec"]


def test_description_annotation_is_owned():
    kind = netpol.PolicyKind()
    templates, _p = declare(rules=[rule(name="a", description="first")])
    desired = templates[0].manifest("ns", "default")
    current = stored(desired)
    current["metadata"]["annotations"] = {netpol.DESCRIPTION_ANNOTATION: "old", "other": "kept"}
    assert not kind.same(desired, current)
    assert kind.patch(desired, current)["metadata"]["annotations"] == {netpol.DESCRIPTION_ANNOTATION: "first"}
    current["metadata"]["annotations"][netpol.DESCRIPTION_ANNOTATION] = "first"
    assert kind.same(desired, current)


def test_merge_patch_minimal():
    assert netpol.merge_patch({"a": 1, "b": {"c": 1, "d": 2}}, {"a": 1, "b": {"c": 1}}) == {"b": {"d": None}}
    assert netpol.merge_patch({"a": [1]}, {"a": [1]}) == {}


# -------------------------------------------------------------- findings
def vm(name, labels=None, template_labels=None, networks=None):
    return {"metadata": {"name": name, "namespace": "ns", "labels": labels or {}},
            "spec": {"template": {"metadata": {"labels": template_labels or {}},
                                  "spec": {"networks": networks if networks is not None else [
                                      {"name": "default", "pod": {}}]}}}}


def test_vm_metadata_label_mistake_and_multus():
    templates, _p = declare(rules=[rule(name="db", template_selector={"app": "db"}, peers=[{"template_selector": {"app": "web"}}])])
    vms = {"ns": [vm("right", template_labels={"app": "db"}),
                  vm("wrong", labels={"app": "db"}, template_labels={"app": "other"}),
                  vm("peer-wrong", labels={"app": "web"}),
                  vm("multi", template_labels={"app": "db"}, networks=[
                      {"name": "default", "pod": {}}, {"name": "s", "multus": {"networkName": "ns/sriov"}}]),
                  vm("only-multus", template_labels={"app": "db"}, networks=[
                      {"name": "s", "multus": {"networkName": "br"}}])]}
    findings = netpol_report.vm_findings(templates, vms)
    kinds = dict((f["kind"], f) for f in findings)
    assert kinds["vm-metadata-labels"]["vms"] == ["ns/wrong", "ns/peer-wrong (as a peer)"]
    assert "spec.template.metadata.labels" in kinds["vm-metadata-labels"]["message"]
    assert kinds["multus"]["vms"] == ["ns/multi (ns/sriov)", "ns/only-multus (br; no pod network)"]


def test_no_findings_when_template_labels_are_right():
    templates, _p = declare(rules=[rule(name="db", template_selector={"app": "db"})])
    vms = {"ns": [vm("a", labels={"app": "db"}, template_labels={"app": "db"}), vm("b")]}
    assert netpol_report.vm_findings(templates, vms) == []


def test_baseline_findings():
    params = dict(BASE, default_deny="egress", allow_dns=False, allow_from_namespaces={"a": "b"})
    templates, _p = declare(**{k: v for k, v in params.items() if k in BASE})
    findings = netpol_report.baseline_findings(params, templates, ["kubevirt", "t1"], {"kubevirt"})
    assert [f["kind"] for f in findings] == ["kubevirt-namespace", "dns", "isolation"]
    params = dict(BASE, default_deny="both", allow_dns=True)
    templates, _p = declare(default_deny="both", allow_dns=True)
    assert netpol_report.baseline_findings(params, templates, ["t1"], {"kubevirt"}) == []


def test_markdown_report():
    text = netpol_report.markdown_report({
        "policy_set": "default", "state": "present", "check_mode": True, "server_version": "1.20",
        "namespaces": {"b": {"created": 1, "updated": 0, "deleted": 0, "unchanged": 2},
                       "a": {"created": 0, "updated": 0, "deleted": 1, "unchanged": 3}},
        "declared": ["kvnet-x"], "totals": {"created": 1, "updated": 0, "deleted": 1, "unchanged": 5},
        "policies": [{"namespace": "b", "name": "kvnet-x", "method": "created"},
                     {"namespace": "a", "name": "kvnet-x", "method": "unchanged"}],
        "findings": [{"kind": "dns", "message": "no DNS"}], "labelled_namespaces": []})
    assert "| a | 0 | 0 | 1 | 3 |\n| b | 1 | 0 | 0 | 2 |" in text
    assert "- `b/kvnet-x` would be created" in text and "a/kvnet-x" not in text.split("## Changes")[1]
    assert "check mode" in text and "- no DNS" in text
