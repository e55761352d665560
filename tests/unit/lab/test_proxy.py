"""The lab proxy in front of a tiny fake HTTPS apiserver: forwarding, the
request log, every fault action, local routes, discovery groups, streaming."""

import http.client
import http.server
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from lab.proxy import LabProxy

PROXY_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "lab", "proxy.py")
UPSTREAM_GROUPS = {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
    {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
     "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}
AGGREGATED_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                     "application/json")
WATCH_LINES = [b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n',
               b'{"type":"DELETED","object":{"metadata":{"name":"a"}}}\n']


# ------------------------------------------------------------- the fake apiserver

class FakeApiserver(http.server.ThreadingHTTPServer):
    """Echoes every request as JSON and records it; ``?watch=true`` (or ``follow``) streams
    WATCH_LINES[0], holds the stream open until ``release`` is set, then sends
    WATCH_LINES[1] and ends it (``stream_aborted`` is set if the proxy hangs up first)."""

    daemon_threads = True

    def __init__(self, certfile, keyfile):
        super().__init__(("127.0.0.1", 0), FakeApiserverHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.url = "https://127.0.0.1:%d" % self.server_address[1]
        self.reset()

    def reset(self):
        self.received = []
        self.release = threading.Event()
        self.stream_aborted = threading.Event()
        self.connection_closed = threading.Event()

    def shutdown_request(self, request):
        super().shutdown_request(request)
        self.connection_closed.set()


class FakeApiserverHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _sep, query = self.path.partition("?")
        self.server.received.append({"method": self.command, "path": path, "query": query, "body": body,
                                     "headers": self.headers, "client_port": self.client_address[1]})
        if "watch=true" in query.lower() or "follow=true" in query:
            return self._watch()
        payload = UPSTREAM_GROUPS if path == "/apis" else \
            {"method": self.command, "path": path, "query": query, "body": body.decode()}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Echo", "a")
        self.send_header("X-Echo", "b")
        self.end_headers()
        self.wfile.write(data)
        # /close-quietly: hang up after answering, without "Connection: close"
        self.close_connection = path == "/close-quietly"
        return None

    def _watch(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._chunk(WATCH_LINES[0])
        while not self.server.release.is_set():
            if select.select([self.connection], [], [], 0.02)[0]:   # the proxy hung up
                self.server.stream_aborted.set()
                self.close_connection = True
                return
        self._chunk(WATCH_LINES[1])
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any


class BrokenPooledConnection:
    """A pooled upstream connection the apiserver has silently dropped."""
    sock = None

    def putrequest(self, *_args, **_kwargs):
        raise http.client.RemoteDisconnected("Remote end closed connection without response")

    def close(self):
        pass


# ------------------------------------------------------------------- fixtures

def _self_signed(directory, name):
    cert, key = str(directory / (name + ".crt")), str(directory / (name + ".key"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    cert, key = _self_signed(directory, "lab")
    other, _other_key = _self_signed(directory, "other")
    return SimpleNamespace(cert=cert, key=key, other=other, context=ssl.create_default_context(cafile=cert))


@pytest.fixture(scope="module")
def fake_apiserver(certs):
    server = FakeApiserver(certs.cert, certs.key)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def upstream(fake_apiserver):
    fake_apiserver.reset()
    yield fake_apiserver
    fake_apiserver.release.set()    # let a stream a failed test left open finish


@pytest.fixture
def proxy(upstream, certs):
    lab_proxy = LabProxy(upstream.url, certs.cert, certs.key, upstream_ca=certs.cert).start()
    yield lab_proxy
    lab_proxy.stop()


# -------------------------------------------------------------------- helpers

class Client:
    """A keep-alive HTTPS client of a proxy (it reconnects after a dropped connection)."""

    def __init__(self, port, context):
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)

    def call(self, method, path, body=None, headers=None):
        """One request; (status, headers, body bytes)."""
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        try:
            self.conn.request(method, path, body=data, headers=headers or {})
            resp = self.conn.getresponse()
            return resp.status, resp.headers, resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            raise

    def admin(self, method, path, body=None):
        status, _headers, payload = self.call(method, path, body)
        return status, json.loads(payload)

    def log(self, since=0):
        return self.admin("GET", "/_lab/log?since=%d" % since)[1]["requests"]

    def add_fault(self, **rule):
        status, body = self.admin("POST", "/_lab/faults", rule)
        assert status == 201, body
        return body

    def close(self):
        self.conn.close()


@pytest.fixture
def client(proxy, certs):
    lab_client = Client(proxy.port, certs.context)
    yield lab_client
    lab_client.close()


# ----------------------------------------------------------------- forwarding

@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_forwards_method_path_query_body_and_headers(client, upstream, method):
    body = b'{"data":{"a":"b"}}' if method != "GET" else None
    status, headers, payload = client.call(method, "/api/v1/namespaces/ns/configmaps/x?fieldManager=me&a=1", body,
                                           {"Authorization": "Bearer s3cret", "Accept-Encoding": "gzip",
                                            "Content-Type": "application/merge-patch+json"})
    assert status == 200
    assert json.loads(payload) == {"method": method, "path": "/api/v1/namespaces/ns/configmaps/x",
                                   "query": "fieldManager=me&a=1", "body": (body or b"").decode()}
    [received] = upstream.received
    assert received["headers"]["Authorization"] == "Bearer s3cret"
    assert received["headers"]["Content-Type"] == "application/merge-patch+json"
    assert received["headers"]["Accept-Encoding"] == "identity"    # so bodies come back editable
    assert headers["Content-Length"] == str(len(payload))
    assert headers.get_all("X-Echo") == ["a", "b"]                   # repeated headers survive


def test_chunked_request_body_is_forwarded(client, upstream):
    client.conn.request("POST", "/api/v1/namespaces", body=iter([b'{"a":', b'"b"}']), encode_chunked=True)
    resp = client.conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["body"] == '{"a":"b"}'
    assert upstream.received[0]["body"] == b'{"a":"b"}'


def test_keep_alive_on_both_sides(client, upstream):
    for _attempt in range(3):
        client.conn.request("GET", "/api/v1/pods")
        resp = client.conn.getresponse()
        resp.read()
        assert resp.status == 200 and not resp.will_close
    assert len({r["client_port"] for r in upstream.received}) == 1   # one pooled upstream connection


def test_a_dead_pooled_connection_is_retried_for_get_only(proxy, client, upstream):
    assert client.call("GET", "/api/v1/pods")[0] == 200
    proxy.upstream.put(BrokenPooledConnection())
    assert client.call("GET", "/api/v1/pods")[0] == 200
    assert len(upstream.received) == 2

    proxy.upstream.put(BrokenPooledConnection())
    status, _headers, payload = client.call("POST", "/api/v1/namespaces", {"a": 1})
    body = json.loads(payload)
    assert status == 503 and body["kind"] == "Status" and body["reason"] == "ServiceUnavailable"
    assert body["message"].startswith("lab proxy: upstream unavailable: ")
    assert len(upstream.received) == 2                                # the write was not sent twice


def test_a_pooled_connection_the_apiserver_closed_is_not_used_for_a_write(client, upstream):
    assert client.call("GET", "/close-quietly")[0] == 200
    assert upstream.connection_closed.wait(5)
    assert client.call("POST", "/api/v1/namespaces", {"a": 1})[0] == 200
    assert [r["method"] for r in upstream.received] == ["GET", "POST"]


def test_upstream_down_answers_a_503_status(certs, upstream):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    lab_proxy = LabProxy("https://127.0.0.1:%d" % dead_port, certs.cert, certs.key).start()
    lab_client = Client(lab_proxy.port, certs.context)
    try:
        status, _headers, payload = lab_client.call("GET", "/api/v1/pods")
        body = json.loads(payload)
        assert status == 503 and body["code"] == 503 and body["reason"] == "ServiceUnavailable"
        assert body["message"].startswith("lab proxy: upstream unavailable: ")
        assert [e["status"] for e in lab_client.log()] == [503]
    finally:
        lab_client.close()
        lab_proxy.stop()


def test_the_upstream_certificate_is_verified_against_upstream_ca(certs, upstream):
    lab_proxy = LabProxy(upstream.url, certs.cert, certs.key, upstream_ca=certs.other).start()
    lab_client = Client(lab_proxy.port, certs.context)
    try:
        status, _headers, payload = lab_client.call("GET", "/api/v1/pods")
        assert status == 503 and "CERTIFICATE_VERIFY_FAILED" in json.loads(payload)["message"]
        assert upstream.received == []
    finally:
        lab_client.close()
        lab_proxy.stop()


# ---------------------------------------------------------------- request log

def test_log_entries(client, upstream):
    client.call("GET", "/api/v1/pods?limit=5", headers={"User-Agent": "kubectl/v1.32.0"})
    client.call("POST", "/apis/apps/v1/namespaces/ns/deployments?dryRun=All&fieldManager=x", {"a": 1},
                {"Content-Type": "application/json; charset=utf-8", "User-Agent": "ansible"})
    client.admin("GET", "/_lab/faults")     # admin requests are not logged
    entries = client.log()
    assert all(isinstance(e.pop("time"), float) for e in entries)
    assert entries == [
        {"seq": 1, "method": "GET", "path": "/api/v1/pods", "query": "limit=5", "content_type": "",
         "status": 200, "dry_run": False, "user_agent": "kubectl/v1.32.0"},
        {"seq": 2, "method": "POST", "path": "/apis/apps/v1/namespaces/ns/deployments",
         "query": "dryRun=All&fieldManager=x", "content_type": "application/json", "status": 200,
         "dry_run": True, "user_agent": "ansible"}]


def test_log_since_seq_and_clear(client, upstream):
    for name in ("a", "b", "c"):
        client.call("GET", "/api/v1/namespaces/" + name)
    assert client.admin("GET", "/_lab/log/seq") == (200, {"seq": 3})
    assert [e["path"] for e in client.log(since=1)] == ["/api/v1/namespaces/b", "/api/v1/namespaces/c"]
    assert client.log(since=3) == []
    assert client.admin("DELETE", "/_lab/log")[0] == 200
    assert client.log() == []
    assert client.admin("GET", "/_lab/log/seq")[1] == {"seq": 3}   # numbering goes on
    client.call("GET", "/api/v1/namespaces/d")
    assert [(e["seq"], e["path"]) for e in client.log()] == [(4, "/api/v1/namespaces/d")]
    assert client.admin("GET", "/_lab/log?since=x")[0] == 400


# --------------------------------------------------------------------- faults

@pytest.mark.parametrize("code,reason", [(500, "InternalError"), (503, "ServiceUnavailable"),
                                         (504, "Timeout"), (429, "TooManyRequests")])
def test_status_fault(client, upstream, code, reason):
    rule = {"method": "POST", "path": "/configmaps$", "action": "status", "code": code}
    if code in (429, 503):
        rule["retry_after"] = 7
    client.add_fault(**rule)
    status, headers, payload = client.call("POST", "/api/v1/namespaces/ns/configmaps", {"a": 1})
    body = json.loads(payload)
    assert status == code
    assert (body["kind"], body["apiVersion"], body["status"], body["reason"], body["code"]) == \
        ("Status", "v1", "Failure", reason, code)
    assert headers.get("Retry-After") == ("7" if "retry_after" in rule else None)
    if code == 500:
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Internal error occurred: injected fault", "reason": "InternalError",
                        "details": {"causes": [{"message": "injected fault"}]}, "code": 500}
    if code == 429:
        assert body["message"] == "Too many requests, please try again later."
        assert body["details"] == {"retryAfterSeconds": 7}
    assert upstream.received == []                                     # not forwarded
    assert client.call("POST", "/api/v1/namespaces/ns/configmaps", {"a": 1})[0] == 200
    assert [(e["status"], e.get("fault")) for e in client.log()] == [(code, "status"), (200, None)]


@pytest.mark.parametrize("path,resource,name,group,kind", [
    ("/apis/kubevirt.io/v1/namespaces/ns1/virtualmachines/vm1", "virtualmachines.kubevirt.io", "vm1",
     "kubevirt.io", "virtualmachines"),
    ("/api/v1/namespaces/ns1/configmaps/cm1", "configmaps", "cm1", "", "configmaps"),
    ("/apis/k8s.cni.cncf.io/v1/namespaces/ns1/network-attachment-definitions/br0/status",
     "network-attachment-definitions.k8s.cni.cncf.io", "br0", "k8s.cni.cncf.io", "network-attachment-definitions"),
    ("/api/v1/namespaces/ns1", "namespaces", "ns1", "", "namespaces"),
])
def test_conflict_fault(client, upstream, path, resource, name, group, kind):
    client.add_fault(method="PATCH", action="conflict")
    status, _headers, payload = client.call("PATCH", path, {"a": 1})
    assert status == 409
    assert json.loads(payload) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'Operation cannot be fulfilled on %s "%s": the object has been modified; please apply your '
                   'changes to the latest version and try again' % (resource, name),
        "reason": "Conflict", "details": {"name": name, "group": group, "kind": kind}, "code": 409}
    assert upstream.received == []
    assert [(e["status"], e["fault"]) for e in client.log()] == [(409, "conflict")]


def test_latency_fault_still_forwards(client, upstream):
    client.add_fault(method="GET", path="/pods$", action="latency", seconds=0.05)
    assert client.call("GET", "/api/v1/pods")[0] == 200
    assert len(upstream.received) == 1
    assert [r["count"] for r in client.admin("GET", "/_lab/faults")[1]["rules"]] == [0]
    assert [(e["status"], e["fault"]) for e in client.log()] == [(200, "latency")]


def test_drop_fault_closes_without_forwarding(client, upstream):
    client.add_fault(method="POST", action="drop")
    with pytest.raises((http.client.HTTPException, OSError)):
        client.call("POST", "/api/v1/namespaces", {"a": 1})
    assert upstream.received == []
    assert [(e["status"], e["fault"]) for e in client.log()] == [(None, "drop")]


def test_drop_after_fault_forwards_then_closes(client, upstream):
    client.add_fault(method="POST", action="drop_after")
    with pytest.raises((http.client.HTTPException, OSError)):
        client.call("POST", "/api/v1/namespaces", {"a": 1})
    assert [(r["method"], r["body"]) for r in upstream.received] == [("POST", b'{"a": 1}')]
    assert [(e["status"], e["fault"]) for e in client.log()] == [(None, "drop_after")]


def test_count_n_then_forwarded(client, upstream):
    client.add_fault(action="status", code=500, count=2)
    assert [client.call("GET", "/api/v1/pods")[0] for _i in range(3)] == [500, 500, 200]
    assert len(upstream.received) == 1


def test_count_minus_one_is_forever(client, upstream):
    client.add_fault(action="status", code=503, count=-1)
    assert [client.call("GET", "/api/v1/pods")[0] for _i in range(4)] == [503] * 4
    assert client.admin("GET", "/_lab/faults")[1]["rules"][0]["count"] == -1
    assert upstream.received == []


def test_method_path_and_query_filters(client, upstream):
    client.add_fault(method="post", path="/configmaps$", query="dryRun=All", action="status", code=500)
    assert client.call("GET", "/api/v1/namespaces/n/configmaps?dryRun=All")[0] == 200
    assert client.call("POST", "/api/v1/namespaces/n/configmaps", {})[0] == 200
    assert client.call("POST", "/api/v1/namespaces/n/secrets?dryRun=All", {})[0] == 200
    assert client.call("POST", "/api/v1/namespaces/n/configmaps/x?dryRun=All", {})[0] == 200
    assert client.call("POST", "/api/v1/namespaces/n/configmaps?dryRun=All", {})[0] == 500
    assert len(upstream.received) == 4


def test_first_matching_rule_with_count_left_applies(client, upstream):
    first = client.add_fault(path="^/a$", action="status", code=503)
    second = client.add_fault(action="status", code=500)
    assert second["id"] > first["id"]
    assert [client.call("GET", "/a")[0] for _i in range(3)] == [503, 500, 200]


def test_fault_admin_list_validate_and_clear(client, upstream):
    rule = client.add_fault(path="/pods", action="latency", seconds=0.01, count=3)
    assert rule == {"id": rule["id"], "method": "*", "path": "/pods", "count": 3, "action": "latency",
                    "seconds": 0.01}
    assert client.admin("GET", "/_lab/faults") == (200, {"rules": [rule]})
    for bad in ({"action": "explode"}, {"action": "drop", "path": "("}, {"action": "drop", "count": "x"},
                {"action": "latency"}, {"action": "status", "code": 200}, ["drop"]):
        assert client.admin("POST", "/_lab/faults", bad)[0] == 400
    client.add_fault(action="drop", count=-1)
    assert client.admin("DELETE", "/_lab/faults")[0] == 200
    assert client.admin("GET", "/_lab/faults")[1] == {"rules": []}
    assert client.call("GET", "/api/v1/pods")[0] == 200


# ------------------------------------------------------ routes and discovery

def test_add_route_serves_locally(proxy, client, upstream):
    calls = []

    def handler(method, path, query, headers, body):
        calls.append((method, path, query, headers["Authorization"], body))
        return 202, {"Content-Type": "application/json", "X-Route": "yes"}, b""

    proxy.add_route("/apis/subresources.kubevirt.io/v1/", handler)
    path = "/apis/subresources.kubevirt.io/v1/namespaces/ns/virtualmachines/vm/start"
    status, headers, payload = client.call("PUT", path + "?dryRun=All", {"gracePeriod": 0},
                                           {"Authorization": "Bearer t"})
    assert (status, headers["X-Route"], payload) == (202, "yes", b"")
    assert calls == [("PUT", path, "dryRun=All", "Bearer t", b'{"gracePeriod": 0}')]
    assert upstream.received == []
    assert [(e["path"], e["status"], e["dry_run"]) for e in client.log()] == [(path, 202, True)]

    client.add_fault(path="/start$", action="status", code=503)      # faults apply to routes too
    assert client.call("PUT", path, {})[0] == 503 and len(calls) == 1


def test_a_failing_route_answers_500_and_lab_routes_are_not_logged(proxy, client, upstream):
    def broken(*_args):
        raise RuntimeError("boom")

    proxy.add_route("/apis/broken/", broken)
    proxy.add_route("/_lab/dns", lambda *_args: (200, {"Content-Type": "application/json"}, b'{"answers": []}'))
    status, _headers, payload = client.call("GET", "/apis/broken/v1/things")
    assert status == 500 and "boom" in json.loads(payload)["message"]
    assert client.call("GET", "/_lab/dns?name=x")[2] == b'{"answers": []}'
    assert [(e["path"], e["status"]) for e in client.log()] == [("/apis/broken/v1/things", 500)]


def test_discovery_group(proxy, client, upstream):
    group = {"name": "subresources.kubevirt.io",
             "versions": [{"groupVersion": "subresources.kubevirt.io/v1", "version": "v1"}],
             "preferredVersion": {"groupVersion": "subresources.kubevirt.io/v1", "version": "v1"}}
    resources = {"resources": [{"name": "virtualmachines/start", "namespaced": True, "kind": "",
                                "verbs": ["update"]}]}

    # nothing registered: /apis passes through untouched
    status, _headers, payload = client.call("GET", "/apis", headers={"Accept": AGGREGATED_ACCEPT})
    assert (status, json.loads(payload)) == (200, UPSTREAM_GROUPS)
    assert upstream.received[-1]["headers"]["Accept"] == AGGREGATED_ACCEPT

    proxy.add_discovery_group(group, {"v1": resources})
    for path in ("/apis", "/api"):
        client.call("GET", path, headers={"Accept": AGGREGATED_ACCEPT})
        assert upstream.received[-1]["headers"].get_all("Accept") == ["application/json"]
    status, headers, payload = client.call("GET", "/apis")
    assert status == 200 and headers["Content-Length"] == str(len(payload))
    assert json.loads(payload)["groups"] == UPSTREAM_GROUPS["groups"] + [group]

    forwarded = len(upstream.received)
    assert json.loads(client.call("GET", "/apis/subresources.kubevirt.io")[2]) == \
        {"kind": "APIGroup", "apiVersion": "v1", **group}
    assert json.loads(client.call("GET", "/apis/subresources.kubevirt.io/v1")[2]) == \
        {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "subresources.kubevirt.io/v1", **resources}
    assert len(upstream.received) == forwarded
    client.call("GET", "/apis/subresources.kubevirt.io/v2")          # an unknown version is forwarded
    assert upstream.received[-1]["path"] == "/apis/subresources.kubevirt.io/v2"


# ------------------------------------------------------------------ streaming

@pytest.mark.parametrize("query", ["watch=true&resourceVersion=1", "watch=True", "follow=true&container=c"])
def test_watch_is_streamed_as_it_comes(proxy, client, certs, upstream, query):
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=5, context=certs.context)
    conn.request("GET", "/api/v1/namespaces/ns/pods?" + query)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["Transfer-Encoding"] == "chunked"
    # the apiserver still holds the stream open: a buffering proxy would time out here
    assert resp.readline() == WATCH_LINES[0]
    assert not upstream.release.is_set()
    # the watch is logged as soon as it is established
    assert [(e["query"], e["status"]) for e in client.log()] == [(query, 200)]
    upstream.release.set()
    assert resp.read() == WATCH_LINES[1]
    conn.close()
    assert len(client.log()) == 1


def test_a_client_leaving_a_watch_ends_the_upstream_stream(proxy, client, certs, upstream):
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=5, context=certs.context)
    conn.request("GET", "/api/v1/pods?watch=true")
    resp = conn.getresponse()
    assert resp.readline() == WATCH_LINES[0]
    resp.close()
    conn.close()
    assert upstream.stream_aborted.wait(5)
    assert client.call("GET", "/api/v1/pods")[0] == 200             # the proxy serves on


def test_drop_after_on_a_watch_opens_it_upstream_then_hangs_up(client, upstream):
    client.add_fault(path="/pods$", action="drop_after")
    with pytest.raises((http.client.HTTPException, OSError)):
        client.call("GET", "/api/v1/pods?watch=true")
    assert [r["query"] for r in upstream.received] == ["watch=true"]
    assert upstream.stream_aborted.wait(5)
    assert [(e["status"], e["fault"]) for e in client.log()] == [(None, "drop_after")]


# ------------------------------------------------------------------------ CLI

def test_cli_writes_its_port_and_stops_on_sigterm(tmp_path, certs, upstream):
    port_file = tmp_path / "port"
    process = subprocess.Popen([sys.executable, PROXY_SCRIPT, "--upstream", upstream.url, "--cert", certs.cert,
                                "--key", certs.key, "--upstream-ca", certs.cert, "--port", "0",
                                "--port-file", str(port_file)])
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        cli_client = Client(int(port_file.read_text()), certs.context)
        assert cli_client.call("GET", "/api/v1/pods")[0] == 200
        cli_client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
