#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: kubevirt_vm_network_info
short_description: Network doctor for KubeVirt VMs - diagnoses interfaces, NetworkPolicy reachability, Services, DNS, hot-plug, Istio and SR-IOV
version_added: 0.1.0
author:
  - kubevirt_net.core maintainers (@kubevirt-net)
description:
  - Reads KubeVirt VirtualMachines with their VMIs and virt-launcher pods, and the Services, Endpoints,
    NetworkPolicies, NetworkAttachmentDefinitions and migrations of their namespaces, and answers the usual
    troubleshooting questions in one task. Every finding has a C(severity) (V(error), V(warning), V(info)), a
    C(message) naming the objects involved, and a C(fix).
  - C(interfaces) - spec joined with the VMI status by name (MAC, IPs, in-guest name, C(infoSource), link state),
    networks whose NetworkAttachmentDefinition is missing (and where a NAD of that name exists instead),
    interfaces in the template that the running VMI does not have yet (hot-plug not finished), pending
    C(MigrationRequired) and C(RestartRequired) conditions.
  - C(reachability) - Kubernetes NetworkPolicy semantics evaluated locally (isolation per direction, union of
    rules, ipBlock/except, named ports, endPort, namespaceSelector+podSelector in one peer = AND) to answer
    whether the VM can receive from or send to O(peer) on a port, and which policies decide. Secondary (Multus)
    networks are outside NetworkPolicy; the module says so.
  - C(services) - Services selecting the VM's pod; Services whose selector matches only the VM object's
    labels (not the template's, the classic mistake); target ports a masquerade/passt C(ports) list does not
    forward; NodePort/LoadBalancer addresses; whether the VM is among the Endpoints.
  - C(dns) - the VM's DNS name (C(<hostname>.<subdomain>.<namespace>.svc.<cluster domain>), which needs a
    subdomain and a headless Service) or why it has none; the resolver settings in effect (dnsPolicy,
    dnsConfig); whether an egress policy blocks DNS.
  - C(hotplug) - KubeVirt version, LiveMigrate, rollout strategy, LiveMigratable, the dynamic-networks
    controller, and which plug/unplug operations would work now.
  - C(istio) - the eight requirements of a VM in the Istio mesh, each passed or failed, and whether the
    sidecar was injected.
  - C(sriov) - the NAD's resource name, the nodes that offer it with free VFs, and whether the VM can migrate.
  - Read-only. The module sends only GET requests (C(api_requests.writes) is always 0), so check mode
    changes nothing. Reads are bounded - one LIST per kind and namespace (one cluster-wide LIST per kind
    without O(namespace)), plus a few cluster-wide reads only when a check needs them - however many VMs.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - kubevirt_net.core.common
options:
  namespace:
    description:
      - Namespace of the VMs to diagnose. Without it, VMs of all namespaces are diagnosed.
    type: str
  vm:
    description:
      - Name of one VirtualMachine (needs O(namespace)). Mutually exclusive with O(vm_selector).
    type: str
  vm_selector:
    description:
      - Label selector on the VirtualMachines' own labels, e.g. C(tier=db,env in (prod)). It is parsed and checked
        before any API request; a malformed selector fails the task naming this option.
      - The doctor only reads, so an empty selector is allowed and examines every VM of O(namespace), like omitting
        O(vm) and O(vm_selector).
      - A string or a dict (labels, or C(match_labels)/C(match_expressions)). A non-empty selector that matches no
        VM fails the task (nothing diagnosed is not "healthy") unless O(allow_no_match=true).
    type: raw
  template_selector:
    description:
      - Label selector on the VMs' B(template labels) (C(spec.template.metadata.labels), the labels the
        virt-launcher pod carries and Services and NetworkPolicies select), as a string or a dict; the VMs read are
        filtered by it. Mutually exclusive with O(vm).
    type: raw
  allow_no_match:
    description:
      - V(true) accepts a O(vm_selector)/O(template_selector) that matches no VM (a warning and an empty report)
        instead of failing.
    type: bool
    default: false
  checks:
    description:
      - Which checks to run.
    type: list
    elements: str
    choices: [interfaces, reachability, services, dns, hotplug, istio, sriov]
    default: [interfaces, reachability, services, dns, hotplug, istio, sriov]
  peer:
    description:
      - The other end of a reachability question, asked for every diagnosed VM. Give one of O(peer.vm),
        O(peer.pod_selector), O(peer.namespace) alone (every pod there), or O(peer.cidr).
    type: dict
    suboptions:
      vm:
        description: A VirtualMachine (in O(peer.namespace), default the diagnosed VM's namespace).
        type: str
      pod_selector:
        description: Pods matching this label selector (a string like C(app=web) or a dict of labels).
        type: raw
      namespace:
        description: Namespace of the peer. Alone, every running pod of that namespace is a peer.
        type: str
      cidr:
        description: Addresses outside the cluster (an IP or CIDR), matched against ipBlock rules.
        type: str
      port:
        description:
          - Destination port, a number or a named port of the destination pod. Required unless
            O(peer.protocol=ICMP).
        type: raw
      protocol:
        description:
          - V(ICMP) (ping) is not a NetworkPolicy protocol; only rules without ports allow it.
        type: str
        choices: [TCP, UDP, SCTP, ICMP]
        default: TCP
  direction:
    description:
      - V(ingress) asks whether the VM can receive from O(peer), V(egress) whether it can send to it.
    type: str
    choices: [ingress, egress, both]
    default: both
  policies:
    description:
      - Impact preview. NetworkPolicy manifests a change would create or replace (same namespace and name);
        an item with C(state=absent) stands for deleting that policy. The result's RV(impact) lists the VM-to-VM and
        VM-to-CIDR flows that would be newly denied or newly allowed. Nothing is applied.
      - C(kind) may also be MultiNetworkPolicy (with its C(k8s.v1.cni.cncf.io/policy-for) annotation),
        ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy (cluster-scoped); C(impact.networks)
        then lists the VM-to-VM flows that change per network (pod network with the admin tiers, Multus networks
        with MultiNetworkPolicies).
      - C(metadata.namespace) defaults to O(namespace) (not for the cluster-scoped kinds).
    type: list
    elements: dict
  cluster_domain:
    description:
      - The cluster's DNS domain, for the DNS names reported.
    type: str
    default: cluster.local
notes:
  - Supports check mode (the module never writes).
  - Whether ipBlock rules apply to pod IPs is left to the network plugin by Kubernetes; the evaluator matches
    them and says so in its reasons.
  - Pending hot-plugs and migrations are reported as the API shows them; nothing is waited for.
requirements:
  - kubernetes >= 28.1.0
"""

EXAMPLES = r"""
- name: Diagnose every VM of a namespace
  kubevirt_net.core.kubevirt_vm_network_info:
    namespace: vms
  register: doctor

- name: Show what is broken
  ansible.builtin.debug:
    msg: "{{ doctor.vms | map(attribute='findings') | flatten | selectattr('severity', 'equalto', 'error') | list }}"

- name: Can VM db-1 receive from the web pods on 5432, and which policies decide?
  kubevirt_net.core.kubevirt_vm_network_info:
    namespace: vms
    vm: db-1
    checks: [reachability]
    direction: ingress
    peer:
      pod_selector: app=web
      namespace: frontend
      port: 5432

- name: Can the VM ping 8.8.8.8 (egress)?
  kubevirt_net.core.kubevirt_vm_network_info:
    namespace: vms
    vm: db-1
    checks: [reachability]
    direction: egress
    peer:
      cidr: 8.8.8.8
      protocol: ICMP

- name: What would a default-deny policy break?
  kubevirt_net.core.kubevirt_vm_network_info:
    namespace: vms
    checks: [reachability]
    policies:
      - metadata:
          name: default-deny
        spec:
          podSelector: {}
          policyTypes: [Ingress, Egress]
  register: preview
"""

RETURN = r"""
vms:
  description: One report per VirtualMachine, sorted by namespace and name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: VM name.
      type: str
    namespace:
      description: VM namespace.
      type: str
    running:
      description: Whether its VMI is in phase Running.
      type: bool
    phase:
      description: The VMI phase, or C(Stopped) without a VMI.
      type: str
    node:
      description: Node of the VMI.
      type: str
    pod:
      description: Name of the active virt-launcher pod.
      type: str
    pod_ips:
      description: IPs of the virt-launcher pod.
      type: list
      elements: str
    labels:
      description: C(vm) (the object's), C(template) (what the pod gets) and C(pod) (the pod's, or predicted).
      type: dict
    findings:
      description: Diagnoses, errors first.
      type: list
      elements: dict
      contains:
        check:
          description: The check that found it.
          type: str
          sample: services
        severity:
          description: V(error) (this breaks something), V(warning) (likely to), V(info).
          type: str
          sample: error
        code:
          description: A stable identifier, e.g. C(service-selects-vm-labels), C(nad-missing), C(peer-denied-ingress).
          type: str
        message:
          description: What is wrong, naming the objects.
          type: str
        fix:
          description: What to do.
          type: str
        fix_policies:
          description: NetworkPolicy manifests that would allow a denied flow (reachability and DNS findings).
          type: list
          elements: dict
        deciding_policies:
          description: The NetworkPolicies (C(namespace/name)) that decide a reachability answer.
          type: list
          elements: str
    interfaces:
      description: Interfaces joined with status (C(interfaces)) and the C(conditions) MigrationRequired/RestartRequired.
      type: dict
    reachability:
      description:
        - Isolation per direction, the policies selecting the VM, secondary networks, and the C(results) of the peer
          question.
        - C(networks) - one row per network of the VM (C(pod), or C(<namespace>/<nad>)) with C(filtered_by), the
          C(policies) that select the VM there and, with O(peer), C(results) per direction (C(outcome), C(tier),
          C(deciding) object and rule). The pod network is decided by the Admin tier, the namespace's
          NetworkPolicies and the Baseline tier in that order; a Multus network by its MultiNetworkPolicies.
      type: dict
    services:
      description: The Services that select the VM (or only its VM labels), with ports and endpoints.
      type: dict
    dns:
      description: Hostname, subdomain, C(fqdn) (or C(reason)), Service names, dnsPolicy, dnsConfig and the resolv.conf in effect.
      type: dict
    hotplug:
      description: KubeVirt capabilities and which operations (plug_bridge, plug_sriov, unplug, swap_network) are possible now.
      type: dict
    istio:
      description: The eight requirements (C(id), C(requirement), C(passed), C(detail), C(fix)) and C(sidecar_injected).
      type: dict
    sriov:
      description: Per SR-IOV interface the resource name, offering nodes with free VFs and migration targets.
      type: dict
summary:
  description: Counts of VMs and findings per severity; C(healthy) when there is no error.
  returned: always
  type: dict
  sample: {"vms": 2, "running": 2, "findings": {"error": 1, "warning": 0, "info": 7}, "healthy": false}
topology:
  description: Nodes (VMs, networks, Services, policies) and edges (attaches, selects, isolates, flow-allowed,
    flow-denied) for a diagram; playbooks/network_doctor.yml renders it as Mermaid.
  returned: always
  type: dict
impact:
  description: With O(policies), the flows that would be C(newly_denied) and C(newly_allowed), C(problems) the API
    server would reject in the pending policies, and C(networks) - the VM-to-VM flows that change per network, each
    with a C(message) such as "this change would cut VM X off from Y on network Z".
  returned: when O(policies) is set
  type: dict
kubevirt:
  description: KubeVirt version, workload update methods, rollout strategy and feature gates from the KubeVirt CR.
  returned: always
  type: dict
reads:
  description: The collections and objects read (every request is a GET).
  returned: always
  type: list
  elements: str
unreadable:
  description: Optional reads that failed (e.g. forbidden by RBAC) and what they would have added.
  returned: always
  type: list
  elements: dict
server_version:
  description: Kubernetes API server version (major.minor).
  returned: always
  type: str
  sample: "1.20"
api_requests:
  description: Requests sent; C(writes) is always 0.
  returned: always
  type: dict
  sample: {"total": 14, "writes": 0, "retries": 0}
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible_collections.kubevirt_net.core.plugins.module_utils import doctor
from ansible_collections.kubevirt_net.core.plugins.module_utils.doctor_runner import run
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import build_module

ARG_SPEC = dict(
    namespace=dict(type="str"),
    vm=dict(type="str"),
    vm_selector=dict(type="raw"),
    template_selector=dict(type="raw"),
    allow_no_match=dict(type="bool", default=False),
    checks=dict(type="list", elements="str", choices=list(doctor.CHECKS), default=list(doctor.CHECKS)),
    peer=dict(type="dict", options=dict(
        vm=dict(type="str"),
        pod_selector=dict(type="raw"),
        namespace=dict(type="str"),
        cidr=dict(type="str"),
        port=dict(type="raw"),
        protocol=dict(type="str", choices=["TCP", "UDP", "SCTP", "ICMP"], default="TCP"),
    )),
    direction=dict(type="str", choices=["ingress", "egress", "both"], default="both"),
    policies=dict(type="list", elements="dict"),
    cluster_domain=dict(type="str", default="cluster.local"),
)


def main():
    run(build_module(ARG_SPEC, mutually_exclusive=[("vm", "vm_selector"), ("vm", "template_selector")]))


if __name__ == "__main__":
    main()
