#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: kubevirt_vm_istio
short_description: Put KubeVirt VMs into the Istio sidecar mesh, for many namespaces and VMs in one task
version_added: 0.1.0
author:
  - kubevirt_net.core maintainers (@kubevirt-net)
description:
  - Does everything a KubeVirt VM needs to join an Istio (sidecar mode) mesh, for every selected namespace and VM in
    one invocation, and reports per VM whether it is in the mesh.
  - Per namespace - the injection label C(istio-injection=enabled) (O(mode=sidecar)) or C(istio.io/rev=<revision>)
    (O(mode=revision), which also removes C(istio-injection), since that label wins when both are set); optionally a
    namespace-wide C(security.istio.io) PeerAuthentication (O(mtls)), a DestinationRule with C(ISTIO_MUTUAL)
    (O(destination_rule)) and the empty C(istio-cni) NetworkAttachmentDefinition Multus needs (O(cni_nad)).
  - Per VM - the annotation C(sidecar.istio.io/inject="true") on C(spec.template.metadata.annotations) (KubeVirt
    reads the annotation, not a label, to set up its Istio-aware masquerade rules); with O(fix_binding) the pod
    network's C(bridge) binding becomes C(masquerade).
  - Services (O(services)) that select the VMs' template labels (the labels the virt-launcher pod carries), with
    port names and C(appProtocol) Istio understands.
  - Template changes reach a running VM at its next restart. O(restart=rolling) restarts the running VMs that need
    it through C(subresources.kubevirt.io/v1) in batches of O(restart_batch_size) and waits, batch by batch, for the
    VMI to be Ready and its virt-launcher pod to carry (or, with O(state=absent), to lose) the C(istio-proxy)
    container.
  - Every refusal is decided before the first write - Istio CRDs missing, Istio's sidecar injector not registered
    (no C(*sidecar-injector.istio.io) webhook - istiod is not running) or registered for this task's revision but
    with no ready endpoint behind its Service (istiod scaled down or failing), namespace missing or in ambient mode
    (KubeVirt does not support ambient), C(bridge) on the pod network without O(fix_binding), another non-mesh
    binding, Istio-reserved ports (15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090) in the
    interface C(ports), IPv6-only pod networks, Service name or port collisions, target ports the interface does not
    forward, and KubeVirt older than 1.7 with Istio 1.25.0-1.26.4 or 1.27.0-1.27.1 (a known broken pair with Istio's
    CNI plugin). Warnings - a namespace with both injection labels; port 22, which KubeVirt forwards straight to the
    guest outside mTLS when listed, inside a C(portRanges) entry, or when the interface lists no ports; UDP ports,
    which Envoy does not proxy.
  - Cost - one C(/version), up to three API-group reads, one KubeVirt CR LIST, one namespace LIST, then one LIST per
    kind and namespace (cluster-wide above 10 namespaces), read concurrently; one write per object that differs, sent
    concurrently as merge patches carrying the C(resourceVersion) they were computed from (a 409 re-reads and
    decides again). A second identical run writes nothing.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - kubevirt_net.core.common
options:
  state:
    description:
      - V(present) puts the selected VMs into the mesh.
      - V(absent) removes what this module manages - the inject annotation of the selected VMs, the namespace
        injection labels it added (recorded in the namespace annotation C(kubevirt-net.io/istio-labels)), and the
        Services, PeerAuthentications, DestinationRules and NADs it created (label
        C(kubevirt-net.io/component=istio)). A changed binding is not reverted.
      - V(rendered) returns the manifests for O(namespaces) without contacting the cluster.
    type: str
    choices: [present, absent, rendered]
    default: present
  namespaces:
    description:
      - The target namespaces by name; each must exist. With O(namespace_selector), the union of both.
    type: list
    elements: str
  namespace_selector:
    description:
      - The target namespaces by label - a dict of labels, or C(match_labels) and C(match_expressions). An empty
        selector is refused, and so is one made only of negative terms (C(NotIn), C(DoesNotExist)), which selects
        every namespace without those labels.
    type: dict
  mode:
    description:
      - V(sidecar) labels namespaces C(istio-injection=enabled); V(revision) labels them C(istio.io/rev=)O(revision).
    type: str
    choices: [sidecar, revision]
    default: sidecar
  revision:
    description:
      - The Istio revision or revision tag for O(mode=revision).
    type: str
  vms:
    description:
      - Which VMs of the target namespaces join the mesh. Omitted - every VM of every target namespace.
      - Each entry selects VMs by name and/or by their template labels, in one namespace or (without C(namespace))
        in every target namespace; a VM selected by any entry is selected.
    type: list
    elements: dict
    suboptions:
      namespace:
        description: Only in this target namespace.
        type: str
      names:
        description: VM names; each must exist.
        type: list
        elements: str
      template_selector:
        description:
          - VMs whose B(template labels) (C(spec.template.metadata.labels), the labels the virt-launcher pod
            carries) match - a dict of labels, C(match_labels)/C(match_expressions), or a kubectl-style string
            (C(tier=db,env in (prod,stage))).
          - An empty selector, or one made only of negative terms (C(NotIn), C(DoesNotExist)), is refused; omit
            O(vms) to enrol every VM of the target namespaces on purpose.
          - The alias C(vm_selector) is deprecated (it is the name of the B(VM metadata) label selector in
            M(kubevirt_net.core.kubevirt_iface_hotplug) and M(kubevirt_net.core.kubevirt_vm_network_info)).
        type: raw
        aliases: [vm_selector]
  allow_no_match:
    description:
      - V(false) fails, before any write, when a O(vms[].template_selector) matches no VM of the target namespaces
        (a typo, or VM metadata labels where template labels are meant).
      - V(true) accepts an empty match (reported as a C(no-match) finding), for day-two runs that may find nothing.
    type: bool
    default: false
  fix_binding:
    description:
      - V(false) refuses VMs whose pod network interface uses C(bridge), naming VM and interface.
      - V(true) changes that interface to C(masquerade) (a VM without interfaces, which KubeVirt would give a bridge
        pod interface, gets an explicit masquerade one). Takes effect at the next restart.
    type: bool
    default: false
  services:
    description:
      - Services that select the VMs (Istio associates a workload with the Services selecting it).
    type: list
    elements: dict
    suboptions:
      name:
        description: Service name.
        type: str
        required: true
      namespace:
        description: Only in this namespace; default every target namespace.
        type: str
      template_selector:
        description:
          - Template labels (C(spec.template.metadata.labels)) of the VMs the Service selects, equality only - a
            dict of labels or a string C(app=web,tier=front).
          - The alias C(vm_selector) is deprecated.
        type: raw
        required: true
        aliases: [vm_selector]
      type:
        description: Service type.
        type: str
        choices: [ClusterIP, NodePort, LoadBalancer]
        default: ClusterIP
      ports:
        description: The ports.
        type: list
        elements: dict
        required: true
        suboptions:
          port:
            description: Service port.
            type: int
            required: true
          target_port:
            description:
              - Port in the guest; default O(services[].ports[].port). Must be in the interface C(ports) when that
                list is not empty, and must not be an Istio-reserved port.
            type: int
          protocol:
            description: Transport protocol (Istio does not proxy UDP).
            type: str
            choices: [TCP, UDP]
            default: TCP
          app_protocol:
            description:
              - Application protocol for Istio (C(appProtocol)) - http, http2, https, grpc, grpc-web, tcp, tls,
                mongo, mysql, redis. Default C(tcp) for TCP ports.
            type: str
          name:
            description: Port name; default C(<app_protocol>-<port>), the naming convention Istio reads.
            type: str
  mtls:
    description:
      - V(strict) or V(permissive) - a namespace-wide PeerAuthentication (name O(mtls_policy_name)) with that mode in
        every target namespace. V(unset) - none is managed (an existing one is left alone).
    type: str
    choices: [strict, permissive, unset]
    default: unset
  mtls_policy_name:
    description: Name of the PeerAuthentication. An existing one of that name not made by this module is refused.
    type: str
    default: default
  destination_rule:
    description:
      - Also a DestinationRule C(kvnet-istio-mutual) per namespace for C(*.<namespace>.svc.<cluster_domain>) with
        C(tls.mode=ISTIO_MUTUAL). Not needed with Istio's default auto mTLS.
    type: bool
    default: false
  cni_nad:
    description:
      - When Multus is installed, create the empty NetworkAttachmentDefinition C(istio-cni) in every target namespace
        that has none (needed when Multus runs the pod network, e.g. OpenShift).
    type: bool
    default: false
  restart:
    description:
      - V(never) - write the changes and report the running VMs that need a restart (RV(vms[].restart_required)).
      - V(stopped_only) - change only stopped VMs; running ones are left as they are and reported C(deferred).
      - V(rolling) - restart the running VMs that need it, O(restart_batch_size) at a time, waiting for each batch.
    type: str
    choices: [never, stopped_only, rolling]
    default: never
  restart_batch_size:
    description: How many VMs restart at once with O(restart=rolling) (1-100).
    type: int
    default: 5
  restart_timeout:
    description: Seconds to wait at most for one batch of restarts.
    type: int
    default: 600
  restart_poll:
    description: Seconds between two status reads while waiting for a batch (one LIST of VMIs and pods per namespace).
    type: float
    default: 1.0
  istio_version:
    description:
      - The installed Istio version (e.g. C(1.26.2)), for the KubeVirt/Istio compatibility check. Default - read from
        the istiod Deployment in O(istio_namespace), only when KubeVirt is older than 1.7 (where it matters).
    type: str
  istio_namespace:
    description: Namespace of istiod.
    type: str
    default: istio-system
  cluster_domain:
    description: The cluster DNS domain (for the DestinationRule host).
    type: str
    default: cluster.local
  list_scope:
    description:
      - How objects are read - V(namespace) one LIST per kind and namespace, V(cluster) one LIST per kind across all
        namespaces, V(auto) cluster above 10 namespaces.
    type: str
    choices: [auto, namespace, cluster]
    default: auto
  max_concurrency:
    description:
      - The most requests in flight at once (1-64).
      - The alias C(concurrency) is deprecated (removed in 2.0.0).
    type: int
    default: 8
    aliases: [concurrency]
notes:
  - Check mode sends no write request and reports what would change (and which VMs would restart); C(--diff) shows the
    changed objects.
  - Istio must be installed with its CNI plugin. Ambient mode is not supported by KubeVirt.
  - Port 22 is forwarded straight to the guest by KubeVirt's Istio mode whenever it is listed or no ports are
    listed - mTLS and AuthorizationPolicy do not cover SSH.
  - Reading MutatingWebhookConfigurations (cluster scope) checks for the sidecar injector; without that permission
    the module warns (C(injector-unknown)) instead of refusing.
requirements:
  - kubernetes >= 28.1.0
"""

EXAMPLES = r"""
- name: Two namespaces into the mesh, strict mTLS, web VMs behind a Service, rolling restart
  kubevirt_net.core.kubevirt_vm_istio:
    namespaces: [shop, shop-db]
    mtls: strict
    fix_binding: true
    services:
      - name: web
        namespace: shop
        template_selector: {app: web}
        ports:
          - {port: 80, target_port: 8080, app_protocol: http}
    restart: rolling
    restart_batch_size: 3
  register: mesh

- name: Only VMs whose template is labelled tier=backend, revision-based injection, no restarts
  kubevirt_net.core.kubevirt_vm_istio:
    namespace_selector: {mesh: "true"}
    mode: revision
    revision: stable
    vms:
      - template_selector: tier=backend
    allow_no_match: true   # a day-two run that may find no such VM yet

- name: What would be written, without a cluster
  kubevirt_net.core.kubevirt_vm_istio:
    state: rendered
    namespaces: [shop]
    mtls: permissive
    cni_nad: true

- name: Take the VMs out of the mesh again
  kubevirt_net.core.kubevirt_vm_istio:
    state: absent
    namespaces: [shop, shop-db]
    restart: rolling
"""

RETURN = r"""
vms:
  description: The verify report, one entry per selected VM.
  returned: unless O(state=rendered)
  type: list
  elements: dict
  contains:
    namespace:
      description: Namespace of the VM.
      type: str
    name:
      description: Name of the VM.
      type: str
    action:
      description: What was done to the VM template (in check mode - would be).
      type: str
      choices: [updated, unchanged, deferred]
    annotation:
      description: Whether the template carries C(sidecar.istio.io/inject="true").
      type: bool
    binding:
      description: Binding of the pod network interface.
      type: str
      sample: masquerade
    binding_ok:
      description: Whether that binding works with Istio (masquerade or passtBinding).
      type: bool
    services:
      description: Names of the Services of the namespace that select the VM's template labels.
      type: list
      elements: str
    running:
      description: Whether the VM has a VMI.
      type: bool
    ready:
      description: Whether the VMI is Ready (null when not running).
      type: bool
    istio_proxy:
      description: Whether the current virt-launcher pod has an C(istio-proxy) container (null when not running).
      type: bool
    mtls:
      description: Mode of the namespace-wide PeerAuthentication (null without one).
      type: str
      sample: STRICT
    restart_required:
      description: Whether the running VM still needs a restart to pick up the settings.
      type: bool
    restarted:
      description: Whether this run restarted the VM.
      type: bool
      returned: when restarted
    in_mesh:
      description: Annotation, binding, a selecting Service and a sidecar in the pod all present.
      type: bool
      returned: when O(state=present)
    error:
      description: Why the VM could not be changed or restarted.
      type: str
      returned: on failure of this VM
objects:
  description: The namespaces, Services, PeerAuthentications, DestinationRules and NADs and what was done to each.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: Kind of the object.
      type: str
    namespace:
      description: Its namespace (null for a Namespace).
      type: str
    name:
      description: Its name.
      type: str
    method:
      description: What was done; V(failed) when the server did not confirm the write (then C(error) is set).
      type: str
      choices: [created, updated, deleted, unchanged, rendered, failed]
    resource:
      description: The manifest.
      type: dict
      returned: when O(state=rendered)
    error:
      description: Why this object could not be written.
      type: str
      returned: on failure of this object
vm_patch:
  description: The merge patch a selected VM receives.
  returned: when O(state=rendered)
  type: dict
namespaces:
  description: Per target namespace - its labels afterwards, the mTLS mode and the number of selected VMs.
  returned: always
  type: dict
  sample: {"shop": {"labels": {"istio-injection": "enabled"}, "mtls": "STRICT", "vms": 12}}
totals:
  description: Objects created, updated, deleted, unchanged; VMs restarted and still needing a restart.
  returned: unless O(state=rendered)
  type: dict
  sample: {"created": 3, "updated": 12, "deleted": 0, "unchanged": 0, "restarted": 12, "restart_required": 0}
restarted:
  description: The VMs (C(namespace/name)) this run restarted.
  returned: unless O(state=rendered)
  type: list
  elements: str
findings:
  description:
    - Warnings (also shown as Ansible warnings), each with C(kind) (C(both-injection-labels), C(injection-disabled),
      C(ssh-outside-mesh), C(udp-outside-mesh), C(service-selects-no-vm), C(peer-authentication),
      C(restart-required), C(deferred), C(no-multus), C(istio-version-unknown), C(injector-unknown),
      C(injector-revision), C(no-match), C(terminating)) and C(message).
    - C(ssh-outside-mesh) is also reported for a masquerade interface that lists no ports, since KubeVirt then
      forwards port 22 straight to the guest.
  returned: always
  type: list
  elements: dict
problems:
  description: On refusal, every problem found (C(object), C(field), C(message)); nothing was written.
  returned: on refusal
  type: list
  elements: dict
server_version:
  description: The API server's version (major.minor).
  returned: unless O(state=rendered)
  type: str
kubevirt_version:
  description: KubeVirt's version from its CR.
  returned: unless O(state=rendered)
  type: str
istio_version:
  description: The Istio version given or detected (null when neither).
  returned: unless O(state=rendered)
  type: str
list_scope:
  description: How objects were read (V(namespace) or V(cluster)).
  returned: unless O(state=rendered)
  type: str
changed:
  description: Whether anything was (or would be) changed or restarted.
  returned: always
  type: bool
api_requests:
  description: Requests this task sent to the API server; C(writes) is 0 for an unchanged run and in check mode.
  returned: always
  type: dict
  sample: {"total": 64, "writes": 0, "retries": 0}
diff:
  description: Before and after of the changed objects (with C(--diff)), keyed C(<Kind> <namespace>/<name>).
  returned: when changed and diff mode is on
  type: dict
"""

from ansible_collections.kubevirt_net.core.plugins.module_utils import istio
from ansible_collections.kubevirt_net.core.plugins.module_utils.istio_runner import IstioRun
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import build_module

PORT_SPEC = dict(
    port=dict(type="int", required=True),
    target_port=dict(type="int"),
    protocol=dict(type="str", default="TCP", choices=["TCP", "UDP"]),
    app_protocol=dict(type="str"),
    name=dict(type="str"),
)
# vm_selector was the old name of template_selector here (it means VM metadata labels in kubevirt_iface_hotplug
# and kubevirt_vm_network_info); kept as a deprecated alias
OLD_SELECTOR_NAME = [dict(name="vm_selector", version="2.0.0", collection_name="kubevirt_net.core")]
# concurrency was the old name of max_concurrency here (the name kubevirt_iface_hotplug and kubevirt_vm_clone use)
OLD_CONCURRENCY_NAME = [dict(name="concurrency", version="2.0.0", collection_name="kubevirt_net.core")]
SERVICE_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str"),
    template_selector=dict(type="raw", required=True, aliases=["vm_selector"], deprecated_aliases=OLD_SELECTOR_NAME),
    type=dict(type="str", default="ClusterIP", choices=list(istio.SERVICE_TYPES)),
    ports=dict(type="list", elements="dict", required=True, options=PORT_SPEC),
)
VMS_SPEC = dict(
    namespace=dict(type="str"),
    names=dict(type="list", elements="str"),
    template_selector=dict(type="raw", aliases=["vm_selector"], deprecated_aliases=OLD_SELECTOR_NAME),
)
ARG_SPEC = dict(
    state=dict(type="str", choices=["present", "absent", "rendered"], default="present"),
    namespaces=dict(type="list", elements="str"),
    namespace_selector=dict(type="dict"),
    mode=dict(type="str", choices=["sidecar", "revision"], default="sidecar"),
    revision=dict(type="str"),
    vms=dict(type="list", elements="dict", options=VMS_SPEC),
    fix_binding=dict(type="bool", default=False),
    services=dict(type="list", elements="dict", options=SERVICE_SPEC),
    mtls=dict(type="str", choices=["strict", "permissive", "unset"], default="unset"),
    mtls_policy_name=dict(type="str", default="default"),
    destination_rule=dict(type="bool", default=False),
    cni_nad=dict(type="bool", default=False),
    restart=dict(type="str", choices=["never", "stopped_only", "rolling"], default="never"),
    restart_batch_size=dict(type="int", default=5),
    restart_timeout=dict(type="int", default=600),
    restart_poll=dict(type="float", default=1.0),
    istio_version=dict(type="str"),
    istio_namespace=dict(type="str", default="istio-system"),
    cluster_domain=dict(type="str", default="cluster.local"),
    list_scope=dict(type="str", choices=["auto", "namespace", "cluster"], default="auto"),
    max_concurrency=dict(type="int", default=8, aliases=["concurrency"], deprecated_aliases=OLD_CONCURRENCY_NAME),
    allow_no_match=dict(type="bool", default=False),
)


def main():
    IstioRun(build_module(ARG_SPEC)).run()


if __name__ == "__main__":
    main()
