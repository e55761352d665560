"""Bad input of kubevirt_vm_network_info (the read-only doctor: the options are
refused before anything is read) and of the network_policies and
istio_injection roles' argument specs (refused before the role's first task).
Each names the field and the fix; the proxy sees no write (issue 19)."""

import pytest

from tests.integration.bad_input_cases import case, case_ids, lab_table, role_case

M = "kubevirt_vm_network_info"
NP = "network_policies"
IS = "istio_injection"


def doctor(ns, **more):
    return dict({"namespace": ns, "vm": "target"}, **more)


def cases(ns):
    return [
        # kubevirt_vm_network_info
        case("in-namespace", M, doctor(ns, namespace="Bad_NS"), "namespace", "not a valid name"),
        case("in-vm-name", M, doctor(ns, vm="Bad VM"), "vm", "not a valid name"),
        case("in-vm-no-namespace", M, {"vm": "target"}, "vm", "give namespace too"),
        case("in-vm-and-selector", M, doctor(ns, vm_selector="app=x"), "vm", "vm_selector"),
        case("in-selector-syntax", M, doctor(ns, vm=None, vm_selector="app in x"), "vm_selector",
             "not a label selector"),
        case("in-selector-value", M, doctor(ns, vm=None, vm_selector="app=-x"), "vm_selector", "label value"),
        case("in-selector-gt", M, doctor(ns, vm=None, vm_selector="n>1"), "vm_selector", "in (...)"),
        case("in-checks-choice", M, doctor(ns, checks=["interfaces", "firewall"]), "checks", "one or more of"),
        case("in-direction", M, doctor(ns, direction="inbound"), "direction", "one of"),
        case("in-peer-two", M, doctor(ns, peer={"vm": "a", "cidr": "10.0.0.0/8", "port": 80}), "peer",
             "give one of vm, pod_selector, cidr"),
        case("in-peer-none", M, doctor(ns, peer={"port": 80}), "peer", "give vm, pod_selector"),
        case("in-peer-cidr", M, doctor(ns, peer={"cidr": "10.0.0.300/8", "port": 80}), "peer.cidr", "CIDR"),
        case("in-peer-cidr-namespace", M, doctor(ns, peer={"cidr": "10.0.0.0/8", "namespace": "x", "port": 80}),
             "peer", "takes no namespace"),
        case("in-peer-protocol", M, doctor(ns, peer={"vm": "a", "port": 80, "protocol": "HTTP"}), "protocol",
             "one of"),
        case("in-peer-port", M, doctor(ns, peer={"vm": "a", "port": 70000}), "peer.port", "1-65535"),
        case("in-peer-port-name", M, doctor(ns, peer={"vm": "a", "port": "Bad Port"}), "peer.port", "port name"),
        case("in-peer-pod-selector", M, doctor(ns, peer={"pod_selector": "app in x", "port": 80}),
             "peer.pod_selector", "not a label selector"),
        case("in-policy-kind", M, doctor(ns, policies=[{"kind": "Service"}]), "policies[0]", "NetworkPolicy"),
        case("in-policy-name", M, doctor(ns, policies=[{"spec": {}}]), "policies[0]", "metadata.name is required"),
        case("in-policy-state", M, doctor(ns, policies=[{"metadata": {"name": "p"}, "state": "gone"}]),
             "policies[0]", "present or absent"),
        case("in-retries", M, doctor(ns, api_retries=-1), "api_retries", "0 or more"),
        # role argument specs
        role_case("role-np-state", NP, {"network_policies_state": "gone"}, "network_policies_state", "one of"),
        role_case("role-np-namespaces", NP, {"network_policies_namespaces": {"vms": 1}}, "network_policies_namespaces",
                  "list"),
        role_case("role-np-deny", NP, {"network_policies_default_deny": "all"}, "network_policies_default_deny",
                  "one of"),
        role_case("role-np-concurrency", NP, {"network_policies_max_concurrency": "fast"},
                  "network_policies_max_concurrency", "int"),
        role_case("role-np-rules", NP, {"network_policies_namespaces": [ns], "network_policies_rules": [
            {"name": "web"}]}, "direction", "required"),
        role_case("role-np-rule-direction", NP, {"network_policies_namespaces": [ns], "network_policies_rules": [
            {"name": "web", "direction": "inbound"}]}, "direction", "one of"),
        role_case("role-is-mode", IS, {"istio_injection_mode": "ambient"}, "istio_injection_mode", "one of"),
        role_case("role-is-restart", IS, {"istio_injection_restart": "always"}, "istio_injection_restart", "one of"),
        role_case("role-is-batch", IS, {"istio_injection_restart_batch_size": "five"},
                  "istio_injection_restart_batch_size", "int"),
        role_case("role-is-vms", IS, {"istio_injection_vms": [{"names": {"a": 1}, "namespace": ns}]}, "names", "list"),
        role_case("role-is-selector", IS, {"istio_injection_namespace_selector": ["mesh"]},
                  "istio_injection_namespace_selector", "dict"),
    ]


@pytest.fixture(scope="module", name="table")
def table_fixture(lab, tmp_path_factory):
    yield from lab_table(lab, tmp_path_factory, cases)


@pytest.mark.parametrize("case_id", case_ids(cases))
def test_vm_network_info_and_role_bad_input(table, case_id):
    table.assert_case(case_id)


def test_vm_network_info_and_role_bad_inputs_write_nothing(table):
    table.assert_table(30)
