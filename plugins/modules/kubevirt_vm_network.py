#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: kubevirt_vm_network
short_description: Declare a KubeVirt VM's interfaces, networks and DNS settings as a whole
version_added: 0.1.0
author:
  - kubevirt_net.core maintainers (@kubevirt-net)
description:
  - Manages the network declaration of a VirtualMachine - the interfaces (C(spec.template.spec.domain.devices.interfaces))
    and their networks (C(spec.template.spec.networks)), kept 1:1 by name, the DNS fields C(hostname), C(subdomain),
    C(dnsPolicy) and C(dnsConfig) (at C(spec.template.spec), not under C(domain)) and the pod network's
    C(vmNetworkCIDR) - with the states of Ansible's network resource modules.
  - >-
    Interfaces are typed options (O(config.interfaces[].binding=masquerade), O(config.interfaces[].network=pod)...);
    the module writes KubeVirt's fields (C(masquerade: {}), C(pod: {}), C(multus.networkName)...). There is no IP
    address field on KubeVirt interfaces; addresses come from the pod network, the NAD's IPAM or the guest.
  - Before any write the module mirrors KubeVirt's admission on the resulting template (one pod network, masquerade and
    passt only on the pod network, unique names, 1:1 interfaces and networks, MACs, PCI addresses, ports, link state,
    DHCP options, hostname/subdomain) and the version and feature-gate rules (core passt binding from 1.8 with the
    C(PasstBinding) gate, binding plugins from 1.1 and GA in 1.5, link state from 1.5), checks that referenced
    NetworkAttachmentDefinitions exist, that binding plugins are registered, that MACs are unused in the namespace
    and, for SR-IOV, that the NAD has a resource and a node offers it. All problems are reported at once.
  - On a running VM, what KubeVirt applies live - adding C(bridge) or C(sriov) NICs on Multus networks, unplugging
    C(bridge) NICs, swapping the NAD of a secondary network - goes through the same code as
    M(kubevirt_net.core.kubevirt_iface_hotplug) (test-guarded patch, re-planned on a lost race, waits on the VMI's
    C(infoSource)/C(MigrationRequired) signals, migration handling). Every other change is written to the template
    in a JSON Patch guarded by C(metadata.generation); the module then waits until KubeVirt's VM controller has seen
    the new generation and returns its C(RestartRequired) condition. Added interfaces KubeVirt cannot hot-plug wait
    for the next start (RV(next_start)). With O(restart=true) the module restarts the VM through the C(restart)
    subresource when either applies and waits for the new VMI.
  - Already declared is not done - on every run the template's hot-plugged interfaces are compared with the VMI
    (C(infoSource) containing C(domain); an unplugged one gone); those KubeVirt has not finished are waited for, or
    reported in RV(pending_hotplug) when not waiting, even when nothing is written.
  - Only a C(RestartRequired) that KubeVirt set after this change, or one that the declared interfaces and networks
    explain (KubeVirt's C(vmliveupdate) rules), counts; an older one caused by another change (memory, CPU model,
    ...) is reported in RV(findings) and never restarts the VM.
  - A stopped VM is changed with one guarded patch.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - kubevirt_net.core.common
  - kubevirt_net.core.common.WAIT
options:
  vm:
    description:
      - Name of the VirtualMachine. Required unless O(state=rendered) (then it names the rendered manifest).
    type: str
  namespace:
    description: Namespace of the VM.
    type: str
    default: default
  state:
    description:
      - V(merged) adds the listed interfaces and changes only the options given for existing ones; DNS options given
        are set (an empty string removes one); O(config.dns_config) keys given replace those keys.
      - V(replaced) makes each listed interface exactly as given (options not given take KubeVirt's defaults); other
        interfaces are untouched. DNS options given are set; O(config.dns_config) is replaced as a whole.
      - V(overridden) makes the VM have exactly the listed interfaces in the listed order, and exactly the DNS options
        given (the others are removed). Order matters to KubeVirt - list new interfaces last to hot-plug them.
      - V(deleted) removes the listed interfaces (only O(config.interfaces[].name) is read) and the DNS and CIDR
        options given (whatever their value). Without O(config) it removes every interface except the primary one
        (the pod network or the Multus default network) and every DNS option.
      - V(gathered) reads the VM and returns its declaration as typed options in RV(gathered) (which V(overridden)
        accepts unchanged).
      - V(rendered) returns, without contacting the cluster, a VirtualMachine manifest with the declaration of
        O(config) in RV(rendered) (after the same checks, with KubeVirt 1.9 rules).
      - On a VM without declared interfaces KubeVirt attaches C(default) to the pod network implicitly (with the
        cluster's C(defaultNetworkInterface)); V(merged), V(replaced) and V(deleted) declare it explicitly first.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered, rendered]
    default: merged
  config:
    description: The network declaration.
    type: dict
    suboptions:
      interfaces:
        description: Interfaces with their networks (one network per interface, of the same name).
        type: list
        elements: dict
        suboptions:
          name:
            description: Name of the interface and of its network (letters, digits, C(-), C(_)).
            type: str
            required: true
          network:
            description:
              - V(pod) for the pod network, or a NetworkAttachmentDefinition as C(<name>) (the VM's namespace) or
                C(<namespace>/<name>).
              - Required for a new interface and with O(state=replaced), O(state=overridden) and O(state=rendered).
            type: str
          multus_default:
            description: Make this Multus network the primary one instead of the pod network (C(multus.default)).
            type: bool
          binding:
            description:
              - V(masquerade) (pod network only; default there), V(bridge) (default on Multus networks), V(sriov),
                V(passtBinding) (the core passt binding, KubeVirt 1.8+, pod network only), or C(plugin:<name>) for a
                network binding plugin registered in the KubeVirt CR (see M(kubevirt_net.core.kubevirt_binding_plugin)).
              - The typed bindings are KubeVirt's interface field names, as in M(kubevirt_net.core.kubevirt_vm_clone).
                The old value V(passt) is deprecated (removed in 2.0.0) and means V(passtBinding).
            type: str
          model:
            description: NIC model (KubeVirt's default is virtio).
            type: str
            choices: [e1000, e1000e, igb, ne2k_pci, pcnet, rtl8139, virtio]
          mac_address:
            description: MAC address, e.g. C(02:00:00:00:00:01); must not be used by another VM or VMI of the namespace.
            type: str
          ports:
            description:
              - Ports forwarded to the guest by V(masquerade) and V(passtBinding) (an empty list forwards all ports). Not
                allowed with other bindings, which would ignore them. Istio's ports (15000, 15001, 15004, 15006, 15008,
                15009, 15020, 15021, 15053, 15090) give a warning.
            type: list
            elements: dict
            suboptions:
              name:
                description: Port name (a Kubernetes port name); Services can target it by name.
                type: str
              protocol:
                description: Protocol (KubeVirt's default is TCP).
                type: str
                choices: [TCP, UDP]
              port:
                description: Port number.
                type: int
                required: true
          pci_address:
            description: Guest PCI address, e.g. C(0000:81:00.1).
            type: str
          boot_order:
            description: Boot order of the NIC (PXE); unique among the interfaces.
            type: int
          dhcp_options:
            description: Options KubeVirt's DHCP server hands to the guest (bridge and masquerade).
            type: dict
            suboptions:
              boot_file_name:
                description: Boot file name.
                type: str
              tftp_server_name:
                description: TFTP server name.
                type: str
              ntp_servers:
                description: IPv4 NTP servers.
                type: list
                elements: str
              private_options:
                description: DHCP private options (224-254).
                type: list
                elements: dict
                suboptions:
                  option:
                    description: Option number, 224 to 254.
                    type: int
                    required: true
                  value:
                    description: Option value.
                    type: str
                    required: true
          link_state:
            description: Link state of the NIC (KubeVirt 1.5+; not for sriov or passtBinding).
            type: str
            choices: [up, down]
          acpi_index:
            description: ACPI index of the NIC (stable guest device names).
            type: int
          tag:
            description: Tag passed to the guest through the config drive metadata.
            type: str
      hostname:
        description: Host name of the guest (a DNS label); defaults to the VM name. An empty string removes it.
        type: str
      subdomain:
        description:
          - Subdomain of the VM. With a headless Service of the same name selecting the VM, the cluster DNS answers
            C(<hostname>.<subdomain>.<namespace>.svc.<cluster-domain>) (see M(kubevirt_net.core.kubevirt_vm_service)).
        type: str
      dns_policy:
        description: DNS policy of the VM's pod (an empty string removes it).
        type: str
        choices: [ClusterFirst, ClusterFirstWithHostNet, Default, None, ""]
      dns_config:
        description: The pod's DNS configuration, handed to the guest by KubeVirt's DHCP.
        type: dict
        suboptions:
          nameservers:
            description: At most 3 IP addresses.
            type: list
            elements: str
          searches:
            description: Search domains (at most 6).
            type: list
            elements: str
          options:
            description: Resolver options such as C(ndots).
            type: list
            elements: dict
            suboptions:
              name:
                description: Option name.
                type: str
                required: true
              value:
                description: Option value.
                type: str
      vm_network_cidr:
        description: The guest-side IPv4 network of masquerade on the pod network (KubeVirt's default 10.0.2.0/24).
        type: str
      vm_ipv6_network_cidr:
        description: The guest-side IPv6 network of masquerade (KubeVirt's default fd10:0:2::/120).
        type: str
  restart:
    description:
      - Restart the VM through the C(restart) subresource and wait until a new VMI runs, when KubeVirt reports
        C(RestartRequired) for the declared network once the change is written (or already did), or when the template
        has interfaces the running VMI lacks (added interfaces KubeVirt cannot hot-plug are attached only at the next
        start, without C(RestartRequired)). A C(RestartRequired) caused by something else is only reported
        (RV(findings)). It also accepts a change that KubeVirt can only deliver by evicting the VM (a hot-plug that
        needs a migration while the KubeVirt CR's workloadUpdateMethods has C(Evict) but not C(LiveMigrate)); without
        it such a change is refused before any write. Needs O(wait=true).
    type: bool
    default: false
  migrate_if_required:
    description: As in M(kubevirt_net.core.kubevirt_iface_hotplug), for the live part of the change.
    type: bool
    default: false
  dynamic_networks:
    description: As in M(kubevirt_net.core.kubevirt_iface_hotplug), for the live part of the change.
    type: str
    choices: [auto, "true", "false"]
    default: auto
notes:
  - Check mode reads the cluster, runs every check and returns the patches it would send; it sends no write.
  - Options not covered by the typed options (e.g. C(portRanges), DRA networks) are kept by V(merged) and V(deleted)
    and shown in RV(gathered_details) by V(gathered).
requirements:
  - kubernetes >= 28.1.0
  - jsonpatch
"""

EXAMPLES = r"""
- name: Give a VM a masqueraded pod interface with two forwarded ports and a bridge NIC
  kubevirt_net.core.kubevirt_vm_network:
    vm: web-1
    namespace: vms
    state: merged
    config:
      interfaces:
        - name: default
          network: pod
          binding: masquerade
          ports:
            - {name: http, port: 80}
            - {name: ssh, port: 22}
        - name: storage
          network: storage-net
          binding: bridge
          mac_address: "02:00:00:00:10:01"

- name: Exactly these interfaces; restart when KubeVirt says the change needs it
  kubevirt_net.core.kubevirt_vm_network:
    vm: db-1
    namespace: vms
    state: overridden
    restart: true
    config:
      interfaces:
        - {name: default, network: pod}
        - {name: backend, network: shared-nets/backend, binding: sriov}
      hostname: db-1
      subdomain: db

- name: Read the declaration back
  kubevirt_net.core.kubevirt_vm_network:
    vm: db-1
    namespace: vms
    state: gathered
  register: net

- name: Render a manifest fragment without a cluster
  kubevirt_net.core.kubevirt_vm_network:
    vm: template-vm
    state: rendered
    config:
      interfaces:
        - {name: default, network: pod, binding: passtBinding}
"""

RETURN = r"""
before:
  description: The declaration (typed) before the task.
  returned: unless state is rendered
  type: dict
after:
  description: The declaration (typed) after the task (what it would be in check mode).
  returned: unless state is gathered
  type: dict
gathered:
  description: The declaration as typed options (state=gathered), in the form O(config) takes.
  returned: state is gathered
  type: dict
gathered_details:
  description: What the typed options cannot express - per interface C(unplug_pending) (KubeVirt is still unplugging
    it) and C(unmanaged) fields, C(networks_without_interface), C(autoattach_pod_interface).
  returned: state is gathered
  type: dict
rendered:
  description: A VirtualMachine manifest carrying the declaration (state=rendered).
  returned: state is rendered
  type: dict
patches:
  description: The JSON Patches sent (or, in check mode, that would be sent); the hot-plug patch first.
  returned: unless state is gathered or rendered
  type: list
  elements: list
live:
  description: The changes applied live through the hot-plug code (plug, unplug, swap) with their VMI status once done.
  returned: unless state is gathered or rendered
  type: list
  elements: dict
live_method:
  description: How the live part was done (live, migration, restart_required).
  returned: when there was a live part and wait is true
  type: str
nonlive:
  description: The changes KubeVirt applies only after a restart and asks for one (C(RestartRequired)) - changed or
    removed interfaces and networks, a new pod network, DNS fields, the interface order.
  returned: unless state is gathered or rendered
  type: list
  elements: str
next_start:
  description: Added interfaces KubeVirt cannot hot-plug (masquerade, passt, binding plugins, ...); KubeVirt attaches
    them at the next start without asking for a restart.
  returned: unless state is gathered or rendered
  type: list
  elements: str
pending_start:
  description: Interfaces of the VM template the running VMI does not have (yet); empty after a restart.
  returned: unless state is gathered or rendered
  type: list
  elements: str
restart_required:
  description: Whether the VM needs a restart for the declaration to take effect (KubeVirt's C(RestartRequired)
    condition when waited for, else the module's prediction).
  returned: unless state is gathered or rendered
  type: bool
pending_hotplug:
  description: Hot-plugs or unplugs of the template the running VMI has not finished (name, action, detail); empty
    once waited for.
  returned: unless state is gathered or rendered
  type: list
  elements: dict
findings:
  description: What the module saw but did not cause, e.g. a C(RestartRequired) condition older than this change that
    the declared network does not explain.
  returned: unless state is gathered or rendered
  type: list
  elements: str
restart_condition:
  description: KubeVirt's C(RestartRequired) condition (type, status, reason, message).
  returned: unless state is gathered or rendered
  type: dict
restarted:
  description: Whether the module restarted the VM.
  returned: unless state is gathered or rendered
  type: bool
notes:
  description: Things the module did on the user's behalf (e.g. declaring the implicit pod interface).
  returned: unless state is gathered or rendered
  type: list
  elements: str
vm:
  description: Name, namespace and whether the VM was running.
  returned: unless state is gathered or rendered
  type: dict
kubevirt:
  description: What was read from the KubeVirt CR (version, gates, rollout strategy).
  returned: unless state is rendered
  type: dict
api_requests:
  description: Requests sent to the API server; C(writes) is 0 for an unchanged run and in check mode.
  returned: always
  type: dict
"""

from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network as vmn
from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import build_module
from ansible_collections.kubevirt_net.core.plugins.module_utils.vm_network_runner import VmNetwork

PORT_SPEC = dict(
    name=dict(type="str"),
    protocol=dict(type="str", choices=["TCP", "UDP"]),
    port=dict(type="int", required=True),
)
DHCP_SPEC = dict(
    boot_file_name=dict(type="str"),
    tftp_server_name=dict(type="str"),
    ntp_servers=dict(type="list", elements="str"),
    private_options=dict(type="list", elements="dict", options=dict(
        option=dict(type="int", required=True), value=dict(type="str", required=True))),
)
INTERFACE_SPEC = dict(
    name=dict(type="str", required=True),
    network=dict(type="str"),
    multus_default=dict(type="bool"),
    binding=dict(type="str"),
    model=dict(type="str", choices=list(vmspec.MODELS)),
    mac_address=dict(type="str"),
    ports=dict(type="list", elements="dict", options=PORT_SPEC),
    pci_address=dict(type="str"),
    boot_order=dict(type="int"),
    dhcp_options=dict(type="dict", options=DHCP_SPEC),
    link_state=dict(type="str", choices=["up", "down"]),
    acpi_index=dict(type="int"),
    tag=dict(type="str"),
)
DNS_CONFIG_SPEC = dict(
    nameservers=dict(type="list", elements="str"),
    searches=dict(type="list", elements="str"),
    options=dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True), value=dict(type="str"))),
)
CONFIG_SPEC = dict(
    interfaces=dict(type="list", elements="dict", options=INTERFACE_SPEC),
    hostname=dict(type="str"),
    subdomain=dict(type="str"),
    dns_policy=dict(type="str", choices=list(vmn.DNS_POLICIES) + [""]),
    dns_config=dict(type="dict", options=DNS_CONFIG_SPEC),
    vm_network_cidr=dict(type="str"),
    vm_ipv6_network_cidr=dict(type="str"),
)
ARG_SPEC = dict(
    vm=dict(type="str"),
    namespace=dict(type="str", default="default"),
    state=dict(type="str", choices=list(vmn.STATES), default="merged"),
    config=dict(type="dict", options=CONFIG_SPEC),
    restart=dict(type="bool", default=False),
    migrate_if_required=dict(type="bool", default=False),
    dynamic_networks=dict(type="str", choices=["auto", "true", "false"], default="auto"),
)


def main():
    VmNetwork(build_module(ARG_SPEC, wait=True)).run()


if __name__ == "__main__":
    main()
