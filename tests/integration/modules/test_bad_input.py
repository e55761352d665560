"""Bad input is refused before any write: the message names the field and the
fix, and the proxy sees no write (issue 18 item 9, issue 19 items 3 and 8).
The table of cases per module is in test_bad_input_<module>.py; here are the
cases that need more than a table row (YAML text, request counts, faults,
cluster settings).

MACs are parsed as KubeVirt parses them (Go's net.ParseMAC) and must be
unicast; Linux interface names, CNI versions, label keys and the namespace of
kubevirt_network are checked before the POST; api_retries/wait options are
range-checked by every module."""

import uuid

import yaml

from tests.integration.modules.kubevirt_objects import VM_PATH, create_nad, create_vm

KUBEVIRT = "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt"


def play(tasks):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def task(title, module, options):
    return {"name": title, "kubevirt_net.core." + module: options, "register": "r", "ignore_errors": True}


def vmnet(ns, iface=None, **more):
    iface = dict({"name": "net1", "network": "br-a"}, **(iface or {}))
    return dict({"vm": "target", "namespace": ns, "state": "merged", "config": {"interfaces": [iface]}}, **more)


def network(ns, **more):
    return dict({"name": "n1", "namespace": ns, "type": "bridge", "bridge": "br0"}, **more)


def setup(lab, namespace):
    create_nad(lab, namespace, "br-a")
    create_vm(lab, namespace, "target", running=False)


def assert_refused(res, words, index):
    msg = res.get("msg") or ""
    assert res.get("failed"), (index, res)
    for word in words:
        assert word in msg, (index, word, msg)
    assert (res.get("api_requests") or {}).get("writes", 0) == 0, (index, res.get("api_requests"))


UNQUOTED = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: hotplug
      kubevirt_net.core.kubevirt_iface_hotplug:
        vm: target
        namespace: {ns}
        interface: net1
        network: br-a
        mac_address: 52:54:00:12:34:56
      register: r
      ignore_errors: true
    - name: vmnet
      kubevirt_net.core.kubevirt_vm_network:
        vm: target
        namespace: {ns}
        state: merged
        config:
          interfaces:
            - name: net1
              network: br-a
              mac_address: 52:54:00:12:34:56
      register: r
      ignore_errors: true
    - name: clone
      kubevirt_net.core.kubevirt_vm_clone:
        source: target
        target: t3
        namespace: {ns}
        new_mac_addresses:
          default: 52:54:00:12:34:56
      register: r
      ignore_errors: true
"""


def test_unquoted_mac_says_quote_the_mac(lab, namespace, run_playbook, request_log):
    """YAML 1.1 reads 52:54:00:12:34:56 as the sexagesimal integer 41135085296 (issue 19 item 8)."""
    assert yaml.safe_load("m: 52:54:00:12:34:56")["m"] == 41135085296
    setup(lab, namespace)
    request_log.mark()
    result = run_playbook(UNQUOTED.format(ns=namespace))
    for name, field in (("hotplug", "mac_address"), ("vmnet", "mac_address"), ("clone", "new_mac_addresses.default")):
        assert_refused(result.tasks[name], [field, "quote the MAC", "'52:54:00:12:34:56'"], name)
    assert request_log.writes(include_dry_run=True) == []


def test_missing_namespace_is_one_get_and_no_write(lab, run_playbook, request_log):
    missing = "t-missing-" + uuid.uuid4().hex[:6]
    request_log.mark()
    res = run_playbook(play([task("n", "kubevirt_network", network(missing))])).tasks["n"]
    assert_refused(res, ["namespace", "does not exist", "create the namespace"], "missing namespace")
    assert request_log.writes(include_dry_run=True) == []
    assert [e["path"] for e in request_log.entries()].count("/api/v1/namespaces/" + missing) == 1


def test_namespace_is_read_only_where_the_module_writes(lab, namespace, run_playbook, request_log):
    create_nad(lab, namespace, "other")
    request_log.mark()
    first = run_playbook(play([task("n", "kubevirt_network", network(namespace))])).tasks["n"]
    assert first["changed"] and not first.get("failed")
    # the namespace already holds a NAD, so it exists: no namespace GET before the POST
    assert "/api/v1/namespaces/" + namespace not in [e["path"] for e in request_log.entries()]
    assert [e["method"] for e in request_log.writes()] == ["POST"]
    request_log.mark()
    run_playbook(play([task("n", "kubevirt_network", network(namespace))]))
    assert [e["method"] for e in request_log.entries()] == ["GET"]   # unchanged: no namespace read either


def test_api_retries_zero_means_one_try(lab, namespace, run_playbook, request_log):
    lab.add_fault(method="POST", path="/network-attachment-definitions$", action="status", code=503, count=-1)
    try:
        res = run_playbook(play([task("n", "kubevirt_network", network(namespace, api_retries=0))])).tasks["n"]
    finally:
        lab.clear_faults()
    assert res.get("failed") and res["api_requests"]["retries"] == 0
    assert [e["method"] for e in request_log.entries() if e["method"] == "POST"] == ["POST"]


def test_bridge_on_pod_network_refused_for_any_update_once_not_permitted(lab, namespace, run_playbook, request_log):
    """binding.go validateBridgeBinding runs on every VM create and update (issue 18 item 9)."""
    setup(lab, namespace)
    # a JSON patch, not a PUT of what was read: KubeVirt's virt-controller writes the VM too
    lab.request("PATCH", VM_PATH % namespace + "/target", [
        {"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces",
         "value": [{"name": "default", "bridge": {}}]}], content_type="application/json-patch+json")
    lab.request("PATCH", KUBEVIRT, {"spec": {"configuration": {"network": {
        "permitBridgeInterfaceOnPodNetwork": False}}}}, content_type="application/merge-patch+json")
    try:
        request_log.mark()
        res = run_playbook(play([task("add", "kubevirt_vm_network", vmnet(namespace))])).tasks["add"]
    finally:
        lab.request("PATCH", KUBEVIRT, {"spec": {"configuration": {"network": {
            "permitBridgeInterfaceOnPodNetwork": True}}}}, content_type="application/merge-patch+json")
    assert_refused(res, ["interfaces[0].name", "permitBridgeInterfaceOnPodNetwork", "masquerade"], "bridge")
    assert request_log.writes(include_dry_run=True) == []
