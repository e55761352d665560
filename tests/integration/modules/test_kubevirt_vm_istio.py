"""kubevirt_vm_istio against the lab (kube-apiserver 1.34, KubeVirt v1.9.0's
own virt-api and virt-controller, the lab's stand-in for Istio's sidecar
injector), judged by what the server stores, by the launcher pods
virt-controller renders and the injector mutates, and by the proxy's request
log."""

# pylint: disable=redefined-outer-name,unused-argument
import pytest

from lab.cluster import LabError
from tests.integration.helpers import play, wait_for
from tests.integration.istio_fixtures import (  # noqa: F401  pylint: disable=unused-import
    DR_PATH, INJECT, NAD_PATH, PA_PATH, SERVICE_PATH, VM_PATH, containers, create_vm, endpoints_ips, get, istio_lab,
    launcher_pod, make_namespace, ns_labels, pod_iface, template_annotations, vm, vm_manifest, vmi_or_none,
    wait_ready)

MODULE = "kubevirt_net.core.kubevirt_vm_istio"
WEB_SERVICE = {"name": "web", "template_selector": {"app": "web"},
               "ports": [{"port": 80, "target_port": 8080, "app_protocol": "http"}]}


def task(title, ignore_errors=False, **options):
    entry = {"name": title, MODULE: options, "register": "r"}
    if ignore_errors:
        entry["ignore_errors"] = True
    return entry


def result_of(result, title):
    return result.tasks[title]


# ------------------------------------------------------------------ converge
def test_converge_labels_annotates_services_mtls_then_nothing_to_do(istio_lab, namespace, run_playbook, request_log):
    lab = istio_lab
    for name in ("web-1", "web-2"):
        create_vm(lab, namespace, name, labels={"app": "web"})
    create_vm(lab, namespace, "db", running=False, labels={"app": "db"})
    vmis = [wait_ready(lab, namespace, n) for n in ("web-1", "web-2")]
    request_log.mark()

    options = dict(namespaces=[namespace], mtls="strict", destination_rule=True, cni_nad=True,
                   services=[WEB_SERVICE])
    first = result_of(run_playbook(play(task("mesh", **options))), "mesh")
    assert first["changed"]
    # namespace label (and the record of it), template annotation on every VM
    assert ns_labels(lab, namespace)["istio-injection"] == "enabled"
    for name in ("web-1", "web-2", "db"):
        assert template_annotations(vm(lab, namespace, name))[INJECT] == "true"
    # the Service selects the template labels, with Istio's port naming, and gets Endpoints (both launcher pods)
    service = get(lab, SERVICE_PATH % namespace, "web")
    assert service["spec"]["selector"] == {"app": "web"}
    assert service["spec"]["ports"][0]["name"] == "http-80"
    assert service["spec"]["ports"][0]["appProtocol"] == "http"
    assert service["spec"]["ports"][0]["targetPort"] == 8080
    pod_ips = sorted(launcher_pod(lab, namespace, v)["status"]["podIP"] for v in vmis)
    assert wait_for(lambda: endpoints_ips(lab, namespace, "web") == pod_ips and pod_ips,
                    timeout=180, message="Endpoints of web")
    # PeerAuthentication STRICT, DestinationRule ISTIO_MUTUAL, the istio-cni NAD
    pa = get(lab, PA_PATH % namespace, "default")
    assert pa["spec"] == {"mtls": {"mode": "STRICT"}}
    dr = get(lab, DR_PATH % namespace, "kvnet-istio-mutual")
    assert dr["spec"]["trafficPolicy"]["tls"]["mode"] == "ISTIO_MUTUAL"
    assert get(lab, NAD_PATH % namespace, "istio-cni")["metadata"]["name"] == "istio-cni"
    # running VMs were not restarted: they are reported as needing it
    by_name = dict((v["name"], v) for v in first["vms"])
    assert by_name["web-1"]["restart_required"] and by_name["web-2"]["restart_required"]
    assert not by_name["db"]["restart_required"] and by_name["db"]["running"] is False
    assert by_name["web-1"]["services"] == ["web"] and by_name["web-1"]["mtls"] == "STRICT"
    assert by_name["web-1"]["istio_proxy"] is False and not by_name["web-1"]["in_mesh"]
    # 3 VMs + namespace + Service + PA + DR + NAD, one write each, and the module's count is the proxy's
    writes = request_log.writes()
    assert len(writes) == first["api_requests"]["writes"] == 8
    assert sorted(e["method"] for e in writes) == ["PATCH"] * 4 + ["POST"] * 4

    request_log.mark()
    again = result_of(run_playbook(play(task("mesh", **options))), "mesh")
    assert not again["changed"]
    assert again["api_requests"]["writes"] == 0 and request_log.writes() == []
    assert again["totals"]["unchanged"] == 8


def test_check_mode_and_diff_write_nothing(istio_lab, namespace, run_playbook, request_log):
    lab = istio_lab
    create_vm(lab, namespace, "web", labels={"app": "web"}, binding="bridge")
    request_log.mark()
    result = run_playbook(play(task("mesh", namespaces=[namespace], fix_binding=True, mtls="permissive",
                                    services=[WEB_SERVICE], restart="rolling")), check=True, diff=True)
    module = result_of(result, "mesh")
    assert module["changed"] and module["api_requests"]["writes"] == 0
    assert request_log.writes(include_dry_run=True) == []
    assert module["restarted"] == ["%s/web" % namespace]           # would restart
    after = module["diff"]["after"]["VirtualMachine %s/web" % namespace]
    assert after["template_annotations"] == {INJECT: "true"}
    assert after["interfaces"] == [{"name": "default", "binding": "masquerade"}]
    assert "PeerAuthentication %s/default" % namespace in module["diff"]["after"]
    assert "bridge" in [i["binding"] for i in module["diff"]["before"]["VirtualMachine %s/web" % namespace]["interfaces"]]
    assert "sidecar.istio.io/inject" not in template_annotations(vm(lab, namespace, "web"))


def test_revision_mode_labels_istio_io_rev_and_drops_istio_injection(istio_lab, make_namespace, run_playbook):
    lab = istio_lab
    space = make_namespace({"istio-injection": "enabled"})
    create_vm(lab, space, "api", running=False)
    result = run_playbook(play(task("mesh", namespaces=[space], mode="revision", revision="canary")))
    module = result_of(result, "mesh")
    labels = ns_labels(lab, space)
    assert labels.get("istio.io/rev") == "canary" and "istio-injection" not in labels
    assert module["namespaces"][space]["labels"].get("istio.io/rev") == "canary"
    # back to sidecar mode: the revision label this module added goes, istio-injection comes back
    run_playbook(play(task("mesh", namespaces=[space])))
    labels = ns_labels(lab, space)
    assert labels.get("istio-injection") == "enabled" and "istio.io/rev" not in labels


def test_bridge_is_refused_naming_vm_and_interface_then_fixed(istio_lab, namespace, run_playbook, request_log):
    lab = istio_lab
    create_vm(lab, namespace, "legacy", binding="bridge", running=False)
    request_log.mark()
    refused = result_of(run_playbook(play(task("mesh", ignore_errors=True, namespaces=[namespace]))), "mesh")
    assert refused["failed"]
    assert "VirtualMachine %s/legacy: interface default: uses bridge binding" % namespace in refused["msg"]
    assert request_log.writes() == []
    fixed = result_of(run_playbook(play(task("mesh", namespaces=[namespace], fix_binding=True))), "mesh")
    assert fixed["changed"]
    iface = pod_iface(vm(lab, namespace, "legacy"))
    assert "masquerade" in iface and "bridge" not in iface
    assert fixed["vms"][0]["binding"] == "masquerade" and fixed["vms"][0]["binding_ok"]


def test_rolling_restart_puts_istio_proxy_into_the_launcher_pods(istio_lab, namespace, run_playbook, request_log):
    lab = istio_lab
    names = ["r-%d" % i for i in range(3)]
    for name in names:
        create_vm(lab, namespace, name, labels={"app": "web"})
    before = dict((n, wait_ready(lab, namespace, n)["metadata"]["uid"]) for n in names)
    for name in names:
        assert "istio-proxy" not in containers(launcher_pod(lab, namespace, vmi_or_none(lab, namespace, name)))
    request_log.mark()
    options = dict(namespaces=[namespace], restart="rolling", restart_batch_size=2, restart_timeout=120,
                   services=[WEB_SERVICE])
    module = result_of(run_playbook(play(task("mesh", **options))), "mesh")
    assert sorted(module["restarted"]) == ["%s/%s" % (namespace, n) for n in names]
    restarts = [e for e in request_log.writes() if e["path"].endswith("/restart")]
    assert len(restarts) == 3 and all(e["method"] == "PUT" for e in restarts)
    for name in names:
        vmi = vmi_or_none(lab, namespace, name)
        assert vmi["metadata"]["uid"] != before[name]
        assert vmi["metadata"]["annotations"][INJECT] == "true"
        pod = launcher_pod(lab, namespace, vmi)
        assert "istio-proxy" in containers(pod)
        assert pod["metadata"]["labels"][INJECT] == "true"
        assert pod["metadata"]["annotations"]["istio.io/reroute-virtual-interfaces"] == "k6t-eth0"
    assert all(v["in_mesh"] and v["istio_proxy"] and v["ready"] and not v["restart_required"] for v in module["vms"])
    # nothing left to do: no write, no restart
    request_log.mark()
    again = result_of(run_playbook(play(task("mesh", **options))), "mesh")
    assert not again["changed"] and again["restarted"] == [] and request_log.writes() == []


def test_stopped_only_defers_running_vms(istio_lab, namespace, run_playbook, request_log):
    lab = istio_lab
    create_vm(lab, namespace, "up")
    create_vm(lab, namespace, "down", running=False)
    wait_ready(lab, namespace, "up")
    module = result_of(run_playbook(play(task("mesh", namespaces=[namespace], restart="stopped_only"))), "mesh")
    by_name = dict((v["name"], v) for v in module["vms"])
    assert by_name["up"]["action"] == "deferred" and by_name["up"]["restart_required"]
    assert by_name["down"]["action"] == "updated"
    assert INJECT not in template_annotations(vm(lab, namespace, "up"))
    assert template_annotations(vm(lab, namespace, "down"))[INJECT] == "true"


def test_vm_selection_by_name_and_template_labels(istio_lab, namespace, run_playbook, request_log):
    lab = istio_lab
    for name, app in (("a", "front"), ("b", "back"), ("c", "back"), ("d", "other")):
        create_vm(lab, namespace, name, running=False, labels={"app": app})
    # the old option name still works, as a deprecated alias of template_selector
    module = result_of(run_playbook(play(task("mesh", namespaces=[namespace], vms=[
        {"names": ["a"]}, {"namespace": namespace, "vm_selector": {"app": "back"}}]))), "mesh")
    assert sorted(v["name"] for v in module["vms"]) == ["a", "b", "c"]
    assert any("vm_selector" in str(d.get("msg")) for d in module.get("deprecations") or []), module.get("deprecations")
    assert INJECT not in template_annotations(vm(lab, namespace, "d"))
    # the string form selects by the same template labels
    module = result_of(run_playbook(play(task("mesh", namespaces=[namespace], vms=[
        {"template_selector": "app in (front,other)"}]))), "mesh")
    assert sorted(v["name"] for v in module["vms"]) == ["a", "d"] and not module.get("deprecations")
    # a selector that matches no VM's template labels fails before any write, unless allow_no_match
    none = [{"template_selector": {"app": "nowhere"}}]
    request_log.mark()
    failed = result_of(run_playbook(play(task("mesh", ignore_errors=True, namespaces=[namespace], vms=none))), "mesh")
    assert failed["failed"] and "vms[0].template_selector" in failed["msg"] and "allow_no_match" in failed["msg"]
    assert request_log.writes() == []
    accepted = result_of(run_playbook(play(task("mesh", namespaces=[namespace], vms=none, allow_no_match=True))),
                         "mesh")
    assert not accepted.get("failed") and "no-match" in [f["kind"] for f in accepted["findings"]]


def test_absent_removes_what_this_module_added(istio_lab, namespace, run_playbook, request_log):
    lab = istio_lab
    create_vm(lab, namespace, "web", labels={"app": "web"})
    wait_ready(lab, namespace, "web")
    options = dict(namespaces=[namespace], mtls="strict", services=[WEB_SERVICE], restart="rolling",
                   restart_timeout=120)
    run_playbook(play(task("mesh", **options)))
    assert "istio-proxy" in containers(launcher_pod(lab, namespace, vmi_or_none(lab, namespace, "web")))
    module = result_of(run_playbook(play(task("mesh", state="absent", namespaces=[namespace], restart="rolling",
                                              restart_timeout=120))), "mesh")
    assert module["changed"] and module["restarted"] == ["%s/web" % namespace]
    assert "istio-injection" not in ns_labels(lab, namespace)
    assert INJECT not in template_annotations(vm(lab, namespace, "web"))
    assert get(lab, SERVICE_PATH % namespace)["items"] == []
    assert get(lab, PA_PATH % namespace)["items"] == []
    assert "istio-proxy" not in containers(launcher_pod(lab, namespace, vmi_or_none(lab, namespace, "web")))
    request_log.mark()
    again = result_of(run_playbook(play(task("mesh", state="absent", namespaces=[namespace]))), "mesh")
    assert not again["changed"] and request_log.writes() == []


def test_warnings_for_both_labels_and_ssh(istio_lab, make_namespace, run_playbook):
    lab = istio_lab
    space = make_namespace({"istio-injection": "enabled", "istio.io/rev": "stable"})
    create_vm(lab, space, "ssh", running=False, ports=[22, 8080], labels={"app": "web"})
    module = result_of(run_playbook(play(task("mesh", namespaces=[space], services=[
        dict(WEB_SERVICE, ports=[{"port": 22}, {"port": 8080, "app_protocol": "http"}])]))), "mesh")
    kinds = sorted(set(f["kind"] for f in module["findings"]))
    assert "both-injection-labels" in kinds and "ssh-outside-mesh" in kinds
    assert any("first wins" in w for w in module["warnings"])


def test_ssh_and_udp_warnings_follow_kubevirts_masquerade(istio_lab, make_namespace, run_playbook, request_log):
    # masquerade.go: with the sidecar, no ports listed means 22 goes straight to the guest; UDP reaches no guest
    lab = istio_lab
    space = make_namespace()
    create_vm(lab, space, "open", running=False, labels={"app": "open"})
    create_vm(lab, space, "dns", running=False, ports=[8080, {"port": 53, "protocol": "UDP"}],
              labels={"app": "dns"})
    module = result_of(run_playbook(play(task("mesh", namespaces=[space], services=[
        {"name": "dns", "template_selector": "app=dns", "ports": [{"port": 53, "protocol": "UDP"}]}]))), "mesh")
    by_kind = {}
    for finding in module["findings"]:
        by_kind.setdefault(finding["kind"], []).append(finding)
    assert [f["vm"] for f in by_kind["ssh-outside-mesh"]] == ["%s/open" % space]
    assert sorted(f.get("vm") or f.get("service") for f in by_kind["udp-outside-mesh"]) == [
        "%s/dns" % space, "%s/dns" % space]
    assert any("TCP only" in w for w in module["warnings"])


def test_no_sidecar_injector_is_refused_before_any_write(lab, make_namespace, run_playbook, request_log):
    # Istio's CRDs are there (the lab always serves them), but istiod's injector webhook is not registered
    saved = lab.get_config()
    lab.set_config(istio=False)
    try:
        space = make_namespace()
        create_vm(lab, space, "web", running=False)
        request_log.mark()
        result = run_playbook(play(task("mesh", ignore_errors=True, namespaces=[space])))
        module = result_of(result, "mesh")
        assert module["failed"] and "sidecar injector" in module["msg"] and "istioctl install" in module["msg"]
        assert request_log.writes() == []
        assert INJECT not in template_annotations(vm(lab, space, "web"))
    finally:
        lab.set_config(istio=saved["istio"])


def test_rendered_contacts_no_cluster(istio_lab, run_playbook, request_log):
    request_log.mark()
    module = result_of(run_playbook(play(task("mesh", state="rendered", namespaces=["shop"], mtls="strict",
                                              cni_nad=True, services=[WEB_SERVICE]))), "mesh")
    kinds = sorted(o["kind"] for o in module["objects"])
    assert kinds == ["Namespace", "NetworkAttachmentDefinition", "PeerAuthentication", "Service"]
    assert module["vm_patch"]["spec"]["template"]["metadata"]["annotations"] == {INJECT: "true"}
    assert request_log.entries() == []


def test_conflict_on_a_vm_patch_is_read_again_and_applied(istio_lab, namespace, run_playbook, request_log):
    lab = istio_lab
    create_vm(lab, namespace, "raced", running=False)
    lab.add_fault(method="PATCH", path="/virtualmachines/raced$", action="conflict", count=1)
    module = result_of(run_playbook(play(task("mesh", namespaces=[namespace]))), "mesh")
    assert module["changed"] and template_annotations(vm(lab, namespace, "raced"))[INJECT] == "true"
    patches = [e for e in request_log.writes() if e["path"].endswith("/virtualmachines/raced")]
    assert [e.get("status") for e in patches] == [409, 200]


# ----------------------------------------------------- refusals, no writes
def _bad_inputs_setup(lab, make_namespace):
    """One namespace per kind of bad input; returns (namespaces, tasks)."""
    base = make_namespace()
    create_vm(lab, base, "web", running=False, labels={"app": "web"}, ports=[80])
    create_vm(lab, base, "bridged", running=False, binding="bridge", labels={"app": "bridged"})
    create_vm(lab, base, "reserved", running=False, ports=[8080, 15021], labels={"app": "reserved"})
    ambient = make_namespace({"istio.io/dataplane-mode": "ambient"})
    taken = make_namespace()
    create_vm(lab, taken, "web", running=False, labels={"app": "web"})
    lab.request("POST", SERVICE_PATH % taken, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                               "spec": {"selector": {"app": "other"}, "ports": [{"port": 80}]}})
    grpc = make_namespace()
    create_vm(lab, grpc, "web", running=False, labels={"app": "web"})
    lab.request("POST", SERVICE_PATH % grpc, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "legacy"},
                                              "spec": {"selector": {"app": "web"}, "ports": [
                                                  {"name": "grpc-api", "port": 9000, "targetPort": 8080}]}})
    pa = make_namespace()
    lab.request("POST", PA_PATH % pa, {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                                       "metadata": {"name": "default"}, "spec": {"mtls": {"mode": "PERMISSIVE"}}})
    ipv6 = make_namespace()
    saved = lab.get_config()["pod_cidr"]
    lab.set_config(pod_cidr="fd10:244::/64")
    try:
        create_vm(lab, ipv6, "v6")
        wait_ready(lab, ipv6, "v6")
    finally:
        lab.set_config(pod_cidr=saved)
    only_web = [{"names": ["web"]}]
    cases = [
        ("bridge on the pod network", dict(namespaces=[base], vms=[{"names": ["bridged"]}]),
         "interface default: uses bridge binding"),
        ("reserved port in the interface", dict(namespaces=[base], vms=[{"names": ["reserved"]}]),
         "lists Istio's reserved port(s) 15021"),
        ("missing namespace", dict(namespaces=["no-such-ns-" + base]), "does not exist"),
        ("ambient namespace", dict(namespaces=[ambient]), "does not support Istio ambient mode"),
        ("revision without revision", dict(namespaces=[base], mode="revision"), "is required with mode=revision"),
        ("reserved service target port", dict(namespaces=[base], vms=only_web, services=[
            {"name": "web", "template_selector": {"app": "web"}, "ports": [{"port": 80, "target_port": 15006}]}]),
         "15006 is reserved by Istio"),
        ("service name taken", dict(namespaces=[taken], services=[WEB_SERVICE]), "is not managed by this module"),
        ("target port not forwarded", dict(namespaces=[base], vms=only_web, services=[WEB_SERVICE]),
         "is not in the ports list of %s/web" % base),
        ("peer authentication taken", dict(namespaces=[pa], mtls="strict"),
         "PeerAuthentication %s/default: name: exists and is not managed" % pa),
        ("unknown vm", dict(namespaces=[base], vms=[{"names": ["ghost"]}]), "'ghost' does not exist"),
        ("port protocol collision", dict(namespaces=[grpc], services=[WEB_SERVICE]), "as grpc, but here as http"),
        ("ipv6-only pod network", dict(namespaces=[ipv6]), "IPv6 addresses only"),
    ]
    return cases


def test_twelve_bad_inputs_are_rejected_before_any_write(istio_lab, make_namespace, run_playbook, request_log):
    lab = istio_lab
    cases = _bad_inputs_setup(lab, make_namespace)
    assert len(cases) == 12
    request_log.mark()
    result = run_playbook(play(*[task(title, ignore_errors=True, **options) for title, options, _expected in cases]))
    for title, _options, expected in cases:
        module = result_of(result, title)
        assert module.get("failed"), title
        assert expected in module["msg"], (title, module["msg"])
        assert module["api_requests"]["writes"] == 0, title
        assert "nothing was changed" in module["msg"], title
    assert request_log.writes(include_dry_run=True) == []


def test_all_problems_of_a_run_are_reported_together(istio_lab, make_namespace, run_playbook, request_log):
    lab = istio_lab
    space = make_namespace()
    create_vm(lab, space, "bridged", running=False, binding="bridge")
    create_vm(lab, space, "reserved", running=False, ports=[15090])
    request_log.mark()
    module = result_of(run_playbook(play(task("mesh", ignore_errors=True, namespaces=[space]))), "mesh")
    assert module["failed"] and len(module["problems"]) == 2
    assert request_log.writes() == []


def test_current_kubevirt_with_new_istio_is_not_refused(istio_lab, namespace, run_playbook):
    """The broken pair (KubeVirt before 1.7's masquerade rules with Istio 1.26) is
    a unit-tested rule (test_istio.py); the real KubeVirt v1.9.0 of the lab with
    Istio 1.26 is fine."""
    create_vm(istio_lab, namespace, "web", running=False)
    ok = result_of(run_playbook(play(task("mesh", namespaces=[namespace], istio_version="1.26.1"))), "mesh")
    assert ok["changed"] and ok["istio_version"] == "1.26.1"


@pytest.mark.parametrize("extra", [{"restart": "rolling"}])
def test_a_failed_restart_stops_the_rollout(istio_lab, namespace, run_playbook, request_log, extra):
    lab = istio_lab
    for name in ("f-0", "f-1"):
        create_vm(lab, namespace, name)
        wait_ready(lab, namespace, name)
    lab.add_fault(method="PUT", path="/virtualmachines/f-0/restart$", action="status", code=403, count=-1)
    try:
        module = result_of(run_playbook(play(task("mesh", ignore_errors=True, namespaces=[namespace],
                                                  restart_batch_size=1, **extra))), "mesh")
    finally:
        lab.clear_faults()
    assert module["failed"] and "f-0" in module["msg"]
    assert module["restarted"] == []   # the second batch (f-1) was not started
    restarts = [e["path"] for e in request_log.writes() if e["path"].endswith("/restart")]
    assert restarts == ["/apis/subresources.kubevirt.io/v1/namespaces/%s/virtualmachines/f-0/restart" % namespace]


def test_a_503_is_retried_and_a_lasting_500_fails_cleanly(istio_lab, namespace, run_playbook, request_log):
    lab = istio_lab
    create_vm(lab, namespace, "web", running=False, labels={"app": "web"})
    lab.add_fault(method="POST", path="/namespaces/%s/services$" % namespace, action="status", code=503, count=1)
    module = result_of(run_playbook(play(task("mesh", namespaces=[namespace], services=[WEB_SERVICE]))), "mesh")
    assert module["api_requests"]["retries"] == 1
    assert get(lab, SERVICE_PATH % namespace, "web")["spec"]["selector"] == {"app": "web"}
    lab.add_fault(method="POST", path="/namespaces/%s/peerauthentications$" % namespace, action="status", code=500,
                  count=-1)
    try:
        failed = result_of(run_playbook(play(task("mesh", ignore_errors=True, namespaces=[namespace], mtls="strict",
                                                  services=[WEB_SERVICE], api_retries=1))), "mesh")
    finally:
        lab.clear_faults()
    assert failed["failed"] and "PeerAuthentication %s/default" % namespace in failed["msg"]
    pa = [o for o in failed["objects"] if o["kind"] == "PeerAuthentication"][0]
    assert "error" in pa
    # the run reports exactly what it did: the rest was already in place, nothing else written
    assert failed["api_requests"]["writes"] == 2   # two tries of the PeerAuthentication


def test_an_injector_whose_service_has_no_ready_endpoint_is_refused(istio_lab, make_namespace, run_playbook,
                                                                    request_log):
    # istiod's chart registers istio-sidecar-injector-<rev> calling Service istiod-<rev>; with istiod scaled
    # to 0 the Service has no ready endpoint and kube-apiserver cannot call the webhook. The objectSelector
    # keeps kube-apiserver from calling this stand-in for the lab's own pods.
    lab = istio_lab
    mwc = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
    lab.request("POST", mwc, {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "istio-sidecar-injector-canary", "labels": {"istio.io/rev": "canary"}},
        "webhooks": [{"name": "rev.namespace.sidecar-injector.istio.io", "admissionReviewVersions": ["v1"],
                      "sideEffects": "None", "failurePolicy": "Ignore",
                      "objectSelector": {"matchLabels": {"kubevirt-net.test/never": "x"}},
                      "clientConfig": {"service": {"namespace": "istio-system", "name": "istiod-canary",
                                                   "path": "/inject"}},
                      "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                 "resources": ["pods"]}]}]})
    ns_path = "/api/v1/namespaces/istio-system"
    try:
        try:
            lab.request("POST", "/api/v1/namespaces", {"metadata": {"name": "istio-system"}})
        except LabError:
            pass   # already there
        space = make_namespace()
        create_vm(lab, space, "api", running=False)
        options = dict(namespaces=[space], mode="revision", revision="canary")
        request_log.mark()
        refused = result_of(run_playbook(play(task("mesh", ignore_errors=True, **options))), "mesh")
        assert refused["failed"] and "no ready endpoint" in refused["msg"] and "istio-system/istiod-canary" in \
            refused["msg"], refused["msg"]
        assert request_log.writes() == []
        # istiod-canary ready: one address behind the Service
        lab.request("POST", ns_path + "/endpoints", {"metadata": {"name": "istiod-canary"}, "subsets": [
            {"addresses": [{"ip": "10.244.9.9"}], "ports": [{"name": "https-webhook", "port": 15017}]}]})
        done = result_of(run_playbook(play(task("mesh", **options))), "mesh")
        assert not done.get("failed") and ns_labels(lab, space).get("istio.io/rev") == "canary"
    finally:
        for path in (mwc + "/istio-sidecar-injector-canary", ns_path + "/endpoints/istiod-canary"):
            try:
                lab.request("DELETE", path)
            except LabError:
                pass
