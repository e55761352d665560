#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: kubevirt_binding_plugin
short_description: Register KubeVirt network binding plugins and the cluster's pod-network binding settings
version_added: 0.1.0
author:
  - kubevirt_net.core maintainers (@kubevirt-net)
description:
  - >-
    Registers, updates or removes a network binding plugin in the KubeVirt CR,
    C(spec.configuration.network.binding.<name>); VM interfaces use it as C(binding: {name: <name>}) (in
    M(kubevirt_net.core.kubevirt_vm_network), C(binding: plugin:<name>)).
  - The entry is made exactly as the options say (options not given are removed from it).
  - On OpenShift Virtualization (a C(HyperConverged) CR of C(hco.kubevirt.io/v1beta1) exists) the HyperConverged
    operator owns the KubeVirt CR and reverts direct changes; the plugin is written to the HyperConverged CR's
    C(spec.networkBinding) instead, and the result says so.
  - Removing a plugin that VMs or VMIs (any namespace) still reference is refused, listing them, unless O(force=true);
    KubeVirt does not check this itself and such VMs would fail to start.
  - Also sets the cluster's O(permit_bridge_interface_on_pod_network) and O(default_network_interface)
    (C(spec.configuration.network)); forbidding bridge on the pod network while VMs use it is refused unless
    O(force=true).
  - Version gates - plugins from KubeVirt 1.1 (C(NetworkBindingPlugins) feature gate until 1.5, GA since),
    C(domainAttachmentType) V(tap) 1.1.1 and V(managedTap) 1.4, C(migration) 1.2, C(computeResourceOverhead) and
    C(downwardAPI) 1.3.
  - SR-IOV is not a binding plugin (it is the core C(sriov) binding), and since KubeVirt 1.8 passt is the core
    C(passt) binding rather than a plugin.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - kubevirt_net.core.common
options:
  name:
    description: Name of the plugin (the key under C(binding), referenced by interfaces).
    type: str
  state:
    description: V(present) registers or updates the plugin, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  sidecar_image:
    description: Image of the sidecar that configures the domain for this binding (C(sidecarImage)).
    type: str
  network_attachment_definition:
    description: The binding's CNI, a NetworkAttachmentDefinition as C(<namespace>/<name>) (checked to exist) or
      C(<name>) (looked up in each VM's namespace).
    type: str
  domain_attachment_type:
    description: How KubeVirt attaches the NIC to the domain without a sidecar (V(tap), or V(managedTap) from 1.4).
    type: str
    choices: [tap, managedTap]
  migration_method:
    description: Makes the plugin migratable with this method (C(migration.method)).
    type: str
    choices: [link-refresh]
  migratable:
    description: "Makes the plugin migratable (C(migration: {})) without a specific method."
    type: bool
  downward_api:
    description: Data exposed to the sidecar (C(downwardAPI)).
    type: str
    choices: [device-info]
  compute_resource_overhead:
    description: Resources added to the virt-launcher compute container when the binding is used.
    type: dict
    suboptions:
      requests:
        description: "Requests, e.g. C({memory: 250Mi})."
        type: dict
      limits:
        description: Limits.
        type: dict
  permit_bridge_interface_on_pod_network:
    description: Whether VMs may bind bridge to the pod network (C(permitBridgeInterfaceOnPodNetwork)).
    type: bool
  default_network_interface:
    description: The binding KubeVirt gives the implicit pod interface of VMs that declare none.
    type: str
    choices: [bridge, masquerade]
  hyperconverged:
    description: V(auto) writes to the HyperConverged CR when one exists; V(never) always writes to the KubeVirt CR.
    type: str
    choices: [auto, never]
    default: auto
  force:
    description: Remove a plugin in use, or forbid bridge on the pod network while VMs use it.
    type: bool
    default: false
notes:
  - Check mode reads the cluster and runs every check; it sends no write.
requirements:
  - kubernetes >= 28.1.0
"""

EXAMPLES = r"""
- name: Register the macvtap binding plugin (no sidecar, KubeVirt attaches a tap)
  kubevirt_net.core.kubevirt_binding_plugin:
    name: macvtap
    domain_attachment_type: tap

- name: Register a sidecar-based plugin with its CNI, migratable, with memory overhead
  kubevirt_net.core.kubevirt_binding_plugin:
    name: slirp
    sidecar_image: quay.io/kubevirt/network-slirp-binding:v1.9.0
    network_attachment_definition: default/slirp-binding
    migratable: true
    compute_resource_overhead:
      requests:
        memory: 100Mi

- name: Forbid bridge on the pod network; masquerade for VMs that declare no interface
  kubevirt_net.core.kubevirt_binding_plugin:
    permit_bridge_interface_on_pod_network: false
    default_network_interface: masquerade

- name: Remove a plugin (refused while VMs use it)
  kubevirt_net.core.kubevirt_binding_plugin:
    name: slirp
    state: absent
"""

RETURN = r"""
target:
  description: The CR written (kind KubeVirt or HyperConverged, namespace, name).
  returned: always
  type: dict
plugin:
  description: The plugin's options before and after, and the C(spec) entry written.
  returned: when name is given
  type: dict
users:
  description: Interfaces of VMs and VMIs that reference the plugin (on removal).
  returned: when state is absent and the plugin is in use
  type: list
  elements: str
note:
  description: Set when the plugin went to the HyperConverged CR.
  returned: on OpenShift Virtualization
  type: str
patch:
  description: The JSON Patch sent (or that would be sent in check mode); empty when the write failed.
  returned: always
  type: list
planned_patch:
  description: The JSON Patch the task meant to send, when the write failed (nothing was changed).
  returned: when the write failed
  type: list
kubevirt:
  description: What was read from the KubeVirt CR (version, gates).
  returned: always
  type: dict
api_requests:
  description: Requests sent to the API server; C(writes) is 0 for an unchanged run and in check mode.
  returned: always
  type: dict
"""

from ansible_collections.kubevirt_net.core.plugins.module_utils import binding_plugin as bp
from ansible_collections.kubevirt_net.core.plugins.module_utils.binding_plugin_runner import BindingPlugin
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import build_module

ARG_SPEC = dict(
    name=dict(type="str"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    sidecar_image=dict(type="str"),
    network_attachment_definition=dict(type="str"),
    domain_attachment_type=dict(type="str", choices=list(bp.DOMAIN_ATTACHMENT_TYPES)),
    migration_method=dict(type="str", choices=list(bp.MIGRATION_METHODS)),
    migratable=dict(type="bool"),
    downward_api=dict(type="str", choices=list(bp.DOWNWARD_APIS)),
    compute_resource_overhead=dict(type="dict", options=dict(requests=dict(type="dict"), limits=dict(type="dict"))),
    permit_bridge_interface_on_pod_network=dict(type="bool"),
    default_network_interface=dict(type="str", choices=list(bp.DEFAULT_NETWORK_INTERFACES)),
    hyperconverged=dict(type="str", choices=["auto", "never"], default="auto"),
    force=dict(type="bool", default=False),
)


def main():
    module = build_module(ARG_SPEC, required_one_of=[("name", "permit_bridge_interface_on_pod_network",
                                                      "default_network_interface")])
    BindingPlugin(module).run()


if __name__ == "__main__":
    main()
