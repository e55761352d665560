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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import policy_for

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    HAS_K8S_CORE = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_K8S_CORE = False

try:
    from kubernetes.dynamic.exceptions import DynamicApiError
    from urllib3.exceptions import HTTPError as TransportError
    HAS_KUBERNETES = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_KUBERNETES = False

    class DynamicApiError(Exception):
        pass

    class TransportError(Exception):
        pass

WRITE_METHODS = frozenset(["POST", "PUT", "PATCH", "DELETE"])
JSON = "application/json"
# JSON first, then anything: KubeVirt's virt-api declares no representation for its
# PUT subresources (restart, migrate, ... in pkg/virt-api/api.go), so go-restful answers
# 406 to a request that accepts only application/json; kubectl and virtctl send the same
ACCEPT = "application/json, */*"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class ApiError(Exception):
    """A failed API call, carrying the server's Status (message passed through)."""

    def __init__(self, method, path, status=None, body=None, message=None):
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
    def causes(self):
        return self.details.get("causes") or []


def _decode(data):
    if not data:
        return {}
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    try:
        return json.loads(data)
    except ValueError:
        return data


STRICT_METHODS = ("POST", "PUT", "PATCH")
SUBRESOURCE_PREFIX = "/apis/subresources.kubevirt.io/"


class ApiSession(object):
    """Raw, retrying access to the Kubernetes API for one module run."""

    def __init__(self, module, policy=None, sleep=time.sleep, dynamic_client=None):
        self.module = module
        self.policy = policy or policy_for(module.params.get("api_retries"))
        self._sleep = sleep
        if dynamic_client is None:
            dynamic_client = get_api_client(module=module).client
        self.dynamic = dynamic_client
        self.requests = []  # (method, path, status) of every attempt, for RETURN and tests
        self.retries = 0
        self._version = None

    # ---------------------------------------------------------------- basics
    @property
    def write_count(self):
        return sum(1 for method, _path, _status in self.requests if method in WRITE_METHODS)

    def request(self, method, path, body=None, query=None, content_type=None, retry_unsafe=False,
                timeout=None):
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
        params = {"query_params": query_params, "serialize": False,
                  "header_params": {"Accept": ACCEPT}}
        if content_type:
            params["content_type"] = content_type
        if timeout:
            params["_request_timeout"] = timeout
        attempt = 0
        while True:
            attempt += 1
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
                self._backoff(attempt, headers.get("Retry-After"))
            except TransportError as exc:
                self.requests.append((method, path, None))
                if not self.policy.should_retry(attempt, method, transport_error=True,
                                                retry_unsafe=retry_unsafe):
                    raise ApiError(method, path, None, message="connection failed: %s" % exc)
                self._backoff(attempt, None)

    def _backoff(self, attempt, retry_after):
        self.retries += 1
        self._sleep(self.policy.delay(attempt, retry_after))

    def get(self, path, query=None):
        """GET an object; None when it does not exist."""
        try:
            return self.request("GET", path, query=query)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def list(self, path, label_selector=None, field_selector=None, page_size=500):
        """All items of a collection, following ``continue`` tokens."""
        items, token = [], None
        while True:
            answer = self.request("GET", path, query={
                "labelSelector": label_selector, "fieldSelector": field_selector,
                "limit": page_size, "continue": token})
            items.extend(answer.get("items") or [])
            token = (answer.get("metadata") or {}).get("continue")
            if not token:
                return items

    # --------------------------------------------------------------- version
    def server_version(self):
        """(major, minor) of the API server, e.g. (1, 20)."""
        if self._version is None:
            info = self.request("GET", "/version")
            self._version = parse_server_version(info)
        return self._version

    def require_server(self, minimum, feature):
        """Raise ``UnsupportedByServer`` when the API server is older than ``minimum``."""
        version = self.server_version()
        if version < tuple(minimum):
            raise UnsupportedByServer(feature, minimum, version)


class UnsupportedByServer(Exception):
    def __init__(self, feature, minimum, actual):
        self.feature = feature
        super(UnsupportedByServer, self).__init__(
            "%s needs Kubernetes %d.%d or newer; this API server is %d.%d" % (
                feature, minimum[0], minimum[1], actual[0], actual[1]))


def parse_server_version(info):
    """(major, minor) from a /version answer; tolerates '20+' style minors."""
    def number(text):
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
