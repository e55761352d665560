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
[V1A1-PASS] v0.1.1 apis/v1alpha1/adminnetworkpolicy_types.go, rule ``action``: "Pass: instructs the selected traffic
          to skip any remaining ANP rules, and then pass execution to any NetworkPolicies that select the pod. If the
          pod is not selected by any NetworkPolicies then execution is passed to any BaselineAdminNetworkPolicies that
          select the pod."
[SAME]    v0.1.1 apis/v1alpha1/shared_types.go NamespacedPeer: "SameLabels ... To be selected a Namespace must have
          all of the labels defined in SameLabels, AND they must all have the same value as the subject of this
          policy. If Samelabels is Empty then nothing is selected."; "NotSameLabels ... must have all of the labels
          defined in NotSameLabels, AND at least one of them must have different values than the subject".
[BANP]    v0.1.1 apis/v1alpha1/baselineadminnetworkpolicy_types.go, ``spec.ingress``/``spec.egress``: rules "applied to
          the selected pods if they are not matched by any AdminNetworkPolicy or NetworkPolicy rules"; action
          "Allow: allows the selected traffic".
[EGR-ACCEPT] v0.3.0 apis/v1alpha2/clusternetworkpolicy_types.go, egress rule ``action``: "Accept: Accepts the
          selected traffic ... No further egress ClusterNetworkPolicy or NetworkPolicy rules will be processed but any
          ingress rules at the destination do apply."
[PASS-CONST] v0.3.0 ClusterNetworkPolicyRuleActionPass: "skips rules with lower precedence in the current tier and
          continues processing in the next tier".
[NP]      kubernetes.io Network Policies: "By default, a pod is non-isolated for ingress/egress ... the pod is
          isolated ... if there is any NetworkPolicy that both selects the pod and has Ingress in its policyTypes";
          a connection needs the source's egress and the destination's ingress to allow it.
[MNP]     k8snetworkplumbingwg/multi-networkpolicy README: the annotation ``k8s.v1.cni.cncf.io/policy-for`` lists the
          net-attach-defs (``<namespace>/<name>``, comma-separated) the policy applies to; the spec is the
          NetworkPolicy spec.  MultiNetworkPolicy filters those networks only; NetworkPolicy and the admin tiers are
          the pod (cluster default) network's.  The README: multi-networkpolicy "implements Network Policy
          functionality for net-attach-def", so peers, ports (named ones too) and ipBlock are NetworkPolicy's,
          applied to the traffic of that network, whose addresses are the pods' interfaces on it.
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
    # Pass skips the rest of its tier: lower-precedence Admin rules are never reached
    ("admin-pass-skips-lower-admin-deny", [cnp("p", "Admin", 10, DB_SUBJECT, [rule("Pass")]),
                                           cnp("d", "Admin", 20, DB_SUBJECT, [rule("Deny")])], [], 5432,
     "allowed", "default", "[ACTION] Pass skips all further rules in the current tier; [PRIO] 10 before 20"),
    ("admin-pass-skips-later-rule-same-policy", [cnp("p", "Admin", 10, DB_SUBJECT, [rule("Pass"), rule("Deny")])],
     [], 5432, "allowed", "default", "[ORDER] Pass written first; [PASS-CONST] skips rules with lower precedence"),
    ("admin-pass-skips-lower-admin-deny-np-allows", [cnp("p", "Admin", 10, DB_SUBJECT, [rule("Pass")]),
                                                     cnp("d", "Admin", 20, DB_SUBJECT, [rule("Deny")])],
     [ALLOW_WEB_DB], 5432, "allowed", "NetworkPolicy", "[ACTION] Pass -> [TIER] NetworkPolicy tier decides"),
    ("admin-deny-before-lower-pass", [cnp("d", "Admin", 10, DB_SUBJECT, [rule("Deny")]),
                                      cnp("p", "Admin", 20, DB_SUBJECT, [rule("Pass")])], [ALLOW_WEB_DB], 5432,
     "denied", "Admin", "[PRIO] the Deny at 10 is checked before the Pass at 20; [ACTION] Deny final"),
    # the Baseline tier deciding, and its priorities
    ("baseline-accept-decides", [cnp("b", "Baseline", 10, DB_SUBJECT, [rule("Accept")])], [], 5432, "allowed",
     "Baseline", "[TIER] Baseline final decision (Accept) for a pod no NetworkPolicy selects"),
    ("baseline-priority-lower-first-accept", [cnp("hi", "Baseline", 20, DB_SUBJECT, [rule("Deny")]),
                                              cnp("lo", "Baseline", 10, DB_SUBJECT, [rule("Accept")])], [], 5432,
     "allowed", "Baseline", "[PRIO] in the same tier: 10 before 20"),
    ("baseline-priority-lower-first-deny", [cnp("hi", "Baseline", 20, DB_SUBJECT, [rule("Accept")]),
                                            cnp("lo", "Baseline", 10, DB_SUBJECT, [rule("Deny")])], [], 5432,
     "denied", "Baseline", "[PRIO] in the same tier: 10 before 20"),
    ("baseline-pass-skips-lower-baseline-deny", [cnp("p", "Baseline", 10, DB_SUBJECT, [rule("Pass")]),
                                                 cnp("d", "Baseline", 20, DB_SUBJECT, [rule("Deny")])], [], 5432,
     "allowed", "default", "[ACTION] Pass skips the rest of the Baseline tier -> [TIER] default"),
    ("admin-accept-skips-baseline-deny", [cnp("a", "Admin", 10, DB_SUBJECT, [rule("Accept")]),
                                          cnp("b", "Baseline", 10, DB_SUBJECT, [rule("Deny")])], [], 5432,
     "allowed", "Admin", "[TIER] Admin final decision: no further evaluation"),
    # v1alpha1: AdminNetworkPolicy Pass, BaselineAdminNetworkPolicy Allow
    ("v1alpha1-anp-pass-to-np-deny", [{"kind": "AdminNetworkPolicy", "metadata": {"name": "anp"}, "spec": {
        "priority": 1, "subject": {"namespaces": ns("tenant-b")},
        "ingress": [{"name": "x", "action": "Pass", "from": [{"namespaces": {"namespaceSelector": {}}}]}]}}],
     [DENY_ALL_DB], 5432, "denied", "NetworkPolicy", "[V1A1-PASS] pass execution to the NetworkPolicies"),
    ("v1alpha1-anp-pass-skips-lower-anp-deny", [
        {"kind": "AdminNetworkPolicy", "metadata": {"name": "pass"}, "spec": {
            "priority": 1, "subject": {"namespaces": ns("tenant-b")},
            "ingress": [{"name": "x", "action": "Pass", "from": [{"namespaces": {"namespaceSelector": {}}}]}]}},
        {"kind": "AdminNetworkPolicy", "metadata": {"name": "deny"}, "spec": {
            "priority": 2, "subject": {"namespaces": ns("tenant-b")},
            "ingress": [{"name": "x", "action": "Deny", "from": [{"namespaces": {"namespaceSelector": {}}}]}]}}],
     [], 5432, "allowed", "default", "[V1A1-PASS] skip any remaining ANP rules; nothing else decides -> default"),
    ("v1alpha1-anp-pass-to-banp-deny", [
        {"kind": "AdminNetworkPolicy", "metadata": {"name": "pass"}, "spec": {
            "priority": 1, "subject": {"namespaces": ns("tenant-b")},
            "ingress": [{"name": "x", "action": "Pass", "from": [{"namespaces": {"namespaceSelector": {}}}]}]}},
        {"kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"}, "spec": {
            "subject": {"namespaces": {}},
            "ingress": [{"name": "x", "action": "Deny", "from": [{"namespaces": {"namespaceSelector": {}}}]}]}}],
     [], 5432, "denied", "Baseline", "[V1A1-PASS] not selected by any NetworkPolicy -> the BANP"),
    ("v1alpha1-banp-allow-decides", [{"kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"}, "spec": {
        "subject": {"namespaces": {}},
        "ingress": [{"name": "x", "action": "Allow", "from": [{"namespaces": {"namespaceSelector": {}}}]}]}}],
     [], 5432, "allowed", "Baseline", "[BANP] Allow for a pod no ANP or NetworkPolicy rule matched"),
    ("v1alpha1-banp-allow-overridden-by-np", [{"kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"},
                                               "spec": {"subject": {"namespaces": {}}, "ingress": [
                                                   {"name": "x", "action": "Allow",
                                                    "from": [{"namespaces": {"namespaceSelector": {}}}]}]}}],
     [DENY_ALL_DB], 5432, "denied", "NetworkPolicy", "[BANP] applies only when no NetworkPolicy selects the pod"),
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


WEB_SUBJECT = {"namespaces": ns("tenant-a")}
TO_B = [{"namespaces": ns("tenant-b")}]
DENY_EGRESS_WEB = np("no-egress", "tenant-a", egress=[], types=("Egress",))

# Both sides of web -> db: (case, admin objects, NetworkPolicies, outcome, (egress allowed, egress tier),
# (ingress allowed, ingress tier), spec).  [NP]: the connection needs both sides.
BOTH_SIDES = [
    ("egress-accept-beats-np-egress-deny", [cnp("e", "Admin", 10, WEB_SUBJECT, egress=[egress_rule("Accept", TO_B)])],
     [DENY_EGRESS_WEB], "allowed", (True, "Admin"), (True, "default"),
     "[EGR-ACCEPT] no further egress NetworkPolicy rules"),
    ("egress-accept-ingress-rules-still-apply", [cnp("e", "Admin", 10, WEB_SUBJECT,
                                                     egress=[egress_rule("Accept", TO_B)])],
     [DENY_ALL_DB], "denied", (True, "Admin"), (False, "NetworkPolicy"),
     "[EGR-ACCEPT] but any ingress rules at the destination do apply"),
    ("egress-pass-to-np-egress-deny", [cnp("e", "Admin", 10, WEB_SUBJECT, egress=[egress_rule("Pass", TO_B)])],
     [DENY_EGRESS_WEB], "denied", (False, "NetworkPolicy"), (True, "default"),
     "[ACTION] egress Pass -> [TIER] NetworkPolicy tier"),
    ("egress-pass-to-baseline-deny", [cnp("e", "Admin", 10, WEB_SUBJECT, egress=[egress_rule("Pass", TO_B)]),
                                      cnp("b", "Baseline", 10, WEB_SUBJECT, egress=[egress_rule("Deny")])],
     [], "denied", (False, "Baseline"), (True, "default"), "[ACTION] Pass; no NetworkPolicy selects web -> Baseline"),
    ("egress-pass-skips-lower-admin-deny", [cnp("p", "Admin", 10, WEB_SUBJECT, egress=[egress_rule("Pass", TO_B)]),
                                            cnp("d", "Admin", 20, WEB_SUBJECT, egress=[egress_rule("Deny")])],
     [], "allowed", (True, "default"), (True, "default"), "[ACTION] Pass skips the rest of the Admin tier"),
    ("egress-baseline-accept-decides", [cnp("b", "Baseline", 10, WEB_SUBJECT, egress=[egress_rule("Accept")])],
     [], "allowed", (True, "Baseline"), (True, "default"), "[TIER] Baseline final decision (Accept)"),
    ("egress-denied-ingress-accepted", [cnp("b", "Baseline", 10, WEB_SUBJECT, egress=[egress_rule("Deny")]),
                                        cnp("a", "Admin", 10, DB_SUBJECT, [rule("Accept")])],
     [], "denied", (False, "Baseline"), (True, "Admin"),
     "[ACTION] an ingress Accept ends ingress processing only; [NP] the source's egress must allow it too"),
    ("ingress-denied-egress-accepted", [cnp("e", "Admin", 10, WEB_SUBJECT, egress=[egress_rule("Accept", TO_B)]),
                                        cnp("b", "Baseline", 10, DB_SUBJECT, [rule("Deny")])],
     [], "denied", (True, "Admin"), (False, "Baseline"), "[EGR-ACCEPT] ingress rules at the destination apply"),
    ("v1alpha1-anp-egress-pass-to-np-egress-deny", [{"kind": "AdminNetworkPolicy", "metadata": {"name": "anp"}, "spec": {
        "priority": 1, "subject": {"namespaces": ns("tenant-a")},
        "egress": [{"name": "x", "action": "Pass", "to": [{"namespaces": {"namespaceSelector": {}}}]}]}}],
     [DENY_EGRESS_WEB], "denied", (False, "NetworkPolicy"), (True, "default"), "[V1A1-PASS] egress"),
]


@pytest.mark.parametrize("case, admin, policies, outcome, egress, ingress, spec", BOTH_SIDES,
                         ids=[c[0] for c in BOTH_SIDES])
def test_both_sides_truth_table(case, admin, policies, outcome, egress, ingress, spec):
    verdict = tiers.evaluate(admin, policies, NAMESPACES, WEB, DB, 5432)
    got = (verdict.outcome, (verdict.egress.allowed, verdict.egress.tier),
           (verdict.ingress.allowed, verdict.ingress.tier))
    assert got == (outcome, egress, ingress), (case, spec, verdict.as_dict())


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


# Multus network rows: web and db as they are on tenant-b/storage (their addresses on that network)
WEB_STORAGE = dict(WEB, ips=["192.168.50.10"])
DB_STORAGE = dict(DB, ips=["192.168.50.20"])


def mnp_spec(name, namespace, policy_for, types, **spec):
    return {"kind": "MultiNetworkPolicy", "metadata": {"name": name, "namespace": namespace,
                                                       "annotations": {tiers.POLICY_FOR: policy_for}},
            "spec": dict({"podSelector": {}, "policyTypes": list(types)}, **spec)}


# (case, MultiNetworkPolicies, port, outcome, (egress allowed, tier), (ingress allowed, tier), spec)
MULTI = [
    ("mnp-egress-deny", [mnp_spec("out", "tenant-a", "tenant-b/storage", ["Egress"], egress=[])], 5432, "denied",
     (False, "MultiNetworkPolicy"), (True, "default"), "[MNP] [NP] an Egress policy with no rules isolates the source"),
    ("mnp-egress-ipblock-secondary-address", [mnp_spec("out", "tenant-a", "tenant-b/storage", ["Egress"], egress=[
        {"to": [{"ipBlock": {"cidr": "192.168.50.0/24"}}]}])], 5432, "allowed", (True, "MultiNetworkPolicy"),
     (True, "default"), "[MNP] ipBlock matches db's address on the storage network"),
    ("mnp-egress-ipblock-pod-address", [mnp_spec("out", "tenant-a", "tenant-b/storage", ["Egress"], egress=[
        {"to": [{"ipBlock": {"cidr": "10.244.0.0/16"}}]}])], 5432, "denied", (False, "MultiNetworkPolicy"),
     (True, "default"), "[MNP] the pod-network address is not db's address on the storage network"),
    ("mnp-ingress-ipblock-secondary-address", [mnp_spec("in", "tenant-b", "tenant-b/storage", ["Ingress"], ingress=[
        {"from": [{"ipBlock": {"cidr": "192.168.50.0/24", "except": ["192.168.50.128/25"]}}]}])], 5432, "allowed",
     (True, "default"), (True, "MultiNetworkPolicy"), "[MNP] ipBlock on web's storage address (outside except)"),
    ("mnp-ingress-ipblock-except", [mnp_spec("in", "tenant-b", "tenant-b/storage", ["Ingress"], ingress=[
        {"from": [{"ipBlock": {"cidr": "192.168.50.0/24", "except": ["192.168.50.0/28"]}}]}])], 5432, "denied",
     (True, "default"), (False, "MultiNetworkPolicy"), "[NP] ipBlock except: 192.168.50.10 is in 192.168.50.0/28"),
    ("mnp-named-port-match", [mnp_spec("in", "tenant-b", "tenant-b/storage", ["Ingress"], ingress=[
        {"ports": [{"protocol": "TCP", "port": "postgres"}]}])], 5432, "allowed", (True, "default"),
     (True, "MultiNetworkPolicy"), "[MNP] [NAMED] postgres is 5432 on db"),
    ("mnp-named-port-other", [mnp_spec("in", "tenant-b", "tenant-b/storage", ["Ingress"], ingress=[
        {"ports": [{"protocol": "TCP", "port": "postgres"}]}])], 80, "denied", (True, "default"),
     (False, "MultiNetworkPolicy"), "[MNP] [NAMED] 80 is not postgres"),
    ("mnp-bare-podselector-is-own-namespace", [
        mnp_spec("out", "tenant-a", "tenant-b/storage", ["Egress"], egress=[{"to": [{"podSelector": {}}]}]),
        mnp_spec("in", "tenant-b", "tenant-b/storage", ["Ingress"], ingress=[])], 5432, "denied",
     (False, "MultiNetworkPolicy"), (False, "MultiNetworkPolicy"),
     "[NP] a bare podSelector peer is the policy's own namespace (tenant-a), db is in tenant-b"),
    ("mnp-egress-to-namespace-ingress-denied", [
        mnp_spec("out", "tenant-a", "tenant-b/storage", ["Egress"], egress=[
            {"to": [{"namespaceSelector": ns("tenant-b")}]}]),
        mnp_spec("in", "tenant-b", "tenant-b/storage", ["Ingress"], ingress=[])], 5432, "denied",
     (True, "MultiNetworkPolicy"), (False, "MultiNetworkPolicy"), "[NP] both sides must allow"),
    ("mnp-other-network-egress", [mnp_spec("out", "tenant-a", "tenant-b/backup", ["Egress"], egress=[])], 5432,
     "allowed", (True, "default"), (True, "default"), "[MNP] policy-for names another network"),
]


@pytest.mark.parametrize("case, multi, port, outcome, egress, ingress, spec", MULTI, ids=[c[0] for c in MULTI])
def test_multinetworkpolicy_truth_table(case, multi, port, outcome, egress, ingress, spec):
    verdict = tiers.evaluate([], [], NAMESPACES, WEB_STORAGE, DB_STORAGE, port, network="tenant-b/storage",
                             multi=multi)
    got = (verdict.outcome, (verdict.egress.allowed, verdict.egress.tier),
           (verdict.ingress.allowed, verdict.ingress.tier))
    assert got == (outcome, egress, ingress), (case, spec, verdict.as_dict())


# v1alpha1 sameLabels / notSameLabels ([SAME]): the classic "tenants never reach each other" baseline
TENANT_SPACES = {"tenant-a": {"tenant": "red", "kubernetes.io/metadata.name": "tenant-a"},
                 "tenant-b": {"tenant": "blue", "kubernetes.io/metadata.name": "tenant-b"},
                 "tenant-c": {"tenant": "blue", "kubernetes.io/metadata.name": "tenant-c"},
                 "shared": {"kubernetes.io/metadata.name": "shared"}}


def banp(peer, action="Deny"):
    return {"kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"}, "spec": {
        "subject": {"namespaces": {"matchExpressions": [{"key": "tenant", "operator": "Exists"}]}},
        "ingress": [{"name": "tenants", "action": action, "from": [peer]}]}}


NOT_SAME = {"namespaces": {"notSameLabels": ["tenant"]}}
SAME_PODS = {"pods": {"namespaces": {"sameLabels": ["tenant"]}, "podSelector": {"matchLabels": {"app": "web"}}}}

# (case, BANP peer, source namespace, outcome, ingress tier)
SAME_LABELS = [
    ("not-same-other-tenant", NOT_SAME, "tenant-a", "denied", "Baseline"),     # red -> blue: differs
    ("not-same-same-tenant", NOT_SAME, "tenant-c", "allowed", "default"),       # blue -> blue: same value
    ("not-same-unlabelled", NOT_SAME, "shared", "allowed", "default"),          # must have all the labels
    ("same-pods-same-tenant", SAME_PODS, "tenant-c", "denied", "Baseline"),     # blue = blue, app=web
    ("same-pods-other-tenant", SAME_PODS, "tenant-a", "allowed", "default"),    # red != blue
    ("same-empty-selects-nothing", {"namespaces": {"sameLabels": []}}, "tenant-c", "allowed", "default"),
]


@pytest.mark.parametrize("case, peer, source_ns, outcome, tier", SAME_LABELS, ids=[c[0] for c in SAME_LABELS])
def test_v1alpha1_same_and_not_same_labels(case, peer, source_ns, outcome, tier):
    verdict = tiers.evaluate([banp(peer)], [], TENANT_SPACES, dict(WEB, namespace=source_ns), DB, 5432)
    assert (verdict.outcome, verdict.ingress.tier) == (outcome, tier), (case, verdict.as_dict())
