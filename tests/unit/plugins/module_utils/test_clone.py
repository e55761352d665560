"""plugins/module_utils/clone.py: the rules KubeVirt v1.9.0 applies to a clone
(restore webhook, filters, MACs, json-patch v4, the VM the restore builds)."""

import json

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import clone, clone_own_patches
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


# ------------------------------------------------------------ restore webhook port (item 1)
@pytest.mark.parametrize("patch,ok", [
    ('{"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces/0/macAddress", '
     '"value": "DE-AD-00-00-BE-AF"}', True),                                       # tests/storage/restore.go
    ('{"op":"replace","path":"/spec/template/spec/domain/devices/interfaces/0/macAddress",'
     '"value":"02:00:00:00:00:01"}', False),                                       # colon MAC
    ('{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", '
     '"value": {"name": "x", "bridge": {}}}', False),                               # object value
    ('{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", "value": {}}', True),
    ('{"op": "add", "path": "/metadata/labels/app", "value": "x"}', True),
    ('{"op": "add", "path": "/metadata/labels", "value": {}}', False),             # the map itself
    ('{"op": "replace", "path": "/metadata/name", "value": "x"}', False),
    ('{"op": "remove", "path": "/metadata/annotations/a~1b", "value": null}', True),
])
def test_restore_webhook_port(patch, ok):
    assert (clone.restore_webhook_causes(patch) == []) is ok


def test_encoded_patches_pass_the_webhook_and_decode_to_the_same_operation():
    op = {"op": "add", "path": "/spec/template/metadata/annotations/a", "value": "http://x:1/a,b"}
    text = clone.encode_patch(op)
    assert clone.restore_webhook_causes(text) == [] and json.loads(text) == op
    with pytest.raises(ValueError):
        clone.encode_patch({"op": "add", "path": "/spec/x", "value": {"a": 1}})


# ------------------------------------------------------------ MACs (items 1, 4)
@pytest.mark.parametrize("text,expected", [
    ("02:00:00:AA:00:01", "02-00-00-aa-00-01"),
    ("02-00-00-aa-00-01", "02-00-00-aa-00-01"),
    ("0200.00aa.0001", "02-00-00-aa-00-01"),     # net.ParseMAC's dotted form
    ("02:00:00-aa:00:01", None),                 # mixed separators: net.ParseMAC refuses
    ("02:00:00:aa:00:01:02:03", None),           # 8 bytes: ValidateMacAddress refuses
    ("020000aa0001", "02-00-00-aa-00-01"),       # bare hex: Go 1.26 (KubeVirt v1.9.0's go.mod)
    ("02:00:00:aa:00", None), ("zz:00:00:aa:00:01", None),
])
def test_mac_parsing_follows_go(text, expected):
    parsed = clone.parse_mac(text)
    assert (clone.restore_mac(text) if parsed else None) == expected


# ------------------------------------------------------------ filters (item 2)
LABELS = {"app": "1", "myapp": "2", "app.kubernetes.io/name": "3", "team": "4"}


@pytest.mark.parametrize("filters,kept", [
    (None, ["app", "app.kubernetes.io/name", "myapp", "team"]),
    ([], []),                                              # [] removes every key
    (["app"], ["app", "app.kubernetes.io/name", "myapp"]),  # unanchored
    (["^app$"], ["app"]),
    (["!team"], []),                                       # negations alone keep nothing
    (["*", "!team"], ["app", "app.kubernetes.io/name", "myapp"]),
    (["*", "!app.kubernetes.io/*"], ["app", "myapp", "team"]),
    (["[bad"], []),                                        # an invalid regexp matches nothing
])
def test_filters_are_unanchored_regexps(filters, kept):
    assert clone.kept_keys(LABELS, filters) == kept
    assert sorted(clone.apply_filters(LABELS, filters)) == kept


@pytest.mark.parametrize("bad", ["a*b", "!", "a!b", "!!x", "", "[bad", "(?=x)", "[[:alpha:]]"])
def test_bad_filters_are_refused(bad):
    problems = Problems()
    clone.check_filters(problems, "target t", "label_filters", [bad])
    assert problems.items[0]["field"] == "label_filters[0]"


def test_negated_star_is_refused_as_kubevirt_ignores_it():
    # what KubeVirt does with it: the negation's "*" is no regexp, so ["*", "!*"] keeps everything
    assert clone.kept_keys(LABELS, ["*", "!*"]) == sorted(LABELS)
    problems = Problems()
    clone.check_filters(problems, "clone", "annotation_filters", ["*", "!*"])
    assert [p["field"] for p in problems.items] == ["annotation_filters[1]"]
    assert "removes nothing" in problems.items[0]["message"] and "annotation_filters: []" in problems.items[0]["message"]


def test_a_filter_matching_every_key_warns():
    problems = Problems()
    warnings = clone.check_filters(problems, "clone", "label_filters", ["*", "!x*", "app"])
    assert problems.items == [] and len(warnings) == 1 and "label_filters[1]" in warnings[0]


# ------------------------------------------------------------ json-patch v4 (restore.go patchVM)
def test_json_patch_v4_semantics():
    doc = {"a": {"b": 1}, "l": [1, 2]}
    assert clone.apply_op(doc, {"op": "replace", "path": "/a/c", "value": 2})["a"] == {"b": 1, "c": 2}
    assert clone.apply_op(doc, {"op": "add", "path": "/l/2", "value": 3})["l"] == [1, 2, 3]
    # partialArray.add: a negative index counts from the end of the grown array
    assert clone.apply_op(doc, {"op": "add", "path": "/l/-2", "value": 9})["l"] == [1, 9, 2]
    for bad in ({"op": "add", "path": "/x/y", "value": 1}, {"op": "remove", "path": "/a/zz"},
                {"op": "add", "path": "/l/4", "value": 1}, {"op": "replace", "path": "/l/2", "value": 1}):
        with pytest.raises(clone.PatchFailed):
            clone.apply_op(doc, bad)


def test_flatten_has_the_same_effect_with_flat_values_only():
    doc = {"spec": {"l": [{"n": 1}]}}
    op = {"op": "add", "path": "/spec/l/-", "value": {"name": "x", "bridge": {}, "ports": [{"port": 80}]}}
    flat = clone.flatten(op, doc)
    result = doc
    for piece in flat:
        assert clone.restore_webhook_causes(clone.encode_patch(piece)) == []
        result = clone.apply_op(result, piece)
    assert result == clone.apply_op(doc, op)


# ------------------------------------------------------------ the restored VM (item 3)
def test_restored_vm_is_built_like_restore_go():
    src = dict(SOURCE, metadata={"name": "golden", "namespace": "vms", "labels": {}})
    src["spec"] = dict(SOURCE["spec"], running=None, runStrategy="Always")
    del src["spec"]["running"]
    vm = clone.restored_vm(src, "web-1", "vms")
    assert "labels" not in vm["metadata"]                              # empty map left out
    assert list(vm["metadata"]["annotations"]) == [clone.LAST_RESTORE]  # always a map
    assert vm["spec"]["runStrategy"] == "Halted"
    assert clone.restored_vm(SOURCE, "web-1", "vms")["spec"]["running"] is False


def test_firmware_uuid_blanked_and_serial_replaced():
    src = json.loads(json.dumps(SOURCE))
    src["spec"]["template"]["spec"]["domain"]["firmware"] = {"uuid": "u", "serial": "s"}
    base = clone.kubevirt_base(src, opts(new_smbios_serial="NEW"))
    assert clone.go_round_trip(base)["spec"]["template"]["spec"]["domain"]["firmware"] == {"serial": "NEW"}
    base = clone.kubevirt_base(src, opts())
    assert clone.go_round_trip(base)["spec"]["template"]["spec"]["domain"]["firmware"] == {}


def test_base_blanks_macs_not_listed_and_drops_server_fields():
    base = clone.kubevirt_base(SOURCE, opts(new_mac_addresses={"prod": "02:00:00:00:00:99"},
                                            template_annotation_filters=["*", "!k8s.v1.cni.cncf.io/*"]))
    vm = clone.go_round_trip(base)
    ifaces = vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    assert [i.get("macAddress") for i in ifaces] == [None, "02-00-00-00-00-99", None]
    assert vm["metadata"]["name"] == "web-1" and "uid" not in vm["metadata"] and "status" not in vm
    assert "annotations" not in vm["spec"]["template"]["metadata"]


# ------------------------------------------------------------ overrides
def _express(o, raw=()):
    problems = Problems()
    base = clone.kubevirt_base(SOURCE, o)
    typed, post = clone.override_patches(problems, "target web-1", base, o)
    doc, flat = clone.express(problems, "target web-1", base,
                              typed + [("patches[%d]" % i, p) for i, p in enumerate(raw)])
    return problems, doc, flat, post


def test_network_overrides_become_patches_that_pass_and_apply():
    o = opts(networks=[{"interface": "prod", "network": "prod-b", "binding": "sriov", "model": "e1000e"},
                       {"interface": "old", "state": "absent"},
                       {"interface": "extra", "network": "other/br"}],
             new_mac_addresses={"extra": "02:00:00:00:00:42"},
             labels={"app": "web-1"}, run_strategy="Always", hostname="web-1")
    problems, result, flat, post = _express(o)
    assert problems.items == [] and post == {}
    assert all(clone.restore_webhook_causes(clone.encode_patch(op)) == [] for op in flat)
    spec = result["spec"]["template"]["spec"]
    assert spec["domain"]["devices"]["interfaces"] == [
        {"name": "default", "masquerade": {}, "macAddress": ""}, {"name": "prod", "sriov": {}, "model": "e1000e",
                                                                  "macAddress": ""},
        {"name": "extra", "bridge": {}, "macAddress": "02-00-00-00-00-42"}]
    assert spec["networks"] == [{"name": "default", "pod": {}}, {"name": "prod", "multus": {"networkName": "prod-b"}},
                                {"name": "extra", "multus": {"networkName": "other/br"}}]
    assert result["metadata"]["labels"]["app"] == "web-1" and result["spec"]["runStrategy"] == "Always"
    assert "running" not in result["spec"] and spec["hostname"] == "web-1"


def test_labels_on_a_source_without_labels_go_after_the_clone():
    global SOURCE  # pylint: disable=global-statement
    saved = SOURCE
    SOURCE = dict(saved, metadata={"name": "golden", "namespace": "vms"})
    try:
        problems, doc, _flat, post = _express(opts(labels={"app": "web-1"}, template_labels={"t": "1"}))
        assert problems.items == [] and post == {"metadata": {"labels": {"app": "web-1"}}}
        assert "labels" not in doc["metadata"] and doc["spec"]["template"]["metadata"]["labels"]["t"] == "1"
        problems, doc, _flat, _post = _express(opts(), raw=[{"op": "add", "path": "/metadata/labels/a",
                                                             "value": "b"}])
        assert doc is None and "use the 'labels' option" in problems.items[0]["message"]
    finally:
        SOURCE = saved


def test_pod_network_cannot_move_to_multus_and_unknown_drop_is_reported():
    problems = Problems()
    o = opts(networks=[{"interface": "default", "network": "x"}, {"interface": "ghost", "state": "absent"}])
    clone.override_patches(problems, "target web-1", clone.kubevirt_base(SOURCE, o), o)
    assert [p["field"] for p in problems.items] == ["networks[0]", "networks[1]"]


@pytest.mark.parametrize("raw,words", [
    ({"op": "replace", "path": "/spec/template/spec/nope/x", "value": 1}, "does not apply"),
    ({"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}, "restore webhook"),
    ({"op": "replace", "path": "/metadata/name", "value": "x"}, "restore webhook"),
    ({"op": "test", "path": "/spec/template/spec/networks/0", "value": {"name": "default", "pod": {}}},
     "scalar members"),
])
def test_raw_patches_kubevirt_refuses_are_reported(raw, words):
    problems, doc, _flat, _post = _express(opts(), raw=[raw])
    assert doc is None and problems.items[0]["field"] == "patches[0]" and words in problems.items[0]["message"]


def test_raw_patches_are_made_to_pass():
    raw = [{"op": "replace", "path": "/spec/template/spec/hostname", "value": "h"},  # v4: replace sets
           {"op": "add", "path": "/spec/template/metadata/annotations/x", "value": "a:b,c"}]
    problems, doc, flat, _post = _express(opts(), raw=raw)
    assert problems.items == [] and doc["spec"]["template"]["spec"]["hostname"] == "h"
    assert doc["spec"]["template"]["metadata"]["annotations"]["x"] == "a:b,c"
    assert all(clone.restore_webhook_causes(clone.encode_patch(op)) == [] for op in flat)


def test_digest_changes_with_overrides_only():
    a = clone.digest_of(opts(labels={"a": "1"}), "golden")
    assert a == clone.digest_of(opts(labels={"a": "1"}, target="other"), "golden")
    assert a != clone.digest_of(opts(labels={"a": "2"}), "golden")


def test_manifest_v1beta1_with_patches_filters_and_dash_macs():
    ops = [{"op": "add", "path": "/metadata/labels/x", "value": "y"}]
    m = clone.clone_manifest(opts(label_filters=["app"], template_label_filters=["*"],
                                  new_mac_addresses={"prod": "02:00:00:00:00:09"}, new_smbios_serial="S1",
                                  volume_name_policy="PrefixTargetName"), "vms", ops, "v1beta1", True, True)
    assert m["apiVersion"] == "clone.kubevirt.io/v1beta1"
    spec = m["spec"]
    assert spec["source"] == {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "golden"}
    assert spec["target"] == {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "web-1"}
    assert spec["labelFilters"] == ["app"] and spec["template"] == {"labelFilters": ["*"]}
    assert spec["newMacAddresses"] == {"prod": "02-00-00-00-00-09"} and spec["newSMBiosSerial"] == "S1"
    assert spec["volumeNamePolicy"] == "PrefixTargetName"
    assert [json.loads(p) for p in spec["patches"]] == ops
    old = clone.clone_manifest(opts(volume_name_policy="PrefixTargetName"), "vms", ops, "v1alpha1", False, False)
    assert "patches" not in old["spec"] and "volumeNamePolicy" not in old["spec"]


@pytest.mark.parametrize("options, field, words", [
    ({"labels": {"bad key": "x"}}, "labels.bad key", "at most 63"),
    ({"labels": {"tier": "not valid!"}}, "labels.tier", "label value"),
    ({"labels": {"size": 8}}, "labels.size", "quote"),
    ({"template_labels": {"Example.COM/tier": "x"}}, "template_labels.Example.COM/tier", "prefix"),
    ({"hostname": "Web_1"}, "hostname", "DNS-1123 label"),
    ({"subdomain": "db.a"}, "subdomain", "DNS-1123 label"),
])
def test_target_options_are_checked_before_the_clone(options, field, words):
    problems = Problems()
    clone.check_target_options(problems, "target t1", options)
    assert [p["field"] for p in problems.items] == [field]
    assert words in problems.items[0]["message"]


def test_valid_target_options_pass():
    problems = Problems()
    clone.check_target_options(problems, "target t1", {"labels": {"example.com/tier": "db", "empty": ""},
                                                       "template_labels": {"app": "web"}, "hostname": "web-1",
                                                       "subdomain": "db"})
    assert not problems


def test_a_patch_outside_what_restore_takes_says_what_it_takes():
    base = {"metadata": {"labels": {"a": "b"}}, "spec": {}}
    assert "/spec/..., /metadata/labels/<key>" in clone._missing_hint("/status/ready", base)
    assert "missing parent" in clone._missing_hint("/spec/template/x/y", base)
    assert clone._missing_hint("/metadata/annotations/x", base) == ""


# ------------------------------------------------------------ KubeVirt's own patches (vm-target.go, issue 18)
@pytest.mark.parametrize("serial,refused", [("SER-1", False), ("a:b", True), ("a,b", True), ("", False)])
def test_kubevirt_own_serial_patch_is_checked_against_the_restore_webhook(serial, refused):
    src = json.loads(json.dumps(SOURCE))
    src["spec"]["template"]["spec"]["domain"]["firmware"] = {"serial": "old"}
    problems = Problems()
    clone_own_patches.check(problems, "target web-1", src,
                            opts(new_smbios_serial=serial, new_mac_addresses={"prod": "02-00-00-00-00-09"}))
    assert [p["field"] for p in problems.items] == (["new_smbios_serial"] if refused else [])
    if refused:
        assert "without ':' and ','" in problems.items[0]["message"]
        assert "RestoreInProgress" in problems.items[0]["message"]


def test_kubevirt_patches_are_written_as_go_marshals_them():
    op = {"op": "replace", "path": "/spec/template/spec/domain/firmware/serial", "value": "a:b"}
    assert clone_own_patches.go_marshal(op) == '{"op":"replace","path":"/spec/template/spec/domain/firmware/serial","value":"a:b"}'
    # a colon MAC would be refused (validatePatches splits on ':'); the module sends the dash form
    mac = {"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces/1/macAddress",
           "value": "02:00:00:00:00:09"}
    assert clone.restore_webhook_causes(clone_own_patches.go_marshal(mac)) != []
    problems = Problems()
    clone_own_patches.check(problems, "t", SOURCE, opts(new_mac_addresses={"prod": "02:00:00:00:00:09"}))
    assert problems.items == []


def test_a_serial_is_not_patched_when_the_source_has_no_firmware():
    problems = Problems()
    clone_own_patches.check(problems, "t", SOURCE, opts(new_smbios_serial="a:b"))
    assert problems.items == []
