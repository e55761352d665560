# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""MultiNetworkPolicy rules checked against the cluster they land in.

A rule with ``network:`` renders a ``k8s.cni.cncf.io/v1beta1``
MultiNetworkPolicy (netpol.Template); this file decides whether it can work
there, before any write:

* the NetworkAttachmentDefinition of every ``policy-for`` entry must exist;
* an SR-IOV network is refused: the VM gets a VF (vfio-pci) that bypasses the
  host network stack, so no MultiNetworkPolicy implementation sees its
  traffic;
* the ``podSelector`` must be able to match the VMs on that network by their
  ``spec.template.metadata.labels`` (the virt-launcher pod carries those,
  KubeVirt pkg/virt-controller/services/template.go copies them); a selector
  that matches only the VMs' own ``metadata.labels`` never applies;
* so must a peer's ``podSelector`` (``peers[].template_selector``): a peer
  that matches only VMs' ``metadata.labels`` selects no launcher pod.  In the
  policy's namespace that is refused; with a namespace selector (the VMs of
  other namespaces are known only for the targets) it is a warning;
* ``ipBlock`` peers get a warning where support depends on the implementation
  (OVN-Kubernetes layer2/localnet networks; networks without IPAM, whose
  addresses the plugin cannot know).

Pure logic, no API access: the runner passes the NADs and VMs it listed.
"""

from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import cni, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_fields import resolve_network
from ansible_collections.kubevirt_net.core.plugins.module_utils.selectors import matches as selector_matches
from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_report import launcher_labels

Key = Tuple[str, str]   # (namespace, name)


def multi_templates(templates: Iterable[Any]) -> List[Any]:
    return [t for t in templates if t.networks]


def nad_namespaces(templates: Iterable[Any], targets: Iterable[str]) -> List[str]:
    """Namespaces whose NADs the MultiNetworkPolicy templates refer to."""
    found: Set[str] = set()
    for template in multi_templates(templates):
        for namespace in targets:
            for ref in template.networks:
                found.add(ref[0] or namespace)
    return sorted(found)


def plugins_of(nad: Dict[str, Any]) -> List[Dict[str, Any]]:
    config = cni.parse(((nad.get("spec") or {}).get("config")) or "{}") or {}
    return list(config.get("plugins") or [config])


def is_sriov(nad: Dict[str, Any]) -> bool:
    """A NAD whose CNI is SR-IOV (type ``sriov``), or that requests a device
    resource without a CNI config (the SR-IOV operator's shape)."""
    if any(p.get("type") == "sriov" for p in plugins_of(nad)):
        return True
    annotations = (nad.get("metadata") or {}).get("annotations") or {}
    return "sriov" in str(annotations.get("k8s.v1.cni.cncf.io/resourceName", "")).lower()


def ipblock_caveat(nad: Dict[str, Any]) -> Optional[str]:
    """Why ``ipBlock`` may not work on this network, or None."""
    for plugin in plugins_of(nad):
        if plugin.get("type") == cni.OVN_CNI and plugin.get("topology") in ("layer2", "localnet"):
            return ("an OVN-Kubernetes %s network: ipBlock support on secondary networks depends on the "
                    "OVN-Kubernetes version and on the network having subnets" % plugin.get("topology"))
    if not any(p.get("ipam") for p in plugins_of(nad)):
        return ("a network without IPAM: the policy plugin does not know the addresses on it, so ipBlock peers "
                "match only what the guest configures itself (implementation-dependent)")
    return None


def _uses_ipblock(template: Any) -> bool:
    for key in ("ingress", "egress"):
        for rule in template.spec.get(key) or []:
            for peer in rule.get("from" if key == "ingress" else "to") or []:
                if "ipBlock" in peer:
                    return True
    return False


def vms_on(vms: Sequence[Dict[str, Any]], network: str) -> List[Dict[str, Any]]:
    """The VMs whose template attaches the NAD ``<ns>/<nad>`` ``network``."""
    found = []
    for vm in vms:
        namespace = (vm.get("metadata") or {}).get("namespace") or ""
        for net in vmspec.networks_of(vm):
            ref = vmspec.nad_reference(net)
            if ref and "%s/%s" % vmspec.split_reference(ref, namespace) == network:
                found.append(vm)
                break
    return found


def check(templates: Sequence[Any], targets: Sequence[str], nads: Dict[Key, Dict[str, Any]],
          vms_by_namespace: Optional[Dict[str, List[Dict[str, Any]]]], problems: Any,
          findings: List[Dict[str, Any]]) -> None:
    """Refusals (``problems``) and warnings (``findings``) for the
    MultiNetworkPolicy templates in the target namespaces."""
    warned: Set[Tuple[str, str]] = set()
    for template in multi_templates(templates):
        for namespace in targets:
            for ref in template.networks:
                network = resolve_network(ref, namespace)
                where = "%s in namespace %s" % (template.origin, namespace)
                nad = nads.get((network.split("/")[0], network.split("/")[1]))
                if nad is None:
                    problems.add(where, "network", "NetworkAttachmentDefinition %s does not exist: create it "
                                 "(kubevirt_network) or fix rules[].network" % network)
                    continue
                if is_sriov(nad):
                    problems.add(where, "network", "%s is an SR-IOV network: the VM's virtual function bypasses "
                                 "the host network stack (the guest drives the device through vfio-pci), so no "
                                 "MultiNetworkPolicy implementation can filter it; filter in the guest or on the "
                                 "upstream switch, and remove it from rules[].network" % network)
                    continue
                caveat = ipblock_caveat(nad) if _uses_ipblock(template) else None
                if caveat and (template.name, network) not in warned:
                    warned.add((template.name, network))
                    findings.append({"kind": "ipblock-support", "policy": template.name, "network": network,
                                     "message": "%s uses ipBlock on %s, %s" % (template.origin, network, caveat)})
                if vms_by_namespace is not None:
                    _check_selector(template, namespace, network, vms_by_namespace.get(namespace) or [],
                                    problems, findings)
                    _check_peer_selectors(template, namespace, network, vms_by_namespace, problems, findings)


def peer_selectors(template: Any) -> List[Tuple[str, Dict[str, Any], bool]]:
    """(option path, podSelector, in the policy's namespace only) of every
    peer of ``template`` that selects pods by label ({} selects every pod: not
    listed)."""
    out = []
    for key, peers_key in (("ingress", "from"), ("egress", "to")):
        for rule in template.spec.get(key) or []:
            for index, peer in enumerate(rule.get(peers_key) or []):
                if peer.get("podSelector"):
                    out.append(("peers[%d].template_selector" % index, peer["podSelector"],
                                "namespaceSelector" not in peer))
    return out


def _metadata_only(selector: Dict[str, Any], vms: Sequence[Dict[str, Any]]) -> Optional[List[Dict[str, Any]]]:
    """The VMs whose metadata.labels ``selector`` matches when it matches no
    VM's launcher pod labels; None when it matches a launcher pod."""
    if any(selector_matches(selector, launcher_labels(vm)) for vm in vms):
        return None
    return [vm for vm in vms if (vm.get("metadata") or {}).get("labels")
            and selector_matches(selector, vm["metadata"]["labels"])]


def _refs(vms: Iterable[Dict[str, Any]]) -> str:
    return ", ".join(sorted("%s/%s" % ((vm.get("metadata") or {}).get("namespace"),
                                       (vm.get("metadata") or {}).get("name")) for vm in vms))


def _check_peer_selectors(template: Any, namespace: str, network: str,
                          vms_by_namespace: Dict[str, List[Dict[str, Any]]], problems: Any,
                          findings: List[Dict[str, Any]]) -> None:
    for field, selector, own_namespace in peer_selectors(template):
        if own_namespace:
            pool = vms_on(vms_by_namespace.get(namespace) or [], network)
        else:
            pool = vms_on([vm for vms in vms_by_namespace.values() for vm in vms], network)
        by_meta = _metadata_only(selector, pool)
        if not by_meta:
            continue   # it matches a launcher pod, or no VM at all (a peer may be a plain pod)
        text = ("matches the metadata.labels of VirtualMachine %s but not their spec.template.metadata.labels, "
                "which the virt-launcher pod carries: this peer of the MultiNetworkPolicy for %s would never match "
                "them; put the labels in spec.template.metadata.labels or select by those" % (_refs(by_meta), network))
        if own_namespace:
            problems.add("%s in namespace %s" % (template.origin, namespace), field, text)
        else:
            findings.append({"kind": "peer-selector-metadata-labels", "policy": template.name, "network": network,
                             "message": "%s in namespace %s: %s %s" % (template.origin, namespace, field, text)})


def _check_selector(template: Any, namespace: str, network: str, vms: List[Dict[str, Any]], problems: Any,
                    findings: List[Dict[str, Any]]) -> None:
    attached = vms_on(vms, network)
    if not attached or not template.vm_policy:
        return
    target = template.spec.get("podSelector") or {}
    by_pod = [vm for vm in attached if selector_matches(target, launcher_labels(vm))]
    if by_pod:
        return
    by_meta = [vm for vm in attached if (vm.get("metadata") or {}).get("labels")
               and selector_matches(target, vm["metadata"]["labels"])]
    names = ", ".join(sorted("%s/%s" % (namespace, (vm.get("metadata") or {}).get("name")) for vm in by_meta))
    if by_meta:
        problems.add("%s in namespace %s" % (template.origin, namespace), "template_selector",
                     "matches the metadata.labels of VirtualMachine %s but not their spec.template.metadata.labels, "
                     "which the virt-launcher pod carries: the MultiNetworkPolicy for %s would never apply; put "
                     "the labels in spec.template.metadata.labels or select by those" % (names, network))
        return
    findings.append({"kind": "no-vm-on-network", "policy": template.name, "network": network,
                     "message": "%s selects none of the %d VM(s) attached to %s in %s: it changes nothing for them"
                                % (template.origin, len(attached), network, namespace)})
