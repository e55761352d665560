"""What a current (1.34) API server does that the lab's old 1.20 server could
not show: each behaviour here is the real server's, and modules rely on it."""

import json
import subprocess
import time

import pytest

from lab.cluster import LabError, binary


def test_namespace_has_its_metadata_name_label(lab, namespace):
    ns = lab.request("GET", "/api/v1/namespaces/" + namespace)
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == namespace
    assert lab.request("GET", "/api/v1/namespaces/kube-system")["metadata"]["labels"][
        "kubernetes.io/metadata.name"] == "kube-system"


def test_networkpolicy_keeps_end_port(lab, namespace):
    lab.request("POST", "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies" % namespace, {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "range"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                 "egress": [{"ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}]}]}})
    got = lab.request("GET", "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies/range" % namespace)
    assert got["spec"]["egress"][0]["ports"][0] == {"protocol": "TCP", "port": 8000, "endPort": 8100}


def test_strict_field_validation_refuses_an_unknown_field(lab, namespace):
    body = {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "typo"}, "spec": {"config": "{}", "confg": "{}"}}
    path = "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions" % namespace
    with pytest.raises(LabError) as err:
        lab.request("POST", path + "?fieldValidation=Strict", body)
    assert "-> 400" in str(err.value) and 'unknown field' in str(err.value) and "spec.confg" in str(err.value)
    # without it the server prunes the field silently (what the 1.20 lab always did)
    lab.request("POST", path, body)
    assert "confg" not in lab.request("GET", path + "/typo")["spec"]


def test_crd_cel_rule_rejects_a_violating_object(lab, namespace):
    name = "celchecks.lab.kubevirt-net.test"
    lab.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {"group": "lab.kubevirt-net.test", "scope": "Namespaced",
                 "names": {"kind": "CelCheck", "plural": "celchecks", "singular": "celcheck",
                           "listKind": "CelCheckList"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "properties": {"spec": {
                         "type": "object",
                         "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                         "x-kubernetes-validations": [{"rule": "self.min <= self.max",
                                                       "message": "min must not exceed max"}]}}}}}]}})
    try:
        lab._wait_crds_established([name])   # pylint: disable=protected-access
        path = "/apis/lab.kubevirt-net.test/v1/namespaces/%s/celchecks" % namespace
        with pytest.raises(LabError) as err:
            lab.request("POST", path, {"apiVersion": "lab.kubevirt-net.test/v1", "kind": "CelCheck",
                                       "metadata": {"name": "bad"}, "spec": {"min": 5, "max": 1}})
        assert "-> 422" in str(err.value) and "min must not exceed max" in str(err.value)
        lab.request("POST", path, {"apiVersion": "lab.kubevirt-net.test/v1", "kind": "CelCheck",
                                   "metadata": {"name": "good"}, "spec": {"min": 1, "max": 5}})
    finally:
        lab.request("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name)


def test_validating_admission_policy_is_enforced(lab, namespace):
    """ValidatingAdmissionPolicy (GA in 1.30) runs in the lab's admission chain."""
    suffix = namespace
    lab.request("POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "no-red-" + suffix},
        "spec": {"failurePolicy": "Fail",
                 "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                         "operations": ["CREATE"], "resources": ["configmaps"]}]},
                 "validations": [{"expression": "!has(object.data) || !('red' in object.data)",
                                  "message": "no red here"}]}})
    lab.request("POST", "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "no-red-" + suffix},
        "spec": {"policyName": "no-red-" + suffix, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {
                     "kubernetes.io/metadata.name": namespace}}}}})
    path = "/api/v1/namespaces/%s/configmaps" % namespace
    try:
        deadline = time.monotonic() + 30
        while True:   # the policy reaches the admission plugin's cache asynchronously
            try:
                lab.request("POST", path, {"apiVersion": "v1", "kind": "ConfigMap",
                                           "metadata": {"generateName": "red-"}, "data": {"red": "1"}})
            except LabError as err:
                assert "no red here" in str(err)
                break
            assert time.monotonic() < deadline, "the ValidatingAdmissionPolicy never took effect"
            time.sleep(0.5)
    finally:
        for kind in ("validatingadmissionpolicybindings", "validatingadmissionpolicies"):
            lab.request("DELETE", "/apis/admissionregistration.k8s.io/v1/%s/no-red-%s" % (kind, suffix))


def test_kubectl_version_prints_the_server_version(lab):
    out = subprocess.run([binary("kubectl"), "--kubeconfig", lab.kubeconfig, "version", "-o", "json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    data = json.loads(out)
    assert data["serverVersion"]["gitVersion"].startswith("v1.34.")
    assert data["clientVersion"]["gitVersion"] == data["serverVersion"]["gitVersion"]


def test_nodes_are_ready_and_untainted(lab):
    """The node lifecycle controller saw the lab kubelet's heartbeat: Ready, and
    the not-ready taint that admission put on each new Node is gone."""
    deadline = time.monotonic() + 60
    while True:
        nodes = lab.request("GET", "/api/v1/nodes")["items"]
        taints = [t for n in nodes for t in (n.get("spec") or {}).get("taints") or []]
        leases = lab.request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")["items"]
        if nodes and not taints and {le["metadata"]["name"] for le in leases} >= {
                n["metadata"]["name"] for n in nodes}:
            break
        assert time.monotonic() < deadline, "nodes still tainted: %s" % taints
        time.sleep(1)
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"


def test_the_collections_api_session_writes_with_strict_field_validation(lab, namespace, request_log):
    """plugins/module_utils/api.py asks for fieldValidation=Strict on every
    write, so a field the schema does not know fails instead of vanishing."""
    from kubernetes import config as k8s_config
    from kubernetes.dynamic import DynamicClient

    from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession

    class Module:  # what ApiSession reads of an AnsibleModule
        params = {"api_retries": 0}

    session = ApiSession(Module(), dynamic_client=DynamicClient(
        k8s_config.new_client_from_config(config_file=lab.kubeconfig, context="lab")))
    path = "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions" % namespace
    with pytest.raises(ApiError) as err:
        session.request("POST", path, {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                                       "metadata": {"name": "typo"}, "spec": {"config": "{}", "confg": "{}"}})
    assert err.value.status == 400 and "spec.confg" in str(err.value.body)
    [entry] = [e for e in request_log.entries() if e["method"] == "POST"]
    assert "fieldValidation=Strict" in entry["query"]
