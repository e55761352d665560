"""Names on the virt-launcher Pod that the lab's node side reads (KubeVirt
v1.9.0 renders the pod itself now: ``pkg/virt-controller/services/template.go``,
``pkg/network/pod/annotations/generator.go``), the binding plugins of the
KubeVirt CR, and the two cluster add-ons that mutate launcher pods on a real
cluster, whose decisions lab/kubevirt/addons.py applies:

- network-resources-injector (``k8snetworkplumbingwg/network-resources-injector``,
  deployed by the SR-IOV network operator): a pod whose
  ``k8s.v1.cni.cncf.io/networks`` selects a NAD annotated with
  ``k8s.v1.cni.cncf.io/resourceName`` gets one of that resource per selection
  in its first container's requests and limits; KubeVirt v1.9.0 relies on it
  while ``ExternalNetResourceInjection`` (Beta, on) is enabled;
- Istio's sidecar injector: with Istio installed and a namespace labelled
  ``istio-injection=enabled`` or ``istio.io/rev``, the pod gets an
  ``istio-proxy`` container unless its ``sidecar.istio.io/inject`` label says
  ``"false"``.
"""

import json

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"
RESOURCE_NAME_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"
ISTIO_INJECT = "sidecar.istio.io/inject"
ISTIO_ANNOTATIONS = ("traffic.sidecar.istio.io/kubevirtInterfaces", "istio.io/reroute-virtual-interfaces")
MIGRATION_JOB_LABEL = "kubevirt.io/migrationJobUID"
CREATED_BY = "kubevirt.io/created-by"
UNPAUSED_GATE = "kubevirt.io/virtual-machine-unpaused"
ISTIO_PROXY_IMAGE = "docker.io/istio/proxyv2:1.26.0"


def binding_plugins(kubevirt_cr):
    config = ((kubevirt_cr or {}).get("spec") or {}).get("configuration") or {}
    return (config.get("network") or {}).get("binding") or {}


def pod_selections(pod):
    """The Multus selections of a pod (its ``k8s.v1.cni.cncf.io/networks``)."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(NETWORKS_ANNOTATION) or ""
    raw = raw.strip()
    if not raw:
        return []
    if raw.startswith("["):
        return json.loads(raw)
    out = []
    for item in raw.split(","):
        ref, _sep, iface = item.strip().partition("@")
        namespace, _sep, name = ref.rpartition("/")
        out.append({"name": name, "namespace": namespace or None, "interface": iface or None})
    return out


def injected_resources(pod, nads):
    """network-resources-injector: resource name -> count for the pod's
    selections (``nads`` maps (namespace, name) to the NAD or None)."""
    needed = {}
    namespace = pod["metadata"].get("namespace")
    for selection in pod_selections(pod):
        nad = nads.get((selection.get("namespace") or namespace, selection["name"]))
        resource = (((nad or {}).get("metadata") or {}).get("annotations") or {}).get(RESOURCE_NAME_ANNOTATION)
        if resource:
            needed[resource] = needed.get(resource, 0) + 1
    return needed


def istio_injects(istio_installed, namespace_labels, pod_labels):
    if not istio_installed or pod_labels.get(ISTIO_INJECT) == "false":
        return False
    return namespace_labels.get("istio-injection") == "enabled" or bool(namespace_labels.get("istio.io/rev"))
