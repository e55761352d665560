"""kubevirt_vm_clone's plan (clone_runner.Cloner) judged by what KubeVirt
v1.9.0 would do with the VirtualMachineClone it builds.  The judge is the
lab's separate emulation (tests/lab/kubevirt/clone.py): vm-target.go
generatePatches, the restore webhook (vmrestore.go validatePatches) and
restore.go's restored VM + patchVM.  No API server is involved."""

import copy

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import clone_runner
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from tests.lab.kubevirt import clone as kubevirt

KV = KubeVirtInfo({"spec": {"configuration": {"developerConfiguration": {"featureGates": []}}},
                   "status": {"observedKubeVirtVersion": "v1.9.0"}})
RESTORE = {"name": "tmp-restore-x", "uid": "r1"}

SOURCE = {
    "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
    "metadata": {"name": "golden", "namespace": "vms", "uid": "u1", "resourceVersion": "3",
                 "labels": {"app": "golden", "myapp": "x", "app.kubernetes.io/name": "g", "team": "a"},
                 "annotations": {"note": "x"}},
    "spec": {"runStrategy": "Always", "template": {
        "metadata": {"labels": {"app": "golden"},
                     "annotations": {"sidecar.istio.io/inject": "true", "k8s.v1.cni.cncf.io/ip": "10.0.0.5"}},
        "spec": {"domain": {"devices": {"interfaces": [
            {"name": "default", "masquerade": {}, "macAddress": "02:00:00:00:10:01"},
            {"name": "prod", "bridge": {}, "macAddress": "02:00:00:00:10:02"}]},
            "firmware": {"uuid": "0b0e-uuid", "serial": "old-serial"}},
            "networks": [{"name": "default", "pod": {}}, {"name": "prod", "multus": {"networkName": "prod-a"}}]}}},
}


class FakeModule:
    def __init__(self, params):
        spec = dict((k, v.get("default")) for k, v in clone_runner.ARG_SPEC.items())
        spec.update(wait=True, wait_timeout=60, wait_sleep=1, namespace="vms", source="golden")
        spec.update(params)
        self.params = spec
        self.check_mode = False
        self._diff = False
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def plan(source=None, **params):
    cloner = clone_runner.Cloner(FakeModule(params))
    problems = Problems()
    targets = cloner.targets(problems)
    cloner.check(problems, targets)
    assert problems.items == [], problems.render()
    plans = [cloner.plan(problems, copy.deepcopy(source or SOURCE), t, KV, None) for t in targets]
    return problems, plans[0]


def kubevirt_result(source, p):
    """What KubeVirt makes of the plan's clone: raises if the restore webhook
    refuses it or a patch does not apply (the clone would hang in
    RestoreInProgress), else the VM it creates, with the module's after-clone
    merge patch applied."""
    spec = p["manifest"]["spec"]
    causes = kubevirt.restore_webhook_causes(kubevirt.generate_patches(source, spec))
    assert causes == [], causes
    vm = kubevirt.target_vm(source, {"spec": spec}, RESTORE)
    for key, value in ((p.get("post") or {}).get("metadata") or {}).items():
        vm["metadata"].setdefault(key, {}).update(value)
    return vm


def comparable(vm):
    vm = copy.deepcopy(vm)
    vm["metadata"]["annotations"].pop(kubevirt.LAST_RESTORE_ANNOTATION, None)
    vm["metadata"].pop("namespace", None)
    vm.pop("apiVersion", None)
    vm.pop("kind", None)
    return vm


def ifaces(vm):
    return {i["name"]: i for i in vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]}


# ------------------------------------------------------------ item 1: the restore webhook
def test_explicit_macs_and_an_added_multus_interface_pass_the_restore_webhook():
    _problems, p = plan(target="web-1", new_mac_addresses={"default": "02:00:00:aa:00:01"},
                        networks=[{"interface": "extra", "network": "prod-b", "mac_address": "02:00:00:aa:00:02"},
                                  {"interface": "prod", "network": "prod-b", "mac_address": "02:00:00:aa:00:03"}])
    vm = kubevirt_result(SOURCE, p)
    assert {n: i.get("macAddress") for n, i in ifaces(vm).items()} == {
        "default": "02-00-00-aa-00-01", "prod": "02-00-00-aa-00-03", "extra": "02-00-00-aa-00-02"}
    assert vm["spec"]["template"]["spec"]["networks"][2] == {"name": "extra", "multus": {"networkName": "prod-b"}}


def test_raw_patch_with_a_colon_value_is_made_to_pass():
    _problems, p = plan(target="web-1", patches=[{"op": "add", "path": "/spec/template/metadata/annotations/url",
                                                  "value": "http://a:1/"}])
    vm = kubevirt_result(SOURCE, p)
    assert vm["spec"]["template"]["metadata"]["annotations"]["url"] == "http://a:1/"


def test_raw_patch_the_restore_webhook_refuses_fails_before_any_write():
    cloner = clone_runner.Cloner(FakeModule(dict(target="web-1", patches=[
        {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}])))
    problems = Problems()
    targets = cloner.targets(problems)
    cloner.check(problems, targets)
    cloner.plan(problems, copy.deepcopy(SOURCE), targets[0], KV, None)
    assert [i["field"] for i in problems.items] == ["patches[0]"]
    assert "restore webhook" in problems.items[0]["message"]


# ------------------------------------------------------------ item 2: filters
@pytest.mark.parametrize("filters,kept", [
    (["app"], {"app", "myapp", "app.kubernetes.io/name"}),
    (["!team"], set()),
    ([], set()),
    (["*", "!team"], {"app", "myapp", "app.kubernetes.io/name"}),
])
def test_expected_labels_follow_kubevirt_filters(filters, kept):
    _problems, p = plan(target="web-1", label_filters=filters)
    assert set(p["expected"]["metadata"].get("labels") or {}) == kept
    assert comparable(p["expected"]) == comparable(kubevirt_result(SOURCE, p))


def test_the_documented_annotation_filter_keeps_istio_injection():
    _problems, p = plan(target="web-1", template_annotation_filters=["*", "!k8s.v1.cni.cncf.io/*"])
    assert p["expected"]["spec"]["template"]["metadata"]["annotations"] == {"sidecar.istio.io/inject": "true"}


# ------------------------------------------------------------ item 3: the expected target
def test_expected_target_is_what_kubevirt_builds():
    _problems, p = plan(target="web-1", new_smbios_serial="S-1", template_labels={"app": "web-1"},
                        networks=[{"interface": "prod", "binding": "bridge", "model": "e1000e"}])
    vm = kubevirt_result(SOURCE, p)
    assert comparable(p["expected"]) == comparable(vm)
    assert p["expected"]["spec"]["runStrategy"] == "Halted"
    assert p["expected"]["spec"]["template"]["spec"]["domain"]["firmware"] == {"serial": "S-1"}


def test_labels_override_on_a_source_without_labels():
    source = copy.deepcopy(SOURCE)
    del source["metadata"]["labels"]
    del source["spec"]["template"]["metadata"]["labels"]
    _problems, p = plan(source, target="web-1", labels={"app": "web-1"}, template_labels={"app": "web-1"})
    vm = kubevirt_result(source, p)  # no "missing path" in KubeVirt's patchVM
    assert vm["metadata"]["labels"] == {"app": "web-1"} and p["post"] == {"metadata": {"labels": {"app": "web-1"}}}
    assert vm["spec"]["template"]["metadata"]["labels"] == {"app": "web-1"}
    assert comparable(p["expected"]) == comparable(vm)


def test_vm_admission_runs_on_the_expected_target():
    cloner = clone_runner.Cloner(FakeModule(dict(target="web-1", networks=[
        {"interface": "prod", "binding": "masquerade"}])))
    problems = Problems()
    targets = cloner.targets(problems)
    cloner.check(problems, targets)
    cloner.plan(problems, copy.deepcopy(SOURCE), targets[0], KV, None)
    assert any("Masquerade interface only implemented with pod network" in i["message"] for i in problems.items)


def test_dash_form_of_the_reserved_masquerade_mac_is_refused():
    cloner = clone_runner.Cloner(FakeModule(dict(target="web-1", new_mac_addresses={"default": "02-00-00-00-00-00"})))
    problems = Problems()
    targets = cloner.targets(problems)
    cloner.check(problems, targets)
    cloner.plan(problems, copy.deepcopy(SOURCE), targets[0], KV, None)
    assert any("reserved" in i["message"] for i in problems.items)


# ------------------------------------------------------------ item 4: MAC of an added interface
def test_mac_of_an_added_interface_is_on_the_entry():
    _problems, p = plan(target="web-1", networks=[{"interface": "extra", "network": "prod-b",
                                                   "mac_address": "02:00:00:aa:00:09"}])
    assert "extra" not in (p["manifest"]["spec"].get("newMacAddresses") or {})
    assert ifaces(kubevirt_result(SOURCE, p))["extra"]["macAddress"] == "02-00-00-aa-00-09"
    assert ifaces(p["expected"])["extra"]["macAddress"] == "02-00-00-aa-00-09"


def test_a_mac_for_an_unknown_interface_is_refused():
    cloner = clone_runner.Cloner(FakeModule(dict(target="web-1", new_mac_addresses={"ghost": "02:00:00:aa:00:09"})))
    problems = Problems()
    targets = cloner.targets(problems)
    cloner.check(problems, targets)
    cloner.plan(problems, copy.deepcopy(SOURCE), targets[0], KV, None)
    assert [i["field"] for i in problems.items] == ["new_mac_addresses.ghost"]


def test_mixed_separator_mac_is_refused_before_planning():
    cloner = clone_runner.Cloner(FakeModule(dict(target="web-1", new_mac_addresses={"prod": "02:00:00-aa:00:09"})))
    problems = Problems()
    cloner.check(problems, cloner.targets(problems))
    assert [i["field"] for i in problems.items] == ["new_mac_addresses.prod"]


# ------------------------------------------------------------ after the clone
class FakeSession:
    def __init__(self, fail_patch=False):
        self.calls = []
        self.fail_patch = fail_patch

    def request(self, method, path, body=None, content_type=None, **_kw):
        self.calls.append((method, path, content_type, body))
        if method == "PATCH" and self.fail_patch:
            raise clone_runner.ApiError("PATCH", path, 500, {"message": "boom"})
        if method == "POST":
            return {"metadata": {"name": "web-1-clone-abc"}}
        return {}

    def list(self, _path):
        return [{"metadata": {"name": "web-1-clone-abc"}, "status": {"phase": "Succeeded"}}]

    def get(self, _path):
        return {"metadata": {"name": "web-1"}}


@pytest.mark.parametrize("fail", [False, True])
def test_labels_for_a_labelless_source_are_merged_after_the_clone(fail):
    source = copy.deepcopy(SOURCE)
    del source["metadata"]["labels"]
    cloner = clone_runner.Cloner(FakeModule(dict(target="web-1", labels={"app": "web-1"}, wait_sleep=0.01)))
    session = FakeSession(fail_patch=fail)
    cloner.runner._session = session  # pylint: disable=protected-access
    problems = Problems()
    targets = cloner.targets(problems)
    cloner.check(problems, targets)
    p = cloner.plan(problems, source, targets[0], KV, None)
    result = cloner.execute(p)
    patches = [c for c in session.calls if c[0] == "PATCH"]
    assert patches == [("PATCH", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines/web-1",
                        clone_runner.MERGE_PATCH, {"metadata": {"labels": {"app": "web-1"}}})]
    if fail:
        assert "patching the target afterwards failed" in result["error"] and result["partial_target_deleted"]
    else:
        assert result["post_clone_patch"] == {"metadata": {"labels": {"app": "web-1"}}} and "error" not in result


def test_a_passt_interface_gets_its_mac_in_colon_form():
    """passtBinding's macAddress goes to libvirt verbatim (converter/network/builder.go), and libvirt parses
    only ':'-separated MACs: send it through an escaped patch, not as a dash-form newMacAddresses entry."""
    source = copy.deepcopy(SOURCE)
    source["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0] = {"name": "default",
                                                                                "passtBinding": {}}
    _problems, p = plan(source, target="web-1", new_mac_addresses={"default": "02-00-00-aa-00-01",
                                                                   "prod": "02:00:00:aa:00:02"})
    assert p["manifest"]["spec"]["newMacAddresses"] == {"prod": "02-00-00-aa-00-02"}
    vm = kubevirt_result(source, p)
    assert ifaces(vm)["default"]["macAddress"] == "02:00:00:aa:00:01"
    assert ifaces(p["expected"])["default"]["macAddress"] == "02:00:00:aa:00:01"
