"""playbooks/site.yml (what `make demo` runs) against the lab: everything it
promises is there after one run, and a second run changes and writes nothing."""

import os
import subprocess

import pytest

from lab.cluster import REPO_ROOT
from tests.integration.helpers import wait_for

SITE = os.path.join(REPO_ROOT, "playbooks", "site.yml")


def run_site(ansible_env, check=False):
    argv = ["ansible-playbook", "-i", "localhost,", SITE] + (["--check"] if check else [])
    env = dict(ansible_env, ANSIBLE_STDOUT_CALLBACK="default")
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, (proc.stdout[-5000:], proc.stderr[-2000:])
    return proc.stdout


def recap(out):
    line = [text for text in out.splitlines() if text.startswith("localhost ")][-1]
    return dict(part.split("=") for part in line.split(":", 1)[1].split())


@pytest.mark.usefixtures("site_namespaces_fresh")
def test_site_converges_then_reruns_without_writes(lab, capabilities, ansible_env, request_log):
    capabilities(istio=True)
    first = run_site(ansible_env)
    assert int(recap(first)["changed"]) > 0 and recap(first)["failed"] == "0"

    def get(path):
        return lab.request("GET", path)

    # networks (bridge + sriov), VMs running, the hot-plugged NIC, the clone on the backup network
    nads = {n["metadata"]["name"] for n in get(
        "/apis/k8s.cni.cncf.io/v1/namespaces/tenant-a/network-attachment-definitions")["items"]}
    assert {"storage", "backup", "fast"} <= nads
    web = get("/apis/kubevirt.io/v1/namespaces/tenant-a/virtualmachines/web")
    assert [n["name"] for n in web["spec"]["template"]["spec"]["networks"]] == ["default", "storage"]
    assert web["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"] == "true"
    wait_for(lambda: any(i["name"] == "storage" for i in (get(
        "/apis/kubevirt.io/v1/namespaces/tenant-a/virtualmachineinstances/web").get("status") or {}).get(
        "interfaces") or []), timeout=180, message="the hot-plugged NIC in the VMI status")
    clone = get("/apis/kubevirt.io/v1/namespaces/tenant-a/virtualmachines/web-dr")
    nets = {n["name"]: n for n in clone["spec"]["template"]["spec"]["networks"]}
    assert nets["storage"]["multus"]["networkName"] == "backup"
    assert clone["spec"]["template"]["metadata"]["labels"]["app"] == "web-dr"
    # policies: db reachable from web on 3306 only; Services; namespace labelled for Istio
    policies = {p["metadata"]["name"] for p in get(
        "/apis/networking.k8s.io/v1/namespaces/tenant-a/networkpolicies")["items"]}
    assert {"kvnet-default-deny", "kvnet-db-from-web"} <= policies
    services = {s["metadata"]["name"] for s in get("/api/v1/namespaces/tenant-a/services")["items"]}
    assert {"web", "tenant-a"} <= services
    assert get("/api/v1/namespaces/tenant-a")["metadata"]["labels"]["istio-injection"] == "enabled"
    assert "reachability" in first and "tenant-a/web on TCP/3306: allowed" in first
    assert "tenant-b/app on TCP/3306: denied" in first
    # the storage VLAN is isolated per tenant too, and the demo's summary says so
    multi = {p["metadata"]["name"]: p for p in get(
        "/apis/k8s.cni.cncf.io/v1beta1/namespaces/tenant-a/multi-networkpolicies")["items"]}
    assert multi["kvnet-storage-same-tenant"]["metadata"]["annotations"][
        "k8s.v1.cni.cncf.io/policy-for"] == "tenant-a/storage"
    assert "storage network filtered by MultiNetworkPolicy tenant-a/kvnet-storage-same-tenant" in first
    # and answers the question: the same tenant gets in on the storage VLAN, tenant B does not
    assert "tenant-a/web:3260 on tenant-a/storage: allowed from tenant-a" in first
    assert "tenant-a/web:3260 on tenant-a/storage: denied from tenant-b" in first

    request_log.mark()
    second = run_site(ansible_env)
    assert recap(second)["changed"] == "0"
    assert request_log.writes(include_dry_run=True) == []

    request_log.mark()
    checked = run_site(ansible_env, check=True)
    assert recap(checked)["changed"] == "0"
    assert request_log.writes(include_dry_run=True) == []
