#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)


DOCUMENTATION = r"""
module: kubevirt_vm_service
short_description: Stable access to KubeVirt VMs - Services, headless Services and per-VM DNS names
version_added: 0.1.0
author:
  - kubevirt_net.core maintainers (@kubevirt-net)
description:
  - Creates, updates and deletes a Service (ClusterIP, NodePort, LoadBalancer or headless) for one VM (O(vm)), a group
    of VMs (O(vms)) or the VMs whose template carries O(selector).
  - The selector comes from the VMs' B(template) labels (C(spec.template.metadata.labels)), which KubeVirt copies to
    the VMI and its virt-launcher pod - not from the VM's own C(metadata.labels), which no pod carries. For O(vm) it
    can instead be KubeVirt's C(vmi.kubevirt.io/id) pod label (O(selector_from=vmi_id), KubeVirt 1.7+), as
    C(virtctl expose) does. The task fails before any write when the selector would also select other VMs.
  - Target ports are checked against the VM's pod interface - with C(masquerade) or C(passt) and a non-empty
    interface C(ports) list, only those ports reach the guest, so the Service's target port must be one of them; a
    named target port must be a named interface port.
  - O(dns=true) sets the VMs' C(subdomain) to the Service name and makes the Service headless, so the cluster DNS
    answers C(<hostname>.<subdomain>.<namespace>.svc.<cluster-domain>) for each VM (hostname = the VM's
    C(hostname) or its name); the names are returned. A running VM's pod keeps the subdomain it was created with, so
    its name needs a restart (reported per VM); O(restart=true) restarts it and waits for the new instance.
  - With O(wait_for_endpoints) the module waits until every selected running VM is a ready endpoint and otherwise
    fails with a diagnosis (labels only on VM metadata, VM stopped, labels added to a running VM's template, port not
    forwarded, pod not ready).
  - Switching between headless and not re-creates the Service (its clusterIP is immutable). Allocated node ports are
    kept on updates.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - kubevirt_net.core.common
  - kubevirt_net.core.common.WAIT
options:
  name:
    description: Name of the Service (a DNS-1035 label); with O(dns=true) also the VMs' subdomain.
    type: str
    required: true
  namespace:
    description: Namespace of the Service and the VMs.
    type: str
    default: default
  state:
    description: V(present) or V(absent). With V(absent) and O(dns=true) the subdomain is removed from VMs that have it.
    type: str
    choices: [present, absent]
    default: present
  vm:
    description: The one VM the Service is for.
    type: str
  vms:
    description: A group of VMs; the selector is the template labels they all share.
    type: list
    elements: str
  selector:
    description: Template labels selecting the VMs (checked against C(spec.template.metadata.labels)).
    type: dict
  selector_from:
    description:
      - With O(vm), V(template_labels) uses the VM's template labels; V(vmi_id) uses the C(vmi.kubevirt.io/id) label
        KubeVirt 1.7+ puts on the pod (the VM name, truncated and hashed beyond 63 characters).
    type: str
    choices: [template_labels, vmi_id]
    default: template_labels
  type:
    description: Service type; V(headless) is a ClusterIP Service with C(clusterIP=None). Defaults to V(ClusterIP), or
      V(headless) with O(dns=true).
    type: str
    choices: [ClusterIP, NodePort, LoadBalancer, headless]
  ports:
    description: Service ports (required unless headless).
    type: list
    elements: dict
    suboptions:
      name:
        description: Port name; required when there are several ports.
        type: str
      port:
        description: Port of the Service.
        type: int
        required: true
      target_port:
        description: Port number in the guest, or the name of a named interface port; defaults to O(ports[].port).
        type: raw
      protocol:
        description: Protocol.
        type: str
        choices: [TCP, UDP, SCTP]
        default: TCP
      node_port:
        description: Fixed node port (NodePort and LoadBalancer); the server allocates one when not given.
        type: int
  external_traffic_policy:
    description: V(Local) keeps the client source IP and only uses nodes that run a selected VM (NodePort and
      LoadBalancer; the server's default is V(Cluster)).
    type: str
    choices: [Cluster, Local]
  session_affinity:
    description: V(ClientIP) sends a client to the same VM.
    type: str
    choices: ["None", ClientIP]
    default: "None"
  session_affinity_timeout:
    description: Seconds of C(ClientIP) affinity (default 10800).
    type: int
  labels:
    description: Labels of the Service (the collection adds C(app.kubernetes.io/managed-by)).
    type: dict
  annotations:
    description: Annotations of the Service (e.g. for a load balancer).
    type: dict
  dns:
    description: Give each VM a DNS name through its subdomain and this (headless) Service.
    type: bool
    default: false
  cluster_domain:
    description: The cluster's DNS domain, for the returned names.
    type: str
    default: cluster.local
  restart:
    description: Restart running VMs whose instance lacks the subdomain (O(dns=true)), and wait for them.
    type: bool
    default: false
  wait_for_endpoints:
    description: Wait until the selected running VMs are ready endpoints; fail with a diagnosis otherwise. Defaults to
      true when a VM the Service is meant for is running.
    type: bool
notes:
  - Check mode reads the cluster and runs every check; it sends no write.
requirements:
  - kubernetes >= 28.1.0
"""

EXAMPLES = r"""
- name: ClusterIP Service for a group of web VMs (template label app=web), port 80 to the guests' 8080
  kubevirt_net.core.kubevirt_vm_service:
    name: web
    namespace: vms
    vms: [web-1, web-2]
    ports:
      - {name: http, port: 80, target_port: 8080}

- name: SSH to one VM through a NodePort, selected like virtctl expose does
  kubevirt_net.core.kubevirt_vm_service:
    name: db-1-ssh
    namespace: vms
    vm: db-1
    selector_from: vmi_id
    type: NodePort
    ports:
      - {name: ssh, port: 22}

- name: DNS names db-1.db.vms.svc.cluster.local, ... for the db VMs; restart them so the names resolve
  kubevirt_net.core.kubevirt_vm_service:
    name: db
    namespace: vms
    selector: {tier: db}
    dns: true
    restart: true
  register: db_dns
"""

RETURN = r"""
method:
  description: What happened to the Service (created, updated, recreated, deleted, unchanged).
  returned: always
  type: str
service:
  description: The Service as stored (or as it would be, in check mode).
  returned: state is present
  type: dict
selector:
  description: The Service's selector.
  returned: state is present
  type: dict
vms:
  description: Per VM - name, whether it runs, the ports its pod interface forwards (C(all) or a list), and with O(dns)
    its C(dns_name), whether the subdomain changed, C(restart_required) (its running instance lacks the subdomain),
    C(restarted) and KubeVirt's C(restart_condition).
  returned: always
  type: list
  elements: dict
dns_names:
  description: The DNS names of the VMs (O(dns=true)).
  returned: when dns is true
  type: list
  elements: str
endpoints:
  description: The ready endpoints (ip, hostname, pod, node) after waiting.
  returned: when the module waited for endpoints
  type: list
  elements: dict
diagnosis:
  description: Why no endpoint appeared.
  returned: on failure to get endpoints
  type: list
  elements: str
kubevirt:
  description: What was read from the KubeVirt CR.
  returned: state is present
  type: dict
api_requests:
  description: Requests sent to the API server; C(writes) is 0 for an unchanged run and in check mode.
  returned: always
  type: dict
"""

from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_service as svc
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import build_module
from ansible_collections.kubevirt_net.core.plugins.module_utils.vm_service_runner import VmService

PORT_SPEC = dict(
    name=dict(type="str"),
    port=dict(type="int", required=True),
    target_port=dict(type="raw"),
    protocol=dict(type="str", choices=list(svc.PROTOCOLS), default="TCP"),
    node_port=dict(type="int"),
)
ARG_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", default="default"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    vm=dict(type="str"),
    vms=dict(type="list", elements="str"),
    selector=dict(type="dict"),
    selector_from=dict(type="str", choices=[svc.TEMPLATE_LABELS, svc.VMI_ID], default=svc.TEMPLATE_LABELS),
    type=dict(type="str", choices=list(svc.TYPES)),
    ports=dict(type="list", elements="dict", options=PORT_SPEC),
    external_traffic_policy=dict(type="str", choices=["Cluster", "Local"]),
    session_affinity=dict(type="str", choices=["None", "ClientIP"], default="None"),
    session_affinity_timeout=dict(type="int"),
    labels=dict(type="dict"),
    annotations=dict(type="dict"),
    dns=dict(type="bool", default=False),
    cluster_domain=dict(type="str", default="cluster.local"),
    restart=dict(type="bool", default=False),
    wait_for_endpoints=dict(type="bool"),
)


def main():
    module = build_module(ARG_SPEC, wait=True, mutually_exclusive=[("vm", "vms", "selector")])
    VmService(module).run()


if __name__ == "__main__":
    main()
