#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: kubevirt_network_policies
short_description: Declare the NetworkPolicies of KubeVirt VMs across many namespaces, pruned and exact
version_added: 0.1.0
author:
  - kubevirt_net.core maintainers (@kubevirt-net)
description:
  - Makes the C(networking.k8s.io/v1) NetworkPolicies of many namespaces exactly what one declaration says, in
    one invocation - baselines (default deny, DNS, same namespace, other namespaces, monitoring) and named rules
    that select VMs - and deletes the policies this collection made there that are no longer declared.
  - KubeVirt adds no policy API. A policy selects a VM through its virt-launcher pod, which carries the labels of
    the VM's C(spec.template.metadata.labels) (not the VM's own C(metadata.labels)) and C(kubevirt.io=virt-launcher).
    VM selectors here (C(template_selector)) are those template labels.
  - Cost for N namespaces - one C(/version), one LIST of namespaces, one LIST of the policies (cluster-wide with
    the label C(app.kubernetes.io/managed-by=kubevirt_net.core) above 10 namespaces, else one per namespace), and
    one write per policy that differs, sent concurrently. A re-run that finds nothing to change writes nothing.
  - Every input is checked before the first request, the way the API server checks it (CIDRs in canonical form,
    C(except) a strict subset of its C(cidr), no C(ipBlock) beside a selector in one peer, ports 1-65535 or IANA
    names, C(end_port) only after a numeric port and not below it, protocols, label selectors, names). What a server
    would get wrong is refused before any write - C(end_port) below Kubernetes 1.22 (older servers silently drop
    it), and namespace selection by C(kubernetes.io/metadata.name) below 1.21 (older servers do not set that label;
    see O(label_namespaces)).
  - Policies are rendered with explicit C(policyTypes) and protocols, in a stable order, and compared with what the
    server stores after normalising its defaults (protocol TCP, inferred policyTypes, empty lists), so a re-run is
    clean and a deny written as an empty list really denies.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - kubevirt_net.core.common
options:
  state:
    description:
      - V(present) makes the declared policies exist and be exact in every target namespace; with O(prune), the
        policies of this O(policy_set) that are no longer declared are deleted.
      - V(absent) deletes the declared policies; with O(prune), every policy of this O(policy_set) in the target
        namespaces.
      - V(rendered) returns the manifests for the namespaces in O(namespaces) without contacting the cluster.
    type: str
    choices: [present, absent, rendered]
    default: present
  namespaces:
    description:
      - The target namespaces by name. Each must exist (O(state=present)).
      - With O(namespace_selector), the union of both is targeted.
    type: list
    elements: str
  namespace_selector:
    description:
      - The target namespaces by label - a dict of labels, or C(match_labels) and C(match_expressions)
        (each C(key), C(operator) In/NotIn/Exists/DoesNotExist, C(values)).
      - An empty selector is refused (it would target every namespace, kube-system and kubevirt included), and so
        is one made only of negative terms (C(NotIn), C(DoesNotExist)), which selects every namespace without those
        labels; give a positive term or list O(namespaces).
    type: dict
  policy_set:
    description:
      - The name of this set of policies, stored in the label C(kubevirt-net.io/policy-set). Pruning and
        O(state=absent) only ever touch policies of this set, so several sets (for example one per team) can manage
        the same namespaces.
    type: str
    default: default
  name_prefix:
    description:
      - Prefix of every policy name (C(<prefix>default-deny), C(<prefix><rule name>), ...).
    type: str
    default: kvnet-
  default_deny:
    description:
      - Policy C(<prefix>default-deny) selecting every pod and VM of the namespace, with no rule - V(ingress),
        V(egress) or V(both) directions are denied unless another policy allows the traffic.
      - A warning is given when it would cover the namespace KubeVirt runs in (its webhooks then break), and when
        egress is denied without O(allow_dns).
    type: str
    choices: [none, ingress, egress, both]
    default: none
  allow_dns:
    description:
      - Policy C(<prefix>allow-dns) - egress to the cluster DNS on port 53, UDP and TCP.
      - The DNS pods are O(dns_pod_selector) in O(dns_namespace) (selected by the C(kubernetes.io/metadata.name)
        label) or in the namespaces of O(dns_namespace_selector).
    type: bool
    default: false
  dns_namespace:
    description:
      - The namespace the cluster DNS runs in.
    type: str
    default: kube-system
  dns_namespace_selector:
    description:
      - Select the DNS namespace by these labels instead of by name (useful on servers older than 1.21).
    type: dict
  dns_pod_selector:
    description:
      - Labels of the DNS pods. Default C(k8s-app=kube-dns) (CoreDNS and kube-dns both carry it).
    type: dict
  allow_same_namespace:
    description:
      - Policy C(<prefix>allow-same-namespace) - traffic between the pods and VMs of the namespace, in the
        directions O(default_deny) closes (ingress when O(default_deny=none)).
    type: bool
    default: false
  allow_from_namespaces:
    description:
      - Policy C(<prefix>allow-from-namespaces) - incoming traffic from every pod of the namespaces this label
        selector selects.
    type: dict
  allow_monitoring:
    description:
      - Policy C(<prefix>allow-monitoring) - incoming traffic from the monitoring system to metrics ports.
    type: dict
    suboptions:
      namespace_selector:
        description: The namespaces the monitoring system runs in, by label.
        type: dict
      namespaces:
        description: The namespaces the monitoring system runs in, by name.
        type: list
        elements: str
      pod_selector:
        description: "Only these pods of those namespaces (for example C(app.kubernetes.io/name=prometheus))."
        type: dict
      template_selector:
        description:
          - Only to these VMs (template labels); default every pod and VM of the namespace.
          - The alias C(vm_selector) is deprecated (removed in 2.0.0).
        type: dict
        aliases: [vm_selector]
      ports:
        description: The metrics ports (required).
        type: list
        elements: dict
        suboptions:
          port:
            description: Port number (1-65535) or IANA port name.
            type: raw
          protocol:
            description: TCP, UDP or SCTP.
            type: str
            default: TCP
          end_port:
            description: Last port of a range starting at O(allow_monitoring.ports[].port) (Kubernetes 1.22+).
            type: int
  rules:
    description:
      - Named rules; each becomes the policy C(<prefix><name>) in every target namespace.
    type: list
    elements: dict
    suboptions:
      name:
        description: Unique name of the rule (DNS-1123).
        type: str
        required: true
      description:
        description: Free text, kept in the annotation C(kubevirt-net.io/description).
        type: str
      direction:
        description: V(ingress) (traffic to the selected VMs) or V(egress) (traffic from them).
        type: str
        required: true
        choices: [ingress, egress]
      template_selector:
        description:
          - The VMs the rule applies to, by the labels of their C(spec.template.metadata.labels). Default every VM
            of the namespace (C(kubevirt.io=virt-launcher)); C({}) is every pod and VM.
          - The alias C(vm_selector) is deprecated (removed in 2.0.0).
        type: dict
        aliases: [vm_selector, pod_selector]
      peers:
        description:
          - Where the traffic may come from (ingress) or go to (egress). Omitted - any peer. An empty list is refused
            (it would also mean any peer).
          - Several keys in one peer must all match (C(template_selector) in C(namespaces) = those VMs in those namespaces);
            separate peers are alternatives.
        type: list
        elements: dict
        suboptions:
          template_selector:
            description:
              - VMs and pods by (template) labels; alone, in the policy's own namespace.
              - The alias C(vm_selector) is deprecated (removed in 2.0.0).
            type: dict
            aliases: [vm_selector, pod_selector]
          namespace_selector:
            description: Namespaces by label.
            type: dict
          namespaces:
            description: Namespaces by name (the C(kubernetes.io/metadata.name) label).
            type: list
            elements: str
          cidr:
            description: An address block in canonical CIDR form (C(10.0.0.0/8), C(fd00::/64)); never with selectors.
            type: str
          except:
            description: Blocks inside O(rules[].peers[].cidr) (same family, longer prefix) that are excluded.
            type: list
            elements: str
      ports:
        description:
          - The ports the rule opens. Omitted - every port. An empty list is refused.
        type: list
        elements: dict
        suboptions:
          port:
            description: Port number (1-65535) or IANA port name (a named port of the destination pod).
            type: raw
          protocol:
            description: TCP, UDP or SCTP.
            type: str
            default: TCP
          end_port:
            description:
              - Last port of the range O(rules[].ports[].port)-O(rules[].ports[].end_port); needs a numeric port and
                Kubernetes 1.22+ (refused on older API servers).
              - Refused on a rule with O(rules[].network) - MultiNetworkPolicy C(k8s.cni.cncf.io/v1beta1) has no
                C(endPort) and the API server drops it.
            type: int
      network:
        description:
          - The network the rule filters. Omitted or V(pod) - the pod network, as a NetworkPolicy.
          - A NetworkAttachmentDefinition name (looked up in each target namespace), C(<namespace>/<nad>), or a list
            of them - a C(k8s.cni.cncf.io/v1beta1) MultiNetworkPolicy with the annotation
            C(k8s.v1.cni.cncf.io/policy-for) naming those networks. MultiNetworkPolicy is enforced by OVN-Kubernetes
            (secondary networks) and multi-networkpolicy-iptables, not by every CNI.
          - Refused before any write - a NAD that does not exist, an SR-IOV network (the VF bypasses the host network
            stack, so nothing can filter it), a O(rules[].template_selector) that matches only the C(metadata.labels) of the
            VMs on that network (the virt-launcher pod carries the template labels), and the C(k8s.cni.cncf.io)
            CRD missing. Warned - C(ipBlock) peers on OVN-Kubernetes layer2/localnet networks and on networks
            without IPAM, where support depends on the implementation.
          - The MultiNetworkPolicies of this O(policy_set) are pruned like its NetworkPolicies (one LIST per kind and
            namespace).
        type: list
        elements: str
  cluster_baselines:
    description:
      - Cluster-wide admin policies of sigs.k8s.io/network-policy-api, one object per entry - a
        C(policy.networking.k8s.io/v1alpha2) ClusterNetworkPolicy, or, when the cluster serves only v1alpha1
        (from discovery, see O(cluster_baseline_api)), an AdminNetworkPolicy (tier Admin) or the single
        BaselineAdminNetworkPolicy C(default) (tier Baseline).
      - Tiers are evaluated Admin, then the namespaces' NetworkPolicies, then Baseline. Inside a tier, lower
        O(cluster_baselines[].priority) first, then rules in order; the first matching rule decides - V(Accept) and
        V(Deny) are final, V(Pass) skips the rest of the tier so the next tier decides. A NetworkPolicy selecting a
        pod overrides the Baseline tier for it.
      - A priority another policy of the same tier already uses is refused (the implementation may apply either).
      - Left out, no cluster-scoped object is read or written. An empty list deletes this O(policy_set)'s baselines
        (with O(prune)).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the object (C(<name_prefix><name>); C(default) for a v1alpha1 Baseline).
        type: str
        required: true
      description:
        description: Free text, kept in the annotation C(kubevirt-net.io/description).
        type: str
      tier:
        description: V(Admin) (before NetworkPolicies, cannot be overridden) or V(Baseline) (after them).
        type: str
        choices: [Admin, Baseline]
        default: Baseline
      priority:
        description: 0-1000, lower is evaluated first within the tier (ignored by a v1alpha1 Baseline).
        type: int
        required: true
      subject:
        description: The pods and VMs the baseline applies to.
        type: dict
        required: true
        suboptions:
          namespace_selector:
            description: Namespaces by label (C({}) is every namespace).
            type: dict
          namespaces:
            description: Namespaces by name.
            type: list
            elements: str
          template_selector:
            description:
              - Only these VMs and pods (template labels) in those namespaces.
              - The alias C(vm_selector) is deprecated (removed in 2.0.0).
            type: dict
            aliases: [vm_selector, pod_selector]
      ingress:
        description: Rules for traffic to the subject, in order (at most 25).
        type: list
        elements: dict
        suboptions:
          name:
            description: Rule name (shown by the implementation).
            type: str
          action:
            description: V(Accept), V(Deny) or V(Pass) (V(Accept) is written as C(Allow) in v1alpha1).
            type: str
            required: true
            choices: [Accept, Deny, Pass]
          peers:
            description: Where the traffic comes from or goes to; omitted - every namespace.
            type: list
            elements: dict
            suboptions:
              namespace_selector:
                description: Namespaces by label.
                type: dict
              namespaces:
                description: Namespaces by name.
                type: list
                elements: str
              template_selector:
                description:
                  - Only these VMs and pods in those namespaces.
                  - The alias C(vm_selector) is deprecated (removed in 2.0.0).
                type: dict
                aliases: [vm_selector, pod_selector]
              cidr:
                description: An address block (egress only; v1alpha2 C(networks)).
                type: str
          ports:
            description: Destination ports; omitted - every port.
            type: list
            elements: dict
            suboptions:
              port:
                description: Port number (a name needs the experimental channel and is refused).
                type: raw
              protocol:
                description: TCP, UDP or SCTP.
                type: str
                default: TCP
              end_port:
                description: Last port of a range.
                type: int
      egress:
        description: Rules for traffic from the subject, in order (at most 25).
        type: list
        elements: dict
        suboptions:
          name:
            description: Rule name (shown by the implementation).
            type: str
          action:
            description: V(Accept), V(Deny) or V(Pass) (V(Accept) is written as C(Allow) in v1alpha1).
            type: str
            required: true
            choices: [Accept, Deny, Pass]
          peers:
            description: Where the traffic comes from or goes to; omitted - every namespace.
            type: list
            elements: dict
            suboptions:
              namespace_selector:
                description: Namespaces by label.
                type: dict
              namespaces:
                description: Namespaces by name.
                type: list
                elements: str
              template_selector:
                description:
                  - Only these VMs and pods in those namespaces.
                  - The alias C(vm_selector) is deprecated (removed in 2.0.0).
                type: dict
                aliases: [vm_selector, pod_selector]
              cidr:
                description: An address block (egress only; v1alpha2 C(networks)).
                type: str
          ports:
            description: Destination ports; omitted - every port.
            type: list
            elements: dict
            suboptions:
              port:
                description: Port number (a name needs the experimental channel and is refused).
                type: raw
              protocol:
                description: TCP, UDP or SCTP.
                type: str
                default: TCP
              end_port:
                description: Last port of a range.
                type: int
  cluster_baseline_api:
    description:
      - Which API O(cluster_baselines) are written with. V(auto) asks discovery (C(/apis/policy.networking.k8s.io))
        and prefers v1alpha2.
    type: str
    choices: [auto, v1alpha2, v1alpha1]
    default: auto
  prune:
    description:
      - Delete the policies of this O(policy_set) in the target namespaces that are no longer declared. Policies
        without the label C(app.kubernetes.io/managed-by=kubevirt_net.core), or of another set, are never touched.
    type: bool
    default: true
  prune_scope:
    description:
      - V(namespaces) prunes in the target namespaces only; V(cluster) also in namespaces that are no longer
        targeted (needs the cluster-wide LIST).
    type: str
    choices: [namespaces, cluster]
    default: namespaces
  label_namespaces:
    description:
      - On API servers older than 1.21, add the label C(kubernetes.io/metadata.name=<name>) to the namespaces the
        policies select by name and that lack it (1.21+ servers set this label on every namespace themselves).
      - When false, such policies are refused there with the list of namespaces to label.
    type: bool
    default: false
  vm_checks:
    description:
      - When rules select VMs, read the VirtualMachines of the target namespaces (one LIST) and warn when a selector
        matches a VM's C(metadata.labels) but not its template labels, and when selected VMs use Multus secondary
        networks (NetworkPolicy does not filter those).
    type: bool
    default: true
  list_scope:
    description:
      - How existing policies are read. V(cluster) - one LIST across all namespaces, selected by the managed-by label
        (needs cluster-wide list permission). V(namespace) - one LIST per target namespace. V(auto) - cluster above 10
        namespaces or with O(namespace_selector).
    type: str
    choices: [auto, namespace, cluster]
    default: auto
  max_concurrency:
    description:
      - The most writes in flight at once (1-64).
      - The alias C(concurrency) is deprecated and will be removed in 2.0.0.
    type: int
    default: 8
    aliases: [concurrency]
  report:
    description:
      - Return a Markdown report of the run in RV(report).
    type: bool
    default: false
notes:
  - Check mode sends no write request and reports what would change; C(--diff) shows each changed policy.
  - NetworkPolicy filters only the pod network of a VM; Multus secondary networks need MultiNetworkPolicy (a rule
    with O(rules[].network)) and SR-IOV VFs cannot be filtered. The cluster's network plugin must enforce them.
  - Requires C(netaddr) on the controller.
requirements:
  - kubernetes >= 28.1.0
  - netaddr
"""

EXAMPLES = r"""
- name: Tenant isolation in every namespace labelled tenant, DB reachable from app VMs only
  kubevirt_net.core.kubevirt_network_policies:
    namespace_selector:
      match_expressions:
        - {key: tenant, operator: Exists}
    default_deny: both
    allow_dns: true
    allow_same_namespace: false
    rules:
      - name: db-from-app
        direction: ingress
        template_selector: {app: db}
        peers:
          - template_selector: {app: web}
        ports:
          - {port: 3306}
      - name: app-to-db
        direction: egress
        template_selector: {app: web}
        peers:
          - template_selector: {app: db}
        ports:
          - {port: 3306}
      - name: egress-to-backup
        direction: egress
        peers:
          - cidr: 192.0.2.0/24
            except: [192.0.2.128/25]
        ports:
          - {port: 443}

- name: What the policies would be, without a cluster
  kubevirt_net.core.kubevirt_network_policies:
    state: rendered
    namespaces: [tenant-a]
    default_deny: ingress
    rules:
      - name: web-range
        direction: ingress
        template_selector: {app: web}
        ports:
          - {port: 8000, end_port: 8100}
      - name: storage-same-tenant
        description: on the storage VLAN, only VMs of the same tenant reach these VMs
        direction: ingress
        network: storage
        template_selector: {}
        peers:
          - template_selector: {}
  register: rendered

- name: A cluster baseline - tenants never reach each other unless a tenant's own policy says so
  kubevirt_net.core.kubevirt_network_policies:
    state: rendered
    namespaces: [tenant-a]
    cluster_baselines:
      - name: tenant-isolation
        tier: Baseline
        priority: 10
        subject:
          namespace_selector: {tenant: "true"}
        ingress:
          - name: deny-other-tenants
            action: Deny
            peers:
              - namespace_selector: {tenant: "true"}

- name: Remove every policy of the set from two namespaces
  kubevirt_net.core.kubevirt_network_policies:
    state: absent
    namespaces: [tenant-a, tenant-b]
"""

RETURN = r"""
policies:
  description: One entry per declared policy and namespace, then the deletions.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: Namespace of the policy.
      type: str
      sample: tenant-a
    name:
      description: Name of the policy.
      type: str
      sample: kvnet-db-from-app
    kind:
      description: NetworkPolicy (pod network) or MultiNetworkPolicy (a rule with O(rules[].network)).
      type: str
      sample: MultiNetworkPolicy
    method:
      description: What was done (or, in check mode, would be done); V(failed) when the server did not confirm
        the write (then C(error) is set).
      type: str
      choices: [created, updated, deleted, unchanged, rendered, failed]
      sample: created
    origin:
      description: The baseline or rule the policy comes from.
      type: str
      sample: rule db-from-app
    error:
      description: Why this policy could not be written (the others are still written).
      type: str
      returned: on failure of this policy
    resource:
      description: The manifest.
      type: dict
      returned: when O(state=rendered)
baselines:
  description: One entry per cluster baseline (O(cluster_baselines)), then the deletions.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the object.
      type: str
      sample: kvnet-tenant-isolation
    kind:
      description: ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy.
      type: str
      sample: ClusterNetworkPolicy
    tier:
      description: Admin or Baseline.
      type: str
      sample: Baseline
    method:
      description: What was done (or, in check mode, would be done).
      type: str
      sample: created
baseline_api:
  description: The API version the baselines were written with (v1alpha2 or v1alpha1); null when not managed.
  returned: unless O(state=rendered)
  type: str
  sample: v1alpha2
namespaces:
  description: Per target namespace, how many policies were created, updated, deleted and left unchanged.
  returned: unless O(state=rendered)
  type: dict
  sample: {"tenant-a": {"created": 2, "updated": 0, "deleted": 1, "unchanged": 3}}
totals:
  description: The same counts over all namespaces.
  returned: unless O(state=rendered)
  type: dict
  sample: {"created": 2, "updated": 0, "deleted": 1, "unchanged": 3}
findings:
  description:
    - Warnings of the run (also shown as Ansible warnings), each with C(kind) (C(kubevirt-namespace), C(dns),
      C(isolation), C(vm-metadata-labels), C(multus), C(namespace-missing), C(no-match), C(terminating),
      C(not-ours), C(vm-checks), C(end-port)) and C(message).
  returned: always
  type: list
  elements: dict
labelled_namespaces:
  description: Namespaces that were (in check mode - would be) labelled C(kubernetes.io/metadata.name).
  returned: unless O(state=rendered)
  type: list
  elements: str
declared:
  description: Names of the declared policies (the same in every namespace).
  returned: always
  type: list
  elements: str
  sample: [kvnet-default-deny, kvnet-allow-dns, kvnet-db-from-app]
server_version:
  description: The API server's version (major.minor).
  returned: unless O(state=rendered)
  type: str
  sample: "1.20"
policy_set:
  description: The policy set.
  returned: always
  type: str
list_scope:
  description: How the existing policies were read (V(cluster) or V(namespace)).
  returned: unless O(state=rendered)
  type: str
report:
  description: A Markdown report of the run.
  returned: when O(report=true) and not O(state=rendered)
  type: str
changed:
  description: Whether anything was (or would be) changed.
  returned: always
  type: bool
api_requests:
  description: Requests this task sent to the API server; C(writes) is 0 for an unchanged run and in check mode.
  returned: always
  type: dict
  sample: {"total": 4, "writes": 0, "retries": 0}
diff:
  description: Before and after of the changed policies (with C(--diff)), keyed C(namespace/name).
  returned: when changed and diff mode is on
  type: dict
"""

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol, netpol_admin
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import build_module
from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_runner import run

PORT_SPEC = dict(
    port=dict(type="raw"),
    protocol=dict(type="str", default="TCP"),
    end_port=dict(type="int"),
)
# vm_selector was the old name of template_selector here (in kubevirt_iface_hotplug and
# kubevirt_vm_network_info it means VM metadata labels); kept as a deprecated alias until 2.0.0
OLD_SELECTOR_NAME = [dict(name="vm_selector", version="2.0.0", collection_name="kubevirt_net.core")]
OLD_CONCURRENCY_NAME = [dict(name="concurrency", version="2.0.0", collection_name="kubevirt_net.core")]


def template_selector_option():
    return dict(type="dict", aliases=["vm_selector", "pod_selector"], deprecated_aliases=OLD_SELECTOR_NAME)


PEER_SPEC = {
    "template_selector": template_selector_option(),
    "namespace_selector": dict(type="dict"),
    "namespaces": dict(type="list", elements="str"),
    "cidr": dict(type="str"),
    "except": dict(type="list", elements="str"),
}
RULE_SPEC = dict(
    name=dict(type="str", required=True),
    description=dict(type="str"),
    direction=dict(type="str", required=True, choices=["ingress", "egress"]),
    template_selector=template_selector_option(),
    peers=dict(type="list", elements="dict", options=PEER_SPEC),
    ports=dict(type="list", elements="dict", options=PORT_SPEC),
    network=dict(type="list", elements="str"),
)
MONITORING_SPEC = dict(
    namespace_selector=dict(type="dict"),
    namespaces=dict(type="list", elements="str"),
    pod_selector=dict(type="dict"),
    template_selector=dict(type="dict", aliases=["vm_selector"], deprecated_aliases=OLD_SELECTOR_NAME),
    ports=dict(type="list", elements="dict", options=PORT_SPEC),
)
BASELINE_PEER_SPEC = dict(
    namespace_selector=dict(type="dict"),
    namespaces=dict(type="list", elements="str"),
    template_selector=template_selector_option(),
    cidr=dict(type="str"),
)
BASELINE_RULE_SPEC = dict(
    name=dict(type="str"),
    action=dict(type="str", required=True, choices=list(netpol_admin.ACTIONS)),
    peers=dict(type="list", elements="dict", options=BASELINE_PEER_SPEC),
    ports=dict(type="list", elements="dict", options=PORT_SPEC),
)
BASELINE_SPEC = dict(
    name=dict(type="str", required=True),
    description=dict(type="str"),
    tier=dict(type="str", choices=list(netpol_admin.TIERS), default="Baseline"),
    priority=dict(type="int", required=True),
    subject=dict(type="dict", required=True, options=dict(
        namespace_selector=dict(type="dict"), namespaces=dict(type="list", elements="str"),
        template_selector=template_selector_option())),
    ingress=dict(type="list", elements="dict", options=BASELINE_RULE_SPEC),
    egress=dict(type="list", elements="dict", options=BASELINE_RULE_SPEC),
)
ARG_SPEC = dict(
    state=dict(type="str", choices=["present", "absent", "rendered"], default="present"),
    namespaces=dict(type="list", elements="str"),
    namespace_selector=dict(type="dict"),
    policy_set=dict(type="str", default="default"),
    name_prefix=dict(type="str", default="kvnet-"),
    default_deny=dict(type="str", choices=list(netpol.DENY_CHOICES), default="none"),
    allow_dns=dict(type="bool", default=False),
    dns_namespace=dict(type="str", default="kube-system"),
    dns_namespace_selector=dict(type="dict"),
    dns_pod_selector=dict(type="dict"),
    allow_same_namespace=dict(type="bool", default=False),
    allow_from_namespaces=dict(type="dict"),
    allow_monitoring=dict(type="dict", options=MONITORING_SPEC),
    rules=dict(type="list", elements="dict", options=RULE_SPEC),
    cluster_baselines=dict(type="list", elements="dict", options=BASELINE_SPEC),
    cluster_baseline_api=dict(type="str", choices=["auto", "v1alpha2", "v1alpha1"], default="auto"),
    prune=dict(type="bool", default=True),
    prune_scope=dict(type="str", choices=["namespaces", "cluster"], default="namespaces"),
    label_namespaces=dict(type="bool", default=False),
    vm_checks=dict(type="bool", default=True),
    list_scope=dict(type="str", choices=["auto", "namespace", "cluster"], default="auto"),
    max_concurrency=dict(type="int", default=8, aliases=["concurrency"], deprecated_aliases=OLD_CONCURRENCY_NAME),
    report=dict(type="bool", default=False),
)


def main():
    run(build_module(ARG_SPEC, needs_netaddr=True))


if __name__ == "__main__":
    main()
