# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""NetworkPolicies for VMs: typed declarations -> checked, deterministic
``networking.k8s.io/v1`` NetworkPolicy specs, and the comparison of a stored
policy with a rendered one (server defaults normalised).  The field parsers
live in ``netpol_fields``, the warnings and report in ``netpol_report``, the
MultiNetworkPolicy side in ``netpol_multi``, cluster baselines in
``netpol_admin``.

Pure logic, no API access; ``netpol_runner`` does the requests.

Checks mirror kube-apiserver's validation (``pkg/apis/networking/validation``)
plus the strict CIDR rules newer servers enforce: canonical CIDRs (no host
bits, no leading zeros, no IPv4-mapped IPv6), ``except`` a strict subset of
its ``cidr`` in the same family, ``ipBlock`` never beside a selector in one
peer, ports 1-65535 or an IANA service name, ``endPort`` only after a numeric
``port`` and not below it, protocols TCP/UDP/SCTP, well-formed label
selectors, DNS-1123 policy names.

VMs are matched through their virt-launcher pod, which carries the labels of
the VM's ``spec.template.metadata.labels`` (not the VM's own
``metadata.labels``) plus ``kubevirt.io: virt-launcher``.
"""


import copy
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol_fields, selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_fields import (
    NetworkRef, name_selector, normalize_selector, parse_networks, parse_peers, parse_ports,
    parse_selector, resolve_network)
from ansible_collections.kubevirt_net.core.plugins.module_utils.planner import Kind
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, MULTI_NETWORK_POLICY, NETWORK_POLICY, ResourceType)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_SUBDOMAIN, Problems

POLICY_SET_LABEL = "kubevirt-net.io/policy-set"
DESCRIPTION_ANNOTATION = "kubevirt-net.io/description"
# multi-networkpolicy (k8snetworkplumbingwg): the networks a MultiNetworkPolicy is for, <ns>/<nad>[,...]
POLICY_FOR_ANNOTATION = "k8s.v1.cni.cncf.io/policy-for"
VM_POD_LABELS = {"kubevirt.io": "virt-launcher"}
POLICY_TYPE_ORDER = ("Ingress", "Egress")
END_PORT_MINIMUM = (1, 22)
NAME_LABEL_MINIMUM = (1, 21)
DENY_CHOICES = ("none", "ingress", "egress", "both")
BASELINE_NAMES = ("default-deny", "allow-dns", "allow-same-namespace", "allow-from-namespaces", "allow-monitoring")

NAME_LABEL = netpol_fields.NAME_LABEL

# Public names other modules use (istio.py among them); the parsers live in netpol_fields.
# label_value_problem is selectors.value_problem: call that directly in new code.
label_value_problem = selectors.value_problem
name_label_use = netpol_fields.name_label_use
parse_cidr = netpol_fields.parse_cidr
parse_port = netpol_fields.parse_port
parse_peer = netpol_fields.parse_peer


# ---------------------------------------------------------------- policies
class Template:
    """One policy as declared: the same spec in every target namespace.  With
    ``networks`` it is a MultiNetworkPolicy for those Multus networks (the
    ``k8s.v1.cni.cncf.io/policy-for`` annotation), else a NetworkPolicy."""

    def __init__(self, name: str, origin: str, spec: Dict[str, Any], description: Optional[str] = None,
                 vm_policy: bool = False, networks: Optional[List[NetworkRef]] = None) -> None:
        self.name = name
        self.origin = origin
        self.spec = spec
        self.description = description
        self.vm_policy = vm_policy  # its podSelector is meant to select VMs (checked against VMs)
        self.networks: List[NetworkRef] = list(networks or [])

    @property
    def resource(self) -> ResourceType:
        return MULTI_NETWORK_POLICY if self.networks else NETWORK_POLICY

    def policy_for(self, namespace: str) -> List[str]:
        """The ``<namespace>/<nad>`` networks of this policy in ``namespace`` (sorted)."""
        return sorted(set(resolve_network(ref, namespace) for ref in self.networks))

    def manifest(self, namespace: str, policy_set: str) -> Dict[str, Any]:
        metadata: Dict[str, Any] = {"name": self.name, "namespace": namespace,
                                    "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, POLICY_SET_LABEL: policy_set}}
        annotations = {}
        if self.description:
            annotations[DESCRIPTION_ANNOTATION] = self.description
        if self.networks:
            annotations[POLICY_FOR_ANNOTATION] = ",".join(self.policy_for(namespace))
        if annotations:
            metadata["annotations"] = annotations
        return {"apiVersion": self.resource.api_version, "kind": self.resource.kind, "metadata": metadata,
                "spec": copy.deepcopy(self.spec)}


def _types(ingress: bool, egress: bool) -> List[str]:
    return [t for t, on in (("Ingress", ingress), ("Egress", egress)) if on]


def _rule(peer_key: str, peers: Optional[List[Dict[str, Any]]], ports: Optional[List[Dict[str, Any]]]) -> Dict[str, Any]:
    rule: Dict[str, Any] = {}
    if peers:
        rule[peer_key] = peers
    if ports:
        rule["ports"] = ports
    return rule


def declare(params: Dict[str, Any], problems: Problems) -> List[Template]:
    """The policy templates of a declaration (``params`` as the module gets them)."""
    prefix = params.get("name_prefix") or ""
    templates = []
    deny = params.get("default_deny") or "none"
    deny_ingress, deny_egress = deny in ("ingress", "both"), deny in ("egress", "both")
    if deny != "none":
        templates.append(Template(prefix + "default-deny", "default-deny",
                                  {"podSelector": {}, "policyTypes": _types(deny_ingress, deny_egress)},
                                  "deny all %s traffic not allowed by another policy"
                                  % {"ingress": "incoming", "egress": "outgoing", "both": "incoming and outgoing"}[deny]))
    if params.get("allow_dns"):
        where = "allow_dns"
        if params.get("dns_namespace_selector") is not None:
            nsel = parse_selector(problems, where, "dns_namespace_selector", params["dns_namespace_selector"])
        else:
            nsel = name_selector([params.get("dns_namespace") or "kube-system"]) \
                if problems.dns_label(where, "dns_namespace", params.get("dns_namespace") or "kube-system") else None
        pod = parse_selector(problems, where, "dns_pod_selector", params.get("dns_pod_selector")
                             if params.get("dns_pod_selector") is not None else {"k8s-app": "kube-dns"})
        if nsel is not None and pod is not None:
            templates.append(Template(prefix + "allow-dns", "allow-dns", {
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": nsel, "podSelector": pod}],
                            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]},
                "allow DNS (port 53, UDP and TCP) to the cluster DNS"))
    if params.get("allow_same_namespace"):
        # the directions default-deny closes (ingress alone without one): an
        # egress policy here would otherwise isolate egress by itself
        ingress = deny_ingress or not deny_egress
        spec: Dict[str, Any] = {"podSelector": {}, "policyTypes": _types(ingress, deny_egress)}
        if ingress:
            spec["ingress"] = [{"from": [{"podSelector": {}}]}]
        if deny_egress:
            spec["egress"] = [{"to": [{"podSelector": {}}]}]
        templates.append(Template(prefix + "allow-same-namespace", "allow-same-namespace", spec,
                                  "allow traffic between the pods and VMs of this namespace"))
    if params.get("allow_from_namespaces") is not None:
        nsel = parse_selector(problems, "allow_from_namespaces", "allow_from_namespaces",
                              params["allow_from_namespaces"])
        if nsel is not None:
            templates.append(Template(prefix + "allow-from-namespaces", "allow-from-namespaces", {
                "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"namespaceSelector": nsel}]}]},
                "allow incoming traffic from the namespaces %s" % selectors.describe(nsel)))
    monitoring = params.get("allow_monitoring")
    if monitoring is not None:
        template = _monitoring(problems, prefix, monitoring)
        if template is not None:
            templates.append(template)
    names = dict((t.name, "baseline %s" % t.origin) for t in templates)
    for index, rule in enumerate(params.get("rules") or []):
        template = _rule_template(problems, prefix, index, rule, names)
        if template is not None:
            templates.append(template)
    for template in templates:
        if len(template.name) > 253 or not DNS1123_SUBDOMAIN.match(template.name):
            problems.add(template.origin, "name", "%r is not a valid NetworkPolicy name: a DNS-1123 subdomain of at "
                         "most 253 lowercase letters, digits, '-' and '.' (check name_prefix and the rule name)"
                         % template.name)
    return templates


def _monitoring(problems: Problems, prefix: str, monitoring: Dict[str, Any]) -> Optional[Template]:
    where = "allow_monitoring"
    nsel = None
    if monitoring.get("namespace_selector") is not None and monitoring.get("namespaces"):
        problems.add(where, "namespace_selector", "use either namespace_selector or namespaces, not both")
        return None
    if monitoring.get("namespace_selector") is not None:
        nsel = parse_selector(problems, where, "namespace_selector", monitoring["namespace_selector"])
    elif monitoring.get("namespaces"):
        if all(problems.dns_label(where, "namespaces[%d]" % i, n) for i, n in enumerate(monitoring["namespaces"])):
            nsel = name_selector(monitoring["namespaces"])
    else:
        problems.add(where, "namespace_selector", "is required: the namespaces the monitoring system runs in "
                     "(namespace_selector or namespaces)")
    peer = {"namespaceSelector": nsel} if nsel is not None else None
    if monitoring.get("pod_selector") is not None and peer is not None:
        pod = parse_selector(problems, where, "pod_selector", monitoring["pod_selector"])
        peer = dict(peer, podSelector=pod) if pod is not None else None
    if not monitoring.get("ports"):
        problems.add(where, "ports", "is required: the metrics ports to open (e.g. [{port: 9100}])")
        return None
    ports = parse_ports(problems, where, "ports", monitoring["ports"])
    target: Optional[Dict[str, Any]] = {}
    if monitoring.get("template_selector") is not None:
        target = parse_selector(problems, where, "template_selector", monitoring["template_selector"])
    if peer is None or ports is None or target is None:
        return None
    return Template(prefix + "allow-monitoring", "allow-monitoring", {
        "podSelector": target, "policyTypes": ["Ingress"], "ingress": [{"from": [peer], "ports": ports}]},
        "allow the monitoring system to scrape metrics", vm_policy=bool(target))


def _rule_template(problems: Problems, prefix: str, index: int, rule: Dict[str, Any],
                   names: Dict[str, str]) -> Optional[Template]:
    name = rule.get("name")
    where = "rules[%d] (%s)" % (index, name)
    if not isinstance(name, str) or not name:
        problems.add(where, "name", "is required (a DNS-1123 name such as 'db-from-app')")
        return None
    if not problems.dns_subdomain(where, "name", name):
        return None
    full = prefix + name
    if full in names:
        problems.add(where, "name", "%r is used twice (also by %s): rule names must be unique and differ from the "
                     "baseline policies (%s)" % (name, names[full], ", ".join(BASELINE_NAMES)))
        return None
    names[full] = "rules[%d]" % index
    direction = rule.get("direction")
    if direction not in ("ingress", "egress"):
        problems.add(where, "direction", "%r is not supported: use ingress or egress" % (direction,))
        return None
    if rule.get("template_selector") is None:
        target: Optional[Dict[str, Any]] = dict(matchLabels=dict(VM_POD_LABELS))
    else:
        target = parse_selector(problems, where, "template_selector", rule["template_selector"])
    peers = parse_peers(problems, where, "peers", rule.get("peers"))
    ports = parse_ports(problems, where, "ports", rule.get("ports"))
    networks = parse_networks(problems, where, "network", rule.get("network"))
    if target is None or peers is None or ports is None or networks is None:
        return None
    if networks:
        for p_index, port in enumerate(ports):
            if "endPort" in port:
                # multi-networkpolicy scheme.yml: v1beta1 (the served version) has no endPort; the API
                # server prunes it, so the policy would open one port and every run would report a change
                problems.add(where, "ports[%d].end_port" % p_index,
                             "MultiNetworkPolicy (k8s.cni.cncf.io/v1beta1) has no endPort: the API server drops "
                             "it and only port %s would be open; list the ports one by one" % port.get("port"))
                return None
    key = "ingress" if direction == "ingress" else "egress"
    spec = {"podSelector": target, "policyTypes": ["Ingress" if key == "ingress" else "Egress"],
            key: [_rule("from" if key == "ingress" else "to", peers, ports)]}
    return Template(full, "rule " + name, spec, rule.get("description"), vm_policy=bool(target), networks=networks)


def uses_end_port(templates: Iterable[Template]) -> List[Tuple[Template, str, Dict[str, Any]]]:
    """[(template, where)] of every endPort in the templates."""
    found: List[Tuple[Template, str, Dict[str, Any]]] = []
    for template in templates:
        for direction in ("ingress", "egress"):
            for r_index, rule in enumerate(template.spec.get(direction) or []):
                for p_index, port in enumerate(rule.get("ports") or []):
                    if "endPort" in port:
                        found.append((template, "%s[%d].ports[%d]" % (direction, r_index, p_index), port))
    return found


def namespace_selectors(templates: Iterable[Template]) -> List[Tuple[Template, Dict[str, Any]]]:
    """[(template, selector)] of every namespaceSelector in the templates."""
    found: List[Tuple[Template, Dict[str, Any]]] = []
    for template in templates:
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for rule in template.spec.get(direction) or []:
                for peer in rule.get(key) or []:
                    if "namespaceSelector" in peer:
                        found.append((template, peer["namespaceSelector"]))
    return found


# -------------------------------------------------------------- comparison
def normalize_spec(spec: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A stored or rendered NetworkPolicySpec with the server's defaults made
    explicit and empty parts dropped: protocol TCP, policyTypes inferred
    ([Ingress] plus Egress when there are egress rules), selectors sorted."""
    spec = spec or {}
    out: Dict[str, Any] = {"podSelector": normalize_selector(spec.get("podSelector"))}
    for direction, key in (("ingress", "from"), ("egress", "to")):
        rules = []
        for rule in spec.get(direction) or []:
            entry = {}
            peers = [_normalize_peer(p) for p in (rule or {}).get(key) or []]
            if peers:
                entry[key] = peers
            ports = [_normalize_port(p) for p in (rule or {}).get("ports") or []]
            if ports:
                entry["ports"] = ports
            rules.append(entry)
        if rules:
            out[direction] = rules
    types = spec.get("policyTypes") or _types(True, bool(out.get("egress")))
    out["policyTypes"] = [t for t in POLICY_TYPE_ORDER if t in types] + sorted(
        set(t for t in types if t not in POLICY_TYPE_ORDER))
    return out


def _normalize_peer(peer: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    given = peer or {}
    for key in ("podSelector", "namespaceSelector"):
        if key in given and given[key] is not None:
            out[key] = normalize_selector(given[key])
    block = given.get("ipBlock")
    if block:
        out["ipBlock"] = {"cidr": block.get("cidr")}
        if block.get("except"):
            out["ipBlock"]["except"] = list(block["except"])
    return out


def _normalize_port(port: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    given = port or {}
    out: Dict[str, Any] = {"protocol": given.get("protocol") or "TCP"}
    for key in ("port", "endPort"):
        if given.get(key) is not None:
            out[key] = given[key]
    return out


def is_managed(obj: Dict[str, Any]) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def policy_set_of(obj: Dict[str, Any]) -> Optional[str]:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(POLICY_SET_LABEL)


def merge_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> Dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns dict ``current`` into ``desired``."""
    patch: Dict[str, Any] = {}
    for key in current:
        if key not in desired:
            patch[key] = None
    for key, value in desired.items():
        old = current.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            sub = merge_patch(old, value)
            if sub:
                patch[key] = sub
        elif old != value or key not in current:
            patch[key] = copy.deepcopy(value)
    return patch


def expected_after(desired: Dict[str, Any], current: Optional[Dict[str, Any]],
                   owned_annotations: Tuple[str, ...]) -> Dict[str, Any]:
    """The object the server keeps after a policy Kind's merge patch: our labels
    added, the ``owned_annotations`` replaced by the desired ones (none left:
    no ``annotations``), the whole spec replaced.  Shared by the NetworkPolicy
    and the admin-tier Kinds (netpol_admin.ClusterPolicyKind)."""
    if current is None:
        return desired
    meta = dict(current.get("metadata") or {})
    meta["labels"] = dict(meta.get("labels") or {}, **desired["metadata"]["labels"])
    annotations = dict(meta.get("annotations") or {})
    for key in owned_annotations:
        annotations.pop(key, None)
    annotations.update(desired["metadata"].get("annotations") or {})
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return dict(current, metadata=meta, spec=copy.deepcopy(desired["spec"]))


class PolicyKind(Kind):
    """Owned: the whole spec (compared normalised), our labels and the
    annotations we write (description; policy-for on a MultiNetworkPolicy).
    A MultiNetworkPolicy's spec is a NetworkPolicySpec, so one comparison
    serves both kinds."""

    def __init__(self, resource: ResourceType = NETWORK_POLICY) -> None:
        super().__init__(resource)
        self.owned_annotations: Tuple[str, ...] = (DESCRIPTION_ANNOTATION,) + (
            (POLICY_FOR_ANNOTATION,) if resource is MULTI_NETWORK_POLICY else ())

    def view(self, obj: Dict[str, Any]) -> Dict[str, Any]:
        meta = obj.get("metadata") or {}
        view = {"namespace": meta.get("namespace"), "name": meta.get("name"),
                "labels": dict(meta.get("labels") or {}), "spec": normalize_spec(obj.get("spec"))}
        if meta.get("annotations"):
            view["annotations"] = dict(meta["annotations"])
        return view

    def _owned(self, obj: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
        return dict((k, annotations.get(k)) for k in self.owned_annotations)

    def same(self, desired: Dict[str, Any], current: Dict[str, Any]) -> bool:
        want, have = desired["metadata"], current.get("metadata") or {}
        if any((have.get("labels") or {}).get(k) != v for k, v in want["labels"].items()):
            return False
        if self._owned(desired) != self._owned(current):
            return False
        return normalize_spec(desired.get("spec")) == normalize_spec(current.get("spec"))

    def patch(self, desired: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, Any]:
        meta = desired["metadata"]
        patch: Dict[str, Any] = {"metadata": {"labels": dict(meta["labels"])}}
        want, have = self._owned(desired), self._owned(current)
        changed = dict((k, v) for k, v in want.items() if v != have.get(k))
        if changed:
            patch["metadata"]["annotations"] = changed
        spec = merge_patch(current.get("spec") or {}, desired["spec"])
        if spec:
            patch["spec"] = spec
        return patch

    def expected(self, desired: Dict[str, Any], current: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        return expected_after(desired, current, self.owned_annotations)
