"""A small JSON client for the lab's emulated controllers.

Controllers talk to kube-apiserver directly (not through the lab proxy, so the
proxy's request log holds only what the clients under test sent), with the
controller identity's token and their own field manager, through the official
``kubernetes`` client's REST layer.
"""

import json
import threading

from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

FIELD_MANAGER = "kubevirt-lab-controller"


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


class KubeError(Exception):
    def __init__(self, status, body):
        self.status = status
        self.body = body
        super().__init__("HTTP %s: %s" % (status, body))


def resource_path(group, version, plural, namespace=None, name=None, subresource=None):
    base = "/api/%s" % version if not group else "/apis/%s/%s" % (group, version)
    if namespace:
        base += "/namespaces/%s" % namespace
    base += "/" + plural
    if name:
        base += "/" + name
    if subresource:
        base += "/" + subresource
    return base


class Kube:
    """JSON in, JSON out.  Thread-safe (one urllib3 pool behind it)."""

    def __init__(self, kubeconfig, context=None):
        self.api_client = k8s_config.new_client_from_config(config_file=kubeconfig, context=context)
        self._lock = threading.Lock()

    def as_token(self, token):
        """A client of the same server that authenticates with another bearer token."""
        import copy as _copy
        from kubernetes.client import ApiClient
        conf = _copy.copy(self.api_client.configuration)
        conf.api_key = {"authorization": "Bearer " + token, "BearerToken": "Bearer " + token}
        conf.api_key_prefix = {}
        conf.refresh_api_key_hook = None   # the kubeconfig loader's hook would put the old token back
        clone = Kube.__new__(Kube)
        clone.api_client = ApiClient(configuration=conf)
        clone._lock = threading.Lock()
        return clone

    def request(self, method, path, body=None, query=None, content_type="application/json", timeout=30,
                stream=False):
        url = self.api_client.configuration.host + path
        headers = {"Accept": "application/json", "Content-Type": content_type}
        self.api_client.update_params_for_auth(headers, None, ["BearerToken"], path, method, None)
        params = dict(query or {})
        if method in ("POST", "PUT", "PATCH"):
            params.setdefault("fieldManager", FIELD_MANAGER)
        if params:
            from urllib.parse import urlencode
            url += "?" + urlencode(params)
        try:
            resp = self.api_client.rest_client.pool_manager.request(
                method, url, body=None if body is None else json.dumps(body).encode(), headers=headers,
                preload_content=not stream, timeout=None if stream else timeout)
        except ApiException as exc:  # pragma: no cover - urllib3 raises its own errors
            raise KubeError(exc.status, exc.body)
        if stream:
            return resp
        data = resp.data
        if resp.status == 404:
            raise NotFound(path)
        if resp.status == 409:
            raise Conflict(data.decode(errors="replace"))
        if resp.status >= 400:
            raise KubeError(resp.status, data.decode(errors="replace"))
        return json.loads(data) if data else {}

    # ------------------------------------------------------------ helpers
    def get(self, path):
        return self.request("GET", path)

    def get_or_none(self, path):
        try:
            return self.get(path)
        except NotFound:
            return None

    def list(self, path, **query):
        return self.request("GET", path, query=query)

    def create(self, path, body):
        return self.request("POST", path, body)

    def merge_patch(self, path, patch):
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    def json_patch(self, path, ops):
        return self.request("PATCH", path, ops, content_type="application/json-patch+json")

    def replace(self, path, body):
        return self.request("PUT", path, body)

    def delete(self, path, body=None):
        try:
            return self.request("DELETE", path, body)
        except NotFound:
            return None

    def watch(self, path, resource_version=None, timeout_seconds=300):
        """Yield (type, object) events of a watch until the server ends it."""
        query = {"watch": "true", "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": "true"}
        if resource_version:
            query["resourceVersion"] = resource_version
        resp = self.request("GET", path, query=query, stream=True)
        if resp.status >= 400:
            body = resp.read().decode(errors="replace")
            resp.release_conn()
            raise KubeError(resp.status, body)
        buffer = b""
        try:
            for chunk in resp.stream(4096, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        yield event["type"], event["object"]
        finally:
            resp.release_conn()
