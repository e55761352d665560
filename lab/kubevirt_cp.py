"""KubeVirt v1.9.0's own control plane in the lab: what virt-operator would
install, and virt-api and virt-controller as local processes.

virt-operator is not run (it wants to deploy images); the lab does its part:

- the objects of virt-operator's install strategy, printed by ``labinstall``
  (lab/build/kubevirt/labinstall, calling
  ``pkg/virt-operator/resource/generate/install.GenerateCurrentInstallStrategy``):
  every KubeVirt CRD, the service accounts with their RBAC, the
  ValidatingAdmissionPolicies, the virt-api webhook configurations and the
  ``v1.subresources.kubevirt.io`` APIService;
- certificates: virt-api's serving certificate (lab CA) and the
  ``kubevirt-ca`` ConfigMap virt-api reads (``--ca-configmap-name``);
- the webhooks point at virt-api through a ``url`` client config
  (``https://127.0.0.1:<port><path>``) instead of the virt-api Service; the
  APIService keeps its Service, which is an ExternalName service for
  ``localhost``: kube-apiserver's aggregator resolves it to the local virt-api
  (k8s.io/apiserver pkg/util/proxy ``ResolveCluster``), so subresource calls
  take the real path: aggregator, front-proxy client certificate, virt-api's
  requestheader authentication and its SubjectAccessReview;
- virt-api and virt-controller run with kubeconfigs holding tokens of their
  own service accounts (``kubevirt-apiserver``, ``kubevirt-controller``), so
  KubeVirt's RBAC is what authorises them.
"""

import base64
import json
import os
import subprocess
import time

import yaml

from . import pki

NAMESPACE = "kubevirt"
VERSION = "v1.9.0"
API_SA = "kubevirt-apiserver"
CONTROLLER_SA = "kubevirt-controller"
OPERATOR_WEBHOOK = "virt-operator-validator"
CONTAINER_PATH_WEBHOOK = "virt-launcher-pod-mutator"


def manifests(labinstall, kubevirt_cr):
    """virt-operator's install strategy for ``kubevirt_cr`` (dict of lists)."""
    proc = subprocess.run([labinstall], input=json.dumps(kubevirt_cr), capture_output=True,
                          text=True, check=True, timeout=120)
    return json.loads(proc.stdout)


def strategy_objects(plan):
    """The install strategy less the VirtTemplate deployment's objects."""
    return {key: [o for o in value if not _virt_template(o)] if isinstance(value, list) else value
            for key, value in plan.items()}


def _virt_template(obj):
    """Parts of the VirtTemplate deployment (feature gate off by default; its
    images and API module are not in the lab, see build/kubevirt/unserved)."""
    name = obj["metadata"]["name"]
    return "virt-template" in name or "template.kubevirt.io" in name


def _clean(obj, kind, api_version):
    obj = json.loads(json.dumps(obj))
    obj["kind"], obj["apiVersion"] = kind, api_version
    meta = obj.setdefault("metadata", {})
    for key in ("creationTimestamp", "resourceVersion", "uid"):
        meta.pop(key, None)
    obj.pop("status", None)
    return obj


def webhook_url_config(config, port, ca_bundle):
    """A webhook configuration pointed at the local virt-api."""
    for hook in config.get("webhooks") or []:
        service = (hook.get("clientConfig") or {}).get("service") or {}
        hook["clientConfig"] = {"url": "https://127.0.0.1:%d%s" % (port, service.get("path") or "/"),
                                "caBundle": ca_bundle}
    return config


class KubeVirtControlPlane:
    """Install and run virt-api/virt-controller for a ``lab.cluster.Lab``."""

    def __init__(self, lab, binaries_dir):
        self.lab = lab
        self.bin = binaries_dir

    # ------------------------------------------------------------ install
    def install(self, kubevirt_cr):
        lab, state = self.lab, self.lab.state
        state["labinstall"] = os.path.join(self.bin, "labinstall")
        plan = strategy_objects(manifests(state["labinstall"], kubevirt_cr))
        state["kubevirt_version"] = VERSION
        lab.apply("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": NAMESPACE}})
        crds = [_clean(c, "CustomResourceDefinition", "apiextensions.k8s.io/v1")
                for c in plan["customResourceDefinitions"]]
        for crd in crds:
            lab.apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        for sa in plan["serviceAccounts"]:
            lab.apply("/api/v1/namespaces/%s/serviceaccounts" % NAMESPACE, _clean(sa, "ServiceAccount", "v1"))
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        for role in plan["clusterRoles"]:
            lab.apply(rbac + "/clusterroles", _clean(role, "ClusterRole", "rbac.authorization.k8s.io/v1"))
        for binding in plan["clusterRoleBindings"]:
            lab.apply(rbac + "/clusterrolebindings",
                      _clean(binding, "ClusterRoleBinding", "rbac.authorization.k8s.io/v1"))
        for role in plan["roles"]:
            lab.apply(rbac + "/namespaces/%s/roles" % role["metadata"]["namespace"],
                      _clean(role, "Role", "rbac.authorization.k8s.io/v1"))
        for binding in plan["roleBindings"]:
            lab.apply(rbac + "/namespaces/%s/rolebindings" % binding["metadata"]["namespace"],
                      _clean(binding, "RoleBinding", "rbac.authorization.k8s.io/v1"))
        adm = "/apis/admissionregistration.k8s.io/v1"
        for policy in plan.get("validatingAdmissionPolicies") or []:
            lab.apply(adm + "/validatingadmissionpolicies",
                      _clean(policy, "ValidatingAdmissionPolicy", "admissionregistration.k8s.io/v1"))
        for binding in plan.get("validatingAdmissionPolicyBindings") or []:
            lab.apply(adm + "/validatingadmissionpolicybindings",
                      _clean(binding, "ValidatingAdmissionPolicyBinding", "admissionregistration.k8s.io/v1"))
        with open(state["pki"]["ca.crt"], encoding="utf-8") as handle:
            ca_pem = handle.read()
        lab.apply("/api/v1/namespaces/%s/configmaps" % NAMESPACE, {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubevirt-ca"},
            "data": {"ca-bundle": ca_pem}})
        lab.wait_crds_established([c["metadata"]["name"] for c in crds])
        # virt-handler's DaemonSet (components.NewHandlerDaemonSet: label kubevirt.io=virt-handler,
        # service account kubevirt-handler), so every node has the pod whose bound token
        # identifies the node to KubeVirt's NodeRestriction; the lab plays its kubelet and
        # its node side (lab/kubevirt/handler.py)
        labels = {"kubevirt.io": "virt-handler", "app.kubernetes.io/component": "kubevirt"}
        lab.apply("/apis/apps/v1/namespaces/%s/daemonsets" % NAMESPACE, {
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "virt-handler", "labels": labels},
            "spec": {"selector": {"matchLabels": {"kubevirt.io": "virt-handler"}},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "serviceAccountName": "kubevirt-handler",
                         "nodeSelector": {"kubernetes.io/os": "linux"},
                         "containers": [{"name": "virt-handler",
                                         "image": "quay.io/kubevirt/virt-handler:%s" % VERSION}]}}}})
        self._plan = plan
        return plan

    def _kubeconfig(self, service_account, name):
        token = self.lab.request("POST", "/api/v1/namespaces/%s/serviceaccounts/%s/token" % (
            NAMESPACE, service_account), {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                          "spec": {"expirationSeconds": 30 * 24 * 3600}})["status"]["token"]
        with open(self.lab.state["pki"]["ca.crt"], "rb") as handle:
            ca_data = base64.b64encode(handle.read()).decode()
        path = self.lab.path(name)
        config = {"apiVersion": "v1", "kind": "Config",
                  "clusters": [{"name": "lab", "cluster": {"server": self.lab.apiserver_url,
                                                           "certificate-authority-data": ca_data}}],
                  "users": [{"name": service_account, "user": {"token": token}}],
                  "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": service_account}}],
                  "current-context": "lab"}
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        os.chmod(path, 0o600)
        return path

    # ------------------------------------------------------------ processes
    def start(self):
        lab, state = self.lab, self.lab.state
        directory = lab.path("pki")
        crt, key = pki.make_leaf(directory, "virt-api", "virt-api.kubevirt.svc", (
            "DNS:virt-api.kubevirt.svc", "DNS:virt-api.kubevirt.svc.cluster.local", "DNS:localhost",
            "IP:127.0.0.1"))
        handler_crt, handler_key = pki.make_leaf(directory, "virt-api-handler-client",
                                                 "kubevirt.io:system:client:virt-handler", usage="clientAuth")
        state["virt_api_port"] = lab.free_port()
        state["virt_controller_port"] = lab.free_port()
        lab.spawn("virt-api", [
            os.path.join(self.bin, "virt-api"), "--kubeconfig", self._kubeconfig(API_SA, "kubeconfig-virt-api"),
            "--listen", "127.0.0.1", "--port", str(state["virt_api_port"]), "--subresources-only",
            "--tls-cert-file", crt, "--tls-key-file", key,
            "--handler-cert-file", handler_crt, "--handler-key-file", handler_key, "-v", "2"])
        lab.spawn("virt-controller", [
            os.path.join(self.bin, "virt-controller"),
            "--kubeconfig", self._kubeconfig(CONTROLLER_SA, "kubeconfig-virt-controller"),
            "--listen", "127.0.0.1", "--port", str(state["virt_controller_port"]),
            "--launcher-image", "quay.io/kubevirt/virt-launcher:%s" % VERSION,
            "--exporter-image", "quay.io/kubevirt/virt-exportserver:%s" % VERSION,
            "--prom-cert-file", crt, "--prom-key-file", key, "-v", "2"])
        self._wait_virt_api()
        self.register()

    def _wait_virt_api(self, timeout=180):  # a loaded 2-core machine has taken over 60 s
        deadline = time.monotonic() + timeout
        while True:
            if self.lab.port_open(self.lab.state["virt_api_port"]):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("virt-api is not listening; see %s" % self.lab.path("logs", "virt-api.log"))
            self.lab.check_alive()
            time.sleep(0.2)

    def register(self):
        """Webhooks and the APIService, pointed at the local virt-api."""
        lab, plan = self.lab, self._plan
        port = lab.state["virt_api_port"]
        with open(lab.state["pki"]["ca.crt"], "rb") as handle:
            ca_bundle = base64.b64encode(handle.read()).decode()
        adm = "/apis/admissionregistration.k8s.io/v1"
        for config in plan["validatingWebhookConfigurations"]:
            if config["metadata"]["name"] == OPERATOR_WEBHOOK:
                continue   # virt-operator's own webhook: no operator runs here
            lab.apply(adm + "/validatingwebhookconfigurations", webhook_url_config(
                _clean(config, "ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1"), port, ca_bundle))
        for config in plan["mutatingWebhookConfigurations"]:
            if config["metadata"]["name"] == CONTAINER_PATH_WEBHOOK:
                continue   # virt-operator installs it only with the ContainerPathVolumes gate
            lab.apply(adm + "/mutatingwebhookconfigurations", webhook_url_config(
                _clean(config, "MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1"), port, ca_bundle))
        lab.apply("/api/v1/namespaces/%s/services" % NAMESPACE, {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "virt-api", "namespace": NAMESPACE},
            "spec": {"type": "ExternalName", "externalName": "localhost",
                     "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}})
        for service in plan["apiServices"]:
            service = _clean(service, "APIService", "apiregistration.k8s.io/v1")
            service["spec"]["service"]["port"] = port
            service["spec"]["caBundle"] = ca_bundle
            service["spec"].pop("insecureSkipTLSVerify", None)
            lab.apply("/apis/apiregistration.k8s.io/v1/apiservices", service)
        self._wait_active()

    def _wait_active(self, timeout=60):
        """kube-apiserver picks up webhook configurations and APIServices
        asynchronously: wait until a dry-run VM whose interface has no network
        is refused by virt-api and the subresource API is Available."""
        lab = self.lab
        probe = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "lab-probe"},
                 "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": {"devices": {
                     "interfaces": [{"name": "probe", "bridge": {}}]}}}}}}
        deadline = time.monotonic() + timeout
        refused = available = False
        while not (refused and available):
            if time.monotonic() > deadline:
                raise RuntimeError("virt-api's webhooks (%s) or APIService (%s) not active after %ss; see %s" % (
                    refused, available, timeout, lab.path("logs", "virt-api.log")))
            lab.check_alive()
            if not refused:
                try:
                    lab.request("POST", "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines?dryRun=All"
                                % NAMESPACE, probe)
                except Exception as err:  # pylint: disable=broad-except
                    refused = "virtualmachine-validator.kubevirt.io" in str(err)
            if not available:
                service = lab.request("GET", "/apis/apiregistration.k8s.io/v1/apiservices/v1.subresources.kubevirt.io")
                available = any(c.get("type") == "Available" and c.get("status") == "True"
                                for c in (service.get("status") or {}).get("conditions") or [])
            if not (refused and available):
                time.sleep(0.2)
