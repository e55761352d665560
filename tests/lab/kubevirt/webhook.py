"""KubeVirt's admission webhooks for the lab: an HTTPS AdmissionReview server
on 127.0.0.1 (lab server certificate) registered with kube-apiserver as real
``ValidatingWebhookConfiguration`` ``virt-api-validator`` and
``MutatingWebhookConfiguration`` ``virt-api-mutator``, with KubeVirt's webhook
names and paths (``pkg/virt-operator/resource/generate/components/webhooks.go``,
v1.9.0) but a ``url`` client config instead of the virt-api Service.

kube-apiserver calls it for every VM, VMI and VirtualMachineClone write and
turns a denial into the error the client sees (422 Invalid with KubeVirt's
causes, or 400).  The rules are in tests/lab/kubevirt/admission.py; the
cluster configuration comes from the KubeVirt CR read per review.
"""

import base64
import http.server
import json
import logging
import ssl
import threading
import time

from . import admission
from .capabilities import KUBEVIRT_PATH, NAMESPACE
from .kapi import Conflict, KubeError
from ..pki import IDENTITIES

log = logging.getLogger("lab.kubevirt.webhook")

VALIDATOR = "virt-api-validator"
MUTATOR = "virt-api-mutator"
KUBEVIRT_VERSIONS = ["v1alpha3", "v1"]
# the identities KubeVirt's own components use in the lab (the emulator's)
KUBEVIRT_USERS = frozenset([IDENTITIES["controller"][0]])

# name, path, operations, group, versions, resource
VALIDATING = [
    ("virtualmachineinstances-create-validator.kubevirt.io", "/virtualmachineinstances-validate-create",
     ["CREATE"], "kubevirt.io", KUBEVIRT_VERSIONS, "virtualmachineinstances"),
    ("virtualmachineinstances-update-validator.kubevirt.io", "/virtualmachineinstances-validate-update",
     ["UPDATE"], "kubevirt.io", KUBEVIRT_VERSIONS, "virtualmachineinstances"),
    ("virtualmachine-validator.kubevirt.io", "/virtualmachines-validate",
     ["CREATE", "UPDATE"], "kubevirt.io", KUBEVIRT_VERSIONS, "virtualmachines"),
    ("vm-clone-validator.kubevirt.io", "/vm-clone-validate-create",
     ["CREATE", "UPDATE"], "clone.kubevirt.io", ["v1beta1"], "virtualmachineclones"),
]
MUTATING = [
    ("virtualmachines-mutator.kubevirt.io", "/virtualmachines-mutate",
     ["CREATE", "UPDATE"], "kubevirt.io", KUBEVIRT_VERSIONS, "virtualmachines"),
    ("virtualmachineclones-mutator.kubevirt.io", "/vm-clone-mutate-create",
     ["CREATE"], "clone.kubevirt.io", ["v1beta1", "v1alpha1"], "virtualmachineclones"),
]


def review_response(path, request, cluster):
    """The AdmissionResponse (without uid) for a request to ``path``."""
    operation = request.get("operation")
    obj, old = request.get("object") or {}, request.get("oldObject") or {}
    if path == "/virtualmachineinstances-validate-create":
        return admission.admit_vmi_create(obj, cluster)
    if path == "/virtualmachineinstances-validate-update":
        username = (request.get("userInfo") or {}).get("username")
        return admission.admit_vmi_update(obj, old, username, KUBEVIRT_USERS)
    if path == "/virtualmachines-validate":
        return admission.admit_vm(operation, obj, cluster)
    if path == "/vm-clone-validate-create":
        return admission.admit_clone(operation, obj, cluster)
    if path == "/virtualmachines-mutate":
        return admission.allowed(patch=admission.mutate_vm(operation, obj, cluster))
    if path == "/vm-clone-mutate-create":
        return admission.allowed(patch=admission.mutate_clone(obj))
    return admission.error("no admission webhook at %s" % path)


def webhook_configurations(url, ca_bundle):
    """The two WebhookConfiguration objects for a server at ``url``."""

    def hooks(table):
        return [{
            "name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Fail",
            "timeoutSeconds": 10, "matchPolicy": "Equivalent",
            "rules": [{"operations": operations, "apiGroups": [group], "apiVersions": versions,
                       "resources": [resource], "scope": "*"}],
            "clientConfig": {"url": url + path, "caBundle": ca_bundle},
        } for name, path, operations, group, versions, resource in table]

    labels = {"kubevirt.io": "virt-api", "app.kubernetes.io/managed-by": "virt-operator"}
    return (
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": VALIDATOR, "labels": labels}, "webhooks": hooks(VALIDATING)},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": MUTATOR, "labels": labels}, "webhooks": hooks(MUTATING)},
    )


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, cluster_info):
        self.cluster_info = cluster_info
        super().__init__(address, handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def do_POST(self):  # pylint: disable=invalid-name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        try:
            review = json.loads(body)
            request = review["request"]
            response = review_response(path, request, self.server.cluster_info())
        except Exception as exc:  # pylint: disable=broad-except
            log.exception("admission review for %s failed", path)
            request, response = {}, admission.error("lab admission webhook: %s" % exc)
        if response.get("patch") is not None:
            response["patch"] = base64.b64encode(json.dumps(response["patch"]).encode()).decode()
        response["uid"] = request.get("uid", "")
        payload = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                              "response": response}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Webhook:
    def __init__(self, kube, config, pki_paths):
        self.kube = kube
        self.config = config
        self.server = _Server(("127.0.0.1", 0), _Handler, self.cluster_info)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki_paths["server.crt"], pki_paths["server.key"])
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        with open(pki_paths["ca.crt"], "rb") as handle:
            self.ca_bundle = base64.b64encode(handle.read()).decode()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.server.server_address[1]

    def cluster_info(self):
        """KubeVirt's cluster config, as virt-api sees it: the CR."""
        return admission.ClusterInfo(self.kube.get_or_none(KUBEVIRT_PATH), self.config.get("kubevirt_version"))

    def start(self):
        threading.Thread(target=self.server.serve_forever, name="lab-webhook", daemon=True).start()

    def register(self):
        for body in webhook_configurations(self.url, self.ca_bundle):
            plural = body["kind"].lower() + "s"
            base = "/apis/admissionregistration.k8s.io/v1/" + plural
            try:
                self.kube.create(base, body)
            except Conflict:
                current = self.kube.get(base + "/" + body["metadata"]["name"])
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                self.kube.replace(base + "/" + body["metadata"]["name"], body)

    def wait_active(self, timeout=30.0):
        """Until kube-apiserver calls both configurations (it picks them up
        asynchronously): a dry-run VM gets the mutator's defaults, and one
        whose interface has no network is refused."""
        vms = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines" % NAMESPACE

        def probe(interfaces):
            return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                    "metadata": {"name": "lab-webhook-probe"},
                    "spec": {"runStrategy": "Halted",
                             "template": {"spec": {"domain": {"devices": {"interfaces": interfaces}}}}}}

        deadline = time.monotonic() + timeout
        while True:
            mutated = False
            try:
                created = self.kube.request("POST", vms, probe([]), query={"dryRun": "All"})
                mutated = created["spec"]["template"]["spec"].get("architecture") == "amd64"
                self.kube.request("POST", vms, probe([{"name": "probe", "bridge": {}}]), query={"dryRun": "All"})
            except KubeError as exc:
                if mutated and exc.status == 422 and "not found" in exc.body:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("kube-apiserver does not call the lab admission webhooks")
            time.sleep(0.05)


def start(ctx):
    webhook = Webhook(ctx.kube, ctx.config, ctx.state["pki"])
    webhook.start()
    webhook.register()
    webhook.wait_active()
    log.info("admission webhooks at %s", webhook.url)
    return webhook
