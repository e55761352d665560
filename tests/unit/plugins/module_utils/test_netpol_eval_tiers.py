"""Truth tables of reachability across policy kinds and tiers.

Every expected cell is written from the specification, cited beside the case,
not from running the code:

[TIER]    network-policy-api v0.3.0, ClusterNetworkPolicy ``spec.tier``: "Admin tier, NetworkPolicy tier, Baseline
          tier ... If Admin tier has made a final decision (Accept or Deny) on a connection, then no further
          evaluation is done ... v1.NetworkPolicy always makes a final decision for selected pods. Further
          evaluation only happens for Pods not selected by a v1.NetworkPolicy ... If a given connection wasn't
          allowed or denied by any of the tiers, the default kubernetes policy is applied, which says that all pods
          can communicate with each other."
[ACTION]  ClusterNetworkPolicy rule ``action``: "Accept ... No further ingress ClusterNetworkPolicy or NetworkPolicy
          rules will be processed. Deny: Drops the selected traffic. No further ... rules will be processed. Pass:
          Skips all further ClusterNetworkPolicy rules in the current tier ... and passes evaluation to the next
          tier."
[PRIO]    ``spec.priority``: "Policies with lower priority values have higher precedence, and are checked before
          policies with higher priority values in the same tier."
[ORDER]   ``spec.ingress``: "The relative precedence of ingress rules within a single CNP object ... will be
          determined by the order in which the rule is written."
[SEL]     metav1.LabelSelector: "An empty label selector matches all objects."
[NAMED]   ``destinationNamedPort`` (v1alpha2) / ``namedPort`` (v1alpha1): "selects a destination port on a pod based
          on the ContainerPort name".
[RANGE]   ``destinationPort.range`` start..end inclusive (v1alpha2); NetworkPolicyPort ``endPort``: "indicates that
          the range of ports from port to endPort if set, inclusive, should be allowed".
[V1A1]    AdminNetworkPolicy v1alpha1 (v0.1.1): actions Allow/Deny/Pass, same tier model; BaselineAdminNetworkPolicy
          is the Baseline tier.
[NP]      kubernetes.io Network Policies: "By default, a pod is non-isolated for ingress/egress ... the pod is
          isolated ... if there is any NetworkPolicy that both selects the pod and has Ingress in its policyTypes";
          a connection needs the source's egress and the destination's ingress to allow it.
[MNP]     k8snetworkplumbingwg/multi-networkpolicy README: the annotation ``k8s.v1.cni.cncf.io/policy-for`` lists the
          net-attach-defs (``<namespace>/<name>``, comma-separated) the policy applies to; the spec is the
          NetworkPolicy spec.  MultiNetworkPolicy filters those networks only; NetworkPolicy and the admin tiers are
          the pod (cluster default) network's.
"""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_eval_tiers as tiers

NAMESPACES = {"tenant-a": {"tenant": "true", "kubernetes.io/metadata.name": "tenant-a"},
              "tenant-b": {"tenant": "true", "kubernetes.io/metadata.name": "tenant-b"},
              "tenant-c": {"tenant": "true", "kubernetes.io/metadata.name": "tenant-c"}}
WEB = {"namespace": "tenant-a", "labels": {"app": "web"}, "ips": ["10.244.1.10"], "name": "web"}
DB = {"namespace": "tenant-b", "labels": {"app": "db", "kubevirt.io": "virt-launcher"}, "ips": ["10.244.2.20"],
      "named_ports": {("postgres", "TCP"): 5432}, "name": "db"}


def cnp(name, tier, priority, subject, ingress=(), egress=()):
    return {"kind": "ClusterNetworkPolicy", "metadata": {"name": name},
            "spec": {"tier": tier, "priority": priority, "subject": subject,
                     "ingress": list(ingress), "egress": list(egress)}}


def rule(action, peers=None, protocols=None, name=""):
    out = {"name": name, "action": action, "from": peers or [{"namespaces": {}}]}
    if protocols is not None:
        out["protocols"] = protocols
    return out


def egress_rule(action, peers=None):
    return {"name": "", "action": action, "to": peers or [{"namespaces": {}}]}


def ns(name):
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def np(name, namespace, ingress=None, egress=None, selector=None, types=("Ingress",)):
    spec = {"podSelector": selector or {}, "policyTypes": list(types)}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


DB_SUBJECT = {"namespaces": ns("tenant-b")}
RANGE_NP = np("r", "tenant-b", ingress=[{"ports": [{"protocol": "TCP", "port": 5000, "endPort": 6000}]}])
DENY_ALL_DB = np("default-deny", "tenant-b", ingress=[])
ALLOW_WEB_DB = np("allow-web", "tenant-b", ingress=[{"from": [{"namespaceSelector": ns("tenant-a")}]}])

# (case id, admin objects, NetworkPolicies, port, expected outcome, expected tier of the ingress side, spec)
POD_NETWORK = [
    ("nothing", [], [], 5432, "allowed", "default", "[NP] non-isolated; [TIER] default"),
    ("admin-deny-beats-np-allow", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Deny", [{"namespaces": ns("tenant-a")}])])],
     [ALLOW_WEB_DB], 5432, "denied", "Admin", "[TIER] Admin final; [ACTION] Deny"),
    ("admin-accept-beats-np-deny", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Accept")])],
     [DENY_ALL_DB], 5432, "allowed", "Admin", "[ACTION] Accept: no further NetworkPolicy rules"),
    ("pass-falls-to-np-deny", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Pass")])],
     [DENY_ALL_DB], 5432, "denied", "NetworkPolicy", "[ACTION] Pass to next tier; [TIER] NP final"),
    ("pass-falls-to-np-allow", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Pass")]),
                                cnp("b", "Baseline", 10, DB_SUBJECT, [rule("Deny")])],
     [ALLOW_WEB_DB], 5432, "allowed", "NetworkPolicy", "[ACTION] Pass; [TIER] NP final, Baseline not reached"),
    ("pass-no-np-to-baseline-deny", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Pass")]),
                                     cnp("b", "Baseline", 10, DB_SUBJECT, [rule("Deny")])],
     [], 5432, "denied", "Baseline", "[ACTION] Pass; [TIER] not selected by NP -> Baseline"),
    ("pass-to-default", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Pass")])], [], 5432, "allowed", "default",
     "[ACTION] Pass; [TIER] no tier decides -> default"),
    ("baseline-pass-to-default", [cnp("b", "Baseline", 10, DB_SUBJECT, [rule("Pass")])], [], 5432, "allowed",
     "default", "[ACTION] Pass in the last tier -> [TIER] default"),
    ("np-overrides-baseline-deny", [cnp("b", "Baseline", 10, DB_SUBJECT, [rule("Deny")])], [ALLOW_WEB_DB], 5432,
     "allowed", "NetworkPolicy", "[TIER] Baseline can be overridden by NetworkPolicy"),
    ("np-deny-overrides-baseline-accept", [cnp("b", "Baseline", 10, DB_SUBJECT, [rule("Accept")])], [DENY_ALL_DB],
     5432, "denied", "NetworkPolicy", "[TIER] NP final for selected pods"),
    ("baseline-deny-unselected", [cnp("b", "Baseline", 10, DB_SUBJECT, [rule("Deny")])], [], 5432, "denied",
     "Baseline", "[TIER] Baseline decides for pods no NP selects"),
    ("priority-lower-first-deny", [cnp("hi", "Admin", 20, DB_SUBJECT, [rule("Accept")]),
                                   cnp("lo", "Admin", 10, DB_SUBJECT, [rule("Deny")])], [], 5432, "denied", "Admin",
     "[PRIO] 10 before 20"),
    ("priority-lower-first-accept", [cnp("hi", "Admin", 20, DB_SUBJECT, [rule("Deny")]),
                                     cnp("lo", "Admin", 10, DB_SUBJECT, [rule("Accept")])], [DENY_ALL_DB], 5432,
     "allowed", "Admin", "[PRIO] 10 before 20; [ACTION] Accept final"),
    ("rule-order", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Accept"), rule("Deny")])], [], 5432, "allowed",
     "Admin", "[ORDER] first written rule wins"),
    ("empty-subject-selects-all", [cnp("a", "Admin", 10, {"namespaces": {}}, [rule("Deny")])], [], 5432, "denied",
     "Admin", "[SEL] empty namespace selector = every namespace"),
    ("subject-elsewhere", [cnp("a", "Admin", 10, {"namespaces": ns("tenant-c")}, [rule("Deny")])], [], 5432,
     "allowed", "default", "[TIER] a policy applies to its subject only"),
    ("peer-elsewhere", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Deny", [{"namespaces": ns("tenant-c")}])])], [],
     5432, "allowed", "default", "a rule matches its peers only"),
    ("pods-peer", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Deny", [{"pods": {
        "namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}}}])])], [], 5432, "denied", "Admin",
     "pods peer: podSelector inside namespaceSelector ([SEL] {} = all namespaces)"),
    ("named-port-match", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Deny", protocols=[
        {"destinationNamedPort": "postgres"}])])], [], 5432, "denied", "Admin", "[NAMED] postgres = 5432 on db"),
    ("named-port-other", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Deny", protocols=[
        {"destinationNamedPort": "postgres"}])])], [], 80, "allowed", "default", "[NAMED] 80 is not postgres"),
    ("range-inside", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Deny", protocols=[
        {"tcp": {"destinationPort": {"range": {"start": 5000, "end": 6000}}}}])])], [], 6000, "denied", "Admin",
     "[RANGE] end inclusive"),
    ("range-outside", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Deny", protocols=[
        {"tcp": {"destinationPort": {"range": {"start": 5000, "end": 6000}}}}])])], [], 6001, "allowed", "default",
     "[RANGE] 6001 outside"),
    ("protocol-mismatch", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Deny", protocols=[
        {"udp": {"destinationPort": {"number": 5432}}}])])], [], 5432, "allowed", "default", "a UDP rule, TCP query"),
    ("np-end-port-inside", [], [RANGE_NP], 5999, "allowed", "NetworkPolicy",
     "[RANGE] NetworkPolicyPort endPort inclusive"),
    ("np-end-port-outside", [], [RANGE_NP], 6001, "denied", "NetworkPolicy", "[NP] isolated, no rule allows 6001"),
    ("v1alpha1-anp-allow", [{"kind": "AdminNetworkPolicy", "metadata": {"name": "anp"}, "spec": {
        "priority": 1, "subject": {"namespaces": ns("tenant-b")},
        "ingress": [{"name": "x", "action": "Allow", "from": [{"namespaces": {"namespaceSelector": {}}}]}]}}],
     [DENY_ALL_DB], 5432, "allowed", "Admin", "[V1A1] Allow = Accept, Admin tier final"),
    ("v1alpha1-anp-named-port", [{"kind": "AdminNetworkPolicy", "metadata": {"name": "anp"}, "spec": {
        "priority": 1, "subject": {"namespaces": ns("tenant-b")},
        "ingress": [{"name": "x", "action": "Deny", "from": [{"namespaces": {"namespaceSelector": {}}}],
                     "ports": [{"namedPort": "postgres"}]}]}}], [], 5432, "denied", "Admin", "[V1A1] [NAMED]"),
    ("v1alpha1-banp-deny", [{"kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"}, "spec": {
        "subject": {"namespaces": {}},
        "ingress": [{"name": "x", "action": "Deny", "from": [{"pods": {"namespaces": {"namespaceSelector": {}},
                                                                       "podSelector": {}}}]}]}}],
     [], 5432, "denied", "Baseline", "[V1A1] BaselineAdminNetworkPolicy is the Baseline tier"),
    ("v1alpha1-banp-overridden", [{"kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"}, "spec": {
        "subject": {"namespaces": {}}, "ingress": [{"name": "x", "action": "Deny",
                                                    "from": [{"namespaces": {"namespaceSelector": {}}}]}]}}],
     [ALLOW_WEB_DB], 5432, "allowed", "NetworkPolicy", "[V1A1] [TIER] NP overrides Baseline"),
]


@pytest.mark.parametrize("case, admin, policies, port, outcome, tier, spec", POD_NETWORK,
                         ids=[c[0] for c in POD_NETWORK])
def test_pod_network_truth_table(case, admin, policies, port, outcome, tier, spec):
    verdict = tiers.evaluate(admin, policies, NAMESPACES, WEB, DB, port, "TCP")
    assert (verdict.outcome, verdict.ingress.tier) == (outcome, tier), (case, spec, verdict.as_dict())
    assert verdict.egress.allowed, "no policy selects web for egress here"


def test_the_deciding_object_and_rule_are_named():
    rules = [rule("Accept", [{"namespaces": ns("tenant-c")}]),
             rule("Deny", [{"namespaces": ns("tenant-a")}], name="no-tenant-a")]
    admin = [cnp("protect-db", "Admin", 10, DB_SUBJECT, rules)]
    verdict = tiers.evaluate(admin, [], NAMESPACES, WEB, DB, 5432)
    assert verdict.deciding == ["ClusterNetworkPolicy protect-db ingress rule 1 'no-tenant-a' (Deny)"]
    verdict = tiers.evaluate([], [DENY_ALL_DB], NAMESPACES, WEB, DB, 5432)
    assert verdict.deciding == ["NetworkPolicy tenant-b/default-deny"]


def test_pass_then_np_names_both():
    admin = [cnp("p", "Admin", 10, DB_SUBJECT, [rule("Pass", name="to-tenants")])]
    verdict = tiers.evaluate(admin, [DENY_ALL_DB], NAMESPACES, WEB, DB, 5432)
    assert verdict.deciding == ["ClusterNetworkPolicy p ingress rule 0 'to-tenants' (Pass)",
                                "NetworkPolicy tenant-b/default-deny"]


# egress side: the source is the subject ([TIER] applies per direction; [NP] both sides must allow)
EGRESS = [
    ("admin-egress-deny", [cnp("e", "Admin", 10, {"namespaces": ns("tenant-a")},
                               egress=[egress_rule("Deny", [{"namespaces": ns("tenant-b")}])])], [], "denied",
     "Admin"),
    ("admin-egress-deny-network", [cnp("e", "Admin", 10, {"namespaces": ns("tenant-a")},
                                       egress=[egress_rule("Deny", [{"networks": ["10.244.2.0/24"]}])])], [],
     "denied", "Admin"),
    ("baseline-egress-deny-np-egress-allow", [cnp("e", "Baseline", 10, {"namespaces": ns("tenant-a")},
                                                  egress=[egress_rule("Deny")])],
     [np("out", "tenant-a", egress=[{}], types=("Egress",))], "allowed", "NetworkPolicy"),
]


@pytest.mark.parametrize("case, admin, policies, outcome, tier", EGRESS, ids=[c[0] for c in EGRESS])
def test_egress_truth_table(case, admin, policies, outcome, tier):
    verdict = tiers.evaluate(admin, policies, NAMESPACES, WEB, DB, 5432)
    assert (verdict.outcome, verdict.egress.tier) == (outcome, tier), (case, verdict.as_dict())


def mnp(name, namespace, policy_for, ingress=None):
    return {"kind": "MultiNetworkPolicy", "metadata": {"name": name, "namespace": namespace,
                                                       "annotations": {tiers.POLICY_FOR: policy_for}},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": ingress or []}}


# [MNP] policy-for selects the networks; (network queried, expected outcome, tier)
SECONDARY = [
    ("tenant-b/storage", "denied", "MultiNetworkPolicy"),
    ("tenant-b/backup", "denied", "MultiNetworkPolicy"),      # the second network of the same annotation
    ("tenant-b/other", "allowed", "default"),                  # not named by policy-for
    ("pod", "allowed", "default"),                             # MultiNetworkPolicy never filters the pod network
]


@pytest.mark.parametrize("network, outcome, tier", SECONDARY, ids=[s[0] for s in SECONDARY])
def test_policy_for_naming_several_networks(network, outcome, tier):
    multi = [mnp("deny", "tenant-b", "tenant-b/storage, backup")]   # a bare name is in the policy's namespace
    verdict = tiers.evaluate([], [], NAMESPACES, WEB, DB, 5432, network=network, multi=multi)
    assert (verdict.outcome, verdict.ingress.tier) == (outcome, tier), verdict.as_dict()


def test_pod_network_policies_do_not_filter_a_secondary_network():
    admin = [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Deny")])]
    verdict = tiers.evaluate(admin, [DENY_ALL_DB], NAMESPACES, WEB, DB, 5432, network="tenant-b/storage")
    assert verdict.allowed and verdict.ingress.tier == "default"   # [MNP] [TIER]: those are the pod network's


def test_mnp_allow_rule_on_its_network():
    multi = [mnp("same-tenant", "tenant-b", "tenant-b/storage", ingress=[{"from": [{"podSelector": {}}]}])]
    web_in_b = dict(WEB, namespace="tenant-b")
    assert tiers.evaluate([], [], NAMESPACES, web_in_b, DB, 5432, network="tenant-b/storage",
                          multi=multi).allowed
    verdict = tiers.evaluate([], [], NAMESPACES, WEB, DB, 5432, network="tenant-b/storage", multi=multi)
    assert not verdict.allowed and verdict.deciding == ["MultiNetworkPolicy tenant-b/same-tenant"]
