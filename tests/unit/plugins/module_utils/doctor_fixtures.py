"""Builders for the doctor's unit tests: KubeVirt and Kubernetes objects as
the API returns them (what virt-controller and kubelet would have written)."""

import copy

from ansible_collections.kubevirt_net.core.plugins.module_utils import doctor, doctor_diagnose

NS = "vms"


def namespace(name, labels=None):
    return {"metadata": {"name": name, "labels": dict(labels or {})}}


def vm(name, ifaces=None, networks=None, labels=None, template_labels=None, annotations=None, running=True,
       ns=NS, **spec):
    ifaces = [{"name": "default", "masquerade": {}}] if ifaces is None else copy.deepcopy(ifaces)
    networks = [{"name": "default", "pod": {}}] if networks is None else copy.deepcopy(networks)
    template_spec = {"domain": {"devices": {"interfaces": ifaces}}, "networks": networks}
    template_spec.update(spec)
    template_meta = {"labels": dict(template_labels if template_labels is not None else {"app": name})}
    if annotations:
        template_meta["annotations"] = dict(annotations)
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {})},
            "spec": {"runStrategy": "Always" if running else "Halted",
                     "template": {"metadata": template_meta, "spec": template_spec}}, "status": {}}


def vmi_for(machine, ip="10.244.1.10", node="node01", status_ifaces=None, conditions=None, phase="Running"):
    spec = copy.deepcopy(machine["spec"]["template"]["spec"])
    name = machine["metadata"]["name"]
    if status_ifaces is None:
        status_ifaces = [{"name": i["name"], "mac": "02:00:00:00:00:%02x" % n, "infoSource": "domain, guest-agent",
                          "interfaceName": "eth%d" % n, "ipAddress": ip if n == 0 else None,
                          "ipAddresses": [ip] if n == 0 else [], "linkState": "up"}
                         for n, i in enumerate(spec["domain"]["devices"]["interfaces"])]
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": name, "namespace": machine["metadata"]["namespace"], "uid": "uid-" + name,
                         "labels": dict(machine["spec"]["template"]["metadata"].get("labels") or {}),
                         "annotations": dict(machine["spec"]["template"]["metadata"].get("annotations") or {})},
            "spec": spec,
            "status": {"phase": phase, "nodeName": node, "interfaces": status_ifaces,
                       "conditions": list(conditions or [{"type": "LiveMigratable", "status": "True"}])}}


def launcher_for(vmi, ip="10.244.1.10", ready=True, labels=None, containers=None, resources=None):
    name = vmi["metadata"]["name"]
    pod_labels = dict(vmi["metadata"].get("labels") or {})
    pod_labels.update({"kubevirt.io": "virt-launcher", "kubevirt.io/created-by": vmi["metadata"]["uid"],
                       "vm.kubevirt.io/name": name, "vmi.kubevirt.io/id": name})
    if labels is not None:
        pod_labels = labels
    ports = []
    for iface in vmi["spec"]["domain"]["devices"]["interfaces"]:
        for port in iface.get("ports") or []:
            if port.get("name"):
                ports.append({"name": port["name"], "containerPort": port["port"],
                              "protocol": port.get("protocol") or "TCP"})
    compute = {"name": "compute", "ports": ports}
    if resources:
        compute["resources"] = {"requests": dict(resources), "limits": dict(resources)}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "virt-launcher-%s-abcde" % name, "namespace": vmi["metadata"]["namespace"],
                         "labels": pod_labels, "creationTimestamp": "2026-11-28T08:00:00Z"},
            "spec": {"nodeName": vmi["status"]["nodeName"], "hostname": name,
                     "containers": [compute] + [{"name": c} for c in containers or []]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(name, labels, ip, ns=NS, node="node02", ports=None):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": list(ports or [])}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def service(name, selector, ports=None, svc_type="ClusterIP", ns=NS, cluster_ip="10.96.0.50", **spec):
    body = {"selector": dict(selector), "type": svc_type,
            "ports": list(ports if ports is not None else [{"port": 80, "targetPort": 80, "protocol": "TCP"}]),
            "clusterIP": cluster_ip}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": body,
            "status": {}}


def endpoints(name, ready=(), not_ready=(), ns=NS, hostname=None):
    subset = {}
    if ready:
        subset["addresses"] = [dict({"ip": ip}, **({"hostname": hostname} if hostname else {})) for ip in ready]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns},
            "subsets": [subset] if subset else []}


def netpol(name, pod_selector=None, ingress=None, egress=None, types=None, ns=NS):
    spec = {"podSelector": pod_selector if pod_selector is not None else {}}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    spec["policyTypes"] = types or (["Ingress"] + (["Egress"] if egress else []))
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def nad(name, ns=NS, resource=None):
    meta = {"name": name, "namespace": ns}
    if resource:
        meta["annotations"] = {doctor.RESOURCE_ANNOTATION: resource}
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": meta,
            "spec": {"config": "{}"}}


def kubevirt_cr(version="v1.9.0", methods=("LiveMigrate",), strategy=None, disabled=()):
    spec = {"workloadUpdateStrategy": {"workloadUpdateMethods": list(methods)},
            "configuration": {"developerConfiguration": {"disabledFeatureGates": list(disabled)}}}
    if strategy:
        spec["configuration"]["vmRolloutStrategy"] = strategy
    return {"metadata": {"name": "kubevirt", "namespace": "kubevirt"}, "spec": spec,
            "status": {"observedKubeVirtVersion": version}}


def node(name, allocatable=None, ip="192.168.66.101"):
    return {"metadata": {"name": name}, "spec": {},
            "status": {"allocatable": dict(allocatable or {}), "conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": ip}]}}


def snapshot(objects, namespaces=None, kubevirt=None, version=(1, 20), **extra):
    """A Snapshot of NS (and other namespaces named by the objects) with every
    kind read; ``objects`` are filed by kind."""
    kinds = {"VirtualMachine": doctor.VM_KIND, "VirtualMachineInstance": doctor.VMI_KIND, "Pod": doctor.POD_KIND,
             "Service": doctor.SERVICE_KIND, "Endpoints": doctor.ENDPOINTS_KIND,
             "NetworkPolicy": doctor.POLICY_KIND, "NetworkAttachmentDefinition": doctor.NAD_KIND,
             "VirtualMachineInstanceMigration": doctor.VMIM_KIND}
    spaces = namespaces or [namespace(NS)]
    snap = doctor.Snapshot(version, kubevirt if kubevirt is not None else kubevirt_cr(), spaces)
    for space in spaces:
        for kind in kinds.values():
            snap.add(kind, space["metadata"]["name"], [])
    for obj in objects:
        snap.add(kinds[obj["kind"]], obj["metadata"]["namespace"], [obj])
    for key, value in extra.items():
        setattr(snap, key, value)
    return snap


def running(name, ip="10.244.1.10", node="node01", pod_kwargs=None, vmi_kwargs=None, **vm_kwargs):
    """A running VM: [vm, vmi, launcher pod]."""
    machine = vm(name, **vm_kwargs)
    instance = vmi_for(machine, ip=ip, node=node, **(vmi_kwargs or {}))
    return [machine, instance, launcher_for(instance, ip=ip, **(pod_kwargs or {}))]


def report_full(snap, name, **kwargs):
    """(report of VM ``name``, whole result)."""
    result = doctor_diagnose.diagnose(snap, **kwargs)
    return next(r for r in result["vms"] if r["name"] == name), result


def report(snap, name, **kwargs):
    return report_full(snap, name, **kwargs)[0]


def report_all(snap, **kwargs):
    return doctor_diagnose.diagnose(snap, **kwargs)


def codes(rep, severity=None):
    return [f["code"] for f in rep["findings"] if severity is None or f["severity"] == severity]


def by_code(rep, code):
    matches = [f for f in rep["findings"] if f["code"] == code]
    assert matches, "no finding %s in %s" % (code, codes(rep))
    return matches[0]
