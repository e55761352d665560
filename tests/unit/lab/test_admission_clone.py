"""VirtualMachineClone admission (KubeVirt v1.9 vmclone-admitter.go and
clone-create-mutator.go) as the lab's webhook answers it."""

import json
import re

import pytest

from tests.lab.kubevirt import admission as adm


def cluster(version="v1.9.0", gates=(), disabled=()):
    return adm.ClusterInfo({"spec": {"configuration": {"developerConfiguration": {
        "featureGates": list(gates), "disabledFeatureGates": list(disabled)}}},
        "status": {"observedKubeVirtVersion": version}})


def clone(**spec):
    body = {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "src"},
            "target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "dst"}}
    body.update(spec)
    return {"apiVersion": "clone.kubevirt.io/v1beta1", "kind": "VirtualMachineClone",
            "metadata": {"name": "c"}, "spec": body}


def causes(response):
    assert not response["allowed"] and response["status"]["code"] == 422, response
    return [(c["field"], c["message"]) for c in response["status"]["details"]["causes"]]


def test_good_clone_is_accepted():
    body = clone(labelFilters=["*", "!debug/*"], annotationFilters=["app*"], template={"labelFilters": ["!x"]},
                 newMacAddresses={"default": "02-00-00-00-00-01", "net1": ""},
                 patches=['{"op":"add","path":"/spec/template/metadata/labels/a","value":"b"}'])
    assert adm.admit_clone("CREATE", body, cluster()) == {"allowed": True}


@pytest.mark.parametrize("info", [cluster(disabled=["Snapshot"]), cluster(version="v1.8.0")])
def test_snapshot_gate_is_needed_to_create(info):
    assert adm.admit_clone("CREATE", clone(), info) == {
        "allowed": False, "status": {"message": "snapshot feature gate is not enabled", "code": 400}}
    assert adm.admit_clone("UPDATE", clone(), info)["allowed"]


def test_snapshot_gate_listed_before_v1_9():
    assert adm.admit_clone("CREATE", clone(), cluster(version="v1.8.0", gates=["Snapshot"]))["allowed"]


@pytest.mark.parametrize("field,spec_key", [
    ("spec.labels", "labelFilters"),
    ("spec.annotations", "annotationFilters"),
    ("spec.template.labels", "template.labelFilters"),
    ("spec.template.annotations", "template.annotationFilters"),
])
def test_filter_syntax(field, spec_key):
    bad = ["!", "a!b", "*a", "!a*b"]
    if spec_key.startswith("template."):
        body = clone(template={spec_key.split(".", 1)[1]: bad})
    else:
        body = clone(**{spec_key: bad})
    pattern = "%s filter %%s is invalid: cannot contain a %%s character (%%s); FilterRules: %%s" % field
    assert causes(adm.admit_clone("CREATE", body, cluster())) == [
        (field, "a negation character is not a valid filter"),
        (field, pattern % ("a!b", "negation", "!", "NegationChar can be only used at the beginning of the filter")),
        (field, pattern % ("*a", "wildcard", "*", "WildcardChar can be only at the end of the filter")),
        (field, pattern % ("!a*b", "wildcard", "*", "WildcardChar can be only at the end of the filter")),
    ]


def test_kinds():
    body = clone(source={"apiGroup": "kubevirt.io", "kind": "VirtualMachineInstance", "name": "src"},
                 target={"apiGroup": "kubevirt.io", "kind": "VirtualMachineSnapshot", "name": "dst"})
    assert causes(adm.admit_clone("CREATE", body, cluster())) == [
        ("spec.Source.Kind", "Source kind is not supported"), ("spec.Target.Kind", "Target kind is not supported")]
    snapshot = clone(source={"apiGroup": "snapshot.kubevirt.io", "kind": "VirtualMachineSnapshot", "name": "s"})
    assert adm.admit_clone("CREATE", snapshot, cluster())["allowed"]


def test_source_fields():
    body = clone(source={"kind": "VirtualMachine", "name": ""})
    assert causes(adm.admit_clone("CREATE", body, cluster())) == [
        ("spec.Source.APIGroup", "Source's APIGroup cannot be empty"),
        ("spec.Source.Name", "Source's name cannot be empty")]


def test_target_name_differs_from_source():
    body = clone(target={"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "src"})
    assert causes(adm.admit_clone("CREATE", body, cluster())) == [
        ("spec.target.name", "Target name cannot be equal to source name when both are VirtualMachines")]


def test_new_mac_addresses():
    body = clone(newMacAddresses={"net1": "02:00:00:00:00"})
    assert causes(adm.admit_clone("CREATE", body, cluster())) == [
        ("spec.newMacAddresses.net1", "interface net1 has malformed MAC address (02:00:00:00:00).")]


def test_patches_must_be_json():
    body = clone(patches=['{"op":"add","path":"/spec/x","value":1}', "{op: add}", '"just a string"'])
    assert causes(adm.admit_clone("CREATE", body, cluster())) == [
        ("spec.patches[1]", "patch is not valid JSON ({op: add})")]


# ------------------------------------------------------------ the mutator
def test_mutator_names_a_missing_target():
    body = clone()
    del body["spec"]["target"]
    ops = adm.mutate_clone(body)
    assert [op["path"] for op in ops] == ["/spec"]
    target = ops[0]["value"]["target"]
    assert target["apiGroup"] == "kubevirt.io" and target["kind"] == "VirtualMachine"
    assert re.fullmatch(r"clone-src-[bcdfghjklmnpqrstvwxz2456789]{5}", target["name"])
    assert ops[0]["value"]["source"] == body["spec"]["source"]


def test_mutator_names_an_unnamed_target_and_keeps_a_named_one():
    body = clone(target={"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": ""})
    assert adm.mutate_clone(body, suffix="abcde")[0]["value"]["target"]["name"] == "clone-src-abcde"
    assert adm.mutate_clone(clone()) == []
    json.dumps(adm.mutate_clone(body))  # the webhook sends it as JSON
