#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: kubevirt_vm_clone
short_description: Clone KubeVirt VMs with their own network identity and network overrides
version_added: 0.1.0
author:
  - kubevirt_net.core maintainers (@kubevirt-net)
description:
  - Creates C(VirtualMachineClone) objects (C(clone.kubevirt.io/v1beta1); C(v1alpha1) on KubeVirt older than 1.5)
    and waits until KubeVirt made the target VirtualMachine.
  - KubeVirt builds the target from a snapshot of the source (C(runStrategy=Halted), or C(running=false)), gives
    the source interfaces in O(new_mac_addresses) those MACs and B(blanks every other MAC), replaces the SMBIOS
    serial and blanks the firmware UUID, filters labels and annotations, then applies JSON patches through a
    VirtualMachineRestore. There is no C(spec.target.spec.template) override in the API; this module turns typed
    overrides (O(networks), O(labels), O(hostname), O(run_strategy), ...) into those patches.
  - KubeVirt's restore webhook (C(pkg/storage/admitters/vmrestore.go) C(validatePatches)) splits every patch on
    C(,) and needs exactly one C(:) in each piece, and only takes paths under C(/spec/) or a key under
    C(/metadata/labels/) or C(/metadata/annotations/). A patch it refuses leaves the clone in C(RestoreInProgress)
    for ever. So MACs are sent in dash form (C(02-00-00-aa-00-01); on C(passtBinding) interfaces, whose MAC
    reaches libvirt verbatim, in colon form through an escaped patch), object and list values are split into one
    patch per member (an added interface is added as C({}) and then filled field by field), and C(:) and C(,)
    inside strings are written as JSON C(\u003a)/C(\u002c) escapes. Every patch (O(patches) too) is checked against a port of
    that webhook and applied locally, in KubeVirt's order and with its json-patch semantics, to the VM KubeVirt
    will build; the result must pass KubeVirt's VM network admission rules. Anything that cannot pass fails the
    task, naming the option, before any write.
  - O(labels) on a source without labels cannot be a restore patch (KubeVirt's restored VM has no
    C(/metadata/labels) map and the webhook refuses adding the map itself); they are merged into the target VM
    right after the clone succeeded and reported in RV(clones[].post_clone_patch).
  - On KubeVirt older than 1.6 (no C(patches) field) the overrides are applied to the target VM in one JSON Patch
    after the clone succeeded.
  - The target records its source and a digest of the overrides in annotations; a re-run with the same options
    changes nothing, and other overrides on an existing target are reported instead of silently re-cloned
    (O(recreate=true) deletes and clones again).
  - A re-run after a wait that timed out (or O(wait=false)) follows the unfinished VirtualMachineClone the earlier
    run made instead of creating a second one (RV(clones[].method=resume)), and does the after-clone steps a
    finished clone lacks (the labels of RV(clones[].post_clone_patch), O(start), O(cleanup);
    RV(clones[].method=complete)); a target is V(unchanged) only when its clone finished and those steps are in
    place.
  - The patches KubeVirt itself generates for the clone (MACs, O(new_smbios_serial), label and annotation
    removals) are checked against the same port of the restore webhook; a serial with C(:) or C(,) is refused.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - kubevirt_net.core.common
  - kubevirt_net.core.common.WAIT
options:
  source:
    description: Name of the source VirtualMachine (or VirtualMachineSnapshot, see O(source_kind)).
    type: str
  source_kind:
    description:
      - Kind of the source.
      - A V(VirtualMachineSnapshot) must be ready to use; the VM it holds is read from its
        C(VirtualMachineSnapshotContent) (C(spec.source.virtualMachine)), as KubeVirt reads it.
    type: str
    choices: [VirtualMachine, VirtualMachineSnapshot]
    default: VirtualMachine
  source_definition:
    description:
      - With O(state=rendered), the source VM manifest (a dict or the path of a YAML file), so the clone and the
        resulting VM can be rendered without a cluster.
    type: raw
  target:
    description: Name of the new VirtualMachine. Mutually exclusive with O(targets).
    type: str
  targets:
    description:
      - Several clones of the source, made concurrently (at most O(max_concurrency) at a time). Each item has C(name)
        and may override C(new_mac_addresses), C(new_smbios_serial), C(networks), C(labels), C(template_labels),
        C(hostname), C(subdomain), C(run_strategy) and C(patches) of the top level.
    type: list
    elements: dict
  namespace:
    description: Namespace of the source and the targets (KubeVirt clones within a namespace).
    type: str
    default: default
  state:
    description:
      - V(present) makes the clones; V(absent) deletes target VMs that are clones of O(source) made by this module;
        V(rendered) returns the VirtualMachineClone manifests and the expected target VMs without writing.
    type: str
    choices: [present, absent, rendered]
    default: present
  label_filters:
    description:
      - Which VM labels the target gets; unset copies all.
      - As KubeVirt (C(vm-target.go) C(addRemovePatchesFromFilter)) reads them, each filter is an B(unanchored
        regular expression) (C(app) also keeps C(myapp) and C(app.kubernetes.io/name); use C(^app$) for exactly
        C(app)); C(*) alone means every key; C(!re) removes keys matching C(re) from those kept. A key is kept
        only when a filter without C(!) matches it, so a list of negations alone, or C([]), keeps B(nothing);
        write C(["*", "!debug"]) for "all but debug".
      - KubeVirt's clone webhook allows C(!) only at the beginning and C(*) only at the end; filters that are not
        regular expressions (they would silently match nothing) are refused, and so is C(!*), which KubeVirt
        ignores (the negation's C(*) is not a regular expression, so it removes nothing).
    type: list
    elements: str
  annotation_filters:
    description: Which VM annotations the target gets; unset copies all. Same syntax as O(label_filters).
    type: list
    elements: str
  template_label_filters:
    description:
      - Which template labels (those the VMI and its pod get) are copied; unset copies all. Same syntax as
        O(label_filters).
    type: list
    elements: str
  template_annotation_filters:
    description:
      - Which template annotations are copied; unset copies all. Same syntax as O(label_filters), e.g.
        C(["*", "!k8s.v1.cni.cncf.io"]) to drop CNI IP requests and keep every other annotation
        (C(sidecar.istio.io/inject) too).
    type: list
    elements: str
  new_mac_addresses:
    description:
      - Interface name to MAC address (any form Go's C(net.ParseMAC) takes; sent in dash form, see above). Every
        other source interface gets no MAC (the cluster assigns one).
      - A name must be a source interface or one added by O(networks); the MAC of an added interface is put on
        the added entry, since KubeVirt sets O(new_mac_addresses) on the source's interfaces only.
    type: dict
  new_smbios_serial:
    description:
      - SMBIOS serial of the target (default generated by KubeVirt). KubeVirt uses it only when the source has
        C(spec.template.spec.domain.firmware).
      - Must not contain C(:) or C(,) - KubeVirt writes it into a restore patch unescaped and its restore webhook
        would refuse the restore for ever.
    type: str
  volume_name_policy:
    description: How KubeVirt names the target's volumes (KubeVirt 1.8 and newer).
    type: str
    choices: [RandomizeNames, PrefixTargetName]
  networks:
    description: Network overrides of the target, by interface name.
    type: list
    elements: dict
    suboptions:
      interface:
        description: Interface (and network entry) name in the source VM, or a new one to add.
        type: str
        required: true
      network:
        description: The NetworkAttachmentDefinition (C(<name>) or C(<namespace>/<name>)) the interface moves to.
        type: str
      binding:
        description:
          - Another binding for the interface (KubeVirt's interface field names, as in
            M(kubevirt_net.core.kubevirt_vm_network)).
          - V(passt) is a deprecated spelling of V(passtBinding) (removed in 2.0.0).
        type: str
        choices: [bridge, masquerade, sriov, passtBinding, passt]
      model:
        description: Another NIC model.
        type: str
      mac_address:
        description: MAC of this interface on the target (same as an O(new_mac_addresses) entry; dash form on the
          target).
        type: str
      state:
        description: V(absent) drops the interface and its network from the target.
        type: str
        choices: [present, absent]
        default: present
  labels:
    description:
      - Labels set on the target VM (after the filters). On a source without labels they are merged into the
        target after the clone succeeded (see above).
    type: dict
  template_labels:
    description: Labels set in the target's template (the VMI and virt-launcher pod get them; Services select them).
    type: dict
  hostname:
    description: C(spec.template.spec.hostname) of the target.
    type: str
  subdomain:
    description: C(spec.template.spec.subdomain) of the target.
    type: str
  run_strategy:
    description: C(spec.runStrategy) of the target.
    type: str
    choices: [Always, Halted, Manual, RerunOnFailure, Once]
  patches:
    description:
      - More JSON Patch operations (dicts or JSON strings) applied to the target after the overrides, with
        evanphx/json-patch v4 semantics as KubeVirt applies them (C(replace) of a missing object member sets it).
      - Only paths under C(/spec/), or a key under C(/metadata/labels/) or C(/metadata/annotations/) (KubeVirt's
        restore webhook). Object and list values are split into one patch per member; a C(test) of an object or
        list cannot be expressed and is refused.
    type: list
    elements: raw
  cleanup:
    description: Delete the VirtualMachineClone object once the clone succeeded.
    type: bool
    default: true
  start:
    description: Start the target VM after cloning (the C(start) subresource).
    type: bool
    default: false
  recreate:
    description: Delete and clone again a target that exists with other overrides.
    type: bool
    default: false
  max_concurrency:
    description: How many clones of O(targets) run at the same time.
    type: int
    default: 10
notes:
  - Check mode reads the cluster, runs every preflight check and returns the expected target VMs; it sends no write.
  - The expected target (check mode, diff, V(rendered)) is built as KubeVirt v1.9.0 builds it
    (C(pkg/storage/snapshot/restore.go) C(generateRestoredVMSpec)/C(patchVM)); the restored volume names and the
    C(restore.kubevirt.io/lastRestoreUID) value are only known once KubeVirt made the restore.
  - Cloning relies on KubeVirt's snapshot/restore, so the source's storage must support CSI snapshots.
requirements:
  - kubernetes >= 28.1.0
  - jsonpatch
"""

EXAMPLES = r"""
- name: A clone of the golden VM on another network, with its own MAC
  kubevirt_net.core.kubevirt_vm_clone:
    source: golden
    target: web-7
    namespace: vms
    networks:
      - interface: prod
        network: prod-b
        mac_address: "02:00:00:aa:00:07"    # the target gets 02-00-00-aa-00-07
      - interface: backup                   # a new interface with its own MAC
        network: backup-net
        mac_address: "02:00:00:ab:00:07"
    template_labels:
      app: web-7
    # every template annotation but the CNI IP requests (filters are unanchored regular expressions)
    template_annotation_filters: ["*", "!k8s.v1.cni.cncf.io"]

- name: Twenty clones, one task
  kubevirt_net.core.kubevirt_vm_clone:
    source: golden
    namespace: vms
    # a list of {name: ...}: worker-0 ... worker-19
    targets: "{{ range(20) | map('regex_replace', '^(.*)$', 'name: worker-\\1') | map('from_yaml') | list }}"
    run_strategy: Always
"""

RETURN = r"""
clones:
  description: One entry per target, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the target VM.
      type: str
    method:
      description:
        - V(create), V(recreate), V(unchanged), V(deleted) or V(rendered); V(failed) when no write of the clone was
          confirmed by the server and it did not finish (then C(planned) and C(error) are set).
        - V(resume) - an unfinished VirtualMachineClone an earlier run made with the same overrides is followed
          (waited for, then the after-clone steps) instead of creating another.
        - V(complete) - the clone finished, but after-clone steps were missing; they were done.
      type: str
    pending:
      description:
        - What is not done yet for this target, in order - V(clone) (KubeVirt has not finished the clone),
          V(post_clone_patch), V(start), V(cleanup). Empty when everything is in place.
      type: list
      elements: str
    clone:
      description: Name of the VirtualMachineClone object (the manifest in check mode and for V(rendered)).
      type: raw
    phases:
      description: The clone phases observed while waiting, e.g. C([SnapshotInProgress, CreatingTargetVM, Succeeded]).
      type: list
      elements: str
    status:
      description: Status of the VirtualMachineClone when it finished.
      type: dict
    vm:
      description: The target VirtualMachine after the clone (the expected one in check mode).
      type: dict
    macs:
      description: Per interface the source MAC and the target MAC.
      type: dict
    patches:
      description:
        - The JSON Patch operations sent (typed overrides, your patches, the identity annotations), as split for
          KubeVirt's restore webhook.
      type: list
      elements: dict
    post_clone_patch:
      description:
        - The merge patch applied to the target VM after the clone succeeded, for what no restore patch can
          express (O(labels) on a source without labels). Absent when there is none.
      type: dict
      returned: when needed
    duration:
      description: Seconds this clone took.
      type: float
    error:
      description: Why this clone failed; a partial target made by this run is deleted.
      type: str
changed:
  description: Whether a clone was (or would be) made, finished while this run waited, completed or deleted.
  returned: always
  type: bool
api_requests:
  description: Requests sent to the API server; C(writes) is 0 for an unchanged run and in check mode.
  returned: always
  type: dict
"""

import copy

from ansible_collections.kubevirt_net.core.plugins.module_utils.clone_runner import Cloner
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import build_module

NETWORK_OVERRIDE = dict(
    interface=dict(type="str", required=True),
    network=dict(type="str"),
    # passt: the old kubevirt_vm_network value, deprecated (args.BINDING_VALUE_ALIASES)
    binding=dict(type="str", choices=["bridge", "masquerade", "sriov", "passtBinding", "passt"]),
    model=dict(type="str"),
    mac_address=dict(type="str"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)

# what each clone may override: the same options at the top level (one target) and in targets[]
OVERRIDE_SPEC = dict(
    new_mac_addresses=dict(type="dict"),
    new_smbios_serial=dict(type="str"),
    networks=dict(type="list", elements="dict", options=NETWORK_OVERRIDE),
    labels=dict(type="dict"),
    template_labels=dict(type="dict"),
    hostname=dict(type="str"),
    subdomain=dict(type="str"),
    run_strategy=dict(type="str", choices=["Always", "Halted", "Manual", "RerunOnFailure", "Once"]),
    patches=dict(type="list", elements="raw"),
)

TARGET_SPEC = dict(
    name=dict(type="str", required=True),
    **copy.deepcopy(OVERRIDE_SPEC),
)

ARG_SPEC = dict(
    source=dict(type="str"),
    source_kind=dict(type="str", choices=["VirtualMachine", "VirtualMachineSnapshot"], default="VirtualMachine"),
    source_definition=dict(type="raw"),
    target=dict(type="str"),
    targets=dict(type="list", elements="dict"),
    namespace=dict(type="str", default="default"),
    state=dict(type="str", choices=["present", "absent", "rendered"], default="present"),
    label_filters=dict(type="list", elements="str"),
    annotation_filters=dict(type="list", elements="str"),
    template_label_filters=dict(type="list", elements="str"),
    template_annotation_filters=dict(type="list", elements="str"),
    volume_name_policy=dict(type="str", choices=["RandomizeNames", "PrefixTargetName"]),
    **copy.deepcopy(OVERRIDE_SPEC),
    cleanup=dict(type="bool", default=True),
    start=dict(type="bool", default=False),
    recreate=dict(type="bool", default=False),
    max_concurrency=dict(type="int", default=10),
)


def main():
    module = build_module(ARG_SPEC, wait=True, mutually_exclusive=[("target", "targets")],
                          required_one_of=[("target", "targets")])
    Cloner(module, TARGET_SPEC).run()


if __name__ == "__main__":
    main()
