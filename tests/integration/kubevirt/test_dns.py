"""The lab resolver answers from the Services and Endpoints kube-controller-
manager builds, like CoreDNS: a pod (or VMI) with hostname + subdomain and a
headless Service named like the subdomain gets <host>.<subdomain>.<ns>.svc;
<name>.<ns>.svc.cluster.local is only ever a Service."""

import socket
import struct

import pytest

from tests.integration.helpers import wait_for
from lab.cluster import LabError

POD_IP = "10.244.250.5"


def ask(lab, name, qtype="A"):
    return lab.request("GET", "/_lab/dns?name=%s&type=%s" % (name, qtype), direct=False)


@pytest.fixture
def dns_objects(lab, namespace):
    """A headless Service "mysub", a ClusterIP Service "web" and a Ready pod
    with hostname "vmi-a" and subdomain "mysub" (what virt-controller gives a
    VMI's virt-launcher pod), its status set as a kubelet would."""
    base = "/api/v1/namespaces/%s" % namespace
    lab.request("POST", base + "/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "mysub"},
        "spec": {"clusterIP": "None", "selector": {"app": "dnsvm"}}})
    web = lab.request("POST", base + "/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "dnsvm"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    lab.request("POST", base + "/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "virt-launcher-vmi-a-x7k2p", "labels": {"app": "dnsvm", "kubevirt.io": "virt-launcher"}},
        "spec": {"hostname": "vmi-a", "subdomain": "mysub", "nodeName": "node01",
                 "containers": [{"name": "compute", "image": "quay.io/kubevirt/virt-launcher:v1.9.0"}]}})
    lab.request("PATCH", base + "/pods/virt-launcher-vmi-a-x7k2p/status", {"status": {
        "phase": "Running", "podIP": POD_IP, "podIPs": [{"ip": POD_IP}],
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}]}},
        content_type="application/merge-patch+json")
    yield {"cluster_ip": web["spec"]["clusterIP"]}
    # a bare pod bound to node01 (no owner, like no VMI's) would make later drains of that node refuse
    lab.request("DELETE", base + "/pods/virt-launcher-vmi-a-x7k2p?gracePeriodSeconds=0")


@pytest.mark.usefixtures("dns_objects")
def test_hostname_dot_subdomain_resolves_to_the_pod(lab, namespace):
    name = "vmi-a.mysub.%s.svc.cluster.local" % namespace
    wait_for(lambda: ask(lab, name)["rcode"] == "NOERROR", timeout=120,
             message="%s to resolve once the endpoints exist" % name)
    answer = ask(lab, name)
    assert answer == {"name": name, "type": "A", "rcode": "NOERROR",
                      "answers": [{"name": name, "type": "A", "ttl": 5, "data": POD_IP}]}
    headless = ask(lab, "mysub.%s.svc.cluster.local" % namespace)
    assert [a["data"] for a in headless["answers"]] == [POD_IP]
    assert ask(lab, name, "AAAA") == {"name": name, "type": "AAAA", "rcode": "NOERROR", "answers": []}


@pytest.mark.usefixtures("dns_objects")
def test_vmi_name_under_svc_is_not_a_record(lab, namespace):
    wait_for(lambda: ask(lab, "vmi-a.mysub.%s.svc.cluster.local" % namespace)["answers"], timeout=120,
             message="the endpoints")
    for name in ("vmi-a", "virt-launcher-vmi-a-x7k2p", "mysub-vmi-a"):
        assert ask(lab, "%s.%s.svc.cluster.local" % (name, namespace)) == {
            "name": "%s.%s.svc.cluster.local" % (name, namespace), "type": "A", "rcode": "NXDOMAIN", "answers": []}
    assert ask(lab, "vmi-b.mysub.%s.svc.cluster.local" % namespace)["rcode"] == "NXDOMAIN"


def test_service_name_resolves_to_its_cluster_ip(lab, namespace, dns_objects):
    name = "web.%s.svc.cluster.local" % namespace
    answer = wait_for(lambda: ask(lab, name)["answers"], timeout=120, message=name)
    assert [a["data"] for a in answer] == [dns_objects["cluster_ip"]]


@pytest.mark.usefixtures("dns_objects")
def test_the_udp_server_gives_the_same_answer(lab, namespace):
    name = "vmi-a.mysub.%s.svc.cluster.local" % namespace
    wait_for(lambda: ask(lab, name)["answers"], timeout=120, message=name)
    with open(lab.path("dns.port"), encoding="utf-8") as handle:
        port = int(handle.read())
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.sendto(struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1),
                    ("127.0.0.1", port))
        packet, _peer = sock.recvfrom(4096)
    ident, flags, _qd, answers = struct.unpack("!HHHH", packet[:8])
    assert (ident, flags & 0xF, answers) == (7, 0, 1)
    assert socket.inet_ntoa(packet[-4:]) == POD_IP


def test_bad_requests(lab):
    for query in ("", "?type=A", "?name=x.cluster.local&type=MX"):
        with pytest.raises(LabError) as err:
            lab.request("GET", "/_lab/dns" + query, direct=False)
        assert "400" in str(err.value)
    assert ask(lab, "example.com")["rcode"] == "REFUSED"
