"""Cluster add-ons that mutate pods on a real KubeVirt cluster, as one HTTPS
admission webhook server in the lab daemon (their images do not run here):

- network-resources-injector (capability ``network_resources_injector``;
  MutatingWebhookConfiguration ``network-resources-injector-config``, as the
  SR-IOV network operator deploys it): adds the NADs' device-plugin resources
  to a pod's first container (``net_launcher.injected_resources``);
- Istio's sidecar injector (capability ``istio``; ``istio-sidecar-injector``,
  webhooks ``namespace.``/``object.sidecar-injector.istio.io``): adds the
  ``istio-proxy`` container (``net_launcher.istio_injects``).

Both are real webhook configurations that kube-apiserver calls on pod
CREATE, so KubeVirt's launcher pods (rendered by the real virt-controller)
get what they would get on a cluster with those add-ons, and nothing when
the capability is off (the configuration is deleted).
"""

import base64
import http.server
import json
import logging
import ssl
import threading

from . import net_launcher
from .kapi import Conflict, KubeError, NotFound

log = logging.getLogger("lab.kubevirt.addons")

ADM = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
INJECTOR = "network-resources-injector-config"
ISTIO = "istio-sidecar-injector"
ISTIO_PROXY_IMAGE = "docker.io/istio/proxyv2:1.26.0"


def _pod_rule():
    return [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
             "scope": "Namespaced"}]


def _json_patch_response(uid, ops):
    response = {"uid": uid, "allowed": True}
    if ops:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
    return response


class Addons:
    def __init__(self, kube, config, pki_paths):
        self.kube = kube
        self.config = config
        addons = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

            def do_POST(self):  # pylint: disable=invalid-name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = json.loads(body).get("request") or {}
                try:
                    ops = addons.mutate(self.path.split("?", 1)[0], request.get("object") or {},
                                        request.get("namespace"))
                except Exception:  # pylint: disable=broad-except
                    log.exception("add-on webhook %s failed", self.path)
                    ops = []
                payload = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                      "response": _json_patch_response(request.get("uid", ""), ops)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki_paths["server.crt"], pki_paths["server.key"])
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        with open(pki_paths["ca.crt"], "rb") as handle:
            self.ca_bundle = base64.b64encode(handle.read()).decode()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.server.server_address[1]

    # ------------------------------------------------------------ mutation
    def mutate(self, path, pod, namespace):
        pod.setdefault("metadata", {}).setdefault("namespace", namespace)
        if path == "/inject-resources":
            return self._resources(pod)
        if path == "/inject-istio":
            return self._istio(pod, namespace)
        return []

    def _resources(self, pod):
        nads = {}
        for selection in net_launcher.pod_selections(pod):
            ref = (selection.get("namespace") or pod["metadata"]["namespace"], selection["name"])
            nads[ref] = self.kube.get_or_none(
                "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/%s" % ref)
        needed = net_launcher.injected_resources(pod, nads)
        if not needed:
            return []
        resources = (pod["spec"]["containers"][0].get("resources") or {})
        ops = []
        if not resources:
            ops.append({"op": "add", "path": "/spec/containers/0/resources", "value": {}})
        for part in ("requests", "limits"):
            current = dict(resources.get(part) or {})
            current.update({name: str(count) for name, count in needed.items()})
            ops.append({"op": "add", "path": "/spec/containers/0/resources/" + part, "value": current})
        return ops

    def _istio(self, pod, namespace):
        ns = self.kube.get_or_none("/api/v1/namespaces/" + namespace) or {}
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if not net_launcher.istio_injects(True, (ns.get("metadata") or {}).get("labels") or {}, labels):
            return []
        if any(c.get("name") == "istio-proxy" for c in pod["spec"].get("containers") or []):
            return []
        return [{"op": "add", "path": "/spec/containers/-",
                 "value": {"name": "istio-proxy", "image": ISTIO_PROXY_IMAGE, "args": ["proxy", "sidecar"]}}]

    # ------------------------------------------------------- registration
    def apply(self, values):
        self._set(INJECTOR, bool(values.get("network_resources_injector")), {
            "metadata": {"name": INJECTOR, "labels": {"app": "network-resources-injector"}},
            "webhooks": [self._hook("network-resources-injector-config.k8s.io", "/inject-resources")]})
        self._set(ISTIO, bool(values.get("istio")), {
            "metadata": {"name": ISTIO, "labels": {"app": "sidecar-injector", "istio.io/rev": "default"}},
            "webhooks": [self._hook("namespace.sidecar-injector.istio.io", "/inject-istio")]})

    def _hook(self, name, path):
        return {"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                "failurePolicy": "Ignore", "reinvocationPolicy": "IfNeeded",
                "clientConfig": {"url": self.url + path, "caBundle": self.ca_bundle}, "rules": _pod_rule()}

    def _set(self, name, enabled, body):
        path = ADM + "/" + name
        if not enabled:
            try:
                self.kube.delete(path)
            except NotFound:
                pass
            return
        body = dict(body, apiVersion="admissionregistration.k8s.io/v1", kind="MutatingWebhookConfiguration")
        try:
            self.kube.create(ADM, body)
        except Conflict:
            current = self.kube.get(path)
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.kube.replace(path, body)

    def start(self):
        threading.Thread(target=self.server.serve_forever, name="lab-addons", daemon=True).start()


def start(ctx):
    addons = Addons(ctx.kube, ctx.config, ctx.state["pki"])
    addons.start()
    addons.apply(ctx.config.snapshot())

    def listener(changes):
        if {"istio", "network_resources_injector"} & set(changes):
            try:
                addons.apply(ctx.config.snapshot())
            except KubeError as exc:
                log.error("re-applying the add-on webhooks failed: %s", exc)

    ctx.config.on_change(listener)
    return addons
