"""The lab proxy: a fast HTTPS reverse proxy in front of kube-apiserver that
logs every request and injects faults on command.

Clients (kubectl, the kubernetes client, kubernetes.core) talk to the proxy;
it forwards each request unchanged (method, path and query, headers including
Authorization, body) over a pool of persistent upstream connections and sends
the answer back.  Watches (``watch=true``) and log follows (``follow=true``)
are streamed chunk by chunk until the apiserver or the client ends them.

Its admin API lives under ``/_lab/`` on the same listener (loopback only, no
auth); requests under ``/_lab/`` are never logged:

- ``GET /_lab/log[?since=SEQ]`` -> ``{"requests": [...]}``; ``DELETE /_lab/log``
  clears it; ``GET /_lab/log/seq`` -> ``{"seq": N}`` (scope a test to its own
  requests without clearing).  Entries: seq, time, method, path, query,
  content_type, status, dry_run, user_agent (and ``fault`` when one applied).
- ``POST /_lab/faults`` a rule (answered with its ``id``), ``GET /_lab/faults``
  -> ``{"rules": [...]}`` with the counts left, ``DELETE /_lab/faults``.
  A rule: ``method`` ("*"), ``path`` (regex searched in the path, ".*"),
  ``query`` (optional regex searched in the query string), ``count`` (1;
  -1 = forever), ``action``:
    ``status`` (``code``, 500; optional ``retry_after`` seconds): a Kubernetes
    Status body, not forwarded; ``conflict``: 409 Conflict for the object in
    the path, not forwarded; ``latency`` (``seconds``): wait, then forward;
    ``drop``: close the connection without answering, not forwarded;
    ``drop_after``: forward (the write lands), then close without answering.
  The first rule (in insertion order) that matches and has count left
  applies; its count decrements.  Faulted requests are logged with the
  injected status (null for drops) and ``"fault": action``.

Other lab code can serve path prefixes itself (``add_route``) and add an API
group to discovery (``add_discovery_group``) - for KubeVirt's aggregated
``subresources.kubevirt.io`` API, which this apiserver cannot route.

Run standalone: ``python3 lab/proxy.py --upstream https://127.0.0.1:6443
--cert c.pem --key k.pem [--upstream-ca ca.pem] [--port 0] [--port-file F]``
(serves until SIGTERM).  Standard library only: it runs before any venv exists.
"""

import argparse
import bisect
import http.client
import http.server
import json
import logging
import os
import re
import select
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/_lab/"
IDEMPOTENT_METHODS = ("GET", "HEAD")
ACTIONS = ("status", "conflict", "latency", "drop", "drop_after")
# Headers that describe one hop, not the message: never copied across the proxy.
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade"))
# Not copied to the upstream request: http.client sets Host, the proxy sets
# Content-Length, Accept-Encoding is left to http.client ("identity") so bodies
# come back uncompressed and /apis can be edited, and the proxy has already
# answered any "Expect: 100-continue" itself.
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "accept-encoding", "expect"}
# Not copied from the upstream answer: the proxy frames the body itself, and
# send_response() adds its own Date and Server.
NOT_RETURNED = HOP_BY_HOP | {"content-length", "date", "server"}
# kubectl >= 1.26 asks /api and /apis for aggregated discovery (APIGroupDiscoveryList),
# which the proxy cannot extend; the legacy APIGroupList it can, and clients accept it.
LEGACY_DISCOVERY_ACCEPT = "application/json"
STREAM_CHUNK = 65536
UPSTREAM_TIMEOUT = 300      # seconds per socket operation on a pooled upstream connection
POOL_SIZE = 16              # idle upstream connections kept
CLIENT_POLL = 0.5           # how often a stream checks that its client is still there
HANDSHAKE_TIMEOUT = 10
SHUTDOWN_POLL = 0.05        # serve_forever() notices stop() within this many seconds

STATUS_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                  405: "MethodNotAllowed", 409: "Conflict", 410: "Expired", 422: "Invalid",
                  429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
INJECTED_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected fault",
    503: "the server is currently unable to handle the request (injected fault)",
    504: "Timeout: request did not complete within the allowed duration (injected fault)",
}
# /api/v1[/namespaces/<ns>]/<plural>[/<name>...] or /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>...]
OBJECT_PATH = re.compile(r"^/(?:api/[^/]+|apis/(?P<group>[^/]+)/[^/]+)"
                         r"(?:/namespaces/[^/]+)?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?")


# ---------------------------------------------------------------- Status bodies

def status_body(code, message, reason=None, details=None):
    """A Kubernetes ``Status`` object for a failed request."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason or STATUS_REASONS.get(code, "InternalError")}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def injected_status(rule):
    """The Status a ``status`` rule answers with."""
    code = rule["code"]
    retry_after = rule.get("retry_after")
    if code == 429:
        details = {"retryAfterSeconds": retry_after if retry_after is not None else 1}
    else:
        details = {"causes": [{"message": "injected fault"}]}
        if retry_after is not None:
            details["retryAfterSeconds"] = retry_after
    return status_body(code, INJECTED_MESSAGES.get(code, "injected fault"), details=details)


def conflict_status(path):
    """The 409 the apiserver answers a write whose resourceVersion is stale."""
    match = OBJECT_PATH.match(path)
    group, plural, name = match.group("group", "plural", "name") if match else (None, "objects", None)
    group, name = group or "", name or ""
    resource = "%s.%s" % (plural, group) if group else plural   # the apiserver's GroupResource.String()
    return status_body(409, 'Operation cannot be fulfilled on %s "%s": the object has been modified; please '
                       'apply your changes to the latest version and try again' % (resource, name),
                       "Conflict", {"name": name, "group": group, "kind": plural})


# ------------------------------------------------------------ log and faults

class RequestLog:
    """Every proxied request, numbered; ``seq`` never goes back, even on clear."""

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
            start = bisect.bisect_right(self._entries, seq, key=lambda e: e["seq"])
            return [dict(e) for e in self._entries[start:]]

    @property
    def seq(self):
        with self._lock:
            return self._seq

    def clear(self):
        with self._lock:
            self._entries = []


class FaultRules:
    """Fault rules in insertion order, with the number of uses each has left."""

    def __init__(self):
        self._rules = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, rule):
        """Validate and store a rule; returns it with its ``id``.  Raises ValueError."""
        if not isinstance(rule, dict):
            raise ValueError("a fault rule is a JSON object")
        rule = {"method": "*", "path": ".*", "count": 1, **rule}
        rule["method"] = str(rule["method"]).upper()
        action = rule.get("action")
        if action not in ACTIONS:
            raise ValueError("action must be one of %s" % ", ".join(ACTIONS))
        count = rule["count"]
        if not isinstance(count, int) or isinstance(count, bool) or count < -1:
            raise ValueError("count must be an integer >= -1 (-1 = forever)")
        for key in ("path", "query"):
            if rule.get(key) is not None:
                try:
                    re.compile(rule[key])
                except (re.error, TypeError) as exc:
                    raise ValueError("%s is not a regular expression: %s" % (key, exc)) from exc
        if action == "status":
            rule["code"] = int(rule.get("code", 500))
            if not 400 <= rule["code"] <= 599:
                raise ValueError("code must be an HTTP error status (400-599)")
        if rule.get("retry_after") is not None:
            rule["retry_after"] = int(rule["retry_after"])
        if action == "latency":
            if "seconds" not in rule:
                raise ValueError("a latency rule needs seconds")
            rule["seconds"] = float(rule["seconds"])
        with self._lock:
            rule["id"] = self._next_id
            self._next_id += 1
            self._rules.append(rule)
            return dict(rule)

    def list(self):
        with self._lock:
            return [dict(r) for r in self._rules]

    def clear(self):
        with self._lock:
            self._rules = []

    def take(self, method, path, query):
        """The first rule matching the request with count left (a copy), using it up once; or None."""
        with self._lock:
            for rule in self._rules:
                if rule["count"] == 0 or rule["method"] not in ("*", method):
                    continue
                if not re.search(rule["path"], path):
                    continue
                if rule.get("query") is not None and not re.search(rule["query"], query):
                    continue
                if rule["count"] > 0:
                    rule["count"] -= 1
                return dict(rule)
        return None


# ------------------------------------------------------------------ upstream

class UpstreamPool:
    """Persistent HTTPS connections to the apiserver, shared by all handler threads."""

    def __init__(self, url, cafile=None, size=POOL_SIZE):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port or 443
        self.context = ssl.create_default_context(cafile=cafile) if cafile else _unverified_context()
        self.context.set_alpn_protocols(["http/1.1"])
        self._size = size
        self._idle = []
        self._lock = threading.Lock()

    def new(self, timeout=UPSTREAM_TIMEOUT):
        """A new connection (it connects on first use); timeout None blocks forever (streams)."""
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)

    def get(self):
        """``(connection, reused)``: the most recently used idle connection, else a new one."""
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not _closed_by_peer(conn):
                    return conn, True
                conn.close()
        return self.new(), False

    def put(self, conn):
        """Give back a connection whose response was read to the end."""
        with self._lock:
            if len(self._idle) < self._size:
                self._idle.append(conn)
                return
        conn.close()

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _unverified_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _closed_by_peer(conn):
    """True when an idle connection became readable: the apiserver closed it
    (idle timeout); sending on it would fail, and a write could not be retried."""
    if conn.sock is None:
        return False
    try:
        return bool(select.select([conn.sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


# ---------------------------------------------------------------- the server

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128    # kubectl opens many connections at once for discovery

    def __init__(self, address, proxy, tls_context):
        self.proxy = proxy
        self.tls_context = tls_context
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind() would resolve the host name (socket.getfqdn), which can be slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, so a slow
        # or broken client cannot hold up accept() for everyone else.
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.tls_context.wrap_socket(request, server_side=True)
        except OSError:
            return
        tls.settimeout(None)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], OSError):
            return      # the client went away between requests
        logger.exception("lab proxy: error serving %s", client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"           # keep-alive
    disable_nagle_algorithm = True          # else Nagle + delayed ACK stall each response 25-40 ms

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _dispatch(self):
        try:
            self._handle()
        except OSError:
            # The client went away (reset, broken pipe, TLS EOF); nothing left to answer.
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    # ----------------------------------------------------------- request flow

    def _handle(self):
        proxy = self.server.proxy
        parsed = urllib.parse.urlsplit(self.path)
        path, query = parsed.path, parsed.query
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            return self._answer(400, [], status_body(400, "lab proxy: malformed request body"))
        route = proxy.route_for(path)
        if route is None and path.startswith(ADMIN_PREFIX):
            return self._admin(path, query, body)
        entry = {"time": time.time(), "method": self.command, "path": path, "query": query,
                 "content_type": (self.headers.get("Content-Type") or "").split(";")[0].strip(),
                 "status": None, "dry_run": "All" in urllib.parse.parse_qs(query).get("dryRun", []),
                 "user_agent": self.headers.get("User-Agent")}
        try:
            self._serve(entry, route, path, query, body)
        finally:
            # streams log themselves as they start (the entry then has a seq)
            if not path.startswith(ADMIN_PREFIX) and "seq" not in entry:
                proxy.log.append(entry)
        return None

    def _serve(self, entry, route, path, query, body):
        proxy = self.server.proxy
        rule = proxy.faults.take(self.command, path, query)
        action = rule["action"] if rule else None
        if rule:
            entry["fault"] = action
        if action == "drop":
            return self._drop()
        if action == "conflict":
            return self._answer(409, [], conflict_status(path), entry)
        if action == "status":
            headers = [] if rule.get("retry_after") is None else [("Retry-After", str(rule["retry_after"]))]
            return self._answer(rule["code"], headers, injected_status(rule), entry)
        if action == "latency":
            time.sleep(rule["seconds"])

        local = proxy.discovery_document(path) if self.command == "GET" else None
        if local is not None:
            response = (200, [], local)
        elif route is not None:
            response = self._call_route(route, path, query, body)
        elif _is_stream(query):
            return self._stream(entry, path, query, body, drop_after=action == "drop_after")
        else:
            response = self._forward(path, query, body)
        if action == "drop_after":
            # the request took effect; the client never learns of it
            return self._drop()
        return self._answer(*response, entry)

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if not size:
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):   # trailers
                pass
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status, headers, payload, entry=None):
        """Send a complete response; ``payload`` is bytes or a JSON-able object."""
        if entry is not None:
            entry["status"] = status
        if not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
        names = {key.lower() for key, _value in headers}
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if "content-type" not in names and payload:
            self.send_header("Content-Type", "application/json")
        if "content-length" not in names and status != 204:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _drop(self):
        """Close the connection without a response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -------------------------------------------------------- local answers

    def _call_route(self, handler, path, query, body):
        try:
            status, headers, payload = handler(self.command, path, query, dict(self.headers), body)
        except Exception as exc:  # pylint: disable=broad-except
            logger.exception("lab proxy: route for %s failed", path)
            return 500, [], status_body(500, "lab proxy: route handler failed: %s" % exc)
        return status, list((headers or {}).items()), payload

    def _admin(self, path, query, body):
        proxy = self.server.proxy
        method = self.command
        try:
            if path == "/_lab/log" and method == "GET":
                since = int(urllib.parse.parse_qs(query).get("since", ["0"])[0])
                return self._answer(200, [], {"requests": proxy.log.since(since)})
            if path == "/_lab/log" and method == "DELETE":
                proxy.log.clear()
                return self._answer(200, [], {})
            if path == "/_lab/log/seq" and method == "GET":
                return self._answer(200, [], {"seq": proxy.log.seq})
            if path == "/_lab/faults" and method == "POST":
                return self._answer(201, [], proxy.faults.add(json.loads(body or b"{}")))
            if path == "/_lab/faults" and method == "GET":
                return self._answer(200, [], {"rules": proxy.faults.list()})
            if path == "/_lab/faults" and method == "DELETE":
                proxy.faults.clear()
                return self._answer(200, [], {})
        except (ValueError, TypeError) as exc:     # a bad rule, bad JSON, a bad since
            return self._answer(400, [], {"error": str(exc)})
        return self._answer(404, [], {"error": "no such lab endpoint: %s %s" % (method, path)})

    # ------------------------------------------------------------ upstream

    def _upstream_request(self, conn, path, query, body):
        """Send this request on ``conn`` (headers as the client sent them, duplicates kept)."""
        proxy = self.server.proxy
        conn.putrequest(self.command, path + ("?" + query if query else ""))
        rewrite_accept = proxy.has_discovery_groups() and path in ("/api", "/apis")
        for key, value in self.headers.items():
            if key.lower() in NOT_FORWARDED or (rewrite_accept and key.lower() == "accept"):
                continue
            conn.putheader(key, value)
        if rewrite_accept:
            conn.putheader("Accept", LEGACY_DISCOVERY_ACCEPT)
        if body or self.command in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)     # headers and body leave in one send
        return conn.getresponse()

    def _forward(self, path, query, body):
        """Forward over a pooled connection; ``(status, headers, body)``."""
        pool = self.server.proxy.upstream
        conn, reused = pool.get()
        while True:
            try:
                resp = self._upstream_request(conn, path, query, body)
                payload = resp.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                # A pooled connection may have died since its last use; only an
                # idempotent request may be sent again (once, on a new connection).
                if not (reused and self.command in IDEMPOTENT_METHODS):
                    return _unavailable(exc)
                conn, reused = pool.new(), False
        if resp.will_close:
            conn.close()
        else:
            pool.put(conn)
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in NOT_RETURNED]
        if self.command == "HEAD":
            headers += [(k, v) for k, v in resp.getheaders() if k.lower() == "content-length"]
        if path == "/apis" and resp.status == 200:
            payload = self.server.proxy.edit_group_list(payload)
        return resp.status, headers, payload

    def _stream(self, entry, path, query, body, drop_after=False):
        """Relay a watch or follow as it comes, in chunked encoding, on a connection of its own
        (``drop_after``: hang up on both sides as soon as the apiserver has answered)."""
        conn = self.server.proxy.upstream.new(timeout=None)     # a quiet watch is not a dead one
        try:
            resp = self._upstream_request(conn, path, query, body)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            return self._drop() if drop_after else self._answer(*_unavailable(exc), entry)
        if drop_after:
            conn.close()
            return self._drop()
        entry["status"] = resp.status
        self.server.proxy.log.append(entry)     # logged once established: tests wait for their watches
        done = threading.Event()
        try:
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in NOT_RETURNED:
                    self.send_header(key, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            threading.Thread(target=self._end_stream_when_client_leaves, args=(conn, done),
                             name="lab-proxy-stream-watch", daemon=True).start()
            while True:
                chunk = resp.read1(STREAM_CHUNK)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            # the client went away, or the apiserver broke off mid-stream: the
            # client must not mistake a cut stream for a complete one
            self.close_connection = True
        finally:
            done.set()
            conn.close()
        return None

    def _end_stream_when_client_leaves(self, upstream, done):
        """Cut the upstream stream once the client is gone.  A client waiting on a
        stream sends nothing, so its socket turning readable means it closed.
        Without this, a quiet watch would hold its thread and apiserver
        connection until the apiserver's own timeout (up to an hour)."""
        while not done.is_set():
            try:
                if select.select([self.connection], [], [], CLIENT_POLL)[0]:
                    sock = upstream.sock
                    if sock is not None:
                        sock.shutdown(socket.SHUT_RDWR)     # ends the relay's blocking read
                    return
            except (OSError, ValueError):   # the stream ended meanwhile and closed its sockets
                return


def _is_stream(query):
    # the apiserver parses booleans with Go's strconv.ParseBool; the Python client sends "watch=True"
    params = urllib.parse.parse_qs(query)
    return any(value.lower() in ("1", "t", "true") for key in ("watch", "follow") for value in params.get(key, []))


def _unavailable(exc):
    return 503, [], status_body(503, "lab proxy: upstream unavailable: %s" % exc, "ServiceUnavailable")


# ----------------------------------------------------------------- the proxy

class LabProxy:
    """The proxy; ``start()`` serves in daemon threads until ``stop()``."""

    def __init__(self, upstream, certfile, keyfile, upstream_ca=None, host="127.0.0.1", port=0):
        self.upstream = UpstreamPool(upstream, upstream_ca)
        self.log = RequestLog()
        self.faults = FaultRules()
        # Both replaced whole on change (never mutated), so handler threads can read them without a lock.
        self._routes = {}                   # prefix -> handler
        self._discovery = {}                # group name -> (APIGroup, {version: APIResourceList})
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(certfile, keyfile)
        tls.set_alpn_protocols(["http/1.1"])
        self._server = _Server((host, port), self, tls)
        self._thread = None

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, args=(SHUTDOWN_POLL,),
                                        name="lab-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop accepting connections (open ones finish in their daemon threads)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self.upstream.close()

    # ------------------------------------------------------ lab extensions

    def add_route(self, prefix, handler):
        """Serve paths starting with ``prefix`` locally instead of forwarding them:
        ``handler(method, path, query, headers, body) -> (status, headers_dict, body_bytes)``.
        The longest matching prefix wins; faults apply and requests are logged
        (except under /_lab/) as for forwarded ones."""
        self._routes = {**self._routes, prefix: handler}

    def route_for(self, path):
        routes = self._routes
        matches = [prefix for prefix in routes if path.startswith(prefix)]
        return routes[max(matches, key=len)] if matches else None

    def add_discovery_group(self, group_json, resources_json_by_version):
        """Add an APIGroup (name, versions, preferredVersion) to ``GET /apis`` and
        serve ``/apis/<group>`` and ``/apis/<group>/<version>`` (an APIResourceList
        per version) locally."""
        group = {k: v for k, v in group_json.items() if k not in ("kind", "apiVersion")}
        self._discovery = {**self._discovery, group["name"]: (group, dict(resources_json_by_version))}

    def has_discovery_groups(self):
        return bool(self._discovery)

    def discovery_document(self, path):
        """The locally served discovery document for ``path``, or None."""
        parts = path.strip("/").split("/")
        discovery = self._discovery
        if len(parts) not in (2, 3) or parts[0] != "apis" or parts[1] not in discovery:
            return None
        group, versions = discovery[parts[1]]
        if len(parts) == 2:
            return {"kind": "APIGroup", "apiVersion": "v1", **group}
        if parts[2] not in versions:
            return None
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (parts[1], parts[2]),
                **versions[parts[2]]}

    def edit_group_list(self, payload):
        """The upstream ``/apis`` APIGroupList with the registered groups appended."""
        discovery = self._discovery
        if not discovery:
            return payload
        try:
            data = json.loads(payload)
        except ValueError:
            return payload
        if not isinstance(data, dict) or data.get("kind") != "APIGroupList":
            return payload
        groups = data.setdefault("groups", [])
        present = {g.get("name") for g in groups}
        groups.extend(group for name, (group, _versions) in discovery.items() if name not in present)
        return json.dumps(data).encode()


def serve_until_signalled(proxy):
    """Block until SIGTERM or SIGINT, then stop ``proxy`` (the proxy CLI and the lab daemon)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    proxy.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="the apiserver, https://HOST:PORT")
    parser.add_argument("--cert", required=True, help="the proxy's serving certificate (PEM)")
    parser.add_argument("--key", required=True, help="its private key (PEM)")
    parser.add_argument("--upstream-ca", help="CA bundle to verify the apiserver with (default: no verification)")
    parser.add_argument("--port", type=int, default=0, help="listening port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--port-file", help="write the listening port here once serving")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    proxy = LabProxy(args.upstream, args.cert, args.key, args.upstream_ca, port=args.port).start()
    if args.port_file:
        # written whole, then renamed: whoever polls for the file never reads it half-written
        with open(args.port_file + ".tmp", "w", encoding="utf-8") as handle:
            handle.write("%d\n" % proxy.port)
        os.replace(args.port_file + ".tmp", args.port_file)
    serve_until_signalled(proxy)


if __name__ == "__main__":
    main()
