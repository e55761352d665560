"""CustomResourceDefinitions of the lab other than KubeVirt's (those come from
virt-operator's own generator, tests/lab/kubevirt_cp.py): NAD and SR-IOV from
their projects' schemas, Istio's with an open spec."""

import os

import yaml

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")

# Istio CRDs with an open spec (Istio's CRDs keep most of spec unvalidated too).
ISTIO_CRDS = [
    ("security.istio.io", "PeerAuthentication", "peerauthentications", ["pa"]),
    ("networking.istio.io", "DestinationRule", "destinationrules", ["dr"]),
    ("networking.istio.io", "Sidecar", "sidecars", []),
]


def _load(name):
    with open(os.path.join(SCHEMA_DIR, name), encoding="utf-8") as handle:
        return list(yaml.safe_load_all(handle))


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
