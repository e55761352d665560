"""The lab's cluster DNS: answers from Services and Endpoints the way
CoreDNS's ``kubernetes`` plugin does (plugin/kubernetes ``parseRequest``,
``findServices``, ``endpointHostname``; kubeadm's ``pods insecure``), for the
zone ``cluster_domain``:

- ``<svc>.<ns>.svc.<zone>``: the ClusterIP(s); for a headless Service the
  ready Endpoints addresses; an ExternalName Service answers a CNAME;
- ``<endpoint>.<svc>.<ns>.svc.<zone>``: the ready addresses of that Service
  whose endpoint name matches - the address's ``hostname`` (kube-controller-
  manager sets it from ``pod.spec.hostname`` when ``pod.spec.subdomain`` names
  the Service) or else its IP with dashes;
- ``<a-b-c-d>.<ns>.pod.<zone>``: that IP (not checked, as ``pods insecure``);
- ``<ns>.svc.<zone>`` of an existing namespace and the zone itself: no data;
  anything else in the zone, e.g. ``<vmi>.<ns>.svc.<zone>`` without such a
  Service: NXDOMAIN.  Names outside the zone are REFUSED (no upstream).

Served as ``GET /_lab/dns?name=<fqdn>&type=A|AAAA`` on the lab proxy ->
``{"name", "type", "rcode", "answers": [{"name", "type", "ttl", "data"}]}``,
and as a plain UDP DNS server on 127.0.0.1 (port in ``<state_dir>/dns.port``).
"""

import ipaddress
import json
import logging
import os
import socket
import struct
import threading
import urllib.parse

log = logging.getLogger("lab.kubevirt.dns")

TTL = 5  # CoreDNS kubernetes plugin default
RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}
QTYPES = {1: "A", 5: "CNAME", 28: "AAAA"}


class ClusterRecords:
    """Namespaces, Services and Endpoints to answer from."""

    def __init__(self, services, endpoints, namespaces):
        self.services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services}
        self.endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
        self.namespaces = set(namespaces)

    def ready_addresses(self, namespace, service):
        endpoints = self.endpoints.get((namespace, service)) or {}
        return [addr for subset in endpoints.get("subsets") or [] for addr in subset.get("addresses") or []]


def endpoint_hostname(address):
    """CoreDNS endpointHostname: the hostname, else the IP with dashes."""
    if address.get("hostname"):
        return address["hostname"]
    return address.get("ip", "").replace(".", "-").replace(":", "-")


def _ip_records(name, ips, qtype):
    version = {"A": 4, "AAAA": 6}.get(qtype)
    return [{"name": name, "type": qtype, "ttl": TTL, "data": ip}
            for ip in ips if ipaddress.ip_address(ip).version == version]


def _dashed_ip(label):
    for candidate in (label.replace("-", "."), label.replace("-", ":")):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def resolve(name, qtype, records, zone):
    """(rcode, answers) for ``name`` of type A or AAAA."""
    fqdn = name.lower().rstrip(".")
    zone = zone.lower().strip(".")
    if fqdn == zone:
        return "NOERROR", []
    if not fqdn.endswith("." + zone):
        return "REFUSED", []
    labels = fqdn[:-len(zone) - 1].split(".")
    kind, labels = labels[-1], labels[:-1]
    if kind == "pod" and len(labels) == 2 and _dashed_ip(labels[0]):
        return "NOERROR", _ip_records(fqdn, [_dashed_ip(labels[0])], qtype)
    if kind != "svc" or len(labels) > 3:
        return "NXDOMAIN", []
    if not labels:
        return "NOERROR", []
    if len(labels) == 1:
        return ("NOERROR" if labels[0] in records.namespaces else "NXDOMAIN"), []
    endpoint, (service_name, namespace) = (labels[0] if len(labels) == 3 else None), labels[-2:]
    service = records.services.get((namespace, service_name))
    if service is None:
        return "NXDOMAIN", []
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        if endpoint:
            return "NXDOMAIN", []
        return "NOERROR", [{"name": fqdn, "type": "CNAME", "ttl": TTL, "data": spec.get("externalName", "")}]
    if endpoint is not None or spec.get("clusterIP") == "None":
        ips = [addr["ip"] for addr in records.ready_addresses(namespace, service_name)
               if endpoint is None or endpoint_hostname(addr) == endpoint]
    else:
        ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
    if not ips:
        return "NXDOMAIN", []
    return "NOERROR", _ip_records(fqdn, ips, qtype)


# ------------------------------------------------------------ wire format (UDP)
def _read_name(packet, offset):
    labels = []
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        labels.append(packet[offset:offset + length].decode("ascii", "replace"))
        offset += length


def _encode_name(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.strip(".").split(".") if label) + b"\0"


def answer_packet(query, lookup):
    """The response to one DNS query packet; lookup(name, qtype) -> (rcode, answers)."""
    ident, flags, qdcount = struct.unpack("!HHH", query[:6])
    if qdcount != 1:
        return struct.pack("!HHHHHH", ident, 0x8000 | (flags & 0x0100) | RCODES["FORMERR"], 0, 0, 0, 0)
    name, offset = _read_name(query, 12)
    qtype, _qclass = struct.unpack("!HH", query[offset:offset + 4])
    question = query[12:offset + 4]
    if qtype in QTYPES:
        rcode, answers = lookup(name, QTYPES[qtype])
    else:
        rcode, answers = lookup(name, "A")
        answers = []  # the name exists or not; no data of other types
    body = b""
    for record in answers:
        if record["type"] == "CNAME":
            rtype, rdata = 5, _encode_name(record["data"])
        else:
            rtype, rdata = (1 if record["type"] == "A" else 28), ipaddress.ip_address(record["data"]).packed
        body += struct.pack("!HHHIH", 0xC00C, rtype, 1, record["ttl"], len(rdata)) + rdata
    header = struct.pack("!HHHHHH", ident, 0x8400 | (flags & 0x0100) | RCODES[rcode], 1, len(answers), 0, 0)
    return header + question + body


class UDPServer:
    def __init__(self, lookup):
        self.lookup = lookup
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    @property
    def port(self):
        return self.sock.getsockname()[1]

    def start(self):
        threading.Thread(target=self._serve, name="lab-dns", daemon=True).start()

    def _serve(self):
        while True:
            query, peer = self.sock.recvfrom(4096)
            try:
                self.sock.sendto(answer_packet(query, self.lookup), peer)
            except (struct.error, IndexError, ValueError) as exc:
                log.warning("bad DNS query from %s: %s", peer, exc)


# ------------------------------------------------------------ the part
class Resolver:
    def __init__(self, ctx):
        self.config = ctx.config
        self.services = ctx.informer("/api/v1/services")
        self.endpoints = ctx.informer("/api/v1/endpoints")
        self.namespaces = ctx.informer("/api/v1/namespaces")

    def lookup(self, name, qtype):
        records = ClusterRecords(self.services.items(), self.endpoints.items(),
                                 [n["metadata"]["name"] for n in self.namespaces.items()])
        return resolve(name, qtype, records, self.config.get("cluster_domain"))

    def route(self, method, path, query, headers, body):  # pylint: disable=unused-argument
        params = urllib.parse.parse_qs(query)
        name, qtype = params.get("name", [""])[0], params.get("type", ["A"])[0].upper()
        if method != "GET" or not name or qtype not in ("A", "AAAA"):
            return 400, {"Content-Type": "application/json"}, json.dumps(
                {"error": "GET /_lab/dns?name=<fqdn>&type=A|AAAA"}).encode()
        rcode, answers = self.lookup(name, qtype)
        payload = {"name": name, "type": qtype, "rcode": rcode, "answers": answers}
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def start(ctx):
    resolver = Resolver(ctx)
    ctx.proxy.add_route("/_lab/dns", resolver.route)
    server = UDPServer(resolver.lookup)
    server.start()
    with open(os.path.join(ctx.state_dir, "dns.port"), "w", encoding="utf-8") as handle:
        handle.write(str(server.port))
    log.info("lab DNS on udp://127.0.0.1:%d", server.port)
    return resolver
