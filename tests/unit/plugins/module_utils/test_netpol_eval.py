"""The NetworkPolicy evaluator against the semantics of the Kubernetes
documentation ("Network Policies", NetworkPolicySpec reference) and the
behaviours the upstream NetworkPolicy conformance tests (test/e2e/network/
netpol) expect.  The cluster model is theirs: namespaces x, y, z; pods a, b,
c in each; every pod serves TCP/UDP/SCTP 80 and 81 under named ports
serve-<port>-<proto>."""

import types

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_eval as ne
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_impact as nimpact
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_model as nm
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_sets as nsets
from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors

NAMESPACES = {"x": {"ns": "x"}, "y": {"ns": "y", "user": "alice"}, "z": {"ns": "z"}}
IP = {"x": 1, "y": 2, "z": 3}
PODS = {}
for _ns in "xyz":
    for _i, _pod in enumerate("abc"):
        PODS["%s/%s" % (_ns, _pod)] = {
            "metadata": {"namespace": _ns, "name": _pod, "labels": {"pod": _pod}},
            "spec": {"nodeName": "node-%s" % _pod, "containers": [{"name": "c", "ports": [
                {"name": "serve-%d-%s" % (p, proto.lower()), "containerPort": p, "protocol": proto}
                for p in (80, 81) for proto in ("TCP", "UDP", "SCTP")]}]},
            "status": {"podIP": "10.0.%d.%d" % (IP[_ns], _i + 1), "podIPs": [{"ip": "10.0.%d.%d" % (IP[_ns], _i + 1)}]},
        }


def pol(ns, name, pod_selector=None, ingress=None, egress=None, types=None):
    spec = {"podSelector": pod_selector if pod_selector is not None else {}}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    if types is not None:
        spec["policyTypes"] = types
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"namespace": ns, "name": name}, "spec": spec}


def sel(**labels):
    return {"matchLabels": labels}


POD_A = sel(pod="a")
DENY_INGRESS_X = pol("x", "deny-ingress", ingress=[])
DENY_ALL_X = pol("x", "deny-all", types=["Ingress", "Egress"])
ALLOW_ALL_INGRESS_X = pol("x", "allow-all-ingress", ingress=[{}])
# the policy of the documentation's first example, on x/a
DOC_EXAMPLE = pol("x", "test-network-policy", POD_A, types=["Ingress", "Egress"], ingress=[{
    "from": [{"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
             {"namespaceSelector": sel(user="alice")},
             {"podSelector": sel(pod="b")}],
    "ports": [{"protocol": "TCP", "port": 6379}]}], egress=[{
        "to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 5978}]}])
AND_PEER = pol("x", "and", POD_A, ingress=[{"from": [
    {"namespaceSelector": sel(user="alice"), "podSelector": sel(pod="b")}]}])
OR_PEERS = pol("x", "or", POD_A, ingress=[{"from": [{"namespaceSelector": sel(user="alice")},
                                                    {"podSelector": sel(pod="b")}]}])


def expr(key, operator, *values):
    item = {"key": key, "operator": operator}
    if values:
        item["values"] = list(values)
    return {"matchExpressions": [item]}


# (case id, policies, source, destination, port, protocol, outcome, deciding policies or None)
CASES = [
    # isolation and its absence
    ("no-policy-allows-all", [], "x/a", "x/b", 80, "TCP", "allowed", []),
    ("deny-ingress-isolates-destination", [DENY_INGRESS_X], "y/a", "x/a", 80, "TCP", "denied", ["x/deny-ingress"]),
    ("deny-ingress-same-namespace", [DENY_INGRESS_X], "x/b", "x/a", 80, "TCP", "denied", ["x/deny-ingress"]),
    ("deny-ingress-leaves-egress-open", [DENY_INGRESS_X], "x/a", "y/a", 80, "TCP", "allowed", []),
    ("deny-ingress-leaves-other-namespaces", [DENY_INGRESS_X], "y/a", "y/b", 80, "TCP", "allowed", []),
    ("deny-all-blocks-egress", [DENY_ALL_X], "x/a", "y/a", 80, "TCP", "denied", ["x/deny-all"]),
    ("deny-all-blocks-ingress", [DENY_ALL_X], "z/c", "x/b", 81, "UDP", "denied", ["x/deny-all"]),
    # policyTypes inference: egress [] without policyTypes only isolates ingress
    ("egress-empty-without-types-no-egress-isolation", [pol("x", "p", egress=[])], "x/a", "y/a", 80, "TCP",
     "allowed", []),
    ("egress-empty-without-types-isolates-ingress", [pol("x", "p", egress=[])], "y/a", "x/a", 80, "TCP",
     "denied", ["x/p"]),
    ("egress-type-with-no-rules-denies-egress", [pol("x", "p", egress=[], types=["Egress"])], "x/a", "y/a", 80,
     "TCP", "denied", ["x/p"]),
    ("egress-only-policy-leaves-ingress-open", [pol("x", "p", egress=[], types=["Egress"])], "y/a", "x/a", 80,
     "TCP", "allowed", []),
    ("egress-rules-infer-egress-type", [pol("x", "p", egress=[{"ports": [{"port": 80}]}])], "x/a", "y/a", 81,
     "TCP", "denied", ["x/p"]),
    ("ingress-rules-ignored-when-types-egress-only",
     [pol("x", "p", ingress=[], egress=[{}], types=["Egress"])], "y/a", "x/a", 80, "TCP", "allowed", []),
    # union of policies
    ("allow-all-ingress-unions-with-deny", [DENY_INGRESS_X, ALLOW_ALL_INGRESS_X], "y/a", "x/a", 80, "TCP",
     "allowed", ["x/allow-all-ingress"]),
    ("allow-port-80-then-allow-all-takes-precedence",
     [pol("x", "allow-80", ingress=[{"ports": [{"port": 80}]}]), pol("x", "allow-all", ingress=[{}])],
     "y/a", "x/a", 81, "TCP", "allowed", ["x/allow-all"]),
    ("allow-port-80-only", [pol("x", "allow-80", ingress=[{"ports": [{"port": 80}]}])], "y/a", "x/a", 81, "TCP",
     "denied", ["x/allow-80"]),
    ("policy-selecting-other-pod-does-not-isolate", [pol("x", "p", sel(pod="b"), ingress=[])], "y/a", "x/a", 80,
     "TCP", "allowed", []),
    ("empty-pod-selector-selects-every-pod", [pol("x", "p", {}, ingress=[])], "y/a", "x/c", 80, "TCP",
     "denied", ["x/p"]),
    ("policy-never-selects-pods-of-another-namespace", [pol("y", "p", {}, ingress=[])], "z/a", "x/a", 80, "TCP",
     "allowed", []),
    # peers: podSelector, namespaceSelector, both, OR
    ("pod-selector-peer-same-namespace", [pol("x", "p", POD_A, ingress=[{"from": [{"podSelector": sel(pod="b")}]}])],
     "x/b", "x/a", 80, "TCP", "allowed", ["x/p"]),
    ("pod-selector-peer-not-other-namespace",
     [pol("x", "p", POD_A, ingress=[{"from": [{"podSelector": sel(pod="b")}]}])], "y/b", "x/a", 80, "TCP",
     "denied", ["x/p"]),
    ("pod-selector-peer-other-pod-denied",
     [pol("x", "p", POD_A, ingress=[{"from": [{"podSelector": sel(pod="b")}]}])], "x/c", "x/a", 80, "TCP",
     "denied", ["x/p"]),
    ("namespace-selector-peer", [pol("x", "p", POD_A, ingress=[{"from": [{"namespaceSelector": sel(ns="y")}]}])],
     "y/c", "x/a", 80, "TCP", "allowed", ["x/p"]),
    ("namespace-selector-peer-excludes-own-namespace",
     [pol("x", "p", POD_A, ingress=[{"from": [{"namespaceSelector": sel(ns="y")}]}])], "x/b", "x/a", 80, "TCP",
     "denied", ["x/p"]),
    ("empty-namespace-selector-is-every-namespace",
     [pol("x", "p", POD_A, ingress=[{"from": [{"namespaceSelector": {}}]}])], "z/c", "x/a", 80, "TCP",
     "allowed", ["x/p"]),
    ("empty-namespace-selector-is-not-external",
     [pol("x", "p", POD_A, ingress=[{"from": [{"namespaceSelector": {}}]}])], "203.0.113.9", "x/a", 80, "TCP",
     "denied", ["x/p"]),
    ("empty-from-is-everyone-even-external", [pol("x", "p", POD_A, ingress=[{"ports": [{"port": 80}]}])],
     "203.0.113.9", "x/a", 80, "TCP", "allowed", ["x/p"]),
    ("and-peer-both-match", [AND_PEER], "y/b", "x/a", 80, "TCP", "allowed", ["x/and"]),
    ("and-peer-namespace-only-match", [AND_PEER], "y/a", "x/a", 80, "TCP", "denied", ["x/and"]),
    ("and-peer-pod-only-match", [AND_PEER], "x/b", "x/a", 80, "TCP", "denied", ["x/and"]),
    ("or-peers-namespace-branch", [OR_PEERS], "y/a", "x/a", 80, "TCP", "allowed", ["x/or"]),
    ("or-peers-pod-branch", [OR_PEERS], "x/b", "x/a", 80, "TCP", "allowed", ["x/or"]),
    ("or-peers-neither", [OR_PEERS], "z/b", "x/a", 80, "TCP", "denied", ["x/or"]),
    ("match-expressions-in", [pol("x", "p", POD_A, ingress=[{"from": [{"podSelector": expr("pod", "In", "b")}]}])],
     "x/b", "x/a", 80, "TCP", "allowed", ["x/p"]),
    ("match-expressions-notin-namespace",
     [pol("x", "p", POD_A, ingress=[{"from": [{"namespaceSelector": expr("ns", "NotIn", "x")}]}])],
     "x/b", "x/a", 80, "TCP", "denied", ["x/p"]),
    ("match-expressions-notin-other-namespace",
     [pol("x", "p", POD_A, ingress=[{"from": [{"namespaceSelector": expr("ns", "NotIn", "x")}]}])],
     "z/b", "x/a", 80, "TCP", "allowed", ["x/p"]),
    ("match-expressions-exists", [pol("x", "p", POD_A, ingress=[{"from": [
        {"namespaceSelector": expr("user", "Exists")}]}])], "y/c", "x/a", 80, "TCP", "allowed", ["x/p"]),
    ("match-expressions-does-not-exist", [pol("x", "p", POD_A, ingress=[{"from": [
        {"namespaceSelector": expr("user", "DoesNotExist")}]}])], "y/c", "x/a", 80, "TCP", "denied", ["x/p"]),
    # the documentation's example policy
    ("doc-example-ipblock", [DOC_EXAMPLE], "172.17.0.5", "x/a", 6379, "TCP", "allowed", ["x/test-network-policy"]),
    ("doc-example-ipblock-except", [DOC_EXAMPLE], "172.17.1.5", "x/a", 6379, "TCP", "denied",
     ["x/test-network-policy"]),
    ("doc-example-ipblock-upper-range", [DOC_EXAMPLE], "172.17.200.1", "x/a", 6379, "TCP", "allowed",
     ["x/test-network-policy"]),
    ("doc-example-namespace", [DOC_EXAMPLE], "y/c", "x/a", 6379, "TCP", "allowed", ["x/test-network-policy"]),
    ("doc-example-pod", [DOC_EXAMPLE], "x/b", "x/a", 6379, "TCP", "allowed", ["x/test-network-policy"]),
    ("doc-example-wrong-port", [DOC_EXAMPLE], "x/b", "x/a", 6380, "TCP", "denied", ["x/test-network-policy"]),
    ("doc-example-wrong-protocol", [DOC_EXAMPLE], "x/b", "x/a", 6379, "UDP", "denied", ["x/test-network-policy"]),
    ("doc-example-egress-cidr", [DOC_EXAMPLE], "x/a", "10.0.0.7", 5978, "TCP", "allowed",
     ["x/test-network-policy"]),
    ("doc-example-egress-outside-cidr", [DOC_EXAMPLE], "x/a", "10.0.9.7", 5978, "TCP", "denied",
     ["x/test-network-policy"]),
    ("doc-example-egress-to-pod-denied", [DOC_EXAMPLE], "x/a", "y/a", 80, "TCP", "denied",
     ["x/test-network-policy"]),
    # except is not a deny: another rule may allow the excepted range
    ("ip-in-except-allowed-by-other-rule", [pol("x", "p", POD_A, ingress=[
        {"from": [{"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.5.0/24"]}}]},
        {"from": [{"ipBlock": {"cidr": "192.168.5.0/24"}}]}])], "192.168.5.9", "x/a", 80, "TCP", "allowed", ["x/p"]),
    ("ipblock-matches-pod-ip", [pol("x", "p", POD_A, egress=[{"to": [{"ipBlock": {"cidr": "10.0.2.2/32"}}]}],
                                    types=["Egress"])], "x/a", "y/b", 80, "TCP", "allowed", ["x/p"]),
    ("ipblock-except-excludes-pod-ip", [pol("x", "p", POD_A, egress=[{"to": [
        {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.2.2/32"]}}]}], types=["Egress"])],
     "x/a", "y/b", 80, "TCP", "denied", ["x/p"]),
    ("cidr-source-partly-allowed", [DOC_EXAMPLE], "172.17.0.0/16", "x/a", 6379, "TCP", "partial",
     ["x/test-network-policy"]),
    # ports: numbers, ranges, names, protocols
    ("end-port-upper-bound", [pol("x", "p", POD_A, egress=[{"ports": [{"port": 32000, "endPort": 32768}]}],
                                  types=["Egress"])], "x/a", "10.0.0.1", 32768, "TCP", "allowed", ["x/p"]),
    ("end-port-above-range", [pol("x", "p", POD_A, egress=[{"ports": [{"port": 32000, "endPort": 32768}]}],
                                  types=["Egress"])], "x/a", "10.0.0.1", 32769, "TCP", "denied", ["x/p"]),
    ("end-port-below-range", [pol("x", "p", POD_A, egress=[{"ports": [{"port": 32000, "endPort": 32768}]}],
                                  types=["Egress"])], "x/a", "10.0.0.1", 31999, "TCP", "denied", ["x/p"]),
    ("named-port-ingress", [pol("x", "p", POD_A, ingress=[{"ports": [{"port": "serve-80-tcp"}]}])],
     "y/a", "x/a", 80, "TCP", "allowed", ["x/p"]),
    ("named-port-ingress-other-port", [pol("x", "p", POD_A, ingress=[{"ports": [{"port": "serve-80-tcp"}]}])],
     "y/a", "x/a", 81, "TCP", "denied", ["x/p"]),
    ("named-port-needs-matching-protocol", [pol("x", "p", POD_A, ingress=[
        {"ports": [{"port": "serve-80-tcp", "protocol": "UDP"}]}])], "y/a", "x/a", 80, "UDP", "denied", ["x/p"]),
    ("named-port-egress-resolved-on-destination", [pol("x", "p", POD_A, egress=[
        {"ports": [{"port": "serve-81-tcp"}]}], types=["Egress"])], "x/a", "y/a", 81, "TCP", "allowed", ["x/p"]),
    ("named-port-egress-to-external-never-matches", [pol("x", "p", POD_A, egress=[
        {"ports": [{"port": "serve-81-tcp"}]}], types=["Egress"])], "x/a", "198.51.100.1", 81, "TCP", "denied",
     ["x/p"]),
    ("query-by-port-name", [pol("x", "p", POD_A, ingress=[{"ports": [{"port": 81}]}])],
     "y/a", "x/a", "serve-81-tcp", "TCP", "allowed", ["x/p"]),
    ("protocol-only-port-allows-every-port", [pol("x", "p", POD_A, ingress=[{"ports": [{"protocol": "TCP"}]}])],
     "y/a", "x/a", 81, "TCP", "allowed", ["x/p"]),
    ("protocol-only-port-other-protocol", [pol("x", "p", POD_A, ingress=[{"ports": [{"protocol": "TCP"}]}])],
     "y/a", "x/a", 80, "UDP", "denied", ["x/p"]),
    ("sctp-is-not-tcp", [pol("x", "p", POD_A, ingress=[{"ports": [{"protocol": "SCTP", "port": 80}]}])],
     "y/a", "x/a", 80, "TCP", "denied", ["x/p"]),
    ("sctp-rule-allows-sctp", [pol("x", "p", POD_A, ingress=[{"ports": [{"protocol": "SCTP", "port": 80}]}])],
     "y/a", "x/a", 80, "SCTP", "allowed", ["x/p"]),
    ("udp-only-policy-blocks-tcp", [pol("x", "p", POD_A, ingress=[{"ports": [{"protocol": "UDP", "port": 81}]}])],
     "y/a", "x/a", 81, "TCP", "denied", ["x/p"]),
    # both ends must agree
    ("client-egress-denies-even-if-server-allows", [
        pol("x", "egress-to-ya", POD_A, egress=[{"to": [{"namespaceSelector": sel(ns="y"),
                                                         "podSelector": sel(pod="a")}]}]),
        pol("y", "allow-from-xa", sel(pod="b"), ingress=[{"from": [{"namespaceSelector": sel(ns="x"),
                                                                    "podSelector": sel(pod="a")}]}])],
     "x/a", "y/b", 80, "TCP", "denied", ["x/egress-to-ya"]),
    ("client-egress-and-server-ingress-agree", [
        pol("x", "egress-to-ya", POD_A, egress=[{"to": [{"namespaceSelector": sel(ns="y"),
                                                         "podSelector": sel(pod="a")}]}]),
        pol("y", "allow-from-xa", sel(pod="a"), ingress=[{"from": [{"namespaceSelector": sel(ns="x"),
                                                                    "podSelector": sel(pod="a")}]}])],
     "x/a", "y/a", 80, "TCP", "allowed", ["x/egress-to-ya", "y/allow-from-xa"]),
    ("ingress-and-egress-together-port-81", [pol("x", "both", POD_A, types=["Egress", "Ingress"],
                                                 ingress=[{"from": [{"podSelector": sel(pod="b")}]}],
                                                 egress=[{"ports": [{"port": 80}]}])],
     "x/a", "y/a", 81, "TCP", "denied", ["x/both"]),
    ("ingress-and-egress-together-port-80", [pol("x", "both", POD_A, types=["Egress", "Ingress"],
                                                 ingress=[{"from": [{"podSelector": sel(pod="b")}]}],
                                                 egress=[{"ports": [{"port": 80}]}])],
     "x/a", "y/a", 80, "TCP", "allowed", ["x/both"]),
    ("egress-and-ingress-ports-do-not-overlap", [
        pol("x", "out-80", POD_A, egress=[{"ports": [{"port": 80}]}], types=["Egress"]),
        pol("y", "in-81", POD_A, ingress=[{"ports": [{"port": 81}]}])],
     "x/a", "y/a", None, "TCP", "denied", ["x/out-80", "y/in-81"]),
    ("any-port-partly-allowed", [pol("x", "p", POD_A, ingress=[{"ports": [{"port": 80}]}])],
     "y/a", "x/a", None, "TCP", "partial", ["x/p"]),
    # ICMP (ping): only port-less rules
    ("icmp-denied-by-default-deny", [DENY_INGRESS_X], "y/a", "x/a", None, "ICMP", "denied", ["x/deny-ingress"]),
    ("icmp-allowed-by-portless-rule", [DENY_INGRESS_X, ALLOW_ALL_INGRESS_X], "y/a", "x/a", None, "ICMP",
     "allowed", ["x/allow-all-ingress"]),
    ("icmp-not-allowed-by-port-rule", [pol("x", "p", POD_A, ingress=[{"ports": [{"port": 80}]}])],
     "y/a", "x/a", None, "ICMP", "denied", ["x/p"]),
    ("icmp-no-policy", [], "y/a", "x/a", None, "ICMP", "allowed", []),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_flow_table(case):
    _id, policies, source, destination, port, protocol, outcome, deciding = case
    verdict = ne.evaluate(policies, NAMESPACES, PODS.values(), source, destination, port, protocol)
    assert verdict.outcome == outcome, verdict.reasons
    assert verdict.allowed == (outcome == "allowed")
    if deciding is not None:
        assert verdict.deciding_policies == deciding, verdict.reasons


def test_the_table_is_big_enough():
    assert len(CASES) >= 30
    assert {c[6] for c in CASES} == {"allowed", "denied", "partial"}


def test_reasons_name_the_isolating_policy_and_the_rule():
    denied = ne.evaluate([DENY_INGRESS_X], NAMESPACES, PODS.values(), "y/a", "x/a", 80)
    assert any("isolated for ingress by x/deny-ingress" in r for r in denied.reasons)
    assert denied.ingress.isolated and not denied.egress.isolated
    allowed = ne.evaluate([OR_PEERS], NAMESPACES, PODS.values(), "x/b", "x/a", 80)
    assert any("x/or rule 0 (pods pod=b)" in r for r in allowed.reasons)
    as_dict = allowed.as_dict()
    assert as_dict["outcome"] == "allowed" and as_dict["ingress"]["allowing_policies"] == ["x/or"]


def test_partial_answers_say_what_is_allowed():
    verdict = ne.evaluate([DOC_EXAMPLE], NAMESPACES, PODS.values(), "172.17.0.0/16", "x/a", 6379)
    assert verdict.allowed_cidrs == ["172.17.0.0/24", "172.17.2.0/23", "172.17.4.0/22", "172.17.8.0/21",
                                     "172.17.16.0/20", "172.17.32.0/19", "172.17.64.0/18", "172.17.128.0/17"]
    ports = ne.evaluate([pol("x", "p", POD_A, ingress=[{"ports": [{"port": 80}, {"port": 8000, "endPort": 8010}]}])],
                        NAMESPACES, PODS.values(), "y/a", "x/a", None)
    assert ports.partial and ports.allowed_ports == "80,8000-8010"


def test_ipblock_on_pod_ips_is_flagged_as_plugin_defined():
    verdict = ne.evaluate([CASES[[c[0] for c in CASES].index("ipblock-matches-pod-ip")][1][0]], NAMESPACES,
                          PODS.values(), "x/a", "y/b", 80)
    assert nm.IPBLOCK_NOTE in verdict.reasons


def test_pod_without_ip_cannot_match_ipblock():
    pod = {"metadata": {"namespace": "y", "name": "new", "labels": {"pod": "new"}}, "spec": {}, "status": {}}
    policy = pol("x", "p", POD_A, ingress=[{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])
    verdict = ne.evaluate([policy], NAMESPACES, [pod], "y/new", PODS["x/a"], 80)
    assert verdict.outcome == "denied"
    assert any("has no IP yet" in r for r in verdict.reasons)


def test_unknown_named_port_in_question_is_an_error():
    with pytest.raises(nm.EvaluationError, match="no TCP port named 'web'"):
        ne.evaluate([], NAMESPACES, PODS.values(), "y/a", "x/a", "web")
    with pytest.raises(nm.EvaluationError, match="protocol"):
        ne.evaluate([], NAMESPACES, PODS.values(), "y/a", "x/a", 80, "GRE")


def test_unresolvable_named_port_in_rule_is_explained():
    policy = pol("x", "p", POD_A, ingress=[{"ports": [{"port": "metrics"}]}])
    verdict = ne.evaluate([policy], NAMESPACES, PODS.values(), "y/a", "x/a", 80)
    assert not verdict.allowed
    assert any("named port 'metrics' is not a TCP container port of x/a" in r for r in verdict.reasons)


def test_traffic_from_own_node_is_always_allowed():
    own = nm.Endpoint.node("node-a", ["192.168.66.101"])
    other = nm.Endpoint.node("node-b", ["192.168.66.102"])
    assert ne.evaluate([DENY_INGRESS_X], NAMESPACES, PODS.values(), own, "x/a", 80).allowed
    assert not ne.evaluate([DENY_INGRESS_X], NAMESPACES, PODS.values(), other, "x/a", 80).allowed


def test_namespace_name_label_depends_on_the_api_server():
    policy = pol("x", "p", POD_A, ingress=[{"from": [{"namespaceSelector": sel(**{nm.NAME_LABEL: "y"})}]}])
    # Kubernetes < 1.21 does not set kubernetes.io/metadata.name
    assert not ne.evaluate([policy], NAMESPACES, PODS.values(), "y/a", "x/a", 80).allowed
    assert ne.evaluate([policy], NAMESPACES, PODS.values(), "y/a", "x/a", 80, name_label=True).allowed


def test_unknown_namespace_labels_are_reported():
    policy = pol("x", "p", POD_A, ingress=[{"from": [{"namespaceSelector": sel(team="blue")}]}])
    stranger = {"namespace": "w", "labels": {"pod": "a"}, "ips": ["10.9.9.9"], "name": "w/a"}
    verdict = ne.evaluate([policy], NAMESPACES, (), stranger, PODS["x/a"], 80)
    assert not verdict.allowed and any("labels of namespace(s) w are unknown" in r for r in verdict.reasons)


def test_policy_types_inference():
    assert nm.policy_types(pol("x", "p")) == ["Ingress"]
    assert nm.policy_types(pol("x", "p", egress=[])) == ["Ingress"]
    assert nm.policy_types(pol("x", "p", egress=[{}])) == ["Ingress", "Egress"]
    assert nm.policy_types(pol("x", "p", egress=[], types=["Egress"])) == ["Egress"]


def test_selector_matching_and_parsing():
    assert nm.selector_matches({}, {})
    assert not nm.selector_matches(None, {"a": "b"})
    assert nm.selector_matches(expr("a", "NotIn", "x"), {})
    assert not nm.selector_matches(expr("a", "Bogus", "x"), {"a": "y"})
    # the doctor's peer.pod_selector goes through selectors.parse and is matched as an API selector
    parsed = selectors.parse("pod_selector", "app=web, tier!=db,env in (prod, stage),!legacy,team").to_api()
    assert parsed["matchLabels"] == {"app": "web"}
    assert parsed["matchExpressions"] == [
        {"key": "env", "operator": "In", "values": ["prod", "stage"]},
        {"key": "legacy", "operator": "DoesNotExist"}, {"key": "team", "operator": "Exists"},
        {"key": "tier", "operator": "NotIn", "values": ["db"]}]
    assert nm.selector_matches(parsed, {"app": "web", "env": "prod", "team": "a"})
    assert not nm.selector_matches(parsed, {"app": "web", "env": "prod", "team": "a", "legacy": "1"})
    with pytest.raises(ValueError):
        selectors.parse("pod_selector", "a=b=c")
    assert nm.selector_text(parsed) == "app=web,env in (prod,stage),!legacy,team,tier notin (db)"


def test_impact_lists_the_flows_a_change_denies_and_allows():
    endpoints = [PODS["x/a"], PODS["x/b"], PODS["y/a"], nm.Endpoint.external("203.0.113.0/24")]
    before = [ALLOW_ALL_INGRESS_X]
    after = nimpact.merge_policies(before, [DENY_ALL_X, dict(ALLOW_ALL_INGRESS_X, state="absent")])
    changes = nimpact.impact(before, after, NAMESPACES, endpoints, [(80, "TCP")])
    flows = sorted((c.as_dict()["source"], c.as_dict()["destination"], c.change) for c in changes)
    assert ("x/a", "x/b", "newly_denied") in flows
    assert ("y/a", "x/a", "newly_denied") in flows
    assert ("x/a", "203.0.113.0/24", "newly_denied") in flows
    assert ("y/a", "y/a", "newly_denied") not in flows and all(src != "y/a" or dst.startswith("x/")
                                                               for src, dst, _c in flows)
    assert all(change == "newly_denied" for _s, _d, change in flows)
    reverse = nimpact.impact(after, before, NAMESPACES, endpoints, [(80, "TCP")])
    assert len(reverse) == len(changes) and {c.change for c in reverse} == {"newly_allowed"}


def test_merge_policies_replaces_by_name():
    old = pol("x", "p", ingress=[])
    new = pol("x", "p", ingress=[{}])
    assert nimpact.merge_policies([old], [new]) == [new]
    assert nimpact.merge_policies([old], [dict(old, state="absent")]) == []


def test_check_policy_mirrors_api_validation():
    bad = pol("x", "bad", ingress=[{"from": [{"ipBlock": {"cidr": "10.0.0.1/8"}, "podSelector": {}},
                                             {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/24"]}},
                                             {}],
                                    "ports": [{"port": "http", "endPort": 90}, {"port": 90, "endPort": 80},
                                              {"port": 70000}, {"protocol": "ICMP"}]}])
    problems = "\n".join(nm.check_policy(bad))
    for text in ("may not specify both ipBlock and another peer", "is not a valid CIDR",
                 "must be a strict subset", "must specify a peer", "may not be set unless port is a number",
                 "greater than or equal to port", "70000 is not a port number", "'ICMP' is not TCP, UDP or SCTP"):
        assert text in problems
    assert nm.check_policy(DOC_EXAMPLE) == []


def test_describe_policy():
    lines = nm.describe_policy(DOC_EXAMPLE)
    assert lines[0] == "selects pods pod=a in x; isolates ingress and egress"
    assert "ingress: allow from 172.17.0.0/16 except 172.17.1.0/24; namespaces user=alice; pods pod=b on TCP/6379" \
        in lines
    assert nm.describe_policy(DENY_INGRESS_X)[1] == "ingress: nothing allowed"


def test_ip_set_arithmetic():
    whole = nsets.IPSet.parse("10.0.0.0/24")
    hole = whole.difference(nsets.IPSet.parse("10.0.0.128/25"))
    assert hole.cidrs() == ["10.0.0.0/25"]
    assert whole.contains(hole) and not hole.contains(whole)
    assert hole.union(nsets.IPSet.parse("10.0.0.128/25")) == whole
    assert not nsets.IPSet.parse("fd00::/64").intersection(whole)
    assert nsets.IPSet.identity().cidrs() == ["pod"]


def test_namespaces_take_any_mapping_of_labels():
    # NamespacesLike promises {name: labels} as any Mapping; only a dict was read as one, and
    # another Mapping was iterated as Namespace objects (AttributeError: 'str' has no 'get')
    spaces = nm.Namespaces(types.MappingProxyType({"x": {"team": "a"}}), name_label=True)
    assert spaces.of("x") == {"team": "a", nm.NAME_LABEL: "x"}
    policy = {"metadata": {"name": "from-team-a", "namespace": "y"},
              "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                       "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}]}]}}
    verdict = ne.evaluate([policy], types.MappingProxyType({"x": {"team": "a"}, "y": {}}), None,
                          {"namespace": "x", "labels": {}, "ips": ["10.0.0.1"]},
                          {"namespace": "y", "labels": {}, "ips": ["10.0.0.2"]}, 80)
    assert verdict.allowed


def test_ipblock_except_of_the_other_family_is_reported():
    block = {"cidr": "10.0.0.0/8", "except": ["fd00::/64", "10.1.0.0/16", "10.0.0.0/8"]}
    policy = {"metadata": {"name": "p", "namespace": "x"},
              "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"ipBlock": block}]}]}}
    problems = nm.check_policy(policy)
    assert any("except[0]: fd00::/64 must be a strict subset" in p for p in problems), problems
    assert not any("except[1]" in p for p in problems), problems
    assert any("except[2]: 10.0.0.0/8 must be a strict subset" in p for p in problems), problems
