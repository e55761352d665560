# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_vm_clone module's flow: check -> read (source, KubeVirt CR,
targets, NADs, MACs in use) -> preflight -> clones (concurrently, bounded) ->
wait on one LIST of clones per poll -> clean up."""


import json
import time
from typing import Any, Dict, List, Optional, Tuple

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kubevirt_net.core.plugins.module_utils import clone as clone_utils
from ansible_collections.kubevirt_net.core.plugins.module_utils import clone_own_patches, clone_progress, clone_source
from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network_admission, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import JSON_PATCH, MERGE_PATCH, ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.args import rename_binding_values
from ansible_collections.kubevirt_net.core.plugins.module_utils.hotplug_engine import HotplugEngine
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAD, VM, VM_CLONE, VM_CLONE_V1ALPHA1, VMI, ResourceType)
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from ansible_collections.kubevirt_net.core.plugins.module_utils.waits import fan_out, poll
from ansible_collections.kubevirt_net.core.plugins.module_utils.writes import vm_action

import threading

try:
    import yaml
except ImportError:  # pragma: no cover - kubernetes.core requires PyYAML; sanity's import test runs without it
    yaml = None  # type: ignore[assignment]


CLONE_V1BETA1, CLONE_V1ALPHA1 = VM_CLONE, VM_CLONE_V1ALPHA1
MAX_CREATES = 5
CLONE_SELECTOR = "%s=%s" % (MANAGED_BY_LABEL, MANAGED_BY_VALUE)


def _raw_patches(problems: Problems, where: str, patches: Optional[List[Any]]) -> List[Dict[str, Any]]:
    """User patches (dicts or JSON strings) as dicts."""
    out = []
    for index, patch in enumerate(patches or []):
        value = patch
        if isinstance(patch, str):
            try:
                value = json.loads(patch)
            except ValueError as exc:
                problems.add(where, "patches[%d]" % index, "is not JSON: %s" % exc)
                continue
        if not isinstance(value, dict) or value.get("op") not in ("add", "remove", "replace", "move", "copy",
                                                                  "test") or "path" not in value:
            problems.add(where, "patches[%d]" % index, "%r is not a JSON Patch operation ({op, path[, value]})"
                         % (patch,))
            continue
        out.append(value)
    return out


class ClonePoller:
    """The VirtualMachineClones of one namespace, LISTed at most once per
    ``interval`` however many clones of a batch are waiting: 20 waiting clones
    cost one request per poll, not twenty."""

    def __init__(self, session: ApiSession, path: str, interval: float) -> None:
        self.session, self.path, self.interval = session, path, interval
        self.lock = threading.Lock()
        self.read_at: Optional[float] = None
        self.items: Optional[Dict[str, Dict[str, Any]]] = {}

    def get(self, name: str) -> Optional[Dict[str, Any]]:
        with self.lock:
            if self.read_at is None or time.monotonic() - self.read_at >= self.interval:
                try:
                    self.items = dict((o["metadata"]["name"], o) for o in self.session.list(self.path))
                except ApiError:
                    self.items = None  # 5xx after the retries: the waiters keep waiting until their deadline
                self.read_at = time.monotonic()
            return None if self.items is None else self.items.get(name)


class Cloner:
    """The kubevirt_vm_clone flow.  ``target_spec``: the options of one
    ``targets`` item (the module's argument spec), checked here because an
    item's unset options take the task's values."""

    def __init__(self, module: Any, target_spec: Dict[str, Any]) -> None:
        self.module = module
        self.target_spec = target_spec
        self.params = module.params
        self.namespace = self.params["namespace"]
        self.runner = Run(module)
        self.pollers: Dict[str, ClonePoller] = {}
        self.pollers_lock = threading.Lock()
        self._deadline: Optional[Deadline] = None   # task_deadline()

    def poller(self, api: ResourceType) -> ClonePoller:
        path = api.path(self.namespace)
        with self.pollers_lock:
            if path not in self.pollers:
                self.pollers[path] = ClonePoller(self.session, path, self.params["wait_sleep"])
            return self.pollers[path]

    # ------------------------------------------------------------ options
    def targets(self, problems: Problems) -> List[Dict[str, Any]]:
        rename_binding_values(self.module, self.params.get("networks"), "networks")
        shared = dict((k, self.params.get(k)) for k in self.target_spec if k != "name")
        if not self.params.get("targets"):
            return [dict(shared, name=self.params.get("target"))]
        validator = ArgumentSpecValidator(self.target_spec)
        out = []
        for index, item in enumerate(self.params["targets"]):
            result = validator.validate(item if isinstance(item, dict) else {"name": item})
            for error in result.errors:
                problems.add("targets[%d]" % index, "options", str(error))
            merged = dict(shared)
            merged.update(dict((k, v) for k, v in result.validated_parameters.items() if v is not None))
            if result.validated_parameters.get("networks"):
                rename_binding_values(self.module, merged["networks"], "targets[%d].networks" % index)
            out.append(merged)
        return out

    def options(self, target: Dict[str, Any]) -> Dict[str, Any]:
        opts = dict((k, self.params.get(k)) for k in ("source", "source_kind", "label_filters", "annotation_filters",
                                                      "template_label_filters", "template_annotation_filters",
                                                      "volume_name_policy"))
        opts.update(target)
        opts["target"] = target["name"]
        macs = dict(opts.get("new_mac_addresses") or {})
        for net in opts.get("networks") or []:
            if net.get("mac_address") and net.get("state") != "absent":
                macs[net["interface"]] = net["mac_address"]
        opts["new_mac_addresses"] = macs or None
        return opts

    def check(self, problems: Problems, targets: List[Dict[str, Any]]) -> None:
        where = "clone"
        problems.dns_subdomain(where, "source", self.params.get("source"))
        for field in ("label_filters", "annotation_filters", "template_label_filters",
                      "template_annotation_filters"):
            for warning in clone_utils.check_filters(problems, where, field, self.params.get(field)):
                self.module.warn(warning)
        problems.int_range(where, "max_concurrency", self.params.get("max_concurrency"), 1, 100)  # issue 19
        names = [t.get("name") for t in targets]
        if len(set(names)) != len(names):
            problems.add(where, "targets", "lists a target twice")
        for target in targets:
            twhere = "target %s" % target.get("name")
            problems.dns_subdomain(twhere, "name", target.get("name"))
            if target.get("name") == self.params.get("source"):
                problems.add(twhere, "name", "is the source's name; KubeVirt requires another name")
            opts = self.options(target)
            clone_utils.check_target_options(problems, twhere, opts)  # labels, hostname, subdomain (issue 19)
            for iface, mac in sorted((opts.get("new_mac_addresses") or {}).items()):
                problems.mac(twhere, "new_mac_addresses.%s" % iface, mac)  # sent in dash form (clone.restore_mac)
            for index, net in enumerate(opts.get("networks") or []):
                if net.get("network"):
                    parts = net["network"].split("/")
                    if len(parts) > 2 or not all(parts):
                        problems.add(twhere, "networks[%d].network" % index, "%r is not '<nad>' or '<ns>/<nad>'"
                                     % net["network"])
                if net.get("model") and net["model"] not in vmspec.MODELS:
                    problems.add(twhere, "networks[%d].model" % index, "%r is not one of %s"
                                 % (net["model"], ", ".join(vmspec.MODELS)))
            target["_raw"] = _raw_patches(problems, twhere, opts.get("patches"))

    # --------------------------------------------------------------- plan
    def plan(self, problems: Problems, source: Dict[str, Any], target: Dict[str, Any], kv: Optional[KubeVirtInfo],
             existing: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """What KubeVirt will build (restore.go + vm-target.go), the
        overrides as patches its restore webhook accepts, tried in KubeVirt's
        order; then the VM admission checks on the expected target."""
        opts = self.options(target)
        where = "target %s" % target["name"]
        local = Problems()
        source_names = set(i.get("name") for i in vmspec.interfaces_of(source))
        added = set(n.get("interface") for n in opts.get("networks") or []
                    if n.get("state") != "absent" and n.get("interface") not in source_names)
        macs = opts.get("new_mac_addresses") or {}
        for name in sorted(set(macs) - source_names - added):
            local.add(where, "new_mac_addresses.%s" % name, "interface %r is not in the source VM and not added by "
                      "networks, so KubeVirt would ignore this MAC: name a source interface or add it with "
                      "networks: [{interface: %s, network: <nad>}]" % (name, name))
        verbatim = clone_utils.verbatim_mac_interfaces(source, opts)
        kv_opts = dict(opts, new_mac_addresses=dict((k, v) for k, v in macs.items()
                                                    if k in source_names and k not in verbatim) or None)
        clone_own_patches.check(local, where, source, kv_opts)  # e.g. a serial with ':' (issue 18)
        base = clone_utils.kubevirt_base(source, kv_opts, self.namespace)
        typed, post = clone_utils.override_patches(local, where, base, opts)
        typed = clone_utils.verbatim_mac_patches(base, macs, verbatim) + typed
        digest = clone_utils.digest_of(dict(opts, patches=target["_raw"]), self.params["source"])
        sourced = typed + [("patches[%d]" % i, op) for i, op in enumerate(target["_raw"])] + \
            [("annotations", op) for op in clone_utils.identity_patches(self.params["source"], digest)]
        expected, flat = None, []  # type: Optional[Dict[str, Any]], List[clone_utils.Op]
        if not local:
            patched, flat = clone_utils.express(local, where, base, sourced)
            if patched is not None:
                expected = clone_utils.go_round_trip(clone_utils.merge(patched, post) if post else patched)
                spec = vmspec.template_spec(expected)
                vm_network_admission.check(local, where, spec, kv)
                vm_network_admission.check_vm_fields(local, where, spec)
        problems.items.extend(local.items)
        plan = {"name": target["name"], "opts": opts, "patches": flat, "digest": digest, "expected": expected,
                "method": "create", "post": post}
        if existing is not None:
            annotations = (existing.get("metadata") or {}).get("annotations") or {}
            if annotations.get(clone_utils.CLONED_FROM) != self.params["source"]:
                problems.add(where, "name", "VirtualMachine %s/%s already exists and is not a clone of %s made by "
                             "this collection; choose another target name"
                             % (self.namespace, target["name"], self.params["source"]))
            elif annotations.get(clone_utils.CLONE_DIGEST) == digest:
                plan["method"] = "unchanged"
            elif self.params["recreate"]:
                plan["method"] = "recreate"
            else:
                problems.add(where, "name", "VirtualMachine %s/%s is a clone of %s with other overrides (digest %s, "
                             "now %s); set recreate=true to delete and clone it again" % (
                                 self.namespace, target["name"], self.params["source"],
                                 annotations.get(clone_utils.CLONE_DIGEST), digest))
        if kv is not None:
            plan["api"] = CLONE_V1BETA1 if kv.at_least(1, 5) else CLONE_V1ALPHA1
            plan["server_patches"] = kv.at_least(1, 6)
            plan["manifest"] = clone_utils.clone_manifest(
                kv_opts, self.namespace, flat, plan["api"].version, plan["server_patches"], kv.at_least(1, 8))
        else:
            plan["manifest"] = clone_utils.clone_manifest(kv_opts, self.namespace, flat, "v1beta1", True, True)
        plan["manifest"]["metadata"]["annotations"] = {clone_utils.CLONE_DIGEST: digest}  # clone_progress
        return plan

    def progress(self, problems: Problems, plans: List[Dict[str, Any]],
                 existing: Dict[str, Optional[Dict[str, Any]]]) -> None:
        """How far each target's clone got (issue 19): an unfinished VirtualMachineClone this
        collection made of the same source into the target (an earlier run timed out, or did not
        wait) is waited for instead of starting a second one (method ``resume``); a target whose
        clone finished but whose after-clone steps are missing gets them (``complete``).  Only a
        finished clone with every step in place is ``unchanged``.  One LIST of the managed clones."""
        listed = {}
        for plan in plans:
            path = plan["api"].path(self.namespace)
            if path not in listed:
                listed[path] = self.session.list(path, label_selector=CLONE_SELECTOR)
            clones = clone_progress.of_target(listed[path], self.params["source"], plan["name"])
            running = clone_progress.unfinished(clones)
            vm = existing[plan["name"]]
            if running is not None and vm is not None and not clone_progress.made_target(
                    running, vm, clone_utils.LAST_RESTORE):
                stray = (self.namespace, running["metadata"]["name"], self.params["source"], plan["name"])
                self.module.warn("VirtualMachineClone %s/%s (of %s into %s) has not finished and never will: the "
                                 "target exists and was not made by it (a duplicate, e.g. from a request whose "
                                 "answer was lost); delete it" % stray)
                running = None
            if running is not None:
                name = running["metadata"]["name"]
                if plan["method"] == "recreate" or not clone_progress.same_overrides(
                        running, plan["digest"], clone_utils.CLONE_DIGEST):
                    problems.add("target %s" % plan["name"], "name", "VirtualMachineClone %s/%s (of %s into %s, "
                                 "made by an earlier run with other overrides) has not finished (phase %s): wait "
                                 "for it, or delete it and the VM it made, then run again" % (
                                     self.namespace, name, self.params["source"], plan["name"],
                                     clone_progress.phase_of(running) or "unset"))
                    continue
                plan.update(method="resume", clone=name, steps=["clone"] + self.after_steps(plan))
            elif plan["method"] == "unchanged":
                if vm is None:
                    raise AssertionError("\"unchanged\" comes from plan(): the target exists with this digest")
                steps = clone_progress.missing_steps(vm, plan["post"], self.params["start"],
                                                     self.params["cleanup"], clones)
                if steps:
                    plan.update(method="complete", steps=steps, finished=[
                        c["metadata"]["name"] for c in clones if clone_progress.phase_of(c) == "Succeeded"])

    def after_steps(self, plan: Dict[str, Any]) -> List[str]:
        """The steps after the clone this run takes for ``plan``."""
        return [step for step, wanted in ((clone_progress.POST_CLONE_PATCH, bool(plan["post"])),
                                          (clone_progress.START, self.params["start"]),
                                          (clone_progress.CLEANUP, self.params["cleanup"])) if wanted]

    # --------------------------------------------------------------- read
    def read_source(self) -> Dict[str, Any]:
        if self.params["source_kind"] == "VirtualMachineSnapshot":
            return clone_source.snapshot_vm(self.session, self.namespace, self.params["source"], self.runner.fail)
        vm = self.session.get(VM.path(self.namespace, self.params["source"]))
        if vm is None:
            self.runner.fail("source VirtualMachine %s/%s not found; check source and namespace"
                             % (self.namespace, self.params["source"]), api_requests=self.runner.api_requests())
        return clone_source.online_spec(self.session, self.namespace, vm)

    @property
    def session(self) -> ApiSession:
        return self.runner.session

    def preflight_cluster(self, problems: Problems, plans: List[Dict[str, Any]], kv: KubeVirtInfo) -> None:
        if not kv.installed:
            problems.add("cluster", "KubeVirt", "is not installed (no KubeVirt CR found)")
            return
        if not kv.gate_enabled("Snapshot"):
            problems.add("cluster", "featureGates", "the Snapshot feature gate is off in the KubeVirt CR, and "
                         "VirtualMachineClone needs it: add 'Snapshot' to spec.configuration.developerConfiguration"
                         ".featureGates%s" % (" and remove it from disabledFeatureGates"
                                              if "Snapshot" in kv.disabled_gates else ""))
        refs = set()
        for plan in plans:
            for net in plan["opts"].get("networks") or []:
                if net.get("network") and net.get("state") != "absent":
                    refs.add(vmspec.split_reference(net["network"], self.namespace))
        nads = {}  # type: Dict[Tuple[str, str], Dict[str, Any]]
        for ns in sorted(set(r[0] for r in refs)):
            for nad in self.session.list(NAD.path(ns)):
                nads[(ns, nad["metadata"]["name"])] = nad
        for ns, name in sorted(refs - set(nads)):
            problems.add("networks", name, "NetworkAttachmentDefinition %s/%s not found; create it first or reference "
                         "another with '<namespace>/<name>'" % (ns, name))
        self.check_sriov(problems, plans, nads, kv)
        wanted = [(p["name"], iface, mac) for p in plans
                  for iface, mac in (p["opts"].get("new_mac_addresses") or {}).items()]
        if wanted:
            used = vmspec.macs_in_use(self.session.list(VM.path(self.namespace)),
                                      self.session.list(VMI.path(self.namespace)))
            seen = {}  # type: Dict[str, str]
            for target, iface, mac in wanted:
                mac_n = vmspec.normal_mac(clone_utils.restore_mac(mac))
                owner = used.get(mac_n)
                if owner and not owner.startswith("VirtualMachine %s/%s " % (self.namespace, target)):
                    problems.add("target %s" % target, "new_mac_addresses.%s" % iface,
                                 "%s is already used by %s" % (mac, owner))
                if mac_n in seen:
                    problems.add("target %s" % target, "new_mac_addresses.%s" % iface,
                                 "%s is also given to %s" % (mac, seen[mac_n]))
                seen[mac_n] = "%s %s" % (target, iface)

    def check_sriov(self, problems: Problems, plans: List[Dict[str, Any]],
                    nads: Dict[Tuple[str, str], Dict[str, Any]], kv: KubeVirtInfo) -> None:
        """An override that gives the clone an SR-IOV interface on a NAD gets the
        checks a hot-plug of one gets (HotplugEngine.check_sriov: the NAD's
        resourceName, a node whose status.allocatable offers it, and
        network-resources-injector while ExternalNetResourceInjection is on), so
        the clone is refused now instead of its VM failing to schedule later."""
        tools = None  # type: Optional[HotplugEngine]
        for plan in plans:
            if plan["method"] == "unchanged" or plan["expected"] is None:
                continue
            ifaces = dict((i.get("name"), i) for i in vmspec.interfaces_of(plan["expected"]))
            for index, net in enumerate(plan["opts"].get("networks") or []):
                nad = nads.get(vmspec.split_reference(net["network"], self.namespace)) if net.get("network") else None
                if nad is None or net.get("state") == "absent" or \
                        vmspec.binding_of(ifaces.get(net.get("interface")) or {}) != "sriov":
                    continue
                tools = tools or HotplugEngine({"namespace": self.namespace}, [], self.runner, self.module.warn)
                tools.check_sriov(problems, "target %s networks[%d] (interface %s)" % (
                    plan["name"], index, net.get("interface")), nad, kv)

    # -------------------------------------------------------------- write
    def execute(self, plan: Dict[str, Any]) -> Dict[str, Any]:
        result = {"name": plan["name"], "method": plan["method"], "phases": [], "patches": plan["patches"],
                  "pending": list(plan.get("steps") or ["clone"] + self.after_steps(plan))}
        start = time.monotonic()
        try:
            if plan["method"] == "complete":
                self.complete(plan, result)
            else:
                self.clone(plan, result)
            if not result.get("error") and not result["pending"]:
                result["vm"] = self.session.get(VM.path(self.namespace, plan["name"]))
        except ApiError as err:
            result["error"] = str(err)
        result["duration"] = round(time.monotonic() - start, 2)
        return result

    def clone(self, plan: Dict[str, Any], result: Dict[str, Any]) -> None:
        """Clone (or, for ``resume``, follow the clone an earlier run made), wait, then the after-clone
        steps; ``result["pending"]`` keeps what is not done."""
        if plan["method"] == "recreate":
            self.session.request("DELETE", VM.path(self.namespace, plan["name"]))
            result["_written"] = True
            self.wait_gone(plan["name"])
        if plan["method"] == "resume":
            result["clone"] = plan["clone"]
            if not self.params["wait"]:
                self.module.warn("target %s: VirtualMachineClone %s from an earlier run has not finished; not "
                                 "waiting for it (wait=false), pending: %s"
                                 % (plan["name"], plan["clone"], ", ".join(result["pending"])))
        else:
            created = self.create_clone(plan)
            result["_written"] = True
            result["clone"] = created["metadata"]["name"]
        if not self.params["wait"]:
            return
        self.wait_clone(plan, result)
        if result.get("error"):
            return
        result["_finished"] = True  # KubeVirt made the target while this run waited
        result["pending"].remove("clone")
        self.after_clone(plan, result)
        if result.get("error"):
            return
        self.done(result, clone_progress.POST_CLONE_PATCH)
        if self.params["cleanup"]:
            self.session.request("DELETE", plan["api"].path(self.namespace, result["clone"]))
            self.done(result, clone_progress.CLEANUP)
        if self.params["start"]:
            vm_action(self.session, self.namespace, plan["name"], "start")
            self.done(result, clone_progress.START)

    @staticmethod
    def done(result: Dict[str, Any], step: str) -> None:
        if step in result["pending"]:
            result["pending"].remove(step)

    def complete(self, plan: Dict[str, Any], result: Dict[str, Any]) -> None:
        """The after-clone steps missing on a target whose clone finished (an earlier run stopped after
        the clone: its wait timed out, it did not wait, or a step failed)."""
        if clone_progress.POST_CLONE_PATCH in plan["steps"]:
            self.session.request("PATCH", VM.path(self.namespace, plan["name"]), body=plan["post"],
                                 content_type=MERGE_PATCH)
            result["_written"] = True
            result["post_clone_patch"] = plan["post"]
            self.done(result, clone_progress.POST_CLONE_PATCH)
        if clone_progress.CLEANUP in plan["steps"]:
            for name in plan["finished"]:
                self.session.request("DELETE", plan["api"].path(self.namespace, name))
                result["_written"] = True
            self.done(result, clone_progress.CLEANUP)
        if clone_progress.START in plan["steps"]:
            vm_action(self.session, self.namespace, plan["name"], "start")
            result["_written"] = True
            self.done(result, clone_progress.START)

    def create_clone(self, plan: Dict[str, Any]) -> Dict[str, Any]:
        """POST the VirtualMachineClone (its name is generated).  When the
        answer is lost (reset, timeout) the POST may have landed: the clones
        of this target are read back before it is sent again, so one run
        never starts two clones of one target."""
        path = plan["api"].path(self.namespace)
        for attempt in range(1, MAX_CREATES):
            try:
                return self.session.request("POST", path, body=plan["manifest"])
            except ApiError as err:
                if err.status not in (None, 409):
                    raise
                if err.status == 409:  # a generated name already taken: a new one on the next try
                    self.session.conflict_pause(attempt)
                    continue
                landed = self.find_clone(plan)
                if landed is not None:
                    return landed
        return self.session.request("POST", path, body=plan["manifest"])

    def find_clone(self, plan: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """The newest unfinished VirtualMachineClone this collection made of
        ``plan``'s source into its target, or None."""
        spec = plan["manifest"]["spec"]
        mine = [c for c in self.session.list(plan["api"].path(self.namespace), label_selector=CLONE_SELECTOR)
                if (c.get("spec") or {}).get("target", {}).get("name") == spec["target"]["name"]
                and (c.get("spec") or {}).get("source", {}).get("name") == spec["source"]["name"]
                and ((c.get("status") or {}).get("phase") or "") not in ("Succeeded", "Failed")]
        mine.sort(key=lambda c: c["metadata"].get("creationTimestamp") or "")
        return mine[-1] if mine else None

    def after_clone(self, plan: Dict[str, Any], result: Dict[str, Any]) -> None:
        """What the clone could not carry: on KubeVirt < 1.6 every override (no
        ``patches`` field); labels for a source without labels (the restore
        webhook refuses a patch of /metadata/labels itself).  A failure deletes
        the target this run made, so nothing is left half-applied."""
        try:
            if not plan.get("server_patches") and plan["patches"]:
                self.session.request("PATCH", VM.path(self.namespace, plan["name"]), body=plan["patches"],
                                     content_type=JSON_PATCH)
            if plan["post"]:
                self.session.request("PATCH", VM.path(self.namespace, plan["name"]), body=plan["post"],
                                     content_type=MERGE_PATCH)
                result["_written"] = True
                result["post_clone_patch"] = plan["post"]
        except ApiError as err:
            result["error"] = "the clone succeeded but patching the target afterwards failed: %s" % err
            self.cleanup_failed(plan, result)

    def task_deadline(self) -> Deadline:
        """The one deadline of the task's waits (reads and sleeps are cut to it): ``wait_timeout``
        bounds the task's waiting as a whole, however many clones it runs, not each wait on its own."""
        if self._deadline is None:
            self._deadline = Deadline(self.params["wait_timeout"])
        return self._deadline

    def wait_gone(self, name: str) -> None:
        deadline = self.task_deadline()

        def gone() -> Optional[bool]:
            return True if self.session.get(VM.path(self.namespace, name)) is None else None
        if poll(gone, deadline, self.params["wait_sleep"], session=self.session) is None:
            raise ApiError("DELETE", name, None, message="the old target VM was not deleted in time")

    def wait_clone(self, plan: Dict[str, Any], result: Dict[str, Any]) -> None:
        deadline = self.task_deadline()
        poller = self.poller(plan["api"])
        last = {}

        def finished() -> Optional[Dict[str, Any]]:
            status = (poller.get(result["clone"]) or {}).get("status") or {}
            phase = last["phase"] = status.get("phase")
            if phase and (not result["phases"] or result["phases"][-1] != phase):
                result["phases"].append(phase)
            return status if phase in ("Succeeded", "Failed") else None

        status = poll(finished, deadline, self.params["wait_sleep"], session=self.session)
        if status is None:
            result["error"] = ("timed out after %ss; last phase %s; KubeVirt goes on with VirtualMachineClone %s: run "
                               "again to wait for it and finish (pending: %s)" % (
                                   self.params["wait_timeout"], last.get("phase"), result["clone"],
                                   ", ".join(result["pending"])))
            return
        result["status"] = status
        if status.get("phase") == "Failed":
            # KubeVirt puts the cause in the reason of the Ready condition (and sometimes a message)
            reasons = [": ".join(str(c[k]) for k in ("type", "reason", "message") if c.get(k))
                       for c in status.get("conditions") or [] if c.get("status") != "True"]
            result["error"] = "clone %s failed: %s" % (result["clone"], "; ".join(reasons) or "no reason given")
            self.cleanup_failed(plan, result)

    def cleanup_failed(self, plan: Dict[str, Any], result: Dict[str, Any]) -> None:
        """Delete a half-made target, only when this run created it."""
        if plan["method"] not in ("create", "recreate", "resume"):  # resume: the clone an earlier run made
            return
        target = self.session.get(VM.path(self.namespace, plan["name"]))
        if target is not None:
            self.session.request("DELETE", VM.path(self.namespace, plan["name"]))
            result["partial_target_deleted"] = True

    # --------------------------------------------------------------- main
    def run(self) -> None:
        if not self.params.get("source"):
            self.module.fail_json(msg="source is required (the VirtualMachine or VirtualMachineSnapshot to clone)")
        problems = Problems()
        targets = self.targets(problems)
        self.check(problems, targets)
        if problems:
            self.runner.fail_problems(problems)
        if self.params["state"] == "rendered" and self.params.get("source_definition") is not None:
            source = self.params["source_definition"]
            if isinstance(source, str):
                with open(source) as handle:
                    source = yaml.safe_load(handle)
            plans = [self.plan(problems, source, t, None, None) for t in targets]
            if problems:
                self.runner.fail_problems(problems)
            self.runner.exit(changed=False, clones=[self.rendered(p) for p in plans])
        try:
            source = self.read_source()
            kv = KubeVirtInfo.read(self.session)
            existing = dict((t["name"], self.session.get(VM.path(self.namespace, t["name"]))) for t in targets)
            if self.params["state"] == "absent":
                return self.absent(targets, existing)
            plans = [self.plan(problems, source, t, kv, existing[t["name"]]) for t in targets]
            self.preflight_cluster(problems, plans, kv)
            if self.params["state"] != "rendered" and not problems:
                self.progress(problems, plans, existing)
        except ApiError as err:
            self.runner.fail_api(err)
        if problems:
            self.runner.fail_problems(problems)
        if self.params["state"] == "rendered":
            self.runner.exit(changed=False, clones=[self.rendered(p) for p in plans])
        todo = [p for p in plans if p["method"] != "unchanged"]
        results = dict((p["name"], {"name": p["name"], "method": "unchanged", "vm": existing[p["name"]],
                                    "pending": []}) for p in plans if p["method"] == "unchanged")
        if self.module.check_mode:
            for p in todo:
                results[p["name"]] = {"name": p["name"], "method": p["method"], "vm": p["expected"],
                                      "clone": p.get("clone") or (p["manifest"] if p["method"] != "complete" else None),
                                      "patches": p["patches"],
                                      "pending": list(p.get("steps") or ["clone"] + self.after_steps(p))}
                if p["post"]:
                    results[p["name"]]["post_clone_patch"] = p["post"]
        elif todo:
            self.task_deadline()   # starts when the writes start, shared by every clone's waits
            for item in fan_out(self.execute, todo, self.params["max_concurrency"]):
                results[item["name"]] = item
        ordered = [self.describe(results[t["name"]], source) for t in targets]
        # what the server confirmed: a clone whose writes all failed changed nothing
        changed = bool(todo) and (self.module.check_mode or any(
            results[p["name"]].get("_written") or results[p["name"]].get("_finished") for p in todo))
        for item in ordered:
            finished = item.pop("_finished", False)
            if item.get("error") and not item.pop("_written", False) and not finished:
                item.update(planned=item["method"], method="failed")
            item.pop("_written", None)
        out = dict(changed=changed, clones=ordered)
        if self.module._diff and changed:  # pylint: disable=protected-access
            out["diff"] = {"before": dict((p["name"], existing[p["name"]]) for p in todo if existing[p["name"]]),
                           "after": dict((p["name"], p["expected"]) for p in todo)}
        failed = [r for r in ordered if r.get("error")]
        if failed:
            self.runner.fail("%d of %d clones failed: %s (succeeded: %s)" % (
                len(failed), len(ordered), "; ".join("%s: %s" % (r["name"], r["error"]) for r in failed),
                ", ".join(r["name"] for r in ordered if not r.get("error")) or "none"), **out)
        self.runner.exit(**out)

    @staticmethod
    def rendered(plan: Dict[str, Any]) -> Dict[str, Any]:
        out = {"name": plan["name"], "method": "rendered", "clone": plan["manifest"], "vm": plan["expected"],
               "patches": plan["patches"]}
        if plan["post"]:
            out["post_clone_patch"] = plan["post"]
        return out

    def describe(self, result: Dict[str, Any], source: Dict[str, Any]) -> Dict[str, Any]:
        vm = result.get("vm") or {}
        old = dict((i.get("name") or "", i.get("macAddress")) for i in vmspec.interfaces_of(source))
        new = dict((i.get("name") or "", i.get("macAddress")) for i in vmspec.interfaces_of(vm))
        result = dict(result)
        result["macs"] = dict((name, {"old": old.get(name), "new": new.get(name)}) for name in sorted(set(old) | set(new)))
        return result

    def absent(self, targets: List[Dict[str, Any]], existing: Dict[str, Optional[Dict[str, Any]]]) -> None:
        results, changed = [], False
        for target in targets:
            vm = existing[target["name"]]
            annotations = ((vm or {}).get("metadata") or {}).get("annotations") or {}
            if vm is None:
                results.append({"name": target["name"], "method": "unchanged"})
                continue
            if annotations.get(clone_utils.CLONED_FROM) != self.params["source"]:
                self.runner.fail("VirtualMachine %s/%s is not a clone of %s made by this collection; not deleting it"
                                 % (self.namespace, target["name"], self.params["source"]))
            changed = True
            if not self.module.check_mode:
                self.session.request("DELETE", VM.path(self.namespace, target["name"]))
            results.append({"name": target["name"], "method": "deleted"})
        self.runner.exit(changed=changed, clones=results)
