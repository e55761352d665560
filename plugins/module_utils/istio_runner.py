# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_vm_istio module's flow: options (no request yet) -> API
groups, KubeVirt CR, namespaces -> per-namespace reads (VMs, VMIs, launcher
pods, Services, PeerAuthentications, DestinationRules, the istio-cni NAD),
concurrently -> every refusal -> plan -> (check mode: stop) -> concurrent,
conflict-safe writes of the differences only -> optional rolling restart in
bounded batches -> the per-VM verify report."""


from typing import Any, Dict, List, NoReturn, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import (
    istio, istio_objects, istio_options, istio_verify, istio_vms)
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.istio_cluster import (
    CLUSTER_PAGE, LAUNCHER_SELECTOR, OwnedExecutor, Reader, RollingRestart, api_group, detect_istio_version,
    pick_version)
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo, mutating_webhooks
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run
from ansible_collections.kubevirt_net.core.plugins.module_utils.targets import resolve_targets
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import (
    CREATE, DELETE, UNCHANGED, UPDATE, Action, Executor, Kind, key_of, plan)
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    ENDPOINTS, NAD, NAMESPACE, POD, SERVICE, VM, VMI, ResourceType)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


AUTO_CLUSTER_LIST_ABOVE = 10
OWNED_SELECTOR = "%s=%s" % (istio.COMPONENT_LABEL, istio.COMPONENT)
DEFERRED, RESTARTED = "deferred", "restarted"


class Cluster:
    """What one run learnt about the cluster before reading namespaces."""

    def __init__(self, version: Tuple[int, int]) -> None:
        self.version = version
        self.server = "%d.%d" % version
        self.pa_version: Optional[str] = None      # security.istio.io version (PeerAuthentication)
        self.dr_version: Optional[str] = None      # networking.istio.io version (DestinationRule)
        self.multus = False
        self.kubevirt: Optional[KubeVirtInfo] = None
        self.istio_version: Optional[Tuple[int, ...]] = None
        self.default_binding = "bridge"

    @property
    def pa_resource(self) -> Optional[ResourceType]:
        return istio.peer_authentication(self.pa_version) if self.pa_version else None

    @property
    def dr_resource(self) -> Optional[ResourceType]:
        return istio.destination_rule(self.dr_version) if self.dr_version else None


class Plans:
    """What the writes phase carries out, and what the later phases need of it."""

    def __init__(self) -> None:
        self.owned: List[Tuple[istio_objects.OwnedKind, List[Action]]] = []
        self.ns_kind = istio.NamespaceKind()
        self.ns_desired: List[Dict[str, Any]] = []
        self.ns_actions: List[Action] = []
        self.vm_kind = istio_vms.VmKind()
        self.vm_actions: List[Action] = []
        self.deferred: List[Tuple[str, str]] = []  # running VMs left alone by restart=stopped_only


# ---------------------------------------------------------------- the run
class IstioRun:
    """One module run, phase by phase: cluster -> namespaces -> reads ->
    selection and refusals -> plan -> writes -> restarts -> report."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.params = module.params
        self.runner = Run(module)
        self.problems = Problems()
        self.findings: List[Dict[str, Any]] = []
        self.config: istio_options.Config       # set by run(), which checks the options before any phase
        self.present = True
        self.cluster: Cluster                   # set by _run(), which reads the cluster before the other phases
        self.namespaces: Dict[str, Dict[str, Any]] = {}        # name -> Namespace object
        self.targets: List[str] = []
        self.scope: Optional[str] = None
        self.data: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}  # job -> {namespace: [objects]}
        self.selected: Dict[str, List[istio_vms.VmCheck]] = {}      # namespace -> [VmCheck]
        self.running: Dict[Tuple[str, str], Dict[str, Any]] = {}    # (namespace, name) -> VMI

    # ------------------------------------------------------------ rendered
    def rendered(self) -> None:
        config = self.config
        objects = []
        for namespace in config.explicit:
            desired = istio.namespace_desired(namespace, {"metadata": {"name": namespace}}, config)
            if desired is not None:
                objects.append({"kind": "Namespace", "namespace": None, "name": namespace,
                                "method": "rendered", "resource": desired})
            if config.mtls != "unset":
                objects.append(self._rendered(istio_objects.peer_authentication_manifest(
                    namespace, config.mtls, config.mtls_policy_name)))
            if config.destination_rule:
                objects.append(self._rendered(istio_objects.destination_rule_manifest(namespace,
                                                                                      config.cluster_domain)))
            if config.cni_nad:
                objects.append(self._rendered(istio_objects.cni_nad_manifest(namespace)))
            for decl in config.services:
                if decl.namespace in (None, namespace):
                    objects.append(self._rendered(istio_objects.service_manifest(decl, namespace)))
        vm_patch = {"spec": {"template": {"metadata": {"annotations": {istio.INJECT: "true"}}}}}
        self._warn()
        self.runner.exit(changed=False, objects=objects, vm_patch=vm_patch, findings=self.findings, vms=[],
                         namespaces={})

    @staticmethod
    def _rendered(obj: Dict[str, Any]) -> Dict[str, Any]:
        return {"kind": obj["kind"], "namespace": obj["metadata"]["namespace"], "name": obj["metadata"]["name"],
                "method": "rendered", "resource": obj}

    # ----------------------------------------------------------------- run
    def run(self) -> None:
        self.config = config = istio_options.check_params(self.params, self.problems)
        if self.problems:
            self.runner.fail(self.problems.render(), problems=self.problems.items, findings=self.findings)
        if config.state == "rendered":
            self.rendered()
        try:
            self._run()
        except ApiError as err:
            self.runner.fail_api(err, findings=self.findings)

    def _fail_on_problems(self, **extra: Any) -> None:
        if self.problems:
            self._warn()
            self.runner.fail(self.problems.render(), problems=self.problems.items, findings=self.findings, **extra)

    def _run(self) -> None:
        session = self.runner.session
        self.present = self.config.state == "present"
        self.cluster = self._read_cluster(session)
        self._read_namespaces(session)
        self._fail_on_problems(server_version=self.cluster.server)
        self._read_objects(session)
        self._select()
        self._fail_on_problems(server_version=self.cluster.server)
        plans = self._plan()
        results, ns_results, vm_results = self._write(session, plans)
        vm_after = self._vms_after(plans, vm_results)
        ns_labels = self._labels_after(plans, ns_results)
        pods = dict((ns, self.data["pods"][ns]) for ns in self.targets)
        restart_needed = self._restart_needed(plans, vm_after, ns_labels, pods)
        restarted: List[Tuple[str, str]] = []
        restart_errors: Dict[Tuple[str, str], str] = {}
        if self.config.restart == "rolling" and restart_needed and not any(r.get("error") for _t, _k, r in results):
            if self.module.check_mode:
                restarted = list(restart_needed)
            else:
                restarted, restart_errors, fresh = RollingRestart(
                    session, self.config.batch_size, self.params["max_concurrency"], self.params["restart_timeout"],
                    self.params["restart_poll"]).run(restart_needed, self.running, ns_labels)
                self.running.update(fresh["vmis"])
                pods.update(fresh["pods"])
        self._report(plans, results, vm_results, vm_after, ns_labels, pods,
                     (restart_needed, restarted, restart_errors))

    # --------------------------------------------------- phase: the cluster
    def _read_cluster(self, session: ApiSession) -> Cluster:
        """The Istio APIs, Multus, KubeVirt and the KubeVirt/Istio matrix; refusals go to self.problems."""
        cluster = Cluster(session.server_version())
        present = self.present
        cluster.pa_version = pick_version(api_group(session, "security.istio.io"))
        if present and cluster.pa_version is None:
            self.problems.add("cluster", "security.istio.io",
                              "the Istio CRDs are not installed (no PeerAuthentication API): install Istio with its "
                              "CNI plugin first (istioctl install --set components.cni.enabled=true)")
        if present and cluster.pa_version is not None:
            self._injector_preflight(session)
        if self.config.destination_rule or not present:
            cluster.dr_version = pick_version(api_group(session, "networking.istio.io"))
            if present and cluster.dr_version is None:
                self.problems.add("cluster", "networking.istio.io", "destination_rule=true needs Istio's "
                                                                    "DestinationRule API, which is not installed")
        if self.config.cni_nad or not present:
            cluster.multus = bool(api_group(session, "k8s.cni.cncf.io"))
            if self.config.cni_nad and present and not cluster.multus:
                self.findings.append({"kind": "no-multus", "message": "cni_nad=true but Multus is not installed (no "
                                      "NetworkAttachmentDefinition API): no istio-cni NAD is needed or created"})
        cluster.kubevirt = KubeVirtInfo.read(session)
        if present and not cluster.kubevirt.installed:
            self.problems.add("cluster", "KubeVirt", "is not installed (no KubeVirt CR)")
        self._check_matrix(session, cluster)
        cluster.default_binding = (cluster.kubevirt.configuration.get("network") or {}).get(
            "defaultNetworkInterface") or "bridge"
        return cluster

    def _check_matrix(self, session: ApiSession, cluster: Cluster) -> None:
        """KubeVirt older than 1.7 with an Istio whose CNI plugin drops its annotation (istio.matrix_problem)."""
        kubevirt = cluster.kubevirt
        if kubevirt is None:
            raise AssertionError("_read_cluster reads the KubeVirt CR before the matrix")
        cluster.istio_version = istio_version = self.config.istio_version
        if not (self.present and kubevirt.installed and not kubevirt.at_least(*istio.BROKEN_KUBEVIRT_BELOW)):
            return
        if istio_version is None:
            cluster.istio_version = istio_version = detect_istio_version(session, self.params["istio_namespace"])
        if istio_version is None:
            self.findings.append({"kind": "istio-version-unknown", "message": "KubeVirt %s is older than 1.7 and "
                                  "the Istio version is unknown (no istiod Deployment in %s; set istio_version): "
                                  "Istio 1.25.0-1.26.4 and 1.27.0-1.27.1 do not work with it"
                                  % (kubevirt.version_text, self.params["istio_namespace"])})
        problem = istio.matrix_problem(kubevirt.version, istio_version)
        if problem and istio_version is not None:  # matrix_problem needs both versions
            self.problems.add("cluster", "KubeVirt %s / Istio %s" % (kubevirt.version_text, ".".join(
                str(p) for p in istio_version)), problem)

    def _injector_preflight(self, session: ApiSession) -> None:
        """Istio's CRDs without istiod's sidecar injector: enrolled VMs would restart without a sidecar."""
        configurations = mutating_webhooks(session)
        injectors = istio.sidecar_injectors(configurations)
        revision = self.params.get("revision")
        if injectors is None:
            self.findings.append({"kind": "injector-unknown", "message": "cannot check for Istio's sidecar injector: "
                                  "this identity may not list mutatingwebhookconfigurations; make sure istiod runs"})
        elif not injectors:
            self.problems.add("cluster", "istio sidecar injector",
                              "Istio's CRDs are installed but no sidecar injector is registered (no "
                              "MutatingWebhookConfiguration with a *sidecar-injector.istio.io webhook), so istiod "
                              "is not running and launcher pods would start without istio-proxy: install or repair "
                              "Istio's control plane (istioctl install) first")
        elif self.params["mode"] == "revision" and revision not in injectors.values():
            self.findings.append({"kind": "injector-revision", "message": "no sidecar injector serves revision %r "
                                  "(registered: %s): pods labelled istio.io/rev=%s get no sidecar until istiod of "
                                  "that revision is installed" % (revision, ", ".join(
                                      "%s (rev %s)" % kv for kv in sorted(injectors.items())), revision)})
        else:
            self._injector_ready(session, configurations)

    def _injector_ready(self, session: ApiSession, configurations: Optional[List[Dict[str, Any]]]) -> None:
        """A registered injector whose Service has no ready endpoint (istiod scaled to 0, crash-looping):
        kube-apiserver cannot call it, so launcher pods fail to be created (the chart's failurePolicy: Fail)
        or start without istio-proxy (Ignore). Only the injectors of this task's revision count; webhooks
        called by URL cannot be checked."""
        wanted = self.params.get("revision") if self.params["mode"] == "revision" else "default"
        services = dict((key, revs) for key, revs in istio.injector_services(configurations).items()
                        if wanted in revs)
        if not services:
            return
        ready = {}
        for namespace, name in sorted(services):
            try:
                ready[(namespace, name)] = istio.ready_addresses(session.get(ENDPOINTS.path(namespace, name)))
            except ApiError as err:
                if err.status != 403:
                    raise
                self.findings.append({"kind": "injector-unknown", "message": "cannot read the Endpoints of the "
                                      "sidecar injector's Service %s/%s (403): make sure istiod runs" % (namespace, name)})
                return
        if not any(ready.values()):
            self.problems.add("cluster", "istio sidecar injector", "the sidecar injector of revision %r is registered "
                              "but its Service has no ready endpoint (%s), so istiod is not serving: launcher pods "
                              "would fail to be created or start without istio-proxy. Make istiod ready first "
                              "(kubectl -n %s get deploy,pods -l app=istiod)" % (
                                  wanted, ", ".join("%s/%s" % key for key in sorted(ready)), sorted(ready)[0][0]))

    # ------------------------------------------------- phase: namespaces
    def _read_namespaces(self, session: ApiSession) -> None:
        config = self.config
        self.namespaces = dict((o["metadata"]["name"], o)
                               for o in session.list(NAMESPACE.path(), page_size=CLUSTER_PAGE))
        self.targets = targets = resolve_targets(config.explicit, config.selector, self.namespaces, config.state,
                                                 self.problems, self.findings)
        for entry in config.vm_entries or []:
            if self.present and entry.namespace is not None and entry.namespace not in targets:
                self.problems.add("task", entry.where + ".namespace", "%r is not one of the target namespaces (%s)"
                                  % (entry.namespace, ", ".join(targets) or "none"))
        for decl in config.services:
            if self.present and decl.namespace is not None and decl.namespace not in targets:
                self.problems.add("service %s" % decl.name, decl.where + ".namespace",
                                  "%r is not one of the target namespaces (%s)"
                                  % (decl.namespace, ", ".join(targets) or "none"))
        for namespace in targets:
            istio.namespace_findings(namespace, self.namespaces[namespace], config, self.problems, self.findings)

    # --------------------------------------------------- phase: the reads
    def _read_objects(self, session: ApiSession) -> None:
        """One LIST per (kind, namespace), or per kind across the cluster above AUTO_CLUSTER_LIST_ABOVE namespaces."""
        scope = self.params["list_scope"]
        if scope == "auto":
            scope = "cluster" if len(self.targets) > AUTO_CLUSTER_LIST_ABOVE else "namespace"
        self.scope = scope
        jobs = {"vms": (VM, None), "vmis": (VMI, None), "pods": (POD, LAUNCHER_SELECTOR), "services": (SERVICE, None)}
        if self.cluster.pa_resource:
            jobs["pas"] = (self.cluster.pa_resource, None)
        if self.cluster.dr_resource:
            jobs["drs"] = (self.cluster.dr_resource, OWNED_SELECTOR)
        if self.cluster.multus:
            jobs["nads"] = (NAD, None)
        self.data = Reader(session, self.targets, scope, self.params["max_concurrency"]).read(jobs)
        self.running = dict(((vmi["metadata"]["namespace"], vmi["metadata"]["name"]), vmi)
                            for ns in self.targets for vmi in self.data["vmis"][ns])

    # ------------------------------------------ phase: selection, refusals
    def _select(self) -> None:
        config, data = self.config, self.data
        for namespace in self.targets:
            vms = sorted(data["vms"][namespace], key=lambda v: v["metadata"]["name"])
            chosen = [vm for vm in vms if self._selected(vm)]
            self.selected[namespace] = [istio_vms.check_vm(vm, config, self.cluster.default_binding, self.problems,
                                                           self.findings) for vm in chosen]
            if self.present:
                self._ipv6_checks(namespace, self.selected[namespace], data)
                existing = dict((s["metadata"]["name"], s) for s in data["services"][namespace])
                for decl in config.services:
                    if decl.namespace in (None, namespace):
                        istio_objects.service_problems(decl, namespace, self.selected[namespace], existing,
                                                       self.problems, self.findings)
                if config.mtls != "unset" and self.cluster.pa_resource:
                    self._pa_checks(namespace, data["pas"][namespace])
        for entry in config.vm_entries or []:
            self._check_entry(entry)

    def _check_entry(self, entry: istio_options.VmEntry) -> None:
        """A named VM that does not exist, a template_selector that matches no VM."""
        vms, targets = self.data["vms"], self.targets
        spaces = [entry.namespace] if entry.namespace else targets
        for name in entry.names:
            if self.present and not any(vm["metadata"]["name"] == name for ns in spaces if ns in vms
                                        for vm in vms[ns]):
                self.problems.add("task", entry.where + ".names", "VirtualMachine %r does not exist in %s"
                                  % (name, ", ".join(spaces) or "the target namespaces"))
        if entry.selector is not None and not any(entry.selects(vm) for ns in targets for vm in vms[ns]):
            text = "template_selector matches the template labels of no VM in %s" % (
                ", ".join(spaces) or "the target namespaces")
            if self.params["allow_no_match"] or not self.present:
                self.findings.append({"kind": "no-match", "message": "%s: %s" % (entry.where, text)})
            else:
                self.problems.add("task", entry.where + ".template_selector", text + " (it matches "
                                  "spec.template.metadata.labels, not the VM's own labels): correct it, or set "
                                  "allow_no_match=true to accept an empty match")

    def _selected(self, vm: Dict[str, Any]) -> bool:
        entries = self.config.vm_entries
        if entries is None:
            return True
        return any(e.selects(vm) for e in entries)

    def _ipv6_checks(self, namespace: str, checks: List[istio_vms.VmCheck],
                     data: Dict[str, Dict[str, List[Dict[str, Any]]]]) -> None:
        vmis = dict((v["metadata"]["name"], v) for v in data["vmis"][namespace])
        for check in checks:
            vmi = vmis.get(check.vm["metadata"]["name"])
            if vmi is None:
                continue
            pod = istio_verify.pod_of(vmi, data["pods"][namespace])
            if istio_vms.ipv6_only(vmi, pod):
                self.problems.add("VirtualMachine %s" % check.ref, "pod network",
                                  "has IPv6 addresses only: KubeVirt's Istio integration supports IPv4 only "
                                  "(single-stack IPv4 or dual-stack clusters)")

    def _pa_checks(self, namespace: str, pas: List[Dict[str, Any]]) -> None:
        for pa in pas:
            name = pa["metadata"]["name"]
            if istio_objects.is_ours(pa):
                continue
            if name == self.config.mtls_policy_name:
                self.problems.add("PeerAuthentication %s/%s" % (namespace, name), "name",
                                  "exists and is not managed by this module: it is left alone; set mtls_policy_name "
                                  "to another name, or delete it (a namespace should have one namespace-wide policy)")
            elif not (pa.get("spec") or {}).get("selector"):
                mode = (((pa.get("spec") or {}).get("mtls") or {}).get("mode"))
                self.findings.append({"kind": "peer-authentication", "namespace": namespace,
                                      "message": "namespace %s already has the namespace-wide PeerAuthentication %s "
                                                 "(mode %s): with two, Istio applies the older one" % (
                                                     namespace, name, mode)})

    # -------------------------------------------------------- phase: plan
    def _plan(self) -> Plans:
        plans = Plans()
        plans.owned = self._owned_plans() if self.present else self._owned_removals()
        for ns in self.targets:
            desired = istio.namespace_desired(ns, self.namespaces[ns], self.config)
            if desired is None:
                plans.ns_actions.append(Action(UNCHANGED, {"metadata": {"name": ns}}, self.namespaces[ns]))
            else:
                plans.ns_desired.append(desired)
                plans.ns_actions.extend(plan(plans.ns_kind, [desired], {("", ns): self.namespaces[ns]}))
        for namespace in self.targets:
            for check in self.selected[namespace]:
                key = (namespace, check.vm["metadata"]["name"])
                desired = istio_vms.vm_desired(check.vm, self.config.state, check.fix)
                if plans.vm_kind.same(desired, check.vm):
                    plans.vm_actions.append(Action(UNCHANGED, desired, check.vm))
                elif self.config.restart == "stopped_only" and key in self.running:
                    plans.deferred.append(key)
                    plans.vm_actions.append(Action(UNCHANGED, desired, check.vm))
                else:
                    plans.vm_actions.append(Action(UPDATE, desired, check.vm))
        return plans

    def _desired_services(self) -> List[Dict[str, Any]]:
        return [istio_objects.service_manifest(d, ns, self.cluster.version) for ns in self.targets
                for d in self.config.services if d.namespace in (None, ns)]

    def _ours(self, job: str) -> Dict[Tuple[str, str], Dict[str, Any]]:
        return dict((key_of(o), o) for ns in self.targets for o in self.data[job][ns] if istio_objects.is_ours(o))

    def _owned_plans(self) -> List[Tuple[istio_objects.OwnedKind, List[Action]]]:
        config, cluster, targets = self.config, self.cluster, self.targets
        service_kind = istio_objects.OwnedKind(SERVICE, service=True)
        owned = [(service_kind, plan(service_kind, self._desired_services(), self._ours("services")))]
        if config.mtls != "unset" and cluster.pa_resource and cluster.pa_version:  # pa_resource: pa_version is set
            pas = [istio_objects.peer_authentication_manifest(ns, config.mtls, config.mtls_policy_name,
                                                              cluster.pa_version) for ns in targets]
            kind = istio_objects.OwnedKind(cluster.pa_resource)
            owned.append((kind, plan(kind, pas, self._ours("pas"))))
        if config.destination_rule and cluster.dr_resource and cluster.dr_version:  # likewise
            drs = [istio_objects.destination_rule_manifest(ns, config.cluster_domain, cluster.dr_version)
                   for ns in targets]
            kind = istio_objects.OwnedKind(cluster.dr_resource)
            owned.append((kind, plan(kind, drs, self._ours("drs"))))
        if config.cni_nad and cluster.multus:
            nad_actions = []
            for ns in targets:
                found = [n for n in self.data["nads"][ns] if n["metadata"]["name"] == istio.CNI_NAD_NAME]
                if found:  # any istio-cni NAD does (also one this module did not make)
                    nad_actions.append(Action(UNCHANGED, found[0], found[0]))
                else:
                    nad_actions.append(Action(CREATE, istio_objects.cni_nad_manifest(ns)))
            owned.append((istio_objects.OwnedKind(NAD), nad_actions))
        return owned

    def _owned_removals(self) -> List[Tuple[istio_objects.OwnedKind, List[Action]]]:
        owned = []
        for job, resource in (("services", SERVICE), ("pas", self.cluster.pa_resource),
                              ("drs", self.cluster.dr_resource), ("nads", NAD)):
            if job not in self.data or resource is None:
                continue
            kind = istio_objects.OwnedKind(resource, service=resource is SERVICE)
            owned.append((kind, [Action(DELETE, None, o) for o in self._ours(job).values()]))
        return owned

    # ------------------------------------------------------ phase: writes
    def _write(self, session: ApiSession, plans: Plans) -> Tuple[List[Tuple[str, Kind, Dict[str, Any]]], List[Dict[str, Any]], List[Dict[str, Any]]]:
        """Concurrent, conflict-safe writes of the differences (check mode: none)."""
        check_mode, workers = self.module.check_mode, self.params["max_concurrency"]
        results: List[Tuple[str, Kind, Dict[str, Any]]] = []
        for kind, actions in plans.owned:
            executor = OwnedExecutor(session, kind, check_mode=check_mode, workers=workers)
            results.extend(("owned", kind, r) for r in executor.run(actions))
        ns_results = Executor(session, plans.ns_kind, check_mode=check_mode, workers=workers).run(plans.ns_actions)
        vm_results = Executor(session, plans.vm_kind, check_mode=check_mode, workers=workers).run(plans.vm_actions)
        results.extend(("namespace", plans.ns_kind, r) for r in ns_results)
        results.extend(("vm", plans.vm_kind, r) for r in vm_results)
        return results, ns_results, vm_results

    # ---------------------------------------------------- phase: restarts
    def _vms_after(self, plans: Plans, vm_results: List[Dict[str, Any]]) -> Dict[Tuple[str, str], Dict[str, Any]]:
        """Each selected VM as the server confirmed it, or as it would be (check mode, failure, deferred)."""
        vm_after = {}
        for result in vm_results:
            key = (result["namespace"], result["name"])
            obj: Optional[Dict[str, Any]] = result.get("object")
            if self.module.check_mode or obj is None or result.get("error"):
                action = next(a for a in plans.vm_actions if a.key == key)
                if action.desired is None or action.current is None:
                    raise AssertionError("_plan makes each VM action of the VM read and its desired form")
                obj = plans.vm_kind.expected(action.desired, action.current) if key not in plans.deferred \
                    else action.current
            vm_after[key] = obj
        return vm_after

    def _labels_after(self, plans: Plans, ns_results: List[Dict[str, Any]]) -> Dict[str, Dict[str, str]]:
        ns_labels = dict((ns, istio.labels_of(self.namespaces[ns])) for ns in self.targets)
        failed_ns = set(r["name"] for r in ns_results if r.get("error"))
        for desired in plans.ns_desired:
            name = desired["metadata"]["name"]
            if name not in failed_ns:
                ns_labels[name] = istio.labels_of(plans.ns_kind.expected(desired, self.namespaces[name]))
        return ns_labels

    def _restart_needed(self, plans: Plans, vm_after: Dict[Tuple[str, str], Dict[str, Any]], ns_labels: Dict[str, Dict[str, str]],
                        pods: Dict[str, List[Dict[str, Any]]]) -> List[Tuple[str, str]]:
        needed = []
        for key, vm in sorted(vm_after.items()):
            vmi = self.running.get(key)
            pod = istio_verify.pod_of(vmi, pods[key[0]])
            injecting = istio.injection_expected(ns_labels[key[0]])
            if key in plans.deferred or istio_verify.needs_restart(self.config.state, vm, vmi, pod, injecting):
                needed.append(key)
        return needed

    # ------------------------------------------------------ phase: report
    def _report(self, plans: Plans, results: List[Tuple[str, Kind, Dict[str, Any]]], vm_results: List[Dict[str, Any]],
                vm_after: Dict[Tuple[str, str], Dict[str, Any]],
                ns_labels: Dict[str, Dict[str, str]], pods: Dict[str, List[Dict[str, Any]]],
                restarts: Tuple[List[Tuple[str, str]], List[Tuple[str, str]], Dict[Tuple[str, str], str]]) -> NoReturn:
        restart_needed, restarted, restart_errors = restarts
        mtls_modes = istio_verify.mtls_modes(self.targets, self.data.get("pas") or {}, plans.owned)
        services_after = self._services_after(results)
        vm_report = []
        vm_methods = dict(((r["namespace"], r["name"]), r) for r in vm_results)
        for key, vm in sorted(vm_after.items()):
            result = vm_methods[key]
            vmi = self.running.get(key)
            pod = istio_verify.pod_of(vmi, pods[key[0]])
            action = DEFERRED if key in plans.deferred else result["method"]
            still = key in restart_needed and key not in restarted
            entry = istio_verify.verify_entry(vm, vmi, pod, services_after.get(key[0], []), mtls_modes.get(key[0]),
                                              self.config.state, still, action)
            if key in restarted:
                entry["restarted"] = True
            if key in restart_errors:
                entry["error"] = restart_errors[key]
            if result.get("error"):
                entry["error"] = str(result["error"])
            vm_report.append(entry)
        self._closing_findings(restart_needed, ns_labels, plans.deferred)
        changed = bool(restarted) or any(r["method"] != UNCHANGED and not r.get("error") for _t, _k, r in results)
        cluster = self.cluster
        if cluster.kubevirt is None:
            raise AssertionError("_read_cluster reads the KubeVirt CR")
        out = dict(changed=changed, vms=vm_report, objects=istio_verify.report_objects(results),
                   namespaces=dict((ns, {"labels": ns_labels[ns], "mtls": mtls_modes.get(ns),
                                         "vms": len(self.selected[ns])}) for ns in self.targets),
                   totals=istio_verify.report_totals(results, restarted, vm_report), findings=self.findings,
                   restarted=["%s/%s" % k for k in restarted], server_version=cluster.server,
                   kubevirt_version=cluster.kubevirt.version_text,
                   istio_version=".".join(str(p) for p in cluster.istio_version) if cluster.istio_version else None,
                   list_scope=self.scope)
        if self.module._diff and changed:  # pylint: disable=protected-access
            out["diff"] = istio_verify.report_diff([r for r in results if not r[2].get("error")])
        self._warn()
        failures = ["%s %s/%s: %s" % (k.resource.kind, r["namespace"], r["name"], r["error"])
                    for _t, k, r in results if r.get("error")]
        failures.extend("VirtualMachine %s/%s: %s" % (k[0], k[1], e) for k, e in sorted(restart_errors.items()))
        if failures:
            self.runner.fail("%d change(s) failed: %s" % (len(failures), "; ".join(failures[:10])), **out)
        self.runner.exit(**out)

    def _services_after(self, results: List[Tuple[str, Kind, Dict[str, Any]]]) -> Dict[str, List[Dict[str, Any]]]:
        """namespace -> the Services the VMs are checked against: foreign ones as read, ours as written."""
        after = dict((ns, [s for s in self.data["services"][ns] if not istio_objects.is_ours(s)])
                     for ns in self.targets)
        for _type, kind, result in results:
            if _type == "owned" and kind.resource.kind == "Service" and result["method"] != DELETE:
                obj = result.get("object")
                if obj is None or self.module.check_mode:
                    obj = next((s for s in self._desired_services()
                                if key_of(s) == (result["namespace"], result["name"])), None)
                if obj is not None:
                    after.setdefault(result["namespace"], []).append(obj)
        return after

    def _closing_findings(self, restart_needed: List[Tuple[str, str]], ns_labels: Dict[str, Dict[str, str]],
                          deferred: List[Tuple[str, str]]) -> None:
        if self.config.restart == "never" and restart_needed and self.present:
            self.findings.append({"kind": "restart-required", "message": "%d running VM(s) pick up the mesh "
                                  "settings at their next restart: %s%s (restart them, or use restart=rolling)" % (
                                      len(restart_needed), ", ".join("%s/%s" % k for k in restart_needed[:10]),
                                      " ..." if len(restart_needed) > 10 else "")})
        if not self.present:
            for namespace in self.targets:
                if istio.injection_expected(ns_labels[namespace]) and self.selected[namespace]:
                    self.findings.append({"kind": "namespace-still-injects", "namespace": namespace,
                                          "message": "namespace %s keeps its injection label (this module did not "
                                                     "add it): its pods, VMs included, still get an istio-proxy "
                                                     "sidecar, without KubeVirt's Istio set-up; remove the label or "
                                                     "keep the VMs in the mesh" % namespace})
        if deferred:
            self.findings.append({"kind": "deferred", "message": "restart=stopped_only left %d running VM(s) "
                                  "unchanged: %s" % (len(deferred), ", ".join("%s/%s" % k for k in deferred[:10]))})

    def _warn(self) -> None:
        for finding in self.findings:
            self.module.warn(finding["message"])
