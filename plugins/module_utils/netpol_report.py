# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""What a NetworkPolicy declaration means for the cluster it lands in:
warnings about the baselines and the VMs the policies select, and the
Markdown report of a run.  Pure logic, no API access."""

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol import Template
from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_fields import NAME_LABEL
from ansible_collections.kubevirt_net.core.plugins.module_utils.selectors import matches as selector_matches

VM_POD_LABELS = {"kubevirt.io": "virt-launcher"}

# the findings about the VMs a policy selects: (policy origin, the VMs)
VM_FINDINGS = {
    "vm-metadata-labels": "%s: its VM selector matches the metadata.labels of VirtualMachine %s but not their "
                          "spec.template.metadata.labels, which are the labels the virt-launcher pod carries: the "
                          "policy does not apply to these VMs. Put the labels in spec.template.metadata.labels.",
    "multus": "%s applies to VMs that also use Multus secondary networks: %s. NetworkPolicy filters only the pod "
              "network; traffic on secondary networks is not filtered (that needs MultiNetworkPolicy: a rule with "
              "network: <nad>; SR-IOV VFs cannot be filtered at all).",
}


def same_namespace_pod_selectors(template: Template) -> List[Dict[str, Any]]:
    """Pod selectors of peers without a namespaceSelector (they select in the policy's namespace)."""
    found: List[Dict[str, Any]] = []
    for direction, key in (("ingress", "from"), ("egress", "to")):
        for rule in template.spec.get(direction) or []:
            for peer in rule.get(key) or []:
                if "podSelector" in peer and "namespaceSelector" not in peer and peer["podSelector"]:
                    found.append(peer["podSelector"])
    return found


# ---------------------------------------------------------------- findings
def baseline_findings(params: Dict[str, Any], templates: Iterable[Template], namespaces: Iterable[str],
                      kubevirt_namespaces: Iterable[Optional[str]]) -> List[Dict[str, Any]]:
    """Warnings about the baselines: default deny over KubeVirt's own
    namespace, egress denied without DNS, and allow policies in a direction
    default-deny does not close (on their own they isolate that direction)."""
    findings = []
    deny = params.get("default_deny") or "none"
    covered = set()
    if deny in ("ingress", "both"):
        covered.add("Ingress")
    if deny in ("egress", "both"):
        covered.add("Egress")
    if deny != "none":
        hit = sorted(set(namespaces) & set(kubevirt_namespaces))
        if hit:
            findings.append({"kind": "kubevirt-namespace", "namespaces": hit,
                             "message": "default_deny covers %s, where KubeVirt runs: its components (virt-api's "
                                        "admission webhooks on 8443, virt-handler, virt-controller) stop working "
                                        "unless other policies allow their traffic; exclude %s from the targets"
                                        % (", ".join(hit), "it" if len(hit) == 1 else "them")})
    if "Egress" in covered and not params.get("allow_dns"):
        findings.append({"kind": "dns", "message": "default_deny closes egress but allow_dns is off: VMs and pods "
                                                   "in the target namespaces cannot resolve names"})
    for template in templates:
        if template.origin not in ("allow-dns", "allow-from-namespaces", "allow-monitoring"):
            continue
        loose = [t for t in template.spec["policyTypes"] if t not in covered]
        if loose:
            findings.append({"kind": "isolation", "policy": template.name,
                             "message": "%s is an %s policy but default_deny does not close %s: on its own it "
                                        "isolates the pods it selects, so only what it allows (and other policies "
                                        "allow) gets through in that direction"
                                        % (template.origin, loose[0].lower(), loose[0].lower())})
    return findings


# -------------------------------------------------------------------- VMs
def launcher_labels(vm: Dict[str, Any]) -> Dict[str, str]:
    """The labels the virt-launcher pod of ``vm`` carries: the template's
    labels plus the ones KubeVirt adds (kubevirt.io, vm.kubevirt.io/name)."""
    template = ((vm.get("spec") or {}).get("template") or {})
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.update(VM_POD_LABELS)
    labels.setdefault("vm.kubevirt.io/name", (vm.get("metadata") or {}).get("name"))
    return labels


def secondary_networks(vm: Dict[str, Any]) -> Tuple[List[str], bool]:
    """(multus network names, has a pod network) of a VM's template."""
    networks = ((((vm.get("spec") or {}).get("template") or {}).get("spec") or {}).get("networks")) or []
    secondary, primary = [], not networks  # no networks at all: KubeVirt adds the default pod network
    for net in networks:
        if "pod" in net or (net.get("multus") or {}).get("default"):
            primary = True
        elif "multus" in net:
            secondary.append((net["multus"] or {}).get("networkName") or net.get("name"))
    return secondary, primary


def vm_findings(templates: Sequence[Template], vms_by_namespace: Mapping[str, List[Dict[str, Any]]],
                limit: int = 5) -> List[Dict[str, Any]]:
    """Warnings about the VMs the declared policies are meant to select.

    * ``vm-metadata-labels``: a selector matches a VM's ``metadata.labels`` but
      not its ``spec.template.metadata.labels`` (the pod's labels): the classic
      mistake; the policy does not apply to that VM.
    * ``multus``: a policy selects VMs that also use Multus secondary networks,
      which NetworkPolicy does not filter."""
    findings = []
    covered: Set[Tuple[str, str]] = set()   # (namespace, nad name) that a MultiNetworkPolicy of this declaration filters
    for template in templates:
        for namespace in vms_by_namespace:
            covered.update((ref[0] or namespace, ref[1]) for ref in getattr(template, "networks", ()))
    for template in templates:
        if not template.vm_policy or getattr(template, "networks", None):
            continue   # MultiNetworkPolicy templates are checked by netpol_multi (refused, not warned)
        mistaken, multus = [], []
        target = template.spec.get("podSelector") or {}
        peers = same_namespace_pod_selectors(template)
        for namespace in sorted(vms_by_namespace):
            for vm in vms_by_namespace[namespace]:
                meta = vm.get("metadata") or {}
                ref = "%s/%s" % (namespace, meta.get("name"))
                pod_labels = launcher_labels(vm)
                own_labels = meta.get("labels") or {}
                if selector_matches(target, pod_labels):
                    nets, primary = secondary_networks(vm)
                    nets = [n for n in nets if _nad_key(n, namespace) not in covered]
                    if nets:
                        multus.append("%s (%s%s)" % (ref, ", ".join(nets), "" if primary else "; no pod network"))
                elif own_labels and selector_matches(target, own_labels):
                    mistaken.append(ref)
                for selector in peers:
                    if not selector_matches(selector, pod_labels) and own_labels and \
                            selector_matches(selector, own_labels):
                        mistaken.append(ref + " (as a peer)")
        for kind, vms in (("vm-metadata-labels", mistaken), ("multus", multus)):
            if vms:
                findings.append({"kind": kind, "policy": template.name, "vms": vms,
                                 "message": VM_FINDINGS[kind] % (template.origin, _few(vms, limit))})
    return findings


def _nad_key(reference: Any, namespace: Optional[str]) -> Tuple[Optional[str], str]:
    ref_ns, _sep, name = str(reference).rpartition("/")
    return (ref_ns or namespace, name)


def _few(items: Sequence[str], limit: int) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return "%s and %d more" % (", ".join(items[:limit]), len(items) - limit)


# ------------------------------------------------------------------ report
def markdown_report(summary: Dict[str, Any]) -> str:
    """A Markdown report of a run (``summary`` as built by the runner)."""
    check = summary.get("check_mode")
    verb = "would be " if check else ""
    lines = ["# NetworkPolicy report: policy set `%s`" % summary["policy_set"], ""]
    lines.append("- State: `%s`%s" % (summary["state"], " (check mode: nothing was written)" if check else ""))
    if summary.get("server_version"):
        lines.append("- API server: Kubernetes %s" % summary["server_version"])
    lines.append("- Namespaces: %d; policies declared per namespace: %d (%s)" % (
        len(summary["namespaces"]), len(summary["declared"]), ", ".join(summary["declared"]) or "none"))
    totals = summary["totals"]
    lines.append("- Totals: %s" % ", ".join("%d %s%s" % (totals[k], verb, k) for k in (
        "created", "updated", "deleted", "unchanged")))
    if summary.get("labelled_namespaces"):
        lines.append("- Namespaces %slabelled `%s`: %s" % (verb, NAME_LABEL, ", ".join(summary["labelled_namespaces"])))
    lines += ["", "## Namespaces", "", "| namespace | created | updated | deleted | unchanged |",
              "|---|---:|---:|---:|---:|"]
    for namespace in sorted(summary["namespaces"]):
        counts = summary["namespaces"][namespace]
        lines.append("| %s | %d | %d | %d | %d |" % (namespace, counts["created"], counts["updated"],
                                                     counts["deleted"], counts["unchanged"]))
    changes = [p for p in summary["policies"] if p["method"] != "unchanged"]
    if changes:
        lines += ["", "## Changes", ""]
        for entry in changes:
            lines.append("- `%s/%s` %s%s" % (entry["namespace"], entry["name"], verb, entry["method"]))
    if summary.get("findings"):
        lines += ["", "## Warnings", ""]
        for finding in summary["findings"]:
            lines.append("- %s" % finding["message"])
    return "\n".join(lines) + "\n"
