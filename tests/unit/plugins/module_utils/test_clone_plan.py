"""Cloner.plan and the after-clone failure path with a fake module and session (no lab): the passt
colon-form MAC path, the refusal of the reserved masquerade MAC written in dash form, KubeVirt's own
serial patch, and the half-made target deleted when the after-clone patch fails."""

import copy
import json
import types

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import clone, clone_runner
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import VM, VM_CLONE
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from tests.unit.plugins.module_utils.session_double import FakeSession

SOURCE = {
    "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
    "metadata": {"name": "golden", "namespace": "vms", "labels": {"app": "golden"}},
    "spec": {"runStrategy": "Halted", "template": {"metadata": {}, "spec": {
        "domain": {"devices": {"interfaces": [
            {"name": "default", "masquerade": {}, "macAddress": "02:00:00:00:10:01"},
            {"name": "prod", "bridge": {}, "macAddress": "02:00:00:00:10:02"}]}},
        "networks": [{"name": "default", "pod": {}}, {"name": "prod", "multus": {"networkName": "prod-a"}}]}}}}
PARAMS = {"namespace": "vms", "source": "golden", "source_kind": "VirtualMachine", "label_filters": None,
          "annotation_filters": None, "template_label_filters": None, "template_annotation_filters": None,
          "volume_name_policy": None, "recreate": False, "wait": True, "wait_timeout": 5, "wait_sleep": 0.01,
          "cleanup": True, "start": False, "state": "present", "max_concurrency": 5}


def cloner(session=None, **params):
    module = types.SimpleNamespace(params=dict(PARAMS, **params), check_mode=False, warnings=[])
    module.warn = module.warnings.append
    c = clone_runner.Cloner(module, {})
    c.runner._session = session or FakeSession()  # pylint: disable=protected-access
    return c


def plan(source, **target):
    problems = Problems()
    result = cloner().plan(problems, source, dict({"name": "web-1", "_raw": []}, **target), None, None)
    return problems, result


# ------------------------------------------------------------ passt: the MAC reaches libvirt verbatim
def test_a_passt_interface_gets_its_mac_in_colon_form_through_an_escaped_patch():
    problems, result = plan(SOURCE, new_mac_addresses={"default": "02:00:00:aa:00:01", "prod": "02:00:00:aa:00:02"},
                            networks=[{"interface": "default", "binding": "passtBinding"}])
    assert problems.items == []
    assert clone.verbatim_mac_interfaces(SOURCE, result["opts"]) == ["default"]
    # KubeVirt blanks the passt MAC (not in newMacAddresses); the module's own patch sets the colon form
    assert result["manifest"]["spec"]["newMacAddresses"] == {"prod": "02-00-00-aa-00-02"}
    mac_ops = [op for op in result["patches"] if op["path"].endswith("/macAddress")]
    assert mac_ops == [{"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces/0/macAddress",
                        "value": "02:00:00:aa:00:01"}]
    for text in result["manifest"]["spec"]["patches"]:
        assert clone.restore_webhook_causes(text) == [] and json.loads(text) in result["patches"]
    ifaces = result["expected"]["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    assert {i["name"]: i.get("macAddress") for i in ifaces} == {"default": "02:00:00:aa:00:01",
                                                                "prod": "02-00-00-aa-00-02"}
    assert "passtBinding" in ifaces[0] and "masquerade" not in ifaces[0]


def test_verbatim_mac_patches_follow_the_interface_index_of_the_base():
    base = clone.kubevirt_base(SOURCE, {"target": "web-1"})
    ops = clone.verbatim_mac_patches(base, {"prod": "02-00-00-AA-00-09"}, ["prod"])
    assert ops == [("new_mac_addresses.prod", {"op": "replace", "path":
                                               "/spec/template/spec/domain/devices/interfaces/1/macAddress",
                                               "value": "02:00:00:aa:00:09"})]


# ------------------------------------------------------------ refusals in plan
@pytest.mark.parametrize("mac", ["02-00-00-00-00-00", "02:00:00:00:00:00", "0200.0000.0000"])
def test_the_reserved_masquerade_mac_is_refused_in_any_form(mac):
    problems, result = plan(SOURCE, new_mac_addresses={"default": mac})
    assert result["expected"] is not None  # the patches applied; the admission rule refused the result
    assert any("reserved" in p["message"] and p["field"].endswith("macAddress") for p in problems.items), \
        problems.items


def test_a_serial_kubevirt_would_write_unescaped_is_refused_in_plan():
    source = copy.deepcopy(SOURCE)
    source["spec"]["template"]["spec"]["domain"]["firmware"] = {"serial": "old"}
    problems, result = plan(source, new_smbios_serial="rack:1,slot:2")
    assert [p["field"] for p in problems.items] == ["new_smbios_serial"] and result["expected"] is None
    problems, result = plan(source, new_smbios_serial="rack-1")
    assert problems.items == [] and result["manifest"]["spec"]["newSMBiosSerial"] == "rack-1"


# ------------------------------------------------------------ after the clone
def test_a_failed_after_clone_patch_deletes_the_half_made_target():
    source = copy.deepcopy(SOURCE)
    del source["metadata"]["labels"]  # labels on a label-less source: a merge patch after the clone
    target = VM.path("vms", "web-1")
    session = FakeSession({target: {"metadata": {"name": "web-1"}}},
                          failures={("PATCH", target): [ApiError("PATCH", target, 422, message="denied by webhook")]})
    c = cloner(session)
    problems = Problems()
    p = c.plan(problems, source, {"name": "web-1", "_raw": [], "labels": {"app": "web-1"}}, None, None)
    assert problems.items == [] and p["post"] == {"metadata": {"labels": {"app": "web-1"}}}
    p["api"], p["server_patches"] = VM_CLONE, True
    result = {"name": "web-1", "method": "create", "phases": [], "pending": ["post_clone_patch", "cleanup"]}
    c.after_clone(p, result)
    assert "patching the target afterwards failed" in result["error"] and "denied by webhook" in result["error"]
    assert result["partial_target_deleted"] is True
    assert session.writes() == [("PATCH", target), ("DELETE", target)]
    assert target not in session.objects
    assert result["pending"] == ["post_clone_patch", "cleanup"]


def test_a_target_an_earlier_run_made_is_not_deleted_by_a_later_failure():
    target = VM.path("vms", "web-1")
    session = FakeSession({target: {"metadata": {"name": "web-1"}}})
    result = {}
    cloner(session).cleanup_failed({"name": "web-1", "method": "complete"}, result)
    assert session.calls == [] and "partial_target_deleted" not in result
