#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: kubevirt_iface_hotplug
short_description: Add and remove network interfaces of KubeVirt VMs, running or stopped
version_added: 0.1.0
author:
  - kubevirt_net.core maintainers (@kubevirt-net)
description:
  - Plugs a NIC into a VirtualMachine, or unplugs one, the way KubeVirt 1.4 and newer do it - by patching the VM
    template (C(spec.template.spec.domain.devices.interfaces) and C(spec.template.spec.networks) together), and
    waits until KubeVirt reports the change as done.
  - The C(virtctl addinterface)/C(removeinterface) commands and their subresources existed only in KubeVirt 1.0 and
    are gone; this module does not use them.
  - Plug adds the interface and its Multus network in one JSON Patch that starts with C(test) operations on both
    lists, so a concurrent writer makes the patch fail instead of losing its change; the module then reads the VM
    again and decides anew.
  - On a running VM, done means the VMI reports the interface with C(infoSource) containing C(domain) and no
    C(MigrationRequired) condition is left (following a migration when KubeVirt needs one); an unplug is done when
    KubeVirt removed the interface from the VMI and the VM. A stopped VM is done when its template is patched.
  - Already declared is not done - on every run the requested interfaces that the VM template already has are
    compared with the VMI; those KubeVirt has not finished (a re-run after a timed-out wait or a lost reply) are
    waited for like a new change, or reported in C(pending) when not waiting. Such a run writes nothing and
    reports C(changed=false), but fails when the wait times out.
  - Before any write the module checks what KubeVirt 1.9 will do. A change that needs a migration - a bridge plug
    or an unplug without the dynamic-networks controller, any SR-IOV plug, a network swap - is refused when
    KubeVirt would never start one, and when only C(Evict) would act (the workload updater evicts the
    virt-launcher pod, shutting the guest down) unless O(restart_if_required=true). An SR-IOV plug is refused when
    the C(ExternalNetResourceInjection) feature gate is on (the 1.9 default) and network-resources-injector is not
    deployed, because then nothing requests the VF for the pod.
  - An unplug from a stopped VM removes the interface and its network whatever the binding (a template edit).
  - Hot-plug works for C(bridge) and C(sriov) bindings; unplug for C(bridge) only, never on the primary network.
    Giving an existing secondary interface another O(network) performs KubeVirt 1.9's live network swap
    (C(LiveUpdateNADRef)), which migrates the VM.
  - Many VMs (O(vm_selector)) are patched concurrently and waited for together; each poll is one LIST of VMIs.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - kubevirt_net.core.common
  - kubevirt_net.core.common.WAIT
options:
  vm:
    description: Name of the VirtualMachine. Mutually exclusive with O(vm_selector).
    type: str
  vm_selector:
    description:
      - Label selector over the VirtualMachines' own C(metadata.labels) (day-two bulk), in kubectl syntax, e.g.
        C(tier=db,env in (prod)). It is parsed and checked before any API request; a malformed selector fails the
        task naming this option.
      - A selector that would take every VM of the namespace is refused before any request - an empty one, or one
        made only of negative terms (C(!=), C(notin), C(!key)), which also selects every unlabelled VM - unless
        O(vm_selector_all=true).
      - A string, or a dict (labels, or C(match_labels)/C(match_expressions)).
      - A selector that matches no VM fails the task before any write unless O(allow_no_match=true).
    type: raw
  template_selector:
    description:
      - Label selector over the VMs' B(template labels) (C(spec.template.metadata.labels), the labels the
        virt-launcher pod carries and Services and NetworkPolicies select), as a string or a dict.
      - The VMs of O(namespace) are listed (narrowed by O(vm_selector) when given) and filtered by it; the same
        rules as for O(vm_selector) apply (an empty or negative-only one needs O(vm_selector_all=true); no match
        fails unless O(allow_no_match=true)).
      - Mutually exclusive with O(vm).
    type: raw
  allow_no_match:
    description:
      - V(false) fails, before any write, when O(vm_selector)/O(template_selector) match no VM (a typo, or VM labels
        where template labels are meant). V(true) accepts an empty match (a warning, nothing changed) for
        idempotent day-two runs.
    type: bool
    default: false
  vm_selector_all:
    description:
      - Confirms that O(vm_selector) may select every VirtualMachine of O(namespace) (an empty selector) or every VM
        lacking some labels (negative terms only). Without it such selectors are refused before any request.
      - Only with O(vm_selector) or O(template_selector).
    type: bool
    default: false
  namespace:
    description: Namespace of the VMs.
    type: str
    default: default
  interface:
    description: Name of the interface (and of its network entry; a DNS-1123 label).
    type: str
  network:
    description:
      - The NetworkAttachmentDefinition, C(<name>) in the VM's namespace or C(<namespace>/<name>).
      - Required with O(state=present).
    type: str
  binding:
    description: How the NIC is bound. Only these two can be hot-plugged.
    type: str
    choices: [bridge, sriov]
    default: bridge
  model:
    description: NIC model (default virtio, which hot-plug requires in practice).
    type: str
  mac_address:
    description: MAC address of the new NIC; it must not be used by another VM or VMI of the namespace.
    type: str
  pci_address:
    description: Guest PCI address of the new NIC, e.g. C(0000:81:00.1).
    type: str
  state:
    description: V(present) plugs (or swaps the network of) the interface; V(absent) unplugs it.
    type: str
    choices: [present, absent]
    default: present
  interfaces:
    description: Several interfaces changed in one patch per VM; each item takes O(interface), O(network), O(binding),
      O(model), O(mac_address), O(pci_address) and O(state).
    type: list
    elements: dict
    suboptions:
      interface:
        description: Name of the interface.
        type: str
      network:
        description: The NetworkAttachmentDefinition.
        type: str
      binding:
        description: The binding.
        type: str
        choices: [bridge, sriov]
        default: bridge
      model:
        description: NIC model.
        type: str
      mac_address:
        description: MAC address.
        type: str
      pci_address:
        description: Guest PCI address.
        type: str
      state:
        description: present or absent.
        type: str
        choices: [present, absent]
        default: present
  restart_if_required:
    description:
      - When KubeVirt sets C(RestartRequired) after the change (its C(lastTransitionTime) differs from before the
        write), restart the VM through the C(restart) subresource and wait. By default the result reports it
        (C(method=restart_required)) instead. A C(RestartRequired) that was already there before the change was
        caused by something else; it is reported in C(findings) and never restarts the VM.
      - Also accepts that KubeVirt evicts the VM instead of migrating it, when the change needs a migration and the
        KubeVirt CR lists only C(Evict) (or the VMI is not migratable and C(Evict) is listed); without it such a
        change is refused before any write.
    type: bool
    default: false
  migrate_if_required:
    description:
      - When the change needs a live migration and the KubeVirt CR does not let KubeVirt start one (no C(LiveMigrate)
        in C(spec.workloadUpdateStrategy.workloadUpdateMethods)), create the VirtualMachineInstanceMigration. By
        default the task fails before any write and names the CR change instead.
    type: bool
    default: false
  dynamic_networks:
    description:
      - Whether the cluster runs the Multus dynamic-networks controller (in-place bridge hot-plug). V(auto) looks for
        its DaemonSet (label C(app=dynamic-networks-controller)); without it KubeVirt attaches new NICs by migrating.
    type: str
    choices: [auto, "true", "false"]
    default: auto
  max_concurrency:
    description: How many VMs are patched at the same time.
    type: int
    default: 20
notes:
  - Check mode reads the cluster, runs every preflight check and reports what would change; it sends no write.
requirements:
  - kubernetes >= 28.1.0
  - jsonpatch
"""

EXAMPLES = r"""
- name: Plug a bridge NIC into a running VM and wait until the guest has it
  kubevirt_net.core.kubevirt_iface_hotplug:
    vm: db-1
    namespace: vms
    interface: storage
    network: storage-net

- name: The same NIC for every VM of a tier, 20 at a time
  kubevirt_net.core.kubevirt_iface_hotplug:
    vm_selector: tier=db
    namespace: vms
    interface: storage
    network: shared-nets/storage-net
    max_concurrency: 20
  register: plugged

- name: Unplug it again
  kubevirt_net.core.kubevirt_iface_hotplug:
    vm: db-1
    namespace: vms
    interface: storage
    state: absent

- name: SR-IOV NIC; KubeVirt attaches it by live-migrating the VM
  kubevirt_net.core.kubevirt_iface_hotplug:
    vm: dpdk-1
    namespace: vms
    interface: fast
    network: sriov-a
    binding: sriov
    wait_timeout: 600
"""

RETURN = r"""
vms:
  description: One entry per VirtualMachine.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the VM.
      type: str
    namespace:
      description: Its namespace.
      type: str
    running:
      description: Whether the VM had a running VMI when the task started.
      type: bool
    method:
      description: V(live) (attached in place), V(migration) (attached by a migration), V(offline) (stopped VM, template
        patched), V(restart_required) (KubeVirt needs a restart to apply it), V(unchanged), V(failed) (the server did
        not confirm the patch; C(error) says why).
      type: str
      sample: live
    interfaces:
      description: Per interface the action (plug, unplug, remove, swap, unchanged), a detail and, after waiting, the VMI
        status entry (mac, ipAddress, interfaceName, infoSource).
      type: list
      elements: dict
    migration:
      description: Name of the VirtualMachineInstanceMigration that attached the interface, if any.
      type: str
    restart_required:
      description: Whether KubeVirt set C(RestartRequired) after this change; C(restart_message) has its message.
      type: bool
    pending:
      description: Requested interfaces the template already had whose plug or unplug the VMI has not finished; empty
        once waited for.
      type: list
      elements: str
    findings:
      description: What the module saw but did not cause, e.g. a C(RestartRequired) condition older than this change.
      type: list
      elements: str
    duration:
      description: Seconds until this VM was done.
      type: float
    error:
      description: Why this VM failed (the task fails and names the VMs that succeeded).
      type: str
kubevirt:
  description: What was read from the KubeVirt CR (version, workload update methods, rollout strategy, gates).
  returned: always
  type: dict
changed:
  description: Whether any VM was (or would be) changed.
  returned: always
  type: bool
api_requests:
  description: Requests sent to the API server; C(writes) is 0 for an unchanged run and in check mode.
  returned: always
  type: dict
"""

import copy

from ansible_collections.kubevirt_net.core.plugins.module_utils.hotplug_runner import Hotplug
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import build_module

REQUEST_SPEC = dict(
    interface=dict(type="str"),
    network=dict(type="str"),
    binding=dict(type="str", choices=["bridge", "sriov"], default="bridge"),
    model=dict(type="str"),
    mac_address=dict(type="str"),
    pci_address=dict(type="str"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)

ARG_SPEC = dict(
    vm=dict(type="str"),
    vm_selector=dict(type="raw"),
    template_selector=dict(type="raw"),
    vm_selector_all=dict(type="bool", default=False),
    allow_no_match=dict(type="bool", default=False),
    namespace=dict(type="str", default="default"),
    # one request at the top level (interface, network, ...) or several in interfaces[]: the same options
    **copy.deepcopy(REQUEST_SPEC),
    interfaces=dict(type="list", elements="dict", options=REQUEST_SPEC),
    restart_if_required=dict(type="bool", default=False),
    migrate_if_required=dict(type="bool", default=False),
    dynamic_networks=dict(type="str", choices=["auto", "true", "false"], default="auto"),
    max_concurrency=dict(type="int", default=20),
)


def main():
    module = build_module(ARG_SPEC, wait=True,
                          mutually_exclusive=[("vm", "vm_selector"), ("vm", "template_selector"),
                                              ("interface", "interfaces")],
                          required_one_of=[("vm", "vm_selector", "template_selector"), ("interface", "interfaces")])
    Hotplug(module).run()


if __name__ == "__main__":
    main()
