"""The istio_injection role and playbooks/istio_mesh.yml against the lab
(Istio capability on): the same O(1) tasks for 1 or 12 namespaces, rolling
restart to sidecars, idempotence with zero writes, check mode with zero
writes, argument validation, and the molecule scenario run by molecule."""

# pylint: disable=redefined-outer-name,unused-argument
import os
import subprocess
import uuid

import yaml

from tests.integration.istio_fixtures import (  # noqa: F401  pylint: disable=unused-import
    INJECT, PA_PATH, SERVICE_PATH, containers, create_vm, endpoints_ips, get, istio_lab, launcher_pod,
    make_namespace, ns_labels, pod_iface, template_annotations, vm, vmi_or_none, wait_ready)
from tests.integration.helpers import molecule_test, wait_for
from lab.cluster import REPO_ROOT

ROLE_DIR = os.path.join(REPO_ROOT, "roles", "istio_injection")
ROLE_VARS = {
    "istio_injection_mtls": "strict",
    "istio_injection_fix_binding": True,
    "istio_injection_services": [{"name": "web", "template_selector": {"app": "web"},
                                  "ports": [{"port": 80, "target_port": 8080, "app_protocol": "http"}]}],
}


def role_play(**extra):
    return {"hosts": "localhost", "gather_facts": False,
            "roles": [{"role": "kubevirt_net.core.istio_injection", "vars": dict(ROLE_VARS, **extra)}]}


def play_tasks(result, index):
    return [(t["task"]["name"], t["hosts"].get("localhost", {})) for t in result.data["plays"][index]["tasks"]]


def module_result(result, index):
    return [r for _n, r in play_tasks(result, index) if "vms" in r][0]


def test_role_runs_the_same_tasks_for_1_or_12_namespaces(istio_lab, make_namespace, run_playbook, request_log):
    lab = istio_lab
    small, large = {"mesh-role": uuid.uuid4().hex[:8]}, {"mesh-role": uuid.uuid4().hex[:8]}
    one = [make_namespace(small)]
    twelve = [make_namespace(large) for _index in range(12)]
    for space in one + twelve:
        create_vm(lab, space, "web", running=False, labels={"app": "web"})
        create_vm(lab, space, "old", running=False, labels={"app": "web"}, binding="bridge")
    request_log.mark()
    result = run_playbook([role_play(istio_injection_namespace_selector=small),
                           role_play(istio_injection_namespace_selector=large),
                           role_play(istio_injection_namespace_selector=large)])
    first, second, again = (play_tasks(result, i) for i in range(3))
    assert [n for n, _r in first] == [n for n, _r in second] == [n for n, _r in again]
    assert len(first) <= 3  # argument validation, the module, (the in-mesh check)
    big = module_result(result, 1)
    assert len(big["namespaces"]) == 12 and len(big["vms"]) == 24
    assert big["list_scope"] == "cluster"   # above 10 namespaces: one LIST per kind
    # per namespace: label + 2 VMs + Service + PeerAuthentication
    assert big["api_requests"]["writes"] == 12 * 5
    rerun = module_result(result, 2)
    assert not rerun["changed"] and rerun["api_requests"]["writes"] == 0
    assert len(request_log.writes()) == 5 + 12 * 5   # the re-run wrote nothing
    for space in twelve:
        assert ns_labels(lab, space)["istio-injection"] == "enabled"
        assert get(lab, PA_PATH % space, "default")["spec"]["mtls"]["mode"] == "STRICT"
        assert "masquerade" in pod_iface(vm(lab, space, "old"))


def test_role_rolling_restart_and_in_mesh_check(istio_lab, make_namespace, run_playbook, request_log):
    lab = istio_lab
    space = make_namespace()
    for name in ("web-0", "web-1"):
        create_vm(lab, space, name, labels={"app": "web"})
        wait_ready(lab, space, name)
    result = run_playbook([role_play(istio_injection_namespaces=[space], istio_injection_restart="rolling",
                                     istio_injection_restart_batch_size=1, istio_injection_restart_timeout=120,
                                     istio_injection_fail_if_not_in_mesh=True)])
    module = module_result(result, 0)
    assert sorted(module["restarted"]) == ["%s/web-0" % space, "%s/web-1" % space]
    assert all(v["in_mesh"] for v in module["vms"])
    pods = [launcher_pod(lab, space, vmi_or_none(lab, space, n)) for n in ("web-0", "web-1")]
    assert all("istio-proxy" in containers(p) for p in pods)
    ips = sorted(p["status"]["podIP"] for p in pods)
    assert wait_for(lambda: endpoints_ips(lab, space, "web") == ips, timeout=180, message="Endpoints of web")


def test_role_in_mesh_check_fails_without_restart(istio_lab, make_namespace, run_playbook):
    lab = istio_lab
    space = make_namespace()
    create_vm(lab, space, "web", labels={"app": "web"})
    wait_ready(lab, space, "web")
    result = run_playbook([role_play(istio_injection_namespaces=[space], istio_injection_fail_if_not_in_mesh=True)],
                          expect_rc=2)
    failed = [r for n, r in play_tasks(result, 0) if r.get("failed")]
    assert "1 VM(s) are not in the mesh" in failed[0]["msg"] and "restart_required=True" in failed[0]["msg"]


def test_role_check_mode_writes_nothing(istio_lab, make_namespace, run_playbook, request_log):
    lab = istio_lab
    space = make_namespace()
    create_vm(lab, space, "web", labels={"app": "web"})
    request_log.mark()
    result = run_playbook([role_play(istio_injection_namespaces=[space], istio_injection_restart="rolling")],
                          check=True)
    module = module_result(result, 0)
    assert module["changed"] and module["api_requests"]["writes"] == 0
    assert request_log.writes(include_dry_run=True) == []
    assert INJECT not in template_annotations(vm(lab, space, "web"))
    assert "istio-injection" not in ns_labels(lab, space)


def test_role_argument_spec_rejects_bad_values_before_any_request(istio_lab, run_playbook, request_log):
    request_log.mark()
    result = run_playbook([role_play(istio_injection_namespaces=["x"], istio_injection_restart="sometimes")],
                          expect_rc=2)
    assert "istio_injection_restart" in result.stdout
    assert request_log.entries() == []


def test_role_module_refusals_name_the_role_variables(istio_lab, run_playbook, request_log):
    # the module refuses these (not the role's argument spec); the message speaks the role's language
    request_log.mark()
    result = run_playbook([role_play(istio_injection_namespaces=["Not_A_Namespace"],
                                     istio_injection_cluster_domain="not a domain")], expect_rc=2)
    failed = [r for _n, r in play_tasks(result, 0) if r.get("failed")][0]
    assert "- task: istio_injection_cluster_domain: " in failed["msg"], failed["msg"]
    assert "- task: istio_injection_namespaces[0]: " in failed["msg"] or \
        "- task: istio_injection_namespaces: " in failed["msg"], failed["msg"]
    assert "istio_injection_cluster_domain" in [p["field"] for p in failed["problems"]]
    assert [e for e in request_log.entries() if e["method"] != "GET"] == []


def test_playbook_istio_mesh(istio_lab, make_namespace, ansible_env, request_log):
    lab = istio_lab
    space = make_namespace()
    create_vm(lab, space, "web", running=False, labels={"app": "web"})
    argv = ["ansible-playbook", "-i", "localhost,", "-c", "local", os.path.join(REPO_ROOT, "playbooks", "istio_mesh.yml"),
            "-e", yaml.safe_dump({"istio_injection_namespaces": [space], "istio_injection_mtls": "permissive"},
                                 default_flow_style=True).strip()]
    proc = subprocess.run(argv, env=ansible_env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert template_annotations(vm(lab, space, "web"))[INJECT] == "true"
    assert get(lab, PA_PATH % space, "default")["spec"]["mtls"]["mode"] == "PERMISSIVE"
    assert get(lab, SERVICE_PATH % space)["items"] == []


def test_molecule_scenario_converge_idempotence_verify(istio_lab, ansible_env):
    env = dict(ansible_env)
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)  # molecule reads the default callback's recap
    env["MOLECULE_ISTIO_SUFFIX"] = "-" + uuid.uuid4().hex[:6]
    output = molecule_test(ROLE_DIR, env, timeout=900)
    for step in ("prepare", "converge", "idempotence", "verify"):
        assert "default > %s: Executed: Successful" % step in output, (step, output[-3000:])
