"""kubevirt_vm_service against the lab: Services, endpoints from the real kube-controller-manager,
DNS answers from the lab resolver, judged by the request log."""

import urllib.parse

from tests.integration.modules.kubevirt_objects import VM_PATH, create_vm, get_vm, get_vmi, vm_manifest, wait_running
from tests.integration.helpers import play, wait_for

SERVICE_PATH = "/api/v1/namespaces/%s/services"


def service(title, options=None, **more):
    return {"name": title, "kubevirt_net.core.kubevirt_vm_service": dict(options or {}, **more), "register": "r"}


def get_service(lab, namespace, name):
    return lab.request("GET", "%s/%s" % (SERVICE_PATH % namespace, name))


def create_vm_with_ports(lab, namespace, name, ports, template_labels=None, running=True):
    manifest = vm_manifest(name, running=running, template_labels=template_labels)
    manifest["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0]["ports"] = ports
    return lab.request("POST", VM_PATH % namespace, manifest)


def resolve(lab, name):
    return lab.request("GET", "/_lab/dns?name=%s" % urllib.parse.quote(name), direct=False)


def wait_resolves_to_vmi(lab, namespace, fqdn, vmi_name, timeout=60):
    """Wait until the lab DNS answers ``fqdn`` NOERROR with exactly the VMI's primary address. The
    resolver answers from its own watch of Services and Endpoints (lab/kubevirt/dns.py, like
    CoreDNS's kubernetes plugin), which can lag the Endpoints the module already read from the API
    server."""
    def probe():
        reply = resolve(lab, fqdn)
        got = (reply["rcode"], [a["data"] for a in reply["answers"]])
        want = ("NOERROR", [get_vmi(lab, namespace, vmi_name)["status"]["interfaces"][0]["ipAddress"]])
        if got != want:
            raise AssertionError("answered %r, wanted %r" % (got, want))  # wait_for reports the last one
        return got

    return wait_for(probe, timeout=timeout, interval=0.2,
                    message="%s to resolve to VMI %s's address" % (fqdn, vmi_name))


def test_group_service_endpoints_rerun_check_mode_and_update(lab, namespace, run_playbook, request_log):
    for name in ("web-1", "web-2"):
        create_vm_with_ports(lab, namespace, name, [{"name": "http", "port": 8080}, {"port": 22}],
                             template_labels={"app": "web", "vm": name})
    create_vm(lab, namespace, "db", template_labels={"app": "db"})
    for name in ("web-1", "web-2"):
        wait_running(lab, namespace, name)
    task = play([service("s", name="web", namespace=namespace, vms=["web-1", "web-2"], wait_timeout=60,
                         ports=[{"name": "http", "port": 80, "target_port": "http"}, {"name": "ssh", "port": 22}])])

    request_log.mark()
    checked = run_playbook(task, check=True, diff=True).tasks["s"]
    assert checked["changed"] and checked["method"] == "created" and checked["selector"] == {"app": "web"}
    assert request_log.writes(include_dry_run=True) == []

    res = run_playbook(task).tasks["s"]
    assert res["method"] == "created" and res["api_requests"]["writes"] == 1
    assert len(res["endpoints"]) == 2
    vmi_ips = {get_vmi(lab, namespace, n)["status"]["interfaces"][0]["ipAddress"] for n in ("web-1", "web-2")}
    assert {e["ip"] for e in res["endpoints"]} == vmi_ips
    stored = get_service(lab, namespace, "web")
    assert stored["spec"]["selector"] == {"app": "web"}
    assert stored["spec"]["ports"][0]["targetPort"] == "http"
    assert [v["forwarded_ports"] for v in res["vms"]] == [["8080/TCP", "22/TCP"]] * 2

    request_log.mark()
    again = run_playbook(task).tasks["s"]
    assert not again["changed"] and again["method"] == "unchanged" and request_log.writes() == []

    # update to NodePort, then the same again: one PATCH in all, the allocated node port kept
    request_log.mark()
    update = service("s", name="web", namespace=namespace, vms=["web-1", "web-2"], type="NodePort",
                     ports=[{"name": "http", "port": 80, "target_port": 8080}])
    result = run_playbook(play([dict(update, name="update"), dict(update, name="again")]), diff=True)
    assert result.tasks["update"]["method"] == "updated" and result.tasks["again"]["method"] == "unchanged"
    assert [e["method"] for e in request_log.writes()] == ["PATCH"]
    assert result.tasks["update"]["diff"]["after"]["type"] == "NodePort"
    node_port = result.tasks["update"]["service"]["spec"]["ports"][0]["nodePort"]
    assert get_service(lab, namespace, "web")["spec"]["ports"][0]["nodePort"] == node_port


def test_refusals_before_any_write(lab, namespace, run_playbook, request_log):
    create_vm_with_ports(lab, namespace, "locked", [{"port": 22}], template_labels={"app": "shared"}, running=False)
    create_vm(lab, namespace, "twin", running=False, template_labels={"app": "shared"})
    bare = vm_manifest("bare", running=False)
    del bare["spec"]["template"]["metadata"]
    lab.request("POST", VM_PATH % namespace, bare)
    cases = [
        ({"vm": "locked", "selector_from": "vmi_id", "ports": [{"port": 80}]}, "80/TCP is not forwarded"),
        ({"vm": "locked", "selector_from": "vmi_id", "ports": [{"port": 80, "target_port": "web"}]},
         "'web' is not a named port"),
        ({"vm": "twin", "ports": [{"port": 80}]}, "also selects VirtualMachine locked"),
        ({"vm": "bare", "ports": [{"port": 80}]}, "no label in spec.template.metadata.labels"),
    ]
    request_log.mark()
    tasks = [dict(service("c%d" % i, dict(options, name="svc", namespace=namespace)), ignore_errors=True)
             for i, (options, _w) in enumerate(cases)]
    result = run_playbook(play(tasks))
    for index, (_options, words) in enumerate(cases):
        res = result.tasks["c%d" % index]
        assert res.get("failed") and words in res["msg"], (index, res.get("msg"))
    assert request_log.writes(include_dry_run=True) == []


BAD = [
    ({"name": "Bad_Name", "vm": "a", "ports": [{"port": 80}]}, "name"),
    ({"name": "s", "ports": [{"port": 80}]}, "vm"),
    ({"name": "s", "vm": "a", "ports": [{"port": 80, "node_port": 30080}]}, "ports[0].node_port"),
    ({"name": "s", "vm": "a", "dns": True, "type": "ClusterIP", "ports": [{"port": 80}]}, "type"),
]


def test_bad_inputs_fail_before_any_request(namespace, run_playbook, request_log):
    tasks = [dict(service("bad%d" % i, dict(options, namespace=namespace)), ignore_errors=True)
             for i, (options, _f) in enumerate(BAD)]
    result = run_playbook(play(tasks))
    for index, (_options, field) in enumerate(BAD):
        res = result.tasks["bad%d" % index]
        assert res.get("failed") and ": %s: " % field in res["msg"], (index, res.get("msg"))
        assert res["api_requests"]["total"] == 0
    assert request_log.entries() == []


def test_metadata_only_labels_get_a_diagnosis(lab, namespace, run_playbook):
    create_vm(lab, namespace, "meta", labels={"app": "meta"}, template_labels={"other": "x"})
    wait_running(lab, namespace, "meta")
    res = run_playbook(play([service("s", name="meta", namespace=namespace, selector={"app": "meta"},
                                     ports=[{"port": 22}], wait_timeout=3, wait_sleep=0.2)]), expect_rc=2).tasks["s"]
    assert "no ready endpoint" in res["msg"]
    assert any("only in metadata.labels" in d and "meta" in d for d in res["diagnosis"])
    assert get_service(lab, namespace, "meta")["spec"]["selector"] == {"app": "meta"}


def test_template_labels_of_a_vm_vmi_id_selector_and_stopped_vm_diagnosis(lab, namespace, run_playbook):
    create_vm(lab, namespace, "solo", template_labels={"app": "solo"})
    create_vm(lab, namespace, "sleeper", running=False, template_labels={"app": "sleeper"})
    wait_running(lab, namespace, "solo")
    result = run_playbook(play([
        service("solo", name="solo", namespace=namespace, vm="solo", selector_from="vmi_id", type="LoadBalancer",
                external_traffic_policy="Local", ports=[{"name": "ssh", "port": 22}]),
        dict(service("sleeper", name="sleeper", namespace=namespace, vm="sleeper", ports=[{"port": 22}],
                     wait_for_endpoints=True, wait_timeout=3, wait_sleep=0.2), ignore_errors=True)]))
    res = result.tasks["solo"]
    assert res["selector"] == {"vmi.kubevirt.io/id": "solo"} and len(res["endpoints"]) == 1
    assert get_service(lab, namespace, "solo")["spec"]["externalTrafficPolicy"] == "Local"
    res = result.tasks["sleeper"]
    assert res["failed"] and any("sleeper is stopped (runStrategy Halted)" in d for d in res["diagnosis"])


def start_vm(lab, namespace, name):
    lab.request("PATCH", "%s/%s" % (VM_PATH % namespace, name), {"spec": {"runStrategy": "Always"}},
                content_type="application/merge-patch+json")


def test_dns_names_resolve_through_the_headless_service(lab, namespace, run_playbook, request_log):
    for name in ("db-1", "db-2"):
        create_vm(lab, namespace, name, running=False, template_labels={"tier": "db"})
    task = play([service("dns", name="db", namespace=namespace, selector={"tier": "db"}, dns=True)])
    request_log.mark()
    checked = run_playbook(task, check=True).tasks["dns"]
    assert checked["changed"] and request_log.writes(include_dry_run=True) == []
    res = run_playbook(task).tasks["dns"]
    assert res["dns_names"] == ["db-1.db.%s.svc.cluster.local" % namespace, "db-2.db.%s.svc.cluster.local" % namespace]
    assert [v["subdomain_changed"] for v in res["vms"]] == [True, True]
    assert get_service(lab, namespace, "db")["spec"]["clusterIP"] == "None"
    writes = [(e["method"], e["path"].rsplit("/", 2)[-2]) for e in request_log.writes()]
    assert sorted(writes) == [("PATCH", "virtualmachines")] * 2 + [("POST", namespace)]
    for name in ("db-1", "db-2"):
        assert get_vm(lab, namespace, name)["spec"]["template"]["spec"]["subdomain"] == "db"
        start_vm(lab, namespace, name)
        wait_running(lab, namespace, name)

    # running now: the rerun writes nothing and waits for both endpoints, which carry the hostnames
    request_log.mark()
    again = run_playbook(task).tasks["dns"]
    assert not again["changed"] and request_log.writes() == []
    assert {e["hostname"] for e in again["endpoints"]} == {"db-1", "db-2"}
    for name in ("db-1", "db-2"):
        wait_resolves_to_vmi(lab, namespace, "%s.db.%s.svc.cluster.local" % (name, namespace), name)
    assert resolve(lab, "db-1.%s.svc.cluster.local" % namespace)["rcode"] == "NXDOMAIN"

    request_log.mark()
    remove = service("rm", name="db", namespace=namespace, state="absent", dns=True)
    result = run_playbook(play([remove, dict(remove, name="again")]))
    assert result.tasks["rm"]["changed"] and result.tasks["rm"]["method"] == "deleted"
    assert not result.tasks["again"]["changed"] and result.tasks["again"]["api_requests"]["writes"] == 0
    assert sorted(e["method"] for e in request_log.writes()) == ["DELETE", "PATCH", "PATCH"]
    assert "subdomain" not in get_vm(lab, namespace, "db-1")["spec"]["template"]["spec"]


def test_dns_on_a_running_vm_needs_a_restart_which_restart_true_does(lab, namespace, run_playbook, request_log):
    create_vm(lab, namespace, "api", template_labels={"app": "api"})
    wait_running(lab, namespace, "api")
    old_uid = get_vmi(lab, namespace, "api")["metadata"]["uid"]
    name = "api.web.%s.svc.cluster.local" % namespace
    res = run_playbook(play([service("dns", name="web", namespace=namespace, vm="api", dns=True)])).tasks["dns"]
    assert res["vms"][0]["restart_required"] and not res["vms"][0].get("restarted")
    assert resolve(lab, name)["rcode"] == "NXDOMAIN"  # the running pod has no subdomain yet

    request_log.mark()
    task = service("dns", name="web", namespace=namespace, vm="api", dns=True, restart=True)
    result = run_playbook(play([task, dict(task, name="again")]))
    res = result.tasks["dns"]
    assert res["changed"] and res["vms"][0]["restarted"] and not res["vms"][0]["restart_required"]
    assert not result.tasks["again"]["changed"]
    assert [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in request_log.writes()] == [("PUT", "restart")]
    vmi = get_vmi(lab, namespace, "api")
    assert vmi["metadata"]["uid"] != old_uid and vmi["spec"]["subdomain"] == "web"
    assert res["endpoints"][0]["hostname"] == "api"
    wait_resolves_to_vmi(lab, namespace, name, "api")
