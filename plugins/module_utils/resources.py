# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The API resources this collection reads and writes, addressed directly
(no discovery round trips: one module run costs only the requests it needs)."""


from typing import Optional
from urllib.parse import quote


class ResourceType:
    def __init__(self, group: str, version: str, plural: str, kind: str, namespaced: bool = True) -> None:
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced

    @property
    def api_version(self) -> str:
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    def path(self, namespace: Optional[str] = None, name: Optional[str] = None,
             subresource: Optional[str] = None) -> str:
        """REST path; without ``namespace`` a namespaced type lists across all."""
        base = "/apis/%s/%s" % (self.group, self.version) if self.group else "/api/%s" % self.version
        if self.namespaced and namespace:
            base += "/namespaces/%s" % quote(namespace, safe="")
        base += "/" + self.plural
        if name:
            base += "/" + quote(name, safe="")
        if subresource:
            base += "/" + subresource
        return base


NAMESPACE = ResourceType("", "v1", "namespaces", "Namespace", namespaced=False)
NAD = ResourceType("k8s.cni.cncf.io", "v1", "network-attachment-definitions", "NetworkAttachmentDefinition")
VM = ResourceType("kubevirt.io", "v1", "virtualmachines", "VirtualMachine")
VMI = ResourceType("kubevirt.io", "v1", "virtualmachineinstances", "VirtualMachineInstance")
CONTROLLER_REVISION = ResourceType("apps", "v1", "controllerrevisions", "ControllerRevision")
VMIM = ResourceType("kubevirt.io", "v1", "virtualmachineinstancemigrations", "VirtualMachineInstanceMigration")
KUBEVIRT = ResourceType("kubevirt.io", "v1", "kubevirts", "KubeVirt")
# VirtualMachineClone: v1beta1 from KubeVirt 1.5, v1alpha1 before (clone_runner picks by version)
VM_CLONE = ResourceType("clone.kubevirt.io", "v1beta1", "virtualmachineclones", "VirtualMachineClone")
VM_CLONE_V1ALPHA1 = ResourceType("clone.kubevirt.io", "v1alpha1", "virtualmachineclones", "VirtualMachineClone")
VM_SNAPSHOT = ResourceType("snapshot.kubevirt.io", "v1beta1", "virtualmachinesnapshots", "VirtualMachineSnapshot")
VM_SNAPSHOT_CONTENT = ResourceType("snapshot.kubevirt.io", "v1beta1", "virtualmachinesnapshotcontents",
                                   "VirtualMachineSnapshotContent")
# KubeVirt's aggregated API (virt-api): VM actions are subresources of this path
# (pkg/virt-api/api.go: start, stop, restart, migrate, ...), e.g. VM_SUBRESOURCES.path(ns, name, "restart")
VM_SUBRESOURCES = ResourceType("subresources.kubevirt.io", "v1", "virtualmachines", "VirtualMachine")
ENDPOINTS = ResourceType("", "v1", "endpoints", "Endpoints")
NODE = ResourceType("", "v1", "nodes", "Node", namespaced=False)
DAEMONSET = ResourceType("apps", "v1", "daemonsets", "DaemonSet")
# OpenShift Virtualization's operator CR, which owns the KubeVirt CR where it is installed
HYPERCONVERGED = ResourceType("hco.kubevirt.io", "v1beta1", "hyperconvergeds", "HyperConverged")
NETWORK_POLICY = ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy")
SERVICE = ResourceType("", "v1", "services", "Service")
POD = ResourceType("", "v1", "pods", "Pod")
MUTATING_WEBHOOK = ResourceType("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
                                "MutatingWebhookConfiguration", namespaced=False)

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "kubevirt_net.core"
# Network Plumbing WG multi-networkpolicy: v1beta1 is the served version (no endPort)
MULTI_NETWORK_POLICY = ResourceType("k8s.cni.cncf.io", "v1beta1", "multi-networkpolicies", "MultiNetworkPolicy")
# sigs.k8s.io/network-policy-api: ClusterNetworkPolicy (v0.3.0) and its v1alpha1 predecessors
CLUSTER_NETWORK_POLICY = ResourceType("policy.networking.k8s.io", "v1alpha2", "clusternetworkpolicies",
                                      "ClusterNetworkPolicy", namespaced=False)
ADMIN_NETWORK_POLICY = ResourceType("policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies",
                                    "AdminNetworkPolicy", namespaced=False)
BASELINE_ADMIN_NETWORK_POLICY = ResourceType("policy.networking.k8s.io", "v1alpha1", "baselineadminnetworkpolicies",
                                             "BaselineAdminNetworkPolicy", namespaced=False)
