"""Bad input of kubevirt_network_policies: target namespaces and selectors
(empty and negative-only ones refused), rule shapes, peers, CIDRs, ports
(numbers, IANA names, ranges).  Each refused before any write, naming the
field and the fix (issue 19)."""

import pytest

from tests.integration.bad_input_cases import case, case_ids, lab_table

M = "kubevirt_network_policies"


def pol(ns, **more):
    return dict({"namespaces": [ns], "default_deny": "ingress"}, **more)


def rule(ns, **shape):
    return pol(ns, rules=[dict({"name": "web", "direction": "ingress"}, **shape)])


def peer(ns, **item):
    return rule(ns, peers=[item])


def port(ns, **item):
    return rule(ns, ports=[item])


def cases(ns):
    return [
        # targets and task options
        case("np-no-target", M, {"default_deny": "ingress"}, "namespaces", "namespace_selector"),
        case("np-namespace-name", M, pol(ns, namespaces=["Bad_NS"]), "namespaces[0]", "DNS-1123 label"),
        case("np-selector-empty", M, pol(ns, namespaces=None, namespace_selector={}), "namespace_selector",
             "every namespace"),
        case("np-selector-negative", M, pol(ns, namespaces=None, namespace_selector={"match_expressions": [
            {"key": "team", "operator": "DoesNotExist"}]}), "namespace_selector", "positive term"),
        case("np-selector-operator", M, pol(ns, namespaces=None, namespace_selector={"match_expressions": [
            {"key": "team", "operator": "Equals", "values": ["a"]}]}), "operator", "In"),
        case("np-selector-values", M, pol(ns, namespaces=None, namespace_selector={"match_expressions": [
            {"key": "team", "operator": "In"}]}), "values", "at least one value"),
        case("np-selector-exists-values", M, pol(ns, namespaces=None, namespace_selector={"match_expressions": [
            {"key": "team", "operator": "Exists", "values": ["a"]}]}), "values", "takes no values"),
        case("np-selector-key", M, pol(ns, namespaces=None, namespace_selector={"bad key": "x"}),
             "namespace_selector", "bad key"),
        case("np-rendered-selector", M, pol(ns, namespaces=None, namespace_selector={"team": "a"},
                                            state="rendered"), "namespaces", "list namespaces"),
        case("np-policy-set", M, pol(ns, policy_set="bad set!"), "policy_set", "label value"),
        case("np-concurrency", M, pol(ns, max_concurrency=0), "max_concurrency", "1 to 64"),
        case("np-prune-scope", M, pol(ns, prune_scope="cluster", list_scope="namespace"), "prune_scope",
             "list_scope"),
        case("np-default-deny", M, pol(ns, default_deny="all"), "default_deny", "one of"),
        case("np-prefix", M, pol(ns, name_prefix="KV_"), "name", "DNS-1123"),
        case("np-dns-namespace", M, pol(ns, allow_dns=True, dns_namespace="Kube System"), "dns_namespace",
             "DNS-1123"),
        # rules
        case("np-rule-name", M, rule(ns, name="Web App"), "name", "lowercase"),
        case("np-rule-no-name", M, pol(ns, rules=[{"direction": "ingress"}]), "name", "required"),
        case("np-rule-twice", M, pol(ns, rules=[{"name": "a", "direction": "ingress"},
                                                {"name": "a", "direction": "egress"}]), "name", "used twice"),
        case("np-rule-baseline", M, pol(ns, rules=[{"name": "default-deny", "direction": "ingress"}]), "name",
             "baseline"),
        case("np-rule-direction", M, rule(ns, direction="inbound"), "direction", "one of"),
        case("np-rule-unknown", M, rule(ns, from_port=80), "from_port", "Supported parameters"),
        case("np-rule-vm-selector", M, rule(ns, template_selector={"match_labels": {"app": "not valid!"}}),
             "template_selector", "label value"),
        case("np-peers-empty", M, rule(ns, peers=[]), "peers", "omit peers"),
        case("np-peer-empty", M, peer(ns), "peers[0]", "must specify a peer"),
        case("np-peer-cidr-and-selector", M, peer(ns, cidr="10.0.0.0/8", template_selector={"app": "db"}), "peers[0]",
             "ipBlock"),
        case("np-peer-ns-both", M, peer(ns, namespaces=[ns], namespace_selector={"team": "a"}), "peers[0]",
             "not both"),
        case("np-peer-namespaces-empty", M, peer(ns, namespaces=[]), "namespaces", "list namespace names"),
        case("np-cidr-no-prefix", M, peer(ns, cidr="10.0.0.1"), "cidr", "/32"),
        case("np-cidr-host-bits", M, peer(ns, cidr="10.0.0.1/8"), "cidr", "did you mean 10.0.0.0/8"),
        case("np-cidr-leading-zero", M, peer(ns, cidr="010.0.0.0/8"), "cidr", "leading 0s"),
        case("np-cidr-garbage", M, peer(ns, cidr="ten/8"), "cidr", "CIDR"),
        case("np-cidr-mapped", M, peer(ns, cidr="::ffff:10.0.0.0/104"), "cidr", "IPv4 CIDR"),
        case("np-cidr-v6-form", M, peer(ns, cidr="FD00::/64"), "cidr", "canonical"),
        case("np-except-family", M, peer(ns, cidr="10.0.0.0/8", **{"except": ["fd00::/64"]}), "except",
             "family"),
        case("np-except-outside", M, peer(ns, cidr="10.0.0.0/8", **{"except": ["192.168.0.0/16"]}), "except",
             "strict subset"),
        case("np-except-equal", M, peer(ns, cidr="10.0.0.0/8", **{"except": ["10.0.0.0/8"]}), "except",
             "strict subset"),
        # ports
        case("np-ports-empty", M, rule(ns, ports=[]), "ports", "omit ports"),
        case("np-port-zero", M, port(ns, port=0), "port", "1-65535"),
        case("np-port-high", M, port(ns, port=65536), "port", "1-65535"),
        case("np-port-name-upper", M, port(ns, port="HTTP"), "port", "IANA"),
        case("np-port-name-long", M, port(ns, port="a-very-long-service"), "port", "IANA"),
        case("np-port-name-digits", M, port(ns, port="1-2"), "port", "IANA"),
        case("np-port-protocol", M, port(ns, port=80, protocol="tcp"), "protocol", "upper case"),
        case("np-port-protocol-icmp", M, port(ns, port=80, protocol="ICMP"), "protocol", "SCTP"),
        case("np-end-port-order", M, port(ns, port=8080, end_port=8000), "end_port", "greater than or equal"),
        case("np-end-port-named", M, port(ns, port="http", end_port=90), "end_port", "non-numeric"),
        case("np-end-port-alone", M, port(ns, end_port=90), "end_port", "numeric port"),
        case("np-end-port-high", M, port(ns, port=80, end_port=70000), "end_port", "1-65535"),
        # monitoring
        case("np-monitoring-ports", M, pol(ns, allow_monitoring={"namespaces": ["monitoring"]}), "ports",
             "required"),
        case("np-monitoring-ns", M, pol(ns, allow_monitoring={"ports": [{"port": 9100}]}), "namespace_selector",
             "required"),
        case("np-monitoring-both", M, pol(ns, allow_monitoring={"namespaces": ["monitoring"],
                                                                "namespace_selector": {"team": "mon"},
                                                                "ports": [{"port": 9100}]}),
             "namespace_selector", "not both"),
        case("np-allow-from", M, pol(ns, allow_from_namespaces={"match_expressions": [
            {"key": "env", "operator": "notin", "values": ["prod"]}]}), "allow_from_namespaces", "NotIn"),
    ]


@pytest.fixture(scope="module", name="table")
def table_fixture(lab, tmp_path_factory):
    yield from lab_table(lab, tmp_path_factory, cases)


@pytest.mark.parametrize("case_id", case_ids(cases))
def test_kubevirt_network_policies_bad_input(table, case_id):
    table.assert_case(case_id)


def test_kubevirt_network_policies_bad_inputs_write_nothing(table):
    table.assert_table(45)
