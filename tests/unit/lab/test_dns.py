"""The lab resolver answers like CoreDNS's kubernetes plugin
(lab/kubevirt/dns.py): Services, headless Services, endpoint hostnames
from hostname/subdomain, NXDOMAIN for names Kubernetes does not create."""

import socket
import struct

import pytest

from lab.kubevirt import dns

ZONE = "cluster.local"


def service(name, namespace="ns1", cluster_ip="10.96.0.10", **spec):
    body = {"metadata": {"name": name, "namespace": namespace}, "spec": {"clusterIP": cluster_ip}}
    body["spec"].update(spec)
    return body


def endpoints(name, addresses, namespace="ns1", not_ready=()):
    subset = {"addresses": addresses, "ports": [{"port": 22}]}
    if not_ready:
        subset["notReadyAddresses"] = list(not_ready)
    return {"metadata": {"name": name, "namespace": namespace}, "subsets": [subset]}


RECORDS = dns.ClusterRecords(
    services=[
        service("web"),
        service("dual", cluster_ip="10.96.0.11", clusterIPs=["10.96.0.11", "fd00:10:96::11"]),
        service("mysubdomain", cluster_ip="None"),
        service("empty-headless", cluster_ip="None"),
        service("outside", cluster_ip="", type="ExternalName", externalName="db.example.com"),
    ],
    endpoints=[
        endpoints("mysubdomain", [{"ip": "10.244.0.5", "hostname": "vmi-a"}, {"ip": "10.244.0.6"}],
                  not_ready=[{"ip": "10.244.0.7", "hostname": "vmi-c"}]),
        endpoints("web", [{"ip": "10.244.0.8", "hostname": "web-0"}]),
    ],
    namespaces=["ns1", "default"],
)


def ask(name, qtype="A", zone=ZONE):
    rcode, answers = dns.resolve(name, qtype, RECORDS, zone)
    return rcode, [a["data"] for a in answers]


@pytest.mark.parametrize("name,expected", [
    ("web.ns1.svc.cluster.local", ("NOERROR", ["10.96.0.10"])),
    ("WEB.ns1.svc.cluster.local.", ("NOERROR", ["10.96.0.10"])),                     # case, trailing dot
    ("mysubdomain.ns1.svc.cluster.local", ("NOERROR", ["10.244.0.5", "10.244.0.6"])),  # headless: ready addresses
    ("vmi-a.mysubdomain.ns1.svc.cluster.local", ("NOERROR", ["10.244.0.5"])),         # <hostname>.<subdomain>
    ("10-244-0-6.mysubdomain.ns1.svc.cluster.local", ("NOERROR", ["10.244.0.6"])),    # no hostname: dashed IP
    ("vmi-c.mysubdomain.ns1.svc.cluster.local", ("NXDOMAIN", [])),                    # not ready
    ("vmi-b.mysubdomain.ns1.svc.cluster.local", ("NXDOMAIN", [])),
    ("web-0.web.ns1.svc.cluster.local", ("NOERROR", ["10.244.0.8"])),                 # endpoint of a ClusterIP service
    ("vmi-a.ns1.svc.cluster.local", ("NXDOMAIN", [])),                                # the seed's wrong form
    ("empty-headless.ns1.svc.cluster.local", ("NXDOMAIN", [])),
    ("web.ns2.svc.cluster.local", ("NXDOMAIN", [])),
    ("ns1.svc.cluster.local", ("NOERROR", [])),
    ("nope.svc.cluster.local", ("NXDOMAIN", [])),
    ("svc.cluster.local", ("NOERROR", [])),
    ("cluster.local", ("NOERROR", [])),
    ("a.b.c.d.svc.cluster.local", ("NXDOMAIN", [])),
    ("web.ns1.cluster.local", ("NXDOMAIN", [])),
    ("10-244-1-9.ns1.pod.cluster.local", ("NOERROR", ["10.244.1.9"])),
    ("example.com", ("REFUSED", [])),
])
def test_a_records(name, expected):
    assert ask(name) == expected


def test_external_name_is_a_cname():
    rcode, answers = dns.resolve("outside.ns1.svc.cluster.local", "A", RECORDS, ZONE)
    assert rcode == "NOERROR" and answers == [{"name": "outside.ns1.svc.cluster.local", "type": "CNAME", "ttl": 5,
                                               "data": "db.example.com"}]


def test_aaaa_and_no_data():
    assert ask("dual.ns1.svc.cluster.local", "AAAA") == ("NOERROR", ["fd00:10:96::11"])
    assert ask("dual.ns1.svc.cluster.local") == ("NOERROR", ["10.96.0.11"])
    assert ask("web.ns1.svc.cluster.local", "AAAA") == ("NOERROR", [])


def test_other_cluster_domain():
    assert ask("web.ns1.svc.lab.example", zone="lab.example") == ("NOERROR", ["10.96.0.10"])
    assert ask("web.ns1.svc.cluster.local", zone="lab.example") == ("REFUSED", [])


def test_answer_records_carry_name_type_and_ttl():
    _rcode, answers = dns.resolve("vmi-a.mysubdomain.ns1.svc.cluster.local", "A", RECORDS, ZONE)
    assert answers == [{"name": "vmi-a.mysubdomain.ns1.svc.cluster.local", "type": "A", "ttl": 5,
                        "data": "10.244.0.5"}]


# ------------------------------------------------------------ the wire format
def query(name, qtype=1, ident=0x1234):
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)


def lookup(name, qtype):
    return dns.resolve(name, qtype, RECORDS, ZONE)


def test_udp_answer_packet():
    packet = dns.answer_packet(query("vmi-a.mysubdomain.ns1.svc.cluster.local"), lookup)
    ident, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", packet[:12])
    assert (ident, flags & 0x8000, flags & 0x0400, flags & 0xF, qd, an, ns, ar) == (0x1234, 0x8000, 0x0400, 0, 1, 1, 0, 0)
    assert packet[-4:] == socket.inet_aton("10.244.0.5")
    assert struct.unpack("!HHHIH", packet[-16:-4]) == (0xC00C, 1, 1, 5, 4)


def test_udp_nxdomain_and_other_types():
    assert struct.unpack("!HH", dns.answer_packet(query("vmi-a.ns1.svc.cluster.local"), lookup)[:4])[1] & 0xF == 3
    mx = dns.answer_packet(query("web.ns1.svc.cluster.local", qtype=15), lookup)
    assert struct.unpack("!HHHH", mx[:8])[1] & 0xF == 0 and struct.unpack("!HHHH", mx[:8])[3] == 0
    cname = dns.answer_packet(query("outside.ns1.svc.cluster.local"), lookup)
    assert cname.endswith(b"\x02db\x07example\x03com\x00")


def test_udp_server_answers_on_loopback():
    server = dns.UDPServer(lookup)
    server.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(query("web.ns1.svc.cluster.local"), ("127.0.0.1", server.port))
        answer, _peer = sock.recvfrom(4096)
    assert answer[-4:] == socket.inet_aton("10.96.0.10")
