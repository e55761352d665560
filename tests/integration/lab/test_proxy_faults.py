"""Every fault kind of the lab proxy reaches a real client through a real
kube-apiserver, and the request log sees every request."""

import json
import ssl
import urllib.error
import urllib.request
import http.client

import pytest

from tests.integration.helpers import wait_equal


def call(lab, method, path, body=None, token="admin"):
    """One request through the proxy; (status, headers, decoded body)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(lab.url + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + lab.token(token))
    if data is not None:
        req.add_header("Content-Type", "application/merge-patch+json" if method == "PATCH" else "application/json")
    ctx = ssl.create_default_context(cafile=lab.state["pki"]["ca.crt"])
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


def cm_path(ns, name=""):
    return "/api/v1/namespaces/%s/configmaps%s" % (ns, "/" + name if name else "")


def cm(name):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}}


@pytest.mark.parametrize("code,reason", [(500, "InternalError"), (503, "ServiceUnavailable"),
                                         (429, "TooManyRequests")])
def test_status_faults_are_real_status_bodies(lab, request_log, namespace, code, reason):
    rule = {"method": "POST", "path": "/configmaps$", "action": "status", "code": code, "count": 1}
    if code == 429:
        rule["retry_after"] = 2
    lab.add_fault(**rule)
    status, headers, body = call(lab, "POST", cm_path(namespace), cm("f1"))
    assert status == code
    assert body["kind"] == "Status" and body["reason"] == reason and body["code"] == code
    if code == 429:
        assert headers.get("Retry-After") == "2"
        assert body["details"]["retryAfterSeconds"] == 2
    # the faulted request was not forwarded; the next one (count exhausted) is
    assert call(lab, "GET", cm_path(namespace, "f1"))[0] == 404
    assert call(lab, "POST", cm_path(namespace), cm("f1"))[0] == 201
    logged = [(e["method"], e["status"]) for e in request_log.entries() if "/configmaps" in e["path"]]
    assert logged == [("POST", code), ("GET", 404), ("POST", 201)]


def test_forced_conflict_on_a_write(lab, request_log, namespace):
    assert call(lab, "POST", cm_path(namespace), cm("c1"))[0] == 201
    lab.add_fault(method="PATCH", path="/configmaps/c1$", action="conflict")
    status, _headers, body = call(lab, "PATCH", cm_path(namespace, "c1"), {"data": {"a": "c"}})
    assert status == 409 and body["reason"] == "Conflict"
    assert body["details"]["name"] == "c1" and body["details"]["kind"] == "configmaps"
    assert "the object has been modified" in body["message"]
    assert call(lab, "GET", cm_path(namespace, "c1"))[2]["data"] == {"a": "b"}


def test_latency_still_answers(lab, request_log, namespace):
    lab.add_fault(method="GET", path="/configmaps$", action="latency", seconds=0.2)
    assert call(lab, "GET", cm_path(namespace))[0] == 200
    assert [r for r in lab.request("GET", "/_lab/faults", direct=False)["rules"] if r["count"] > 0] == []


def test_drop_gives_a_connection_error_and_no_write(lab, namespace):
    lab.add_fault(method="POST", path="/configmaps$", action="drop")
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        call(lab, "POST", cm_path(namespace), cm("d1"))
    assert call(lab, "GET", cm_path(namespace, "d1"))[0] == 404


def test_drop_after_write_lands_but_client_sees_an_error(lab, namespace):
    lab.add_fault(method="POST", path="/configmaps$", action="drop_after")
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        call(lab, "POST", cm_path(namespace), cm("d2"))
    assert call(lab, "GET", cm_path(namespace, "d2"))[0] == 200


def test_readonly_token_gets_403_on_write(lab, namespace):
    status, _headers, body = call(lab, "POST", cm_path(namespace), cm("ro"), token="viewer")
    assert status == 403 and body["reason"] == "Forbidden"
    assert call(lab, "GET", cm_path(namespace), token="viewer")[0] == 200


def test_kubernetes_client_sees_injected_faults(lab, namespace):
    """The official client surfaces the injected Status as an ApiException."""
    from kubernetes import client, config
    api = client.CoreV1Api(config.new_client_from_config(config_file=lab.kubeconfig))
    lab.add_fault(method="GET", path="/configmaps$", action="status", code=503)
    with pytest.raises(client.exceptions.ApiException) as err:
        api.list_namespaced_config_map(namespace)
    assert err.value.status == 503
    # the fault is gone after one hit: the next list is the real one (it must not raise)
    first = [c.metadata.name for c in api.list_namespaced_config_map(namespace).items]
    # kube-controller-manager's root-ca-cert-publisher puts kube-root-ca.crt in every namespace, from
    # its own watch of namespaces (pkg/controller/certificates/rootcacertpublisher): the fixture's
    # fresh namespace can be listed before it does
    if first != ["kube-root-ca.crt"]:
        wait_equal(lambda: [c.metadata.name for c in api.list_namespaced_config_map(namespace).items],
                   ["kube-root-ca.crt"], timeout=60,
                   message="the ConfigMaps of %s (first list: %r)" % (namespace, first))
