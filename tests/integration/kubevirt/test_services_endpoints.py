"""Services select virt-launcher pods, so only the VM *template* labels (which
the VMI and its pod carry) work as a selector; kube-controller-manager's
endpoint controller builds the Endpoints, with the pod's hostname/subdomain
for a headless Service (seed FAQ 2: selecting the VM's own labels finds nothing)."""

from tests.integration.helpers import wait_for


def service(kv, name, selector, headless=False):
    spec = {"selector": selector, "ports": [{"name": "ssh", "port": 22, "targetPort": 22}]}
    if headless:
        spec["clusterIP"] = "None"
    kv.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}, group="")


def test_template_labels_get_endpoints_vm_labels_get_none(kv):
    kv.vm("web", labels={"app": "web"}, subdomain="web-dns", hostname="www")
    vmi = kv.running("web")
    service(kv, "good", {"app": "web"})
    service(kv, "web-dns", {"app": "web"}, headless=True)
    service(kv, "classic-mistake", {"only-on-the-vm": "yes"})
    ip = kv.interface(vmi, "default")["ipAddress"]
    endpoints = wait_for(lambda: (kv.get("endpoints", "good", group="").get("subsets") or [None])[0],
                         timeout=180, message="Endpoints of good")
    assert [a["ip"] for a in endpoints["addresses"]] == [ip]
    assert endpoints["addresses"][0]["targetRef"]["name"] == kv.pods(vmi)[0]["metadata"]["name"]
    headless = wait_for(lambda: (kv.get("endpoints", "web-dns", group="").get("subsets") or [None])[0],
                        timeout=180, message="Endpoints of the headless service")
    assert headless["addresses"][0]["hostname"] == "www"
    # the endpoints controller writes each Service's Endpoints from its own queue (several workers):
    # good's and web-dns's being there does not mean classic-mistake's (created last) is yet
    mistake = wait_for(lambda: kv.get("endpoints", "classic-mistake", group=""), timeout=120,
                       message="the (empty) Endpoints of classic-mistake")
    assert not mistake.get("subsets")
