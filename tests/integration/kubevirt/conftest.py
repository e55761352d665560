"""Fixtures for the emulated KubeVirt's integration tests: a small client for
one namespace (``capabilities`` is in tests/integration/conftest.py)."""

import json

import pytest

from tests.integration.helpers import wait_for


class KubeVirtClient:
    """Requests against one namespace, straight to kube-apiserver (admin)."""

    def __init__(self, lab, namespace):
        self.lab, self.namespace = lab, namespace

    def path(self, plural, name="", group="kubevirt.io/v1"):
        base = "/apis/%s/namespaces/%s/%s" % (group, self.namespace, plural) if group else \
            "/api/v1/namespaces/%s/%s" % (self.namespace, plural)
        return base + ("/" + name if name else "")

    def get(self, plural, name="", group="kubevirt.io/v1"):
        return self.lab.request("GET", self.path(plural, name, group))

    def create(self, plural, body, group="kubevirt.io/v1"):
        return self.lab.request("POST", self.path(plural, group=group), body)

    def patch(self, plural, name, ops, group="kubevirt.io/v1", merge=False):
        return self.lab.request("PATCH", self.path(plural, name, group), ops,
                                content_type="application/merge-patch+json" if merge else "application/json-patch+json")

    def nad(self, name, ipam=None, resource=None):
        config = {"cniVersion": "0.3.1", "name": name, "type": "sriov" if resource else "bridge"}
        if ipam:
            config["ipam"] = ipam
        meta = {"name": name}
        if resource:
            meta["annotations"] = {"k8s.v1.cni.cncf.io/resourceName": resource}
        return self.create("network-attachment-definitions", {
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": meta,
            "spec": {"config": json.dumps(config)}}, group="k8s.cni.cncf.io/v1")

    def vm(self, name, interfaces=None, networks=None, run_strategy="Always", labels=None, annotations=None,
           **template_spec):
        """A VM (masquerade on the pod network unless told otherwise)."""
        spec = {"domain": {"devices": {"interfaces": interfaces or [{"name": "default", "masquerade": {}}]},
                           "resources": {"requests": {"memory": "128Mi"}}},
                "networks": networks or [{"name": "default", "pod": {}}]}
        spec.update(template_spec)
        meta = {"labels": dict(labels or {"app": name})}
        if annotations:
            meta["annotations"] = annotations
        body = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                "metadata": {"name": name, "labels": {"only-on-the-vm": "yes"}},
                "spec": {"template": {"metadata": meta, "spec": spec}}}
        if run_strategy is not None:
            body["spec"]["runStrategy"] = run_strategy
        return self.create("virtualmachines", body)

    def vmi(self, name):
        return self.get("virtualmachineinstances", name)

    def vmi_or_none(self, name):
        items = self.get("virtualmachineinstances")["items"]
        return next((i for i in items if i["metadata"]["name"] == name), None)

    def running(self, name, timeout=180):
        return wait_for(lambda: (self.vmi_or_none(name) or {}).get("status", {}).get("phase") == "Running"
                        and self.vmi(name), timeout=timeout, message="VMI %s Running" % name)

    def pods(self, vmi=None):
        pods = self.get("pods", group="")["items"]
        uid = vmi["metadata"]["uid"] if vmi else None
        return [p for p in pods if uid is None or p["metadata"]["labels"].get("kubevirt.io/created-by") == uid]

    def migrations(self):
        return self.get("virtualmachineinstancemigrations")["items"]

    def add_interface(self, vm_name, interface, network):
        vm = self.get("virtualmachines", vm_name)
        template = vm["spec"]["template"]["spec"]
        return self.patch("virtualmachines", vm_name, [
            {"op": "test", "path": "/spec/template/spec/networks", "value": template["networks"]},
            {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", "value": interface},
            {"op": "add", "path": "/spec/template/spec/networks/-", "value": network}])

    @staticmethod
    def condition(obj, kind):
        return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)

    @staticmethod
    def interface(vmi, name):
        return next((i for i in (vmi.get("status") or {}).get("interfaces") or [] if i["name"] == name), None)


@pytest.fixture
def kv(lab, namespace):
    return KubeVirtClient(lab, namespace)
