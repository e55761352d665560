"""What the lab cluster has installed, as KubeVirt shows it: the ``kubevirt``
namespace, the KubeVirt CR ``kubevirt/kubevirt`` and the Nodes.

Mirrors what virt-operator leaves behind on a deployed cluster
(``pkg/virt-operator/util/client.go``: phase ``Deployed``, conditions
Available/Progressing/Degraded with reason ``AllComponentsReady`` and Created
with ``AllResourcesCreated``).  What the CR's settings mean (feature gates,
binding plugins, update methods) is decided by KubeVirt's own virt-api and
virt-controller, which read it.

The CR's spec is written from the lab capabilities (lab/kubevirt/config.py)
at start-up and again for each changed capability; fields the lab does not own
(e.g. ``spec.configuration.network.binding`` set by a test) are left alone.
"""

import datetime
import logging

from .kapi import Conflict, KubeError, NotFound

log = logging.getLogger("lab.kubevirt.capabilities")

NAMESPACE = "kubevirt"
NAME = "kubevirt"
KUBEVIRT_PATH = "/apis/kubevirt.io/v1/namespaces/%s/kubevirts/%s" % (NAMESPACE, NAME)
# the release the lab runs (lab/build/kubevirt); virt-operator would report it
KUBEVIRT_VERSION = "v1.9.0"
KUBEVIRTS_PATH = "/apis/kubevirt.io/v1/namespaces/%s/kubevirts" % NAMESPACE
REGISTRY = "quay.io/kubevirt"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def kubevirt_spec_fields(config_values):
    """The CR fields each capability owns: capability -> merge-patch fragment."""
    methods = config_values.get("workload_update_methods")
    strategy = config_values.get("vm_rollout_strategy")
    return {
        "feature_gates": {"configuration": {"developerConfiguration": {
            "featureGates": list(config_values.get("feature_gates") or [])}}},
        "disabled_feature_gates": {"configuration": {"developerConfiguration": {
            "disabledFeatureGates": list(config_values.get("disabled_feature_gates") or [])}}},
        "vm_rollout_strategy": {"configuration": {"vmRolloutStrategy": strategy or None}},
        "workload_update_methods": {"workloadUpdateStrategy": {
            "workloadUpdateMethods": list(methods) if methods is not None else None}},
    }


def _merge(into, fragment):
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def kubevirt_cr(config_values):
    """The KubeVirt CR as the lab creates it (spec only)."""
    spec = {
        "certificateRotateStrategy": {},
        "configuration": {"network": {"defaultNetworkInterface": "bridge",
                                      "permitBridgeInterfaceOnPodNetwork": True}},
        "customizeComponents": {},
        "imagePullPolicy": "IfNotPresent",
        "workloadUpdateStrategy": {},
    }
    for fragment in kubevirt_spec_fields(config_values).values():
        _merge(spec, fragment)
    return {"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
            "metadata": {"name": NAME, "namespace": NAMESPACE}, "spec": _drop_none(spec)}


def kubevirt_status(version, previous=None):
    """status of a deployed KubeVirt of that version (virt-operator's
    UpdateConditionsCreated + UpdateConditionsAvailable)."""
    now = _now()
    previous = {c.get("type"): c for c in (previous or {}).get("conditions") or []}

    def condition(kind, status, reason, message):
        old = previous.get(kind) or {}
        since = old.get("lastTransitionTime") if old.get("status") == status else None
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastProbeTime": now, "lastTransitionTime": since or now}

    ready = "All components are ready."
    return {
        "phase": "Deployed",
        "observedKubeVirtVersion": version, "targetKubeVirtVersion": version,
        "observedKubeVirtRegistry": REGISTRY, "targetKubeVirtRegistry": REGISTRY,
        "operatorVersion": version, "defaultArchitecture": "amd64",
        "outdatedVirtualMachineInstanceWorkloads": 0,
        "conditions": [
            condition("Available", "True", "AllComponentsReady", ready),
            condition("Progressing", "False", "AllComponentsReady", ready),
            condition("Degraded", "False", "AllComponentsReady", ready),
            condition("Created", "True", "AllResourcesCreated", "All resources were created."),
        ],
    }


def node(spec):
    """A Node (metadata and spec) for a capability entry {name, allocatable}."""
    name = spec["name"]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "kubevirt.io/schedulable": "true"}},
            "spec": {}}


def node_status(spec, index):
    """status of a Ready node; capacity = allocatable from the capability."""
    now = _now()
    resources = {key: str(value) for key, value in (spec.get("allocatable") or {}).items()}
    return {
        "capacity": dict(resources), "allocatable": dict(resources),
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": "192.168.66.%d" % (101 + index)},
                      {"type": "Hostname", "address": spec["name"]}],
        "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "6.1.0",
                     "osImage": "lab", "containerRuntimeVersion": "cri-o://1.34.0",
                     "kubeletVersion": "v1.34.2", "kubeProxyVersion": "v1.34.2",
                     "operatingSystem": "linux", "architecture": "amd64"},
    }


# ------------------------------------------------------------ the part
DYNAMIC_NETWORKS_DS = "dynamic-networks-controller-ds"


class Capabilities:
    """Writes namespace, CR and Nodes through the controller's client."""

    def __init__(self, kube, config):
        self.kube = kube
        self.config = config
        self._nodes = []

    def apply_all(self):
        self._ensure_namespace()
        values = self.config.snapshot()
        self._apply_kubevirt(values, kubevirt_spec_fields(values))
        self._apply_nodes(values["nodes"])
        self._apply_dynamic_networks(values["dynamic_networks"])
        self._apply_istio(values["istio"])

    def on_change(self, changes):
        values = self.config.snapshot()
        owned = {key: fragment for key, fragment in kubevirt_spec_fields(values).items() if key in changes}
        if owned:
            self._apply_kubevirt(values, owned)
        if "nodes" in changes:
            self._apply_nodes(values["nodes"])
        if "dynamic_networks" in changes:
            self._apply_dynamic_networks(values["dynamic_networks"])
        if "istio" in changes:
            self._apply_istio(values["istio"])

    def _create(self, path, body):
        try:
            self.kube.create(path, body)
        except Conflict:
            pass

    def _apply_istio(self, enabled):
        """What clients can observe of an Istio install with its CNI plugin
        (istioctl install --set components.cni.enabled=true): the istio-system
        namespace, the istio-cni-node DaemonSet (label k8s-app=istio-cni-node)
        and (lab/kubevirt/addons.py) the istio-sidecar-injector
        MutatingWebhookConfiguration, whose webhook injects the sidecar."""
        ds_path = "/apis/apps/v1/namespaces/istio-system/daemonsets/istio-cni-node"
        if not enabled:
            self.kube.delete(ds_path)
            return
        self._create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": "istio-system"}})
        labels = {"k8s-app": "istio-cni-node"}
        self._create("/apis/apps/v1/namespaces/istio-system/daemonsets", {
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "istio-cni-node", "labels": labels},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "containers": [{"name": "install-cni", "image": "docker.io/istio/install-cni:1.24.2"}]}}}})

    def _apply_dynamic_networks(self, enabled):
        """The multus-dynamic-networks-controller DaemonSet, as its upstream
        manifest deploys it (kube-system, label app=dynamic-networks-controller):
        what clients can observe of the capability.  No pod runs: the VMI
        emulation reads the capability from the lab config."""
        path = "/apis/apps/v1/namespaces/kube-system/daemonsets/" + DYNAMIC_NETWORKS_DS
        if not enabled:
            self.kube.delete(path)
            return
        labels = {"app": "dynamic-networks-controller", "tier": "node"}
        try:
            self.kube.create("/apis/apps/v1/namespaces/kube-system/daemonsets", {
                "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": DYNAMIC_NETWORKS_DS, "labels": labels},
                "spec": {"selector": {"matchLabels": {"app": "dynamic-networks-controller"}},
                         "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                             {"name": "dynamic-networks-controller",
                              "image": "ghcr.io/k8snetworkplumbingwg/multus-dynamic-networks-controller:latest"}]}}},
            })
        except Conflict:
            pass

    def _ensure_namespace(self):
        try:
            self.kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": NAMESPACE}})
        except Conflict:
            pass

    def _apply_kubevirt(self, values, fragments):
        try:
            current = self.kube.get(KUBEVIRT_PATH)
        except NotFound:
            current = self.kube.create(KUBEVIRTS_PATH, kubevirt_cr(values))
        else:
            patch = {}
            for fragment in fragments.values():
                _merge(patch, fragment)
            if patch:
                current = self.kube.merge_patch(KUBEVIRT_PATH, {"spec": patch})
        status = kubevirt_status(KUBEVIRT_VERSION, current.get("status"))
        self.kube.merge_patch(KUBEVIRT_PATH + "/status", {"status": status})

    def _apply_nodes(self, nodes):
        wanted = {spec["name"] for spec in nodes}
        for name in self._nodes:
            if name not in wanted:
                self.kube.delete("/api/v1/nodes/" + name)
        for index, spec in enumerate(nodes):
            path = "/api/v1/nodes/" + spec["name"]
            try:
                self.kube.create("/api/v1/nodes", node(spec))
            except Conflict:
                self.kube.merge_patch(path, {"metadata": {"labels": node(spec)["metadata"]["labels"]}})
            status = node_status(spec, index)
            # allocatable is replaced, not merged: a removed resource must go
            self.kube.json_patch(path + "/status", [
                {"op": "add", "path": "/status/capacity", "value": status["capacity"]},
                {"op": "add", "path": "/status/allocatable", "value": status["allocatable"]},
                {"op": "add", "path": "/status/conditions", "value": status["conditions"]},
                {"op": "add", "path": "/status/addresses", "value": status["addresses"]},
                {"op": "add", "path": "/status/nodeInfo", "value": status["nodeInfo"]},
            ])
        self._nodes = sorted(wanted)


def start(ctx):
    caps = Capabilities(ctx.kube, ctx.config)
    caps.apply_all()

    def listener(changes):
        try:
            caps.on_change(changes)
        except (KubeError, NotFound, Conflict) as exc:
            log.error("re-applying capabilities %s failed: %s", sorted(changes), exc)

    ctx.config.on_change(listener)
    return caps
