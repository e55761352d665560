"""kubevirt_network_policies against the lab (kube-apiserver 1.34), judged by
what the server stores and by the proxy's request log."""

import uuid
from urllib.parse import parse_qs

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol
from tests.integration.modules.kubevirt_objects import VM_PATH, create_nad, vm_manifest
from tests.integration.helpers import play

NP_PATH = "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies"
MANAGED = {"app.kubernetes.io/managed-by": "kubevirt_net.core"}
TCP = "TCP"


def task(title, **options):
    return {"name": title, "kubevirt_net.core.kubevirt_network_policies": options, "register": "r"}


def policies(lab, namespace):
    return {o["metadata"]["name"]: o for o in lab.request("GET", NP_PATH % namespace)["items"]}


def specs(lab, namespace):
    return {name: netpol.normalize_spec(o["spec"]) for name, o in policies(lab, namespace).items()}


def make_namespace(lab, labels=None, prefix="np"):
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    lab.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": name, "labels": dict(labels or {})}})
    return name


@pytest.fixture
def extra_namespaces(lab):
    made = []

    def make(count=1, labels=None):
        names = [make_namespace(lab, labels) for _index in range(count)]
        made.extend(names)
        return names

    yield make
    for name in made:
        try:
            lab.request("DELETE", "/api/v1/namespaces/" + name)
        except Exception:  # pylint: disable=broad-except
            pass


def add_policy(lab, namespace, name, labels=None, spec=None):
    return lab.request("POST", NP_PATH % namespace, {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": spec or {"podSelector": {}, "policyTypes": ["Ingress"]}})


# Every baseline and every rule kind, in one declaration.
DNS_SELECTOR = {"dns": "yes"}
DECLARATION = dict(
    default_deny="both",
    allow_dns=True,
    dns_namespace_selector=DNS_SELECTOR,
    allow_same_namespace=True,
    allow_from_namespaces={"match_labels": {"team": "ops"}},
    allow_monitoring={"namespace_selector": {"monitoring": "true"}, "pod_selector": {"app": "prometheus"},
                      "ports": [{"port": 9100}, {"port": "metrics"}]},
    rules=[
        {"name": "db-from-app", "direction": "ingress", "template_selector": {"app": "db"},
         "peers": [{"template_selector": {"app": "web"}}], "ports": [{"port": 3306}]},
        {"name": "app-to-db", "direction": "egress", "template_selector": {"app": "web"},
         "peers": [{"template_selector": {"app": "db"}}], "ports": [{"port": 3306}]},
        {"name": "egress-backup", "direction": "egress", "description": "backups only",
         "peers": [{"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}, {"cidr": "2001:db8::/64"}],
         "ports": [{"port": 443}, {"port": 5000, "protocol": "UDP"}, {"port": 9899, "protocol": "SCTP"}]},
        {"name": "web-from-lb", "direction": "ingress", "template_selector": {"match_expressions": [
            {"key": "app", "operator": "In", "values": ["web", "api"]}]},
         "peers": [{"namespace_selector": {"lb": "true"}, "template_selector": {"app": "haproxy"}}]},
        {"name": "web-any", "direction": "ingress", "template_selector": {"app": "web"}, "ports": [{"port": "http"}]},
    ],
)

EXPECTED = {
    "kvnet-default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    "kvnet-allow-dns": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"namespaceSelector": {"matchLabels": DNS_SELECTOR}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": TCP, "port": 53}]}]},
    "kvnet-allow-same-namespace": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                                   "ingress": [{"from": [{"podSelector": {}}]}], "egress": [{"to": [{"podSelector": {}}]}]},
    "kvnet-allow-from-namespaces": {"podSelector": {}, "policyTypes": ["Ingress"],
                                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]}]},
    "kvnet-allow-monitoring": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{
        "from": [{"namespaceSelector": {"matchLabels": {"monitoring": "true"}},
                  "podSelector": {"matchLabels": {"app": "prometheus"}}}],
        "ports": [{"protocol": TCP, "port": 9100}, {"protocol": TCP, "port": "metrics"}]}]},
    "kvnet-db-from-app": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"], "ingress": [{
        "from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"protocol": TCP, "port": 3306}]}]},
    "kvnet-app-to-db": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"protocol": TCP, "port": 3306}]}]},
    "kvnet-egress-backup": {"podSelector": {"matchLabels": {"kubevirt.io": "virt-launcher"}},
                            "policyTypes": ["Egress"], "egress": [{
                                "to": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}},
                                       {"ipBlock": {"cidr": "2001:db8::/64"}}],
                                "ports": [{"protocol": TCP, "port": 443}, {"protocol": "UDP", "port": 5000},
                                          {"protocol": "SCTP", "port": 9899}]}]},
    "kvnet-web-from-lb": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In",
                                                                "values": ["api", "web"]}]},
                          "policyTypes": ["Ingress"], "ingress": [{"from": [{
                              "namespaceSelector": {"matchLabels": {"lb": "true"}},
                              "podSelector": {"matchLabels": {"app": "haproxy"}}}]}]},
    "kvnet-web-any": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                      "ingress": [{"ports": [{"protocol": TCP, "port": "http"}]}]},
}


def test_every_baseline_and_rule_kind_create_rerun_check_diff_update_prune(
        lab, namespace, extra_namespaces, run_playbook, request_log):
    second = extra_namespaces()[0]
    targets = [namespace, second]
    add_policy(lab, namespace, "handmade")                                   # not ours: never touched
    add_policy(lab, namespace, "kvnet-team-b", dict(MANAGED, **{netpol.POLICY_SET_LABEL: "team-b"}))  # other set
    changed = dict(DECLARATION)
    changed["rules"] = [dict(DECLARATION["rules"][0], ports=[{"port": 3307}])] + DECLARATION["rules"][1:4]

    # create, an identical re-run, then an update and a removal in check mode with --diff
    request_log.mark()
    result = run_playbook(play([
        task("create", namespaces=targets, **DECLARATION),
        task("rerun", namespaces=targets, **DECLARATION),
        dict(task("check", namespaces=targets, **changed), check_mode=True, diff=True)]))
    res = result.tasks["create"]
    assert res["changed"] and res["totals"] == {"created": 20, "updated": 0, "deleted": 0, "unchanged": 0}
    assert res["namespaces"] == {n: {"created": 10, "updated": 0, "deleted": 0, "unchanged": 0} for n in targets}
    assert res["api_requests"]["writes"] == 20 and res["list_scope"] == "namespace"
    rerun = result.tasks["rerun"]
    assert not rerun["changed"] and rerun["totals"]["unchanged"] == 20 and rerun["api_requests"]["writes"] == 0
    check = result.tasks["check"]
    assert check["changed"] and check["totals"] == {"created": 0, "updated": 2, "deleted": 2, "unchanged": 16}
    key = "%s/kvnet-db-from-app" % namespace
    assert check["diff"]["before"][key]["spec"]["ingress"][0]["ports"] == [{"protocol": TCP, "port": 3306}]
    assert check["diff"]["after"][key]["spec"]["ingress"][0]["ports"] == [{"protocol": TCP, "port": 3307}]
    assert "%s/kvnet-web-any" % namespace in check["diff"]["before"]
    assert "%s/kvnet-web-any" % namespace not in check["diff"]["after"]
    # the proxy saw the 20 creations and no other write: the re-run and check mode wrote nothing
    assert [e["method"] for e in request_log.writes(include_dry_run=True)] == ["POST"] * 20
    for name in targets:
        stored = policies(lab, name)
        for policy, spec in EXPECTED.items():
            assert netpol.normalize_spec(stored[policy]["spec"]) == spec, policy
            assert stored[policy]["spec"]["policyTypes"] == spec["policyTypes"]  # explicit, not defaulted
            assert stored[policy]["metadata"]["labels"] == dict(MANAGED, **{netpol.POLICY_SET_LABEL: "default"})
    assert policies(lab, namespace)["kvnet-egress-backup"]["metadata"]["annotations"][
        netpol.DESCRIPTION_ANNOTATION] == "backups only"

    # the real update: one PATCH and one DELETE per namespace; the others untouched
    update = play([task("np", namespaces=targets, **changed)])
    request_log.mark()
    res = run_playbook(update).tasks["np"]
    assert res["namespaces"][namespace] == {"created": 0, "updated": 1, "deleted": 1, "unchanged": 8}
    writes = sorted((e["method"], e["path"].rsplit("/", 1)[-1]) for e in request_log.writes())
    assert writes == [("DELETE", "kvnet-web-any")] * 2 + [("PATCH", "kvnet-db-from-app")] * 2
    stored = policies(lab, namespace)
    assert netpol.normalize_spec(stored["kvnet-db-from-app"]["spec"])["ingress"][0]["ports"] == [
        {"protocol": TCP, "port": 3307}]
    assert "kvnet-web-any" not in stored and "handmade" in stored and "kvnet-team-b" in stored

    # drift made by hand is put back (a selector key added, an egress rule added)
    lab.request("PATCH", "%s/kvnet-app-to-db" % (NP_PATH % second), {"spec": {
        "podSelector": {"matchLabels": {"extra": "x"}},
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}},
        content_type="application/merge-patch+json")
    res = run_playbook(update).tasks["np"]
    assert res["namespaces"][second]["updated"] == 1 and res["totals"]["updated"] == 1
    assert specs(lab, second)["kvnet-app-to-db"] == EXPECTED["kvnet-app-to-db"]


def test_default_deny_directions(lab, extra_namespaces, run_playbook):
    names = extra_namespaces(3)
    tasks = [task("deny-%s" % d, namespaces=[n], default_deny=d, allow_same_namespace=True, allow_dns=d != "ingress",
                  dns_namespace_selector={"dns": "yes"})
             for n, d in zip(names, ("ingress", "egress", "both"))]
    run_playbook(play(tasks))
    types = {"ingress": ["Ingress"], "egress": ["Egress"], "both": ["Ingress", "Egress"]}
    for name, deny in zip(names, ("ingress", "egress", "both")):
        stored = specs(lab, name)
        assert stored["kvnet-default-deny"] == {"podSelector": {}, "policyTypes": types[deny]}
        assert stored["kvnet-allow-same-namespace"]["policyTypes"] == types[deny]


def test_end_port_is_written_and_kept(lab, namespace, run_playbook, request_log):
    """On a current server (1.34) endPort is a real field: written, kept by the
    server, and a re-run writes nothing.  The refusal on servers older than 1.22
    is unit-tested (test_netpol_runner.py, gate)."""
    rules = [{"name": "range", "direction": "ingress", "template_selector": {"app": "web"},
              "ports": [{"port": 8000, "end_port": 8100}]}]
    result = run_playbook(play([task("written", namespaces=[namespace], rules=rules),
                                task("again", namespaces=[namespace], rules=rules)]))
    res = result.tasks["written"]
    assert res["changed"] and res["server_version"] == "1.34" and res["totals"]["created"] == 1
    assert "end-port" not in [f["kind"] for f in res.get("findings") or []]
    policies = lab.request("GET", "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies" % namespace)["items"]
    ports = [p for pol in policies for rule in pol["spec"].get("ingress") or [] for p in rule.get("ports") or []]
    assert {"protocol": TCP, "port": 8000, "endPort": 8100} in ports
    res = result.tasks["again"]
    assert not res["changed"] and res["api_requests"]["writes"] == 0


def test_namespace_selection_by_name_uses_the_automatic_label(lab, namespace, extra_namespaces, run_playbook,
                                                              request_log):
    """Every namespace carries kubernetes.io/metadata.name (1.21+): DNS egress to
    a namespace named in dns_namespace needs no namespace label from the module.
    The 1.20 refusal and label_namespaces path are unit-tested (test_netpol_runner.py)."""
    dns_home = extra_namespaces()[0]
    options = dict(namespaces=[namespace], default_deny="egress", allow_dns=True, dns_namespace=dns_home)
    request_log.mark()
    result = run_playbook(play([task("applied", **options), task("rerun", **options)]))
    res = result.tasks["applied"]
    assert res["changed"] and res["labelled_namespaces"] == [] and res["totals"]["created"] == 2
    writes = [(e["method"], e["path"]) for e in request_log.writes(include_dry_run=True)]
    assert not [w for w in writes if w[1].startswith("/api/v1/namespaces/" + dns_home) and w[0] == "PATCH"]
    res = result.tasks["rerun"]
    assert not res["changed"] and res["api_requests"]["writes"] == 0
    labels = lab.request("GET", "/api/v1/namespaces/" + dns_home)["metadata"]["labels"]
    assert labels[netpol.NAME_LABEL] == dns_home


# Rule-level mistakes, one rule each: all of them reported together by one task.
BAD_RULES = [
    ({"peers": [{"cidr": "10.0.0.1/8"}]}, "peers[0].cidr"),                       # host bits
    ({"peers": [{"cidr": "010.0.0.0/8"}]}, "peers[0].cidr"),                      # leading zero
    ({"peers": [{"cidr": "::ffff:10.0.0.0/104"}]}, "peers[0].cidr"),              # IPv4-mapped IPv6
    ({"peers": [{"cidr": "FD00:0::/64"}]}, "peers[0].cidr"),                      # not canonical
    ({"peers": [{"cidr": "10.0.0.0"}]}, "peers[0].cidr"),                         # no prefix
    ({"peers": [{"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}]}, "peers[0].except[0]"),   # not strict
    ({"peers": [{"cidr": "10.0.0.0/8", "except": ["fd00::/64"]}]}, "peers[0].except[0]"),    # other family
    ({"peers": [{"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}]}, "peers[0].except[0]"),  # outside
    ({"peers": [{"cidr": "10.0.0.0/8", "template_selector": {"a": "b"}}]}, "peers[0]"),  # ipBlock beside a selector
    ({"peers": [{}]}, "peers[0]"),                                                 # empty peer
    ({"peers": []}, "peers"),                                                      # empty list would allow all
    ({"peers": [{"namespaces": ["a"], "namespace_selector": {"x": "y"}}]}, "peers[0]"),
    ({"ports": [{"port": 0}]}, "ports[0].port"),
    ({"ports": [{"port": 65536}]}, "ports[0].port"),
    ({"ports": [{"port": "Not_A_Name"}]}, "ports[0].port"),
    ({"ports": [{"port": "http", "end_port": 90}]}, "ports[0].end_port"),
    ({"ports": [{"port": 90, "end_port": 80}]}, "ports[0].end_port"),
    ({"ports": [{"end_port": 80}]}, "ports[0].end_port"),
    ({"ports": [{"port": 80, "protocol": "ICMP"}]}, "ports[0].protocol"),
    ({"ports": [{"port": 80, "protocol": "tcp"}]}, "ports[0].protocol"),
    ({"ports": []}, "ports"),
    ({"template_selector": {"app": "a b"}}, "template_selector.match_labels[app]"),
    ({"template_selector": {"match_expressions": [{"key": "app", "operator": "In"}]}},
     "template_selector.match_expressions[0].values"),
    ({"peers": [{"namespace_selector": {"match_expressions": [{"key": "a", "operator": "Like", "values": ["x"]}]}}]},
     "peers[0].namespace_selector.match_expressions[0].operator"),
    ({"peers": [{"namespaces": ["Bad_Namespace"]}]}, "peers[0].namespaces[0]"),
]
# Task-level mistakes: all in one more task (every check runs, every problem is reported).
BAD_TASK = dict(
    namespaces=["Not-A-Namespace"],
    namespace_selector={},
    default_deny="both",
    allow_monitoring={"namespaces": ["monitoring"]},
    allow_from_namespaces={"team": 7},
    rules=[{"name": "Bad_Name", "direction": "ingress"}, {"name": "dup", "direction": "ingress"},
           {"name": "dup", "direction": "egress"}, {"name": "default-deny", "direction": "ingress"}],
)
BAD_TASK_PROBLEMS = [
    ("task", "namespaces[0]"),
    ("task", "namespace_selector"),
    ("allow_from_namespaces", "allow_from_namespaces.match_labels[team]"),
    ("allow_monitoring", "ports"),
    ("rules[0] (Bad_Name)", "name"),
    ("rules[2] (dup)", "name"),
    ("rules[3] (default-deny)", "name"),
]


def test_bad_inputs_fail_before_any_request(namespace, run_playbook, request_log):
    rules = [dict({"name": "r%d" % i, "direction": "ingress"}, **options) for i, (options, _f) in enumerate(BAD_RULES)]
    result = run_playbook(play([
        dict(task("rules", namespaces=[namespace], rules=rules), ignore_errors=True),
        dict(task("task", **BAD_TASK), ignore_errors=True)]))
    assert len(BAD_RULES) + len(BAD_TASK_PROBLEMS) >= 25

    res = result.tasks["rules"]
    assert res.get("failed") and "%d invalid input(s), nothing was changed" % len(BAD_RULES) in res["msg"]
    found = [(p["object"], p["field"]) for p in res["problems"]]
    assert found == [("rules[%d] (r%d)" % (i, i), field) for i, (_o, field) in enumerate(BAD_RULES)]
    assert res["api_requests"] == {"total": 0, "writes": 0, "retries": 0}

    res = result.tasks["task"]
    assert res.get("failed")
    assert [(p["object"], p["field"]) for p in res["problems"]] == BAD_TASK_PROBLEMS
    assert "rule names must be unique" in res["msg"] and "every namespace" in res["msg"]
    assert res["api_requests"] == {"total": 0, "writes": 0, "retries": 0}
    assert request_log.entries() == []


def test_prune_and_absent_touch_only_this_sets_managed_policies(lab, namespace, run_playbook):
    add_policy(lab, namespace, "handmade")
    add_policy(lab, namespace, "kvnet-lookalike", {"app.kubernetes.io/managed-by": "someone-else"})
    rules = [{"name": "a", "direction": "ingress"}, {"name": "b", "direction": "egress"}]
    result = run_playbook(play([
        task("set", namespaces=[namespace], rules=rules),
        task("other set", namespaces=[namespace], rules=rules, policy_set="other", name_prefix="other-"),
        task("prune", namespaces=[namespace], rules=rules[:1]),
        task("again", namespaces=[namespace], rules=rules),
        task("prune off", namespaces=[namespace], rules=rules[:1], prune=False),
        task("absent declared", namespaces=[namespace], rules=rules[:1], state="absent", prune=False),
        task("absent set", namespaces=[namespace], state="absent")]))

    def done(title):
        return [(p["name"], p["method"]) for p in result.tasks[title]["policies"]]

    assert done("prune") == [("kvnet-a", "unchanged"), ("kvnet-b", "deleted")]
    assert done("again") == [("kvnet-a", "unchanged"), ("kvnet-b", "created")]
    assert done("prune off") == [("kvnet-a", "unchanged")]          # the undeclared kvnet-b stays
    assert done("absent declared") == [("kvnet-a", "deleted")]
    assert done("absent set") == [("kvnet-b", "deleted")]            # the whole set, nothing else
    assert set(policies(lab, namespace)) == {"handmade", "kvnet-lookalike", "other-a", "other-b"}


def test_prune_scope_cluster_reaches_namespaces_no_longer_targeted(lab, extra_namespaces, run_playbook):
    kept, dropped = extra_namespaces(2)
    rules = [{"name": "a", "direction": "ingress"}]
    result = run_playbook(play([
        task("both", namespaces=[kept, dropped], rules=rules),
        task("targets only", namespaces=[kept], rules=rules),
        task("cluster", namespaces=[kept], rules=rules, prune_scope="cluster")]))
    assert result.tasks["both"]["totals"]["created"] == 2
    assert not result.tasks["targets only"]["changed"]
    res = result.tasks["cluster"]
    assert res["list_scope"] == "cluster" and res["namespaces"][dropped]["deleted"] == 1
    assert [(p["namespace"], p["method"]) for p in res["policies"]] == [(kept, "unchanged"), (dropped, "deleted")]
    assert policies(lab, dropped) == {} and set(policies(lab, kept)) == {"kvnet-a"}


def test_name_taken_by_a_policy_that_is_not_ours_is_refused(lab, namespace, run_playbook, request_log):
    add_policy(lab, namespace, "kvnet-default-deny")
    res = run_playbook(play([task("np", namespaces=[namespace], default_deny="both")]), expect_rc=2).tasks["np"]
    assert "not managed by kubevirt_net.core" in res["msg"] and "kvnet-default-deny" in res["msg"]
    assert request_log.writes() == []
    assert policies(lab, namespace)["kvnet-default-deny"]["spec"]["policyTypes"] == ["Ingress"]


def test_many_namespaces_by_selector_cost_a_constant_number_of_requests(
        lab, extra_namespaces, run_playbook, request_log):
    label = {"np-bulk": uuid.uuid4().hex[:8]}
    names = extra_namespaces(12, labels=label)
    declaration = dict(namespace_selector=label, default_deny="ingress", allow_same_namespace=True,
                       rules=[{"name": "db", "direction": "ingress", "template_selector": {"app": "db"},
                               "peers": [{"template_selector": {"app": "web"}}], "ports": [{"port": 3306}]}])
    request_log.mark()
    result = run_playbook(play([task("create", **declaration), task("rerun", **declaration)]))
    res = result.tasks["create"]
    assert res["list_scope"] == "cluster" and res["totals"]["created"] == 36
    assert sorted(res["namespaces"]) == sorted(names)
    res = result.tasks["rerun"]
    assert not res["changed"] and res["totals"]["unchanged"] == 36
    assert res["api_requests"] == {"total": 6, "writes": 0, "retries": 0}
    # namespaces, the managed policies of each kind, KubeVirt CRs, VMs: one LIST each per run, whatever the count
    # (plus /version; the client's discovery, /version and /apis, may come on top when its cache is cold)
    lists = sorted(e["path"] for e in request_log.entries() if e["method"] == "GET" and e["path"] not in (
        "/version", "/apis", "/api"))
    assert lists == sorted(["/api/v1/namespaces", "/apis/networking.k8s.io/v1/networkpolicies",
                            "/apis/k8s.cni.cncf.io/v1beta1/multi-networkpolicies",
                            "/apis/kubevirt.io/v1/kubevirts", "/apis/kubevirt.io/v1/virtualmachines"] * 2)
    assert [e["method"] for e in request_log.writes()] == ["POST"] * 36
    for query in [parse_qs(e["query"]) for e in request_log.entries()
                  if e["method"] == "GET" and e["path"].endswith("networkpolicies")]:
        assert query["labelSelector"] == ["app.kubernetes.io/managed-by=kubevirt_net.core"]


def test_503_retried_409_read_again_lost_answer_verified(lab, namespace, run_playbook, request_log):
    rules = [{"name": "a", "direction": "ingress"}, {"name": "b", "direction": "ingress"}]
    changed = [dict(rules[0], ports=[{"port": 22}]), rules[1]]
    lab.add_fault(method="POST", path="/networkpolicies$", action="status", code=503, count=1)
    lab.add_fault(method="POST", path="/networkpolicies$", action="drop_after", count=1)
    lab.add_fault(method="PATCH", path="/networkpolicies/kvnet-a$", action="conflict", count=1)
    result = run_playbook(play([task("create", namespaces=[namespace], rules=rules),
                                task("update", namespaces=[namespace], rules=changed)]))
    res = result.tasks["create"]
    assert res["totals"]["created"] == 2 and res["api_requests"]["retries"] >= 1
    log = request_log.entries()
    posts = [e["status"] for e in log if e["method"] == "POST"]
    assert posts[0] == 503 and None in posts  # retried, and one answer lost (then verified by a read)
    assert [p["method"] for p in result.tasks["update"]["policies"]] == ["updated", "unchanged"]
    first_patch = [i for i, e in enumerate(log) if e["method"] == "PATCH"][0]
    calls = [(e["method"], e["status"]) for e in log[first_patch:] if e["path"].endswith("/kvnet-a")]
    assert calls == [("PATCH", 409), ("GET", 200), ("PATCH", 200)]
    assert set(policies(lab, namespace)) == {"kvnet-a", "kvnet-b"}  # nothing created twice, nothing missing
    assert specs(lab, namespace)["kvnet-a"]["ingress"] == [{"ports": [{"protocol": TCP, "port": 22}]}]


def test_faults_that_do_not_clear_fail_cleanly(lab, namespace, run_playbook):
    lab.add_fault(method="POST", path="/networkpolicies$", action="status", code=500, count=-1)
    res = run_playbook(play([task("np", namespaces=[namespace], default_deny="both", allow_same_namespace=True,
                                  api_retries=2)]), expect_rc=2).tasks["np"]
    assert "2 of 2 policies failed" in res["msg"] and "InternalError" in res["msg"]
    assert [p["method"] for p in res["policies"]] == ["failed", "failed"] and all(
        "error" in p for p in res["policies"])
    lab.clear_faults()
    assert policies(lab, namespace) == {}


def test_warnings_kubevirt_namespace_vm_labels_multus(lab, namespace, run_playbook, request_log):
    create_nad(lab, namespace, "storage")
    wrong = vm_manifest("db-wrong", running=False, labels={"app": "db"}, template_labels={"app": "database"})
    right = vm_manifest("db-right", running=False, template_labels={"app": "db"})
    right["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].append({"name": "storage", "bridge": {}})
    right["spec"]["template"]["spec"]["networks"].append({"name": "storage", "multus": {"networkName": "storage"}})
    for body in (wrong, right):
        lab.request("POST", VM_PATH % namespace, body)
    rules = [{"name": "db-from-app", "direction": "ingress", "template_selector": {"app": "db"},
              "peers": [{"template_selector": {"app": "web"}}], "ports": [{"port": 3306}]}]
    res = run_playbook(play([task("np", namespaces=[namespace, "kubevirt"], default_deny="both", rules=rules)]),
                       check=True).tasks["np"]
    kinds = {f["kind"]: f for f in res["findings"]}
    assert set(kinds) == {"kubevirt-namespace", "dns", "vm-metadata-labels", "multus"}
    assert kinds["kubevirt-namespace"]["namespaces"] == ["kubevirt"]
    assert kinds["vm-metadata-labels"]["vms"] == ["%s/db-wrong" % namespace]
    assert kinds["multus"]["vms"] == ["%s/db-right (storage)" % namespace]
    assert any("spec.template.metadata.labels" in w for w in res["warnings"])
    assert request_log.writes() == []


def test_old_option_names_are_deprecated_aliases(lab, namespace, run_playbook, request_log):
    """vm_selector and concurrency are the old names of template_selector and max_concurrency."""
    def rules(selector):
        return [{"name": "db-from-app", "direction": "ingress", selector: {"app": "db"},
                 "peers": [{selector: {"app": "web"}}], "ports": [{"port": 3306}]}]

    new = run_playbook(play([task("np", namespaces=[namespace], rules=rules("template_selector"),
                                  max_concurrency=2)])).tasks["np"]
    assert new["changed"] and not new.get("deprecations")
    spec = specs(lab, namespace)["kvnet-db-from-app"]
    assert spec["podSelector"] == {"matchLabels": {"app": "db"}}
    assert spec["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app": "web"}}}]
    request_log.mark()
    old = run_playbook(play([task("np", namespaces=[namespace], rules=rules("vm_selector"),
                                  concurrency=2)])).tasks["np"]
    assert not old["changed"] and request_log.writes() == []
    messages = " ".join(d["msg"] for d in old["deprecations"])
    for name in ("'concurrency'", "'rules[0].vm_selector'", "'rules[0].peers[0].vm_selector'"):
        assert name in messages, messages


def test_report_and_rerun_counts(namespace, run_playbook):
    options = dict(namespaces=[namespace], default_deny="ingress", report=True)
    result = run_playbook(play([task("first", **options), dict(task("again", **options), check_mode=True)]))
    assert "| %s | 1 | 0 | 0 | 0 |" % namespace in result.tasks["first"]["report"]
    again = result.tasks["again"]["report"]
    assert "| %s | 0 | 0 | 0 | 1 |" % namespace in again and "## Changes" not in again and "check mode" in again


# ----------------------------------------------------------- secondary networks (MultiNetworkPolicy)
MNP_PATH = "/apis/k8s.cni.cncf.io/v1beta1/namespaces/%s/multi-networkpolicies"
POLICY_FOR = "k8s.v1.cni.cncf.io/policy-for"


def multi_policies(lab, namespace):
    return {o["metadata"]["name"]: o for o in lab.request("GET", MNP_PATH % namespace)["items"]}


def vm_on(name, networks, template_labels=None, labels=None):
    body = vm_manifest(name, running=False, labels=labels, template_labels=template_labels)
    spec = body["spec"]["template"]["spec"]
    for net in networks:
        spec["domain"]["devices"]["interfaces"].append({"name": net, "bridge": {}})
        spec["networks"].append({"name": net, "multus": {"networkName": net}})
    return body


def test_network_rules_render_multinetworkpolicies_rerun_prune(lab, namespace, run_playbook, request_log):
    create_nad(lab, namespace, "storage", subnet="192.168.50.0/24")
    create_nad(lab, namespace, "backup", subnet="192.168.60.0/24")
    lab.request("POST", VM_PATH % namespace, vm_on("db", ["storage", "backup"], template_labels={"app": "db"}))
    rules = [
        {"name": "storage-same-tenant", "direction": "ingress", "network": "storage",
         "template_selector": {}, "peers": [{"template_selector": {}}]},
        {"name": "db-backup", "direction": "ingress", "network": ["storage", "%s/backup" % namespace],
         "template_selector": {"app": "db"}, "peers": [{"cidr": "192.168.60.0/24"}], "ports": [{"port": 5432}]},
        {"name": "pod-web", "direction": "ingress", "ports": [{"port": 80}]},
    ]
    declaration = dict(namespaces=[namespace], default_deny="ingress", rules=rules)
    created = run_playbook(play([task("create", **declaration)])).tasks["create"]
    assert sorted((p["kind"], p["name"], p["method"]) for p in created["policies"]) == [
        ("MultiNetworkPolicy", "kvnet-db-backup", "created"),
        ("MultiNetworkPolicy", "kvnet-storage-same-tenant", "created"),
        ("NetworkPolicy", "kvnet-default-deny", "created"), ("NetworkPolicy", "kvnet-pod-web", "created")]
    stored = multi_policies(lab, namespace)
    assert stored["kvnet-storage-same-tenant"]["metadata"]["annotations"][POLICY_FOR] == "%s/storage" % namespace
    # several networks in one policy-for, sorted and namespace-qualified (multi-networkpolicy README)
    assert stored["kvnet-db-backup"]["metadata"]["annotations"][POLICY_FOR] == "%s/backup,%s/storage" % (
        namespace, namespace)
    assert netpol.normalize_spec(stored["kvnet-db-backup"]["spec"]) == {
        "podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "192.168.60.0/24"}}], "ports": [{"protocol": TCP, "port": 5432}]}]}
    assert set(policies(lab, namespace)) == {"kvnet-default-deny", "kvnet-pod-web"}
    # the VM's secondary networks are covered by MultiNetworkPolicies: no "not filtered" warning
    assert "multus" not in {f["kind"] for f in created["findings"]}
    request_log.mark()
    rerun = run_playbook(play([task("rerun", **declaration)])).tasks["rerun"]
    assert not rerun["changed"] and rerun["totals"]["unchanged"] == 4
    assert rerun["api_requests"]["writes"] == 0 and request_log.writes() == []
    lists = [e["path"] for e in request_log.entries() if e["method"] == "GET"]
    for path in (MNP_PATH % namespace, NP_PATH % namespace):
        assert lists.count(path) == 1, lists
    # drop the storage rule and the second network: one MNP deleted, one patched, NPs untouched
    rules[1] = dict(rules[1], network="storage")
    request_log.mark()
    res = run_playbook(play([task("prune", namespaces=[namespace], default_deny="ingress",
                                  rules=rules[1:])])).tasks["prune"]
    assert sorted((p["name"], p["method"]) for p in res["policies"]) == [
        ("kvnet-db-backup", "updated"), ("kvnet-default-deny", "unchanged"), ("kvnet-pod-web", "unchanged"),
        ("kvnet-storage-same-tenant", "deleted")]
    assert sorted((e["method"], e["path"].rsplit("/", 1)[-1]) for e in request_log.writes()) == [
        ("DELETE", "kvnet-storage-same-tenant"), ("PATCH", "kvnet-db-backup")]
    assert multi_policies(lab, namespace)["kvnet-db-backup"]["metadata"]["annotations"][POLICY_FOR] == \
        "%s/storage" % namespace


@pytest.mark.parametrize("case", ["missing-nad", "sriov", "metadata-labels", "end-port"])
def test_network_rules_that_cannot_work_are_refused_before_any_write(lab, namespace, run_playbook, request_log,
                                                                     case):
    create_nad(lab, namespace, "storage", subnet="192.168.50.0/24")
    create_nad(lab, namespace, "fast", resource_name="intel.com/sriov_netdevice")
    rule = {"name": "r", "direction": "ingress", "network": "storage", "template_selector": {"app": "db"}}
    expect = {"missing-nad": "NetworkAttachmentDefinition %s/nope does not exist" % namespace,
              "sriov": "%s/fast is an SR-IOV network" % namespace,
              "metadata-labels": "matches the metadata.labels of VirtualMachine %s/db" % namespace,
              "end-port": "MultiNetworkPolicy (k8s.cni.cncf.io/v1beta1) has no endPort"}[case]
    if case == "missing-nad":
        rule["network"] = "nope"
    elif case == "sriov":
        rule["network"] = "fast"
    elif case == "metadata-labels":
        lab.request("POST", VM_PATH % namespace, vm_on("db", ["storage"], labels={"app": "db"},
                                                       template_labels={"app": "database"}))
    else:
        rule["ports"] = [{"port": 8000, "end_port": 8100}]
    request_log.mark()
    res = run_playbook(play([task("np", namespaces=[namespace], default_deny="ingress", rules=[rule])]),
                       expect_rc=2).tasks["np"]
    assert expect in res["msg"], res["msg"]
    assert request_log.writes() == []
    assert multi_policies(lab, namespace) == {} and policies(lab, namespace) == {}


def test_ipblock_on_a_layer2_network_warns(lab, namespace, run_playbook):
    lab.request("POST", "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions" % namespace, {
        "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": {"name": "l2"},
        "spec": {"config": '{"cniVersion": "0.3.1", "name": "tenant-l2", "type": "ovn-k8s-cni-overlay", '
                           '"topology": "layer2", "subnets": "10.100.0.0/24", '
                           '"netAttachDefName": "%s/l2"}' % namespace}})
    rules = [{"name": "l2-from-admin", "direction": "ingress", "network": "l2", "peers": [{"cidr": "10.100.0.0/28"}]}]
    res = run_playbook(play([task("np", namespaces=[namespace], rules=rules)]), check=True).tasks["np"]
    found = [f for f in res["findings"] if f["kind"] == "ipblock-support"]
    assert len(found) == 1 and found[0]["network"] == "%s/l2" % namespace
    assert "OVN-Kubernetes layer2" in found[0]["message"]


# ------------------------------------------------------------------ cluster baselines
CNP_PATH = "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies"
ANP_PATH = "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies"
BANP_PATH = "/apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies"


def with_baselines(options, baselines):
    """``options`` with another cluster_baselines."""
    changed = dict(options)
    changed["cluster_baselines"] = baselines
    return changed


def baseline_entries(tag):
    return [
        {"name": "tenants-%s" % tag, "tier": "Baseline", "priority": 40,
         "subject": {"namespace_selector": {"tenant-%s" % tag: "true"}},
         "ingress": [{"name": "deny-other-tenants", "action": "Deny",
                      "peers": [{"namespace_selector": {"tenant-%s" % tag: "true"}}]}]},
        {"name": "kube-system-%s" % tag, "tier": "Admin", "priority": 41,
         "subject": {"namespaces": ["kube-system"]},
         "ingress": [{"name": "dns", "action": "Accept", "ports": [{"port": 53, "protocol": "UDP"}]},
                     {"name": "tenants", "action": "Deny",
                      "peers": [{"namespace_selector": {"tenant-%s" % tag: "true"}}]}]},
    ]


def test_cluster_baselines_as_clusternetworkpolicies_rerun_clash_prune(lab, namespace, run_playbook, request_log):
    tag = uuid.uuid4().hex[:6]
    entries = baseline_entries(tag)
    options = dict(namespaces=[namespace], policy_set="cb-" + tag, cluster_baselines=entries)
    res = run_playbook(play([task("create", **options)])).tasks["create"]
    assert res["baseline_api"] == "v1alpha2"
    assert sorted((b["kind"], b["name"], b["tier"], b["method"]) for b in res["baselines"]) == [
        ("ClusterNetworkPolicy", "kvnet-kube-system-%s" % tag, "Admin", "created"),
        ("ClusterNetworkPolicy", "kvnet-tenants-%s" % tag, "Baseline", "created")]
    stored = lab.request("GET", CNP_PATH + "/kvnet-tenants-" + tag)
    assert stored["spec"]["tier"] == "Baseline" and stored["spec"]["ingress"][0]["action"] == "Deny"
    request_log.mark()
    again = run_playbook(play([task("again", **options)])).tasks["again"]
    assert not again["changed"] and request_log.writes() == []
    assert [e["path"] for e in request_log.entries() if e["method"] == "GET"].count(CNP_PATH) == 1
    # another policy takes priority 40 in the Baseline tier: a new declaration using it is refused
    lab.request("POST", CNP_PATH, {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
                                   "metadata": {"name": "vendor-" + tag}, "spec": {
                                       "tier": "Baseline", "priority": 42, "subject": {"namespaces": {}},
                                       "ingress": [{"action": "Accept", "from": [{"namespaces": {}}]}]}})
    try:
        clash = [dict(entries[0], name="late-" + tag, priority=42)] + entries
        request_log.mark()
        res = run_playbook(play([task("clash", **with_baselines(options, clash))]),
                           expect_rc=2).tasks["clash"]
        assert "42 in the Baseline tier is already used by vendor-%s" % tag in res["msg"]
        assert request_log.writes() == []
    finally:
        lab.request("DELETE", CNP_PATH + "/vendor-" + tag)
    # an empty list prunes this set's baselines; the option left out touches none
    request_log.mark()
    res = run_playbook(play([task("keep", namespaces=[namespace], policy_set="cb-" + tag),
                             task("prune", **with_baselines(options, []))])).tasks
    assert res["keep"]["baselines"] == [] and res["keep"]["baseline_api"] is None
    assert sorted(b["method"] for b in res["prune"]["baselines"]) == ["deleted", "deleted"]
    assert sorted(e["method"] for e in request_log.writes()) == ["DELETE", "DELETE"]


def test_cluster_baselines_on_a_cluster_that_serves_only_v1alpha1(lab, namespace, run_playbook, request_log):
    from lab import crds

    tag = uuid.uuid4().hex[:6]
    entries = baseline_entries(tag)
    options = dict(namespaces=[namespace], policy_set="cb1-" + tag, cluster_baselines=entries)
    crds.serve_only_v1alpha1(lab)
    try:
        res = run_playbook(play([task("create", **options)])).tasks["create"]
        assert res["baseline_api"] == "v1alpha1"
        assert sorted((b["kind"], b["name"], b["method"]) for b in res["baselines"]) == [
            ("AdminNetworkPolicy", "kvnet-kube-system-%s" % tag, "created"),
            ("BaselineAdminNetworkPolicy", "default", "created")]
        admin = lab.request("GET", ANP_PATH + "/kvnet-kube-system-" + tag)
        assert admin["spec"]["priority"] == 41 and [r["action"] for r in admin["spec"]["ingress"]] == [
            "Allow", "Deny"]
        banp = lab.request("GET", BANP_PATH + "/default")
        assert banp["spec"]["subject"] == {"namespaces": {"matchLabels": {"tenant-%s" % tag: "true"}}}
        request_log.mark()
        again = run_playbook(play([task("again", **options)])).tasks["again"]
        assert not again["changed"] and request_log.writes() == []
        # what v1alpha1 cannot say is refused before any write
        bad = [dict(entries[0], ingress=[{"action": "Pass"}])]
        res = run_playbook(play([task("bad", **with_baselines(options, bad))]), expect_rc=2).tasks["bad"]
        assert "Pass has no next tier" in res["msg"] and request_log.writes() == []
        run_playbook(play([task("clean", **with_baselines(options, []))]))
        assert lab.request("GET", BANP_PATH)["items"] == []
    finally:
        crds.serve_v1alpha2(lab)
