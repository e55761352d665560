"""Shared set-up for the Istio tests (module, role, benchmark): the lab's
Istio capability switched on for the duration, VMs with a chosen pod-network
interface, and readers for what the tests judge (namespace labels, VM
template annotations, launcher pods, Services, Endpoints, PeerAuthentications)."""

import copy
import uuid

import pytest

from tests.integration.helpers import wait_for

VM_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines"
VMI_PATH = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances"
POD_PATH = "/api/v1/namespaces/%s/pods"
SERVICE_PATH = "/api/v1/namespaces/%s/services"
ENDPOINTS_PATH = "/api/v1/namespaces/%s/endpoints"
PA_PATH = "/apis/security.istio.io/v1/namespaces/%s/peerauthentications"
DR_PATH = "/apis/networking.istio.io/v1/namespaces/%s/destinationrules"
NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions"
INJECT = "sidecar.istio.io/inject"


@pytest.fixture(scope="module")
def istio_lab(lab):
    """The session's lab with Istio (and its sidecar injector) installed for this module's tests."""
    saved = lab.get_config()
    lab.set_config(istio=True)
    yield lab
    lab.set_config(istio=saved["istio"], pod_cidr=saved["pod_cidr"])


@pytest.fixture
def make_namespace(lab):
    made = []

    def make(labels=None, prefix="mesh"):
        name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
        lab.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": name, "labels": dict(labels or {})}})
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            lab.request("DELETE", "/api/v1/namespaces/" + name)
        except Exception:  # pylint: disable=broad-except
            pass


def vm_manifest(name, running=True, binding="masquerade", ports=None, labels=None, annotations=None):
    iface = {"name": "default", binding: {}}
    if ports:
        iface["ports"] = [{"port": p} if isinstance(p, int) else p for p in ports]
    meta = {"labels": dict(labels or {"app": name})}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": name, "labels": {"vm-own-label": "yes"}},
            "spec": {"runStrategy": "Always" if running else "Halted", "template": {
                "metadata": meta,
                "spec": {"domain": {"devices": {"interfaces": [iface]}, "resources": {"requests": {"memory": "128Mi"}}},
                         "networks": [{"name": "default", "pod": {}}]}}}}


def create_vm(lab, namespace, name, **kwargs):
    return lab.request("POST", VM_PATH % namespace, vm_manifest(name, **kwargs))


def get(lab, path, name=None):
    return lab.request("GET", path + ("/" + name if name else ""))


def vm(lab, namespace, name):
    return get(lab, VM_PATH % namespace, name)


def template_annotations(obj):
    return copy.deepcopy(obj["spec"]["template"]["metadata"].get("annotations") or {})


def pod_iface(obj):
    return obj["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0]


def ns_labels(lab, namespace):
    return lab.request("GET", "/api/v1/namespaces/" + namespace)["metadata"].get("labels") or {}


def vmi_or_none(lab, namespace, name):
    return next((i for i in get(lab, VMI_PATH % namespace)["items"] if i["metadata"]["name"] == name), None)


def wait_ready(lab, namespace, name, timeout=180):
    def ready():
        vmi = vmi_or_none(lab, namespace, name)
        status = (vmi or {}).get("status") or {}
        ok = status.get("phase") == "Running" and any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        return ok and vmi
    return wait_for(ready, timeout=timeout, message="VMI %s/%s Ready" % (namespace, name))


def launcher_pod(lab, namespace, vmi):
    pods = [p for p in get(lab, POD_PATH % namespace)["items"]
            if p["metadata"]["labels"].get("kubevirt.io/created-by") == vmi["metadata"]["uid"]
            and p["status"].get("phase") not in ("Succeeded", "Failed")]
    return pods[-1] if pods else None


def containers(pod):
    return [c["name"] for c in (pod or {}).get("spec", {}).get("containers") or []]


def endpoints_ips(lab, namespace, name):
    subsets = get(lab, ENDPOINTS_PATH % namespace, name).get("subsets") or []
    return sorted(a["ip"] for s in subsets for a in s.get("addresses") or [])
