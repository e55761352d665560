"""Cluster baselines: rendering as ClusterNetworkPolicy v1alpha2 and as
AdminNetworkPolicy/BaselineAdminNetworkPolicy v1alpha1, version checks and
priority clashes (no cluster).  Expected shapes follow the CRD schemas kept
in lab/schemas (network-policy-api v0.3.0 and v0.1.1)."""

import os

import jsonschema
import pytest
import yaml

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_admin
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

SCHEMAS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "lab", "schemas")

TENANTS = {"name": "tenant-isolation", "tier": "Baseline", "priority": 10,
           "description": "tenants never reach each other unless a tenant says so",
           "subject": {"namespace_selector": {"tenant": "true"}},
           "ingress": [{"name": "deny-other-tenants", "action": "Deny",
                        "peers": [{"namespace_selector": {"tenant": "true"}}]}]}
KUBE_SYSTEM = {"name": "protect-kube-system", "tier": "Admin", "priority": 5,
               "subject": {"namespaces": ["kube-system"]},
               "ingress": [{"name": "dns", "action": "Accept", "ports": [{"port": 53, "protocol": "UDP"},
                                                                         {"port": 53, "protocol": "TCP"}]},
                           {"name": "pass-monitoring", "action": "Pass",
                            "peers": [{"namespaces": ["monitoring"], "template_selector": {"app": "prometheus"}}]},
                           {"name": "deny-tenants", "action": "Deny",
                            "peers": [{"namespace_selector": {"tenant": "true"}}],
                            "ports": [{"port": 1, "end_port": 1024}]}],
               "egress": [{"name": "no-internet", "action": "Deny", "peers": [{"cidr": "0.0.0.0/0"}]}]}


def parse(entries):
    problems = Problems()
    return netpol_admin.parse(problems, entries, "kvnet-"), problems


def crd_schema(name):
    with open(os.path.join(SCHEMAS, name), encoding="utf-8") as handle:
        crd = yaml.safe_load(handle)
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def test_v1alpha2_rendering_fits_the_clusternetworkpolicy_schema():
    baselines, problems = parse([TENANTS, KUBE_SYSTEM])
    assert not problems, problems.render()
    manifests = [b.manifest("v1alpha2", "default") for b in baselines]
    schema = crd_schema("policy.networking.k8s.io_clusternetworkpolicies.yaml")
    for manifest in manifests:
        jsonschema.validate(manifest["spec"], schema)
        assert (manifest["apiVersion"], manifest["kind"]) == ("policy.networking.k8s.io/v1alpha2",
                                                              "ClusterNetworkPolicy")
    tenants, system = manifests
    assert tenants["metadata"]["name"] == "kvnet-tenant-isolation"
    assert tenants["spec"] == {"tier": "Baseline", "priority": 10,
                               "subject": {"namespaces": {"matchLabels": {"tenant": "true"}}},
                               "ingress": [{"name": "deny-other-tenants", "action": "Deny",
                                            "from": [{"namespaces": {"matchLabels": {"tenant": "true"}}}]}]}
    ingress = system["spec"]["ingress"]
    assert ingress[0] == {"name": "dns", "action": "Accept", "from": [{"namespaces": {}}], "protocols": [
        {"udp": {"destinationPort": {"number": 53}}}, {"tcp": {"destinationPort": {"number": 53}}}]}
    assert ingress[1]["from"] == [{"pods": {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}, "podSelector": {"matchLabels": {"app": "prometheus"}}}}]
    assert ingress[2]["protocols"] == [{"tcp": {"destinationPort": {"range": {"start": 1, "end": 1024}}}}]
    assert system["spec"]["egress"] == [{"name": "no-internet", "action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}]


def test_v1alpha1_rendering_fits_the_admin_and_baseline_schemas():
    kube_system = dict(KUBE_SYSTEM, egress=None)
    baselines, problems = parse([TENANTS, kube_system])
    assert not problems
    tenants, system = [b.manifest("v1alpha1", "default") for b in baselines]
    jsonschema.validate(tenants["spec"], crd_schema("policy.networking.k8s.io_baselineadminnetworkpolicies.yaml"))
    jsonschema.validate(system["spec"], crd_schema("policy.networking.k8s.io_adminnetworkpolicies.yaml"))
    assert (tenants["kind"], tenants["metadata"]["name"]) == ("BaselineAdminNetworkPolicy", "default")
    assert "priority" not in tenants["spec"]
    assert tenants["spec"]["ingress"][0]["from"] == [{"namespaces": {"namespaceSelector": {
        "matchLabels": {"tenant": "true"}}}}]
    assert (system["kind"], system["spec"]["priority"]) == ("AdminNetworkPolicy", 5)
    assert [r["action"] for r in system["spec"]["ingress"]] == ["Allow", "Pass", "Deny"]   # Accept -> Allow
    assert system["spec"]["ingress"][2]["ports"] == [{"portRange": {"protocol": "TCP", "start": 1, "end": 1024}}]


@pytest.mark.parametrize("entries, message", [
    ([dict(TENANTS, priority=1001)], "is not a priority"),
    ([dict(TENANTS, subject={})], "subject"),
    ([dict(TENANTS, ingress=[{"action": "Allow"}])], "is not an action"),
    ([dict(TENANTS, ingress=None)], "would do nothing"),
    ([TENANTS, TENANTS], "used twice"),
    ([dict(TENANTS, ingress=[{"action": "Deny", "peers": [{"cidr": "10.0.0.0/8"}]}])], "egress peers only"),
])
def test_bad_baselines_are_refused(entries, message):
    _b, problems = parse(entries)
    assert message in problems.render()


def test_v1alpha1_cannot_express_pass_in_baseline_two_baselines_or_cidr():
    pass_baseline = dict(TENANTS, ingress=[{"action": "Pass"}])
    baselines, _p = parse([pass_baseline, dict(TENANTS, name="second"), KUBE_SYSTEM])
    problems = Problems()
    netpol_admin.check_version(problems, baselines, "v1alpha1")
    text = problems.render()
    assert "declare one Baseline entry" in text and "Pass has no next tier" in text and "no networks peer" in text
    problems = Problems()
    netpol_admin.check_version(problems, baselines, "v1alpha2")
    assert not problems


@pytest.mark.parametrize("group, expected", [
    ({"versions": [{"version": "v1beta1"}, {"version": "v1alpha2"}, {"version": "v1alpha1"}]}, "v1alpha2"),
    ({"versions": [{"version": "v1alpha1"}]}, "v1alpha1"),
    ({"versions": []}, None), (None, None),
])
def test_served_version_from_discovery(group, expected):
    assert netpol_admin.served_version(group) == expected


def test_priority_clashes_with_other_objects_and_between_declared():
    baselines, _p = parse([TENANTS, KUBE_SYSTEM, dict(KUBE_SYSTEM, name="other-admin")])
    existing = [
        {"kind": "ClusterNetworkPolicy", "metadata": {"name": "vendor"}, "spec": {"tier": "Baseline", "priority": 10}},
        # same priority in another tier: no clash
        {"kind": "ClusterNetworkPolicy", "metadata": {"name": "x"}, "spec": {"tier": "Baseline", "priority": 5}},
        # our own object of the same name: no clash with itself
        {"kind": "ClusterNetworkPolicy", "metadata": {"name": "kvnet-protect-kube-system", "labels": {
            "app.kubernetes.io/managed-by": "kubevirt_net.core", "kubevirt-net.io/policy-set": "default"}},
         "spec": {"tier": "Admin", "priority": 5}},
    ]
    problems = Problems()
    netpol_admin.priority_clashes(problems, baselines, "v1alpha2", existing, "default")
    text = problems.render()
    assert "10 in the Baseline tier is already used by vendor" in text
    assert "5 in the Admin tier is also declared by kvnet-protect-kube-system" in text
    assert text.startswith("2 invalid input(s)")


@pytest.mark.parametrize("versions, kinds", [
    (["v1alpha1"], ["AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]),
    (["v1alpha2"], ["ClusterNetworkPolicy"]),
    (["v1alpha2", "v1alpha1"], ["ClusterNetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]),
    ([], []),
])
def test_served_kinds_are_every_kind_of_a_served_version(versions, kinds):
    group = {"versions": [{"version": v} for v in versions]}
    assert [r.kind for r in netpol_admin.served_kinds(group)] == kinds


def test_an_admin_network_policy_clashes_with_an_admin_tier_clusternetworkpolicy():
    """Both versions served: an AdminNetworkPolicy (v1alpha1) sits in the Admin tier like a ClusterNetworkPolicy of
    tier Admin; the same priority across the two APIs has no defined order either."""
    baselines, _p = parse([KUBE_SYSTEM])
    anp = {"kind": "AdminNetworkPolicy", "metadata": {"name": "vendor"}, "spec": {"priority": 5}}
    problems = Problems()
    netpol_admin.priority_clashes(problems, baselines, "v1alpha2", [anp], "default")
    assert "5 in the Admin tier is already used by AdminNetworkPolicy vendor" in problems.render()
    # our own AdminNetworkPolicy of that name is another object than the ClusterNetworkPolicy this run writes
    ours = {"kind": "AdminNetworkPolicy", "metadata": {"name": "kvnet-protect-kube-system", "labels": {
        "app.kubernetes.io/managed-by": "kubevirt_net.core", "kubevirt-net.io/policy-set": "default"}},
        "spec": {"priority": 5}}
    problems = Problems()
    netpol_admin.priority_clashes(problems, baselines, "v1alpha2", [ours], "default")
    assert "already used by AdminNetworkPolicy kvnet-protect-kube-system" in problems.render()
    problems = Problems()
    netpol_admin.priority_clashes(problems, baselines, "v1alpha1", [ours], "default")
    assert not problems
