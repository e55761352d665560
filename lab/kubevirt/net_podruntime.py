"""The node side of virt-launcher pods, which the lab has no binaries for.
Placement is not decided here: the real kube-scheduler binds each pod to a
Node by its requests (or leaves it Pending with its FailedScheduling event);
this part then plays, for a bound pod:

- Multus + CNI at sandbox creation: every NAD in ``k8s.v1.cni.cncf.io/networks``
  must exist, else the sandbox fails (pod stays Pending/ContainerCreating, a
  ``FailedCreatePodSandBox`` event with Multus's message); then the pod IP
  comes from the lab's ``pod_cidr`` and each network's addresses from its NAD
  IPAM (lab/kubevirt/net_ipam.py), reported in
  ``k8s.v1.cni.cncf.io/network-status``;
- multus-dynamic-networks-controller (capability ``dynamic_networks``):
  attaches/detaches a running pod's interfaces when its networks annotation
  changes, updating network-status;
- kubelet: pod status Running/Ready with containerStatuses, the
  ``kubevirt.io/virtual-machine-unpaused`` readiness gate condition
  (virt-controller's), and the end of a graceful deletion (no kubelet would
  otherwise ever confirm it).

Only virt-launcher pods owned by a VMI are handled.  Each step
(bind, start, attach) waits ``reconcile_delay``.
"""

import hashlib
import ipaddress
import json

from . import net_ipam
from .kapi import NotFound
from .net_base import PacedController, now, record_event
from .net_launcher import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION, UNPAUSED_GATE, CREATED_BY
from .runtime import key_of


PODS = "/api/v1/pods"
NODES = "/api/v1/nodes"
DEFAULT_NETWORK_NAME = "k8s-pod-network"
LAUNCHER = "virt-launcher"


def is_virt_handler(pod):
    """A pod of the virt-handler DaemonSet the lab installs (lab/kubevirt_cp.py):
    the lab plays its kubelet too, so the pod runs and its bound token names the node."""
    meta = pod.get("metadata") or {}
    return meta.get("namespace") == "kubevirt" and (meta.get("labels") or {}).get("kubevirt.io") == "virt-handler"


def is_launcher(pod):
    """A virt-launcher pod virt-controller made: labelled and owned by a VMI
    (pods that only look like one, made by tests or users, are left alone)."""
    meta = pod.get("metadata") or {}
    return (meta.get("labels") or {}).get("kubevirt.io") == LAUNCHER and CREATED_BY in (meta.get("labels") or {}) \
        and any(ref.get("kind") == "VirtualMachineInstance" and ref.get("controller")
                for ref in meta.get("ownerReferences") or [])


def sandbox_error(pod, namespace, nad_name):
    meta = pod["metadata"]
    return ("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create pod network sandbox: "
            "error adding pod %s_%s to CNI network \"multus-cni-network\": Multus: [%s/%s/%s]: error loading k8s "
            "delegates k8s args: TryLoadPodDelegates: error in getting k8s network for pod: GetNetworkDelegates: "
            "failed getting the delegate: getKubernetesDelegate: cannot find a network-attachment-definition (%s) "
            "in namespace (%s): network-attachment-definitions.k8s.cni.cncf.io \"%s\" not found"
            % (meta["namespace"], meta["name"], meta["namespace"], meta["name"], meta.get("uid"), nad_name,
               namespace, nad_name))


def _mac(seed):
    return "0a:58:" + ":".join("%02x" % b for b in hashlib.sha256(seed.encode()).digest()[:4])


class PodRuntime(PacedController):
    name = "launcher-pods"

    def __init__(self, kube, config, pods, nodes, ips):
        super().__init__(kube, config)
        self.pods = pods
        self.nodes = nodes
        self.ips = ips
        self.handler_ips = None   # handler_rest.HandlerIPs, set by the virt-handler part
        pods.add_handler(self._pod_event)

    # ------------------------------------------------------------ events
    def _pod_event(self, event_type, pod):
        if not (is_launcher(pod) or is_virt_handler(pod)):
            return
        if event_type == "DELETED":
            uid = pod["metadata"]["uid"]
            self.ips.release(lambda owner: owner == ("pod", uid))
            self.forget(key_of(pod))
            return
        self.on_event(event_type, pod)

    # --------------------------------------------------------- reconcile
    def reconcile(self, key):
        namespace, name = key.split("/", 1)
        pod = self.kube.get_or_none("/api/v1/namespaces/%s/pods/%s" % (namespace, name))
        if pod is None or not (is_launcher(pod) or is_virt_handler(pod)):
            return None
        wait = self.wait_left(key)
        if wait:
            return wait
        if pod["metadata"].get("deletionTimestamp"):
            return self._finish_deletion(pod)
        if not (pod.get("spec") or {}).get("nodeName"):
            return None   # kube-scheduler has not bound it (yet): its update brings it back
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return None   # its containers exited (e.g. a migrated launcher, handler_migration.py)
        if (pod.get("status") or {}).get("phase") != "Running":
            return self._start(pod)
        if self.config.get("dynamic_networks"):
            return self._sync_dynamic_networks(pod)
        return None

    def _path(self, pod, sub=""):
        return "/api/v1/namespaces/%s/pods/%s%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"], sub)

    def _finish_deletion(self, pod):
        """kubelet: the containers stopped; confirm the graceful deletion."""
        self.ips.release(lambda owner: owner == ("pod", pod["metadata"]["uid"]))
        self.kube.delete(self._path(pod), {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0})
        return None

    # ------------------------------------------------------- CNI + kubelet
    def _nad(self, namespace, name):
        return self.kube.get_or_none("/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/%s"
                                     % (namespace, name))

    def _attachments(self, pod, selections):
        """network-status entries for these selections, or the first missing
        NAD's (namespace, name)."""
        vmi_uid = pod["metadata"]["labels"].get(CREATED_BY)
        entries = []
        for selection in selections:
            if not selection.get("interface"):
                continue   # a binding plugin's CNI: not a VM interface
            nad = self._nad(selection["namespace"], selection["name"])
            if nad is None:
                return None, (selection["namespace"], selection["name"])
            ips = self.ips.addresses(net_ipam.parse_nad_ipam(nad), (vmi_uid, selection["interface"]))
            entry = {"name": "%s/%s" % (selection["namespace"], selection["name"]),
                     "interface": selection["interface"], "mac": selection.get("mac") or _mac(
                         "%s/%s" % (pod["metadata"]["uid"], selection["interface"])), "dns": {}}
            if ips:
                entry["ips"] = ips
            entries.append(entry)
        return entries, None

    def _start(self, pod):
        selections = json.loads((pod["metadata"].get("annotations") or {}).get(NETWORKS_ANNOTATION) or "[]")
        entries, missing = self._attachments(pod, selections)
        node = self.kube.get_or_none("/api/v1/nodes/" + pod["spec"]["nodeName"]) or {}
        host_ip = next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                        if a.get("type") == "InternalIP"), "")
        if missing is not None:
            return self._sandbox_failed(pod, host_ip, sandbox_error(pod, *missing))
        cidr = ipaddress.ip_network(self.config.get("pod_cidr"))
        pool = net_ipam.Pool(("pods", str(cidr)), cidr, excluded=[cidr.network_address + 1])   # the gateway
        if is_virt_handler(pod) and self.handler_ips is not None:
            # a loopback address: virt-api connects to it (handler_rest.py), and must stay on this machine
            pod_ip = self.handler_ips.for_node(pod["spec"]["nodeName"])
        else:
            pod_ip = self.ips.allocate(pool, ("pod", pod["metadata"]["uid"]))
        default = {"name": DEFAULT_NETWORK_NAME, "interface": "eth0", "ips": [pod_ip],
                   "mac": _mac(pod["metadata"]["uid"]), "default": True, "dns": {}}
        self.kube.merge_patch(self._path(pod), {"metadata": {"annotations": {
            NETWORK_STATUS_ANNOTATION: json.dumps([default] + entries, indent=1)}}})
        stamp = now()
        statuses = [{"name": c["name"], "ready": True, "started": True, "restartCount": 0, "image": c["image"],
                     "imageID": c["image"], "containerID": "cri-o://" + hashlib.sha256(
                         (pod["metadata"]["uid"] + c["name"]).encode()).hexdigest(),
                     "state": {"running": {"startedAt": stamp}}} for c in pod["spec"]["containers"]]
        conditions = [{"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
                      for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled", UNPAUSED_GATE)]
        self.kube.merge_patch(self._path(pod, "/status"), {"status": {
            "phase": "Running", "hostIP": host_ip, "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "startTime": stamp, "conditions": conditions, "containerStatuses": statuses}})
        # (status.qosClass is the API server's, set at creation and immutable since 1.32)
        return self.stepped(key_of(pod))

    def _sandbox_failed(self, pod, host_ip, message):
        waiting = [{"name": c["name"], "ready": False, "started": False, "restartCount": 0, "image": c["image"],
                    "imageID": "", "state": {"waiting": {"reason": "ContainerCreating"}}}
                   for c in pod["spec"]["containers"]]
        if (pod.get("status") or {}).get("containerStatuses") != waiting:
            unready = "containers with unready status: [%s]" % " ".join(c["name"] for c in pod["spec"]["containers"])
            stamp = now()
            conditions = [{"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp},
                          {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": stamp}]
            conditions += [{"type": kind, "status": "False", "reason": "ContainersNotReady", "message": unready,
                            "lastProbeTime": None, "lastTransitionTime": stamp} for kind in ("Ready", "ContainersReady")]
            self.kube.merge_patch(self._path(pod, "/status"), {"status": {
                "phase": "Pending", "hostIP": host_ip, "startTime": stamp, "conditions": conditions,
                "containerStatuses": waiting}})
            record_event(self.kube, pod, "Warning", "FailedCreatePodSandBox", message, "kubelet",
                         pod["spec"]["nodeName"])
        return 2.0   # kubelet retries the sandbox: the NAD may appear

    # ------------------------------------------- dynamic networks controller
    def _sync_dynamic_networks(self, pod):
        annotations = pod["metadata"].get("annotations") or {}
        wanted = [s for s in json.loads(annotations.get(NETWORKS_ANNOTATION) or "[]") if s.get("interface")]
        status = json.loads(annotations.get(NETWORK_STATUS_ANNOTATION) or "[]")
        default = [e for e in status if e.get("default")]
        current = {e.get("interface"): e for e in status if not e.get("default")}
        if {s["interface"] for s in wanted} == set(current):
            return None
        keep = [s for s in wanted if s["interface"] in current]
        added, missing = self._attachments(pod, [s for s in wanted if s["interface"] not in current])
        if missing is not None:
            return 2.0   # the dynamic-networks controller retries a failed attachment
        vmi_uid = pod["metadata"]["labels"].get(CREATED_BY)
        for iface in set(current) - {s["interface"] for s in wanted}:
            self.ips.release(lambda owner, iface=iface: owner == (vmi_uid, iface))
        entries = default + [current[s["interface"]] for s in keep] + added
        try:
            self.kube.merge_patch(self._path(pod), {"metadata": {"annotations": {
                NETWORK_STATUS_ANNOTATION: json.dumps(entries, indent=1)}}})
        except NotFound:
            return None
        return self.stepped(key_of(pod))


def start(ctx, ips):
    runtime = PodRuntime(ctx.kube, ctx.config, ctx.informer(PODS), ctx.informer(NODES), ips)
    runtime.handler_ips = getattr(ctx, "handler_ips", None)
    runtime.start()
    return runtime
