# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_binding_plugin module's flow.

1. Check the options (no cluster).
2. Read the KubeVirt CR (version, gates, current configuration) and look for a
   HyperConverged CR; with one, the plugin goes to its ``spec.networkBinding``.
3. Version gates; on removal (or on forbidding bridge on the pod network) the
   VMs and VMIs of all namespaces that would break are listed and the task
   refused unless ``force``.  Nothing is written before this point.
4. One JSON Patch guarded by ``metadata.generation`` (re-planned on a lost race).
"""


from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import binding_plugin as bp
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import HYPERCONVERGED, KUBEVIRT, NAD, VM, VMI
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from ansible_collections.kubevirt_net.core.plugins.module_utils.writes import guarded_patch

SETTINGS = (("permit_bridge_interface_on_pod_network", "permitBridgeInterfaceOnPodNetwork"),
            ("default_network_interface", "defaultNetworkInterface"))
MAX_USERS_SHOWN = 10


class BindingPlugin:
    def __init__(self, module: Any) -> None:
        self.module = module
        self.params = module.params
        self.runner = Run(module)

    @property
    def session(self) -> ApiSession:
        return self.runner.session

    def run(self) -> None:
        problems = bp.check_options(Problems(), self.params)
        if problems:
            self.runner.fail_problems(problems)
        try:
            self.converge()
        except ApiError as err:
            self.runner.fail_api(err)

    def find_hyperconverged(self) -> Optional[Dict[str, Any]]:
        if self.params["hyperconverged"] == "never":
            return None
        try:
            items = self.session.list(HYPERCONVERGED.path())
        except ApiError as err:
            if err.status == 404:  # the HyperConverged CRD is not installed
                return None
            raise
        return items[0] if items else None

    def check_cluster(self, kv: KubeVirtInfo, hco: Optional[Dict[str, Any]], settings: Dict[str, Any],
                      wanted: Optional[Dict[str, Any]], current: Optional[Dict[str, Any]],
                      network_now: Dict[str, Any]) -> Tuple[Problems, List[str], List[str]]:
        """What the cluster makes impossible, before any write: (problems, VMs using
        the plugin being removed, VMs binding bridge to the pod network)."""
        p = self.params
        name, state = p.get("name"), p["state"]
        problems = bp.check_versions(Problems(), p, kv)
        if hco is not None and settings:
            problems.add("HyperConverged %s/%s" % (hco["metadata"]["namespace"], hco["metadata"]["name"]),
                         ", ".join(o for o, f in SETTINGS if f in settings),
                         "this cluster is managed by the HyperConverged operator (OpenShift Virtualization), which "
                         "owns the KubeVirt CR and reverts direct changes; the HyperConverged API has no field for "
                         "these settings. Leave them to the platform's defaults")
        users = []
        if name and state == "absent" and (current is not None or bp.registered(kv.cr, bp.KUBEVIRT_BINDING_PATH, name)):
            users = bp.users_of(name, self.session.list(VM.path()), self.session.list(VMI.path()))
            if users and not p["force"]:
                problems.add("binding plugin %s" % name, "state", "is used by %d interface(s): %s%s. Change those "
                             "VMs first (kubevirt_vm_network), or set force=true" % (
                                 len(users), "; ".join(users[:MAX_USERS_SHOWN]),
                                 " and %d more" % (len(users) - MAX_USERS_SHOWN) if len(users) > MAX_USERS_SHOWN
                                 else ""))
        bridge_users = []
        if settings.get("permitBridgeInterfaceOnPodNetwork") is False and \
                network_now.get("permitBridgeInterfaceOnPodNetwork") is not False:
            bridge_users = bp.bridge_on_pod_users(self.session.list(VM.path()))
            if bridge_users and not p["force"]:
                problems.add("task", "permit_bridge_interface_on_pod_network", "VMs bind bridge to the pod network (%s); "
                             "KubeVirt would refuse every later change to them. Move them to masquerade first, or set "
                             "force=true" % "; ".join(bridge_users[:MAX_USERS_SHOWN]))
        nad = p.get("network_attachment_definition")
        if wanted is not None and nad and "/" in nad:
            ns, nad_name = nad.split("/", 1)
            if self.session.get(NAD.path(ns, nad_name)) is None:
                problems.add("task", "network_attachment_definition", "NetworkAttachmentDefinition %s not found; "
                             "create it first (kubevirt_net.core.kubevirt_network)" % nad)
        return problems, users, bridge_users

    def converge(self) -> None:
        p = self.params
        name, state = p.get("name"), p["state"]
        kv = KubeVirtInfo.read(self.session)
        if not kv.installed:
            self.runner.fail("KubeVirt is not installed in this cluster (no KubeVirt CR found)")
        hco = self.find_hyperconverged()
        settings = dict((field, p[option]) for option, field in SETTINGS if p.get(option) is not None)
        target = hco if hco is not None else kv.cr
        binding_path = bp.HCO_BINDING_PATH if hco is not None else bp.KUBEVIRT_BINDING_PATH
        wanted = bp.entry(p) if name and state == "present" else None
        current = bp.registered(target, binding_path, name) if name else None
        network_now = kv.configuration.get("network") or {}
        problems, users, bridge_users = self.check_cluster(kv, hco, settings, wanted, current, network_now)
        if problems:
            self.runner.fail_problems(problems)
        if target is hco:
            if hco is None:
                raise AssertionError("target is kv.cr (a dict) without a HyperConverged CR")
            path = HYPERCONVERGED.path(hco["metadata"]["namespace"], hco["metadata"]["name"])
            kind = "HyperConverged"
        else:
            path = KUBEVIRT.path(target["metadata"]["namespace"], target["metadata"]["name"])
            kind = "KubeVirt"

        def build(obj: Dict[str, Any]) -> List[Dict[str, Any]]:
            return bp.patch(obj, binding_path, name, wanted, settings)

        ops = build(target)
        out: Dict[str, Any] = dict(changed=bool(ops), kubevirt=kv.as_dict(), target={
            "kind": kind, "namespace": target["metadata"]["namespace"], "name": target["metadata"]["name"]})
        if name:
            out["plugin"] = {"name": name, "before": bp.typed(current) if current is not None else None,
                             "after": bp.typed(wanted) if wanted is not None else None, "spec": wanted}
        if users:
            out["users"] = users
        if bridge_users:
            out["bridge_on_pod_network"] = bridge_users
        if hco is not None:
            out["note"] = ("OpenShift Virtualization: written to HyperConverged %s/%s spec.networkBinding; the "
                           "HyperConverged operator copies it into the KubeVirt CR" % (
                               hco["metadata"]["namespace"], hco["metadata"]["name"]))
        if self.module._diff and ops:  # pylint: disable=protected-access
            out["diff"] = {"before": {"plugin": current, "settings": dict((f, network_now.get(f)) for f in settings)},
                           "after": {"plugin": wanted, "settings": settings}}
        out["patch"] = ops
        if ops and not self.module.check_mode:
            try:
                done = guarded_patch(self.session, path, target, build, kind)
            except ApiError as err:
                # the write was not confirmed: the result says so (changed false, nothing patched)
                # and still names the plugin and what was planned for it
                out.update(changed=False, patch=[], planned_patch=ops)
                self.runner.fail_api(err, **out)
            # what the server confirmed: another writer may have made the change meanwhile
            out.update(patch=done.ops, changed=done.written)
        self.runner.exit(**out)
