# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The network doctor's entry point: ``diagnose`` runs every check over a
``doctor.Snapshot`` and returns one report per VM.  It imports the check files
(doctor_interfaces, doctor_traffic, doctor_dns, doctor_istio, doctor_networks,
doctor_impact); they import only the shared model in ``doctor``, so there is
no import cycle."""


from typing import Any, Collection, Dict, List, Optional

from ansible_collections.kubevirt_net.core.plugins.module_utils import (
    doctor_dns, doctor_impact, doctor_interfaces, doctor_istio, doctor_networks, doctor_traffic)
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor import (
    CHECKS, ERROR, INFO, PeerSpec, Snapshot, WARNING, finding, meta, pod_ips, sort_findings, summarize, vm_views)


def diagnose(snap: Snapshot, checks: Collection[str] = CHECKS, peer: Optional[Dict[str, Any]] = None,
             direction: str = "both", pending_policies: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """One report per VirtualMachine in ``snap`` (sorted by namespace/name)."""
    views = sorted(vm_views(snap), key=lambda v: (v.namespace, v.name))
    peer_spec = PeerSpec(peer) if peer else None
    reports: List[Dict[str, Any]] = []
    for view in views:
        report: Dict[str, Any] = {
            "name": view.name, "namespace": view.namespace, "running": view.running,
            "phase": view.phase or ("Stopped" if view.vmi is None else "Pending"),
            "node": view.node, "pod": meta(view.pod).get("name"),
            "pod_ips": pod_ips(view.pod),
            "labels": {"vm": view.vm_labels, "template": view.template_labels, "pod": view.pod_labels}}
        findings = []
        if not view.running:
            findings.append(finding("interfaces", INFO, "vm-not-running",
                                    "%s is not running (%s): only its template can be checked; status, pod IPs, "
                                    "endpoints and DNS records exist only while it runs" % (
                                        view.ref, report["phase"]),
                                    "start it (virtctl start %s -n %s) to check the live state" % (
                                        view.name, view.namespace)))
        runners = (("interfaces", doctor_interfaces.check_interfaces), ("hotplug", doctor_interfaces.check_hotplug),
                   ("sriov", doctor_interfaces.check_sriov), ("services", doctor_traffic.check_services),
                   ("dns", doctor_dns.check_dns), ("istio", doctor_istio.check_istio))
        for name, runner in runners:
            if name in checks:
                section, found = runner(snap, view)
                report[name] = section
                findings.extend(found)
        if "reachability" in checks:
            section, found = doctor_traffic.check_reachability(snap, view, peer_spec, direction, views)
            per_network, more = doctor_networks.check_networks(snap, view, peer_spec, direction, views)
            section.update(per_network)
            report["reachability"] = section
            findings.extend(found + more)
        report["findings"] = sort_findings(findings)
        reports.append(report)
    result: Dict[str, Any] = {"vms": reports, "summary": summarize(reports)}
    result["topology"] = doctor_impact.topology(snap, views)
    counts = dict(("%s/%s" % (r["namespace"], r["name"]), r["findings"]) for r in reports)
    for node in result["topology"]["nodes"]:
        if node["kind"] == "vm":
            items = counts.get("%s/%s" % (node["namespace"], node["label"])) or []
            node["errors"] = sum(1 for f in items if f["severity"] == ERROR)
            node["warnings"] = sum(1 for f in items if f["severity"] == WARNING)
    if pending_policies is not None:
        result["impact"] = doctor_impact.policy_impact(snap, views, pending_policies, peer_spec)
    return result
