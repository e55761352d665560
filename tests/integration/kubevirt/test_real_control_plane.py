"""KubeVirt v1.9.0's own virt-api and virt-controller are what the lab runs:
their processes, their webhooks' messages, their subresource API through the
aggregation layer, their clone/restore path, and a hot-plug that goes VM
template -> (virt-controller) VMI spec and launcher pod -> (emulated node
side) the domain."""

import json
import subprocess
import sys

import pytest

from tests.integration.helpers import wait_for
from lab.cluster import REPO_ROOT, LabError, binary

BLUE_IFACE = {"name": "blue", "bridge": {}}
BLUE_NET = {"name": "blue", "multus": {"networkName": "blue-net"}}


def test_status_lists_kubevirt_processes(lab):
    out = subprocess.run([sys.executable, "-m", "lab", "status", "--state-dir", lab.state_dir],
                         capture_output=True, text=True, check=True, timeout=60, cwd=REPO_ROOT)
    status = json.loads(out.stdout)
    for name in ("virt-api", "virt-controller"):
        assert status["processes"][name]["alive"] is True
        assert status["processes"][name]["version"] == "v1.9.0"
    assert status["processes"]["apiserver"]["version"] == "v1.34.2"


def test_mistyped_vm_is_refused_by_virt_api(kv):
    """The message is KubeVirt's own (pkg/network/admitter: a masquerade
    interface whose network is not the pod network)."""
    with pytest.raises(LabError) as err:
        kv.vm("typo", interfaces=[{"name": "default", "masquerade": {}}], networks=[{"name": "defualt", "pod": {}}])
    text = str(err.value)
    assert "-> 422" in text
    assert "virtualmachine-validator.kubevirt.io" in text and "denied the request" in text
    assert "Masquerade interface only implemented with pod network" in text


def test_subresources_are_discoverable_and_served_by_virt_api(lab):
    kubectl = binary("kubectl")
    out = subprocess.run([kubectl, "--kubeconfig", lab.kubeconfig, "api-resources",
                          "--api-group", "subresources.kubevirt.io", "-o", "name"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    raw = json.loads(subprocess.run([kubectl, "--kubeconfig", lab.kubeconfig, "get", "--raw",
                                     "/apis/subresources.kubevirt.io/v1"], capture_output=True, text=True,
                                    timeout=180, check=True).stdout)
    names = {r["name"] for r in raw["resources"]}
    assert {"virtualmachines/start", "virtualmachines/stop", "virtualmachines/restart",
            "virtualmachines/migrate"} <= names
    service = lab.request("GET", "/apis/apiregistration.k8s.io/v1/apiservices/v1.subresources.kubevirt.io")
    assert {c["type"]: c["status"] for c in service["status"]["conditions"]}["Available"] == "True"


def test_start_and_stop_through_the_subresource_api(lab, kv):
    kv.vm("sub", run_strategy="Halted")
    base = "/apis/subresources.kubevirt.io/v1/namespaces/%s/virtualmachines/sub" % kv.namespace
    lab.request("PUT", base + "/start", {}, direct=False)
    # virt-api's start on a Halted VM sets runStrategy Always (pkg/virt-api/rest/subresource.go)
    assert kv.get("virtualmachines", "sub")["spec"]["runStrategy"] == "Always"
    kv.running("sub")
    lab.request("PUT", base + "/stop", {}, direct=False)
    assert kv.get("virtualmachines", "sub")["spec"]["runStrategy"] == "Halted"
    wait_for(lambda: kv.vmi_or_none("sub") is None, timeout=180, message="stopped")
    # the viewer may read, but the subresource needs update on virtualmachines/start
    with pytest.raises(LabError) as err:
        lab.request("PUT", base + "/start", {}, token="viewer", direct=False)
    assert "-> 403" in str(err.value)


def clone_with_mac(kv, name, source, target, mac):
    """A raw VirtualMachineClone of ``source`` giving interface default ``mac``."""
    kv.create("virtualmachineclones", {
        "apiVersion": "clone.kubevirt.io/v1beta1", "kind": "VirtualMachineClone", "metadata": {"name": name},
        "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": source},
                 "target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": target},
                 "newMacAddresses": {"default": mac}}}, group="clone.kubevirt.io/v1beta1")


def test_colon_mac_clone_is_stuck_as_on_a_cluster(lab, kv):
    """KubeVirt's restore webhook (pkg/storage/admitters/vmrestore.go
    validatePatches) refuses the clone controller's own MAC patch when the
    MAC has colons: the clone never finishes (documents real behaviour; the
    module does not make such clones)."""
    kv.vm("src", run_strategy="Halted")
    clone_with_mac(kv, "c1", "src", "dst", "02:00:00:aa:bb:01")

    def failed_restore():
        events = lab.request("GET", "/api/v1/namespaces/%s/events" % kv.namespace)["items"]
        return [e for e in events if e["reason"] == "RestoreCreationFailed"]

    events = wait_for(failed_restore, timeout=90, message="RestoreCreationFailed")
    assert "vmrestore" in events[0]["message"].lower() or "patch" in events[0]["message"].lower()
    clone = kv.get("virtualmachineclones", "c1", group="clone.kubevirt.io/v1beta1")
    assert clone["status"].get("phase") not in ("Succeeded",)
    assert not [v for v in kv.get("virtualmachines")["items"] if v["metadata"]["name"] == "dst"]


def test_clone_with_dash_mac_succeeds(kv):
    kv.vm("src2", run_strategy="Halted")
    clone_with_mac(kv, "c2", "src2", "dst2", "02-00-00-aa-bb-02")
    wait_for(lambda: kv.get("virtualmachineclones", "c2", group="clone.kubevirt.io/v1beta1")["status"].get(
        "phase") == "Succeeded", timeout=120, message="clone Succeeded")
    target = kv.get("virtualmachines", "dst2")
    iface = target["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0]
    assert iface["macAddress"] == "02-00-00-aa-bb-02"


def test_hot_plug_goes_through_the_real_controller(kv):
    kv.nad("blue-net", {"type": "host-local", "subnet": "10.78.0.0/24"})
    kv.vm("hp")
    kv.running("hp")
    kv.add_interface("hp", BLUE_IFACE, BLUE_NET)
    # virt-controller copies the template's new interface into the running VMI...
    wait_for(lambda: [i for i in kv.vmi("hp")["spec"]["domain"]["devices"]["interfaces"] if i["name"] == "blue"],
             timeout=180, message="the VMI spec got the interface")
    # ...and the launcher pod's Multus annotation
    vmi = kv.vmi("hp")
    [pod] = [p for p in kv.pods(vmi) if not p["metadata"].get("deletionTimestamp")]
    wait_for(lambda: "blue-net" in (kv.get("pods", pod["metadata"]["name"], group="")["metadata"].get(
        "annotations") or {}).get("k8s.v1.cni.cncf.io/networks", ""), timeout=180, message="pod annotation")

    # the node side plugs it into the domain
    def in_domain():
        entry = kv.interface(kv.vmi("hp"), "blue")
        return entry if entry and "domain" in entry.get("infoSource", "") else None

    entry = wait_for(in_domain, timeout=180, message="blue in the domain")
    assert "multus-status" in entry["infoSource"] and entry["ipAddress"].startswith("10.78.0.")


def test_controller_rbac_follows_the_kubevirt_cr(lab, capabilities):
    """As virt-operator does (install/strategy.go: GetAllController(ns,
    !ExternalNetResourceInjectionEnabled())): virt-controller may read NADs
    only while the gate is disabled."""
    def can_read_nads():
        review = lab.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "system:serviceaccount:kubevirt:kubevirt-controller",
                     "resourceAttributes": {"group": "k8s.cni.cncf.io", "resource": "network-attachment-definitions",
                                            "verb": "get", "namespace": "default"}}})
        return review["status"]["allowed"]

    assert can_read_nads() is False
    capabilities(disabled_feature_gates=["ExternalNetResourceInjection"])
    wait_for(can_read_nads, timeout=180, message="NAD read granted")
    capabilities(disabled_feature_gates=[])
    wait_for(lambda: not can_read_nads(), timeout=180, message="NAD read revoked")
