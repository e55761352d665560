# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The doctor's DNS check: the VM's resolver settings (dnsPolicy, dnsConfig),
the cluster DNS Service and whether NetworkPolicy lets the VM reach it."""


from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_eval as ne
from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_model as nm
from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor import (
    ERROR, INFO, SERVICE_KIND, WARNING, Snapshot, VmView, active, finding, meta)
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor_traffic import (
    allow_manifest, primary_binding, selecting_services, service_selects)

DNS_SELECTOR = {"k8s-app": "kube-dns"}
DNS_NAMESPACE = "kube-system"


def check_dns(snap: Snapshot, view: VmView) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    found = []
    spec = view.spec
    domain = snap.cluster_domain
    subdomain = spec.get("subdomain")
    section = {"hostname": view.hostname, "subdomain": subdomain, "fqdn": None,
               "service_names": ["%s.%s.svc.%s" % (meta(s).get("name"), view.namespace, domain)
                                 for s, how in selecting_services(snap, view) if how == "pod"]}
    if subdomain:
        svc = snap.find(SERVICE_KIND, view.namespace, subdomain)
        fqdn = "%s.%s.%s.svc.%s" % (view.hostname, subdomain, view.namespace, domain)
        if svc is None:
            section["reason"] = "no Service named %s" % subdomain
            found.append(finding("dns", ERROR, "subdomain-service-missing",
                                 "%s has subdomain %s but there is no Service %s/%s, so %s does not exist" % (
                                     view.ref, subdomain, view.namespace, subdomain, fqdn),
                                 "create a headless Service (clusterIP: None) named %s selecting %s "
                                 "(kubevirt_net.core.kubevirt_vm_service type=headless)" % (
                                     subdomain, selectors.text({"matchLabels": view.selector_labels}))))
        elif (svc.get("spec") or {}).get("clusterIP") not in ("None", None):
            section["reason"] = "Service %s is not headless" % subdomain
            found.append(finding("dns", ERROR, "subdomain-service-not-headless",
                                 "Service %s/%s has a cluster IP: only headless Services (clusterIP: None) publish "
                                 "<hostname>.<subdomain> records, so %s does not exist" % (
                                     view.namespace, subdomain, fqdn),
                                 "recreate %s with clusterIP: None (the field is immutable)" % subdomain))
        elif not service_selects((svc.get("spec") or {}).get("selector") or {}, view.pod_labels):
            section["reason"] = "Service %s does not select the VM" % subdomain
            found.append(finding("dns", ERROR, "subdomain-service-not-selecting",
                                 "headless Service %s/%s does not select the pod of %s (selector %s, pod labels %s), "
                                 "so %s does not exist" % (
                                     view.namespace, subdomain, view.ref,
                                     selectors.text({"matchLabels": (svc.get("spec") or {}).get("selector")}),
                                     selectors.text({"matchLabels": view.pod_labels}), fqdn),
                                 "make its selector match spec.template.metadata.labels of the VM"))
        else:
            section["fqdn"] = fqdn
            found.append(finding("dns", INFO, "vm-dns-name",
                                 "%s is %s%s" % (view.ref, fqdn, "" if view.running else " (once it runs)"),
                                 "from the guest, the short name %s.%s needs ndots >= 2 (the default 5 is fine)" % (
                                     view.hostname, subdomain)))
    else:
        section["reason"] = "no subdomain"
        found.append(finding("dns", INFO, "no-vm-dns-name",
                             "%s has no DNS name of its own: that needs spec.template.spec.subdomain and a headless "
                             "Service of that name (%s.%s.svc.%s is NOT a record Kubernetes creates)%s" % (
                                 view.ref, view.name, view.namespace, domain,
                                 "; it is reachable as %s" % ", ".join(section["service_names"])
                                 if section["service_names"] else ""),
                             "set subdomain: <svc> (and hostname if it differs) in spec.template.spec and create the "
                             "headless Service <svc> selecting the VM; the name becomes "
                             "<hostname>.<svc>.%s.svc.%s" % (view.namespace, domain)))
    found.extend(_resolver(snap, view, section))
    return section, found


def _cluster_dns_ip(snap: Snapshot) -> Optional[str]:
    svc = snap.dns_service
    return (svc.get("spec") or {}).get("clusterIP") if svc else None


def _resolver(snap: Snapshot, view: VmView, section: Dict[str, Any]) -> List[Dict[str, Any]]:
    found = []
    spec = view.spec
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    config = spec.get("dnsConfig") or {}
    domain = snap.cluster_domain
    nameservers, searches, options = [], [], []
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        nameservers.append(_cluster_dns_ip(snap) or "<cluster DNS>")
        searches = ["%s.svc.%s" % (view.namespace, domain), "svc.%s" % domain, domain]
        options = [{"name": "ndots", "value": "5"}]
    elif policy == "Default":
        nameservers.append("<the node's resolv.conf>")
    nameservers.extend(config.get("nameservers") or [])
    searches.extend(config.get("searches") or [])
    options.extend(config.get("options") or [])
    section.update({"dns_policy": policy, "dns_config": config or None,
                    "resolv_conf": {"nameservers": nameservers[:3], "searches": searches, "options": options},
                    "cluster_dns": _cluster_dns_ip(snap)})
    if policy == "None" and not config.get("nameservers"):
        found.append(finding("dns", ERROR, "dns-none-without-nameservers",
                             "%s has dnsPolicy None and no dnsConfig.nameservers: the guest gets no resolver" %
                             view.ref,
                             "set spec.template.spec.dnsConfig.nameservers (dnsConfig is a sibling of domain, not "
                             "under it), or use dnsPolicy ClusterFirst"))
    elif policy == "Default":
        found.append(finding("dns", WARNING, "dns-policy-default",
                             "%s has dnsPolicy Default: it resolves with the node's resolver, so cluster names "
                             "(*.svc.%s) do not resolve" % (view.ref, domain),
                             "use dnsPolicy ClusterFirst unless that is intended"))
    if len(nameservers) > 3:
        found.append(finding("dns", WARNING, "too-many-nameservers",
                             "%s: %d nameservers; only the first 3 are used" % (view.ref, len(nameservers)),
                             "keep at most 3 nameservers (cluster DNS counts as one with ClusterFirst)"))
    if snap.dns_service is False and policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        found.append(finding("dns", INFO, "cluster-dns-unknown",
                             "no Service %s/kube-dns found: the cluster DNS address is unknown here" % DNS_NAMESPACE,
                             "check the cluster's DNS add-on (CoreDNS) if names do not resolve"))
    binding, _iface = primary_binding(view)
    if binding not in ("bridge", "masquerade", "passtBinding") and view.networks:
        found.append(finding("dns", INFO, "guest-configures-dns",
                             "%s: KubeVirt hands DNS settings to the guest by DHCP only on the pod network with "
                             "bridge, masquerade or passt; here the guest must configure its resolver itself" %
                             view.ref, "configure the resolver in the guest (cloud-init networkData)"))
    found.extend(_dns_egress(snap, view, policy, config))
    return found


def _dns_egress(snap: Snapshot, view: VmView, policy: str, config: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Is DNS (UDP and TCP 53) to the resolver allowed out of the VM?"""
    found: List[Dict[str, Any]] = []
    policies = snap.policies()
    endpoint = view.endpoint()
    if not nm.applying(policies, endpoint, nm.EGRESS):
        return found
    targets = []
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        pods = [p for p in snap.dns_pods if active(p)]
        targets = [nm.Endpoint.pod(p) for p in pods] or [nm.Endpoint.workload(
            DNS_NAMESPACE, DNS_SELECTOR, name="cluster DNS pods (k8s-app=kube-dns in kube-system)")]
    for server in config.get("nameservers") or []:
        targets.append(nm.Endpoint.external(server, name="nameserver %s" % server))
    for target in targets[:3]:
        for protocol in ("UDP", "TCP"):
            verdict = ne.evaluate(policies, snap.namespace_labels(), (), endpoint, target, 53, protocol,
                                  name_label=snap.name_label)
            if verdict.allowed:
                continue
            labels = DNS_SELECTOR if target.is_pod else None
            manifest, note = allow_manifest(snap, nm.EGRESS, view.namespace, view.selector_labels, target,
                                            labels, 53, protocol)
            manifest["metadata"]["name"] = "allow-dns"
            manifest["spec"]["egress"][0]["ports"] = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
            found.append(finding("dns", ERROR, "dns-egress-denied",
                                 "%s may not send DNS queries (%s/53) to %s: egress is isolated by %s and no rule "
                                 "allows it - names do not resolve" % (view.ref, protocol, target.name,
                                                                       ", ".join(verdict.deciding_policies)),
                                 "allow egress to the DNS servers on UDP and TCP 53 (fix_policies)%s" % (
                                     "; " + note if note else ""), fix_policies=[manifest],
                                 deciding_policies=verdict.deciding_policies))
            return found
    return found
