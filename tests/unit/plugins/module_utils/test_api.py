"""ApiSession against a scripted DynamicClient double (no network)."""

import json

import pytest
from kubernetes.dynamic.exceptions import DynamicApiError
from urllib3.exceptions import ProtocolError

from ansible_collections.kubevirt_net.core.plugins.module_utils.api import (
    ApiError, ApiSession, UnsupportedByServer, parse_server_version)
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import RetryPolicy


class Response:
    def __init__(self, status, body):
        self.status = status
        self.data = json.dumps(body).encode()


class ApiFailure(DynamicApiError):
    def __init__(self, status, body, headers=None):  # pylint: disable=super-init-not-called
        self.status = status
        self.body = json.dumps(body)
        self.headers = headers or {}


class ScriptedClient:
    """Answers requests from a script of (status, body[, headers]) or exceptions."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def request(self, method, path, body=None, **params):
        self.calls.append((method, path, body, params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, payload = answer[0], answer[1]
        if status >= 400:
            raise ApiFailure(status, payload, answer[2] if len(answer) > 2 else None)
        return Response(status, payload)


class Module:
    def __init__(self, **params):
        self.params = params


def session(*answers, attempts=3):
    sleeps = []
    api = ApiSession(Module(), policy=RetryPolicy(attempts=attempts, rand=lambda: 0.0),
                     sleep=sleeps.append, dynamic_client=ScriptedClient(*answers))
    return api, sleeps


def status(code, reason, message="m"):
    return {"kind": "Status", "status": "Failure", "reason": reason, "message": message, "code": code}


def test_get_returns_decoded_json_and_counts_requests():
    api, _sleeps = session((200, {"metadata": {"name": "x"}}))
    assert api.request("GET", "/api/v1/namespaces/x") == {"metadata": {"name": "x"}}
    assert api.requests == [("GET", "/api/v1/namespaces/x", 200)]
    assert api.write_count == 0


def test_get_of_missing_object_is_none():
    api, _sleeps = session((404, status(404, "NotFound")))
    assert api.get("/api/v1/namespaces/nope") is None


def test_429_is_retried_after_retry_after_then_succeeds():
    api, sleeps = session((429, status(429, "TooManyRequests"), {"Retry-After": "2"}), (201, {"ok": 1}))
    assert api.request("POST", "/x", body={}) == {"ok": 1}
    assert sleeps == [2.0]
    assert api.retries == 1 and api.write_count == 2


def test_5xx_gives_up_after_the_attempts_with_the_server_message():
    api, sleeps = session(*[(503, status(503, "ServiceUnavailable", "etcd is down"))] * 3)
    with pytest.raises(ApiError) as err:
        api.request("GET", "/x")
    assert err.value.status == 503 and err.value.reason == "ServiceUnavailable"
    assert "etcd is down" in str(err.value)
    assert len(sleeps) == 2


def test_client_errors_are_not_retried():
    api, sleeps = session((422, {"kind": "Status", "reason": "Invalid", "message": "bad field",
                                 "details": {"causes": [{"field": "spec.x", "message": "bad"}]}}))
    with pytest.raises(ApiError) as err:
        api.request("POST", "/x", body={})
    assert err.value.causes == [{"field": "spec.x", "message": "bad"}]
    assert sleeps == []


def test_transport_error_retried_for_get_not_for_post():
    api, _sleeps = session(ProtocolError("reset"), (200, {"a": 1}))
    assert api.request("GET", "/x") == {"a": 1}
    api, _sleeps = session(ProtocolError("reset"), (201, {}))
    with pytest.raises(ApiError) as err:
        api.request("POST", "/x", body={})
    assert err.value.status is None and "connection failed" in str(err.value)


def test_list_follows_continue_tokens():
    api, _sleeps = session((200, {"metadata": {"continue": "t1"}, "items": [1, 2]}),
                           (200, {"metadata": {}, "items": [3]}))
    assert api.list("/apis/x/v1/things", label_selector="a=b", page_size=2) == [1, 2, 3]
    second_query = dict(api.dynamic.calls[1][3]["query_params"])
    assert second_query == {"labelSelector": "a=b", "limit": 2, "continue": "t1"}


@pytest.mark.parametrize("info,expected", [({"major": "1", "minor": "20"}, (1, 20)),
                                           ({"major": "1", "minor": "28+"}, (1, 28)),
                                           ({"major": "", "minor": "", "gitVersion": "v1.31.2-gke.1"}, (1, 31))])
def test_parse_server_version(info, expected):
    assert parse_server_version(info) == expected


def test_require_server_names_the_feature_and_versions():
    api, _sleeps = session((200, {"major": "1", "minor": "20"}))
    api.require_server((1, 20), "anything")
    with pytest.raises(UnsupportedByServer) as err:
        api.require_server((1, 25), "NetworkPolicy endPort")
    assert str(err.value) == "NetworkPolicy endPort needs Kubernetes 1.25 or newer; this API server is 1.20"
    assert len(api.dynamic.calls) == 1  # the version is read once


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_writes_ask_for_strict_field_validation(method):
    api, _sleeps = session((200, {}))
    api.request(method, "/apis/k8s.cni.cncf.io/v1/namespaces/a/network-attachment-definitions", body={})
    params = dict(api.dynamic.calls[0][3]["query_params"])
    assert params["fieldValidation"] == "Strict"


def test_reads_deletes_and_kubevirt_subresources_do_not_send_field_validation():
    api, _sleeps = session((200, {}), (200, {}), (202, {}))
    api.request("GET", "/api/v1/namespaces")
    api.request("DELETE", "/api/v1/namespaces/a/configmaps/b")
    api.request("PUT", "/apis/subresources.kubevirt.io/v1/namespaces/a/virtualmachines/b/restart", body={})
    assert all("fieldValidation" not in dict(call[3]["query_params"]) for call in api.dynamic.calls)


def test_an_explicit_field_validation_is_kept():
    api, _sleeps = session((200, {}))
    api.request("PATCH", "/x", body={}, query={"fieldValidation": "Warn"})
    assert dict(api.dynamic.calls[0][3]["query_params"])["fieldValidation"] == "Warn"


def test_requests_accept_json_then_anything():
    """virt-api's PUT subresources declare no representation: with only
    application/json accepted, the real virt-api answers 406."""
    api, _sleeps = session((202, {}))
    api.request("PUT", "/apis/subresources.kubevirt.io/v1/namespaces/a/virtualmachines/b/restart", body={})
    assert api.dynamic.calls[0][3]["header_params"]["Accept"] == "application/json, */*"
