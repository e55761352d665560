"""Bad input of kubevirt_vm_istio: target namespaces and selectors (empty and
negative-only ones refused), revision mode, versions, DNS names, VM groups,
Services (ports, Istio-reserved ports, app protocols) and ranges.  Each
refused before any write, naming the field and the fix (issue 19)."""

import pytest

from tests.integration.bad_input_cases import case, case_ids, lab_table

M = "kubevirt_vm_istio"


def mesh(ns, **more):
    return dict({"namespaces": [ns]}, **more)


def service(ns, **item):
    return mesh(ns, services=[dict({"name": "web", "template_selector": {"app": "target"}, "ports": [{"port": 8080}]},
                                   **item)])


def cases(ns):
    return [
        case("is-no-target", M, {"mode": "sidecar"}, "namespaces", "namespace_selector"),
        case("is-namespace-name", M, mesh(ns, namespaces=["Bad_NS"]), "namespaces[0]", "DNS-1123 label"),
        case("is-selector-empty", M, {"namespace_selector": {}}, "namespace_selector", "every namespace"),
        case("is-selector-negative", M, {"namespace_selector": {"match_expressions": [
            {"key": "mesh", "operator": "NotIn", "values": ["off"]}]}}, "namespace_selector", "positive term"),
        case("is-selector-value", M, {"namespace_selector": {"mesh": "on!"}}, "namespace_selector", "label value"),
        case("is-rendered-selector", M, {"namespace_selector": {"mesh": "on"}, "state": "rendered"}, "namespaces",
             "list namespaces"),
        case("is-revision-missing", M, mesh(ns, mode="revision"), "revision", "required with mode=revision"),
        case("is-revision-value", M, mesh(ns, mode="revision", revision="1.26 stable"), "revision", "label value"),
        case("is-revision-sidecar", M, mesh(ns, revision="stable"), "revision", "mode=revision"),
        case("is-mode-choice", M, mesh(ns, mode="ambient"), "mode", "one of"),
        case("is-version", M, mesh(ns, istio_version="latest"), "istio_version", "1.26.2"),
        case("is-cluster-domain", M, mesh(ns, cluster_domain="cluster_local"), "cluster_domain", "cluster.local"),
        case("is-mtls-name", M, mesh(ns, mtls="strict", mtls_policy_name="Default"), "mtls_policy_name",
             "lowercase"),
        case("is-mtls-choice", M, mesh(ns, mtls="on"), "mtls", "one of"),
        case("is-batch", M, mesh(ns, restart_batch_size=0), "restart_batch_size", "1 to 100"),
        case("is-concurrency", M, mesh(ns, max_concurrency=100), "max_concurrency", "1 to 64"),
        case("is-restart-absent", M, mesh(ns, state="absent", restart="stopped_only"), "restart", "never or rolling"),
        case("is-restart-timeout", M, mesh(ns, restart_timeout=-5), "restart_timeout", "more than 0"),
        case("is-restart-poll", M, mesh(ns, restart_poll=0), "restart_poll", "more than 0"),
        case("is-istio-namespace", M, mesh(ns, istio_namespace="Istio System"), "istio_namespace", "DNS-1123"),
        # VM groups
        case("is-vms-empty-selector", M, mesh(ns, vms=[{"template_selector": {}}]), "vms[0].template_selector", "omit vms"),
        case("is-vms-negative", M, mesh(ns, vms=[{"template_selector": {"match_expressions": [
            {"key": "app", "operator": "DoesNotExist"}]}}]), "vms[0].template_selector", "positive term"),
        case("is-vms-nothing", M, mesh(ns, vms=[{"namespace": ns}]), "vms[0]", "names and/or template_selector"),
        case("is-vms-namespace", M, mesh(ns, vms=[{"namespace": "elsewhere", "names": ["target"]}]),
             "vms[0].namespace", "target namespaces"),
        case("is-vms-name-missing", M, mesh(ns, vms=[{"names": ["no-such-vm"]}]), "vms[0].names", "does not exist"),
        # Services
        case("is-svc-name", M, service(ns, name="Web_1"), "services[0].name", "DNS-1123 label"),
        case("is-svc-no-selector", M, service(ns, template_selector={}), "services[0].template_selector", "required"),
        case("is-svc-expressions", M, service(ns, template_selector={"match_expressions": [
            {"key": "app", "operator": "In", "values": ["a", "b"]}]}), "services[0].template_selector", "equality"),
        case("is-svc-no-ports", M, service(ns, ports=[]), "services[0].ports", "needs at least one port"),
        case("is-svc-port", M, service(ns, ports=[{"port": 70000}]), "services[0].ports[0].port", "1 to 65535"),
        case("is-svc-reserved", M, service(ns, ports=[{"port": 80, "target_port": 15001}]),
             "services[0].ports[0].target_port", "reserved by Istio"),
        case("is-svc-app-protocol", M, service(ns, ports=[{"port": 80, "app_protocol": "gopher"}]),
             "services[0].ports[0].app_protocol", "one of"),
        case("is-svc-protocol", M, service(ns, ports=[{"port": 80, "protocol": "SCTP"}]), "protocol", "one of"),
        case("is-svc-port-twice", M, service(ns, ports=[{"port": 80}, {"port": 80}]), "services[0].ports[1].port",
             "twice"),
        case("is-svc-port-name", M, service(ns, ports=[{"port": 80, "name": "Web_Port"}]),
             "services[0].ports[0].name", "http-web"),
        case("is-svc-twice", M, mesh(ns, services=[
            {"name": "web", "template_selector": {"app": "a"}, "ports": [{"port": 80}]},
            {"name": "web", "template_selector": {"app": "b"}, "ports": [{"port": 81}]}]), "services[1].name", "twice"),
        case("is-svc-type", M, service(ns, type="ExternalName"), "type", "one of"),
    ]


@pytest.fixture(scope="module", name="table")
def table_fixture(lab, tmp_path_factory):
    # a cluster with Istio running (its injector registered): otherwise that refusal comes first
    yield from lab_table(lab, tmp_path_factory, cases, istio=True)


@pytest.mark.parametrize("case_id", case_ids(cases))
def test_kubevirt_vm_istio_bad_input(table, case_id):
    table.assert_case(case_id)


def test_kubevirt_vm_istio_bad_inputs_write_nothing(table):
    table.assert_table(35)
