# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_iface_hotplug module's flow.

1. Check the request (no cluster).  2. Read, in a fixed number of requests
whatever the number of VMs: the KubeVirt CR, the VMs (one GET or one LIST by
selector), the VMIs of the namespace, the NADs referenced, and (SR-IOV) the
nodes.  3. Preflight every VM; any problem fails the task before a write.
4. Patch the VMs concurrently, each patch guarded by ``test`` operations and
re-planned from a fresh read when another writer got there first.  5. Wait:
one LIST of VMIs (plus VMs / migrations when needed) per poll covers every VM.
Steps 2-5 are the hot-plug engine (hotplug_engine.HotplugEngine), which
kubevirt_vm_network shares; this file holds the options and the report.
"""

import time
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import hotplug, selectors, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network_admission as admission
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.hotplug_engine import HotplugEngine, apply_ops, vm_key
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

# the top-level options that make the one request of a task without ``interfaces``
# (the suboptions of ``interfaces`` in the module's argument spec)
REQUEST_FIELDS = ("interface", "network", "binding", "model", "mac_address", "pci_address", "state")


def _requests(params: Dict[str, Any]) -> List[Dict[str, Any]]:
    if params.get("interfaces"):
        return [dict(r) for r in params["interfaces"]]
    return [dict((k, params.get(k)) for k in REQUEST_FIELDS)]


class Hotplug:
    """The kubevirt_iface_hotplug flow: its options, the engine, its report."""

    def __init__(self, module: Any, runner: Optional[Run] = None) -> None:
        self.module = module
        self.params = module.params
        self.namespace = self.params["namespace"]
        self.runner = runner or Run(module)
        self.requests = _requests(self.params)
        self.engine = HotplugEngine(self.params, self.requests, self.runner, self.warn)

    @property
    def session(self) -> ApiSession:
        return self.runner.session

    def warn(self, msg: str) -> None:
        self.module.warn(msg)

    def check_target(self, problems: Problems) -> None:
        """vm_selector, checked before any request: well-formed, and not one that
        takes every VM (empty, or negative terms only) unless vm_selector_all."""
        if self.params.get("vm"):
            if self.params.get("vm_selector_all"):
                problems.add("task", "vm_selector_all", "only applies to vm_selector; remove it when vm is set")
            return
        given = [f for f in ("vm_selector", "template_selector") if self.params.get(f) is not None]
        try:
            parsed = [(f, selectors.parse(f, self.params.get(f))) for f in given]
        except selectors.SelectorError as err:
            problems.add("task", err.field, err.problem)
            return
        # together they narrow each other: only when every given one takes every VM is it "all VMs"
        if parsed and not self.params.get("vm_selector_all") and all(sel.selects_unlabelled for _f, sel in parsed):
            field, selector = parsed[0]
            try:
                selectors.refuse_unlabelled(field, selector, "VirtualMachine of namespace %s" % self.namespace,
                                            "set vm_selector_all: true to change every VM it selects on purpose")
            except selectors.SelectorError as err:
                problems.add("task", err.field, err.problem)

    def no_match(self, vms: List[Dict[str, Any]]) -> None:
        """A selector that matched no VM: a refusal (the usual cause is the other kind of labels), or with
        allow_no_match a warning and nothing to do."""
        given = ", ".join("%s %r" % (f, self.params[f]) for f in ("vm_selector", "template_selector")
                          if self.params.get(f) is not None)
        text = ("%s matched no VirtualMachine in namespace %s (vm_selector matches the VM's own metadata.labels, "
                "template_selector its spec.template.metadata.labels)" % (given, self.namespace))
        if self.params["allow_no_match"]:
            self.module.warn(text)
            return
        self.runner.fail(text + ": correct the selector or the namespace, or set allow_no_match: true to accept an "
                         "empty match", vms=vms, changed=False)

    # --------------------------------------------------------------- main
    def run(self) -> None:
        problems = Problems()
        for index, req in enumerate(self.requests):
            hotplug.check_request(problems, "interfaces[%d]" % index if self.params.get("interfaces")
                                  else "task", req)
        names = [r.get("interface") for r in self.requests]
        if len(set(names)) != len(names):
            problems.add("task", "interfaces", "lists an interface twice")
        if self.params["max_concurrency"] < 1:
            problems.add("task", "max_concurrency", "must be at least 1")
        self.check_target(problems)
        if problems:
            self.runner.fail(problems.render(), problems=problems.items)
        try:
            kv = KubeVirtInfo.read(self.session)
            if not kv.installed:
                self.runner.fail("KubeVirt is not installed in this cluster (no KubeVirt CR found)")
            if not kv.at_least(1, 4):
                self.runner.fail("KubeVirt %s is older than 1.4: declarative NIC hot-plug is GA from 1.4 (the "
                                 "virtctl addinterface API of 1.0 was removed in 1.1); upgrade KubeVirt" % kv.version_text)
            vms = self.engine.read_vms()
            if vms is None:
                self.runner.fail("VirtualMachine %s/%s not found; check the name and the namespace (vm, namespace)"
                                 % (self.namespace, self.params["vm"]))
            if vms is None:
                raise AssertionError("runner.fail does not return")
            if not vms and not self.params.get("vm"):
                self.no_match(vms)
            vmis = self.engine.read_vmis()
            plans, dynamic = self.engine.preflight(problems, vms, vmis, kv)
            self.admit(problems, vms, plans, kv)
        except ApiError as err:
            self.runner.fail_api(err)
        if problems:
            self.runner.fail(problems.render(), problems=problems.items)
        start = time.monotonic()
        engine = self.engine
        results = [engine.new_result(vm, plans[vm_key(vm)][0], plans[vm_key(vm)][1], dynamic, start) for vm in vms]
        changed = any(r["_plan"].changed for r in results)
        engine.old_migrations = set()
        if not self.module.check_mode:
            if self.params["wait"]:
                engine.remember_migrations(results)
            if changed:
                engine.apply(results)
                engine.refresh_pending(results, vmis)
                # what the server confirmed, not what was planned: a write that failed changed nothing
                changed = any(r.get("_written") for r in results)
            if self.params["wait"]:
                engine.wait(dict((r["name"], r) for r in results if r["running"] and not r.get("error")
                                 and (r["_plan"].changed or r["_pending"])))
        self.finish(results, changed, kv, start)

    def admit(self, problems: Problems, vms: List[Dict[str, Any]], plans: Dict[str, Tuple[hotplug.VmPlan, bool]],
              kv: KubeVirtInfo) -> None:
        """virt-api's VM admitter judges the whole template on every update, not
        only the interface this task adds (pkg/virt-api/webhooks/validating-webhook/
        admitters/vms-admitter.go -> pkg/network/admitter): run the same rules on
        each planned template before any write, so a refusal names the field
        instead of arriving as the webhook's 422 after the PATCH."""
        for vm in vms:
            plan = plans[vm_key(vm)][0]
            if not plan.ops:
                continue
            changed = [name for name, action, _detail in plan.changes if action in (hotplug.PLUG, hotplug.SWAP)]
            after = vmspec.template_spec(apply_ops(vm, plan.ops))
            admission.check(problems, "VirtualMachine %s/%s" % (self.namespace, vm_key(vm)), after, kv,
                            changed_names=changed)

    def finish(self, results: List[Dict[str, Any]], changed: bool, kv: KubeVirtInfo, start: float) -> None:
        out_vms, failed = [], []
        diff_before, diff_after = {}, {}
        for result in results:
            plan = result["_plan"]
            if plan.changed and (self.module.check_mode or result.get("_written")):
                key = "%s/%s" % (self.namespace, result["name"])
                diff_before[key] = {"interfaces": vmspec.interfaces_of(result["_vm"]),
                                    "networks": vmspec.networks_of(result["_vm"])}
                after = result.get("_after") or apply_ops(result["_vm"], plan.ops)
                diff_after[key] = {"interfaces": vmspec.interfaces_of(after), "networks": vmspec.networks_of(after)}
            result.setdefault("duration", round(time.monotonic() - start, 2))
            for finding in result.get("findings") or []:
                self.module.warn(finding)
            if result.get("pending") and not result.get("error"):
                self.module.warn("VirtualMachine %s/%s: KubeVirt has not finished %s (not waited for%s)" % (
                    self.namespace, result["name"], "; ".join("interface %s: %s" % (n, d) for n, _a, d in
                                                              result["_pending"]),
                    ": check mode" if self.module.check_mode else ", wait=false"))
            clean = dict((k, v) for k, v in result.items() if not k.startswith("_") and k != "waiting_for")
            out_vms.append(clean)
            if result.get("error"):
                failed.append(result)
        out = dict(changed=changed, vms=out_vms, kubevirt=kv.as_dict())
        if self.module._diff and changed and diff_before:  # pylint: disable=protected-access
            out["diff"] = {"before": diff_before, "after": diff_after} if len(diff_before) > 1 else \
                {"before": list(diff_before.values())[0], "after": list(diff_after.values())[0]}
        if failed:
            done = [r["name"] for r in results if not r.get("error")]
            self.runner.fail("%d of %d VMs failed: %s (succeeded: %s)" % (
                len(failed), len(results), "; ".join("%s: %s" % (r["name"], r["error"]) for r in failed),
                ", ".join(done) or "none"), **out)
        self.runner.exit(**out)
