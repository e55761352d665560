"""virt-handler's HTTPS server (port 8186), which virt-api calls for the
subresources that need the node: freeze/unfreeze (online snapshots, so clones
of running VMs), soft reboot, pause/unpause and the guest agent reads.

As in KubeVirt v1.9.0 (cmd/virt-handler/virt-handler.go, the ``ws.Route``
list; pkg/util/tls/tls.go ``SetupTLSForVirtHandlerClients``): the server
listens on the virt-handler pod's IP, presents a certificate of the
``kubevirt-ca`` whose common name is ``kubevirt.io:system:node:virt-handler``
(virt-api checks that), and requires a client certificate of the same CA
(virt-api's ``--handler-cert-file``).  The lab's virt-handler pods get
loopback IPs (``127.x.y.n``, one /24 per lab), so these connections never
leave the machine.

What the guest would answer is the lab's guest (Fedora, one user, one file
system); freeze and unfreeze succeed (the guest agent is connected).
"""

import http.server
import json
import logging
import re
import ssl
import threading

from .. import pki

log = logging.getLogger("lab.kubevirt.handler_rest")

PORT = 8186
ROUTE = re.compile(r"^/v1/namespaces/([^/]+)/virtualmachineinstances/([^/]+)/([a-z/]+)$")
PUTS = {"freeze", "unfreeze", "softreboot", "pause", "unpause", "reset"}
GUEST_INFO = {"guestAgentVersion": "9.0.0", "hostname": "guest", "os": {
    "id": "fedora", "name": "Fedora Linux", "prettyName": "Fedora Linux 41 (Cloud Edition)",
    "version": "41 (Cloud Edition)", "versionId": "41", "kernelRelease": "6.11.4-301.fc41.x86_64",
    "machine": "x86_64"}, "timezone": "UTC, 0",
    "supportedCommands": [{"name": "guest-fsfreeze-freeze", "enabled": True}]}
USERS = {"items": [{"userName": "fedora", "domain": "", "loginTime": 1796170000.0}]}
FILESYSTEMS = {"items": [{"diskName": "vda1", "mountPoint": "/", "fileSystemType": "ext4",
                          "usedBytes": 1073741824, "totalBytes": 5368709120}]}


class HandlerIPs:
    """Loopback addresses for the virt-handler pods of one lab, one per node."""

    def __init__(self, base):
        self.base = base            # e.g. "127.41.7."
        self._by_node = {}
        self._lock = threading.Lock()

    def for_node(self, node):
        with self._lock:
            if node not in self._by_node:
                self._by_node[node] = "%s%d" % (self.base, len(self._by_node) + 1)
            return self._by_node[node]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _answer(self, code, body=None):
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _route(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        match = ROUTE.match(self.path.split("?", 1)[0])
        return match.group(3) if match else None

    def do_PUT(self):  # pylint: disable=invalid-name
        action = self._route()
        self._answer(200 if action in PUTS else 404)

    def do_GET(self):  # pylint: disable=invalid-name
        action = self._route()
        answer = {"guestosinfo": GUEST_INFO, "userlist": USERS, "filesystemlist": FILESYSTEMS}.get(action)
        self._answer(200 if answer is not None else 404, answer)


class RestServers:
    """One server per virt-handler pod IP, started when the pod runs there."""

    def __init__(self, pki_dir, ca_file):
        crt, key = pki.make_leaf(pki_dir, "virt-handler-node", "kubevirt.io:system:node:virt-handler",
                                 usage="serverAuth")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(crt, key)
        self.context.load_verify_locations(ca_file)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self._servers = {}
        self._lock = threading.Lock()

    def ensure(self, address):
        with self._lock:
            if address in self._servers:
                return
            try:
                server = http.server.ThreadingHTTPServer((address, PORT), _Handler)
            except OSError as exc:
                log.warning("virt-handler server on %s:%d: %s", address, PORT, exc)
                return
            server.socket = self.context.wrap_socket(server.socket, server_side=True)
            threading.Thread(target=server.serve_forever, name="virt-handler-rest-" + address,
                             daemon=True).start()
            self._servers[address] = server
            log.info("virt-handler server on %s:%d", address, PORT)
