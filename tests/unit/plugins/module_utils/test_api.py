"""ApiSession against a scripted DynamicClient double (no network)."""

import json
import socket
import ssl
import threading

import pytest
from kubernetes import client as k8s_client
from kubernetes.dynamic.exceptions import DynamicApiError
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError, SSLError

from ansible_collections.kubevirt_net.core.plugins.module_utils import api as api_module
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import (
    ApiError, ApiSession, UnsupportedByServer, parse_server_version)
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline, RetryPolicy
from tests.unit.plugins.module_utils.session_double import Clock


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


# ------------------------------------------------------------ issue 19 item 5: time bounds, TLS
def timeout_of(api, call=0):
    return api.dynamic.calls[call][3]["_request_timeout"]


def test_every_request_has_the_request_timeout_option_or_the_default():
    api, _sleeps = session((200, {}), (200, {}))
    api.request("GET", "/x")
    assert timeout_of(api) == api_module.DEFAULT_REQUEST_TIMEOUT == 60
    api = ApiSession(Module(request_timeout=7.5), policy=RetryPolicy(attempts=1),
                     sleep=lambda _s: None, dynamic_client=ScriptedClient((201, {})))
    api.request("POST", "/x", body={})
    assert timeout_of(api) == 7.5


def test_under_a_deadline_the_timeout_is_cut_and_nothing_is_sent_after_it():
    clock = Clock(now=0.0)
    api, _sleeps = session((200, {}), (200, {}))
    deadline = Deadline(15, clock=clock)
    with api.within(deadline):
        clock.now = 12.0
        api.request("GET", "/x")
        assert timeout_of(api) == 3.0
        clock.now = 15.0
        with pytest.raises(ApiError) as err:
            api.get("/x")
    assert err.value.sent is False and "not sent" in str(err.value)
    assert len(api.dynamic.calls) == 1 and len(api.requests) == 1
    api.request("GET", "/x")  # outside the wait: the full request timeout again
    assert timeout_of(api, 1) == 60


def test_a_retry_that_would_end_after_the_deadline_is_not_made():
    clock = Clock(now=0.0)
    api, sleeps = session((503, status(503, "ServiceUnavailable")), (200, {}), attempts=5)
    with api.within(Deadline(1.0, clock=clock)):  # the back-off (0.5 s) fits once
        clock.now = 0.6  # ... but not any more
        with pytest.raises(ApiError) as err:
            api.request("GET", "/x")
    assert err.value.status == 503 and sleeps == [] and len(api.dynamic.calls) == 1


def test_conflict_pause_is_the_jittered_backoff_cut_to_the_deadline():
    clock = Clock(now=0.0)
    api, sleeps = session()
    api.policy = RetryPolicy(rand=lambda: 1.0)
    api.conflict_pause(1)
    api.conflict_pause(3)
    with api.within(Deadline(0.25, clock=clock)):
        api.conflict_pause(5)
    assert sleeps == [0.1, 0.4, 0.25]


def cert_error():
    inner = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                            "unable to get local issuer certificate")
    inner.verify_message = "unable to get local issuer certificate"
    return MaxRetryError(None, "/version", reason=SSLError(inner))


def test_tls_verification_errors_fail_at_once_naming_the_options():
    api, sleeps = session(cert_error(), (200, {}), attempts=5)
    with pytest.raises(ApiError) as err:
        api.request("GET", "/api/v1/namespaces")
    assert len(api.dynamic.calls) == 1 and sleeps == [] and api.retries == 0
    message = str(err.value)
    assert "ca_cert" in message and "validate_certs" in message and "retrying cannot heal this" in message
    assert "unable to get local issuer certificate" in message


def test_other_ssl_errors_are_still_retried_for_reads():
    api, sleeps = session(MaxRetryError(None, "/x", reason=SSLError("EOF occurred in violation of protocol")),
                          (200, {"a": 1}))
    assert api.request("GET", "/x") == {"a": 1} and len(sleeps) == 1


def test_a_connection_never_made_is_retried_for_writes_too():
    refused = MaxRetryError(None, "/x", reason=NewConnectionError(None, "Connection refused"))
    api, _sleeps = session(refused, (201, {"made": 1}))
    assert api.request("POST", "/x", body={}) == {"made": 1}
    timed_out = MaxRetryError(None, "/x", reason=ReadTimeoutError(None, "/x", "Read timed out."))
    api, _sleeps = session(timed_out, (201, {}))
    with pytest.raises(ApiError) as err:  # the write may have landed: not repeated blindly
        api.request("POST", "/x", body={})
    assert "no answer within 60s (request_timeout)" in str(err.value) and len(api.dynamic.calls) == 1


class WarningModule(Module):
    def __init__(self, **params):
        super(WarningModule, self).__init__(**params)
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def test_validate_certs_false_warns_once_per_task():
    module = WarningModule(validate_certs=False)
    ApiSession(module, dynamic_client=ScriptedClient())
    ApiSession(module, dynamic_client=ScriptedClient())
    assert len(module.warnings) == 1 and "validate_certs=false" in module.warnings[0]
    quiet = WarningModule(validate_certs=True)
    ApiSession(quiet, dynamic_client=ScriptedClient())
    assert quiet.warnings == []


class KubeconfigInsecure(ScriptedClient):
    class configuration:  # pylint: disable=invalid-name
        verify_ssl = False
        host = "https://api.example:6443"


def test_an_insecure_kubeconfig_warns_too():
    module = WarningModule()
    ApiSession(module, dynamic_client=KubeconfigInsecure())
    assert len(module.warnings) == 1


def test_urllib3_does_not_repeat_a_timed_out_request():
    """kubernetes' PoolManager keeps urllib3's 3 retries: a GET that times out
    took 4x the request timeout.  One retry layer: RetryPolicy's."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []

    def serve():
        while True:
            try:
                conn, _addr = listener.accept()
            except OSError:
                return
            accepted.append(conn)  # never answered

    threading.Thread(target=serve, daemon=True).start()
    config = k8s_client.Configuration()
    config.host = "http://127.0.0.1:%d" % listener.getsockname()[1]
    api_client = k8s_client.ApiClient(config)

    class Dynamic:
        client = api_client

    api_module._single_retry_layer(Dynamic)
    try:
        with pytest.raises(Exception):
            api_client.rest_client.request("GET", config.host + "/version", _request_timeout=0.2)
    finally:
        listener.close()
    assert len(accepted) == 1


class Failed(Exception):
    pass


class FailingModule(WarningModule):
    def fail_json(self, **result):
        raise Failed(result)


def test_a_certificate_error_while_the_client_reads_discovery_names_the_options(monkeypatch):
    from ansible_collections.kubevirt_net.core.plugins.module_utils import module as module_utils

    def untrusted(_module):
        raise cert_error()
    monkeypatch.setattr(module_utils, "ApiSession", untrusted)
    with pytest.raises(Failed) as failed:
        module_utils.Run(FailingModule(host="https://api.example:6443")).session  # pylint: disable=expression-not-assigned
    msg = failed.value.args[0]["msg"]
    assert "https://api.example:6443" in msg and "ca_cert" in msg and "validate_certs=false" in msg


def test_the_clients_discovery_requests_are_bounded_by_request_timeout(monkeypatch):
    seen = []

    class Built:
        client = ScriptedClient()

    def get_api_client(module):
        seen.append(socket.getdefaulttimeout())
        return Built()
    monkeypatch.setattr(api_module, "get_api_client", get_api_client)
    before = socket.getdefaulttimeout()
    ApiSession(Module(request_timeout=9.0))
    assert seen == [9.0] and socket.getdefaulttimeout() == before
