#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: kubevirt_network
short_description: Manage secondary networks of KubeVirt VMs (Multus NetworkAttachmentDefinitions)
version_added: 0.1.0
author:
  - kubevirt_net.core maintainers (@kubevirt-net)
description:
  - Creates, updates and deletes Multus C(NetworkAttachmentDefinition) objects (C(k8s.cni.cncf.io/v1)), the
    secondary networks that KubeVirt VMs reference from C(spec.template.spec.networks[].multus.networkName).
  - A network is a few typed options; the module writes the CNI JSON itself, deterministically, and compares
    existing networks by parsed JSON, so a re-run changes nothing and C(--diff) shows only real changes.
  - Addresses are checked with netaddr before any request is sent (subnets, ranges, gateways, excludes), and
    networks that share a layer-2 segment (same bridge and VLAN, same OVS bridge and VLAN, same macvlan master,
    same OVN localnet) must not hand out the same addresses.
  - >-
    There is no KubeVirt "Network" resource. What older notes call a network of type bridge or masquerade is an
    B(interface binding) in the VM (C(bridge: {}), C(masquerade: {})); this module manages the NAD a bridge or
    SR-IOV binding attaches to. The VM side is the C(kubevirt_iface_hotplug) module's.
  - Many networks in one task (O(networks)) cost one LIST per namespace plus one request per network that
    differs; unchanged networks cost nothing more.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - kubevirt_net.core.common
options:
  state:
    description:
      - V(present) creates or updates the networks.
      - V(absent) deletes them; a network used by a VirtualMachine or VirtualMachineInstance is kept and the task
        fails listing its users, unless O(force=true).
      - V(overridden) makes the networks listed in O(networks) present and deletes every other
        NetworkAttachmentDefinition managed by this collection (label C(app.kubernetes.io/managed-by=kubevirt_net.core))
        in the namespaces involved. NADs not created by this collection are never touched.
      - V(rendered) returns the manifests without contacting the cluster.
    type: str
    choices: [present, absent, overridden, rendered]
    default: present
  force:
    description:
      - With O(state=absent) or O(state=overridden), delete networks even when VMs reference them.
    type: bool
    default: false
  overlap_scope:
    description:
      - Where to look for networks on the same layer-2 segment (the same Linux or OVS bridge and VLAN, macvlan master,
        OVN localnet or layer2 network) that hand out the same addresses as the networks of this task.
      - A bridge is node-wide, so NADs of different namespaces on one bridge share its layer 2.
      - V(namespace) refuses overlaps with networks in the namespaces of this task and warns about overlaps with
        networks in any other namespace (one cluster-wide LIST; without permission to list cluster-wide, a warning
        says the check was skipped).
      - V(cluster) refuses overlaps with any NetworkAttachmentDefinition the user can list (the task fails when it
        may not list them cluster-wide).
    type: str
    choices: [namespace, cluster]
    default: namespace
  networks:
    description:
      - Several networks in one task. Each item takes the same options as a single network (O(name), O(type),
        O(ipam), ...); O(namespace) and O(cni_version) given at the top level are the defaults of every item.
      - Mutually exclusive with O(name).
    type: list
    elements: dict
  max_concurrency:
    description:
      - The most writes (creates, updates, deletes of NetworkAttachmentDefinitions) in flight at once (1-64), over
        all namespaces of the task. The reads are one LIST per namespace (or one cluster-wide LIST), before any write.
    type: int
    default: 8
  name:
    description:
      - Name of the NetworkAttachmentDefinition (DNS-1123, at most 253 characters). VMs reference it as
        C(<name>) from the same namespace or C(<namespace>/<name>) from any namespace.
    type: str
  namespace:
    description:
      - Namespace of the network.
      - When the task would create or change a network there, the module first reads the namespace (one GET) and
        fails, writing nothing, if it does not exist. Without permission to read namespaces the check is skipped.
    type: str
    default: default
  type:
    description:
      - The CNI plugin. V(bridge) Linux bridge; V(ovs) Open vSwitch (ovs-cni); V(macvlan); V(sriov) (sriov-cni,
        for VMs with the C(sriov) binding; VFs must be bound to vfio-pci); V(ovn_layer2) and V(ovn_localnet)
        (OVN-Kubernetes secondary networks); V(cni_config) any CNI configuration given in O(cni_config).
      - Required unless O(state=absent).
    type: str
    choices: [bridge, ovs, macvlan, sriov, ovn_layer2, ovn_localnet, cni_config]
  description:
    description:
      - Free text kept in the C(description) annotation.
    type: str
  labels:
    description:
      - Labels of the NetworkAttachmentDefinition (added to; other labels are left alone).
      - Keys must be Kubernetes qualified names (C(name) or C(prefix/name)) and values valid label values
        (at most 63 characters, quoted when YAML would read them as numbers); checked before any request.
    type: dict
  annotations:
    description:
      - Annotations of the NetworkAttachmentDefinition (added to; other annotations are left alone).
      - Keys must be Kubernetes qualified names; checked before any request.
    type: dict
  cni_version:
    description:
      - C(cniVersion) of the generated configuration, one of the CNI specification versions
        C(0.1.0), C(0.2.0), C(0.3.0), C(0.3.1), C(0.4.0), C(1.0.0), C(1.1.0) (containernetworking/cni
        C(pkg/version)). The C(cniVersion) of a O(cni_config) is checked the same way.
    type: str
    default: 0.3.1
  bridge:
    description:
      - V(bridge), V(ovs) - the host bridge to attach to.
      - A Linux interface name as the kernel accepts it (C(dev_valid_name)) - at most 15 bytes, no C(/), C(:) or
        whitespace, not C(.) or C(..).
    type: str
  vlan:
    description:
      - V(bridge), V(ovs), V(sriov) - VLAN tag (0-4094). V(ovn_localnet) - the C(vlanID) of the localnet.
    type: int
  mtu:
    description:
      - MTU of the interface (576-9216).
    type: int
  mac_spoof_check:
    description:
      - V(bridge) - drop frames whose source MAC is not the interface's (C(macspoofchk)).
    type: bool
  preserve_default_vlan:
    description:
      - V(bridge) - keep the default VLAN on the port when O(vlan) is set (C(preserveDefaultVlan)).
    type: bool
  trunk:
    description:
      - V(ovs) - VLAN trunk of the port; each item is C(id) or C(min_id)/C(max_id).
    type: list
    elements: dict
    suboptions:
      id:
        description: One VLAN id.
        type: int
      min_id:
        description: First VLAN id of a range.
        type: int
      max_id:
        description: Last VLAN id of a range.
        type: int
  master:
    description:
      - V(macvlan) - the host interface the macvlan sits on (a Linux interface name, checked like O(bridge)).
    type: str
  mode:
    description:
      - V(macvlan) - the macvlan mode.
    type: str
    choices: [bridge, private, vepa, passthru]
  resource_name:
    description:
      - V(sriov) - the SR-IOV device plugin resource (C(<domain>/<name>), e.g. C(openshift.io/intelnics)), written to
        the C(k8s.v1.cni.cncf.io/resourceName) annotation so the VF is requested for the VM's pod.
    type: str
  vlan_qos:
    description:
      - V(sriov) - VLAN QoS (0-7).
    type: int
  spoof_check:
    description:
      - V(sriov) - VF spoof checking.
    type: bool
  trust:
    description:
      - V(sriov) - VF trust mode.
    type: bool
  link_state:
    description:
      - V(sriov) - VF link state.
    type: str
    choices: [auto, enable, disable]
  min_tx_rate:
    description:
      - V(sriov) - minimum transmit rate in Mbps.
    type: int
  max_tx_rate:
    description:
      - V(sriov) - maximum transmit rate in Mbps.
    type: int
  physical_network_name:
    description:
      - V(ovn_localnet) - the physical network (bridge mapping) of the localnet.
    type: str
  subnets:
    description:
      - V(ovn_layer2), V(ovn_localnet) - subnets OVN allocates from (CIDRs, IPv4 and/or IPv6).
    type: list
    elements: str
  exclude_subnets:
    description:
      - V(ovn_layer2), V(ovn_localnet) - addresses inside O(subnets) that OVN must not allocate.
    type: list
    elements: str
  cni_config:
    description:
      - V(cni_config) - the complete CNI configuration, as a dict or a JSON string. It must have C(cniVersion) and
        C(type) or C(plugins); C(name) defaults to O(name).
    type: raw
  ipam:
    description:
      - IP address management of V(bridge), V(ovs), V(macvlan) and V(sriov) networks. KubeVirt VMs have no IP field;
        addresses come from here (or from the guest, e.g. cloud-init C(networkData)).
    type: dict
    suboptions:
      type:
        description:
          - V(none) leaves addressing to the guest, V(host-local) allocates per node, V(whereabouts) allocates
            cluster-wide, V(static) gives fixed addresses, V(dhcp) asks a DHCP server on the segment.
        type: str
        choices: [none, host-local, whereabouts, static, dhcp]
        default: none
      subnet:
        description: The subnet of the first range (CIDR, IPv4 or IPv6).
        type: str
      range_start:
        description: First address handed out (default the first usable one).
        type: str
      range_end:
        description: Last address handed out (default the last usable one).
        type: str
      gateway:
        description:
          - Gateway of the subnet. host-local never hands it out; with whereabouts it must be outside the range
            or listed in O(ipam.exclude).
        type: str
      exclude:
        description: V(whereabouts) - CIDRs inside the subnet that are never handed out.
        type: list
        elements: str
      ranges:
        description: More ranges (dual stack, or several pools); each has subnet, range_start, range_end, gateway, exclude.
        type: list
        elements: dict
      routes:
        description: Routes to add, each C(dst) (CIDR) and optional C(gw).
        type: list
        elements: dict
      addresses:
        description: V(static) - the addresses, each C(address) (CIDR form, e.g. C(192.168.10.5/24)) and optional C(gateway).
        type: list
        elements: dict
notes:
  - Check mode sends no write request and reports what would change; C(--diff) shows the parsed CNI configuration.
  - Requires C(netaddr) on the controller.
requirements:
  - kubernetes >= 28.1.0
  - netaddr
"""

EXAMPLES = r"""
- name: A bridge network with cluster-wide addresses for VMs
  kubevirt_net.core.kubevirt_network:
    name: br-prod
    namespace: vms
    type: bridge
    bridge: br1
    vlan: 100
    ipam:
      type: whereabouts
      subnet: 192.168.100.0/24
      range_start: 192.168.100.10
      range_end: 192.168.100.200
      gateway: 192.168.100.1

- name: An SR-IOV network (VFs bound to vfio-pci by the SR-IOV operator or kubevirt_net.core.sriov_host)
  kubevirt_net.core.kubevirt_network:
    name: sriov-net
    namespace: vms
    type: sriov
    resource_name: openshift.io/intelnics
    vlan: 200
    spoof_check: true

- name: Exactly these networks in namespace vms (other networks this collection made there are deleted)
  kubevirt_net.core.kubevirt_network:
    state: overridden
    namespace: vms
    networks:
      - name: storage
        type: macvlan
        master: ens3f0
        ipam: {type: host-local, subnet: 10.20.0.0/24}
      - name: tenant
        type: ovn_layer2
        subnets: [10.30.0.0/24]

- name: What the manifests would be, without a cluster
  kubevirt_net.core.kubevirt_network:
    state: rendered
    name: br-test
    type: bridge
    bridge: br-test
  register: rendered
"""

RETURN = r"""
networks:
  description: One entry per network, in the order given (deletions of O(state=overridden) last).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the NetworkAttachmentDefinition.
      type: str
      sample: br-prod
    namespace:
      description: Its namespace.
      type: str
      sample: vms
    method:
      description: What was done (or, in check mode, would be done). V(failed) when the server did not confirm
        the write (then C(planned) and C(error) are set).
      type: str
      sample: created
      choices: [created, updated, deleted, unchanged, rendered, failed]
    config:
      description: The CNI configuration, parsed.
      type: dict
      sample: {"cniVersion": "0.3.1", "name": "br-prod", "type": "bridge", "bridge": "br1", "ipam": {}}
    users:
      description: VirtualMachines and VirtualMachineInstances that reference the network (read for deletions only).
      type: list
      elements: str
      sample: ["VirtualMachine vms/db-1"]
    resource:
      description: The NetworkAttachmentDefinition as stored by the API server (the manifest for V(rendered) and check mode).
      type: dict
changed:
  description: Whether anything was (or would be) changed.
  returned: always
  type: bool
api_requests:
  description: Requests this task sent to the API server; C(writes) is 0 for an unchanged run and in check mode.
  returned: always
  type: dict
  sample: {"total": 1, "writes": 0, "retries": 0}
diff:
  description: Before and after of the changed networks (with C(--diff)), CNI configuration parsed.
  returned: when changed and diff mode is on
  type: dict
"""

from copy import deepcopy

from ansible_collections.kubevirt_net.core.plugins.module_utils import cni
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import build_module
from ansible_collections.kubevirt_net.core.plugins.module_utils.network_runner import run

IPAM_SPEC = dict(
    type=dict(type="str", choices=["none", "host-local", "whereabouts", "static", "dhcp"], default="none"),
    subnet=dict(type="str"),
    range_start=dict(type="str"),
    range_end=dict(type="str"),
    gateway=dict(type="str"),
    exclude=dict(type="list", elements="str"),
    ranges=dict(type="list", elements="dict"),
    routes=dict(type="list", elements="dict"),
    addresses=dict(type="list", elements="dict"),
)

ONE_NETWORK_SPEC = dict(
    name=dict(type="str"),
    namespace=dict(type="str"),
    type=dict(type="str", choices=list(cni.NETWORK_TYPES)),
    description=dict(type="str"),
    labels=dict(type="dict"),
    annotations=dict(type="dict"),
    cni_version=dict(type="str"),
    bridge=dict(type="str"),
    vlan=dict(type="int"),
    mtu=dict(type="int"),
    mac_spoof_check=dict(type="bool"),
    preserve_default_vlan=dict(type="bool"),
    trunk=dict(type="list", elements="dict", options=dict(
        id=dict(type="int"), min_id=dict(type="int"), max_id=dict(type="int"))),
    master=dict(type="str"),
    mode=dict(type="str", choices=["bridge", "private", "vepa", "passthru"]),
    resource_name=dict(type="str"),
    vlan_qos=dict(type="int"),
    spoof_check=dict(type="bool"),
    trust=dict(type="bool"),
    link_state=dict(type="str", choices=["auto", "enable", "disable"]),
    min_tx_rate=dict(type="int"),
    max_tx_rate=dict(type="int"),
    physical_network_name=dict(type="str"),
    subnets=dict(type="list", elements="str"),
    exclude_subnets=dict(type="list", elements="str"),
    cni_config=dict(type="raw"),
    ipam=dict(type="dict", options=IPAM_SPEC),
)

# the task-level options: one network's options (namespace and cni_version with defaults, which the
# networks[] items inherit) and those of the task
ARG_SPEC = dict(deepcopy(ONE_NETWORK_SPEC),
                namespace=dict(type="str", default="default"),
                cni_version=dict(type="str", default="0.3.1"),
                state=dict(type="str", choices=["present", "absent", "overridden", "rendered"], default="present"),
                force=dict(type="bool", default=False),
                overlap_scope=dict(type="str", choices=["namespace", "cluster"], default="namespace"),
                networks=dict(type="list", elements="dict"),
                max_concurrency=dict(type="int", default=8))


def main():
    module = build_module(ARG_SPEC, needs_netaddr=True, mutually_exclusive=[("name", "networks")],
                          required_one_of=[("name", "networks")])
    run(module, ONE_NETWORK_SPEC)


if __name__ == "__main__":
    main()
