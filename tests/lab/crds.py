"""CustomResourceDefinitions of the lab, built from the real upstream schemas."""

import copy
import os

import yaml

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")

_VM_COLUMNS = [
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Status", "type": "string", "jsonPath": ".status.printableStatus"},
    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type=='Ready')].status"},
]
_VMI_COLUMNS = [
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "IP", "type": "string", "jsonPath": ".status.interfaces[0].ipAddress"},
    {"name": "NodeName", "type": "string", "jsonPath": ".status.nodeName"},
    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type=='Ready')].status"},
]

# key in the schema file name -> CRD metadata (crds.go of KubeVirt v1.9.0)
KUBEVIRT_CRDS = {
    "virtualmachine": dict(group="kubevirt.io", kind="VirtualMachine", plural="virtualmachines",
                           short=["vm", "vms"], versions=["v1", "v1alpha3"], status=True,
                           columns=_VM_COLUMNS, categories=["all"]),
    "virtualmachineinstance": dict(group="kubevirt.io", kind="VirtualMachineInstance",
                                   plural="virtualmachineinstances", short=["vmi", "vmis"],
                                   versions=["v1", "v1alpha3"], status=False, columns=_VMI_COLUMNS,
                                   categories=["all"]),
    "virtualmachineinstancemigration": dict(
        group="kubevirt.io", kind="VirtualMachineInstanceMigration",
        plural="virtualmachineinstancemigrations", short=["vmim", "vmims"],
        versions=["v1", "v1alpha3"], status=True, categories=["all"],
        columns=[{"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                 {"name": "VMI", "type": "string", "jsonPath": ".spec.vmiName"}]),
    "kubevirt": dict(group="kubevirt.io", kind="KubeVirt", plural="kubevirts", short=["kv", "kvs"],
                     versions=["v1", "v1alpha3"], status=True, categories=["all"],
                     columns=[{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                              {"name": "Phase", "type": "string", "jsonPath": ".status.phase"}]),
    "virtualmachineclone": dict(
        group="clone.kubevirt.io", kind="VirtualMachineClone", plural="virtualmachineclones",
        short=["vmclone", "vmclones"], versions=["v1beta1", "v1alpha1"], status=True,
        categories=["all"],
        columns=[{"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                 {"name": "SourceVirtualMachine", "type": "string", "jsonPath": ".spec.source.name"},
                 {"name": "TargetVirtualMachine", "type": "string", "jsonPath": ".spec.target.name"}]),
}

# Istio CRDs with an open spec (Istio's CRDs keep most of spec unvalidated too).
ISTIO_CRDS = [
    ("security.istio.io", "PeerAuthentication", "peerauthentications", ["pa"]),
    ("networking.istio.io", "DestinationRule", "destinationrules", ["dr"]),
    ("networking.istio.io", "Sidecar", "sidecars", []),
]


def _load(name):
    with open(os.path.join(SCHEMA_DIR, name), encoding="utf-8") as handle:
        return list(yaml.safe_load_all(handle))


def kubevirt_crd(key):
    meta = KUBEVIRT_CRDS[key]
    schema = _load("kubevirt-v1.9.0-crd-%s.openapiv3.yaml" % key)[0]["openAPIV3Schema"]
    versions = []
    for index, version in enumerate(meta["versions"]):
        entry = {
            "name": version, "served": True, "storage": index == 0,
            "schema": {"openAPIV3Schema": copy.deepcopy(schema)},
            "additionalPrinterColumns": meta["columns"],
        }
        if meta["status"]:
            entry["subresources"] = {"status": {}}
        versions.append(entry)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "%s.%s" % (meta["plural"], meta["group"]),
                     "labels": {"app.kubernetes.io/part-of": "kubevirt-net-lab"}},
        "spec": {
            "group": meta["group"],
            "scope": "Namespaced",
            "names": {"kind": meta["kind"], "listKind": meta["kind"] + "List",
                      "plural": meta["plural"], "singular": meta["kind"].lower(),
                      "shortNames": meta["short"], "categories": meta["categories"]},
            "versions": versions,
        },
    }


def istio_crd(group, kind, plural, short):
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "%s.%s" % (plural, group),
                     "labels": {"app.kubernetes.io/part-of": "kubevirt-net-lab"}},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"kind": kind, "listKind": kind + "List", "plural": plural,
                      "singular": kind.lower(), "shortNames": short},
            "versions": [{"name": version, "served": True, "storage": version == "v1",
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {
                              "type": "object",
                              "properties": {
                                  "spec": {"type": "object",
                                           "x-kubernetes-preserve-unknown-fields": True},
                                  "status": {"type": "object",
                                             "x-kubernetes-preserve-unknown-fields": True}}}}}
                         for version in ("v1", "v1beta1")],
        },
    }


def all_crds():
    """Every CRD the lab installs, in install order."""
    crds = []   # KubeVirt's own CRDs come from virt-operator's install strategy (kubevirt_cp.py)
    for name in ("k8s.cni.cncf.io_networkattachmentdefinitions.yaml",
                 "sriovnetwork.openshift.io_sriovnetworks.yaml",
                 "sriovnetwork.openshift.io_sriovnetworknodepolicies.yaml"):
        crds.extend(doc for doc in _load(name) if doc)
    crds.extend(istio_crd(*spec) for spec in ISTIO_CRDS)
    return crds
