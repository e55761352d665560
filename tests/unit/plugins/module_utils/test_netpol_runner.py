"""The pure parts of the kubevirt_network_policies flow: target checks,
version gates, and the executor's refusal to touch policies that are not ours."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol, netpol_admin, netpol_runner
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import CREATE, Action
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    MULTI_NETWORK_POLICY, NAD, NETWORK_POLICY, VM)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from ansible_collections.kubevirt_net.core.plugins.modules import kubevirt_network_policies
from tests.unit.plugins.module_utils.session_double import Done, FakeRun, FakeSession

BASE = {"name_prefix": "kvnet-", "default_deny": "none", "allow_dns": False, "dns_namespace": "kube-system",
        "dns_namespace_selector": None, "dns_pod_selector": None, "allow_same_namespace": False,
        "allow_from_namespaces": None, "allow_monitoring": None, "rules": None}


def declare(**params):
    problems = Problems()
    return netpol.declare(dict(BASE, **params), problems), problems


def rule(**kwargs):
    return dict({"name": "r", "direction": "ingress", "template_selector": None, "peers": None, "ports": None,
                 "description": None}, **kwargs)


TASK = {"namespaces": None, "namespace_selector": None, "state": "present", "policy_set": "default",
        "max_concurrency": 8, "prune_scope": "namespaces", "list_scope": "auto"}


def namespace(name, labels=None, phase="Active"):
    return {"metadata": {"name": name, "labels": dict(labels or {})}, "status": {"phase": phase}}


def check(**params):
    problems = Problems()
    explicit, selector = netpol_runner.check_task(dict(TASK, **params), problems)
    return explicit, selector, problems


def test_targets_needed_and_empty_selector_refused():
    assert check()[2].items[0]["field"] == "namespaces"
    _e, selector, problems = check(namespace_selector={})
    assert selector is None and "every namespace" in problems.items[0]["message"]
    explicit, selector, problems = check(namespaces=["a", "b", "a"], namespace_selector={"tenant": "x"})
    assert explicit == ["a", "b"] and selector == {"matchLabels": {"tenant": "x"}} and not problems
    assert check(namespaces=["Bad"])[2]
    assert check(namespaces=["a"], policy_set="no spaces")[2]
    assert check(namespaces=["a"], max_concurrency=0)[2]
    assert check(state="rendered", namespace_selector={"a": "b"})[2]
    assert check(namespaces=["a"], prune_scope="cluster", list_scope="namespace")[2]


def test_resolve_targets():
    namespaces = {"a": namespace("a", {"tenant": "x"}), "b": namespace("b", {"tenant": "y"}),
                  "c": namespace("c", {"tenant": "x"}, phase="Terminating"), "d": namespace("d")}
    problems, findings = Problems(), []
    targets = netpol_runner.resolve_targets(["d", "gone"], {"matchLabels": {"tenant": "x"}}, namespaces,
                                            "present", problems, findings)
    assert targets == ["a", "d"]
    assert [p["object"] for p in problems.items] == ["namespace gone"]
    assert [f["kind"] for f in findings] == ["terminating"]
    problems = Problems()
    assert netpol_runner.resolve_targets(["gone", "a"], None, namespaces, "absent", problems, []) == ["a"]
    assert not problems


def templates_with(**params):
    templates, problems = declare(**params)
    assert not problems
    return templates


@pytest.mark.parametrize("version,refused", [((1, 20), True), ((1, 21), True), ((1, 22), False), ((1, 30), False)])
def test_end_port_gate(version, refused):
    templates = templates_with(rules=[rule(name="r", ports=[{"port": 8000, "end_port": 8100}])])
    problems = Problems()
    netpol_runner.gate(version, templates, {}, False, problems, [])
    assert bool(problems) == refused
    if refused:
        message = problems.items[0]["message"]
        assert "1.22" in message and "8000 instead of 8000-8100" in message


def test_name_label_gate_refuses_labels_or_passes():
    templates = templates_with(allow_dns=True, rules=[rule(name="r", peers=[{"namespaces": ["b", "gone"]}])])
    unlabelled = {"kube-system": namespace("kube-system"), "b": namespace("b")}
    problems, findings = Problems(), []
    assert netpol_runner.gate((1, 20), templates, unlabelled, False, problems, findings) == []
    assert len(problems) == 2 and "label_namespaces=true" in problems.items[0]["message"]
    assert [f["kind"] for f in findings] == ["namespace-missing"]
    problems = Problems()
    assert netpol_runner.gate((1, 20), templates, unlabelled, True, problems, []) == ["b", "kube-system"]
    assert not problems
    labelled = dict((n, namespace(n, {netpol.NAME_LABEL: n})) for n in ("kube-system", "b"))
    assert netpol_runner.gate((1, 20), templates, labelled, False, problems, []) == [] and not problems
    assert netpol_runner.gate((1, 21), templates, unlabelled, False, problems, []) == [] and not problems


def test_name_label_gate_refuses_other_operators_on_old_servers():
    templates = templates_with(rules=[rule(name="r", peers=[{"namespace_selector": {"match_expressions": [
        {"key": netpol.NAME_LABEL, "operator": "NotIn", "values": ["kube-system"]}]}}])])
    problems = Problems()
    netpol_runner.gate((1, 20), templates, {}, True, problems, [])
    assert "NotIn" in problems.items[0]["message"]


@pytest.mark.parametrize("labels,fragment", [
    ({}, "not managed by kubevirt_net.core"),
    ({"app.kubernetes.io/managed-by": "kubevirt_net.core", netpol.POLICY_SET_LABEL: "other"}, "policy set 'other'"),
])
def test_executor_never_takes_over_a_policy_that_is_not_ours(labels, fragment):
    desired = templates_with(default_deny="both")[0].manifest("ns", "default")
    theirs = {"metadata": {"name": desired["metadata"]["name"], "namespace": "ns", "labels": labels,
                           "resourceVersion": "3", "uid": "u"}, "spec": {"podSelector": {}}}
    session = FakeSession({netpol.PolicyKind().resource.path("ns", theirs["metadata"]["name"]): theirs})
    executor = netpol_runner.PolicyExecutor(session, netpol.PolicyKind(), "default")
    [result] = executor.run([Action(CREATE, desired)])
    assert fragment in str(result["error"])
    assert [m for m, _p in session.calls] == ["POST", "GET"]  # no PATCH of their object


def test_base_params_cover_the_module_options():
    # the unit tests' declaration defaults stay in step with the module's argument spec
    assert set(BASE) <= set(kubevirt_network_policies.ARG_SPEC)


# ------------------------------------------------------- cluster baselines: discovery and clash check
GROUP_PATH = "/apis/policy.networking.k8s.io"
CNP_PATH = "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies"
ANP_PATH = "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies"
BANP_PATH = "/apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies"
ADMIN_ENTRY = {"name": "guard", "tier": "Admin", "priority": 41, "subject": {"namespaces": ["kube-system"]},
               "ingress": [{"name": "deny", "action": "Deny"}]}
BASELINE_PARAMS = {"state": "present", "policy_set": "default", "prune": True, "prune_scope": "namespaces",
                   "cluster_baseline_api": "auto", "max_concurrency": 4}


POLICY_LIST_PATHS = {"v1alpha2": [CNP_PATH], "v1alpha1": [ANP_PATH, BANP_PATH]}


def not_found(path):
    return ApiError("GET", path, 404, {"reason": "NotFound", "message": "not found"})


def policy_objects(versions, stored=None):
    """(objects, lists) of a FakeSession serving policy.networking.k8s.io ``versions``: the
    APIGroup (absent when no version is served), the ``stored`` {LIST path: [items]}, and a
    404 for the LIST of every kind of an unserved version."""
    objects = dict(("%s/%s" % (path, item["metadata"]["name"]), item)
                   for path, items in (stored or {}).items() for item in items)
    if versions:
        objects[GROUP_PATH] = {"kind": "APIGroup", "versions": [{"version": v} for v in versions]}
    lists = dict((path, not_found(path)) for version, paths in POLICY_LIST_PATHS.items() if version not in versions
                 for path in paths)
    return objects, lists


def policy_api(versions, stored=None):
    """policy.networking.k8s.io serving ``versions``; ``stored`` per LIST path; a LIST of an unserved version 404s."""
    objects, lists = policy_objects(versions, stored)
    return FakeSession(objects, lists)


def writes(session):
    """(method, path) of the write requests made (a POST under the path of the object it created)."""
    return [c for c in session.calls if c[0] not in ("GET", "LIST")]


def prepare_baselines(session, entries=(ADMIN_ENTRY,), **params):
    problems = Problems()
    baselines = netpol_admin.parse(problems, list(entries), "kvnet-")
    assert not problems
    plan_ = netpol_runner.BaselinePlan(baselines)
    plan_.prepare(session, dict(BASELINE_PARAMS, **params), problems, [])
    return plan_, problems


VENDOR_ANP = {"metadata": {"name": "vendor-anp"}, "spec": {"priority": 41, "subject": {"namespaces": {}}}}
VENDOR_CNP = {"metadata": {"name": "vendor-cnp"}, "spec": {"tier": "Admin", "priority": 41,
                                                           "subject": {"namespaces": {}}}}


@pytest.mark.parametrize("versions, forced, version, lists, clash", [
    (["v1alpha1"], "auto", "v1alpha1", [ANP_PATH, BANP_PATH], "vendor-anp"),
    (["v1alpha2"], "auto", "v1alpha2", [CNP_PATH], "vendor-cnp"),
    # both served: the ClusterNetworkPolicy is written, the AdminNetworkPolicy at the same priority still applies
    (["v1alpha2", "v1alpha1"], "auto", "v1alpha2", [CNP_PATH, ANP_PATH, BANP_PATH], "AdminNetworkPolicy vendor-anp"),
    (["v1alpha2", "v1alpha1"], "v1alpha1", "v1alpha1", [CNP_PATH, ANP_PATH, BANP_PATH],
     "ClusterNetworkPolicy vendor-cnp"),
], ids=["only-v1alpha1", "only-v1alpha2", "both", "both-forced-v1alpha1"])
def test_baseline_priority_check_sees_every_served_kind(versions, forced, version, lists, clash):
    session = policy_api(versions, {ANP_PATH: [VENDOR_ANP], CNP_PATH: [VENDOR_CNP]})
    plan_, problems = prepare_baselines(session, cluster_baseline_api=forced)
    assert plan_.version == version
    assert session.calls == [("GET", GROUP_PATH)] + [("LIST", p) for p in lists]
    # only the chosen version's kinds are planned (written, pruned); the others were read for the check only
    assert [k.resource.version for k in plan_.kinds] == [version] * len(plan_.kinds) and plan_.kinds
    assert "41 in the Admin tier is already used by %s" % clash in problems.render()


def test_forcing_a_version_the_cluster_does_not_serve_is_refused_before_any_write():
    session = policy_api(["v1alpha2"])
    plan_, problems = prepare_baselines(session, cluster_baseline_api="v1alpha1")
    assert plan_.version is None and plan_.kinds == []
    assert problems.items[0]["field"] == "cluster_baseline_api"
    assert "v1alpha1 is not served by this cluster (served: v1alpha2)" in problems.items[0]["message"]
    assert session.calls == [("GET", GROUP_PATH)]


def test_forcing_v1alpha1_writes_adminnetworkpolicies():
    session = policy_api(["v1alpha2", "v1alpha1"])
    plan_, problems = prepare_baselines(session, cluster_baseline_api="v1alpha1")
    assert not problems and plan_.version == "v1alpha1"
    results = plan_.execute(session, BASELINE_PARAMS, check_mode=False)
    assert [(r["kind"], r["name"], r["method"]) for r in results] == [
        ("AdminNetworkPolicy", "kvnet-guard", "created")]
    assert writes(session) == [("POST", ANP_PATH + "/kvnet-guard")]


# ------------------------------------------------------- the whole flow on a fake cluster (no lab)
class Module:
    def __init__(self, check_mode=False, **params):
        from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
        spec = dict(kubevirt_network_policies.ARG_SPEC, max_concurrency=dict(type="int", default=4))
        result = ArgumentSpecValidator(spec).validate(params)
        assert not result.error_messages, result.error_messages
        self.params = result.validated_parameters
        self.check_mode = check_mode
        self._diff = False
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


T1_NAD = {"metadata": {"namespace": "t1", "name": "storage"},
          "spec": {"config": '{"cniVersion": "0.3.1", "type": "bridge", "ipam": {"type": "static"}}'}}


def cluster_of(policy_versions=("v1alpha2",), multi=True, vms=()):
    """A 1.34 API server with namespace ``t1`` (and its NAD ``storage``): ``policy_versions``
    of policy.networking.k8s.io served, MultiNetworkPolicy served or not, the VMs ``vms`` of t1."""
    objects, lists = policy_objects(list(policy_versions))
    objects.update({"/version": {"major": "1", "minor": "34"},
                    "/api/v1/namespaces/t1": namespace("t1", {"kubernetes.io/metadata.name": "t1"}),
                    NAD.path("t1", "storage"): T1_NAD})
    objects.update((VM.path("t1", vm["metadata"]["name"]), vm) for vm in vms)
    if not multi:
        path = MULTI_NETWORK_POLICY.path("t1")
        lists[path] = ApiError("GET", path, 404, {"reason": "NotFound", "message": "the server could not find it"})
    return FakeSession(objects, lists)


def run_flow(monkeypatch, cluster, check_mode=False, **params):
    monkeypatch.setattr(netpol_runner, "Run", lambda _module: FakeRun(cluster))
    module = Module(check_mode=check_mode, **params)
    with pytest.raises(Done) as done:
        netpol_runner.run(module)
    return done.value


STORAGE_RULE = {"name": "storage", "direction": "ingress", "network": "storage"}


def test_multinetworkpolicy_not_served_is_refused_before_any_write(monkeypatch):
    cluster = cluster_of(multi=False)
    done = run_flow(monkeypatch, cluster, namespaces=["t1"], default_deny="ingress", rules=[STORAGE_RULE])
    assert done.failed and writes(cluster) == []
    assert "does not serve MultiNetworkPolicy" in done.result["msg"]
    assert [p["field"] for p in done.result["problems"]] == ["rules[].network"]
    # without a network rule the missing CRD does not matter
    cluster = cluster_of(multi=False)
    done = run_flow(monkeypatch, cluster, namespaces=["t1"], default_deny="ingress")
    assert not done.failed
    assert writes(cluster) == [("POST", "/apis/networking.k8s.io/v1/namespaces/t1/networkpolicies/kvnet-default-deny")]


def test_cluster_baselines_without_the_policy_group_are_refused_before_any_write(monkeypatch):
    cluster = cluster_of(policy_versions=())
    done = run_flow(monkeypatch, cluster, namespaces=["t1"], default_deny="ingress", cluster_baselines=[ADMIN_ENTRY])
    assert done.failed and writes(cluster) == []
    assert [p["field"] for p in done.result["problems"]] == ["cluster_baselines"]
    assert "serves no policy.networking.k8s.io API" in done.result["msg"]
    # an empty list (prune this set's baselines) on such a cluster is not an error
    cluster = cluster_of(policy_versions=())
    done = run_flow(monkeypatch, cluster, namespaces=["t1"], cluster_baselines=[])
    assert not done.failed and done.result["baselines"] == [] and writes(cluster) == []


@pytest.mark.parametrize("forced, served, kind, path", [
    ("v1alpha1", ("v1alpha2", "v1alpha1"), "AdminNetworkPolicy", ANP_PATH),
    ("v1alpha2", ("v1alpha2", "v1alpha1"), "ClusterNetworkPolicy", CNP_PATH),
])
def test_forced_cluster_baseline_api_writes_that_version(monkeypatch, forced, served, kind, path):
    cluster = cluster_of(policy_versions=served)
    done = run_flow(monkeypatch, cluster, namespaces=["t1"], cluster_baselines=[ADMIN_ENTRY],
                    cluster_baseline_api=forced)
    assert not done.failed, done.result
    assert done.result["baseline_api"] == forced
    assert [(b["kind"], b["name"], b["method"]) for b in done.result["baselines"]] == [(kind, "kvnet-guard", "created")]
    assert writes(cluster) == [("POST", path + "/kvnet-guard")]


def test_forced_cluster_baseline_api_not_served_is_refused(monkeypatch):
    cluster = cluster_of(policy_versions=("v1alpha1",))
    done = run_flow(monkeypatch, cluster, namespaces=["t1"], cluster_baselines=[ADMIN_ENTRY],
                    cluster_baseline_api="v1alpha2")
    assert done.failed and writes(cluster) == []
    assert [p["field"] for p in done.result["problems"]] == ["cluster_baseline_api"]


@pytest.mark.parametrize("forced, kind", [("auto", "ClusterNetworkPolicy"), ("v1alpha2", "ClusterNetworkPolicy"),
                                          ("v1alpha1", "AdminNetworkPolicy")])
def test_rendered_with_baselines_sends_no_request(monkeypatch, forced, kind):
    cluster = cluster_of()
    done = run_flow(monkeypatch, cluster, state="rendered", namespaces=["t1"], default_deny="ingress",
                    cluster_baselines=[ADMIN_ENTRY], cluster_baseline_api=forced, rules=[STORAGE_RULE])
    assert not done.failed and not done.result["changed"]
    assert cluster.calls == []   # nothing read, nothing written
    assert [(b["kind"], b["name"], b["method"]) for b in done.result["baselines"]] == [
        (kind, "kvnet-guard", "rendered")]
    assert sorted(p["kind"] for p in done.result["policies"]) == ["MultiNetworkPolicy", "NetworkPolicy"]


def test_a_second_run_on_the_same_cluster_writes_nothing(monkeypatch):
    """The flow is idempotent: what the first run wrote, the second reads back and leaves alone."""
    cluster = cluster_of(policy_versions=("v1alpha2", "v1alpha1"))
    params = dict(namespaces=["t1"], default_deny="both", allow_dns=True, rules=[STORAGE_RULE],
                  cluster_baselines=[ADMIN_ENTRY])
    first = run_flow(monkeypatch, cluster, **params)
    assert not first.failed and first.result["changed"], first.result
    assert writes(cluster) == [("POST", NETWORK_POLICY.path("t1", "kvnet-default-deny")),
                               ("POST", NETWORK_POLICY.path("t1", "kvnet-allow-dns")),
                               ("POST", MULTI_NETWORK_POLICY.path("t1", "kvnet-storage")),
                               ("POST", CNP_PATH + "/kvnet-guard")]
    del cluster.calls[:]
    second = run_flow(monkeypatch, cluster, **params)
    assert not second.failed, second.result
    assert second.result["changed"] is False
    assert writes(cluster) == [] and cluster.calls   # read again, wrote nothing
    assert [p["method"] for p in second.result["policies"]] == ["unchanged"] * 3
    assert [b["method"] for b in second.result["baselines"]] == ["unchanged"]


def test_check_mode_with_baselines_writes_nothing(monkeypatch):
    cluster = cluster_of(policy_versions=("v1alpha2", "v1alpha1"))
    done = run_flow(monkeypatch, cluster, check_mode=True, namespaces=["t1"], cluster_baselines=[ADMIN_ENTRY])
    assert not done.failed and done.result["changed"] and writes(cluster) == []
    assert [b["method"] for b in done.result["baselines"]] == ["created"]


def test_peer_only_network_rule_lists_the_vms(monkeypatch):
    """A MultiNetworkPolicy rule without a target selector (it targets every launcher pod) but with a peer
    template_selector: the VMs are read, so netpol_multi can check the peer selector against them."""
    web = {"metadata": {"namespace": "t1", "name": "web", "labels": {"app": "web"}},
           "spec": {"template": {"metadata": {"labels": {"app": "frontend"}}, "spec": {"networks": [
               {"name": "storage", "multus": {"networkName": "storage"}}]}}}}
    cluster = cluster_of(vms=[web])
    rule_ = dict(STORAGE_RULE, peers=[{"template_selector": {"app": "web"}}])
    done = run_flow(monkeypatch, cluster, namespaces=["t1"], rules=[rule_])
    assert ("LIST", "/apis/kubevirt.io/v1/namespaces/t1/virtualmachines") in cluster.calls
    assert done.failed and writes(cluster) == []
    assert [p["field"] for p in done.result["problems"]] == ["peers[0].template_selector"]
