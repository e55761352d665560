"""The virt-launcher Pod that virt-controller renders for a VMI, as far as the
API shows it (KubeVirt v1.9.0 ``pkg/virt-controller/services/template.go``,
``pkg/network/pod/annotations/generator.go``, ``pkg/network/multus/annotation.go``,
``pkg/network/istio``, ``pkg/network/dns``):

- ``generateName: virt-launcher-<vmi>-`` (the API server appends five random
  characters), owned by the VMI (controller), ``restartPolicy: Never``, a
  ``compute`` container, the readiness gate ``kubevirt.io/virtual-machine-unpaused``;
- labels: the VMI's labels plus ``kubevirt.io: virt-launcher``,
  ``kubevirt.io/created-by: <vmi uid>``, ``vm.kubevirt.io/name: <hostname>``,
  ``vmi.kubevirt.io/id`` (the name, truncated+hashed past 63 characters), and
  ``sidecar.istio.io/inject`` copied from the VMI annotation;
- ``spec.hostname`` (``spec.hostname``, else the VMI name's first DNS label
  cut to 63 characters), ``subdomain``, ``dnsPolicy``/``dnsConfig``, nodeSelector
  (plus ``kubevirt.io/schedulable: "true"``), affinity, tolerations;
- ``k8s.v1.cni.cncf.io/networks``: one selection per non-absent secondary
  Multus network (``name``, ``namespace``, ``mac`` when the interface sets one,
  ``interface: pod<hash>``) plus a binding plugin's NAD; an unregistered
  binding plugin fails the rendering, as in KubeVirt;
  ``v1.multus-cni.io/default-network`` for a Multus default network;
- ``traffic.sidecar.istio.io/kubevirtInterfaces`` and
  ``istio.io/reroute-virtual-interfaces`` (``k6t-eth0``) whenever a masquerade
  interface exists; ``automountServiceAccountToken`` only for Istio injection;
- resources: CPU/memory from the VMI, ``devices.kubevirt.io/kvm``, and one of
  each NAD's ``k8s.v1.cni.cncf.io/resourceName`` (e.g. an SR-IOV VF pool).
  v1.9 leaves that injection to the network-resources-injector webhook
  (ExternalNetResourceInjection, Beta, on): the lab models a cluster whose
  SR-IOV operator deployed it (the operator's default), so the resource is
  requested either way; with the gate disabled virt-controller reads the NADs
  itself and a missing one fails the rendering
  (``failed to locate network attachment definition <ns>/<name>``).

Istio's own injector is modelled too: with the lab's ``istio`` capability and
a namespace labelled ``istio-injection=enabled`` or ``istio.io/rev``, the pod
gets an ``istio-proxy`` container unless its inject label says ``"false"``.
"""

import copy
import hashlib
import json

from . import net_spec

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"
RESOURCE_NAME_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"
ISTIO_INJECT = "sidecar.istio.io/inject"
ISTIO_ANNOTATIONS = ("traffic.sidecar.istio.io/kubevirtInterfaces", "istio.io/reroute-virtual-interfaces")
MIGRATION_JOB_LABEL = "kubevirt.io/migrationJobUID"
CREATED_BY = "kubevirt.io/created-by"
UNPAUSED_GATE = "kubevirt.io/virtual-machine-unpaused"
ISTIO_PROXY_IMAGE = "docker.io/istio/proxyv2:1.26.0"


class RenderError(Exception):
    """virt-controller could not render the pod (a VMI sync error)."""


def sanitize_hostname(vmi):
    """dns.SanitizeHostname: ``spec.hostname`` as given, else the VMI name's
    first DNS label cut to 63 characters."""
    return (vmi.get("spec") or {}).get("hostname") or vmi["metadata"]["name"].split(".")[0][:63]


def instance_id(name):
    """vmi.kubevirt.io/id: CalculateVirtualMachineInstanceID."""
    if len(name) <= 63:
        return name
    return "%s-%s" % (name[:54], hashlib.sha1(name.encode()).hexdigest()[:8])


def binding_plugins(kubevirt_cr):
    config = ((kubevirt_cr or {}).get("spec") or {}).get("configuration") or {}
    return (config.get("network") or {}).get("binding") or {}


def selections(namespace, ifaces, nets, plugins):
    """The ``k8s.v1.cni.cncf.io/networks`` list for these interfaces."""
    by_iface = net_spec.by_name(ifaces)
    out = []
    for network in nets:
        iface = by_iface.get(network["name"])
        if net_spec.is_secondary_multus(network):
            ns, name = net_spec.nad_ref(namespace, network["multus"].get("networkName"))
            entry = {"name": name, "namespace": ns}
            if (iface or {}).get("macAddress"):
                entry["mac"] = iface["macAddress"]
            entry["interface"] = net_spec.pod_interface_name(network)
            out.append(entry)
        if iface is not None and "binding" in iface:
            plugin_name = iface["binding"].get("name")
            if plugin_name not in plugins:
                raise RenderError("unable to find the network binding plugin '%s' in Kubevirt configuration"
                                  % plugin_name)
            nad = plugins[plugin_name].get("networkAttachmentDefinition")
            if nad:
                ns, name = net_spec.nad_ref(namespace, nad)
                out.append({"name": name, "namespace": ns, "cni-args": {"logicNetworkName": network["name"]}})
    return out


def launch_selections(vmi, plugins):
    """Selections a new launcher pod starts with: the non-absent interfaces."""
    spec = vmi.get("spec") or {}
    ifaces = [i for i in net_spec.interfaces(spec) if i.get("state") != net_spec.ABSENT]
    return selections(vmi["metadata"]["namespace"], ifaces, net_spec.networks_of_interfaces(
        net_spec.networks(spec), ifaces), plugins)


def hotplug_selections(vmi, plugins):
    """generator.go ifacesAndNetsForMultusAnnotationUpdate: while an interface
    waits to be plugged or unplugged, the running pod's selections become the
    non-absent interfaces minus SR-IOV ones not plugged yet (those need a new
    pod).  None when nothing is pending."""
    spec = vmi.get("spec") or {}
    ifaces = net_spec.interfaces(spec)
    present = [i for i in ifaces if i.get("state") != net_spec.ABSENT]
    reported = net_spec.by_name((vmi.get("status") or {}).get("interfaces"))
    annotate = [i for i in present if not ("sriov" in i and i["name"] not in reported)]
    pending_plug = any(i["name"] not in reported for i in annotate)
    if not pending_plug and len(present) == len(ifaces):
        return None
    nets = net_spec.networks_of_interfaces(net_spec.networks(spec), annotate)
    return selections(vmi["metadata"]["namespace"], annotate, nets, plugins)


def nad_resources(nads, vmi):
    """Extended resources the VMI's secondary networks need: NAD ref -> resource name."""
    needed = {}
    namespace = vmi["metadata"]["namespace"]
    for network in net_spec.networks((vmi.get("spec") or {})):
        if not net_spec.is_secondary_multus(network):
            continue
        ref = net_spec.nad_ref(namespace, network["multus"].get("networkName"))
        nad = nads.get(ref)
        resource = (((nad or {}).get("metadata") or {}).get("annotations") or {}).get(RESOURCE_NAME_ANNOTATION)
        if resource:
            needed[resource] = needed.get(resource, 0) + 1
    return needed


def missing_nads(nads, vmi):
    namespace = vmi["metadata"]["namespace"]
    refs = [net_spec.nad_ref(namespace, n["multus"].get("networkName"))
            for n in net_spec.networks(vmi.get("spec")) if net_spec.is_secondary_multus(n)]
    return ["%s/%s" % ref for ref in refs if nads.get(ref) is None]


def istio_injects(istio_installed, namespace_labels, pod_labels):
    if not istio_installed or pod_labels.get(ISTIO_INJECT) == "false":
        return False
    return namespace_labels.get("istio-injection") == "enabled" or bool(namespace_labels.get("istio.io/rev"))


def _compute_resources(vmi, extra):
    domain = (vmi.get("spec") or {}).get("domain") or {}
    requested = (domain.get("resources") or {}).get("requests") or {}
    memory = requested.get("memory") or (domain.get("memory") or {}).get("guest") or "128Mi"
    requests = {"cpu": requested.get("cpu") or "100m", "memory": memory, "devices.kubevirt.io/kvm": "1"}
    limits = {"devices.kubevirt.io/kvm": "1"}
    for resource, count in sorted(extra.items()):
        requests[resource] = limits[resource] = str(count)
    return {"requests": requests, "limits": limits}


def render(vmi, kubevirt_cr, nads, namespace_labels, istio_installed, external_injection, migration=None):
    """The launcher pod for ``vmi`` (a migration target when ``migration`` is
    the VirtualMachineInstanceMigration).  ``nads`` maps (namespace, name) to
    the NADs of the VMI's networks (None when missing)."""
    meta, spec = vmi["metadata"], vmi.get("spec") or {}
    if not external_injection:
        missing = missing_nads(nads, vmi)
        if missing:
            raise RenderError("failed to locate network attachment definition %s" % missing[0])
    plugins = binding_plugins(kubevirt_cr)
    hostname = sanitize_hostname(vmi)
    vmi_annotations = meta.get("annotations") or {}
    labels = dict(meta.get("labels") or {})
    labels.update({"kubevirt.io": "virt-launcher", CREATED_BY: meta["uid"],
                   "vm.kubevirt.io/name": hostname, "vmi.kubevirt.io/id": instance_id(meta["name"])})
    if ISTIO_INJECT in vmi_annotations:
        labels[ISTIO_INJECT] = vmi_annotations[ISTIO_INJECT]
    annotations = {"kubevirt.io/domain": meta["name"], "kubectl.kubernetes.io/default-container": "compute"}
    networks = launch_selections(vmi, plugins)
    if networks:
        annotations[NETWORKS_ANNOTATION] = json.dumps(networks)
    default = next((n for n in net_spec.networks(spec) if (n.get("multus") or {}).get("default")), None)
    if default:
        annotations[DEFAULT_NETWORK_ANNOTATION] = default["multus"]["networkName"]
    if any("masquerade" in i for i in net_spec.interfaces(spec)):
        annotations.update({name: "k6t-eth0" for name in ISTIO_ANNOTATIONS})
    version = ((kubevirt_cr or {}).get("status") or {}).get("observedKubeVirtVersion") or "v1.9.0"
    containers = [{"name": "compute", "image": "quay.io/kubevirt/virt-launcher:%s" % version,
                   "command": ["/usr/bin/virt-launcher-monitor"],
                   "resources": _compute_resources(vmi, nad_resources(nads, vmi))}]
    if istio_injects(istio_installed, namespace_labels, labels):
        containers.append({"name": "istio-proxy", "image": ISTIO_PROXY_IMAGE, "args": ["proxy", "sidecar"]})
    pod_spec = {"hostname": hostname, "restartPolicy": "Never", "containers": containers,
                "terminationGracePeriodSeconds": int(spec.get("terminationGracePeriodSeconds", 30)) + 15,
                "nodeSelector": dict(spec.get("nodeSelector") or {}, **{"kubevirt.io/schedulable": "true"}),
                "readinessGates": [{"conditionType": UNPAUSED_GATE}], "enableServiceLinks": False,
                "automountServiceAccountToken": str(vmi_annotations.get(ISTIO_INJECT)).lower() == "true"}
    for field in ("subdomain", "dnsPolicy", "dnsConfig", "tolerations", "affinity", "schedulerName"):
        if spec.get(field):
            pod_spec[field] = copy.deepcopy(spec[field])
    if migration is not None:
        labels[MIGRATION_JOB_LABEL] = migration["metadata"]["uid"]
        anti = pod_spec.setdefault("affinity", {}).setdefault("podAntiAffinity", {})
        anti.setdefault("requiredDuringSchedulingIgnoredDuringExecution", []).append(
            {"labelSelector": {"matchLabels": {CREATED_BY: meta["uid"]}}, "topologyKey": "kubernetes.io/hostname"})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "virt-launcher-%s-" % meta["name"], "namespace": meta["namespace"],
                         "labels": labels, "annotations": annotations,
                         "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                                              "name": meta["name"], "uid": meta["uid"], "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": pod_spec}
