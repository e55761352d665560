import hashlib

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_service as svc
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


def vm(name, template_labels=None, labels=None, ports=None, binding="masquerade", hostname=None, pod=True):
    iface = {"name": "default", binding: {}}
    if ports is not None:
        iface["ports"] = ports
    spec = {"domain": {"devices": {"interfaces": [iface]}},
            "networks": [{"name": "default", "pod": {}} if pod else {"name": "default",
                                                                     "multus": {"networkName": "x", "default": True}}]}
    if hostname:
        spec["hostname"] = hostname
    return {"metadata": {"name": name, "namespace": "vms", "labels": labels or {}},
            "spec": {"runStrategy": "Always", "template": {"metadata": {"labels": template_labels or {}},
                                                           "spec": spec}}}


def test_vmi_id_is_kubevirts_label_value():
    assert svc.vmi_id("web-1") == "web-1"
    long = "a" * 70
    expected = "a" * 54 + "-" + hashlib.sha1(long.encode()).hexdigest()[:8]
    assert svc.vmi_id(long) == expected and len(expected) == 63


def test_common_labels_and_matching():
    a = vm("a", {"app": "web", "tier": "1", "x": "a"})
    b = vm("b", {"app": "web", "tier": "1", "x": "b"})
    assert svc.common_labels([a, b]) == {"app": "web", "tier": "1"}
    assert svc.matches({"app": "web"}, svc.template_labels(a)) and not svc.matches({}, {"app": "web"})


def test_dns_name_uses_hostname_or_first_label_of_the_name():
    assert svc.dns_name(vm("db-1"), "db", "vms", "cluster.local") == "db-1.db.vms.svc.cluster.local"
    assert svc.dns_name(vm("db.one", hostname="h"), "db", "vms", "example.org.") == "h.db.vms.svc.example.org"
    assert svc.hostname_of(vm("db.one")) == "db"


@pytest.mark.parametrize("machine,ports,words", [
    (vm("a", ports=[{"port": 22}]), [{"port": 80}], "80/TCP is not forwarded"),
    (vm("a", ports=[{"port": 53, "protocol": "UDP"}]), [{"port": 53}], "53/TCP is not forwarded"),
    (vm("a", ports=[{"port": 22}]), [{"port": 80, "target_port": "http"}], "not a named port"),
    (vm("a", ports=[{"port": 53, "name": "dns", "protocol": "UDP"}]),
     [{"port": 53, "target_port": "dns"}], "UDP on the VM"),
    (vm("a", pod=False), [{"port": 80}], "no pod network interface"),
])
def test_port_checks(machine, ports, words):
    problems = Problems()
    svc.check_ports(problems, machine, ports)
    assert any(words in p["message"] for p in problems.items), problems.items


@pytest.mark.parametrize("machine,ports", [
    (vm("a", ports=[{"port": 22}, {"port": 8080, "name": "http"}]), [{"port": 80, "target_port": 8080},
                                                                     {"port": 81, "target_port": "http"}]),
    (vm("a"), [{"port": 443}]),                           # no ports listed: everything is forwarded
    (vm("a", ports=[{"port": 22}], binding="bridge"), [{"port": 80}]),  # bridge does not filter
])
def test_port_checks_pass(machine, ports):
    problems = Problems()
    svc.check_ports(problems, machine, ports)
    assert problems.items == []


PARAMS = {"name": "web", "namespace": "vms", "type": "NodePort", "ports": [{"name": "http", "port": 80,
                                                                           "target_port": 8080}],
          "session_affinity": "ClientIP", "external_traffic_policy": "Local", "labels": {"a": "b"}}


def test_manifest_and_headless():
    manifest = svc.manifest(PARAMS, {"app": "web"})
    assert manifest["spec"] == {"type": "NodePort", "selector": {"app": "web"}, "sessionAffinity": "ClientIP",
                                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
                                "externalTrafficPolicy": "Local",
                                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
    assert manifest["metadata"]["labels"] == {"a": "b", "app.kubernetes.io/managed-by": "kubevirt_net.core"}
    headless = svc.manifest(dict(PARAMS, type="headless", ports=[], session_affinity=None,
                                 external_traffic_policy=None), {"app": "web"})
    assert headless["spec"] == {"type": "ClusterIP", "clusterIP": "None", "selector": {"app": "web"},
                                "sessionAffinity": "None"}
    assert svc.needs_recreate(headless, manifest) and not svc.needs_recreate(manifest, manifest)


def server_copy(manifest):
    """What the API server stores: allocated IP and node ports, defaults."""
    obj = {"metadata": dict(manifest["metadata"], resourceVersion="1", uid="u",
                            labels=dict(manifest["metadata"]["labels"], extra="x")),
           "spec": dict(manifest["spec"], clusterIP="10.96.0.9")}
    obj["spec"]["ports"] = [dict(p, nodePort=31000 + i) for i, p in enumerate(manifest["spec"]["ports"])]
    return obj


def test_kind_ignores_server_defaults_and_keeps_allocated_node_ports():
    kind = svc.ServiceKind()
    desired = svc.manifest(PARAMS, {"app": "web"})
    current = server_copy(desired)
    assert kind.same(desired, current)
    changed = svc.manifest(dict(PARAMS, ports=[{"name": "http", "port": 80, "target_port": 9090}]), {"app": "web"})
    assert not kind.same(changed, current)
    patch = kind.patch(changed, current)
    assert patch["spec"]["ports"] == [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 9090,
                                       "nodePort": 31000}]
    to_cluster_ip = svc.manifest(dict(PARAMS, type="ClusterIP", external_traffic_policy=None), {"app": "web"})
    patch = kind.patch(to_cluster_ip, current)
    assert patch["spec"]["externalTrafficPolicy"] is None and "nodePort" not in patch["spec"]["ports"][0]


def test_diagnosis_names_metadata_only_labels_and_stopped_vms():
    meta_only = vm("meta", template_labels={"other": "x"}, labels={"app": "web"})
    stopped = vm("off", template_labels={"app": "web"})
    stopped["spec"]["runStrategy"] = "Halted"
    reasons = svc.diagnose({"app": "web"}, [meta_only, stopped], [], [], None, [])
    assert any("only in metadata.labels" in r and "meta" in r for r in reasons)
    assert any("off is stopped (runStrategy Halted)" in r for r in reasons)
    assert svc.diagnose({"nope": "x"}, [meta_only], [], [], None, [])[0].startswith("the selector nope=x matches no")


def test_diagnosis_names_template_labels_added_after_start_and_unforwarded_ports():
    machine = vm("web", template_labels={"app": "web"}, ports=[{"port": 22}])
    vmi = {"metadata": {"name": "web", "labels": {}}, "status": {"phase": "Running"}}
    reasons = svc.diagnose({"app": "web"}, [machine], [vmi], [], None, [{"port": 80}])
    assert any("restart the VM" in r for r in reasons)
    assert any(r.startswith("port not forwarded") for r in reasons)
    ready = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}
    assert svc.diagnose({"app": "web"}, [machine], [vmi], [{}], ready, []) == []
