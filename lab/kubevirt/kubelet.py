"""The kubelet's heartbeat for the lab's nodes (there is no real node to run one).

A real kubelet renews its Lease ``kube-node-lease/<node>`` every
``nodeLeaseDurationSeconds / 4`` (10 s of 40 s) and posts its Ready condition;
kube-controller-manager's node lifecycle controller
(k8s.io/kubernetes pkg/controller/nodelifecycle/node_lifecycle_controller.go,
``tryUpdateNodeHealth``) takes either as the node's heartbeat and, once it has
seen ``Ready=True``, removes the ``node.kubernetes.io/not-ready`` taint that
admission (plugin/pkg/admission/nodetaint) put on the new Node.  Without the
heartbeat the controller marks the node unreachable after its grace period and
evicts its pods, exactly as on a cluster whose kubelet died.

This part renews the Lease of every Node the lab's capabilities created (the
owner reference to the Node, as the kubelet sets it).  Running the pods the
scheduler bound is the pod runtime's job (net_podruntime.py).
"""

import logging
import threading
from datetime import datetime, timezone

from .kapi import Conflict, KubeError, NotFound

log = logging.getLogger("lab.kubelet")

LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
LEASE_SECONDS = 40
RENEW_EVERY = LEASE_SECONDS / 4.0


def micro_now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease(node, stamp):
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node["metadata"]["name"], "namespace": "kube-node-lease",
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                              "name": node["metadata"]["name"],
                                              "uid": node["metadata"]["uid"]}]},
            "spec": {"holderIdentity": node["metadata"]["name"], "leaseDurationSeconds": LEASE_SECONDS,
                     "renewTime": stamp}}


class Heartbeat:
    def __init__(self, kube, nodes):
        self.kube = kube
        self.nodes = nodes
        self._stop = threading.Event()
        nodes.add_handler(self._node_event)

    def _node_event(self, event_type, node):
        if event_type != "DELETED":
            self.renew(node)

    def renew(self, node):
        name = node["metadata"]["name"]
        stamp = micro_now()
        try:
            self.kube.merge_patch("%s/%s" % (LEASES, name), {"spec": {"renewTime": stamp}})
        except NotFound:
            try:
                self.kube.create(LEASES, lease(node, stamp))
            except Conflict:
                pass
        except KubeError as exc:   # the next beat retries
            log.warning("renewing the lease of node %s failed: %s", name, exc)

    def run(self):
        while not self._stop.wait(RENEW_EVERY):
            for node in self.nodes.items():
                self.renew(node)

    def start(self):
        threading.Thread(target=self.run, name="kubelet-heartbeat", daemon=True).start()


def start(ctx):
    beat = Heartbeat(ctx.kube, ctx.informer("/api/v1/nodes"))
    beat.start()
    return beat
