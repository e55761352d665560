"""CustomResourceDefinitions of the lab other than KubeVirt's (those come from
virt-operator's own generator, lab/kubevirt_cp.py): NAD, SR-IOV,
MultiNetworkPolicy and the network-policy-api ones from their projects'
schemas, Istio's with an open spec."""

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


# The network-policy-api CRDs: ClusterNetworkPolicy (v1alpha2, module v0.3.0) and the older
# AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1, module v0.1.1), which several CNIs
# still ship.  A cluster that has only the older ones is made by deleting the first
# (serve_only_v1alpha1), so discovery stops listing v1alpha2.
CLUSTER_NETWORK_POLICY_CRD = "clusternetworkpolicies.policy.networking.k8s.io"
NETWORK_POLICY_API_FILES = ("policy.networking.k8s.io_clusternetworkpolicies.yaml",
                            "policy.networking.k8s.io_adminnetworkpolicies.yaml",
                            "policy.networking.k8s.io_baselineadminnetworkpolicies.yaml")


def cluster_network_policy_crd():
    return _load(NETWORK_POLICY_API_FILES[0])[0]


def all_crds():
    """Every CRD the lab installs, in install order."""
    crds = []   # KubeVirt's own CRDs come from virt-operator's install strategy (kubevirt_cp.py)
    for name in ("k8s.cni.cncf.io_networkattachmentdefinitions.yaml",
                 "sriovnetwork.openshift.io_sriovnetworks.yaml",
                 "sriovnetwork.openshift.io_sriovnetworknodepolicies.yaml",
                 "k8s.cni.cncf.io_multi-networkpolicies.yaml") + NETWORK_POLICY_API_FILES:
        crds.extend(doc for doc in _load(name) if doc)
    crds.extend(istio_crd(*spec) for spec in ISTIO_CRDS)
    return crds


def serve_only_v1alpha1(lab, wait=60.0):
    """Make ``lab`` a cluster that serves only the v1alpha1 admin policies:
    delete the ClusterNetworkPolicy CRD (and with it every CNP) and wait
    until discovery no longer lists policy.networking.k8s.io/v1alpha2."""
    import time

    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + CLUSTER_NETWORK_POLICY_CRD
    try:
        lab.request("DELETE", path)
    except Exception:  # pylint: disable=broad-except
        # already gone
        pass
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        group = lab.request("GET", "/apis/policy.networking.k8s.io")
        if all(v.get("version") != "v1alpha2" for v in group.get("versions") or []):
            return
        time.sleep(0.2)
    raise RuntimeError("policy.networking.k8s.io/v1alpha2 is still served %ss after deleting its CRD" % wait)


def serve_v1alpha2(lab, wait=60.0):
    """Undo serve_only_v1alpha1: install the ClusterNetworkPolicy CRD again
    (retried while the old one is still being deleted)."""
    import time

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            lab.request("GET", "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies")
            return
        except Exception:  # pylint: disable=broad-except
            # not served yet
            pass
        try:
            lab.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                        cluster_network_policy_crd())
        except Exception:  # pylint: disable=broad-except
            # exists, or the old one is still terminating
            pass
        time.sleep(0.2)
    raise RuntimeError("policy.networking.k8s.io/v1alpha2 is not served again after %ss" % wait)
