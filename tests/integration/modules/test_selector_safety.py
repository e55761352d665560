"""Issue 19 (items 1 and 8.2): selectors that would take every VM or namespace, and
malformed selectors, fail before any API request (the proxy's log proves it);
``vm_selector_all`` opts in, and the bulk run then waits without crashing."""

import pytest

from tests.integration.helpers import play
from tests.integration.modules.kubevirt_objects import (
    create_nad, create_vm, get_vm, iface_names, wait_running)


def task(name, module, **options):
    return {"name": name, module: options, "register": "r", "ignore_errors": True}


def hotplug(name, namespace, **options):
    return task(name, "kubevirt_net.core.kubevirt_iface_hotplug", namespace=namespace, interface="storage",
                network="storage-net", **options)


@pytest.fixture
def vms(lab, namespace, capabilities):
    """Two VMs without the tier label (one running, one stopped) and one db VM."""
    capabilities(dynamic_networks=True)
    create_nad(lab, namespace, "storage-net")
    create_vm(lab, namespace, "web-1", labels={"app": "web"})
    create_vm(lab, namespace, "stopped", running=False)
    create_vm(lab, namespace, "db-1", labels={"tier": "db"})
    for name in ("web-1", "db-1"):
        wait_running(lab, namespace, name)
    return ["db-1", "stopped", "web-1"]


@pytest.mark.parametrize("selector, words", [
    ("", "vm_selector: is empty and would select every VirtualMachine of namespace"),
    ("tier!=db", "vm_selector: tier!=db has only negative terms"),
    ("!tier", "vm_selector: !tier has only negative terms"),
])
def test_all_matching_vm_selector_is_refused_before_any_request(lab, namespace, vms, run_playbook, request_log,
                                                                selector, words):
    request_log.mark()
    res = run_playbook(play([hotplug("plug", namespace, vm_selector=selector)])).tasks["plug"]
    assert res.get("failed") and words in res["msg"], res
    assert "vm_selector_all: true" in res["msg"]
    assert res["api_requests"]["total"] == 0
    assert request_log.entries() == []
    for name in vms:
        assert iface_names(get_vm(lab, namespace, name)) == ["default"]


@pytest.mark.parametrize("selector, words", [
    ("tier in db", "vm_selector: 'tier in db' is not a label selector"),
    ("tier=db,", "vm_selector: 'tier=db,' is not a label selector"),
    ("tier=-db", "vm_selector: '-db' is not a valid label value"),
    ("count>3", "'>' is not supported"),
])
def test_malformed_vm_selector_names_the_option_before_any_request(namespace, run_playbook, request_log,
                                                                   selector, words):
    tasks = [hotplug("plug", namespace, vm_selector=selector),
             task("doctor", "kubevirt_net.core.kubevirt_vm_network_info", namespace=namespace, vm_selector=selector)]
    result = run_playbook(play(tasks))
    for name in ("plug", "doctor"):
        res = result.tasks[name]
        assert res.get("failed") and words in res["msg"], (name, res.get("msg"))
    assert request_log.entries() == []


def test_vm_selector_all_opts_in_and_the_bulk_wait_completes(lab, namespace, vms, run_playbook, request_log):
    """The issue's run: every VM patched, then KeyError 'name' in wait(). With the
    explicit opt-in the same task patches every VM once and waits for the running ones."""
    request_log.mark()
    res = run_playbook(play([hotplug("plug", namespace, vm_selector="", vm_selector_all=True)])).tasks["plug"]
    assert not res.get("failed"), res.get("msg")
    assert sorted(v["name"] for v in res["vms"]) == vms
    methods = {v["name"]: v["method"] for v in res["vms"]}
    assert methods == {"db-1": "live", "stopped": "offline", "web-1": "live"}
    patched = sorted(e["path"].rsplit("/", 1)[1] for e in request_log.writes() if e["method"] == "PATCH")
    assert patched == vms
    for name in vms:
        assert iface_names(get_vm(lab, namespace, name)) == ["default", "storage"]


def test_a_narrowing_selector_changes_only_its_vms(lab, namespace, vms, run_playbook, request_log):
    request_log.mark()
    res = run_playbook(play([hotplug("plug", namespace, vm_selector="tier in (db)")])).tasks["plug"]
    assert not res.get("failed"), res.get("msg")
    assert [v["name"] for v in res["vms"]] == ["db-1"]
    lists = [e for e in request_log.entries() if e["method"] == "GET" and e["path"].endswith("/virtualmachines")]
    assert lists and all("labelSelector=tier%3Ddb" in e["query"] for e in lists), [e["query"] for e in lists]
    assert [e["path"].rsplit("/", 1)[1] for e in request_log.writes()] == ["db-1"]


@pytest.mark.parametrize("module, options, field", [
    ("kubevirt_net.core.kubevirt_network_policies",
     {"namespace_selector": {"match_expressions": [{"key": "team", "operator": "NotIn", "values": ["infra"]}]},
      "default_deny": "both"}, "namespace_selector"),
    ("kubevirt_net.core.kubevirt_vm_istio",
     {"namespace_selector": {"match_expressions": [{"key": "mesh", "operator": "DoesNotExist"}]}},
     "namespace_selector"),
])
def test_negative_only_namespace_selectors_are_refused_before_any_request(run_playbook, request_log, module,
                                                                          options, field):
    res = run_playbook(play([task("t", module, **options)])).tasks["t"]
    assert res.get("failed") and ": %s: " % field in res["msg"] and "only negative terms" in res["msg"], res
    assert request_log.entries() == []


def test_a_selector_that_matches_no_vm_fails_before_any_write_unless_allowed(lab, namespace, vms, run_playbook,
                                                                             request_log):
    # issue 23 trap 2: tier=db written where the labels are of the other kind printed ok and changed nothing
    request_log.mark()
    tasks = [hotplug("plug", namespace, vm_selector="app=db-1"),
             task("doctor", "kubevirt_net.core.kubevirt_vm_network_info", namespace=namespace,
                  vm_selector={"app": "db-1"})]
    result = run_playbook(play(tasks))
    for name in ("plug", "doctor"):
        res = result.tasks[name]
        assert res.get("failed") and "matched no VirtualMachine" in res["msg"], (name, res.get("msg"))
        assert "template_selector" in res["msg"] and "allow_no_match" in res["msg"]
    assert request_log.writes(include_dry_run=True) == []
    allowed = run_playbook(play([hotplug("plug", namespace, vm_selector="app=db-1",
                                         allow_no_match=True)])).tasks["plug"]
    assert not allowed.get("failed") and not allowed["changed"] and allowed["vms"] == []
    assert any("matched no VirtualMachine" in w for w in allowed["warnings"])
    assert request_log.writes(include_dry_run=True) == []


def test_template_selector_selects_by_the_labels_the_launcher_pod_carries(lab, namespace, vms, run_playbook,
                                                                          request_log):
    request_log.mark()
    tasks = [hotplug("plug", namespace, template_selector="app=db-1"),
             task("doctor", "kubevirt_net.core.kubevirt_vm_network_info", namespace=namespace,
                  template_selector={"app": "db-1"}, checks=["interfaces"])]
    result = run_playbook(play(tasks))
    plug, doctor = result.tasks["plug"], result.tasks["doctor"]
    assert not plug.get("failed"), plug.get("msg")
    assert [v["name"] for v in plug["vms"]] == ["db-1"]
    assert [e["path"].rsplit("/", 1)[1] for e in request_log.writes() if e["method"] == "PATCH"] == ["db-1"]
    assert not doctor.get("failed") and [v["name"] for v in doctor["vms"]] == ["db-1"]
    assert iface_names(get_vm(lab, namespace, "web-1")) == ["default"]
