# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The hot-plug engine: preflight, guarded apply, wait and migrate, shared by
kubevirt_iface_hotplug (hotplug_runner) and kubevirt_vm_network
(vm_network_runner).  What to change is decided in hotplug.py (pure); this
file does the I/O.

* read: the VMs (one GET or one LIST by selector), the VMIs of the namespace,
  the NADs referenced, nodes and webhooks when SR-IOV needs them;
* preflight: NADs, SR-IOV resources, network-resources-injector, MACs in
  use, whether KubeVirt can migrate when the change needs it;
* apply: one test-guarded JSON Patch per VM (writes.guarded_patch),
  concurrently (waits.fan_out), re-planned from a fresh read on a lost race;
* wait: one LIST of VMIs (plus VMs / migrations when needed) per poll covers
  every VM (waits.poll), until the VMI reports each interface in the domain
  (``status.interfaces[].infoSource``) or gone; creates a migration when
  KubeVirt asks for one and ``migrate_if_required``; restarts on request.
"""

import copy
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

from ansible_collections.kubevirt_net.core.plugins.module_utils import hotplug, selectors, sriov_capacity, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo, mutating_webhooks
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import NAD, POD, VM, VMI, VMIM
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from ansible_collections.kubevirt_net.core.plugins.module_utils.waits import fan_out, poll
from ansible_collections.kubevirt_net.core.plugins.module_utils.writes import guarded_patch, vm_action

try:
    import jsonpatch
except ImportError:  # pragma: no cover - a requirement of kubernetes.core; sanity's import test runs without it
    jsonpatch = None

DYNAMIC_NETWORKS_SELECTOR = "app=dynamic-networks-controller"


def vm_key(vm: Dict[str, Any]) -> str:
    return vm["metadata"]["name"]


def _resource_of(nad: Optional[Dict[str, Any]]) -> Optional[str]:
    return (((nad or {}).get("metadata") or {}).get("annotations") or {}).get("k8s.v1.cni.cncf.io/resourceName")


def apply_ops(vm: Dict[str, Any], ops: List[Dict[str, Any]]) -> Dict[str, Any]:
    """``vm`` with the JSON Patch ``ops`` applied (for --diff and check mode)."""
    return jsonpatch.apply_patch(copy.deepcopy(vm), ops) if ops else vm


class HotplugEngine:
    """Hot-plug of ``requests`` (dicts with kubevirt_iface_hotplug's interface
    keys) into the VMs of ``params['namespace']``.  ``params``: the
    kubevirt_iface_hotplug option keys it reads (vm, vm_selector,
    restart_if_required, migrate_if_required, dynamic_networks,
    max_concurrency, wait_timeout, wait_sleep); ``connection``: anything with
    a ``session`` attribute (the session is made on first use); ``warn``:
    where warnings go."""

    def __init__(self, params: Dict[str, Any], requests: List[Dict[str, Any]], connection: Any,
                 warn: Callable[[str], Any]) -> None:
        self.params = params
        self.namespace = params["namespace"]
        self.requests = requests
        self.connection = connection
        self.warn = warn
        self.old_migrations: Set[str] = set()
        self._nodes: Optional[List[Dict[str, Any]]] = None
        # non-terminal pods of every namespace (SR-IOV capacity), once read (False: not readable)
        self._pods: Union[None, bool, List[Dict[str, Any]]] = None
        # the MutatingWebhookConfigurations once read (None: not readable)
        self._webhooks: Union[bool, None, List[Dict[str, Any]]] = False
        self._pending: Dict[str, List[Tuple[str, str, Any]]] = {}  # VM name -> [(interface, PLUG|UNPLUG, detail)] declared but not done
        self._needs: Dict[str, bool] = {}  # VM name -> whether KubeVirt needs a migration to finish
        self._dynamic: Optional[bool] = None  # the dynamic-networks controller, once looked up
        self._injector_warned = False

    # ------------------------------------------------------------ reading
    @property
    def session(self) -> ApiSession:
        return self.connection.session

    def read_vms(self) -> Optional[List[Dict[str, Any]]]:
        """The target VMs: the one named (None when it does not exist), or
        those ``vm_selector`` selects."""
        if self.params.get("vm"):
            vm = self.session.get(VM.path(self.namespace, self.params["vm"]))
            return None if vm is None else [vm]
        vms = self.session.list(VM.path(self.namespace), label_selector=self.selector_query())
        template = self.params.get("template_selector")
        if template is None:
            return vms
        wanted = selectors.parse("template_selector", template)
        return [vm for vm in vms if wanted.matches(vmspec.template_labels(vm))]

    def selector_query(self) -> str:
        """vm_selector in canonical labelSelector form ('' = every VM: vm_selector_all or a template_selector)."""
        return selectors.parse("vm_selector", self.params.get("vm_selector") or "").to_query()

    def read_vmis(self) -> Dict[str, Dict[str, Any]]:
        return dict((o["metadata"]["name"], o) for o in self.session.list(VMI.path(self.namespace)))

    def dynamic_networks(self) -> bool:
        setting = self.params["dynamic_networks"]
        if setting != "auto":
            return setting == "true"
        if self._dynamic is None:
            self._dynamic = bool(self.session.list("/apis/apps/v1/daemonsets", label_selector=DYNAMIC_NETWORKS_SELECTOR))
        return self._dynamic

    # ---------------------------------------------------------- preflight
    def preflight(self, problems: Problems, vms: List[Dict[str, Any]], vmis: Mapping[str, Optional[Dict[str, Any]]],
                  kv: KubeVirtInfo) -> Tuple[Dict[str, Tuple[hotplug.VmPlan, bool]], bool]:
        plugs = [r for r in self.requests if r.get("state") != "absent"]
        nads = {}
        for ns in sorted(set(vmspec.split_reference(r["network"], self.namespace)[0] for r in plugs)):
            for item in self.session.list(NAD.path(ns)):
                nads[(ns, item["metadata"]["name"])] = item
        for req in plugs:
            ns, name = vmspec.split_reference(req["network"], self.namespace)
            nad = nads.get((ns, name))
            where = "interface %s" % req["interface"]
            if nad is None:
                hint = (" To use a network from another namespace, write '<namespace>/%s'." % name
                        if ns == self.namespace else "")
                problems.add(where, "network", "NetworkAttachmentDefinition %r not found in namespace %r (searched: "
                             "%s/%s).%s" % (name, ns, ns, name, hint))
            elif req.get("binding") == "sriov":
                self.check_sriov(problems, where, nad)
        if any(r.get("mac_address") for r in plugs):
            self.check_macs(problems, vms, vmis)
        plans = {}
        dynamic = None
        sriov_nads = dict((r["interface"], nads.get(vmspec.split_reference(r["network"], self.namespace)))
                          for r in plugs if r.get("binding") == "sriov")
        sriov_plug = any(r.get("binding") == "sriov" and r.get("state") != "absent" for r in self.requests)
        for vm in vms:
            name = vm_key(vm)
            vmi = vmis.get(name)
            running = vmi is not None and (vmi.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            plan = hotplug.plan_vm(problems, vm, self.requests, running)
            plans[name] = (plan, running)
            new_vfs = [iface for iface, action, _detail in plan.changes if action == hotplug.PLUG and iface in sriov_nads]
            for iface in new_vfs:   # only a new VF needs the injector
                self.check_injector(problems, "interface %s" % iface, sriov_nads[iface], kv)
            if running and new_vfs and vmi is not None:  # running: vmi is not None
                self.check_migration_target(problems, vm, vmi, nads, sriov_nads, new_vfs)
            self._pending[name] = self.pending_of(vm, vmi, plan) if running else []
            actions = [c[1] for c in plan.changes if c[1] in (hotplug.PLUG, hotplug.SWAP, hotplug.UNPLUG)] + [
                p[1] for p in self._pending[name]]
            if not (running and actions):
                continue
            if dynamic is None:
                dynamic = self.dynamic_networks()
            self._needs[name] = hotplug.needs_migration(actions, dynamic, sriov_plug)
            if self._needs[name]:
                self.check_migratable(problems, vm, vmi, kv)
        return plans, bool(dynamic)

    def expect(self, problems: Problems, vm: Dict[str, Any], vmi: Optional[Dict[str, Any]], kv: KubeVirtInfo,
               pending: Sequence[Tuple[str, str, str]]) -> None:
        """Also wait for ``pending`` [(interface, PLUG|UNPLUG, detail)] on the
        running ``vm`` (kubevirt_vm_network: hot-plugs its template declares
        that the VMI has not finished), with the same migration preflight."""
        name = vm_key(vm)
        self._pending[name] = list(self._pending.get(name) or []) + list(pending)
        if not pending:
            return
        sriov = any(a == hotplug.PLUG and vmspec.binding_of(vmspec.find(vmspec.interfaces_of(vm), n)[1] or {}) == "sriov"
                    for n, a, _d in pending)
        needs = hotplug.needs_migration([a for _n, a, _d in pending], self.dynamic_networks(), sriov)
        if needs and not self._needs.get(name):
            self.check_migratable(problems, vm, vmi, kv)
        self._needs[name] = bool(self._needs.get(name) or needs)
        new_vfs = [n for n, a, _d in pending if a == hotplug.PLUG and vmspec.binding_of(
            vmspec.find(vmspec.interfaces_of(vm), n)[1] or {}) == "sriov"]
        if new_vfs and vmi is not None:
            nads, sriov_nads = {}, {}  # type: Dict[Tuple[str, str], Dict[str, Any]], Dict[str, Optional[Dict[str, Any]]]
            networks = dict((n.get("name"), n) for n in vmspec.networks_of(vm))
            for iface in new_vfs:
                reference = ((networks.get(iface) or {}).get("multus") or {}).get("networkName")
                if not reference:
                    continue
                key = vmspec.split_reference(reference, self.namespace)
                if not any(k[0] == key[0] for k in nads):
                    for nad in self.session.list(NAD.path(key[0])):
                        nads[(key[0], nad["metadata"]["name"])] = nad
                sriov_nads[iface] = nads.get(key)
            self.check_migration_target(problems, vm, vmi, nads, sriov_nads, new_vfs)

    def pending_of(self, vm: Dict[str, Any], vmi: Optional[Dict[str, Any]], plan: hotplug.VmPlan) -> List[Tuple[str, str, str]]:
        """Requested interfaces the template already has as asked (no write)
        whose hot-plug or unplug the VMI has not finished: "already declared"
        is not "done" (a re-run after a timed-out wait or a lost reply)."""
        states = dict((r["interface"], r.get("state") or "present") for r in self.requests)
        out = []
        for name, action, _detail in plan.changes:
            if action != hotplug.UNCHANGED:
                continue
            left = hotplug.still_pending(vm, vmi, name, states.get(name, "present"))
            if left:
                out.append((name, left, hotplug.pending_detail(vmi, name, left)))
        return out

    def check_sriov(self, problems: Problems, where: str, nad: Dict[str, Any], kv: Optional[KubeVirtInfo] = None) -> None:
        resource = ((nad.get("metadata") or {}).get("annotations") or {}).get("k8s.v1.cni.cncf.io/resourceName")
        if not resource:
            problems.add(where, "network", "NetworkAttachmentDefinition %s/%s has no k8s.v1.cni.cncf.io/resourceName "
                         "annotation, so no VF would be requested: create it with kubevirt_network type=sriov"
                         % (nad["metadata"]["namespace"], nad["metadata"]["name"]))
            return
        if self._nodes is None:
            self._nodes = self.session.list("/api/v1/nodes")
        offered = [n["metadata"]["name"] for n in self._nodes
                   if str(((n.get("status") or {}).get("allocatable") or {}).get(resource, "0")) not in ("0", "")]
        if not offered:
            problems.add(where, "network", "no node offers the SR-IOV resource %r (status.allocatable); prepare the "
                         "hosts (kubevirt_net.core.sriov_host) and the device plugin first" % resource)
        self.check_injector(problems, where, nad, kv)

    def check_migration_target(self, problems: Problems, vm: Dict[str, Any], vmi: Dict[str, Any],
                               nads: Dict[Tuple[str, str], Dict[str, Any]],
                               sriov_nads: Mapping[str, Optional[Dict[str, Any]]], new_vfs: List[str]) -> None:
        """A new VF on a running VM arrives through a live migration whose target
        pod requests every SR-IOV resource of the VM on another node
        (sriov_capacity): refuse before writing when no node can take it, so the
        hot-plug does not wait for a pod kube-scheduler can never place.  Not
        when a restart is allowed: a restarted VM's new pod is scheduled afresh
        (no anti-affinity to its old node), and the module restarts it instead."""
        if self.params.get("restart_if_required") or self.params.get("restart"):
            return
        needs = {}  # type: Dict[str, int]
        for iface in vmspec.interfaces_of(vm):
            if vmspec.binding_of(iface) != "sriov" or iface.get("name") in new_vfs:
                continue
            network = dict((n.get("name"), n) for n in vmspec.networks_of(vm)).get(iface.get("name")) or {}
            reference = (network.get("multus") or {}).get("networkName")
            key = vmspec.split_reference(reference, self.namespace) if reference else None
            if key and key not in nads:
                for nad in self.session.list(NAD.path(key[0])):
                    nads[(key[0], nad["metadata"]["name"])] = nad
            resource = _resource_of(nads.get(key)) if key else None
            if resource:
                needs[resource] = needs.get(resource, 0) + 1
        for vf in new_vfs:
            resource = _resource_of(sriov_nads.get(vf))
            if resource:
                needs[resource] = needs.get(resource, 0) + 1
        if not needs:
            return
        if self._pods is None:
            try:
                self._pods = self.session.list(POD.path(), field_selector="status.phase!=Succeeded,status.phase!=Failed")
            except ApiError as err:
                if err.status not in (401, 403):
                    raise
                self._pods = False
                self.warn("cannot list pods in all namespaces (%s), so whether a node has a free VF for the migration "
                          "target of an SR-IOV hot-plug was not checked" % (err.reason or err.status))
        if self._pods is False:
            return
        if self._pods is True:
            raise AssertionError("never True: the pods, or False when they cannot be listed")
        if self._nodes is None:
            self._nodes = self.session.list("/api/v1/nodes")
        fits, why = sriov_capacity.migration_targets(self._nodes, self._pods, vmi, needs)
        if not fits:
            problems.add("VirtualMachine %s/%s" % (self.namespace, vm_key(vm)), "interfaces",
                         "plugging %s needs a live migration whose target pod requests %s on another node, and no "
                         "node can take it (%s): free or add VFs on another node, or plug the interface while the VM "
                         "is stopped" % (", ".join(new_vfs), ", ".join("%d x %s" % (n, r) for r, n in
                                                                       sorted(needs.items())), why))

    def target_pod_cause(self, name: str) -> Optional[str]:
        """kube-scheduler's reason for a VM's Pending migration target pod, or None."""
        try:
            vmi = self.session.get(VMI.path(self.namespace, name))
            if not vmi:
                return None
            pods = self.session.list(POD.path(self.namespace), label_selector="%s=%s" % (
                sriov_capacity.CREATED_BY_LABEL, vmi["metadata"].get("uid")))
        except ApiError:
            return None
        return sriov_capacity.target_pod_unschedulable(pods, vmi)

    def check_injector(self, problems: Problems, where: str, nad: Optional[Dict[str, Any]],
                       kv: Optional[KubeVirtInfo]) -> None:
        """A new SR-IOV interface: with ExternalNetResourceInjection on,
        network-resources-injector must be deployed (hotplug.resources_injector_present)."""
        resource = ((((nad or {}).get("metadata") or {}).get("annotations") or {}).get(
            "k8s.v1.cni.cncf.io/resourceName"))
        if resource and kv is not None and kv.gate_enabled("ExternalNetResourceInjection") and \
                not any(p["object"] == where and "network-resources-injector" in p["message"] for p in problems.items):
            present = self.injector_present()
            if present is False:
                problems.add(where, "network", "KubeVirt's ExternalNetResourceInjection feature gate is on (Beta, on by "
                             "default since 1.9), so virt-controller does not request %r for the virt-launcher or "
                             "migration-target pod; network-resources-injector must, and no %s "
                             "MutatingWebhookConfiguration exists: deploy it (the SR-IOV network operator does), or "
                             "add ExternalNetResourceInjection to the KubeVirt CR's "
                             "spec.configuration.developerConfiguration.disabledFeatureGates" % (
                                 resource, hotplug.NRI_WEBHOOK))
            elif present is None and not self._injector_warned:
                self._injector_warned = True
                self.warn("could not list MutatingWebhookConfigurations to check that network-resources-injector "
                          "is deployed; with ExternalNetResourceInjection on (KubeVirt 1.9 default) the SR-IOV "
                          "resource %r is requested only by it" % resource)

    def injector_present(self) -> Optional[bool]:
        """hotplug.resources_injector_present on the cluster's webhooks (one
        LIST per task); None when they cannot be read (RBAC)."""
        if self._webhooks is False:
            self._webhooks = mutating_webhooks(self.session)
        if self._webhooks is True:
            raise AssertionError("never True: False until read, then the list or None")
        return None if self._webhooks is None else hotplug.resources_injector_present(self._webhooks)

    def check_macs(self, problems: Problems, vms: List[Dict[str, Any]],
                   vmis: Mapping[str, Optional[Dict[str, Any]]]) -> None:
        unfiltered = self.params.get("vm_selector") is None and self.params.get("template_selector") is None
        all_vms = vms if unfiltered and len(vms) > 1 else self.session.list(VM.path(self.namespace))
        used = vmspec.macs_in_use(all_vms, [v for v in vmis.values() if v is not None])
        for req in self.requests:
            mac = req.get("mac_address")
            if mac and req.get("state") != "absent":
                user = used.get(vmspec.normal_mac(mac))
                if user and not user.endswith(" interface %s" % req["interface"]):
                    problems.add("interface %s" % req["interface"], "mac_address",
                                 "%s is already used by %s; choose another MAC" % (mac, user))

    def check_migratable(self, problems: Problems, vm: Dict[str, Any], vmi: Optional[Dict[str, Any]],
                         kv: KubeVirtInfo) -> None:
        """The change needs a migration (hotplug.needs_migration): refuse
        before writing when KubeVirt will not migrate the VM (it would wait
        for ever) or would evict it instead (hotplug.workload_update_outcome)."""
        where = "VirtualMachine %s/%s" % (self.namespace, vm_key(vm))
        cond = vmspec.condition(vmi, "LiveMigratable")
        outcome, why = hotplug.workload_update_outcome(kv, vmi)
        if cond is not None and cond.get("status") != "True":
            problems.add(where, "interfaces", "the VMI is not live-migratable (%s: %s), so the interface cannot be "
                         "attached or detached without a restart%s" % (
                             cond.get("reason"), cond.get("message"),
                             " (and %s)" % why if outcome == hotplug.EVICT else ""))
            return
        methods = sorted(set(kv.workload_update_methods) | set(["LiveMigrate"]))
        fix = ("add LiveMigrate to spec.workloadUpdateStrategy.workloadUpdateMethods of the KubeVirt CR (kubectl patch "
               "kubevirt -n %s %s --type=merge -p '{\"spec\":{\"workloadUpdateStrategy\":{\"workloadUpdateMethods\":"
               "[%s]}}}')" % (kv.cr.get("metadata", {}).get("namespace", "kubevirt"),
                              kv.cr.get("metadata", {}).get("name", "kubevirt"),
                              ",".join('\"%s\"' % m for m in methods)))
        if outcome == hotplug.EVICT:
            # an eviction restarts the guest: accepted by whoever accepts a restart for this change
            # (kubevirt_iface_hotplug's restart_if_required, kubevirt_vm_network's restart)
            accepted_by = "restart_if_required" if self.params["restart_if_required"] else (
                "restart" if self.params.get("restart") else None)
            if accepted_by:
                self.warn("%s: this change needs a live migration and %s; %s=true accepts "
                          "that" % (where, why, accepted_by))
                return
            problems.add(where, "interfaces", "this change needs a live migration (no dynamic-networks controller, "
                         "SR-IOV, or a network swap) and %s: the change would arrive with a restart, not live "
                         "(migrate_if_required does not help: the eviction races the migration). %s, or accept the eviction "
                         "(kubevirt_iface_hotplug: restart_if_required=true; kubevirt_vm_network: restart=true)"
                         % (why, fix[0].upper() + fix[1:]))
        elif outcome == hotplug.STUCK and not self.params["migrate_if_required"]:
            problems.add(where, "interfaces", "this change needs a live migration (no dynamic-networks controller, "
                         "SR-IOV, or a network swap) and KubeVirt will not start one (%s): %s, or set "
                         "migrate_if_required=true" % (why, fix))

    # ------------------------------------------------------------ writing
    def patch_vm(self, vm: Dict[str, Any], plan: hotplug.VmPlan,
                 running: bool) -> Tuple[Dict[str, Any], hotplug.VmPlan, bool]:
        """Apply one VM's patch (writes.guarded_patch); on a lost race read
        again and re-plan.  Returns (VM after, plan applied, written): the plan
        is the one whose patch the server confirmed (also after a lost answer
        that a read-back shows landed), or an unchanged one when nothing of
        this run was written."""
        built = []  # every plan built, in order
        path = VM.path(self.namespace, vm_key(vm))

        def build(obj: Dict[str, Any]) -> List[Dict[str, Any]]:
            if obj is vm:
                current = plan
            else:
                problems = Problems()
                current = hotplug.plan_vm(problems, obj, self.requests, running)
                if problems:
                    raise ApiError("PATCH", path, 409, message=problems.render())
            built.append(current)
            return current.ops if current.changed else []

        def refused(fresh: Dict[str, Any], sent_against: Dict[str, Any]) -> bool:
            # not a lost race: the server refused the change itself
            return vmspec.interfaces_of(fresh) == vmspec.interfaces_of(sent_against) and \
                vmspec.networks_of(fresh) == vmspec.networks_of(sent_against)

        if not plan.changed:
            return vm, plan, False
        done = guarded_patch(self.session, path, vm, build, "VirtualMachine", refused=refused)
        if done.lost_answer:
            # our write landed but its answer was lost: report (and wait for) the plan we sent
            sent = next((p for p in reversed(built) if p.changed and p.ops == done.ops), built[-1])
            return done.obj, sent, True
        return done.obj, built[-1], done.written

    # ------------------------------------------------------------ waiting
    def wait(self, pending: Dict[str, Dict[str, Any]], deadline: Optional[Deadline] = None) -> None:
        """pending: name -> result dict of running VMs that changed.  ``deadline``
        (a ``Deadline``; wait_timeout from now by default): reads and sleeps are cut to it."""
        deadline = deadline or Deadline(self.params["wait_timeout"])
        migrations_wanted = self.params["migrate_if_required"]
        failed = []

        def probe() -> Optional[bool]:
            try:
                with self.session.within(deadline):  # the reads only: a restart or a migration is not cut
                    vmis = self.read_vmis()
                    if self.params.get("vm"):
                        vms = dict((vm_key(v), v) for v in [self.session.get(VM.path(self.namespace,
                                                                                     self.params["vm"]))] if v)
                    else:
                        vms = dict((vm_key(v), v) for v in self.read_vms() or [])  # a list: no params["vm"]
                    migrations = self.session.list(VMIM.path(self.namespace)) if any(
                        r.get("needs_migration") for r in pending.values()) or migrations_wanted else []
            except ApiError as err:  # a failed read while waiting is retried until the deadline
                if deadline.expired() or not err.sent:
                    failed.append(err)
                    return True
                return None
            for name in list(pending):
                if self.progress(pending[name], vms.get(name), vmis.get(name), migrations):
                    pending[name]["duration"] = round(time.monotonic() - pending[name]["_start"], 2)
                    del pending[name]
            return True if not pending else None

        if not pending:
            return
        poll(probe, deadline, self.params["wait_sleep"])
        for result in pending.values():
            if failed and failed[-1].sent:
                result["error"] = "timed out while the API failed: %s" % failed[-1]
            else:
                result["error"] = "timed out after %ss waiting for %s" % (
                    self.params["wait_timeout"], result.get("waiting_for") or "the change")
            if result.get("needs_migration"):
                cause = self.target_pod_cause(result.get("name") or "")
                if cause:
                    result["error"] += "; the cause: " + cause

    def progress(self, result: Dict[str, Any], vm: Optional[Dict[str, Any]], vmi: Optional[Dict[str, Any]],
                 migrations: List[Dict[str, Any]]) -> bool:
        """Advance one VM; True when it is done (or failed)."""
        if vm is None:
            result["error"] = "the VirtualMachine disappeared while waiting"
            return True
        # only a RestartRequired that transitioned after this write is this change's (an older one is a
        # finding, reported by new_result); in KubeVirt 1.9 no plug/unplug/swap sets it at all
        restart = hotplug.restart_newly_set(result["_vm"], vm)
        if restart and not result.get("restarted"):
            result.update(restart_required=True, restart_message=restart.get("message"))
            if not self.params["restart_if_required"]:
                result["method"] = "restart_required"
                return True
            vm_action(self.session, self.namespace, vm_key(vm), "restart")
            result["restarted"] = True
            return False
        own = [m for m in migrations if (m.get("spec") or {}).get("vmiName") == vm_key(vm)
               and m["metadata"]["name"] not in self.old_migrations]
        if own:
            newest = sorted(own, key=lambda m: m["metadata"].get("creationTimestamp", ""))[-1]
            phase = (newest.get("status") or {}).get("phase")
            result["migration"] = newest["metadata"]["name"]
            result["method"] = "migration"
            if phase == "Failed":
                result["error"] = "migration %s failed" % newest["metadata"]["name"]
                return True
        required = vmspec.condition(vmi or {}, "MigrationRequired")
        if required and required.get("status") == "True" and not own and self.params["migrate_if_required"] \
                and not result.get("migration_created"):
            created = self.session.request("POST", VMIM.path(self.namespace), body={
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
                "metadata": {"generateName": "kubevirt-net-hotplug-", "namespace": self.namespace},
                "spec": {"vmiName": vm_key(vm)}})
            result.update(migration_created=True, migration=created["metadata"]["name"], method="migration")
            return False
        for name, action, _detail in list(result["_changes"]) + list(result.get("_pending") or []):
            if action in (hotplug.PLUG, hotplug.SWAP) and not hotplug.plug_done(vmi, name):
                result["waiting_for"] = "interface %s in the domain (infoSource: %s)" % (
                    name, (hotplug.iface_status(vmi, name) or {}).get("infoSource") or "not reported")
                return False
            if action == hotplug.UNPLUG and not hotplug.unplug_done(vm, vmi, name):
                result["waiting_for"] = "interface %s removed from the VM and VMI" % name
                return False
        for entry in result["interfaces"]:
            entry["status"] = hotplug.iface_status(vmi, entry["name"])
        result["pending"], result["_pending"] = [], []
        return True

    def refresh_pending(self, results: List[Dict[str, Any]], vmis: Mapping[str, Optional[Dict[str, Any]]]) -> None:
        """A patch that found its change already made (a lost reply, another
        writer) leaves nothing written: what the VMI still lacks is pending."""
        for result in results:
            if result["running"] and not result["_plan"].changed and result.get("_after") is not None:
                pending = self.pending_of(result["_after"], vmis.get(result["name"]), result["_plan"])
                result.update(_pending=pending, pending=[p[0] for p in pending])

    def new_result(self, vm: Dict[str, Any], plan: hotplug.VmPlan, running: bool, dynamic: bool,  # pylint: disable=unused-argument
                   start: float) -> Dict[str, Any]:
        """The per-VM result (and working state) that apply() and wait() use.
        ``pending``: interfaces already declared whose hot-plug KubeVirt has not
        finished; ``findings``: what the module saw but did not cause (an older
        RestartRequired)."""
        pending = list(self._pending.get(vm_key(vm)) or [])
        older = hotplug.restart_condition(vm) if running else None
        return {
            "name": vm_key(vm), "namespace": self.namespace, "running": running,
            "method": ("live" if running else "offline") if plan.changed else "unchanged",
            "interfaces": [{"name": n, "action": a, "detail": d} for n, a, d in plan.changes],
            "pending": [p[0] for p in pending], "_pending": pending,
            "findings": [hotplug.restart_finding(vm, older)] if older else [],
            "restart_required": False, "_vm": vm, "_plan": plan, "_changes": plan.changes,
            "_start": start,
            "needs_migration": bool(running and (plan.changed or pending) and self._needs.get(vm_key(vm))),
        }

    def remember_migrations(self, results: List[Dict[str, Any]]) -> None:
        """Before patching: migrations that exist already are not ours to follow."""
        if self.params["wait"] and (any(r["needs_migration"] for r in results) or self.params["migrate_if_required"]):
            self.old_migrations = set(m["metadata"]["name"] for m in self.session.list(VMIM.path(self.namespace)))

    def apply(self, results: List[Dict[str, Any]]) -> None:
        """Patch the VMs whose plan changes something, concurrently (at most
        max_concurrency at a time).  A result's ``_written`` says whether the
        server confirmed a write of this run."""
        def one(result: Dict[str, Any]) -> None:
            try:
                vm, plan, written = self.patch_vm(result["_vm"], result["_plan"], result["running"])
                result.update(_after=vm, _plan=plan, _changes=plan.changes, _written=written)
                result["interfaces"] = [{"name": n, "action": a, "detail": d} for n, a, d in plan.changes]
                if not written:
                    result["method"] = "unchanged"
            except ApiError as err:
                result.update(error=str(err), method="failed", _written=False)
        fan_out(one, [r for r in results if r["_plan"].changed], self.params["max_concurrency"])
