"""The network_policies role and its playbooks against the lab: O(1) tasks for
N namespaces, the drift audit, and the molecule scenario (converge,
idempotence, verify) run by molecule itself."""

import json
import os
import subprocess
import uuid

import yaml

from tests.integration.helpers import molecule_test
from lab.cluster import REPO_ROOT

NP_PATH = "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies"
ROLE_DIR = os.path.join(REPO_ROOT, "roles", "network_policies")


def make_namespaces(lab, count, labels):
    names = []
    for _index in range(count):
        name = "role-np-" + uuid.uuid4().hex[:8]
        lab.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": name, "labels": labels}})
        names.append(name)
    return names


def drop_namespaces(lab, names):
    for name in names:
        try:
            lab.request("DELETE", "/api/v1/namespaces/" + name)
        except Exception:  # pylint: disable=broad-except
            pass


ROLE_VARS = {
    "network_policies_default_deny": "both",
    "network_policies_allow_dns": True,
    "network_policies_dns_namespace_selector": {"dns": "yes"},
    "network_policies_allow_same_namespace": False,
    "network_policies_rules": [
        {"name": "db-from-app", "direction": "ingress", "template_selector": {"app": "db"},
         "peers": [{"template_selector": {"app": "web"}}], "ports": [{"port": 3306}]},
    ],
}


def role_play(**extra):
    return {"hosts": "localhost", "gather_facts": False,
            "roles": [{"role": "kubevirt_net.core.network_policies", "vars": dict(ROLE_VARS, **extra)}]}


def play_tasks(result, index):
    """(name, result) of every task the index-th play ran."""
    return [(t["task"]["name"], t["hosts"].get("localhost", {})) for t in result.data["plays"][index]["tasks"]]


def test_old_variable_and_option_names_still_work_and_warn(run_playbook, request_log):
    """network_policies_concurrency and rules[].vm_selector: deprecated, rendered the same as the new names."""
    old_rules = [{"name": "db-from-app", "direction": "ingress", "vm_selector": {"app": "db"},
                  "peers": [{"vm_selector": {"app": "web"}}], "ports": [{"port": 3306}]}]
    result = run_playbook([role_play(network_policies_state="rendered", network_policies_namespaces=["a"],
                                     network_policies_max_concurrency=3),
                           role_play(network_policies_state="rendered", network_policies_namespaces=["a"],
                                     network_policies_concurrency=3, network_policies_rules=old_rules)])
    new, old = (dict(play_tasks(result, i)) for i in range(2))
    module = [name for name in new if "Reconcile" in name][0]
    assert new[module]["policies"] == old[module]["policies"]
    assert not new[module].get("deprecations")
    messages = " ".join(d["msg"] for d in old[module]["deprecations"])
    for name in ("'concurrency'", "'rules[0].vm_selector'", "'rules[0].peers[0].vm_selector'"):
        assert name in messages, messages
    assert request_log.entries() == []


def test_role_runs_the_same_tasks_for_2_or_15_namespaces(lab, run_playbook, request_log):
    small, large = {"role-np": uuid.uuid4().hex[:8]}, {"role-np": uuid.uuid4().hex[:8]}
    names = make_namespaces(lab, 2, small) + make_namespaces(lab, 15, large)
    try:
        request_log.mark()
        result = run_playbook([role_play(network_policies_namespace_selector=small),
                               role_play(network_policies_namespace_selector=large),
                               role_play(network_policies_namespace_selector=large)])
        two, fifteen, again = (play_tasks(result, i) for i in range(3))
        assert [n for n, _r in two] == [n for n, _r in fifteen] == [n for n, _r in again]
        assert len(two) <= 4  # argument validation, the module, (report), (drift check)
        module = [r for _n, r in fifteen if "totals" in r][0]
        assert module["totals"]["created"] == 45 and len(module["namespaces"]) == 15
        assert module["api_requests"]["writes"] == 45
        rerun = [r for _n, r in again if "totals" in r][0]
        assert not rerun["changed"] and rerun["api_requests"]["writes"] == 0
        assert len(request_log.writes()) == 2 * 3 + 45  # the re-run wrote nothing
        stored = lab.request("GET", NP_PATH % names[-1])["items"]
        assert sorted(o["metadata"]["name"] for o in stored) == [
            "kvnet-allow-dns", "kvnet-db-from-app", "kvnet-default-deny"]
    finally:
        drop_namespaces(lab, names)


def test_200_namespaces_with_multinetworkpolicies_and_a_baseline_converge_then_rerun_clean(
        lab, run_playbook, request_log):
    """200 namespaces x (2 NetworkPolicies + 2 MultiNetworkPolicies) + one cluster baseline in one run;
    the second run writes nothing and LISTs each kind at most once per namespace (here: once)."""
    tag = uuid.uuid4().hex[:8]
    labels = {"role-np-scale": tag}
    names = make_namespaces(lab, 200, labels)
    for name in names:
        lab.request("POST", "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions" % name, {
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": {"name": "storage"},
            "spec": {"config": json.dumps({"cniVersion": "0.3.1", "name": "storage", "type": "bridge",
                                           "bridge": "br-storage", "ipam": {"type": "host-local",
                                                                            "subnet": "192.168.100.0/24"}})}})
    scale_vars = {
        "network_policies_namespace_selector": labels,
        "network_policies_policy_set": "scale-" + tag,
        "network_policies_default_deny": "ingress",
        "network_policies_allow_dns": False,
        "network_policies_allow_same_namespace": True,
        "network_policies_rules": [
            {"name": "storage-same-tenant", "direction": "ingress", "network": "storage", "template_selector": {},
             "peers": [{"template_selector": {}}]},
            {"name": "storage-backup", "direction": "ingress", "network": "storage", "template_selector": {},
             "peers": [{"namespaces": ["infra"], "template_selector": {"app": "backup"}}], "ports": [{"port": 5432}]},
        ],
        "network_policies_cluster_baselines": [
            {"name": "tenants-" + tag, "tier": "Baseline", "priority": 77, "subject": {"namespace_selector": labels},
             "ingress": [{"name": "no-other-tenants", "action": "Deny", "peers": [{"namespace_selector": labels}]}]}],
    }
    play = {"hosts": "localhost", "gather_facts": False,
            "roles": [{"role": "kubevirt_net.core.network_policies", "vars": scale_vars}]}
    try:
        request_log.mark()
        first = [r for _n, r in play_tasks(run_playbook([play]), 0) if "totals" in r][0]
        assert first["totals"]["created"] == 800 and len(first["namespaces"]) == 200
        kinds = sorted(set((p["kind"], p["name"]) for p in first["policies"]))
        assert kinds == [("MultiNetworkPolicy", "kvnet-storage-backup"),
                         ("MultiNetworkPolicy", "kvnet-storage-same-tenant"),
                         ("NetworkPolicy", "kvnet-allow-same-namespace"), ("NetworkPolicy", "kvnet-default-deny")]
        assert [b["method"] for b in first["baselines"]] == ["created"]
        assert first["api_requests"]["writes"] == 801
        request_log.mark()
        second = [r for _n, r in play_tasks(run_playbook([play]), 0) if "totals" in r][0]
        assert not second["changed"] and second["totals"]["unchanged"] == 800
        assert request_log.writes() == [] and second["api_requests"]["writes"] == 0
        lists = [e["path"] for e in request_log.entries() if e["method"] == "GET"]
        over = dict((path, lists.count(path)) for path in set(lists) if lists.count(path) > 1)
        assert over == {}, over            # every kind listed once (cluster-wide above 10 namespaces)
        print("scale: first run %d requests, %d writes; second run %d requests, 0 writes, %d LISTs" % (
            first["api_requests"]["total"], first["api_requests"]["writes"], second["api_requests"]["total"],
            len(lists)))
    finally:
        run_playbook([{"hosts": "localhost", "gather_facts": False, "roles": [{
            "role": "kubevirt_net.core.network_policies",
            "vars": dict(scale_vars, network_policies_state="absent", network_policies_cluster_baselines=[])}]}])
        drop_namespaces(lab, names)


def run_site(ansible_env, playbook, extra_vars, check=False):
    env = dict(ansible_env)
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    argv = ["ansible-playbook", "-i", "localhost,", os.path.join(REPO_ROOT, "playbooks", playbook),
            "-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_site_and_audit_playbooks(lab, ansible_env, tmp_path, request_log):
    [name] = make_namespaces(lab, 1, {"role-np": "audit"})
    report = tmp_path / "audit.md"
    variables = dict(ROLE_VARS, network_policies_namespaces=[name])
    try:
        site = run_site(ansible_env, "network_policies.yml", variables)
        assert site.returncode == 0, site.stdout[-3000:]

        audit_vars = dict(variables, network_policies_fail_on_drift=True, network_policies_report_file=str(report))
        clean = run_site(ansible_env, "audit_network_policies.yml", audit_vars)
        assert clean.returncode == 0, clean.stdout[-3000:]
        assert "| %s | 0 | 0 | 0 | 3 |" % name in report.read_text()

        # drift by hand: the database port changed, a managed policy deleted
        lab.request("PATCH", "%s/kvnet-db-from-app" % (NP_PATH % name),
                    {"spec": {"ingress": [{"ports": [{"port": 3307}]}]}},
                    content_type="application/merge-patch+json")
        lab.request("DELETE", "%s/kvnet-allow-dns" % (NP_PATH % name))
        request_log.mark()
        drift = run_site(ansible_env, "audit_network_policies.yml", audit_vars)
        assert drift.returncode == 2
        assert "%s/kvnet-db-from-app updated" % name in drift.stdout
        assert "%s/kvnet-allow-dns created" % name in drift.stdout
        assert "3307" in drift.stdout and "3306" in drift.stdout  # the --diff of the drifted policy
        text = report.read_text()
        assert "check mode" in text and "- `%s/kvnet-allow-dns` would be created" % name in text
        assert request_log.writes() == []  # an audit never writes
    finally:
        drop_namespaces(lab, [name])


def test_molecule_scenario_converge_idempotence_verify(lab, ansible_env):
    env = dict(ansible_env)
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)  # molecule reads the default callback's recap
    env["MOLECULE_NP_SUFFIX"] = "-" + uuid.uuid4().hex[:6]
    output = molecule_test(ROLE_DIR, env, timeout=900)
    for step in ("prepare", "converge", "idempotence", "verify"):
        assert "default > %s: Executed: Successful" % step in output, (step, output[-3000:])
    with open(os.path.join(ROLE_DIR, "molecule", "default", "molecule.yml"), encoding="utf-8") as handle:
        assert yaml.safe_load(handle)["driver"]["options"]["managed"] is False
