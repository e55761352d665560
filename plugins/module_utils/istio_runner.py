# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_vm_istio module's flow: options (no request yet) -> API
groups, KubeVirt CR, namespaces -> per-namespace reads (VMs, VMIs, launcher
pods, Services, PeerAuthentications, DestinationRules, the istio-cni NAD),
concurrently -> every refusal -> plan -> (check mode: stop) -> concurrent,
conflict-safe writes of the differences only -> optional rolling restart in
bounded batches -> the per-VM verify report."""


from ansible_collections.kubevirt_net.core.plugins.module_utils import istio
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run
from ansible_collections.kubevirt_net.core.plugins.module_utils.targets import resolve_targets
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import (
    CREATE, DELETE, UNCHANGED, UPDATE, Action, Executor, key_of, plan)
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    MUTATING_WEBHOOK, NAD, NAMESPACE, POD, SERVICE, VM, VMI)
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems
from ansible_collections.kubevirt_net.core.plugins.module_utils.waits import fan_out


AUTO_CLUSTER_LIST_ABOVE = 10
CLUSTER_PAGE = 1000
LAUNCHER_SELECTOR = "kubevirt.io=virt-launcher"
OWNED_SELECTOR = "%s=%s" % (istio.COMPONENT_LABEL, istio.COMPONENT)
SUBRESOURCE = "/apis/subresources.kubevirt.io/v1/namespaces/%s/virtualmachines/%s/restart"
DEFERRED, RESTARTED = "deferred", "restarted"


# ------------------------------------------------------------------ reading
def api_group(session, group):
    """The served versions of an API group (preferred first), [] when absent."""
    answer = session.get("/apis/%s" % group)
    if not answer or not isinstance(answer, dict):
        return []
    versions = [v.get("version") for v in answer.get("versions") or []]
    preferred = (answer.get("preferredVersion") or {}).get("version")
    if preferred in versions:
        versions.remove(preferred)
        versions.insert(0, preferred)
    return versions


def pick_version(versions):
    return "v1" if "v1" in versions else (versions[0] if versions else None)


def detect_istio_version(session, namespace):
    """Istio's version from the istiod Deployment image; None when not found."""
    try:
        items = session.list("/apis/apps/v1/namespaces/%s/deployments" % namespace, label_selector="app=istiod")
    except ApiError as err:
        if err.status in (403, 404):
            return None
        raise
    for deployment in items:
        for container in (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
                "containers") or []:
            version = istio.istio_version_from_image(container.get("image"))
            if version:
                return version
    return None


def sidecar_injectors(session):
    """The Istio sidecar-injector webhooks registered on the cluster, as
    ``{configuration name: istio.io/rev label}``; None when this identity may
    not list MutatingWebhookConfigurations.  istiod's chart
    (manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml)
    registers ``istio-sidecar-injector[-<revision>]`` whose webhooks are named
    ``*sidecar-injector.istio.io`` and labels it ``istio.io/rev``."""
    try:
        items = session.list(MUTATING_WEBHOOK.path())
    except ApiError as err:
        if err.status in (401, 403):
            return None
        raise
    found = {}
    for item in items:
        if any(str(hook.get("name") or "").endswith("sidecar-injector.istio.io") for hook in item.get("webhooks") or []):
            meta = item.get("metadata") or {}
            found[meta.get("name")] = (meta.get("labels") or {}).get(istio.REV_LABEL) or "default"
    return found


class Reader:
    """The per-namespace objects, read with one LIST per (kind, namespace) or
    one cluster-wide LIST per kind, concurrently."""

    def __init__(self, session, targets, scope, workers):
        self.session = session
        self.targets = targets
        self.scope = scope
        self.workers = workers

    def read(self, jobs):
        """jobs: name -> (resource path builder, label selector); returns name -> {namespace: [items]}."""
        calls = []
        for name, (resource, selector) in jobs.items():
            if self.scope == "cluster":
                calls.append((name, None, resource.path(), selector))
            else:
                calls.extend((name, ns, resource.path(ns), selector) for ns in self.targets)
        out = dict((name, dict((ns, []) for ns in self.targets)) for name in jobs)

        def one(call):
            return call, self.session.list(call[2], label_selector=call[3], page_size=CLUSTER_PAGE)

        answers = fan_out(one, calls, self.workers)
        for (name, _ns, _path, _sel), items in answers:
            for obj in items:
                namespace = (obj.get("metadata") or {}).get("namespace")
                if namespace in out[name]:
                    out[name][namespace].append(obj)
        return out


# --------------------------------------------------------------- executors
class OwnedExecutor(Executor):
    """Never takes over an object this module did not make: when it reads one
    again (409, lost answer) and it is not ours, that object stops there."""

    def _read(self, obj):
        fresh = super(OwnedExecutor, self)._read(obj)
        if fresh is not None and not istio.is_ours(fresh):
            raise ApiError("GET", self._path(obj), 409, message="%s %s/%s exists and is not managed by this module: "
                           "left alone" % (self.kind.resource.kind, key_of(obj)[0], key_of(obj)[1]))
        return fresh


# ---------------------------------------------------------------- the run
class IstioRun:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.runner = Run(module)
        self.problems = Problems()
        self.findings = []
        self.config = None

    # ------------------------------------------------------------ rendered
    def rendered(self):
        config = self.config
        objects = []
        for namespace in config.explicit:
            desired = istio.namespace_desired(namespace, {"metadata": {"name": namespace}}, config)
            if desired is not None:
                objects.append({"kind": "Namespace", "namespace": None, "name": namespace,
                                "method": "rendered", "resource": desired})
            if config.mtls != "unset":
                objects.append(self._rendered(istio.peer_authentication_manifest(
                    namespace, config.mtls, config.mtls_policy_name)))
            if config.destination_rule:
                objects.append(self._rendered(istio.destination_rule_manifest(namespace, config.cluster_domain)))
            if config.cni_nad:
                objects.append(self._rendered(istio.cni_nad_manifest(namespace)))
            for decl in config.services:
                if decl.namespace in (None, namespace):
                    objects.append(self._rendered(istio.service_manifest(decl, namespace)))
        vm_patch = {"spec": {"template": {"metadata": {"annotations": {istio.INJECT: "true"}}}}}
        self._warn()
        self.runner.exit(changed=False, objects=objects, vm_patch=vm_patch, findings=self.findings, vms=[],
                         namespaces={})

    @staticmethod
    def _rendered(obj):
        return {"kind": obj["kind"], "namespace": obj["metadata"]["namespace"], "name": obj["metadata"]["name"],
                "method": "rendered", "resource": obj}

    # ----------------------------------------------------------------- run
    def run(self):
        self.config = config = istio.check_params(self.params, self.problems)
        if self.problems:
            self.runner.fail(self.problems.render(), problems=self.problems.items, findings=self.findings)
        if config.state == "rendered":
            self.rendered()
        try:
            self._run()
        except ApiError as err:
            self.runner.fail("Kubernetes API error: %s" % err, status=err.status, reason=err.reason,
                             findings=self.findings)

    def _fail_on_problems(self, **extra):
        if self.problems:
            self._warn()
            self.runner.fail(self.problems.render(), problems=self.problems.items, findings=self.findings, **extra)

    def _run(self):  # pylint: disable=too-many-locals,too-many-branches,too-many-statements
        config, params = self.config, self.params
        session = self.runner.session
        present = config.state == "present"
        version = session.server_version()
        server = "%d.%d" % version

        # ---- cluster capabilities
        security = api_group(session, "security.istio.io")
        pa_version = pick_version(security)
        if present and pa_version is None:
            self.problems.add("cluster", "security.istio.io",
                              "the Istio CRDs are not installed (no PeerAuthentication API): install Istio with its "
                              "CNI plugin first (istioctl install --set components.cni.enabled=true)")
        if present and pa_version is not None:
            self._injector_preflight(session, params)
        dr_version = None
        if config.destination_rule or not present:
            dr_version = pick_version(api_group(session, "networking.istio.io"))
            if present and dr_version is None:
                self.problems.add("cluster", "networking.istio.io", "destination_rule=true needs Istio's "
                                                                    "DestinationRule API, which is not installed")
        multus = False
        if config.cni_nad or not present:
            multus = bool(api_group(session, "k8s.cni.cncf.io"))
            if config.cni_nad and present and not multus:
                self.findings.append({"kind": "no-multus", "message": "cni_nad=true but Multus is not installed (no "
                                      "NetworkAttachmentDefinition API): no istio-cni NAD is needed or created"})
        kubevirt = KubeVirtInfo.read(session)
        if present and not kubevirt.installed:
            self.problems.add("cluster", "KubeVirt", "is not installed (no KubeVirt CR)")
        istio_version = config.istio_version
        if present and kubevirt.installed and not kubevirt.at_least(*istio.BROKEN_KUBEVIRT_BELOW):
            if istio_version is None:
                istio_version = detect_istio_version(session, params["istio_namespace"])
            if istio_version is None:
                self.findings.append({"kind": "istio-version-unknown", "message": "KubeVirt %s is older than 1.7 and "
                                      "the Istio version is unknown (no istiod Deployment in %s; set istio_version): "
                                      "Istio 1.25.0-1.26.4 and 1.27.0-1.27.1 do not work with it"
                                      % (kubevirt.version_text, params["istio_namespace"])})
            problem = istio.matrix_problem(kubevirt.version, istio_version)
            if problem:
                self.problems.add("cluster", "KubeVirt %s / Istio %s" % (kubevirt.version_text, ".".join(
                    str(p) for p in istio_version)), problem)
        default_binding = (kubevirt.configuration.get("network") or {}).get("defaultNetworkInterface") or "bridge"

        # ---- namespaces
        namespaces = dict(((o.get("metadata") or {}).get("name"), o)
                          for o in session.list(NAMESPACE.path(), page_size=CLUSTER_PAGE))
        targets = resolve_targets(config.explicit, config.selector, namespaces, config.state, self.problems,
                                  self.findings)
        for entry in config.vm_entries or []:
            if present and entry.namespace is not None and entry.namespace not in targets:
                self.problems.add("task", entry.where + ".namespace", "%r is not one of the target namespaces (%s)"
                                  % (entry.namespace, ", ".join(targets) or "none"))
        for decl in config.services:
            if present and decl.namespace is not None and decl.namespace not in targets:
                self.problems.add("service %s" % decl.name, decl.where + ".namespace",
                                  "%r is not one of the target namespaces (%s)"
                                  % (decl.namespace, ", ".join(targets) or "none"))
        for namespace in targets:
            istio.namespace_findings(namespace, namespaces[namespace], config, self.problems, self.findings)
        self._fail_on_problems(server_version=server)

        # ---- per-namespace objects
        scope = params["list_scope"]
        if scope == "auto":
            scope = "cluster" if len(targets) > AUTO_CLUSTER_LIST_ABOVE else "namespace"
        jobs = {"vms": (VM, None), "vmis": (VMI, None), "pods": (POD, LAUNCHER_SELECTOR), "services": (SERVICE, None)}
        pa_resource = istio.peer_authentication(pa_version) if pa_version else None
        dr_resource = istio.destination_rule(dr_version) if dr_version else None
        if pa_resource:
            jobs["pas"] = (pa_resource, None)
        if dr_resource:
            jobs["drs"] = (dr_resource, OWNED_SELECTOR)
        if multus:
            jobs["nads"] = (NAD, None)
        data = Reader(session, targets, scope, params["max_concurrency"]).read(jobs)

        # ---- selection and every refusal
        selected = {}       # namespace -> [VmCheck]
        for namespace in targets:
            vms = sorted(data["vms"][namespace], key=lambda v: v["metadata"]["name"])
            chosen = [vm for vm in vms if self._selected(vm)]
            selected[namespace] = [istio.check_vm(vm, config, default_binding, self.problems, self.findings)
                                   for vm in chosen]
            if present:
                self._ipv6_checks(namespace, selected[namespace], data)
                existing = dict((s["metadata"]["name"], s) for s in data["services"][namespace])
                for decl in config.services:
                    if decl.namespace in (None, namespace):
                        istio.service_problems(decl, namespace, selected[namespace], existing, self.problems,
                                               self.findings)
                if config.mtls != "unset" and pa_resource:
                    self._pa_checks(namespace, data["pas"][namespace])
        for entry in config.vm_entries or []:
            for name in entry.names:
                spaces = [entry.namespace] if entry.namespace else targets
                if not any(vm["metadata"]["name"] == name for ns in spaces if ns in data["vms"]
                           for vm in data["vms"][ns]):
                    if present:
                        self.problems.add("task", entry.where + ".names", "VirtualMachine %r does not exist in %s"
                                          % (name, ", ".join(spaces) or "the target namespaces"))
            if entry.selector is not None and not any(entry.selector is not None and entry.selects(vm)
                                                      for ns in targets for vm in data["vms"][ns]):
                spaces = [entry.namespace] if entry.namespace else targets
                text = "template_selector matches the template labels of no VM in %s" % (
                    ", ".join(spaces) or "the target namespaces")
                if params["allow_no_match"] or not present:
                    self.findings.append({"kind": "no-match", "message": "%s: %s" % (entry.where, text)})
                else:
                    self.problems.add("task", entry.where + ".template_selector", text + " (it matches "
                                      "spec.template.metadata.labels, not the VM's own labels): correct it, or set "
                                      "allow_no_match=true to accept an empty match")
        self._fail_on_problems(server_version=server)

        # ---- plan
        running = dict(((vmi["metadata"]["namespace"], vmi["metadata"]["name"]), vmi)
                       for ns in targets for vmi in data["vmis"][ns])
        results = []
        owned_plans = []
        if present:
            services = [istio.service_manifest(d, ns, version) for ns in targets for d in config.services
                        if d.namespace in (None, ns)]
            existing = dict((key_of(s), s) for ns in targets for s in data["services"][ns] if istio.is_ours(s))
            owned_plans.append((istio.OwnedKind(SERVICE, service=True), plan(
                istio.OwnedKind(SERVICE, service=True), services, existing)))
            if config.mtls != "unset" and pa_resource:
                pas = [istio.peer_authentication_manifest(ns, config.mtls, config.mtls_policy_name, pa_version)
                       for ns in targets]
                existing = dict((key_of(p), p) for ns in targets for p in data["pas"][ns] if istio.is_ours(p))
                owned_plans.append((istio.OwnedKind(pa_resource), plan(istio.OwnedKind(pa_resource), pas, existing)))
            if config.destination_rule and dr_resource:
                drs = [istio.destination_rule_manifest(ns, config.cluster_domain, dr_version) for ns in targets]
                existing = dict((key_of(d), d) for ns in targets for d in data["drs"][ns] if istio.is_ours(d))
                owned_plans.append((istio.OwnedKind(dr_resource), plan(istio.OwnedKind(dr_resource), drs, existing)))
            if config.cni_nad and multus:
                nad_actions = []
                for ns in targets:
                    found = [n for n in data["nads"][ns] if n["metadata"]["name"] == istio.CNI_NAD_NAME]
                    if found:  # any istio-cni NAD does (also one this module did not make)
                        nad_actions.append(Action(UNCHANGED, found[0], found[0]))
                    else:
                        nad_actions.append(Action(CREATE, istio.cni_nad_manifest(ns)))
                owned_plans.append((istio.OwnedKind(NAD), nad_actions))
        else:
            for job, resource in (("services", SERVICE), ("pas", pa_resource), ("drs", dr_resource), ("nads", NAD)):
                if job not in data or resource is None:
                    continue
                ours = [o for ns in targets for o in data[job][ns] if istio.is_ours(o)]
                kind = istio.OwnedKind(resource, service=resource is SERVICE)
                owned_plans.append((kind, [Action(DELETE, None, o) for o in ours]))

        ns_kind = istio.NamespaceKind()
        ns_desired, ns_actions = [], []
        for ns in targets:
            desired = istio.namespace_desired(ns, namespaces[ns], config)
            if desired is None:
                ns_actions.append(Action(UNCHANGED, {"metadata": {"name": ns}}, namespaces[ns]))
            else:
                ns_desired.append(desired)
                ns_actions.extend(plan(ns_kind, [desired], {("", ns): namespaces[ns]}))

        vm_kind = istio.VmKind()
        vm_actions, deferred = [], []
        for namespace in targets:
            for check in selected[namespace]:
                key = (namespace, check.vm["metadata"]["name"])
                desired = istio.vm_desired(check.vm, config.state, check.fix)
                if vm_kind.same(desired, check.vm):
                    vm_actions.append(Action(UNCHANGED, desired, check.vm))
                elif config.restart == "stopped_only" and key in running:
                    deferred.append(key)
                    vm_actions.append(Action(UNCHANGED, desired, check.vm))
                else:
                    vm_actions.append(Action(UPDATE, desired, check.vm))

        # ---- writes (check mode: none)
        check_mode = self.module.check_mode
        workers = params["max_concurrency"]
        for kind, actions in owned_plans:
            executor = OwnedExecutor(session, kind, check_mode=check_mode, workers=workers)
            results.extend(("owned", kind, r) for r in executor.run(actions))
        ns_results = Executor(session, ns_kind, check_mode=check_mode, workers=workers).run(ns_actions)
        vm_results = Executor(session, vm_kind, check_mode=check_mode, workers=workers).run(vm_actions)
        results.extend(("namespace", ns_kind, r) for r in ns_results)
        results.extend(("vm", vm_kind, r) for r in vm_results)
        errors = [r for _t, _k, r in results if r.get("error")]

        # ---- restarts
        vm_after = {}
        for result in vm_results:
            key = (result["namespace"], result["name"])
            obj = result.get("object")
            if check_mode or obj is None or result.get("error"):
                action = next(a for a in vm_actions if a.key == key)
                obj = vm_kind.expected(action.desired, action.current) if key not in deferred else action.current
            vm_after[key] = obj
        ns_labels = dict((ns, istio.labels_of(namespaces[ns])) for ns in targets)
        failed_ns = set(r["name"] for r in ns_results if r.get("error"))
        for desired in ns_desired:
            name = desired["metadata"]["name"]
            if name not in failed_ns:
                ns_labels[name] = istio.labels_of(ns_kind.expected(desired, namespaces[name]))
        pods = dict((ns, data["pods"][ns]) for ns in targets)
        restart_needed = []
        for key, vm in sorted(vm_after.items()):
            vmi = running.get(key)
            pod = istio.pod_of(vmi, pods[key[0]])
            injecting = istio.injection_expected(ns_labels[key[0]])
            if key in deferred or istio.needs_restart(config.state, vm, vmi, pod, injecting):
                restart_needed.append(key)
        restarted, restart_errors = [], {}
        if config.restart == "rolling" and restart_needed and not errors:
            if check_mode:
                restarted = list(restart_needed)
            else:
                restarted, restart_errors, fresh = self._rolling(session, restart_needed, running, ns_labels)
                running.update(fresh["vmis"])
                for ns, items in fresh["pods"].items():
                    pods[ns] = items

        # ---- report
        mtls_modes = self._mtls_modes(targets, data.get("pas") or {}, owned_plans)
        services_after = dict((ns, [s for s in data["services"][ns] if not istio.is_ours(s)]) for ns in targets)
        for _type, _kind, result in results:
            if _type == "owned" and _kind.resource.kind == "Service" and result["method"] != DELETE:
                obj = result.get("object")
                if obj is None or check_mode:
                    obj = next((s for ns in targets for s in (istio.service_manifest(d, ns, version)
                                                              for d in config.services if d.namespace in (None, ns))
                                if key_of(s) == (result["namespace"], result["name"])), None)
                if obj is not None:
                    services_after.setdefault(result["namespace"], []).append(obj)
        vm_report = []
        vm_methods = dict(((r["namespace"], r["name"]), r) for r in vm_results)
        for key, vm in sorted(vm_after.items()):
            result = vm_methods[key]
            vmi = running.get(key)
            pod = istio.pod_of(vmi, pods[key[0]])
            action = DEFERRED if key in deferred else result["method"]
            still = key in restart_needed and key not in restarted
            entry = istio.verify_entry(vm, vmi, pod, services_after.get(key[0], []), mtls_modes.get(key[0]),
                                       config.state, still, action)
            if key in restarted:
                entry["restarted"] = True
            if key in restart_errors:
                entry["error"] = restart_errors[key]
            if result.get("error"):
                entry["error"] = str(result["error"])
            vm_report.append(entry)
        if config.restart == "never" and restart_needed and present:
            self.findings.append({"kind": "restart-required", "message": "%d running VM(s) pick up the mesh "
                                  "settings at their next restart: %s%s (restart them, or use restart=rolling)" % (
                                      len(restart_needed), ", ".join("%s/%s" % k for k in restart_needed[:10]),
                                      " ..." if len(restart_needed) > 10 else "")})
        if not present:
            for namespace in targets:
                if istio.injection_expected(ns_labels[namespace]) and selected[namespace]:
                    self.findings.append({"kind": "namespace-still-injects", "namespace": namespace,
                                          "message": "namespace %s keeps its injection label (this module did not "
                                                     "add it): its pods, VMs included, still get an istio-proxy "
                                                     "sidecar, without KubeVirt's Istio set-up; remove the label or "
                                                     "keep the VMs in the mesh" % namespace})
        if deferred:
            self.findings.append({"kind": "deferred", "message": "restart=stopped_only left %d running VM(s) "
                                  "unchanged: %s" % (len(deferred), ", ".join("%s/%s" % k for k in deferred[:10]))})

        objects = []
        for _type, kind, result in results:
            if _type == "vm":
                continue
            entry = {"kind": kind.resource.kind, "namespace": result["namespace"] or None, "name": result["name"],
                     "method": result["method"]}
            if result.get("error"):
                entry["error"] = str(result["error"])
            objects.append(entry)
        totals = dict((m, 0) for m in (CREATE, UPDATE, DELETE, UNCHANGED))
        for _type, _kind, result in results:
            if not result.get("error"):
                totals[result["method"]] = totals.get(result["method"], 0) + 1
        totals["restarted"] = len(restarted)
        totals["restart_required"] = len([e for e in vm_report if e["restart_required"]])
        changed = bool(restarted) or any(r["method"] != UNCHANGED and not r.get("error") for _t, _k, r in results)
        per_ns = {}
        for namespace in targets:
            per_ns[namespace] = {"labels": ns_labels[namespace], "mtls": mtls_modes.get(namespace),
                                 "vms": len(selected[namespace])}
        out = dict(changed=changed, vms=vm_report, objects=objects, namespaces=per_ns, totals=totals,
                   findings=self.findings, restarted=["%s/%s" % k for k in restarted], server_version=server,
                   kubevirt_version=kubevirt.version_text,
                   istio_version=".".join(str(p) for p in istio_version) if istio_version else None,
                   list_scope=scope)
        if self.module._diff and changed:  # pylint: disable=protected-access
            out["diff"] = self._diff([r for r in results if not r[2].get("error")])
        self._warn()
        failures = ["%s %s/%s: %s" % (k.resource.kind, r["namespace"], r["name"], r["error"])
                    for _t, k, r in results if r.get("error")]
        failures.extend("VirtualMachine %s/%s: %s" % (k[0], k[1], e) for k, e in sorted(restart_errors.items()))
        if failures:
            self.runner.fail("%d change(s) failed: %s" % (len(failures), "; ".join(failures[:10])), **out)
        self.runner.exit(**out)

    # -------------------------------------------------------------- helpers
    def _injector_preflight(self, session, params):
        """Istio's CRDs without istiod's sidecar injector: enrolled VMs would restart without a sidecar."""
        injectors = sidecar_injectors(session)
        if injectors is None:
            self.findings.append({"kind": "injector-unknown", "message": "cannot check for Istio's sidecar injector: "
                                  "this identity may not list mutatingwebhookconfigurations; make sure istiod runs"})
        elif not injectors:
            self.problems.add("cluster", "istio sidecar injector",
                              "Istio's CRDs are installed but no sidecar injector is registered (no "
                              "MutatingWebhookConfiguration with a *sidecar-injector.istio.io webhook), so istiod "
                              "is not running and launcher pods would start without istio-proxy: install or repair "
                              "Istio's control plane (istioctl install) first")
        elif params["mode"] == "revision" and params.get("revision") not in injectors.values():
            self.findings.append({"kind": "injector-revision", "message": "no sidecar injector serves revision %r "
                                  "(registered: %s): pods labelled istio.io/rev=%s get no sidecar until istiod of "
                                  "that revision is installed" % (params.get("revision"), ", ".join(
                                      "%s (rev %s)" % kv for kv in sorted(injectors.items())), params.get("revision"))})

    def _selected(self, vm):
        entries = self.config.vm_entries
        if entries is None:
            return True
        return any(e.selects(vm) for e in entries)

    def _ipv6_checks(self, namespace, checks, data):
        vmis = dict((v["metadata"]["name"], v) for v in data["vmis"][namespace])
        for check in checks:
            vmi = vmis.get(check.vm["metadata"]["name"])
            if vmi is None:
                continue
            pod = istio.pod_of(vmi, data["pods"][namespace])
            if istio.ipv6_only(vmi, pod):
                self.problems.add("VirtualMachine %s" % check.ref, "pod network",
                                  "has IPv6 addresses only: KubeVirt's Istio integration supports IPv4 only "
                                  "(single-stack IPv4 or dual-stack clusters)")

    def _pa_checks(self, namespace, pas):
        for pa in pas:
            name = pa["metadata"]["name"]
            if istio.is_ours(pa):
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

    def _mtls_modes(self, targets, pas, owned_plans):
        modes = {}
        for namespace in targets:
            for pa in pas.get(namespace) or []:
                if not (pa.get("spec") or {}).get("selector"):
                    modes.setdefault(namespace, ((pa.get("spec") or {}).get("mtls") or {}).get("mode"))
        for kind, actions in owned_plans:
            if kind.resource.kind != "PeerAuthentication":
                continue
            for action in actions:
                if action.method == DELETE:
                    modes.pop(action.key[0], None)
                elif action.desired is not None:
                    modes[action.key[0]] = action.desired["spec"]["mtls"]["mode"]
        return modes

    def _rolling(self, session, keys, running, ns_labels):
        """Restart ``keys`` in batches; wait for each batch (VMI Ready, sidecar as expected)."""
        config = self.config
        done, errors = [], {}
        fresh = {"vmis": {}, "pods": {}}
        for start in range(0, len(keys), config.batch_size):
            batch = keys[start:start + config.batch_size]
            old = dict((key, (running.get(key) or {}).get("metadata", {}).get("uid")) for key in batch)

            def restart(key):
                try:
                    session.request("PUT", SUBRESOURCE % key, body={})
                    return key, None
                except ApiError as err:
                    return key, str(err)

            pending = []
            for key, error in fan_out(restart, batch, self.params["max_concurrency"]):
                if error:
                    errors[key] = error
                else:
                    pending.append(key)
            deadline = Deadline(self.params["restart_timeout"])  # reads and sleeps are cut to it

            def bounded_list(path, label_selector=None, within=deadline):
                with session.within(within):  # per worker thread
                    return session.list(path, label_selector=label_selector)

            while pending:
                spaces = sorted(set(k[0] for k in pending))
                try:
                    vmis = fan_out(lambda ns: (ns, bounded_list(VMI.path(ns))), spaces, self.params["max_concurrency"])
                    pods = fan_out(lambda ns: (ns, bounded_list(POD.path(ns), label_selector=LAUNCHER_SELECTOR)),
                                   spaces, self.params["max_concurrency"])
                except ApiError as err:
                    if err.sent:
                        raise
                    vmis, pods = None, [(ns, []) for ns in spaces]  # the time is up: report what is pending
                by_key = dict(((ns, v["metadata"]["name"]), v) for ns, items in vmis or [] for v in items)
                pods = dict(pods)
                if vmis is not None:
                    fresh["pods"].update(pods)
                still = []
                for key in pending:
                    vmi = by_key.get(key)
                    if vmis is not None:
                        fresh["vmis"][key] = vmi
                    injecting = istio.injection_expected(ns_labels[key[0]])
                    pod = istio.pod_of(vmi, pods[key[0]])
                    if (vmi is not None and vmi["metadata"].get("uid") != old[key] and istio.vmi_ready(vmi)
                            and pod is not None and istio.has_proxy(pod) == injecting):
                        done.append(key)
                    else:
                        still.append(key)
                pending = still
                if pending and deadline.expired():
                    for key in pending:
                        errors[key] = ("timed out after %ss waiting for the restarted VM to be Ready with%s an "
                                       "istio-proxy container in its virt-launcher pod%s" % (
                                           self.params["restart_timeout"],
                                           "" if istio.injection_expected(ns_labels[key[0]]) else "out",
                                           " (is Istio's sidecar injector running?)"
                                           if istio.injection_expected(ns_labels[key[0]]) else ""))
                    pending = []
                elif pending:
                    deadline.sleep(self.params["restart_poll"])
            if errors:
                break  # do not go on with the next batch after a failure
        return done, errors, fresh

    @staticmethod
    def _diff(results):
        before, after = {}, {}
        for _type, kind, result in results:
            if result["method"] == UNCHANGED:
                continue
            label = "%s %s" % (kind.resource.kind, "/".join(p for p in (result["namespace"], result["name"]) if p))
            if result["before"] is not None:
                before[label] = result["before"]
            if result["after"] is not None:
                after[label] = result["after"]
        return {"before": before, "after": after}

    def _warn(self):
        for finding in self.findings:
            self.module.warn(finding["message"])
