import json

import jsonpatch
import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import clone
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

SOURCE = {
    "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
    "metadata": {"name": "golden", "namespace": "vms", "resourceVersion": "9", "uid": "u1",
                 "labels": {"app": "golden", "team": "a"}, "annotations": {"note": "x"}},
    "spec": {"running": False, "template": {
        "metadata": {"labels": {"app": "golden"}, "annotations": {"k8s.v1.cni.cncf.io/ip": "1.2.3.4"}},
        "spec": {"domain": {"devices": {"interfaces": [
            {"name": "default", "masquerade": {}, "macAddress": "02:00:00:00:00:01"},
            {"name": "prod", "bridge": {}, "macAddress": "02:00:00:00:00:02"},
            {"name": "old", "bridge": {}}]}},
            "networks": [{"name": "default", "pod": {}}, {"name": "prod", "multus": {"networkName": "prod-a"}},
                         {"name": "old", "multus": {"networkName": "old-net"}}]}}},
    "status": {"printableStatus": "Stopped"},
}


def opts(**more):
    base = {"source": "golden", "source_kind": "VirtualMachine", "target": "web-1"}
    base.update(more)
    return base


@pytest.mark.parametrize("filters,expected", [
    (None, {"app": "golden", "team": "a"}),
    (["app"], {"app": "golden"}),
    (["*"], {"app": "golden", "team": "a"}),
    (["!team"], {"app": "golden"}),
    (["t*", "!team"], {}),
])
def test_filters_follow_kubevirt(filters, expected):
    assert clone.apply_filters(SOURCE["metadata"]["labels"], filters) == expected


@pytest.mark.parametrize("bad", ["a*b", "!", "a!b", "!!x"])
def test_bad_filter_syntax(bad):
    problems = Problems()
    clone.check_filters(problems, "target t", "label_filters", [bad])
    assert problems.items[0]["field"] == "label_filters[0]"


def test_base_blanks_macs_not_listed_and_drops_server_fields():
    base = clone.kubevirt_base(SOURCE, opts(new_mac_addresses={"prod": "02:00:00:00:00:99"},
                                            template_annotation_filters=["!k8s.v1.cni.cncf.io/*"]))
    ifaces = base["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    assert [i.get("macAddress") for i in ifaces] == [None, "02:00:00:00:00:99", None]
    assert base["metadata"]["name"] == "web-1" and "uid" not in base["metadata"] and "status" not in base
    assert base["spec"]["template"]["metadata"]["annotations"] == {}


def test_network_overrides_become_patches_that_apply():
    problems = Problems()
    o = opts(networks=[{"interface": "prod", "network": "prod-b", "binding": "sriov", "model": "e1000e"},
                       {"interface": "old", "state": "absent"},
                       {"interface": "extra", "network": "other/br"}],
             labels={"app": "web-1"}, run_strategy="Always", hostname="web-1")
    base = clone.kubevirt_base(SOURCE, o)
    ops = clone.override_patches(problems, "target web-1", base, o, "vms")
    assert problems.items == []
    result = jsonpatch.apply_patch(base, ops)
    spec = result["spec"]["template"]["spec"]
    assert spec["domain"]["devices"]["interfaces"] == [
        {"name": "default", "masquerade": {}}, {"name": "prod", "sriov": {}, "model": "e1000e"},
        {"name": "extra", "bridge": {}}]
    assert spec["networks"] == [{"name": "default", "pod": {}}, {"name": "prod", "multus": {"networkName": "prod-b"}},
                                {"name": "extra", "multus": {"networkName": "other/br"}}]
    assert result["metadata"]["labels"]["app"] == "web-1" and result["spec"]["runStrategy"] == "Always"
    assert "running" not in result["spec"] and spec["hostname"] == "web-1"


def test_pod_network_cannot_move_to_multus_and_unknown_drop_is_reported():
    problems = Problems()
    o = opts(networks=[{"interface": "default", "network": "x"}, {"interface": "ghost", "state": "absent"}])
    clone.override_patches(problems, "target web-1", clone.kubevirt_base(SOURCE, o), o, "vms")
    assert [p["field"] for p in problems.items] == ["networks[0]", "networks[1]"]


def test_bad_raw_patch_path_is_reported_before_submitting():
    problems = Problems()
    base = clone.kubevirt_base(SOURCE, opts())
    ops = [{"op": "replace", "path": "/spec/template/spec/nope/x", "value": 1}]
    assert clone.try_patches(problems, "target web-1", base, ops, 1) is None
    assert problems.items[0]["field"] == "patches[0]" and "does not apply" in problems.items[0]["message"]


def test_digest_changes_with_overrides_only():
    a = clone.digest_of(opts(labels={"a": "1"}), "golden")
    assert a == clone.digest_of(opts(labels={"a": "1"}, target="other"), "golden")
    assert a != clone.digest_of(opts(labels={"a": "2"}), "golden")


def test_manifest_v1beta1_with_patches_and_filters():
    ops = [{"op": "add", "path": "/metadata/labels/x", "value": "y"}]
    m = clone.clone_manifest(opts(label_filters=["app"], template_label_filters=["*"],
                                  new_mac_addresses={"prod": "02:00:00:00:00:09"}, new_smbios_serial="S1",
                                  volume_name_policy="PrefixTargetName"), "vms", ops, "v1beta1", True, True)
    assert m["apiVersion"] == "clone.kubevirt.io/v1beta1"
    spec = m["spec"]
    assert spec["source"] == {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "golden"}
    assert spec["target"] == {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "web-1"}
    assert spec["labelFilters"] == ["app"] and spec["template"] == {"labelFilters": ["*"]}
    assert spec["newMacAddresses"] == {"prod": "02:00:00:00:00:09"} and spec["newSMBiosSerial"] == "S1"
    assert spec["volumeNamePolicy"] == "PrefixTargetName"
    assert [json.loads(p) for p in spec["patches"]] == ops
    old = clone.clone_manifest(opts(volume_name_policy="PrefixTargetName"), "vms", ops, "v1alpha1", False, False)
    assert "patches" not in old["spec"] and "volumeNamePolicy" not in old["spec"]
