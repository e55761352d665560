"""Bad input of kubevirt_vm_service and kubevirt_binding_plugin: Service
names (DNS-1035), port numbers and IANA port names, conflicting and exclusive
options, selectors, and binding plugin names, images, references and
quantities.  Each refused before any write, naming the field and the fix
(issue 19)."""

import pytest

from tests.integration.bad_input_cases import case, case_ids, lab_table

SVC = "kubevirt_vm_service"
BP = "kubevirt_binding_plugin"


def svc(ns, **more):
    return dict({"name": "web", "namespace": ns, "vm": "target", "ports": [{"port": 80}]}, **more)


def plugin(**more):
    return dict({"name": "kvnet-bad-input", "sidecar_image": "quay.io/example/sidecar:v1"}, **more)


def cases(ns):
    return [
        # kubevirt_vm_service
        case("svc-name-digit", SVC, svc(ns, name="1web"), "name", "DNS-1035"),
        case("svc-name-dot", SVC, svc(ns, name="web.a"), "name", "DNS-1035"),
        case("svc-name-long", SVC, svc(ns, name="w" * 64), "name", "at most 63"),
        case("svc-namespace", SVC, svc(ns, namespace="Bad_NS"), "namespace", "DNS-1123 label"),
        case("svc-no-target", SVC, svc(ns, vm=None), "vm", "exactly one of"),
        case("svc-vm-and-vms", SVC, svc(ns, vms=["a"]), "vm", "vms"),
        case("svc-selector-value", SVC, svc(ns, vm=None, selector={"tier": 5}), "selector.tier", "quote"),
        case("svc-selector-key", SVC, svc(ns, vm=None, selector={"bad key": "x"}), "selector.bad key", "at most 63"),
        case("svc-selector-empty", SVC, svc(ns, vm=None, selector={}), "selector", "vm"),
        case("svc-vmi-id-group", SVC, svc(ns, vm=None, vms=["target"], selector_from="vmi_id"), "selector_from",
             "use it with vm"),
        case("svc-type-choice", SVC, svc(ns, type="ExternalName"), "type", "one of"),
        case("svc-dns-type", SVC, svc(ns, dns=True, type="ClusterIP"), "type", "headless"),
        case("svc-no-ports", SVC, svc(ns, ports=[]), "ports", "at least one port"),
        case("svc-port-zero", SVC, svc(ns, ports=[{"port": 0}]), "ports[0].port", "1 to 65535"),
        case("svc-port-high", SVC, svc(ns, ports=[{"port": 65536}]), "ports[0].port", "1 to 65535"),
        case("svc-target-port", SVC, svc(ns, ports=[{"port": 80, "target_port": 70000}]), "ports[0].target_port",
             "1 to 65535"),
        case("svc-target-port-name", SVC, svc(ns, ports=[{"port": 80, "target_port": "Http_Port"}]),
             "ports[0].target_port", "port name"),
        case("svc-port-name", SVC, svc(ns, ports=[{"port": 80, "name": "HTTP"}]), "ports[0].name", "lowercase"),
        case("svc-port-name-long", SVC, svc(ns, ports=[{"port": 80, "name": "http-alternate-1"}]), "ports[0].name",
             "15"),
        case("svc-ports-unnamed", SVC, svc(ns, ports=[{"port": 80}, {"port": 443}]), "ports", "needs a name"),
        case("svc-ports-dup-name", SVC, svc(ns, ports=[{"port": 80, "name": "web"}, {"port": 81, "name": "web"}]),
             "ports", "used twice"),
        case("svc-ports-dup", SVC, svc(ns, ports=[{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]),
             "ports", "listed twice"),
        case("svc-protocol", SVC, svc(ns, ports=[{"port": 80, "protocol": "HTTP"}]), "protocol", "one of"),
        case("svc-node-port-type", SVC, svc(ns, ports=[{"port": 80, "node_port": 30080}]), "ports[0].node_port",
             "NodePort"),
        case("svc-node-port-range", SVC, svc(ns, type="NodePort", ports=[{"port": 80, "node_port": 80}]),
             "ports[0].node_port", "30000"),
        case("svc-etp", SVC, svc(ns, external_traffic_policy="Local"), "external_traffic_policy", "NodePort"),
        case("svc-affinity-timeout", SVC, svc(ns, session_affinity_timeout=60), "session_affinity_timeout",
             "ClientIP"),
        case("svc-affinity-range", SVC, svc(ns, session_affinity="ClientIP", session_affinity_timeout=90000),
             "session_affinity_timeout", "86400"),
        case("svc-cluster-domain", SVC, svc(ns, cluster_domain="cluster_local"), "cluster_domain", "DNS domain"),
        case("svc-restart-nowait", SVC, svc(ns, restart=True, wait=False), "restart", "wait=true"),
        case("svc-labels", SVC, svc(ns, labels={"bad key": "x"}), "labels.bad key", "at most 63"),
        case("svc-annotations", SVC, svc(ns, annotations={"-x": "y"}), "annotations.-x", "not a valid key"),
        case("svc-label-value", SVC, svc(ns, labels={"tier": "x" * 64}), "labels.tier", "at most 63"),
        case("svc-vm-missing", SVC, svc(ns, vm="no-such-vm"), "vm", "not found"),
        case("svc-wait-timeout", SVC, svc(ns, wait_timeout=-5), "wait_timeout", "more than 0"),
        # kubevirt_binding_plugin
        case("bp-name", BP, plugin(name="bad name!"), "name", "plugin name"),
        case("bp-name-long", BP, plugin(name="p" * 64), "name", "at most 63"),
        case("bp-nothing", BP, plugin(sidecar_image=None), "sidecar_image", "domain_attachment_type"),
        case("bp-image", BP, plugin(sidecar_image="Not An Image"), "sidecar_image", "image reference"),
        case("bp-nad", BP, plugin(network_attachment_definition="a/b/c"), "network_attachment_definition",
             "'<namespace>/<name>'"),
        case("bp-migratable", BP, plugin(migration_method="link-refresh", migratable=False), "migratable",
             "drop migratable=false"),
        case("bp-quantity", BP, plugin(compute_resource_overhead={"requests": {"memory": "lots"}}),
             "compute_resource_overhead.requests.memory", "250Mi"),
        case("bp-no-name", BP, {"domain_attachment_type": "tap", "migratable": True}, "name", "required"),
        case("bp-nothing-given", BP, {"state": "present"}, "name", "one of"),
        case("bp-default-bridge", BP, {"default_network_interface": "bridge",
                                       "permit_bridge_interface_on_pod_network": False},
             "default_network_interface", "permit_bridge_interface_on_pod_network=false"),
        case("bp-attachment-choice", BP, plugin(domain_attachment_type="macvtap"), "domain_attachment_type",
             "one of"),
        case("bp-hyperconverged", BP, plugin(hyperconverged="always"), "hyperconverged", "one of"),
        case("bp-nad-missing", BP, plugin(network_attachment_definition="default/no-such-nad"),
             "network_attachment_definition", "not found"),
        case("bp-retries", BP, plugin(api_retries=-1), "api_retries", "0 or more"),
    ]


@pytest.fixture(scope="module", name="table")
def table_fixture(lab, tmp_path_factory):
    yield from lab_table(lab, tmp_path_factory, cases)


@pytest.mark.parametrize("case_id", case_ids(cases))
def test_vm_service_and_binding_plugin_bad_input(table, case_id):
    table.assert_case(case_id)


def test_vm_service_and_binding_plugin_bad_inputs_write_nothing(table):
    table.assert_table(45)
