# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Doctor check: what a VM needs to join the Istio sidecar mesh, one
requirement at a time (split from doctor_traffic).  The sidecar injectors are
found among the webhooks as kubevirt_vm_istio finds them (istio.sidecar_injectors)."""

from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import istio
from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor import (
    ERROR, INFO, NAD_KIND, WARNING, Snapshot, VmView, finding, meta, pod_ips)
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor_traffic import (
    ISTIO_CNI_SELECTOR, primary_binding, selecting_services)


# ------------------------------------------------------------------- istio
def check_istio(snap: Snapshot, view: VmView) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    found: List[Dict[str, Any]] = []
    ns_labels = (snap.namespace_labels().of(view.namespace))
    injection = ns_labels.get("istio-injection")
    ns_enabled = injection == "enabled" or ("istio.io/rev" in ns_labels and injection != "disabled")
    ambient = ns_labels.get("istio.io/dataplane-mode") == "ambient"
    annotations = dict(meta(view.vmi).get("annotations") or {}) if view.vmi else {}
    annotations.update(view.template_annotations)
    annotated = str(annotations.get(istio.INJECT, "")).lower() == "true"
    label_only = str(view.template_labels.get(istio.INJECT, "")).lower() == "true" and not annotated
    injectors = istio.sidecar_injectors(snap.webhooks)
    injector = None if injectors is None else bool(injectors)
    # a labelled namespace without Istio injects nothing: only the VM's own opt-in means it wants the mesh then
    wants = annotated or label_only or (ns_enabled and injector is not False)
    requirements = _requirements(snap, view, injector, (ns_labels, ns_enabled, ambient),
                                 (annotations, annotated, label_only))
    containers = [c.get("name") for c in ((view.pod or {}).get("spec") or {}).get("containers") or []] + \
        [c.get("name") for c in ((view.pod or {}).get("spec") or {}).get("initContainers") or []]
    sidecar = "istio-proxy" in containers if view.pod is not None else None
    section: Dict[str, Any] = {
        "in_mesh_requested": wants, "requirements": requirements, "sidecar_injected": sidecar,
        "passed": sum(1 for r in requirements if r["passed"]),
        "failed": [r["id"] for r in requirements if r["passed"] is False]}
    if not wants and ns_enabled:
        found.append(finding("istio", INFO, "istio-not-installed",
                             "namespace %s is labelled for Istio injection, but no Istio sidecar injector is "
                             "installed: %s stays outside any mesh" % (view.namespace, view.ref),
                             "install Istio (with its CNI plugin) or remove the namespace label"))
        return section, found
    if not wants:
        found.append(finding("istio", INFO, "not-in-mesh",
                             "%s is not in the Istio mesh (namespace not labelled, no %s annotation); %d of 8 "
                             "requirements met" % (view.ref, istio.INJECT, section["passed"]),
                             "to join: %s" % "; ".join(r["fix"] for r in requirements if not r["passed"])))
        return section, found
    for item in requirements:
        if item["passed"] is False:
            found.append(finding("istio", ERROR, "istio-%s" % item["id"].replace("_", "-"),
                                 "%s is meant for the mesh but requirement '%s' fails: %s" % (
                                     view.ref, item["requirement"], item["detail"]), item["fix"]))
    if view.running and sidecar is False and not section["failed"]:
        found.append(finding("istio", WARNING, "istio-not-injected",
                             "%s meets the requirements but its virt-launcher pod has no istio-proxy: injection "
                             "happens when the pod is created" % view.ref,
                             "restart the VM (virtctl restart %s -n %s)" % (view.name, view.namespace)))
    if not section["failed"] and sidecar:
        found.append(finding("istio", INFO, "in-mesh", "%s is in the mesh (istio-proxy injected)" % view.ref,
                             "if mesh traffic fails, check PeerAuthentication (STRICT mTLS refuses plain clients), "
                             "Sidecar outboundTrafficPolicy and DestinationRules; SSH (22) bypasses the proxy"))
    return section, found


def _requirements(snap: Snapshot, view: VmView, injector: Optional[bool], namespace: Tuple[Dict[str, str], bool, bool],
                  annotation: Tuple[Dict[str, Any], bool, bool]) -> List[Dict[str, Any]]:
    """The eight requirements of KubeVirt's Istio integration, each passed (True/False/None: unknown) with its
    detail and fix."""
    ns_labels, ns_enabled, ambient = namespace
    annotations, annotated, label_only = annotation
    binding, primary_iface = primary_binding(view)
    cni_ds = snap.daemonsets.get(ISTIO_CNI_SELECTOR)
    cni_nad = snap.find(NAD_KIND, view.namespace, "istio-cni") is not None
    pod_v6 = [ip for ip in pod_ips(view.pod) if ":" in ip]
    reserved = [int(p["port"]) for p in (primary_iface or {}).get("ports") or []
                if int(p["port"]) in istio.RESERVED_PORTS]
    has_service = any(how == "pod" for _s, how in selecting_services(snap, view))

    def req(ident: str, text: str, passed: Optional[bool], detail: str, fix: str) -> Dict[str, Any]:
        return {"id": ident, "requirement": text, "passed": passed, "detail": detail, "fix": fix}

    return [
        req("istio_installed", "Istio is installed (sidecar injector webhook)", injector,
            {True: "an Istio sidecar-injector webhook is registered", False: "no *.sidecar-injector.istio.io webhook",
             None: "webhook configurations could not be read"}[injector],
            "install Istio with its CNI plugin (istioctl install --set components.cni.enabled=true)"),
        req("istio_cni", "Istio CNI plugin (and NAD istio-cni where Multus runs the pod network)",
            bool(cni_ds) or cni_nad if cni_ds is not None or cni_nad else None,
            "istio-cni-node DaemonSet %s; NAD %s/istio-cni %s" % (
                "found" if cni_ds else "not found" if cni_ds is not None else "not checked", view.namespace,
                "found" if cni_nad else "absent"),
            "enable Istio CNI; with Multus as primary CNI (OpenShift) create an empty NAD istio-cni in %s" %
            view.namespace),
        req("namespace_injection", "namespace labelled for injection (istio-injection=enabled or istio.io/rev), "
            "not ambient", ns_enabled and not ambient,
            "namespace %s labels: %s" % (view.namespace, selectors.text({"matchLabels": dict(
                (k, v) for k, v in ns_labels.items() if k.startswith(("istio", "sidecar")))}) or "none"),
            "kubectl label namespace %s istio-injection=enabled%s" % (
                view.namespace, " (KubeVirt VMs do not work with ambient mode: label the VM pods "
                                "istio.io/dataplane-mode=none or leave ambient)" if ambient else "")),
        req("vm_annotation", "VM template annotation sidecar.istio.io/inject: \"true\"", annotated,
            "spec.template.metadata.annotations[%s] = %r%s" % (
                istio.INJECT, annotations.get(istio.INJECT),
                "; only the label is set: the pod is injected but KubeVirt skips its Istio network setup"
                if label_only else ""),
            "set spec.template.metadata.annotations: {%s: \"true\"} (an annotation, not a label) and restart" %
            istio.INJECT),
        req("binding", "pod network bound with masquerade or passtBinding", binding in ("masquerade", "passtBinding"),
            "primary interface binding: %s" % binding,
            "bind the pod network interface with masquerade: {} (bridge is not supported with Istio)"),
        req("ipv4", "IPv4 only", not pod_v6, "pod IPs: %s" % (", ".join(pod_ips(view.pod)) or "not running"),
            "use an IPv4 pod network for meshed VMs"),
        req("reserved_ports", "no Istio ports in the interface ports", not reserved,
            "Istio ports listed: %s" % (", ".join(str(p) for p in reserved) or "none"),
            "remove %s from the interface ports (Istio uses 15000-15090)" % (
                ", ".join(str(p) for p in reserved) or "them")),
        req("service", "a Service selects the VM", has_service,
            "selecting Services: %s" % (", ".join(meta(s)["name"] for s, how in selecting_services(snap, view)
                                                  if how == "pod") or "none"),
            "create a Service for the VM's ports (Istio associates workloads through Services)"),
    ]
