"""The node side of virt-launcher pods, which the lab has no binaries for:

- kube-scheduler (v1.20 wording): binds a pending launcher pod to a Node
  whose ``status.allocatable`` covers the pod's requests next to what is
  already bound there, that matches its nodeSelector and is not excluded by
  a required pod anti-affinity (the migration target's "not next to the
  source" rule); the least loaded node wins, ties by name.  Otherwise the pod
  gets ``PodScheduled=False/Unschedulable`` with the scheduler's message
  (``0/2 nodes are available: 2 Insufficient openshift.io/intelnics.``) and a
  ``FailedScheduling`` event, and is retried when Nodes or pods change;
- Multus + CNI at sandbox creation: every NAD in ``k8s.v1.cni.cncf.io/networks``
  must exist, else the sandbox fails (pod stays Pending/ContainerCreating, a
  ``FailedCreatePodSandBox`` event with Multus's message); then the pod IP
  comes from the lab's ``pod_cidr`` and each network's addresses from its NAD
  IPAM (tests/lab/kubevirt/net_ipam.py), reported in
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
import re
import threading

from . import net_ipam
from .kapi import NotFound
from .net_base import PacedController, find_condition, now, record_event
from .net_launcher import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION, UNPAUSED_GATE, CREATED_BY
from .runtime import key_of


PODS = "/api/v1/pods"
NODES = "/api/v1/nodes"
DEFAULT_NETWORK_NAME = "k8s-pod-network"
LAUNCHER = "virt-launcher"

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIXES = {"": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
             "E": 1e18, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}


def parse_quantity(text):
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError("not a quantity: %r" % (text,))
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


def is_launcher(pod):
    """A virt-launcher pod virt-controller made: labelled and owned by a VMI
    (pods that only look like one, made by tests or users, are left alone)."""
    meta = pod.get("metadata") or {}
    return (meta.get("labels") or {}).get("kubevirt.io") == LAUNCHER and CREATED_BY in (meta.get("labels") or {}) \
        and any(ref.get("kind") == "VirtualMachineInstance" and ref.get("controller")
                for ref in meta.get("ownerReferences") or [])


def pod_requests(pod):
    total = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        for name, value in dict(resources.get("limits") or {}, **(resources.get("requests") or {})).items():
            total[name] = total.get(name, 0.0) + parse_quantity(value)
    return total


def _active(pod):
    return not (pod.get("metadata") or {}).get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _matches(labels, selector):
    return all(labels.get(k) == v for k, v in ((selector or {}).get("matchLabels") or {}).items())


def _anti_affinity_terms(pod):
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {}
    return affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []


def pick_node(pod, nodes, pods):
    """(node name, None) or (None, the scheduler's FailedScheduling message)."""
    wanted = pod_requests(pod)
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    reasons, fits = {}, []
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        name = node["metadata"]["name"]
        bound = [p for p in pods if (p.get("spec") or {}).get("nodeName") == name and _active(p)
                 and p["metadata"].get("uid") != pod["metadata"].get("uid")]
        found = []
        if (node.get("spec") or {}).get("unschedulable"):
            found.append("node(s) were unschedulable")
        labels = node["metadata"].get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            found.append("node(s) didn't match node selector")
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        for resource, amount in sorted(wanted.items()):
            used = sum(pod_requests(p).get(resource, 0.0) for p in bound)
            if parse_quantity(allocatable.get(resource, 0)) - used < amount:
                found.append("Insufficient %s" % resource)
        for term in _anti_affinity_terms(pod):
            if term.get("topologyKey") == "kubernetes.io/hostname" and any(
                    p["metadata"].get("namespace") == pod["metadata"].get("namespace")
                    and _matches(p["metadata"].get("labels") or {}, term.get("labelSelector")) for p in bound):
                found += ["node(s) didn't match pod affinity/anti-affinity",
                          "node(s) didn't match pod anti-affinity rules"]
                break
        if found:
            for reason in found:
                reasons[reason] = reasons.get(reason, 0) + 1
        else:
            fits.append((len(bound), name))
    if fits:
        return min(fits)[1], None
    detail = ", ".join("%d %s" % (count, reason) for reason, count in sorted(reasons.items()))
    return None, "0/%d nodes are available: %s." % (len(nodes), detail)


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
        self._scheduling = threading.Lock()   # one pod at a time, as kube-scheduler
        self._assumed = {}                    # pod uid -> node, bound but not yet in the cache
        pods.add_handler(self._pod_event)
        nodes.add_handler(lambda _t, _node: self._retry_pending())

    # ------------------------------------------------------------ events
    def _pod_event(self, event_type, pod):
        if not is_launcher(pod):
            return
        if event_type == "DELETED":
            uid = pod["metadata"]["uid"]
            self.ips.release(lambda owner: owner == ("pod", uid))
            self._assumed.pop(uid, None)
            self.forget(key_of(pod))
            self._retry_pending()
            return
        self.on_event(event_type, pod)

    def _retry_pending(self):
        for pod in self.pods.items():
            if is_launcher(pod) and not (pod.get("spec") or {}).get("nodeName"):
                self.enqueue(key_of(pod), self.delay)

    # --------------------------------------------------------- reconcile
    def reconcile(self, key):
        namespace, name = key.split("/", 1)
        pod = self.kube.get_or_none("/api/v1/namespaces/%s/pods/%s" % (namespace, name))
        if pod is None or not is_launcher(pod):
            return None
        wait = self.wait_left(key)
        if wait:
            return wait
        if pod["metadata"].get("deletionTimestamp"):
            return self._finish_deletion(pod)
        if not (pod.get("spec") or {}).get("nodeName"):
            return self._schedule(pod)
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

    # ------------------------------------------------------------ scheduler
    def _schedule(self, pod):
        with self._scheduling:
            node, message = pick_node(pod, self.nodes.items(), self._assume(self.pods.items()))
            if node is not None:
                self.kube.create(self._path(pod, "/binding"), {
                    "apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod["metadata"]["name"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
                self._assumed[pod["metadata"]["uid"]] = node
                return self.stepped(key_of(pod))
        current = find_condition(pod, "PodScheduled") or {}
        if current.get("message") != message:
            self.kube.merge_patch(self._path(pod, "/status"), {"status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                 "lastProbeTime": None, "lastTransitionTime": now()}]}})
            record_event(self.kube, pod, "Warning", "FailedScheduling", message, "default-scheduler")
        return 5.0

    def _assume(self, pods):
        """The cached pods with the bindings the cache has not caught up with
        (kube-scheduler's assumed pods)."""
        out = []
        for pod in pods:
            node = self._assumed.get(pod["metadata"]["uid"])
            if node and not (pod.get("spec") or {}).get("nodeName"):
                pod = dict(pod, spec=dict(pod.get("spec") or {}, nodeName=node))
            elif node:
                del self._assumed[pod["metadata"]["uid"]]
            out.append(pod)
        return out

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
            "startTime": stamp, "conditions": conditions, "containerStatuses": statuses,
            "qosClass": "Burstable"}})
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
    runtime.start()
    return runtime
