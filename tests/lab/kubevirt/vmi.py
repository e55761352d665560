"""VirtualMachineInstance lifecycle, virt-launcher pods and interface status
(KubeVirt v1.9 virt-controller + virt-handler as the API shows them).

- phases Pending -> Scheduling -> Scheduled -> Running, one step per
  ``reconcile_delay``; the node is the first Node offering every resource the
  VMI needs (an SR-IOV network's ``k8s.v1.cni.cncf.io/resourceName``); without
  one the VMI stays Scheduling with the scheduler's message;
- a virt-launcher Pod per VMI with KubeVirt's labels plus the VMI's, hostname
  and subdomain, the Multus ``k8s.v1.cni.cncf.io/networks`` annotation, the
  network-status annotation once attached, Istio's label/annotations; its
  status (Running, pod IP, Ready) is set here, so kube-controller-manager builds
  Endpoints for Services selecting it;
- ``status.interfaces[]``: name, mac (stable, KubeVirt-style 02:...), IPs (the
  pod IP on the pod network; the NAD's IPAM range for Multus networks),
  interfaceName eth0/eth1/..., podInterfaceName, infoSource, linkState;
- hot-plug (interfaces the VM controller copied into the VMI spec): with the
  dynamic-networks capability and a bridge binding, the pod attaches it
  (``multus-status``) and then the domain (``domain, guest-agent,
  multus-status``); otherwise ``MigrationRequired`` (False/AutoMigrationPending
  for the grace period, then True/AutoMigrationDueToLiveUpdate; SR-IOV True at
  once) and, only when the KubeVirt CR lists ``LiveMigrate`` and the VMI is
  LiveMigratable, a VirtualMachineInstanceMigration (workload updater); the
  migration controller attaches pending interfaces when it completes;
- unplug (``state: absent``): detached from the domain and the pod (dynamic
  networks) or by a migration.
"""

import datetime
import hashlib
import ipaddress
import json
import logging
import random
import string
import threading
import time

from .kapi import Conflict, NotFound
from .runtime import Controller, key_of

log = logging.getLogger("lab.kubevirt.vmi")

VMIS = "/apis/kubevirt.io/v1/virtualmachineinstances"
KUBEVIRT = "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt"
ATTACHED = "kubevirt.io/lab-attached"   # pod annotation: networks the pod has (JSON list)
PHASES = ["", "Pending", "Scheduling", "Scheduled", "Running"]


def now():
    return datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"


def mac_for(uid, name):
    digest = hashlib.sha256(("%s/%s" % (uid, name)).encode()).digest()
    return "02:%02x:%02x:%02x:%02x:%02x" % tuple(digest[:5])


def ifaces_of(vmi):
    return ((vmi.get("spec") or {}).get("domain") or {}).get("devices", {}).get("interfaces") or []


def networks_of(vmi):
    return {n["name"]: n for n in (vmi.get("spec") or {}).get("networks") or []}


def binding_of(iface):
    for name in ("bridge", "masquerade", "sriov", "passtBinding", "binding"):
        if name in iface:
            return name
    return None


def live_migratable(vmi, kubevirt_cr):
    """KubeVirt's LiveMigratable condition for the network part."""
    nets = networks_of(vmi)
    plugins = ((((kubevirt_cr or {}).get("spec") or {}).get("configuration") or {}).get("network") or {}).get(
        "binding") or {}
    for iface in ifaces_of(vmi):
        net = nets.get(iface["name"]) or {}
        if "bridge" in iface and "pod" in net:
            return False, "InterfaceNotLiveMigratable", \
                "cannot migrate VMI which does not use masquerade, bridge with kubevirt.io/allow-pod-bridge-network-" \
                "live-migration VM annotation or a migratable plugin to connect to the pod network"
        if "binding" in iface:
            plugin = plugins.get(iface["binding"].get("name")) or {}
            if "migration" not in plugin:
                return False, "InterfaceNotLiveMigratable", \
                    "cannot migrate VMI with non-migratable binding plugin %s" % iface["binding"].get("name")
    return True, "", ""


class IPAllocator:
    """Addresses from NAD IPAM ranges and the pod CIDR, unique in the lab."""

    def __init__(self):
        self.used = {}
        self._lock = threading.Lock()

    def pick(self, pool_key, network, key):
        with self._lock:
            return self._pick(pool_key, network, key)

    def _pick(self, pool_key, network, key):
        taken = self.used.setdefault(pool_key, {})
        if key in taken:
            return taken[key]
        hosts = network.hosts() if network.num_addresses < 65536 else None
        for index, address in enumerate(hosts or (network[i] for i in range(2, 65534))):
            if index == 0 and network.version == 4 and network.prefixlen < 31 and str(address).endswith(".1"):
                continue  # leave .1 for a gateway
            if str(address) not in taken.values():
                taken[key] = str(address)
                return str(address)
        return None


def nad_subnet(nad):
    try:
        config = json.loads(((nad or {}).get("spec") or {}).get("config") or "{}")
    except ValueError:
        return None
    for plugin in config.get("plugins") or [config]:
        ipam = plugin.get("ipam") or {}
        subnet = ipam.get("subnet") or ipam.get("range")
        if not subnet and ipam.get("ranges"):
            subnet = ipam["ranges"][0][0].get("subnet")
        if not subnet and ipam.get("addresses"):
            return ("static", ipam["addresses"][0]["address"].split("/")[0])
        if subnet:
            try:
                return ("range", ipaddress.ip_network(subnet.split("-")[-1] if "-" in subnet.split("/")[0]
                                                      else subnet, strict=False))
            except ValueError:
                return None
    return None


class VMIController(Controller):
    name = "vmi"

    def __init__(self, kube, config, vmis):
        super().__init__(kube, config)
        self.vmis = vmis
        self.ips = IPAllocator()
        self.pending_since = {}
        vmis.add_handler(lambda _t, obj: self.enqueue(key_of(obj), self.config.get("reconcile_delay")))

    # ----------------------------------------------------------- helpers
    def kubevirt_cr(self):
        return self.kube.get_or_none(KUBEVIRT) or {}

    def nad(self, namespace, ref):
        ns, _sep, name = ref.rpartition("/")
        return self.kube.get_or_none("/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/%s"
                                     % (ns or namespace, name))

    def pod_of(self, vmi):
        pods = self.kube.list("/api/v1/namespaces/%s/pods" % vmi["metadata"]["namespace"],
                              labelSelector="kubevirt.io/created-by=%s" % vmi["metadata"]["uid"])["items"]
        alive = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        return sorted(alive, key=lambda p: p["metadata"]["creationTimestamp"])[-1] if alive else None

    def patch_status(self, vmi, status):
        path = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s" % (
            vmi["metadata"]["namespace"], vmi["metadata"]["name"])
        return self.kube.merge_patch(path, {"status": status})

    # ------------------------------------------------------------- main
    def reconcile(self, key):
        namespace, name = key.split("/", 1)
        try:
            vmi = self.kube.get("/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s" % (namespace, name))
        except NotFound:
            return None
        if (vmi.get("metadata") or {}).get("deletionTimestamp"):
            return None
        status = vmi.get("status") or {}
        phase = status.get("phase") or ""
        if phase in ("Succeeded", "Failed"):
            return None
        if phase != "Running":
            return self.advance(vmi, phase)
        return self.running(vmi)

    def required_resources(self, vmi):
        needed = {}
        nets = networks_of(vmi)
        for iface in ifaces_of(vmi):
            if "sriov" in iface and iface.get("state") != "absent":
                ref = ((nets.get(iface["name"]) or {}).get("multus") or {}).get("networkName")
                nad = self.nad(vmi["metadata"]["namespace"], ref or "")
                resource = (((nad or {}).get("metadata") or {}).get("annotations") or {}).get(
                    "k8s.v1.cni.cncf.io/resourceName")
                if resource:
                    needed[resource] = needed.get(resource, 0) + 1
        return needed

    def pick_node(self, vmi, exclude=None):
        needed = self.required_resources(vmi)
        nodes = self.kube.list("/api/v1/nodes")["items"]
        fits = []
        for node in nodes:
            if node["metadata"]["name"] == exclude:
                continue
            allocatable = (node.get("status") or {}).get("allocatable") or {}
            if all(_quantity(allocatable.get(res)) >= count for res, count in needed.items()):
                fits.append(node["metadata"]["name"])
        if fits:
            return sorted(fits)[hash(vmi["metadata"]["name"]) % len(fits)] if exclude is None else sorted(fits)[0], None
        missing = ", ".join("Insufficient %s" % res for res in sorted(needed))
        return None, "0/%d nodes are available: %d %s." % (len(nodes), len(nodes), missing or "node(s) unavailable")

    def advance(self, vmi, phase):
        if phase == "":
            self.patch_status(vmi, {"phase": "Pending", "phaseTransitionTimestamps": [
                {"phase": "Pending", "phaseTransitionTimestamp": now()}]})
            return None
        if phase == "Pending":
            self.patch_status(vmi, {"phase": "Scheduling"})
            return None
        if phase == "Scheduling":
            node, message = self.pick_node(vmi)
            pod = self.pod_of(vmi) or self.create_pod(vmi)
            if node is None:
                self.set_pod_unschedulable(pod, message)
                self.patch_status(vmi, {"conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                     "lastProbeTime": None, "lastTransitionTime": now()},
                    {"type": "Ready", "status": "False", "reason": "PodNotExists" if pod is None else "GuestNotRunning",
                     "lastProbeTime": None, "lastTransitionTime": now()}]})
                return 2.0
            self.run_pod(pod, node)
            self.patch_status(vmi, {"phase": "Scheduled", "nodeName": node})
            return None
        if phase == "Scheduled":
            pod = self.pod_of(vmi)
            if pod is None:
                return 0.5
            self.patch_status(vmi, self.running_status(vmi, pod, attach_all=True))
            return None
        return None

    # -------------------------------------------------------------- pods
    def create_pod(self, vmi):
        meta = vmi["metadata"]
        suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _index in range(5))
        labels = dict(meta.get("labels") or {})
        labels.update({"kubevirt.io": "virt-launcher", "kubevirt.io/created-by": meta["uid"],
                       "vm.kubevirt.io/name": meta["name"], "vmi.kubevirt.io/id": meta["name"][:63]})
        annotations = {"kubevirt.io/domain": meta["name"]}
        vmi_annotations = meta.get("annotations") or {}
        if vmi_annotations.get("sidecar.istio.io/inject"):
            labels["sidecar.istio.io/inject"] = vmi_annotations["sidecar.istio.io/inject"]
        if any("masquerade" in i for i in ifaces_of(vmi)):
            annotations["traffic.sidecar.istio.io/kubevirtInterfaces"] = "k6t-eth0"
            annotations["istio.io/reroute-virtual-interfaces"] = "k6t-eth0"
        multus = self.multus_annotation(vmi, [i["name"] for i in ifaces_of(vmi) if i.get("state") != "absent"])
        if multus:
            annotations["k8s.v1.cni.cncf.io/networks"] = json.dumps(multus)
        containers = [{"name": "compute", "image": "quay.io/kubevirt/virt-launcher:v1.9.0"}]
        ns = self.kube.get_or_none("/api/v1/namespaces/" + meta["namespace"]) or {}
        ns_labels = (ns.get("metadata") or {}).get("labels") or {}
        if self.config.get("istio") and (ns_labels.get("istio-injection") == "enabled" or ns_labels.get("istio.io/rev")) \
                and vmi_annotations.get("sidecar.istio.io/inject") == "true":
            containers.append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.26.0"})
        spec = (vmi.get("spec") or {})
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "virt-launcher-%s-%s" % (meta["name"][:40], suffix),
                             "namespace": meta["namespace"], "labels": labels, "annotations": annotations,
                             "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                                                  "name": meta["name"], "uid": meta["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "spec": {"containers": containers, "hostname": (spec.get("hostname") or meta["name"])[:63],
                         "automountServiceAccountToken": bool(vmi_annotations.get("sidecar.istio.io/inject"))}}
        if spec.get("subdomain"):
            body["spec"]["subdomain"] = spec["subdomain"]
        return self.kube.create("/api/v1/namespaces/%s/pods" % meta["namespace"], body)

    def multus_annotation(self, vmi, names):
        nets = networks_of(vmi)
        out = []
        for index, name in enumerate(names):
            ref = ((nets.get(name) or {}).get("multus") or {}).get("networkName")
            if ref and not (nets[name]["multus"].get("default")):
                ns, _sep, nad = ref.rpartition("/")
                out.append({"name": nad, "namespace": ns or vmi["metadata"]["namespace"],
                            "interface": "pod" + hashlib.sha256(name.encode()).hexdigest()[:11]})
        return out

    def set_pod_unschedulable(self, pod, message):
        path = "/api/v1/namespaces/%s/pods/%s/status" % (pod["metadata"]["namespace"], pod["metadata"]["name"])
        self.kube.merge_patch(path,
                              {"status": {"phase": "Pending", "conditions": [
                                  {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                   "message": message, "lastTransitionTime": now()}]}})

    def run_pod(self, pod, node):
        ip = self.ips.pick("pods", ipaddress.ip_network(self.config.get("pod_cidr")), pod["metadata"]["uid"])
        path = "/api/v1/namespaces/%s/pods/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"])
        # bind the pod to its node the way the scheduler does (pods/binding)
        if not (pod.get("spec") or {}).get("nodeName"):
            self.kube.create(path + "/binding", {"apiVersion": "v1", "kind": "Binding",
                                                 "metadata": {"name": pod["metadata"]["name"]},
                                                 "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
        self.kube.merge_patch(path, {"metadata": {"labels": {"kubevirt.io/nodeName": node}}})
        stamp = now()
        statuses = [{"name": c["name"], "ready": True, "restartCount": 0, "image": c["image"], "imageID": "",
                     "started": True, "state": {"running": {"startedAt": stamp}}}
                    for c in pod["spec"]["containers"]]
        self.kube.merge_patch(path + "/status", {"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "192.0.2.10", "startTime": stamp,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": stamp}
                           for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": statuses}})

    # ---------------------------------------------------------- running
    def running_status(self, vmi, pod, attach_all=False):
        """Status of a running VMI given its pod; ``attach_all`` at start."""
        meta = vmi["metadata"]
        nets = networks_of(vmi)
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        attached = json.loads(annotations.get(ATTACHED) or "{}")
        old = {i["name"]: i for i in (vmi.get("status") or {}).get("interfaces") or []}
        pod_ip = (pod.get("status") or {}).get("podIP")
        interfaces = []
        for index, iface in enumerate(ifaces_of(vmi)):
            name = iface["name"]
            net = nets.get(name) or {}
            if iface.get("state") == "absent" and attach_all:
                continue
            source = "domain, guest-agent"
            if "multus" in net:
                stage = "domain" if attach_all else attached.get(name)
                if stage is None:
                    continue
                source = "multus-status" if stage == "pod" else "domain, guest-agent, multus-status"
            entry = {"name": name, "mac": iface.get("macAddress") or (old.get(name) or {}).get("mac")
                     or mac_for(meta["uid"], name), "infoSource": source,
                     "interfaceName": "eth%d" % index, "queueCount": 1,
                     "linkState": "down" if iface.get("state") == "down" else "up"}
            if "pod" in net:
                entry["podInterfaceName"] = "eth0"
                if pod_ip:
                    entry.update(ipAddress=pod_ip, ipAddresses=[pod_ip])
            else:
                entry["podInterfaceName"] = "pod" + hashlib.sha256(name.encode()).hexdigest()[:11]
                subnet = nad_subnet(self.nad(meta["namespace"], net.get("multus", {}).get("networkName", "")))
                if subnet and subnet[0] == "static":
                    entry.update(ipAddress=subnet[1], ipAddresses=[subnet[1]])
                elif subnet:
                    ip = self.ips.pick(str(subnet[1]), subnet[1], "%s/%s" % (meta["uid"], name))
                    if ip:
                        entry.update(ipAddress=ip, ipAddresses=[ip])
            if source == "multus-status":
                for key in ("interfaceName",):
                    entry.pop(key, None)
            interfaces.append(entry)
        migratable, reason, message = live_migratable(vmi, self.kubevirt_cr())
        conditions = [c for c in (vmi.get("status") or {}).get("conditions") or []
                      if c["type"] not in ("Ready", "LiveMigratable", "PodScheduled")]
        conditions.append({"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": now()})
        lm = {"type": "LiveMigratable", "status": "True" if migratable else "False", "lastProbeTime": None,
              "lastTransitionTime": now()}
        if not migratable:
            lm.update(reason=reason, message=message)
        conditions.append(lm)
        status = {"phase": "Running", "interfaces": interfaces, "conditions": conditions}
        if attach_all:
            self.set_attached(pod, dict((i["name"], "domain") for i in ifaces_of(vmi)
                                        if "multus" in (nets.get(i["name"]) or {}) and i.get("state") != "absent"))
        return status

    def set_attached(self, pod, attached):
        path = "/api/v1/namespaces/%s/pods/%s" % (pod["metadata"]["namespace"], pod["metadata"]["name"])
        annotations = {ATTACHED: json.dumps(attached, sort_keys=True)}
        network_status = [{"name": "default", "interface": "eth0", "default": True}]
        network_status += [{"name": name, "interface": "pod" + hashlib.sha256(name.encode()).hexdigest()[:11]}
                           for name in sorted(attached)]
        annotations["k8s.v1.cni.cncf.io/network-status"] = json.dumps(network_status)
        return self.kube.merge_patch(path, {"metadata": {"annotations": annotations}})

    def running(self, vmi):
        """Hot-plug / unplug on a running VMI, one observable step per reconcile."""
        pod = self.pod_of(vmi)
        if pod is None:
            return 0.5
        nets = networks_of(vmi)
        attached = json.loads(((pod.get("metadata") or {}).get("annotations") or {}).get(ATTACHED) or "{}")
        key = key_of(vmi)
        pending = [i for i in ifaces_of(vmi) if "multus" in (nets.get(i["name"]) or {})
                   and i.get("state") != "absent" and attached.get(i["name"]) != "domain"]
        detaching = [i for i in ifaces_of(vmi) if i.get("state") == "absent" and i["name"] in attached]
        swapped = [i for i in ifaces_of(vmi) if i["name"] in attached and
                   attached.get(i["name"] + "@nad") not in (None, (nets.get(i["name"]) or {}).get("multus", {}).get(
                       "networkName"))]
        dynamic = self.config.get("dynamic_networks")
        status_changes = {}
        needs_migration = []
        for iface in pending:
            name = iface["name"]
            if dynamic and "bridge" in iface:
                attached[name] = "pod" if attached.get(name) is None else "domain"
                self.set_attached(pod, attached)
                pod = self.pod_of(vmi)
                self.patch_status(vmi, self.running_status(vmi, pod))
                return self.config.get("reconcile_delay") or 0.05
            needs_migration.append(iface)
        for iface in detaching:
            if dynamic and "bridge" in iface:
                attached.pop(iface["name"], None)
                self.set_attached(pod, attached)
                pod = self.pod_of(vmi)
                self.patch_status(vmi, self.running_status(vmi, pod))
                return self.config.get("reconcile_delay") or 0.05
            needs_migration.append(iface)
        needs_migration += swapped
        conditions = [c for c in (vmi.get("status") or {}).get("conditions") or [] if c["type"] != "MigrationRequired"]
        if needs_migration:
            first_seen = self.pending_since.setdefault(key, time.monotonic())
            sriov = any("sriov" in i for i in needs_migration)
            grace = self.config.get("dynamic_network_grace_period")
            due = sriov or time.monotonic() - first_seen >= grace
            conditions.append({"type": "MigrationRequired", "status": "True" if due else "False",
                               "reason": "AutoMigrationDueToLiveUpdate" if due else "AutoMigrationPending",
                               "lastProbeTime": None, "lastTransitionTime": now()})
            if conditions != (vmi.get("status") or {}).get("conditions"):
                old = [c for c in (vmi.get("status") or {}).get("conditions") or [] if c["type"] == "MigrationRequired"]
                if not old or old[0]["status"] != conditions[-1]["status"]:
                    self.patch_status(vmi, {"conditions": conditions})
            if due:
                self.workload_update(vmi)
            return 0.5 if not due else 1.0
        self.pending_since.pop(key, None)
        if len(conditions) != len((vmi.get("status") or {}).get("conditions") or []):
            self.patch_status(vmi, {"conditions": conditions})
        return None

    def workload_update(self, vmi):
        """KubeVirt's workload updater: migrate only with LiveMigrate configured
        and a live-migratable VMI, one migration at a time."""
        kv = self.kubevirt_cr()
        methods = (((kv.get("spec") or {}).get("workloadUpdateStrategy") or {}).get("workloadUpdateMethods")) or []
        migratable = any(c["type"] == "LiveMigratable" and c["status"] == "True"
                         for c in (vmi.get("status") or {}).get("conditions") or [])
        if "LiveMigrate" not in methods or not migratable:
            return
        namespace = vmi["metadata"]["namespace"]
        existing = self.kube.list("/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstancemigrations" % namespace)
        for mig in existing["items"]:
            if (mig.get("spec") or {}).get("vmiName") == vmi["metadata"]["name"] and \
                    (mig.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return
        try:
            self.kube.create("/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstancemigrations" % namespace, {
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
                "metadata": {"generateName": "kubevirt-workload-update-",
                             "labels": {"kubevirt.io/workloadUpdateMigration": vmi["metadata"]["name"]},
                             "annotations": {"kubevirt.io/workloadUpdateMigration": ""}},
                "spec": {"vmiName": vmi["metadata"]["name"]}})
        except Conflict:
            pass


def _quantity(value):
    if value in (None, ""):
        return 0
    text = str(value)
    for suffix, factor in (("k", 1000), ("Ki", 1024), ("M", 10 ** 6), ("Mi", 2 ** 20), ("G", 10 ** 9),
                           ("Gi", 2 ** 30)):
        if text.endswith(suffix) and text[:-len(suffix)].isdigit():
            return int(text[:-len(suffix)]) * factor
    try:
        return int(text)
    except ValueError:
        return 0


def start(ctx):
    controller = VMIController(ctx.kube, ctx.config, ctx.informer(VMIS))
    controller.start()
    ctx.vmi_controller = controller  # the migration controller moves VMIs with it
    return controller
