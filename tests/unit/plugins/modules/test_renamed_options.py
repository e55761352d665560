"""One name per concept (issue 23 trap 4, issue 20 step 2): the renamed
options and values work under their new names without a warning, and under
their old names with a deprecation naming the old name and 2.0.0.  The
modules run in-process with state=rendered, which sends no request."""

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common import arg_spec
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubevirt_net.core.plugins.modules import (
    kubevirt_network, kubevirt_network_policies, kubevirt_vm_clone, kubevirt_vm_istio, kubevirt_vm_network)


class Exit(Exception):
    def __init__(self, result, failed):
        super().__init__(result.get("msg"))
        self.result = result
        self.failed = failed


@pytest.fixture
def deprecations(monkeypatch):
    """Every deprecation the module reports (alias deprecations and module.deprecate)."""
    found = []

    def exit_json(_module, **result):
        raise Exit(result, False)

    def fail_json(_module, **result):
        raise Exit(result, True)

    def deprecate(msg, version=None, date=None, collection_name=None, deprecator=None, **_kwargs):
        # ansible-core < 2.19 passes collection_name, newer ones a deprecator (PluginInfo) built from it
        collection = collection_name or getattr(deprecator, "resolved_name", None)
        found.append({"msg": msg, "version": version, "collection_name": collection})

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    # alias deprecations come from the argument spec validator, module.deprecate from the module code
    monkeypatch.setattr(arg_spec, "deprecate", deprecate)
    monkeypatch.setattr(basic.AnsibleModule, "deprecate", lambda _module, msg, **kw: deprecate(msg, **kw))
    return found


def run(module, args):
    with patch_module_args(args):
        with pytest.raises(Exit) as info:
            module.main()
    return info.value


def policies_args(selector, concurrency):
    """The same declaration written with ``selector`` and ``concurrency`` option names."""
    return {
        "state": "rendered", "namespaces": ["shop"], concurrency: 4,
        "allow_monitoring": {"namespaces": ["monitoring"], selector: {"app": "db"}, "ports": [{"port": 9100}]},
        "rules": [{"name": "db-from-web", "direction": "ingress", selector: {"app": "db"},
                   "peers": [{selector: {"app": "web"}}], "ports": [{"port": 3306}]}],
        "cluster_baselines": [{
            "name": "infra", "priority": 10, "subject": {"namespaces": ["shop"], selector: {"app": "db"}},
            "ingress": [{"action": "Accept", "peers": [{"namespaces": ["infra"], selector: {"app": "backup"}}]}]}],
    }


def test_policies_template_selector_renders_without_a_deprecation(deprecations):
    out = run(kubevirt_network_policies, policies_args("template_selector", "max_concurrency"))
    assert not out.failed, out.result.get("msg")
    assert deprecations == []
    rule = [p for p in out.result["policies"] if p["name"] == "kvnet-db-from-web"][0]["resource"]["spec"]
    assert rule["podSelector"] == {"matchLabels": {"app": "db"}}
    assert rule["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app": "web"}}}]
    monitoring = [p for p in out.result["policies"] if p["name"] == "kvnet-allow-monitoring"][0]["resource"]["spec"]
    assert monitoring["podSelector"] == {"matchLabels": {"app": "db"}}
    baseline = out.result["baselines"][0]["resource"]["spec"]
    assert baseline["subject"]["pods"]["podSelector"] == {"matchLabels": {"app": "db"}}


def test_policies_old_names_work_and_are_deprecated(deprecations):
    new = run(kubevirt_network_policies, policies_args("template_selector", "max_concurrency")).result
    del deprecations[:]
    old = run(kubevirt_network_policies, policies_args("vm_selector", "concurrency"))
    assert not old.failed, old.result.get("msg")
    assert old.result["policies"] == new["policies"] and old.result["baselines"] == new["baselines"]
    messages = sorted(d["msg"] for d in deprecations)
    for name in ("'concurrency'", "'rules[0].vm_selector'", "'rules[0].peers[0].vm_selector'",
                 "'allow_monitoring.vm_selector'", "'cluster_baselines[0].subject.vm_selector'",
                 "'cluster_baselines[0].ingress[0].peers[0].vm_selector'"):
        assert any(name in m for m in messages), (name, messages)
    assert set((d["version"], d["collection_name"]) for d in deprecations) == {("2.0.0", "kubevirt_net.core")}


def test_policies_pod_selector_stays_a_plain_alias(deprecations):
    args = policies_args("template_selector", "max_concurrency")
    args["rules"][0]["pod_selector"] = args["rules"][0].pop("template_selector")
    out = run(kubevirt_network_policies, args)
    assert not out.failed and deprecations == []
    rule = [p for p in out.result["policies"] if p["name"] == "kvnet-db-from-web"][0]["resource"]["spec"]
    assert rule["podSelector"] == {"matchLabels": {"app": "db"}}


def test_policies_max_concurrency_is_range_checked_under_both_names(deprecations):
    for name in ("max_concurrency", "concurrency"):
        args = policies_args("template_selector", name)
        args[name] = 0
        out = run(kubevirt_network_policies, args)
        assert out.failed and "max_concurrency: 0 is out of range" in out.result["msg"], out.result["msg"]


ISTIO = {"state": "rendered", "namespaces": ["shop"], "services": [
    {"name": "web", "template_selector": {"app": "web"}, "ports": [{"port": 80, "app_protocol": "http"}]}]}


@pytest.mark.parametrize("name, deprecated", [("max_concurrency", False), ("concurrency", True)])
def test_istio_max_concurrency_and_its_old_name(deprecations, name, deprecated):
    out = run(kubevirt_vm_istio, dict(ISTIO, **{name: 3}))
    assert not out.failed, out.result.get("msg")
    assert [d["msg"] for d in deprecations if "'concurrency'" in d["msg"]] == (
        ["Alias 'concurrency' is deprecated. See the module docs for more information"] if deprecated else [])
    out = run(kubevirt_vm_istio, dict(ISTIO, **{name: 65}))
    assert out.failed and "max_concurrency: 65 is out of range" in out.result["msg"], out.result["msg"]


def vm_network_args(binding):
    return {"state": "rendered", "config": {"interfaces": [
        {"name": "default", "network": "pod", "binding": binding, "ports": [{"name": "http", "port": 8080}]}]}}


def test_vm_network_passt_binding_is_the_api_field(deprecations):
    out = run(kubevirt_vm_network, vm_network_args("passtBinding"))
    assert not out.failed, out.result.get("msg")
    assert deprecations == []
    assert "'passtBinding': {}" in str(out.result) and "'passt': {}" not in str(out.result)


def test_vm_network_old_passt_value_is_deprecated_and_means_passt_binding(deprecations):
    new = run(kubevirt_vm_network, vm_network_args("passtBinding")).result
    out = run(kubevirt_vm_network, vm_network_args("passt"))
    assert not out.failed, out.result.get("msg")
    assert out.result == new
    assert len(deprecations) == 1
    assert "config.interfaces[0].binding" in deprecations[0]["msg"] and "'passtBinding'" in deprecations[0]["msg"]
    assert deprecations[0]["version"] == "2.0.0"


def test_vm_network_refuses_ports_on_bridge_naming_passt_binding(deprecations):
    args = vm_network_args("bridge")
    args["config"]["interfaces"][0]["network"] = "br-a"
    out = run(kubevirt_vm_network, args)
    assert out.failed and "masquerade/passtBinding" in out.result["msg"], out.result["msg"]


SOURCE = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "src", "namespace": "vms"},
          "spec": {"runStrategy": "Halted", "template": {"metadata": {}, "spec": {
              "domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}}]}},
              "networks": [{"name": "default", "pod": {}}]}}}}


@pytest.mark.parametrize("value, deprecated", [("passtBinding", False), ("passt", True)])
def test_clone_binding_value_and_its_old_spelling(deprecations, value, deprecated):
    out = run(kubevirt_vm_clone, {"state": "rendered", "source": "src", "namespace": "vms", "target": "dst",
                                  "source_definition": SOURCE,
                                  "networks": [{"interface": "default", "binding": value}]})
    assert not out.failed, out.result.get("msg")
    ifaces = out.result["clones"][0]["vm"]["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    assert ifaces == [{"name": "default", "passtBinding": {}}]
    assert [d["msg"] for d in deprecations] == (
        ["networks[0].binding: the value 'passt' is deprecated, write 'passtBinding' (the KubeVirt interface field "
         "of the core passt binding)"] if deprecated else [])


def test_clone_targets_items_rename_passt_too(deprecations):
    out = run(kubevirt_vm_clone, {"state": "rendered", "source": "src", "namespace": "vms",
                                  "source_definition": SOURCE, "targets": [
                                      {"name": "a", "networks": [{"interface": "default", "binding": "passt"}]}]})
    assert not out.failed, out.result.get("msg")
    ifaces = out.result["clones"][0]["vm"]["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    assert ifaces == [{"name": "default", "passtBinding": {}}]
    assert ["targets[0].networks[0].binding" in d["msg"] for d in deprecations] == [True]


@pytest.mark.parametrize("value, ok", [(1, True), (64, True), (0, False), (65, False)])
def test_network_max_concurrency_range(deprecations, value, ok):
    out = run(kubevirt_network, {"state": "rendered", "name": "br-a", "namespace": "vms", "type": "bridge",
                                 "bridge": "br0", "max_concurrency": value})
    assert out.failed is not ok, out.result.get("msg")
    if not ok:
        assert "max_concurrency: %d is out of range" % value in out.result["msg"]
