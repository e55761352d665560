"""KubeVirt's aggregated ``subresources.kubevirt.io/v1`` API, served by the lab
proxy (this apiserver cannot route an APIService): PUT
``.../virtualmachines/{name}/start|stop|restart|migrate``.  The change is made
with the caller's own token, so RBAC applies as with virt-api (the read-only
viewer gets 403).  Messages are KubeVirt's (pkg/virt-api/rest/subresource.go)."""

import json
import re

from kubernetes import client as k8s_client

GROUP = "subresources.kubevirt.io"
ROUTE = re.compile(r"^/apis/subresources\.kubevirt\.io/v1/namespaces/([^/]+)/virtualmachines/([^/]+)/"
                   r"(start|stop|restart|migrate)$")


def _status(code, message, reason):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return code, {"Content-Type": "application/json"}, json.dumps(body).encode()


class Subresources:
    def __init__(self, ctx):
        self.ctx = ctx
        self.host = "https://127.0.0.1:%d" % ctx.state["apiserver_port"]
        self.ca = ctx.state["pki"]["ca.crt"]

    def _call(self, token, method, path, body=None, content_type="application/merge-patch+json"):
        config = k8s_client.Configuration()
        config.host = self.host
        config.ssl_ca_cert = self.ca
        api = k8s_client.ApiClient(config)
        headers = {"Authorization": token, "Accept": "application/json", "Content-Type": content_type}
        resp = api.rest_client.pool_manager.request(method, self.host + path, headers=headers,
                                                    body=None if body is None else json.dumps(body).encode())
        data = json.loads(resp.data or b"{}")
        return resp.status, data

    def handle(self, method, path, query, headers, body):  # pylint: disable=unused-argument
        match = ROUTE.match(path)
        if not match:
            return _status(404, "the server could not find the requested resource", "NotFound")
        if method != "PUT":
            return _status(405, "method %s not allowed" % method, "MethodNotAllowed")
        namespace, name, action = match.groups()
        token = headers.get("Authorization") or headers.get("authorization") or ""
        vm_path = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines/%s" % (namespace, name)
        code, vm = self._call(token, "GET", vm_path)
        if code != 200:
            return code, {"Content-Type": "application/json"}, json.dumps(vm).encode()
        spec = vm.get("spec") or {}
        status = vm.get("status") or {}
        running = status.get("printableStatus") not in (None, "Stopped") or bool(status.get("created"))
        strategy = spec.get("runStrategy") or ("Always" if spec.get("running") else "Halted")
        if action == "start":
            if running or strategy in ("Always", "RerunOnFailure"):
                return _status(409, "VM is already running", "Conflict")
            patch = {"spec": {"runStrategy": "Always"}} if strategy == "Halted" else None
        elif action == "stop":
            if not running and strategy in ("Halted", "Manual"):
                return _status(409, "VM is not running", "Conflict")
            patch = {"spec": {"runStrategy": "Halted"}} if strategy != "Manual" else None
        elif action == "restart":
            if not running:
                return _status(409, "VM is not running", "Conflict")
            code, answer = self._call(token, "DELETE", "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s"
                                      % (namespace, name), content_type="application/json")
            return (200, {"Content-Type": "application/json"}, b"{}") if code < 300 else \
                (code, {"Content-Type": "application/json"}, json.dumps(answer).encode())
        else:  # migrate
            if not running:
                return _status(409, "VM is not running", "Conflict")
            code, answer = self._call(token, "POST", "/apis/kubevirt.io/v1/namespaces/%s/"
                                      "virtualmachineinstancemigrations" % namespace,
                                      {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
                                       "metadata": {"generateName": "kubevirt-migrate-vm-"},
                                       "spec": {"vmiName": name}}, content_type="application/json")
            return (200, {"Content-Type": "application/json"}, b"{}") if code < 300 else \
                (code, {"Content-Type": "application/json"}, json.dumps(answer).encode())
        if patch is None:  # Manual: a state change request, as virt-api does
            code, answer = self._call(token, "PATCH", vm_path + "/status", {"status": {"stateChangeRequests": [
                {"action": "Start" if action == "start" else "Stop"}]}})
        else:
            code, answer = self._call(token, "PATCH", vm_path, patch)
        if code >= 300:
            return code, {"Content-Type": "application/json"}, json.dumps(answer).encode()
        return 200, {"Content-Type": "application/json"}, b"{}"


def start(ctx):
    subresources = Subresources(ctx)
    ctx.proxy.add_route("/apis/subresources.kubevirt.io/v1/", subresources.handle)
    resources = [{"name": "virtualmachines/%s" % verb, "singularName": "", "namespaced": True, "kind": "",
                  "verbs": ["update"]} for verb in ("start", "stop", "restart", "migrate")]
    ctx.proxy.add_discovery_group(
        {"name": GROUP, "versions": [{"groupVersion": GROUP + "/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": GROUP + "/v1", "version": "v1"}},
        {"v1": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP + "/v1",
                "resources": resources}})
    return subresources
