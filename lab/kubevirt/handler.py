"""virt-handler's part, which needs a node and a hypervisor the lab does not
have: it reads what KubeVirt's real virt-controller wrote (the VMI's phase,
``status.nodeName``, ``activePods``, the interfaces' ``multus-status`` info
that virt-controller takes from the launcher pod's network-status) and
reports what the domain would show.  It decides nothing virt-controller
decides (phases up to ``Scheduled``, pods, pod annotations, migrations,
``MigrationRequired``, ``Ready``).

- identity: each node's virt-handler writes with a token of service account
  ``kubevirt-handler`` bound to that node's virt-handler pod, so the API
  server puts the node name in its user info and KubeVirt's NodeRestriction
  (vmi-update-admitter.go, the kubevirt-node-restriction policy) and its VMI
  mutator (which keeps the status of writes from non-KubeVirt users) judge
  these writes as they judge a real virt-handler's;
- node heartbeat (``pkg/virt-handler/heartbeat``): label
  ``kubevirt.io/schedulable=true`` and annotation ``kubevirt.io/heartbeat``;
- ``Scheduled`` -> ``Running`` once the VMI's active pod on its node runs
  (``pkg/virt-handler/vm.go`` ``updateVMIStatus``): the domain's interfaces
  (``pkg/network/setup/netstat.go``: ``domain``; with the guest agent
  ``domain, guest-agent`` and in-guest names/addresses), ``AgentConnected``,
  ``LiveMigratable`` (``calculateLiveMigrationCondition`` with
  ``pkg/network/vmispec`` ``VerifyVMIMigratable``), guest OS info;
- on a running VMI, the domain side of hot-plug (``pkg/virt-launcher/virtwrap/
  network/nichotplug.go``): an interface virt-controller reports as
  ``multus-status`` only, and not ``absent`` in the spec, is plugged; an
  ``absent`` one leaves the domain; link state follows the spec.  The status is
  rebuilt each time as ``pkg/network/setup/netstat.go`` does: domain interfaces
  plus the ``multus-status`` virt-controller wrote (never read from the pod
  here), so an unplugged interface leaves once virt-controller drops its
  ``multus-status``.
"""

import copy
import datetime
import logging
import os
import threading
import time

from . import handler_migration, handler_rest, net_spec, net_status
from .kapi import Conflict, KubeError, NotFound
from .net_base import PacedController, net_state, now, set_condition, status_patch
from .net_launcher import binding_plugins
from .net_podruntime import is_virt_handler, start as start_pod_runtime
from .runtime import key_of

log = logging.getLogger("lab.kubevirt.handler")

VMIS = "/apis/kubevirt.io/v1/virtualmachineinstances"
PODS = "/api/v1/pods"
NODES = "/api/v1/nodes"
HEARTBEAT = "kubevirt.io/heartbeat"
SCHEDULABLE = "kubevirt.io/schedulable"
# what virt-handler's node labeller (pkg/virt-handler/node-labeller) puts on a node
# whose libvirt offers the q35 machine type (the default of v1.9.0 on amd64)
NODE_LABELS = {SCHEDULABLE: "true", "machine-type.node.kubevirt.io/q35": "true",
               "cpu-vendor.node.kubevirt.io/Intel": "true", "kubevirt.io/ksm-enabled": "false"}
GUEST_OS = {"id": "fedora", "name": "Fedora Linux", "prettyName": "Fedora Linux 41 (Cloud Edition)",
            "version": "41 (Cloud Edition)", "versionId": "41", "kernelRelease": "6.11.4-301.fc41.x86_64"}
DOMAIN_SOURCES = (net_spec.INFO_DOMAIN, net_spec.INFO_GUEST_AGENT)


def vmi_path(namespace, name):
    return "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s" % (namespace, name)


def active_pod(vmi, pods):
    """The launcher pod the VMI's domain runs in (virt-controller's activePods on status.nodeName)."""
    status = vmi.get("status") or {}
    node = status.get("nodeName")
    active = status.get("activePods") or {}
    return next((p for p in pods if p["metadata"]["uid"] in active and not p["metadata"].get("deletionTimestamp")
                 and (p.get("spec") or {}).get("nodeName") == node), None)


def pod_running(pod):
    return (pod or {}).get("status", {}).get("phase") == "Running"


def sources(entry):
    return net_spec.info_sources(entry)


def join_sources(names):
    order = (net_spec.INFO_DOMAIN, net_spec.INFO_GUEST_AGENT, net_spec.INFO_MULTUS)
    return ", ".join(n for n in order if n in names)


def domain_interfaces(vmi, pod, macs, plug=None, unplug=()):
    """``status.interfaces`` as virt-handler's ``NetStat.UpdateStatus`` builds it
    (``pkg/network/setup/netstat.go``), from scratch on every update: one entry per
    interface in the domain (``domain, guest-agent``), plus ``multus-status``
    where virt-controller put it in the VMI status (``pkg/network/controllers/
    vmi.go`` calculateSecondaryIfaceStatuses: virt-controller, not virt-handler,
    reads the pod's network-status), plus the spec interfaces that only
    virt-controller reports (``ifacesStatusFromMultus``: in the spec, not in the
    domain).  An entry with neither source is dropped - that is how an unplugged
    interface leaves the status once Multus detached it and virt-controller
    removed its ``multus-status``.

    The domain: an interface stays in it while it is not ``absent`` and not being
    unplugged (``unplug``); a new one is plugged when its pod interface exists
    (the launcher's ``nichotplug.go`` needs it), limited to ``plug`` when given."""
    spec = vmi.get("spec") or {}
    current = list((vmi.get("status") or {}).get("interfaces") or [])
    reported = net_spec.by_name(current)
    nets = net_spec.by_name(net_spec.networks(spec))
    ifaces = net_spec.interfaces(spec)
    attached = net_status.pod_attachments(net_status_of(pod))
    pod_ips = [e["ip"] for e in (pod.get("status") or {}).get("podIPs") or []]
    out = []
    for index, iface in enumerate(ifaces):
        network = nets.get(iface["name"])
        if network is None:
            continue
        previous = reported.get(iface["name"])
        have = set(sources(previous))
        attachment = attached.get(net_spec.pod_interface_name(network))
        secondary = net_spec.is_secondary_multus(network)
        in_domain = net_spec.INFO_DOMAIN in have
        staying = iface.get("state") != net_spec.ABSENT and iface["name"] not in unplug
        wanted = staying and (in_domain or ((not secondary or attachment is not None)
                                            and (plug is None or iface["name"] in plug)))
        names = (have & {net_spec.INFO_MULTUS}) | (set(DOMAIN_SOURCES) if wanted else set())
        if not names:
            continue
        entry = net_status.interface_status(index, iface, network, attachment, pod_ips,
                                            macs.mac_for(vmi["metadata"]["uid"], iface), join_sources(names),
                                            previous)
        out.append(entry)
    # entries of interfaces gone from the spec are not rebuilt (netstat.go keeps multus-only
    # entries of spec interfaces only; the domain no longer has them)
    return out


def net_status_of(pod):
    import json
    return json.loads(((pod or {}).get("metadata", {}).get("annotations") or {}).get(
        "k8s.v1.cni.cncf.io/network-status") or "[]")


class VirtHandler(PacedController):
    name = "virt-handler"

    def __init__(self, kube, config, vmis, pods, nodes, state):
        super().__init__(kube, config)
        self.vmis = vmis
        self.pods = pods
        self.nodes = nodes
        self.state = state
        vmis.add_handler(self._vmi_event)
        pods.add_handler(self._pod_event)
        nodes.add_handler(self._node_event)
        self._stop = threading.Event()
        self._clients = {}
        self.rest = None   # handler_rest.RestServers
        self._clients_lock = threading.Lock()

    # ------------------------------------------------------------ identity
    def client(self, node):
        """The API client of ``node``'s virt-handler (a token bound to its pod)."""
        with self._clients_lock:
            cached = self._clients.get(node)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            pods = self.kube.list("/api/v1/namespaces/kubevirt/pods", labelSelector="kubevirt.io=virt-handler",
                                  fieldSelector="spec.nodeName=" + node)["items"]
            pods = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
            if not pods:
                raise KubeError(503, "no running virt-handler pod on node %s yet" % node)
            pod = pods[0]
            token = self.kube.create("/api/v1/namespaces/kubevirt/serviceaccounts/kubevirt-handler/token", {
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600, "boundObjectRef": {
                    "apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"]}}})["status"]["token"]
            client = self.kube.as_token(token)
            self._clients[node] = (client, time.monotonic() + 1800)
            return client

    # ------------------------------------------------------------ events
    def _vmi_event(self, event_type, vmi):
        if event_type == "DELETED":
            uid = vmi["metadata"]["uid"]
            self.state.macs.release(uid)
            self.state.ips.release(lambda owner: owner[0] == uid)
            self.forget(key_of(vmi))
            return
        self.on_event(event_type, vmi)

    def _pod_event(self, _event_type, pod):
        if is_virt_handler(pod) and (pod.get("status") or {}).get("podIP") and self.rest is not None:
            self.rest.ensure(pod["status"]["podIP"])
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "VirtualMachineInstance":
                self.enqueue("%s/%s" % (pod["metadata"]["namespace"], ref["name"]), self.delay)

    def _node_event(self, event_type, node):
        if event_type != "DELETED":
            self.heartbeat(node)

    # ---------------------------------------------------------- heartbeat
    def heartbeat(self, node, force=False):
        """True when the node carries a fresh heartbeat and the labeller's labels."""
        meta = node["metadata"]
        stamp = (meta.get("annotations") or {}).get(HEARTBEAT)
        fresh = False
        if stamp and not force:
            try:
                age = datetime.datetime.now(datetime.timezone.utc) - datetime.datetime.strptime(
                    stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
                fresh = age.total_seconds() < 60
            except ValueError:
                fresh = False
        labels = meta.get("labels") or {}
        if fresh and all(labels.get(k) == v for k, v in NODE_LABELS.items()):
            return True
        try:
            self.client(meta["name"]).merge_patch(NODES + "/" + meta["name"], {"metadata": {
                "labels": NODE_LABELS, "annotations": {HEARTBEAT: now()}}})
            return True
        except (KubeError, NotFound) as exc:
            log.info("heartbeat of node %s: %s", meta["name"], exc)
            return False

    def _beat(self):
        """virt-handler beats every minute; until every node's virt-handler
        runs (its pod, its token), retry every second."""
        period = 1.0
        while not self._stop.wait(period):
            beaten = [self.heartbeat(node, force=period > 1.0) for node in self.nodes.items()]
            period = 30.0 if beaten and all(beaten) else 1.0

    def start(self):
        super().start()
        threading.Thread(target=self._beat, name="virt-handler-heartbeat", daemon=True).start()

    # ---------------------------------------------------------- reconcile
    def reconcile(self, key):
        namespace, name = key.split("/", 1)
        vmi = self.kube.get_or_none(vmi_path(namespace, name))
        if vmi is None or vmi["metadata"].get("deletionTimestamp"):
            return None
        wait = self.wait_left(key)
        if wait:
            return wait
        status = vmi.get("status") or {}
        pods = self.kube.list("/api/v1/namespaces/%s/pods" % namespace,
                              labelSelector="kubevirt.io/created-by=%s" % vmi["metadata"]["uid"])["items"]
        if status.get("migrationState"):
            handled, requeue = handler_migration.reconcile(self, vmi, pods)
            if handled:   # the migration side (handler_migration.py) wrote, or owns the VMI now
                return requeue
        pod = active_pod(vmi, pods)
        if pod is None or not pod_running(pod):
            return None
        phase = status.get("phase")
        if phase == "Scheduled":
            return self._start_domain(vmi, pod)
        if phase == "Running":
            return self._running(vmi, pod)
        return None

    def _conditions(self, vmi):
        conditions = copy.deepcopy((vmi.get("status") or {}).get("conditions") or [])
        conditions = set_condition(conditions, "AgentConnected", "True")
        kubevirt = self.kube.get_or_none("/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt") or {}
        migratable, message = net_spec.live_migratable(vmi.get("spec"), vmi["metadata"].get("annotations"),
                                                       binding_plugins(kubevirt))
        if migratable:
            return set_condition(conditions, "LiveMigratable", "True")
        return set_condition(conditions, "LiveMigratable", "False", "InterfaceNotLiveMigratable", message)

    def _write(self, vmi, status):
        """PUT the VMI with the new status, as virt-handler does (its RBAC
        allows update, not patch), guarded by the resourceVersion read."""
        if not status_patch(vmi.get("status") or {}, status):
            return False
        body = copy.deepcopy(vmi)
        body["status"] = status
        try:
            self.client(vmi["status"]["nodeName"]).replace(
                vmi_path(vmi["metadata"]["namespace"], vmi["metadata"]["name"]), body)
        except Conflict:
            self.enqueue(key_of(vmi), 0.1)
            return False
        return True

    def _start_domain(self, vmi, pod):
        status = copy.deepcopy(vmi.get("status") or {})
        status["interfaces"] = domain_interfaces(vmi, pod, self.state.macs)
        status["conditions"] = self._conditions(vmi)
        compute = next((c for c in pod["spec"]["containers"] if c["name"] == "compute"), {})
        status.update(phase="Running", guestOSInfo=GUEST_OS, launcherContainerImageVersion=compute.get("image"),
                      migrationMethod="LiveMigration", runtimeUser=107, selinuxContext="none")
        stamps = list(status.get("phaseTransitionTimestamps") or [])
        stamps.append({"phase": "Running", "phaseTransitionTimestamp": now()})
        status["phaseTransitionTimestamps"] = stamps
        self._write(vmi, status)
        return self.stepped(key_of(vmi))

    def _running(self, vmi, pod):
        status = copy.deepcopy(vmi.get("status") or {})
        status["conditions"] = self._conditions(vmi)
        reported = net_spec.by_name(status.get("interfaces"))
        spec_ifaces = net_spec.interfaces(vmi.get("spec"))
        plug = {i["name"] for i in spec_ifaces if i.get("state") != net_spec.ABSENT
                and sources(reported.get(i["name"])) == [net_spec.INFO_MULTUS]}
        unplug = {i["name"] for i in spec_ifaces if i.get("state") == net_spec.ABSENT
                  and net_spec.INFO_DOMAIN in sources(reported.get(i["name"]))}
        # one observable step at a time: plug first, then unplug; otherwise the status as
        # netstat.go rebuilds it (link states, entries virt-controller no longer reports)
        if plug:
            status["interfaces"] = domain_interfaces(vmi, pod, self.state.macs, plug=plug)
        elif unplug:
            status["interfaces"] = domain_interfaces(vmi, pod, self.state.macs, plug=set(), unplug=unplug)
        else:
            status["interfaces"] = domain_interfaces(vmi, pod, self.state.macs, plug=set())
        written = self._write(vmi, status)
        return self.stepped(key_of(vmi)) if written and (plug or unplug) else None


def start(ctx):
    state = net_state(ctx)
    ctx.handler_ips = handler_rest.HandlerIPs(ctx.state.get("handler_ip_base") or "127.0.10.")
    rest = handler_rest.RestServers(os.path.join(ctx.state_dir, "pki"), ctx.state["pki"]["ca.crt"])
    start_pod_runtime(ctx, state.ips)
    handler = VirtHandler(ctx.kube, ctx.config, ctx.informer(VMIS), ctx.informer(PODS), ctx.informer(NODES), state)
    handler.rest = rest
    handler.start()
    return handler
