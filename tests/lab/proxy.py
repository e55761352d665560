"""The lab proxy: a fast HTTPS reverse proxy in front of kube-apiserver that
logs every request and injects faults on command.

Clients (kubectl, the kubernetes client, kubernetes.core) talk to the proxy;
it forwards each request unchanged and streams the answer back.  Its admin API
lives under ``/_lab/`` on the same listener (loopback only, no auth):

- ``GET /_lab/log[?since=SEQ]`` -> ``{"requests": [...]}``; ``DELETE /_lab/log``
  clears it; ``GET /_lab/log/seq`` -> ``{"seq": N}`` (scope a test to its own
  requests without clearing).  Entries: seq, time, method, path, query,
  content_type, status, dry_run, user_agent (and ``fault`` when one applied).
- ``POST /_lab/faults`` a rule, ``GET /_lab/faults`` -> ``{"rules": [...]}``,
  ``DELETE /_lab/faults``.  A rule: ``method`` ("*"), ``path`` (regex searched
  in the path, ".*"), ``query`` (optional regex), ``count`` (1; -1 = forever),
  ``action``:
    ``status`` (``code``; optional ``retry_after``): a Kubernetes Status body,
    not forwarded; ``conflict``: 409 Conflict for the object in the path, not
    forwarded; ``latency`` (``seconds``): wait, then forward; ``drop``: close
    the connection, not forwarded; ``drop_after``: forward (the write lands),
    then close without answering.
  The first matching rule with count left applies; its count decrements.

Other lab code can serve paths itself (``add_route``) and add an API group to
discovery (``add_discovery_group``) - for KubeVirt's aggregated
``subresources.kubevirt.io`` API, which this apiserver cannot route.
"""

import argparse
import http.client
import http.server
import json
import re
import signal
import socket
import ssl
import threading
import time
import urllib.parse

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length", "accept-encoding"}
STATUS_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests",
                  500: "InternalError", 502: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
PATH_PARTS = re.compile(r"^/(?:api/(?P<cv>[^/]+)|apis/(?P<group>[^/]+)/(?P<gv>[^/]+))"
                        r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?")


def status_body(code, message, reason=None, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason or STATUS_REASONS.get(code, "InternalError"), "code": code}
    if details is not None:
        body["details"] = details
    return body


def injected_status(rule, path):
    code = int(rule.get("code", 500))
    retry_after = rule.get("retry_after")
    if code == 429:
        return status_body(code, "Too many requests, please try again later.", "TooManyRequests",
                           {"retryAfterSeconds": int(retry_after or 1)})
    if code == 504:
        return status_body(code, "Timeout: request did not complete within the allowed duration", "Timeout",
                           {"causes": [{"message": "injected fault"}]})
    if code == 503:
        return status_body(code, "the server is currently unable to handle the request (injected fault)",
                           "ServiceUnavailable", {"causes": [{"message": "injected fault"}]})
    return status_body(code, "Internal error occurred: injected fault", STATUS_REASONS.get(code, "InternalError"),
                       {"causes": [{"message": "injected fault"}]})


def conflict_body(path):
    match = PATH_PARTS.match(path)
    group = (match.group("group") or "") if match else ""
    plural = match.group("plural") if match else "objects"
    name = (match.group("name") or "") if match else ""
    resource = "%s.%s" % (plural, group) if group else plural
    details = {"name": name, "kind": plural}
    if group:
        details["group"] = group
    return status_body(409, 'Operation cannot be fulfilled on %s "%s": the object has been modified; please apply '
                       'your changes to the latest version and try again' % (resource, name), "Conflict", details)


class FaultRules:
    def __init__(self):
        self._rules = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, rule):
        rule = dict(rule)
        if rule.get("action") not in ("status", "conflict", "latency", "drop", "drop_after"):
            raise ValueError("action must be one of status, conflict, latency, drop, drop_after")
        rule.setdefault("method", "*")
        rule.setdefault("path", ".*")
        rule.setdefault("count", 1)
        re.compile(rule["path"])
        if rule.get("query"):
            re.compile(rule["query"])
        with self._lock:
            rule["id"] = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def list(self):
        with self._lock:
            return [dict(r) for r in self._rules]

    def clear(self):
        with self._lock:
            self._rules = []

    def match(self, method, path, query):
        with self._lock:
            for rule in self._rules:
                if rule["count"] == 0:
                    continue
                if rule["method"] not in ("*", method):
                    continue
                if not re.search(rule["path"], path):
                    continue
                if rule.get("query") and not re.search(rule["query"], query):
                    continue
                if rule["count"] > 0:
                    rule["count"] -= 1
                return dict(rule)
        return None


class RequestLog:
    def __init__(self):
        self._entries = []
        self._seq = 0
        self._lock = threading.Lock()

    def append(self, entry):
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)

    def since(self, seq):
        with self._lock:
            return [dict(e) for e in self._entries if e["seq"] > seq]

    @property
    def seq(self):
        with self._lock:
            return self._seq

    def clear(self):
        with self._lock:
            self._entries = []


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, proxy):
        self.proxy = proxy
        super().__init__(address, handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # Python otherwise stalls 25-40 ms per request (Nagle + delayed ACK)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if not size:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def _reply(self, status, body, headers=None):
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if not any(k.lower() == "content-type" for k in (headers or {})):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self):
        proxy = self.server.proxy
        self._logged = False
        parsed = urllib.parse.urlsplit(self.path)
        path, query = parsed.path, parsed.query
        body = self._body()
        if path.startswith("/_lab/") and not any(path.startswith(p) for p, _h in proxy.routes):
            return self._admin(path, query, body)
        entry = {"time": time.time(), "method": self.command, "path": path, "query": query,
                 "content_type": (self.headers.get("Content-Type") or "").split(";")[0],
                 "dry_run": "dryRun=All" in query, "user_agent": self.headers.get("User-Agent"), "status": None}
        try:
            rule = proxy.faults.match(self.command, path, query)
            if rule:
                entry["fault"] = rule["action"]
                if not self._fault(rule, entry, path, query, body):
                    return None
            for prefix, handler in proxy.routes:
                if path.startswith(prefix):
                    status, headers, payload = handler(self.command, path, query, dict(self.headers), body)
                    entry["status"] = status
                    return self._reply(status, payload, headers)
            if proxy.discovery and self.command == "GET" and self._discovery(path, entry):
                return None
            return self._forward(path, query, body, entry)
        finally:
            if not path.startswith("/_lab/") and not self._logged:
                proxy.log.append(entry)

    def _fault(self, rule, entry, path, query, body):
        """Apply a fault; True when the request should go on to be forwarded."""
        action = rule["action"]
        if action == "latency":
            time.sleep(float(rule.get("seconds", 0.1)))
            return True
        if action == "drop":
            self._drop()
            return False
        if action == "drop_after":
            self._forward(path, query, body, entry, answer=False)
            entry["status"] = None
            self._drop()
            return False
        if action == "conflict":
            entry["status"] = 409
            self._reply(409, conflict_body(path))
            return False
        payload = injected_status(rule, path)
        headers = {}
        if rule.get("retry_after") is not None:
            headers["Retry-After"] = str(int(rule["retry_after"]))
        entry["status"] = payload["code"]
        self._reply(payload["code"], payload, headers)
        return False

    def _discovery(self, path, entry):
        """Serve the registered groups' discovery documents; False to forward."""
        proxy = self.server.proxy
        for group, versions in proxy.discovery:
            base = "/apis/%s" % group["name"]
            if path == base:
                entry["status"] = 200
                self._reply(200, dict(group, kind="APIGroup", apiVersion="v1"))
                return True
            for version, resources in versions.items():
                if path == "%s/%s" % (base, version):
                    entry["status"] = 200
                    self._reply(200, resources)
                    return True
        return False

    def _forward(self, path, query, body, entry, answer=True):
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        if proxy.discovery and path in ("/apis", "/api"):
            headers["Accept"] = "application/json"
        if body:
            headers["Content-Length"] = str(len(body))
        target = path + ("?" + query if query else "")
        streaming = bool(re.search(r"(^|&)(watch|follow)=(true|1)", query))
        for attempt in (1, 2):
            conn = proxy.upstream_connection(fresh=attempt == 2 or streaming)
            try:
                conn.request(self.command, target, body=body or None, headers=headers)
                resp = conn.getresponse()
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                proxy.forget_connection()
                if attempt == 2 or self.command not in ("GET", "HEAD"):
                    entry["status"] = 503
                    if answer:
                        self._reply(503, status_body(503, "lab proxy: upstream unavailable: %s" % exc))
                    return None
        entry["status"] = resp.status
        if not answer:
            resp.read()
            return None
        if streaming:
            return self._stream(resp, conn, entry)
        payload = resp.read()
        if path == "/apis" and resp.status == 200 and proxy.discovery:
            payload = proxy.edit_group_list(payload)
        out = {k: v for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP | {"date", "server"}}
        self._reply(resp.status, payload, out)
        return None

    def _stream(self, resp, conn, entry):
        # a watch is logged when it starts: tests wait for it to be established
        self.server.proxy.log.append(entry)
        self._logged = True
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in HOP_BY_HOP | {"date", "server"}:
                self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        finally:
            conn.close()

    def _admin(self, path, query, body):
        proxy = self.server.proxy
        params = urllib.parse.parse_qs(query)
        try:
            if path == "/_lab/log" and self.command == "GET":
                return self._reply(200, {"requests": proxy.log.since(int(params.get("since", ["0"])[0]))})
            if path == "/_lab/log" and self.command == "DELETE":
                proxy.log.clear()
                return self._reply(200, {})
            if path == "/_lab/log/seq":
                return self._reply(200, {"seq": proxy.log.seq})
            if path == "/_lab/faults" and self.command == "POST":
                return self._reply(201, proxy.faults.add(json.loads(body or b"{}")))
            if path == "/_lab/faults" and self.command == "GET":
                return self._reply(200, {"rules": proxy.faults.list()})
            if path == "/_lab/faults" and self.command == "DELETE":
                proxy.faults.clear()
                return self._reply(200, {})
        except (ValueError, re.error) as exc:
            return self._reply(400, {"error": str(exc)})
        return self._reply(404, {"error": "no such lab endpoint: %s %s" % (self.command, path)})

    def _safe(self):
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _safe


class LabProxy:
    def __init__(self, upstream, certfile, keyfile, upstream_ca=None, host="127.0.0.1", port=0):
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host, self.upstream_port = parsed.hostname, parsed.port or 443
        self.upstream_ctx = ssl.create_default_context(cafile=upstream_ca) if upstream_ca else \
            ssl._create_unverified_context()  # pylint: disable=protected-access
        self.log = RequestLog()
        self.faults = FaultRules()
        self.routes = []
        self.discovery = []
        self._local = threading.local()
        self._server = _Server((host, port), _Handler, self)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        ctx.set_alpn_protocols(["http/1.1"])
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self._thread = None

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, name="lab-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def add_route(self, prefix, handler):
        """Serve ``prefix`` locally: handler(method, path, query, headers, body) -> (status, headers, body)."""
        self.routes.append((prefix, handler))

    def add_discovery_group(self, group_json, resources_json_by_version):
        """Append an APIGroup to /apis and serve /apis/<group>[/<version>] for it."""
        self.discovery.append((group_json, resources_json_by_version))

    def edit_group_list(self, payload):
        try:
            data = json.loads(payload)
        except ValueError:
            return payload
        names = {g.get("name") for g in data.get("groups", [])}
        for group, _versions in self.discovery:
            if group["name"] not in names:
                data.setdefault("groups", []).append(group)
        return json.dumps(data).encode()

    def upstream_connection(self, fresh=False):
        if fresh:
            return http.client.HTTPSConnection(self.upstream_host, self.upstream_port, context=self.upstream_ctx,
                                               timeout=330)
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self.upstream_host, self.upstream_port, context=self.upstream_ctx,
                                               timeout=330)
            self._local.conn = conn
        return conn

    def forget_connection(self):
        self._local.conn = None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--upstream-ca")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args(argv)
    proxy = LabProxy(args.upstream, args.cert, args.key, args.upstream_ca, port=args.port).start()
    if args.port_file:
        with open(args.port_file, "w", encoding="utf-8") as handle:
            handle.write(str(proxy.port))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    proxy.stop()


if __name__ == "__main__":
    main()
