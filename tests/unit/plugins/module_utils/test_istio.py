"""The pure part of kubevirt_vm_istio: option checks, the KubeVirt/Istio
matrix, namespace and VM decisions and refusals, manifests, the reconcile
kinds' patches, restart and verify decisions."""

import copy

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import (
    istio, istio_objects, istio_options, istio_verify, istio_vms)
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import SERVICE
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

PARAMS = {"state": "present", "namespaces": ["shop"], "namespace_selector": None, "mode": "sidecar", "revision": None,
          "vms": None, "fix_binding": False, "services": None, "mtls": "unset", "mtls_policy_name": "default",
          "destination_rule": False, "cni_nad": False, "restart": "never", "restart_batch_size": 5,
          "istio_version": None, "cluster_domain": "cluster.local", "max_concurrency": 8}


def check(**params):
    problems = Problems()
    config = istio_options.check_params(dict(PARAMS, **params), problems)
    return config, problems


def fields(problems):
    return [p["field"] for p in problems.items]


def vm(name="web", namespace="shop", interfaces=None, networks=None, labels=None, annotations=None):
    template_meta = {"labels": dict(labels or {"app": name})}
    if annotations is not None:
        template_meta["annotations"] = dict(annotations)
    spec = {"domain": {"devices": {}}}
    if interfaces is not False:
        spec["domain"]["devices"]["interfaces"] = interfaces if interfaces is not None else [
            {"name": "default", "masquerade": {}}]
        spec["networks"] = networks if networks is not None else [{"name": "default", "pod": {}}]
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "7", "uid": "u-" + name},
            "spec": {"runStrategy": "Always", "template": {"metadata": template_meta, "spec": spec}}}


def service_decl(**item):
    base = {"name": "web", "template_selector": {"app": "web"},
            "ports": [{"port": 80, "target_port": 8080, "app_protocol": "http"}]}
    base.update(item)
    config, problems = check(services=[base])
    return config.services[0] if config.services else None, problems


# ------------------------------------------------------------------ options
def test_defaults_are_clean():
    config, problems = check()
    assert not problems
    assert config.injection_labels == {"istio-injection": "enabled"}
    assert config.vm_entries is None


def test_istio_namespace_must_be_a_namespace_name():
    assert not check(istio_namespace="istio-system")[1]
    _config, problems = check(istio_namespace="Istio System")
    assert fields(problems) == ["istio_namespace"] and "DNS-1123 label" in problems.render()


def test_revision_mode_needs_a_revision_and_removes_istio_injection():
    _config, problems = check(mode="revision")
    assert fields(problems) == ["revision"]
    config, problems = check(mode="revision", revision="1-26-1")
    assert not problems
    assert config.injection_labels == {"istio.io/rev": "1-26-1", "istio-injection": None}
    _config, problems = check(revision="stable")
    assert "only used with mode=revision" in problems.items[0]["message"]


@pytest.mark.parametrize("params, field", [
    ({"namespaces": None}, "namespaces"),
    ({"namespaces": ["Bad_NS"]}, "namespaces[0]"),
    ({"namespaces": None, "namespace_selector": {}}, "namespace_selector"),
    ({"state": "rendered", "namespaces": None, "namespace_selector": {"a": "b"}}, "namespaces"),
    ({"istio_version": "latest"}, "istio_version"),
    ({"restart_batch_size": 0}, "restart_batch_size"),
    ({"max_concurrency": 100}, "max_concurrency"),
    ({"cluster_domain": "Not A Domain"}, "cluster_domain"),
    ({"vms": [{"namespace": "shop"}]}, "vms[0]"),
    ({"vms": [{"template_selector": {}}]}, "vms[0].template_selector"),
    ({"state": "absent", "restart": "stopped_only"}, "restart"),
])
def test_bad_options_are_refused(params, field):
    _config, problems = check(**params)
    assert field in fields(problems), problems.render()


def test_services_are_checked_and_rendered_with_istio_port_names():
    decl, problems = service_decl()
    assert not problems
    assert decl.ports == [{"name": "http-80", "port": 80, "targetPort": 8080, "protocol": "TCP",
                           "appProtocol": "http"}]
    manifest = istio_objects.service_manifest(decl, "shop", (1, 20))
    assert manifest["spec"]["selector"] == {"app": "web"}
    assert manifest["metadata"]["labels"] == istio.OWNED_LABELS
    old = istio_objects.service_manifest(decl, "shop", (1, 18))
    assert "appProtocol" not in old["spec"]["ports"][0]   # older servers drop it: never a diff every run


@pytest.mark.parametrize("item, field", [
    ({"ports": [{"port": 80, "target_port": 15006}]}, "services[0].ports[0].target_port"),
    ({"ports": [{"port": 15021}]}, "services[0].ports[0].target_port"),
    ({"ports": []}, "services[0].ports"),
    ({"ports": [{"port": 80}, {"port": 80}]}, "services[0].ports[1].port"),
    ({"ports": [{"port": 80, "app_protocol": "quic"}]}, "services[0].ports[0].app_protocol"),
    ({"ports": [{"port": 70000}]}, "services[0].ports[0].port"),
    ({"template_selector": {}}, "services[0].template_selector"),
    ({"template_selector": {"match_expressions": [{"key": "a", "operator": "Exists"}]}}, "services[0].template_selector"),
    ({"name": "Web"}, "services[0].name"),
    ({"type": "ExternalName"}, "services[0].type"),
])
def test_bad_services_are_refused(item, field):
    _decl, problems = service_decl(**item)
    assert field in fields(problems), problems.render()


def test_a_service_declared_twice_is_refused():
    item = {"name": "web", "template_selector": {"app": "web"}, "ports": [{"port": 80}]}
    _config, problems = check(services=[item, dict(item, namespace="shop")])
    assert "services[1].name" in fields(problems)


# ---------------------------------------------------------- version matrix
# Expected cells from istio/istio cni/pkg/plugin/sidecar_redirect.go at each tag: 1.24.x reads only the old
# annotation; 1.25.0-1.26.4 and 1.27.0-1.27.1 overwrite it with the new one's default; 1.26.5, 1.27.2 and 1.28.0
# read the old one only when the new one is absent (istio#57686).  KubeVirt 1.7+ sets both annotations.
@pytest.mark.parametrize("kubevirt, istio_version, broken", [
    ((1, 6, 3), (1, 24, 6), False),
    ((1, 6, 3), (1, 25, 0), True),
    ((1, 6, 3), (1, 25, 5), True),
    ((1, 6, 3), (1, 26, 0), True),
    ((1, 6, 3), (1, 26, 4), True),
    ((1, 6, 3), (1, 26, 5), False),
    ((1, 5, 0), (1, 27, 1), True),
    ((1, 5, 0), (1, 27, 2), False),
    ((1, 6, 0), (1, 28, 0), False),
    ((1, 6, 0), (1, 26), True),
    ((1, 7, 0), (1, 26, 0), False),
    ((1, 9, 0), (1, 25, 0), False),
    ((1, 6, 0), None, False),
])
def test_kubevirt_istio_matrix(kubevirt, istio_version, broken):
    problem = istio.matrix_problem(kubevirt, istio_version)
    assert bool(problem) is broken
    if broken:
        assert "istio.io/reroute-virtual-interfaces" in problem


def test_istio_version_from_the_istiod_image():
    assert istio.istio_version_from_image("docker.io/istio/pilot:1.26.2-distroless") == (1, 26, 2)
    assert istio.istio_version_from_image("gcr.io/istio-release/pilot") is None


# --------------------------------------------------------------- namespaces
def ns(labels=None, annotations=None):
    return {"metadata": {"name": "shop", "labels": dict(labels or {}), "annotations": dict(annotations or {}),
                         "resourceVersion": "1"}}


def test_namespace_label_is_added_and_recorded():
    config, _problems = check()
    desired = istio.namespace_desired("shop", ns(), config)
    assert desired["metadata"]["labels"] == {"istio-injection": "enabled"}
    assert desired["metadata"]["annotations"] == {istio.NS_MARK: "istio-injection"}
    kind = istio.NamespaceKind()
    assert kind.patch(desired, ns()) == {"metadata": {"labels": {"istio-injection": "enabled"},
                                                      "annotations": {istio.NS_MARK: "istio-injection"}}}
    after = kind.expected(desired, ns())
    assert istio.namespace_desired("shop", after, config) is None   # converged: nothing more to write


def test_an_already_enabled_namespace_is_left_alone_and_not_claimed():
    config, _problems = check()
    assert istio.namespace_desired("shop", ns({"istio-injection": "enabled"}), config) is None
    absent, _problems = check(state="absent")
    assert istio.namespace_desired("shop", ns({"istio-injection": "enabled"}), absent) is None


def test_revision_mode_removes_istio_injection_which_would_win():
    config, _problems = check(mode="revision", revision="canary")
    desired = istio.namespace_desired("shop", ns({"istio-injection": "enabled"}), config)
    assert desired["metadata"]["labels"] == {"istio.io/rev": "canary", "istio-injection": None}
    assert desired["metadata"]["annotations"] == {istio.NS_MARK: "istio.io/rev"}


def test_absent_removes_only_the_labels_this_module_added():
    config, _problems = check(state="absent")
    current = ns({"istio-injection": "enabled", "team": "a"}, {istio.NS_MARK: "istio-injection"})
    desired = istio.namespace_desired("shop", current, config)
    assert desired["metadata"]["labels"] == {"istio-injection": None}
    assert desired["metadata"]["annotations"] == {istio.NS_MARK: None}


def test_ambient_namespace_is_refused_and_both_labels_warn():
    config, _problems = check()
    problems, findings = Problems(), []
    istio.namespace_findings("shop", ns({"istio.io/dataplane-mode": "ambient"}), config, problems, findings)
    assert "ambient" in problems.items[0]["message"] and "not support" in problems.items[0]["message"]
    problems, findings = Problems(), []
    istio.namespace_findings("shop", ns({"istio-injection": "enabled", "istio.io/rev": "x"}), config, problems,
                             findings)
    assert not problems
    assert findings[0]["kind"] == "both-injection-labels" and "first wins" in findings[0]["message"]


def test_injection_expected():
    assert istio.injection_expected({"istio-injection": "enabled"})
    assert istio.injection_expected({"istio.io/rev": "stable"})
    assert not istio.injection_expected({"istio-injection": "disabled", "istio.io/rev": "stable"})
    assert not istio.injection_expected({})
    config, _problems = check()
    assert istio.injection_expected({}, "present", config)


# ---------------------------------------------------------------------- VMs
def check_vm(machine, **params):
    config, _problems = check(**params)
    problems, findings = Problems(), []
    result = istio_vms.check_vm(machine, config, "bridge", problems, findings)
    return result, problems, findings


def test_masquerade_vm_passes():
    result, problems, findings = check_vm(vm())
    # no ports listed: KubeVirt forwards every port, so SSH goes around the sidecar (a warning, not a refusal)
    assert not problems and [f["kind"] for f in findings] == ["ssh-outside-mesh"]
    assert result.binding == "masquerade" and not result.fix


def test_bridge_is_refused_with_vm_and_interface_named_or_fixed():
    bridged = vm(interfaces=[{"name": "default", "bridge": {}}])
    _result, problems, _problems = check_vm(bridged)
    assert problems.items[0]["object"] == "VirtualMachine shop/web"
    assert problems.items[0]["field"] == "interface default"
    assert "fix_binding=true" in problems.items[0]["message"]
    result, problems, _problems = check_vm(bridged, fix_binding=True)
    assert not problems and result.fix
    fixed = istio_vms.transform_vm(bridged, "present", True)
    assert istio.vmspec.interfaces_of(fixed) == [{"name": "default", "masquerade": {}}]


def test_vm_without_interfaces_gets_the_default_binding_and_an_explicit_masquerade_when_fixed():
    bare = vm(interfaces=False)
    _result, problems, _problems = check_vm(bare)
    assert "KubeVirt's default" in problems.items[0]["message"]
    result, problems, _problems = check_vm(bare, fix_binding=True)
    assert not problems and result.autoattach
    fixed = istio_vms.transform_vm(bare, "present", True)
    assert istio.vmspec.networks_of(fixed) == [{"name": "default", "pod": {}}]


def test_reserved_ports_and_ssh():
    machine = vm(interfaces=[{"name": "default", "masquerade": {}, "ports": [
        {"port": 22}, {"port": 15021}, {"port": 15090, "protocol": "TCP"}, {"port": 8080}]}])
    _result, problems, findings = check_vm(machine)
    assert len(problems) == 1 and "15021, 15090" in problems.items[0]["message"]
    assert findings[0]["kind"] == "ssh-outside-mesh"


@pytest.mark.parametrize("ports, ranges, ssh", [
    # pkg/network/setup/netpod/masquerade/masquerade.go (v1.9.0): with the sidecar, port 22 is forwarded straight
    # to the guest when listed, when inside a portRanges entry, and when neither list is given
    ([], [], True),
    ([{"port": 22}], [], True),
    ([{"port": 8080}], [], False),
    ([], [{"start": 20, "end": 30, "protocol": "TCP"}], True),
    ([], [{"start": 8000, "end": 9000, "protocol": "TCP"}], False),
])
def test_ssh_bypasses_the_mesh_also_with_no_ports_listed(ports, ranges, ssh):
    iface = {"name": "default", "masquerade": {}}
    if ports:
        iface["ports"] = ports
    if ranges:
        iface["portRanges"] = ranges
    _result, problems, findings = check_vm(vm(interfaces=[iface]))
    assert not problems
    assert ("ssh-outside-mesh" in [f["kind"] for f in findings]) is ssh
    if ssh and not ports and not ranges:
        assert "lists no ports" in findings[0]["message"]


def test_udp_ports_are_warned_as_outside_the_mesh():
    machine = vm(interfaces=[{"name": "default", "masquerade": {}, "ports": [
        {"port": 53, "protocol": "UDP"}, {"port": 8080}]}])
    _result, problems, findings = check_vm(machine)
    assert not problems
    udp = [f for f in findings if f["kind"] == "udp-outside-mesh"]
    assert len(udp) == 1 and udp[0]["ports"] == [53] and "TCP only" in udp[0]["message"]
    tcp_only = vm(interfaces=[{"name": "default", "masquerade": {}, "ports": [{"port": 8080}]}])
    assert not [f for f in check_vm(tcp_only)[2] if f["kind"] == "udp-outside-mesh"]


def test_udp_port_entry_without_a_number_is_left_out_of_the_udp_finding():
    # a ports entry without a number has none to report (sorting it with the numbered ones raised TypeError)
    machine = vm(interfaces=[{"name": "default", "masquerade": {}, "ports": [
        {"port": 53, "protocol": "UDP"}, {"protocol": "UDP"}, {"port": 8080}]}])
    _result, problems, findings = check_vm(machine)
    assert not problems
    udp = [f for f in findings if f["kind"] == "udp-outside-mesh"]
    assert len(udp) == 1 and udp[0]["ports"] == [53]


def test_other_pod_bindings_and_missing_pod_network_are_refused():
    _r, problems, _problems = check_vm(vm(interfaces=[{"name": "default", "binding": {"name": "managedtap"}}]))
    assert "binding binding" in problems.items[0]["message"]
    multus = vm(interfaces=[{"name": "net", "bridge": {}}],
                networks=[{"name": "net", "multus": {"networkName": "x", "default": True}}])
    _r, problems, _problems = check_vm(multus)
    assert "Multus default network" in problems.items[0]["message"]
    passt = vm(interfaces=[{"name": "default", "passtBinding": {}}])
    _r, problems, _problems = check_vm(passt)
    assert not problems


def test_vm_kind_patch_carries_only_the_intent_and_is_idempotent():
    kind = istio_vms.VmKind()
    machine = vm(annotations={"other": "x"})
    desired = istio_vms.vm_desired(machine, "present", False)
    assert not kind.same(desired, machine)
    assert kind.patch(desired, machine) == {"spec": {"template": {"metadata": {"annotations": {
        istio.INJECT: "true"}}}}}
    after = kind.expected(desired, machine)
    assert template_annotations(after) == {"other": "x", istio.INJECT: "true"}
    assert kind.same(desired, after)
    removal = istio_vms.vm_desired(after, "absent", False)
    assert kind.patch(removal, after) == {"spec": {"template": {"metadata": {"annotations": {istio.INJECT: None}}}}}


def test_vm_kind_fix_patch_replaces_the_interface_list_from_the_fresh_object():
    kind = istio_vms.VmKind()
    bridged = vm(interfaces=[{"name": "default", "bridge": {}, "ports": [{"port": 80}]},
                             {"name": "sec", "bridge": {}}],
                 networks=[{"name": "default", "pod": {}}, {"name": "sec", "multus": {"networkName": "n"}}])
    desired = istio_vms.vm_desired(bridged, "present", True)
    # someone else added a model meanwhile: the patch is derived from what was read again
    fresh = copy.deepcopy(bridged)
    fresh["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1]["model"] = "e1000"
    patch = kind.patch(desired, fresh)
    assert patch["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"] == [
        {"name": "default", "masquerade": {}, "ports": [{"port": 80}]},
        {"name": "sec", "bridge": {}, "model": "e1000"}]
    assert "networks" not in patch["spec"]["template"]["spec"]


def template_annotations(obj):
    return istio.template_annotations(obj)


# ------------------------------------------------------------ owned objects
def test_service_comparison_ignores_server_defaults():
    decl, _problems = service_decl()
    desired = istio_objects.service_manifest(decl, "shop", (1, 20))
    stored = copy.deepcopy(desired)
    stored["metadata"]["resourceVersion"] = "3"
    stored["spec"].update({"clusterIP": "10.96.0.10", "sessionAffinity": "None"})
    kind = istio_objects.OwnedKind(SERVICE, service=True)
    assert kind.same(desired, stored)
    stored["spec"]["selector"] = {"app": "web", "old": "x"}
    stored["spec"]["ports"][0]["targetPort"] = 9090
    assert not kind.same(desired, stored)
    patch = kind.patch(desired, stored)
    assert patch["spec"]["selector"] == {"old": None}
    assert patch["spec"]["ports"][0]["targetPort"] == 8080
    assert "clusterIP" not in patch["spec"]


def test_peer_authentication_and_destination_rule_and_nad():
    pa = istio_objects.peer_authentication_manifest("shop", "strict")
    assert pa["apiVersion"] == "security.istio.io/v1" and pa["spec"] == {"mtls": {"mode": "STRICT"}}
    dr = istio_objects.destination_rule_manifest("shop")
    assert dr["spec"]["host"] == "*.shop.svc.cluster.local"
    assert dr["spec"]["trafficPolicy"]["tls"]["mode"] == "ISTIO_MUTUAL"
    nad = istio_objects.cni_nad_manifest("shop")
    assert nad["metadata"]["name"] == "istio-cni" and "spec" not in nad
    kind = istio_objects.OwnedKind(istio.peer_authentication("v1"))
    permissive = istio_objects.peer_authentication_manifest("shop", "permissive")
    assert kind.patch(permissive, pa)["spec"] == {"mtls": {"mode": "PERMISSIVE"}}


def test_service_problems():
    decl, _problems = service_decl()
    limited = istio_vms.check_vm(vm(interfaces=[{"name": "default", "masquerade": {}, "ports": [{"port": 22}]}]),
                                 check()[0], "bridge", Problems(), [])
    open_vm = istio_vms.check_vm(vm("api", labels={"app": "web"}), check()[0], "bridge", Problems(), [])
    foreign = {"metadata": {"name": "web", "namespace": "shop", "labels": {}}, "spec": {"selector": {"x": "y"}}}
    grpc = {"metadata": {"name": "legacy", "namespace": "shop"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "grpc-x", "port": 1, "targetPort": 8080}]}}
    problems, findings = Problems(), []
    istio_objects.service_problems(decl, "shop", [limited, open_vm], {"web": foreign, "legacy": grpc}, problems, findings)
    messages = " | ".join(p["message"] for p in problems.items)
    assert "not managed by this module" in messages
    assert "not in the ports list of shop/web" in messages      # 8080 is not forwarded by the limited VM
    assert "as grpc, but here as http" in messages
    assert len(problems) == 3


def test_service_udp_target_ports_are_warned_as_outside_the_mesh():
    open_vm = istio_vms.check_vm(vm(), check()[0], "bridge", Problems(), [])
    decl, problems = service_decl(ports=[{"port": 53, "target_port": 5353, "protocol": "udp"},
                                         {"port": 54, "target_port": 5353, "protocol": "UDP", "name": "dns-b"},
                                         {"port": 80, "target_port": 8080, "app_protocol": "http"}])
    assert not problems
    problems, findings = Problems(), []
    istio_objects.service_problems(decl, "shop", [open_vm], {}, problems, findings)
    assert not problems
    udp = [f for f in findings if f["kind"] == "udp-outside-mesh"]
    assert len(udp) == 1 and udp[0]["service"] == "shop/web" and udp[0]["ports"] == [5353]
    assert "Envoy proxies TCP only" in udp[0]["message"] and "masquerade.go" in udp[0]["message"]
    # TCP only: no finding; UDP but no VM selected: the "selects no VM" finding, not the UDP one
    tcp, _p = service_decl()
    findings = []
    istio_objects.service_problems(tcp, "shop", [open_vm], {}, Problems(), findings)
    assert "udp-outside-mesh" not in [f["kind"] for f in findings]
    findings = []
    istio_objects.service_problems(decl, "shop", [], {}, Problems(), findings)
    assert [f["kind"] for f in findings] == ["service-selects-no-vm"]


def test_service_selecting_no_vm_warns():
    decl, _problems = service_decl(template_selector={"app": "nothing"})
    problems, findings = Problems(), []
    istio_objects.service_problems(decl, "shop", [], {}, problems, findings)
    assert not problems and findings[0]["kind"] == "service-selects-no-vm"


# ------------------------------------------------------------ restart/verify
def vmi(annotations=None, binding="masquerade", ips=("10.244.0.5",), phase="Running", ready="True"):
    return {"metadata": {"name": "web", "namespace": "shop", "uid": "vmi-1", "annotations": dict(annotations or {})},
            "spec": {"domain": {"devices": {"interfaces": [{"name": "default", binding: {}}]}}},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}],
                       "interfaces": [{"name": "default", "ipAddress": ips[0], "ipAddresses": list(ips),
                                       "podInterfaceName": "eth0"}]}}


def pod(containers=("compute",), uid="vmi-1", ips=("10.244.0.5",)):
    return {"metadata": {"name": "virt-launcher-web-abcde", "labels": {"kubevirt.io/created-by": uid},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": c} for c in containers]},
            "status": {"phase": "Running", "podIPs": [{"ip": ip} for ip in ips]}}


def test_ipv6_only():
    assert istio_vms.ipv6_only(vmi(ips=("fd10::5",)), pod(ips=("fd10::5",)))
    assert not istio_vms.ipv6_only(vmi(ips=("10.0.0.1", "fd10::5")), pod(ips=("10.0.0.1", "fd10::5")))
    assert not istio_vms.ipv6_only(None, None)


def test_needs_restart():
    annotated = vm(annotations={istio.INJECT: "true"})
    assert istio_verify.needs_restart("present", annotated, vmi(), pod(), True)                  # VMI lacks the annotation
    assert not istio_verify.needs_restart("present", annotated, vmi({istio.INJECT: "true"}), pod(("compute", "istio-proxy")),
                                          True)
    assert istio_verify.needs_restart("present", annotated, vmi({istio.INJECT: "true"}), pod(), True)   # no sidecar yet
    assert istio_verify.needs_restart("present", annotated, vmi({istio.INJECT: "true"}, binding="bridge"),
                                      pod(("compute", "istio-proxy")), True)                     # binding fixed in template
    assert not istio_verify.needs_restart("present", annotated, None, None, True)                # stopped
    plain = vm()
    assert istio_verify.needs_restart("absent", plain, vmi(), pod(("compute", "istio-proxy")), False)
    assert not istio_verify.needs_restart("absent", plain, vmi(), pod(), False)
    # a namespace that still injects (its label was not ours): the sidecar stays, no restart on every run
    assert not istio_verify.needs_restart("absent", plain, vmi(), pod(("compute", "istio-proxy")), True)


def test_pod_of_picks_the_live_pod_and_verify_entry():
    old = pod(("compute",))
    old["status"]["phase"] = "Succeeded"
    new = pod(("compute", "istio-proxy"))
    assert istio_verify.pod_of(vmi(), [old, new]) is new
    service = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}}
    entry = istio_verify.verify_entry(vm(annotations={istio.INJECT: "true"}), vmi(), new, [service], "STRICT", "present",
                                      False, "unchanged")
    assert entry["in_mesh"] and entry["services"] == ["web"] and entry["mtls"] == "STRICT"
    entry = istio_verify.verify_entry(vm(), None, None, [], None, "present", False, "updated")
    assert entry["istio_proxy"] is None and not entry["in_mesh"]


def test_rendered_state_renders_the_namespace_label():
    config, problems = check(state="rendered")
    assert not problems
    desired = istio.namespace_desired("shop", {"metadata": {"name": "shop"}}, config)
    assert desired["metadata"]["labels"] == {"istio-injection": "enabled"}


def test_injector_services_and_ready_addresses():
    hook = {"name": "rev.namespace.sidecar-injector.istio.io",
            "clientConfig": {"service": {"namespace": "istio-system", "name": "istiod-canary"}}}
    configurations = [
        {"metadata": {"name": "istio-sidecar-injector-canary", "labels": {"istio.io/rev": "canary"}},
         "webhooks": [hook, dict(hook, name="rev.object.sidecar-injector.istio.io")]},
        {"metadata": {"name": "istio-sidecar-injector"},   # no rev label: the default revision
         "webhooks": [{"name": "namespace.sidecar-injector.istio.io",
                       "clientConfig": {"service": {"namespace": "istio-system", "name": "istiod"}}}]},
        {"metadata": {"name": "by-url"},
         "webhooks": [{"name": "object.sidecar-injector.istio.io", "clientConfig": {"url": "https://istiod.example"}}]},
        {"metadata": {"name": "other"}, "webhooks": [{"name": "x.example.com", "clientConfig": {
            "service": {"namespace": "a", "name": "b"}}}]},
    ]
    assert istio.injector_services(configurations) == {("istio-system", "istiod-canary"): {"canary"},
                                                       ("istio-system", "istiod"): {"default"}}
    assert istio.ready_addresses(None) == 0
    assert istio.ready_addresses({"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}]}]}) == 0
    assert istio.ready_addresses({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}]}) == 2
