# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""One Kubernetes API session per module run.

The connection is built by kubernetes.core's ``get_api_client`` from the
standard auth options (kubeconfig, context, host, api_key, certificates,
proxy, impersonation, ``K8S_AUTH_*`` variables), so every module of this
collection accepts exactly what ``kubernetes.core.k8s`` accepts.  On top of it
this session adds what bulk, fault-tolerant modules need: raw JSON requests
(no per-object discovery), bounded retries on 429/5xx/timeouts, a count of the
requests made, and the server version for feature gating.

Time bounds: every request has a timeout (``request_timeout``), and a wait loop
runs its requests under its ``Deadline`` (``with session.within(deadline):``),
which cuts each request's timeout and retry back-off to the time left.  This
session's ``RetryPolicy`` is the only retry layer: urllib3's own retries (3 more
tries of a timed-out GET, so 4x the timeout) are switched off.  A TLS
certificate verification error is never retried.
"""


import contextlib
import importlib.util
import json
import socket
import ssl
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import MIN_REQUEST_SECONDS, Deadline, RetryPolicy, policy_for

# kubernetes.core's client and the kubernetes library are imported when the first
# ApiSession is made (load_client_libraries), not when a module starts: a task refused
# for its options, before any request, does not pay for them (about 0.6 s of CPU each).
HAS_K8S_CORE = importlib.util.find_spec("ansible_collections.kubernetes.core") is not None
get_api_client: Any = None   # set by load_client_libraries
Retry: Any = None


# until the libraries are loaded (or without them: the module reports them missing) the
# except clauses below name these stand-ins; load_client_libraries rebinds the names
class DynamicApiError(Exception):
    pass


class TransportError(Exception):
    pass


class NewConnectionError(Exception):
    pass


class ConnectTimeoutError(Exception):
    pass


class ReadTimeoutError(Exception):
    pass


_LOAD_LOCK = threading.Lock()
_LOADED = []  # type: List[bool]


def load_client_libraries() -> None:
    """Import kubernetes.core's ``get_api_client`` and the kubernetes / urllib3
    names this file catches, once (an ImportError leaves the stand-ins)."""
    with _LOAD_LOCK:
        if _LOADED:
            return
        _LOADED.append(True)
        names = {}  # type: Dict[str, Any]
        try:
            from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import (  # noqa: F811
                get_api_client as client_factory)
            names["get_api_client"] = client_factory
        except ImportError:  # pragma: no cover - reported by the module
            pass
        try:
            from kubernetes.dynamic import exceptions as dynamic_exceptions
            from urllib3 import exceptions as transport_exceptions
            from urllib3.util import retry as urllib3_retry
        except ImportError:  # pragma: no cover - reported by the module
            pass
        else:
            names.update(DynamicApiError=dynamic_exceptions.DynamicApiError, TransportError=transport_exceptions.HTTPError,
                         NewConnectionError=transport_exceptions.NewConnectionError,
                         ConnectTimeoutError=transport_exceptions.ConnectTimeoutError,
                         ReadTimeoutError=transport_exceptions.ReadTimeoutError, Retry=urllib3_retry.Retry)
        globals().update(names)


WRITE_METHODS = frozenset(["POST", "PUT", "PATCH", "DELETE"])
JSON = "application/json"
# JSON first, then anything: KubeVirt's virt-api declares no representation for its
# PUT subresources (restart, migrate, ... in pkg/virt-api/api.go), so go-restful answers
# 406 to a request that accepts only application/json; kubectl and virtctl send the same
ACCEPT = "application/json, */*"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
# seconds one request may take (connect + answer) unless request_timeout says otherwise
# (args.DEFAULT_REQUEST_TIMEOUT, the option's default)
DEFAULT_REQUEST_TIMEOUT = 60


class ApiError(Exception):
    """A failed API call, carrying the server's Status (message passed through).
    ``sent`` is False when the request never left (its wait had ended)."""

    sent = True

    def __init__(self, method: str, path: str, status: Optional[int] = None, body: Any = None,
                 message: Optional[str] = None) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.reason = self.body.get("reason")
        self.details = self.body.get("details") or {}
        self.message = message or self.body.get("message") or (body if isinstance(body, str) else None) \
            or "HTTP %s" % status
        super(ApiError, self).__init__("%s %s failed (%s%s): %s" % (
            method, path, status, " " + self.reason if self.reason else "", self.message))

    @property
    def causes(self) -> List[Dict[str, Any]]:
        return self.details.get("causes") or []

    def report(self, context: Optional[str] = None) -> Dict[str, Any]:
        """The failure as a module result: ``msg`` ("Kubernetes API error: ..."
        with method, path, status, reason and the server's message, after
        ``context`` when given) and ``status``, ``reason``, ``message`` as
        fields.  The one formatter of API errors."""
        text = "Kubernetes API error: %s" % self
        return {"msg": "%s: %s" % (context, text) if context else text,
                "status": self.status, "reason": self.reason, "message": self.message}


def _decode(data: Any) -> Any:
    if not data:
        return {}
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    try:
        return json.loads(data)
    except ValueError:
        return data


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (urllib3's MaxRetryError.reason,
    __cause__, __context__, exception arguments)."""
    seen: Set[int] = set()
    stack: List[Any] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
        stack.extend(arg for arg in getattr(item, "args", ()) if isinstance(arg, BaseException))


def tls_verify_error(exc: BaseException) -> Optional[BaseException]:
    """The certificate verification failure inside a transport error, else
    None.  Such an error never heals by retrying."""
    for item in _causes(exc):
        if isinstance(item, ssl.SSLCertVerificationError) or type(item).__name__ == "CertificateError":
            return item
        text = str(item)
        if isinstance(item, ssl.SSLError) or type(item).__name__ == "SSLError":
            if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
                return item
    return None


def _is_a(exc: BaseException, kinds: Union[type, Tuple[type, ...]]) -> bool:
    return any(isinstance(item, kinds) for item in _causes(exc))


def tls_message(host: Optional[str], cause: BaseException) -> str:
    reason = getattr(cause, "verify_message", None) or str(cause)
    return ("TLS certificate verification of the API server %sfailed (%s); retrying cannot heal this, so the task "
            "stops here: trust the CA that signed the server's certificate with ca_cert (or the kubeconfig's "
            "certificate-authority, or K8S_AUTH_SSL_CA_CERT), or, for a test cluster only, set "
            "validate_certs=false" % ("%s " % host if host else "", reason))


STRICT_METHODS = ("POST", "PUT", "PATCH")
SUBRESOURCE_PREFIX = "/apis/subresources.kubevirt.io/"
INSECURE_WARNING = ("validate_certs=false: the API server's TLS certificate is not verified, so anyone on the path "
                    "can read and change this task's requests, tokens included; trust its CA with ca_cert instead")


def _single_retry_layer(dynamic: Any) -> None:
    """Switch off urllib3's own retries (kubernetes' PoolManager keeps urllib3's
    default: 3 more tries, so a GET that times out would take 4x
    request_timeout, and TLS failures would be repeated); ``RetryPolicy``
    decides alone."""
    manager = getattr(getattr(getattr(dynamic, "client", None), "rest_client", None), "pool_manager", None)
    if manager is None or Retry is None or not hasattr(manager, "connection_pool_kw"):
        return
    manager.connection_pool_kw["retries"] = Retry(total=0, redirect=False, raise_on_redirect=False)
    manager.clear()  # pools made before (discovery) keep the retries they were made with


class ApiSession:
    """Raw, retrying access to the Kubernetes API for one module run."""

    def __init__(self, module: Any, policy: Optional[RetryPolicy] = None, sleep: Callable[[float], None] = time.sleep,
                 dynamic_client: Any = None) -> None:
        self.module = module
        params = getattr(module, "params", None) or {}
        self.policy = policy or policy_for(params.get("api_retries"))
        self.request_timeout = params.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT
        self._sleep = sleep
        load_client_libraries()
        if dynamic_client is None:
            # kubernetes.core's client reads the API's discovery documents (when not cached) with
            # no timeout: bound each socket operation of those requests by request_timeout too
            previous = socket.getdefaulttimeout()
            socket.setdefaulttimeout(self.request_timeout)
            try:
                dynamic_client = get_api_client(module=module).client
            finally:
                socket.setdefaulttimeout(previous)
            _single_retry_layer(dynamic_client)
        self.dynamic = dynamic_client
        self.requests: List[Tuple[str, str, Optional[int]]] = []  # (method, path, status) of every attempt, for RETURN and tests
        self.retries = 0
        self._version: Optional[Tuple[int, int]] = None
        self._local = threading.local()  # the deadline of the wait this thread is in
        self._warn_if_insecure()

    def _warn_if_insecure(self) -> None:
        """One warning per task when certificates are not verified (the option,
        K8S_AUTH_VERIFY_SSL or the kubeconfig's insecure-skip-tls-verify)."""
        config = getattr(self.dynamic, "configuration", None)
        insecure = (getattr(self.module, "params", None) or {}).get("validate_certs") is False or \
            getattr(config, "verify_ssl", True) is False
        if insecure and hasattr(self.module, "warn") and not getattr(self.module, "_kubevirt_net_insecure_warned", False):
            self.module.warn(INSECURE_WARNING)
            self.module._kubevirt_net_insecure_warned = True  # pylint: disable=protected-access

    # -------------------------------------------------------------- deadline
    @contextlib.contextmanager
    def within(self, deadline: Deadline) -> Iterator[Deadline]:
        """Requests made in this block (by this thread) end by ``deadline``:
        their timeout and their retry back-off are cut to the time left, and a
        request is not sent once it has passed."""
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = deadline
        try:
            yield deadline
        finally:
            self._local.deadline = previous

    @property
    def deadline(self) -> Optional[Deadline]:
        return getattr(self._local, "deadline", None)

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, cut to the deadline of the current wait."""
        deadline = self.deadline
        seconds = deadline.cut(seconds) if deadline is not None else seconds
        if seconds > 0:
            self._sleep(seconds)

    def conflict_pause(self, attempt: int) -> None:
        """Back off after the ``attempt``-th lost race (409 Conflict) before the
        object is read again and the write retried: jittered exponential
        (``RetryPolicy.conflict_delay``).  Every conflict-retry loop calls this."""
        self.pause(self.policy.conflict_delay(attempt))

    # ---------------------------------------------------------------- basics
    @property
    def write_count(self) -> int:
        return sum(1 for method, _path, _status in self.requests if method in WRITE_METHODS)

    def request(self, method: str, path: str, body: Any = None, query: Optional[Dict[str, Any]] = None,
                content_type: Optional[str] = None, retry_unsafe: bool = False, timeout: Optional[float] = None) -> Any:
        """Send one API request; return the decoded JSON answer.

        Retries 429/5xx answers and (for idempotent methods, or when
        ``retry_unsafe``) transport errors, under ``self.policy``.  Raises
        ``ApiError`` with the server's Status otherwise.
        """
        method = method.upper()
        query = dict(query or {})
        if method in STRICT_METHODS and not path.startswith(SUBRESOURCE_PREFIX):
            # a field the schema does not know is an error, not a silent drop (Kubernetes
            # 1.25+, GA in 1.27; older servers ignore the parameter)
            query.setdefault("fieldValidation", "Strict")
        query_params = [(k, v) for k, v in query.items() if v is not None]
        params: Dict[str, Any] = {"query_params": query_params, "serialize": False,
                                  "header_params": {"Accept": ACCEPT}}
        if content_type:
            params["content_type"] = content_type
        timeout = timeout or self.request_timeout
        attempt = 0
        while True:
            attempt += 1
            params["_request_timeout"] = self._timeout(method, path, timeout)
            try:
                response = self.dynamic.request(method, path, body=body, **params)
                self.requests.append((method, path, response.status))
                return _decode(response.data)
            except DynamicApiError as exc:
                status = getattr(exc, "status", None)
                self.requests.append((method, path, status))
                headers = getattr(exc, "headers", None) or {}
                if not self.policy.should_retry(attempt, method, status=status):
                    raise ApiError(method, path, status, _decode(getattr(exc, "body", None)))
                delay = self.policy.delay(attempt, headers.get("Retry-After"))
                if not self._time_for(delay):
                    raise ApiError(method, path, status, _decode(getattr(exc, "body", None)))
                self._backoff(delay)
            except TransportError as exc:
                self.requests.append((method, path, None))
                tls = tls_verify_error(exc)
                if tls is not None:
                    raise ApiError(method, path, None, message=tls_message(
                        getattr(getattr(self.dynamic, "configuration", None), "host", None), tls))
                # a connection that was never made carried no request: safe to repeat for any method
                not_sent = _is_a(exc, (NewConnectionError, ConnectTimeoutError)) and not _is_a(exc, ReadTimeoutError)
                message = "connection failed: %s" % exc
                if _is_a(exc, (ReadTimeoutError, ConnectTimeoutError)) and not _is_a(exc, NewConnectionError):
                    message = "no answer within %ss (request_timeout%s): %s" % (
                        round(params["_request_timeout"], 2),
                        ", cut to the end of the wait" if params["_request_timeout"] < timeout else "", exc)
                if not self.policy.should_retry(attempt, method, transport_error=True,
                                                retry_unsafe=retry_unsafe or not_sent):
                    raise ApiError(method, path, None, message=message)
                delay = self.policy.delay(attempt, None)
                if not self._time_for(delay):
                    raise ApiError(method, path, None, message=message)
                self._backoff(delay)

    def _timeout(self, method: str, path: str, timeout: float) -> float:
        """The timeout of the next try: ``timeout``, cut to the current deadline;
        ``ApiError`` (not sent) when the deadline has passed."""
        deadline = self.deadline
        if deadline is None:
            return timeout
        left = deadline.remaining()
        if left < MIN_REQUEST_SECONDS:
            err = ApiError(method, path, None, message="not sent: the wait of %ss has ended" % (deadline.seconds,))
            err.sent = False
            raise err
        return min(timeout, left)

    def _time_for(self, delay: float) -> bool:
        """Whether a retry after ``delay`` seconds still fits in the current wait."""
        deadline = self.deadline
        return deadline is None or deadline.remaining() - delay >= MIN_REQUEST_SECONDS

    def _backoff(self, delay: float) -> None:
        self.retries += 1
        self._sleep(delay)

    def get(self, path: str, query: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
        """GET an object; None when it does not exist."""
        try:
            return self.request("GET", path, query=query)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def list(self, path: str, label_selector: Optional[str] = None, field_selector: Optional[str] = None,
             page_size: int = 500) -> List[Dict[str, Any]]:
        """All items of a collection, following ``continue`` tokens."""
        items: List[Dict[str, Any]] = []
        token = None
        while True:
            answer = self.request("GET", path, query={
                "labelSelector": label_selector, "fieldSelector": field_selector,
                "limit": page_size, "continue": token})
            items.extend(answer.get("items") or [])
            token = (answer.get("metadata") or {}).get("continue")
            if not token:
                return items

    # --------------------------------------------------------------- version
    def server_version(self) -> Tuple[int, int]:
        """(major, minor) of the API server, e.g. (1, 20)."""
        if self._version is None:
            info = self.request("GET", "/version")
            self._version = parse_server_version(info)
        return self._version

    def require_server(self, minimum: Sequence[int], feature: str) -> None:
        """Raise ``UnsupportedByServer`` when the API server is older than ``minimum``."""
        version = self.server_version()
        if version < tuple(minimum):
            raise UnsupportedByServer(feature, minimum, version)


class UnsupportedByServer(Exception):
    def __init__(self, feature: str, minimum: Sequence[int], actual: Tuple[int, int]) -> None:
        self.feature = feature
        super(UnsupportedByServer, self).__init__(
            "%s needs Kubernetes %d.%d or newer; this API server is %d.%d" % (
                feature, minimum[0], minimum[1], actual[0], actual[1]))


def parse_server_version(info: Dict[str, Any]) -> Tuple[int, int]:
    """(major, minor) from a /version answer; tolerates '20+' style minors."""
    def number(text: Any) -> int:
        digits = ""
        for char in str(text or ""):
            if not char.isdigit():
                break
            digits += char
        return int(digits or 0)

    major, minor = number(info.get("major")), number(info.get("minor"))
    if not major and info.get("gitVersion"):
        parts = info["gitVersion"].lstrip("v").split(".")
        major, minor = number(parts[0]), number(parts[1] if len(parts) > 1 else 0)
    return (major, minor)
