"""Bugs that type-checking the private helpers of plugins/module_utils brought
to light (see test_type_hints.py), each kept fixed by a test."""

import types

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_eval as ne
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_model as nm


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
