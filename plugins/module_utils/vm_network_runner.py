# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_vm_network module's flow.

1. Check the options (no cluster).  ``rendered`` stops here.
2. Read the KubeVirt CR, the VM and its VMI.  ``gathered`` stops here.
3. Compute the desired template for the state; mirror KubeVirt's admission on
   it; check the NADs, MACs and binding plugins it references.  A running VM's
   live-capable changes are planned and preflighted by the hot-plug engine
   (hotplug_engine.HotplugEngine).  Any problem fails the task before a write.
4. Write: live changes through HotplugEngine.apply (test-guarded, re-planned
   on a lost race), then the rest as one JSON Patch guarded by
   ``metadata.generation`` (writes.TemplateWriter).
5. Wait: HotplugEngine.wait for the live part, then until KubeVirt's VM controller
   has seen the new generation, and read its ``RestartRequired`` condition;
   ``restart: true`` restarts through the subresource and waits for the new VMI.
"""


import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import hotplug
from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network as vmn
from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network_checks, vm_network_live
from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network_admission as admission
from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.args import rename_binding_values
from ansible_collections.kubevirt_net.core.plugins.module_utils.hotplug_engine import HotplugEngine
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import NAD, VM, VMI
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from ansible_collections.kubevirt_net.core.plugins.module_utils.writes import (
    TemplateWriter, generation_of, restart_required, vmi_running)


# ------------------------------------------------------------ the module
class VmNetwork:
    def __init__(self, module: Any) -> None:
        self.module = module
        self.params = module.params  # type: Dict[str, Any]
        self.namespace = self.params["namespace"]  # type: str
        self.name = self.params["vm"]  # type: str
        self.state = self.params["state"]  # type: str
        self.config = self.params.get("config") or {}  # type: Dict[str, Any]
        rename_binding_values(module, self.config.get("interfaces"), "config.interfaces")
        self.runner = Run(module)
        self.patches = []  # type: List[Any]
        self._before = None  # type: Optional[Dict[str, Any]]  # the VM as read before any write

    @property
    def session(self) -> ApiSession:
        return self.runner.session

    def hotplug_params(self) -> Dict[str, Any]:
        """The kubevirt_iface_hotplug options the shared hot-plug flow reads."""
        return dict(vm=self.name, vm_selector=None, namespace=self.namespace,
                    migrate_if_required=self.params["migrate_if_required"], restart_if_required=False,
                    dynamic_networks=self.params["dynamic_networks"], max_concurrency=1,
                    wait=self.params["wait"], wait_timeout=self.params["wait_timeout"],
                    wait_sleep=self.params["wait_sleep"], restart=bool(self.params.get("restart")))

    def fail(self, problems: Problems) -> None:
        self.runner.fail_problems(problems)

    def hotplug_engine(self, requests: List[Dict[str, Any]]) -> HotplugEngine:
        return HotplugEngine(self.hotplug_params(), requests, self.runner, self.module.warn)

    # ------------------------------------------------------------ checks
    def check_options(self) -> Problems:
        problems = Problems()
        vm_network_checks.check_config(problems, self.config, self.state)
        if self.state != vmn.RENDERED:
            if not self.name:
                problems.add("task", "vm", "is required with state=%s (the VirtualMachine's name)" % self.state)
            problems.dns_label("task", "namespace", self.namespace)
        if self.name:
            problems.dns_subdomain("task", "vm", self.name)
        if self.state in (vmn.REPLACED, vmn.OVERRIDDEN, vmn.RENDERED) and self.params.get("config") is None:
            problems.add("task", "config", "is required with state=%s" % self.state)
        if self.params["restart"] and not self.params["wait"]:
            problems.add("task", "restart", "needs wait=true: the module restarts when KubeVirt reports "
                         "RestartRequired, which it learns by waiting")
        if self.params["wait_timeout"] < 0:
            problems.add("task", "wait_timeout", "must not be negative")
        return problems

    def check_cluster(self, problems: Problems, vm: Dict[str, Any], want: vmn.Desired, kv: KubeVirtInfo,
                      hotplug_requests: List[Dict[str, Any]]) -> None:
        """Admission mirror, NADs, MACs, SR-IOV resources (what hot-plug's own
        preflight does not already check)."""
        where = "VirtualMachine %s/%s" % (self.namespace, self.name)
        spec = vmn.template_of(vm)
        cur_ifaces, cur_networks = vmspec.interfaces_of(vm), vmspec.networks_of(vm)
        changed = []
        for iface in want.ifaces:
            name = iface.get("name")  # type: Any
            if vmspec.find(cur_ifaces, name)[1] != iface or \
                    vmspec.find(cur_networks, name)[1] != vmspec.find(want.networks, name)[1]:
                changed.append(name)
        for cfg in self.config.get("interfaces") or []:
            if self.state == vmn.MERGED and vmspec.find(cur_ifaces, cfg["name"])[1] is None and not cfg.get("network"):
                problems.add(where, "interface %s" % cfg["name"], "is new, so 'network' is required ('pod' or a "
                             "NetworkAttachmentDefinition)")
        for typed in vmn.cidr_without_pod(self.config, want):
            problems.add(where, "config.%s" % typed, "needs a pod network, and the VM has none")
        after = vmn.apply_desired(spec, want)
        admission.check(problems, where, after, kv, changed_names=changed)
        admission.check_vm_fields(problems, where, after)
        if problems:
            return
        covered = set(r["interface"] for r in hotplug_requests if r.get("state") != "absent")
        refs = {}  # type: Dict[Tuple[str, str], List[str]]
        for name in changed:
            network = vmspec.find(want.networks, name)[1] or {}
            ref = vmspec.nad_reference(network)
            if ref and name not in covered:
                refs.setdefault(vmspec.split_reference(ref, self.namespace), []).append(name)
        nads = {}
        for ns in sorted(set(k[0] for k in refs)):
            for nad in self.session.list(NAD.path(ns)):
                nads[(ns, nad["metadata"]["name"])] = nad
        tools = self.hotplug_engine([])
        for key, names in sorted(refs.items()):
            for name in names:
                if key not in nads:
                    hint = (" To use a network from another namespace, write '<namespace>/%s'." % key[1]
                            if key[0] == self.namespace else "")
                    problems.add(where, "interface %s" % name, "NetworkAttachmentDefinition %r not found in namespace "
                                 "%r (searched: %s/%s). Create it with kubevirt_net.core.kubevirt_network.%s"
                                 % (key[1], key[0], key[0], key[1], hint))
                elif vmspec.binding_of(vmspec.find(want.ifaces, name)[1] or {}) == "sriov":
                    tools.check_sriov(problems, "interface %s" % name, nads[key], kv)
        asked_macs = ((n, (vmspec.find(want.ifaces, n)[1] or {}).get("macAddress")) for n in changed if n not in covered)
        macs: List[Tuple[str, str]] = [(n, m) for n, m in asked_macs if m]
        if macs:
            others = [v for v in self.session.list(VM.path(self.namespace)) if v["metadata"]["name"] != self.name]
            vmis = [v for v in self.session.list(VMI.path(self.namespace)) if v["metadata"]["name"] != self.name]
            used = vmspec.macs_in_use(others, vmis)
            for name, mac in macs:
                if vmspec.normal_mac(mac) in used:
                    problems.add(where, "interface %s" % name, "mac_address %s is already used by %s; choose another "
                                 "MAC" % (mac, used[vmspec.normal_mac(mac)]))
        seen = {}  # type: Dict[str, str]
        for iface in want.ifaces:
            own = iface.get("macAddress")
            if own and vmspec.normal_mac(own) in seen:
                problems.add(where, "interface %s" % iface["name"], "mac_address %s is also set on interface %s"
                             % (own, seen[vmspec.normal_mac(own)]))
            elif own:
                seen[vmspec.normal_mac(own)] = iface["name"]
        for name, port in vmn.istio_ports_listed(want):
            self.module.warn("interface %s lists port %d, which Istio's sidecar uses (%s); with Istio the VM does not "
                             "get it" % (name, port, ", ".join(str(p) for p in vmn.ISTIO_PORTS)))

    # ------------------------------------------------------------ states
    def rendered(self) -> None:
        problems = self.check_options()
        if problems:
            self.fail(problems)
        want = vmn.desired({}, self.config, vmn.OVERRIDDEN)
        admission.check(problems, "rendered", vmn.apply_desired({}, want), None)
        admission.check_vm_fields(problems, "rendered", vmn.apply_desired({}, want))
        if problems:
            self.fail(problems)
        manifest = vmn.rendered_vm(self.name, self.namespace, want)
        self.runner.exit(changed=False, rendered=manifest, after=vmn.typed_config(vmn.template_of(manifest)))

    def run(self) -> None:
        if self.state == vmn.RENDERED:
            self.rendered()
        problems = self.check_options()
        if problems:
            self.fail(problems)
        try:
            self.converge()
        except ApiError as err:
            self.runner.fail_api(err, patches=self.patches)

    def converge(self) -> None:
        kv = KubeVirtInfo.read(self.session)
        if not kv.installed:
            self.runner.fail("KubeVirt is not installed in this cluster (no KubeVirt CR found)")
        vm = self.session.get(VM.path(self.namespace, self.name))
        if vm is None:
            self.runner.fail("VirtualMachine %s/%s not found; check the name and the namespace (vm, namespace)"
                             % (self.namespace, self.name))
        spec = vmn.template_of(vm)
        before = vmn.typed_config(spec)
        if self.state == vmn.GATHERED:
            self.runner.exit(changed=False, gathered=before, gathered_details=vmn.config_details(spec),
                             kubevirt=kv.as_dict())
        vmi = self.session.get(VMI.path(self.namespace, self.name))
        running = vmi_running(vmi)
        default_iface = (kv.configuration.get("network") or {}).get("defaultNetworkInterface") or "bridge"
        want = vmn.desired(spec, self.config, self.state, default_iface)
        problems = Problems()
        plan = vm_network_live.plan_running(vm, want, kv) if running else None
        requests = plan.requests if plan else []
        self.check_cluster(problems, vm, want, kv, requests)
        # hot-plugs an earlier run declared that the VMI has not finished: "declared" is not "done"
        asked = set(r["interface"] for r in requests)
        declared = [p for p in hotplug.declared_pending(vm, vmi) if p[0] not in asked] if running else []
        hp = hp_plan = dynamic = None
        if (requests or declared) and not problems:
            hp = self.hotplug_engine(requests)
            plans, dynamic = hp.preflight(problems, [vm], {self.name: vmi}, kv)
            hp_plan = plans[self.name][0]
            hp.expect(problems, vm, vmi, kv, declared)
        if problems:
            self.fail(problems)
        final = plan.final if plan else want
        if final is None:
            raise AssertionError("plan_running sets the final template")
        changed = not vmn.same(spec, final)
        pending_restart = restart_required(vm) if running else None
        # a RestartRequired the declared network explains (pkg/network/vmliveupdate/restart.go) is this
        # module's to act on; any other one was caused by something else: a finding, not acted on
        network_restart = bool(pending_restart) and hotplug.network_restart_required(vm, vmi)
        pending_now = [n for n in vm_network_live.pending_start(vm, vmi) if n not in [p[0] for p in declared]] if running else []
        result: Dict[str, Any] = dict(
            vm={"name": self.name, "namespace": self.namespace, "running": running},
            before=before, notes=want.notes, kubevirt=kv.as_dict(), pending_start=pending_now,
            findings=[hotplug.restart_finding(vm, pending_restart)] if pending_restart and not network_restart else [],
            pending_hotplug=[{"name": n, "action": a, "detail": d} for n, a, d in declared])
        result["after"] = vmn.typed_config(vmn.apply_desired(spec, final)) if changed else before
        result["live"] = [{"name": n, "action": a, "detail": d} for n, a, d in hp_plan.changes] if hp_plan else []
        result["nonlive"] = plan.nonlive if plan and changed else []
        result["next_start"] = plan.deferred if plan and changed else []
        result["restart_required"] = bool(running and (result["nonlive"] or network_restart))
        will_restart = bool(self.params["restart"] and running and (
            result["restart_required"] or result["next_start"] or pending_now))
        if self.module._diff and changed:  # pylint: disable=protected-access
            result["diff"] = {"before": before, "after": result["after"]}
        self._before = vm
        if self.module.check_mode or not (changed or will_restart):
            result.update(restarted=False, restart_condition=pending_restart, patches=[])
            if self.module.check_mode and changed:
                result["patches"] = ([hp_plan.ops] if hp_plan is not None and hp_plan.changed else []) + [
                    vmn.template_patch(vm, final)]
            if declared and not self.module.check_mode and self.params["wait"]:
                # declared (and no problems): the hot-plug engine and its plan were made above
                if hp is None or hp_plan is None or dynamic is None:
                    raise AssertionError("declared (and no problems): converge() made the hot-plug engine and its plan")
                self.wait_declared(vm, hp, hp_plan, dynamic, result)
            self.warn_findings(result)
            self.runner.exit(changed=changed or will_restart, **result)
        self.write(vm, vmi, kv, hp, hp_plan, dynamic, result, changed)

    def wait_declared(self, vm: Dict[str, Any], hp: HotplugEngine, hp_plan: hotplug.VmPlan, dynamic: bool,
                      result: Dict[str, Any]) -> None:
        """Nothing to write, but hot-plugs declared earlier are not finished:
        wait for them like for a new one (a re-run after a timed-out wait must
        not report ok while the VMI lacks the interface)."""
        hp_result = hp.new_result(vm, hp_plan, True, dynamic, time.monotonic())
        hp.remember_migrations([hp_result])
        hp.wait({self.name: hp_result})
        result["pending_hotplug"] = [{"name": n, "action": a, "detail": d} for n, a, d in hp_result["_pending"]]
        if hp_result.get("migration"):
            result["migration"] = hp_result["migration"]
        if hp_result.get("error"):
            self.runner.fail("VirtualMachine %s/%s: %s" % (self.namespace, self.name, hp_result["error"]), **result)

    def warn_findings(self, result: Dict[str, Any]) -> None:
        for finding in result.get("findings") or []:
            self.module.warn(finding)
        if result.get("pending_hotplug"):
            self.module.warn("VirtualMachine %s/%s: KubeVirt has not finished %s (not waited for%s)" % (
                self.namespace, self.name, "; ".join("interface %s: %s" % (p["name"], p["detail"])
                                                     for p in result["pending_hotplug"]),
                ": check mode" if self.module.check_mode else ", wait=false"))

    def write(self, vm: Dict[str, Any], vmi: Optional[Dict[str, Any]], kv: KubeVirtInfo, hp: Optional[HotplugEngine],
              hp_plan: Optional[hotplug.VmPlan], dynamic: Optional[bool], result: Dict[str, Any], changed: bool) -> None:
        """Live part first (and, when waiting, until KubeVirt reports it done),
        then the rest of the template, then KubeVirt's verdict on it."""
        writer = TemplateWriter(self.session, self.namespace, self.params["wait_timeout"], self.params["wait_sleep"])
        start = time.monotonic()
        deadline = Deadline(self.params["wait_timeout"])
        running = result["vm"]["running"]
        waiting = running and self.params["wait"]
        result.update(restarted=False, restart_condition=None, patches=self.patches)
        if hp is not None:
            if hp_plan is None or dynamic is None:
                raise AssertionError("converge() sets them with hp")
            hp_result = hp.new_result(vm, hp_plan, True, dynamic, start)
            # with restart=true and changes that need the restart anyway, the new VMI gets the
            # plugged NICs at its start: waiting for a live plug first (an SR-IOV plug needs a
            # migration, possibly to nowhere) would only delay, or fail, what the restart does
            restart_follows = bool(self.params["restart"] and result["nonlive"])
            if waiting and not restart_follows:
                hp.remember_migrations([hp_result])
            if changed and hp_plan.changed:
                hp.apply([hp_result])
                if hp_result.get("error"):
                    self.runner.fail("hot-plug of VirtualMachine %s/%s failed: %s" % (
                        self.namespace, self.name, hp_result["error"]), **result)
                self.patches.append(hp_result["_plan"].ops)
                vm = hp_result.get("_after") or vm
                result["live"] = [dict(i) for i in hp_result["interfaces"]]
                if restart_follows:
                    result["live_method"] = "restart"
            if waiting and (hp_result["_plan"].changed or hp_result["_pending"]) and not restart_follows:
                hp.wait({self.name: hp_result}, deadline)  # one wait_timeout for the whole task
                if hp_result["_plan"].changed:
                    result["live_method"] = hp_result.get("method")
                if hp_result.get("migration"):
                    result["migration"] = hp_result["migration"]
                result["live"] = [dict(i) for i in hp_result["interfaces"]]
                result["pending_hotplug"] = [{"name": n, "action": a, "detail": d}
                                             for n, a, d in hp_result["_pending"]]
                if hp_result.get("error"):
                    self.runner.fail("VirtualMachine %s/%s: %s" % (self.namespace, self.name, hp_result["error"]),
                                     **result)
                vm = self.session.get(VM.path(self.namespace, self.name)) or vm  # KubeVirt may have changed it
        if changed:
            vm, ops = writer.patch(vm, self.final_patch(kv, running))
            if ops:
                self.patches.append(ops)
        result["after"] = vmn.typed_config(vmn.template_of(vm))
        if waiting:
            self.verdict(vm, writer, deadline, result)
        result["duration"] = round(time.monotonic() - start, 2)
        self.warn_findings(result)
        self.runner.exit(changed=True, **result)

    def verdict(self, vm: Dict[str, Any], writer: TemplateWriter, deadline: Deadline, result: Dict[str, Any]) -> None:
        """After the writes: wait for KubeVirt to process the generation, read its
        RestartRequired verdict (ours or an older finding) and, with restart=true,
        restart and wait for the new VMI - all within the task's ``deadline``."""
        seen = writer.observe(self.name, generation_of(vm), deadline, expect_restart=bool(result["nonlive"]))
        guessed = seen is None and "desiredGeneration" not in ((writer.last or {}).get("status") or {})
        if guessed:
            self.module.warn("KubeVirt's VM controller reports no status.desiredGeneration and set no "
                             "RestartRequired condition within %ss; restart_required is the module's prediction"
                             % self.params["wait_timeout"])
            seen = writer.last or vm
        if seen is None:
            self.runner.fail("timed out after %ss waiting for KubeVirt to process generation %s of "
                             "VirtualMachine %s/%s (status.desiredGeneration)" % (
                                 self.params["wait_timeout"], generation_of(vm), self.namespace, self.name),
                             **result)
        if seen is None:
            raise AssertionError("runner.fail does not return")
        cond = restart_required(seen)
        current_vmi = self.session.get(VMI.path(self.namespace, self.name))
        # only a condition that transitioned after this write, or one this change (or the declared
        # network) explains, is acted on; an older unrelated one is a finding
        ours = bool(cond) and bool(hotplug.restart_newly_set(self._before, seen) or result["nonlive"]
                                   or hotplug.network_restart_required(seen, current_vmi))
        result["restart_required"] = ours or (guessed and bool(result["nonlive"]))
        result["restart_condition"] = cond
        result["findings"] = [hotplug.restart_finding(seen, cond)] if cond and not ours else []
        result["pending_start"] = vm_network_live.pending_start(seen, current_vmi)
        if self.params["restart"] and (result["restart_required"] or result["pending_start"]):
            writer.restart(self.name)
            result["restarted"] = True
            new_vmi = writer.wait_restarted(self.name, (current_vmi or {}).get("metadata", {}).get("uid"),
                                            deadline)
            if new_vmi is None:
                self.runner.fail("VirtualMachine %s/%s was restarted but no new running VMI without "
                                 "RestartRequired appeared within %ss" % (self.namespace, self.name,
                                                                          self.params["wait_timeout"]), **result)
            result.update(restart_required=False, pending_start=vm_network_live.pending_start(seen, new_vmi))

    def final_patch(self, kv: KubeVirtInfo, running: bool) -> Callable[[Dict[str, Any]], List[Dict[str, Any]]]:
        default_iface = (kv.configuration.get("network") or {}).get("defaultNetworkInterface") or "bridge"

        def build(fresh: Dict[str, Any]) -> List[Dict[str, Any]]:
            want = vmn.desired(vmn.template_of(fresh), self.config, self.state, default_iface)
            final = vm_network_live.plan_running(fresh, want, kv).final if running else want
            if final is None:
                raise AssertionError("plan_running sets the final template")
            return vmn.template_patch(fresh, final)
        return build
