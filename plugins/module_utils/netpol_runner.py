# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_network_policies module's flow: options -> checked policy
templates (no request yet) -> server version and namespaces -> version gates
-> one LIST of the managed policies (cluster-wide, label-selected) or one LIST
per namespace -> plan -> (check mode: stop) -> concurrent writes of the
differences only."""


from typing import Any, Dict, List, Mapping, NoReturn, Optional, Set, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import (
    netpol, netpol_admin, netpol_multi, netpol_report, selectors)
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import MERGE_PATCH, ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import (
    CREATE, DELETE, UNCHANGED, UPDATE, Executor, Kind, diff_of, key_of, plan)
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    KUBEVIRT, MANAGED_BY_LABEL, MANAGED_BY_VALUE, MULTI_NETWORK_POLICY, NAD, NAMESPACE, NETWORK_POLICY, VM,
    ResourceType)
from ansible_collections.kubevirt_net.core.plugins.module_utils.targets import resolve_targets
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


AUTO_CLUSTER_LIST_ABOVE = 10  # namespaces; above this one cluster-wide LIST beats one LIST per namespace
CLUSTER_PAGE = 1000
MANAGED_SELECTOR = "%s=%s" % (MANAGED_BY_LABEL, MANAGED_BY_VALUE)
COUNTS = (CREATE, UPDATE, DELETE, UNCHANGED)


class PolicyExecutor(Executor):
    """Never touches a policy that is not this policy set's: whenever the
    engine reads an object again (409 on create or update, lost answer), a
    policy without the managed-by label, or of another set, stops that object."""

    def __init__(self, session: ApiSession, kind: Kind, policy_set: str, **kwargs: Any) -> None:
        super().__init__(session, kind, **kwargs)
        self.policy_set = policy_set

    def _read(self, obj: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
        fresh = super()._read(obj)
        what = self.kind.resource.kind
        if fresh is not None and not netpol.is_managed(fresh):
            raise ApiError("GET", self._path(obj), 409, message=unmanaged_message(key_of(obj), what))
        if fresh is not None and netpol.policy_set_of(fresh) != self.policy_set:
            raise ApiError("GET", self._path(obj), 409, message=other_set_message(key_of(obj), fresh, what))
        return fresh


def unmanaged_message(key: Tuple[str, str], what: str = "NetworkPolicy") -> str:
    return ("%s %s/%s exists and is not managed by kubevirt_net.core (no label %s): it is left alone; "
            "change name_prefix or the rule name, or remove that policy" % (what, key[0], key[1], MANAGED_SELECTOR))


def other_set_message(key: Tuple[str, str], obj: Dict[str, Any], what: str = "NetworkPolicy") -> str:
    return ("%s %s/%s belongs to policy set %r: it is left alone; use another name_prefix for one of "
            "the sets" % (what, key[0], key[1], netpol.policy_set_of(obj)))


# ---------------------------------------------------------------- targets
def check_task(params: Dict[str, Any], problems: Problems) -> Tuple[List[str], Optional[Dict[str, Any]]]:
    """Target options; returns (explicit namespace names, canonical selector or None)."""
    explicit: List[str] = []
    for index, name in enumerate(params.get("namespaces") or []):
        if problems.dns_label("task", "namespaces[%d]" % index, name) and name not in explicit:
            explicit.append(name)
    selector = None
    if params.get("namespace_selector") is not None:
        selector = netpol.parse_selector(problems, "task", "namespace_selector", params["namespace_selector"])
        parsed = selectors.from_api(selector)
        if selector == {}:
            problems.add("task", "namespace_selector", "is empty and would select every namespace (kube-system, "
                                                       "kubevirt, ...): give labels, or list namespaces")
            selector = None
        elif parsed is not None and parsed.selects_unlabelled:
            problem = selectors.everything_problem(parsed, "namespace (kube-system, kubevirt, ...)", "list namespaces")
            if problem is None:
                raise AssertionError("everything_problem explains every selector that selects unlabelled ones")
            problems.add("task", "namespace_selector", problem)
            selector = None
    elif not params.get("namespaces"):
        problems.add("task", "namespaces", "no target namespaces: set namespaces and/or namespace_selector")
    if params["state"] == "rendered" and params.get("namespace_selector") is not None and not explicit:
        problems.add("task", "namespaces", "state=rendered does not contact the cluster, so it cannot resolve "
                                           "namespace_selector: list namespaces to render for")
    policy_set = params.get("policy_set")
    if not policy_set or selectors.value_problem(policy_set):
        problems.add("task", "policy_set", "%r is not a valid label value: at most 63 letters, digits, '-', '_' "
                                           "or '.', starting and ending with a letter or digit" % (policy_set,))
    if not 1 <= (params.get("max_concurrency") or 0) <= 64:
        problems.add("task", "max_concurrency", "%r is out of range: use 1 to 64" % (params.get("max_concurrency"),))
    if params["prune_scope"] == "cluster" and params["list_scope"] == "namespace":
        problems.add("task", "prune_scope", "cluster needs the cluster-wide LIST: set list_scope to auto or cluster")
    return explicit, selector


# ------------------------------------------------------------ version gates
def gate(version: Tuple[int, int], templates: List[netpol.Template], namespaces: Mapping[str, Dict[str, Any]],
         label_namespaces: bool, problems: Problems, findings: List[Dict[str, Any]]) -> List[str]:
    """Refuse what this API server would get wrong; returns the namespaces to
    label with ``kubernetes.io/metadata.name`` (``label_namespaces``)."""
    text = "%d.%d" % version
    if version < netpol.END_PORT_MINIMUM:
        for template, where, port in netpol.uses_end_port(templates):
            problems.add(template.origin, where + ".end_port",
                         "needs Kubernetes 1.22 or newer (endPort is beta in 1.22, GA in 1.25); this API server is %s "
                         "and silently drops it, so the policy would open only port %s instead of %s-%s and every "
                         "run would report a change: list the ports one by one, or upgrade the cluster"
                         % (text, port.get("port"), port.get("port"), port["endPort"]))
    to_label: List[str] = []
    if version >= netpol.NAME_LABEL_MINIMUM:
        return to_label
    seen = set()
    for template, selector in netpol.namespace_selectors(templates):
        names, others = netpol.name_label_use(selector)
        if others:
            problems.add(template.origin, "namespace_selector",
                         "uses %s on %s, which API servers older than 1.21 do not set (this one is %s): every "
                         "namespace would look unlabelled and the selector would match the wrong set; select "
                         "namespaces by another label" % ("/".join(sorted(others)), netpol.NAME_LABEL, text))
        missing, absent = [], []
        for name in sorted(names):
            obj = namespaces.get(name)
            if obj is None:
                absent.append(name)
            elif ((obj.get("metadata") or {}).get("labels") or {}).get(netpol.NAME_LABEL) != name:
                missing.append(name)
        if absent and (template.name, tuple(absent)) not in seen:
            seen.add((template.name, tuple(absent)))
            findings.append({"kind": "namespace-missing", "policy": template.name,
                             "message": "%s selects namespace(s) %s by name, which do not exist (yet): on this %s "
                                        "server they will only match once they exist and carry the label %s=<name>"
                                        % (template.origin, ", ".join(absent), text, netpol.NAME_LABEL)})
        if not missing:
            continue
        if label_namespaces:
            to_label.extend(n for n in missing if n not in to_label)
            continue
        problems.add(template.origin, "namespace selection",
                     "selects namespace(s) %s by the label %s, which API servers older than 1.21 do not set (this "
                     "one is %s) and %s not carry it, so the policy would silently match nothing there: set "
                     "label_namespaces=true to have this module add the label (the value 1.21+ sets itself), label "
                     "them yourself, or select them by another label (e.g. dns_namespace_selector)"
                     % (", ".join(missing), netpol.NAME_LABEL, text, "it does" if len(missing) == 1 else "they do"))
    return sorted(to_label)


# --------------------------------------------------------------- reading
def list_policies(session: ApiSession, scope: str, targets: List[str],
                  resource: ResourceType = NETWORK_POLICY) -> Dict[Tuple[str, str], Dict[str, Any]]:
    """One LIST per (kind, namespace), or one cluster-wide LIST of the managed ones."""
    existing = {}
    if scope == "cluster":
        for obj in session.list(resource.path(), label_selector=MANAGED_SELECTOR, page_size=CLUSTER_PAGE):
            existing[key_of(obj)] = obj
    else:
        for namespace in targets:
            for obj in session.list(resource.path(namespace)):
                existing[key_of(obj)] = obj
    return existing


def list_multi_policies(session: ApiSession, scope: str,
                        targets: List[str]) -> Optional[Dict[Tuple[str, str], Dict[str, Any]]]:
    """The MultiNetworkPolicies, or None when the cluster does not serve the kind (no CRD)."""
    try:
        return list_policies(session, scope, targets, MULTI_NETWORK_POLICY)
    except ApiError as err:
        if err.status == 404:
            return None
        raise


def list_nads(session: ApiSession, scope: str, namespaces: List[str]) -> Dict[Tuple[str, str], Dict[str, Any]]:
    """The NADs of ``namespaces``: one LIST each, or one cluster-wide LIST."""
    if scope == "cluster":
        items = session.list(NAD.path(), page_size=CLUSTER_PAGE)
    else:
        items = [obj for namespace in namespaces for obj in session.list(NAD.path(namespace))]
    wanted = set(namespaces)
    return dict((key_of(obj), obj) for obj in items if key_of(obj)[0] in wanted)


def kubevirt_namespaces(session: ApiSession) -> Set[Optional[str]]:
    names: Set[Optional[str]] = set(["kubevirt"])
    try:
        for obj in session.list(KUBEVIRT.path()):
            names.add((obj.get("metadata") or {}).get("namespace"))
    except ApiError as err:
        if err.status not in (403, 404):
            raise
    return names


def list_vms(session: ApiSession, scope: str, targets: List[str],
             findings: List[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    wanted = set(targets)
    by_namespace: Dict[str, List[Dict[str, Any]]] = dict((n, []) for n in targets)
    try:
        if scope == "cluster":
            items = session.list(VM.path(), page_size=CLUSTER_PAGE)
        else:
            items = [vm for namespace in targets for vm in session.list(VM.path(namespace))]
    except ApiError as err:
        if err.status not in (403, 404):
            raise
        findings.append({"kind": "vm-checks", "message": "VirtualMachines could not be read (%s): the VM selector "
                                                         "checks were skipped" % (err.reason or err.status)})
        return {}
    for vm in items:
        namespace = (vm.get("metadata") or {}).get("namespace")
        if namespace in wanted:
            by_namespace[namespace].append(vm)
    return by_namespace


# ---------------------------------------------------------------- the run
class KindPlan:
    """The state of one policy kind (NetworkPolicy or MultiNetworkPolicy) in the targets."""

    def __init__(self, resource: ResourceType, templates: List[Any], existing: Dict[Tuple[str, str], Any]) -> None:
        self.resource = resource
        self.templates = templates
        self.existing = existing
        self.ours: Dict[Tuple[str, str], Any] = {}
        self.declared: set = set()
        self.deletions: List[Dict[str, Any]] = []

    def prepare(self, params: Dict[str, Any], targets: List[str], problems: Problems,
                findings: List[Dict[str, Any]]) -> None:
        """Which declared names are taken by objects that are not ours, which of ours go."""
        state, policy_set = params["state"], params["policy_set"]
        what = self.resource.kind
        self.declared = set((ns, getattr(t, "key_name", t.name)) for ns in targets for t in self.templates)
        for key in sorted(self.declared):
            obj = self.existing.get(key)
            if obj is None or (netpol.is_managed(obj) and netpol.policy_set_of(obj) == policy_set):
                continue
            message = unmanaged_message(key, what) if not netpol.is_managed(obj) else \
                other_set_message(key, obj, what)
            if state == "present":
                problems.add("%s %s/%s" % (what, key[0], key[1]), "name", message)
            else:
                findings.append({"kind": "not-ours", "message": message})
        self.ours = dict((k, o) for k, o in self.existing.items()
                         if netpol.is_managed(o) and netpol.policy_set_of(o) == policy_set)
        target_set = set(targets)
        cluster_prune = params["prune_scope"] == "cluster"
        if state == "absent" and not params["prune"]:
            self.deletions = [self.ours[k] for k in sorted(self.declared) if k in self.ours]
        elif state == "absent" or params["prune"]:
            keep = set() if state == "absent" else self.declared
            self.deletions = [o for k, o in sorted(self.ours.items())
                              if k not in keep and (cluster_prune or k[0] in target_set)]

    def execute(self, session: ApiSession, params: Dict[str, Any], targets: List[str],
                check_mode: bool) -> List[Dict[str, Any]]:
        state, policy_set = params["state"], params["policy_set"]
        desired = [] if state == "absent" else [t.manifest(ns, policy_set) for ns in targets for t in self.templates]
        kind = netpol.PolicyKind(self.resource)
        actions = plan(kind, desired, dict((k, o) for k, o in self.ours.items() if k in self.declared),
                       self.deletions)
        results = PolicyExecutor(session, kind, policy_set, check_mode=check_mode,
                                 workers=params["max_concurrency"]).run(actions)
        for result in results:
            result["kind"] = self.resource.kind
        return results


class BaselinePlan:
    """The cluster baselines of this policy set: discovery, LIST, checks, writes."""

    def __init__(self, baselines: List[netpol_admin.Baseline]) -> None:
        self.baselines = baselines
        self.version: Optional[str] = None
        self.kinds: List[KindPlan] = []

    def prepare(self, session: ApiSession, params: Dict[str, Any], problems: Problems,
                findings: List[Dict[str, Any]]) -> None:
        try:   # discovery, also when the version is forced: every served kind counts for the priority check
            group = session.get("/apis/" + netpol_admin.GROUP)
        except ApiError as err:
            if err.status != 404:
                raise
            group = None
        served = netpol_admin.served_versions(group)
        version = params["cluster_baseline_api"]
        if version == "auto":
            version = netpol_admin.served_version(group)
        if version is None:
            if self.baselines:
                problems.add("task", "cluster_baselines", "this cluster serves no %s API (neither "
                             "ClusterNetworkPolicy v1alpha2 nor AdminNetworkPolicy v1alpha1): install the "
                             "network-policy-api CRDs and a CNI that implements them" % netpol_admin.GROUP)
            return
        if version not in served:
            if not self.baselines:
                return   # nothing declared: nothing of that version to write or prune
            problems.add("task", "cluster_baseline_api", "%s/%s is not served by this cluster (served: %s): use "
                         "auto, or a served version" % (netpol_admin.GROUP, version, ", ".join(served) or "none"))
            return
        self.version = version
        for baseline in self.baselines:
            baseline.key_name = baseline.object_name(version)
        netpol_admin.check_version(problems, self.baselines, version)
        existing_all: List[Dict[str, Any]] = []
        for resource in netpol_admin.served_kinds(group):
            try:
                items = session.list(resource.path(), page_size=CLUSTER_PAGE)
            except ApiError as err:
                if err.status != 404:
                    raise
                items = []
            existing_all.extend(dict(o, kind=resource.kind) for o in items)
            if resource.version != version:
                continue   # read for the priority check only: this run neither writes nor prunes that kind
            mine = [b for b in self.baselines if b.resource(version) is resource]
            plan_ = KindPlan(resource, mine, dict((key_of(o), o) for o in items))
            plan_.prepare(params, [""], problems, findings)
            self.kinds.append(plan_)
        netpol_admin.priority_clashes(problems, self.baselines, version, existing_all, params["policy_set"])

    def execute(self, session: ApiSession, params: Dict[str, Any], check_mode: bool) -> List[Dict[str, Any]]:
        state, policy_set = params["state"], params["policy_set"]
        results = []
        for plan_ in self.kinds:
            desired = [] if state == "absent" else [b.manifest(self.version, policy_set) for b in plan_.templates]
            kind = netpol_admin.ClusterPolicyKind(plan_.resource)
            actions = plan(kind, desired, dict((k, o) for k, o in plan_.ours.items() if k in plan_.declared),
                           plan_.deletions)
            for result in PolicyExecutor(session, kind, policy_set, check_mode=check_mode,
                                         workers=params["max_concurrency"]).run(actions):
                result["kind"] = plan_.resource.kind
                results.append(result)
        return results


def _render(module: Any, runner: Run, params: Dict[str, Any], templates: List[netpol.Template],
            baselines: Optional[List[netpol_admin.Baseline]], explicit: List[str],
            selector: Optional[Dict[str, Any]], findings: List[Dict[str, Any]]) -> NoReturn:
    policy_set = params["policy_set"]
    policies = [{"namespace": ns, "name": t.name, "kind": t.resource.kind, "origin": t.origin, "method": "rendered",
                 "resource": t.manifest(ns, policy_set)} for ns in explicit for t in templates]
    version = netpol_admin.V1ALPHA1 if params["cluster_baseline_api"] == "v1alpha1" else netpol_admin.V1ALPHA2
    rendered_baselines = [{"name": b.object_name(version), "kind": b.resource(version).kind, "tier": b.tier,
                           "method": "rendered", "resource": b.manifest(version, policy_set)}
                          for b in baselines or []]
    findings.extend(netpol_report.baseline_findings(params, templates, explicit, ["kubevirt"]))
    if selector is not None:
        findings.append({"kind": "no-match", "message": "state=rendered does not contact the cluster: "
                                                        "namespace_selector was not resolved, only namespaces "
                                                        "were rendered"})
    if netpol.uses_end_port(templates):
        findings.append({"kind": "end-port", "message": "end_port needs Kubernetes 1.22 or newer: older API "
                                                        "servers drop it, and this module refuses it there"})
    _warn(module, findings)
    runner.exit(changed=False, policies=policies, baselines=rendered_baselines, findings=findings,
                policy_set=policy_set, declared=[t.name for t in templates])


def run(module: Any) -> None:
    """The kubevirt_network_policies flow, on the module built by the module file:
    check the task, read and plan (``_plan``), write (``_execute``), report (``_report``)."""
    params = module.params
    runner = Run(module)
    problems = Problems()
    findings: List[Dict[str, Any]] = []
    explicit, selector = check_task(params, problems)
    templates = netpol.declare(params, problems)
    baselines = netpol_admin.parse(problems, params.get("cluster_baselines"), params["name_prefix"])
    if problems:
        runner.fail(problems.render(), problems=problems.items)
    if params["state"] == "rendered":
        _render(module, runner, params, templates, baselines, explicit, selector, findings)
    try:
        planned = _plan(module, runner, templates, baselines, explicit, selector, findings)
        labelled, results, baseline_results = _execute(module, runner, planned)
    except ApiError as err:
        runner.fail_api(err)
    _report(module, runner, planned, templates, baselines, findings, labelled, results, baseline_results)


class _Planned:
    """What ``_plan`` read and decided: the server version, the target namespaces,
    the list scope, one plan per policy kind, the baseline plan and the
    namespaces to label."""

    def __init__(self, version: Tuple[int, int], targets: List[str], scope: str, kinds: List[KindPlan],
                 baseline_plan: Optional[BaselinePlan], to_label: List[str]) -> None:
        self.version, self.targets, self.scope = version, targets, scope
        self.kinds, self.baseline_plan, self.to_label = kinds, baseline_plan, to_label


def _plan(module: Any, runner: Run, templates: List[netpol.Template], baselines: Optional[List[netpol_admin.Baseline]],
          explicit: List[str], selector: Optional[Dict[str, Any]],
          findings: List[Dict[str, Any]]) -> _Planned:
    """Read the cluster and plan every kind; refuse (before any write) what cannot work."""
    params, session, problems = module.params, runner.session, Problems()
    state = params["state"]
    multi = netpol_multi.multi_templates(templates)
    single = [t for t in templates if not t.networks]
    version = session.server_version()
    namespaces = dict((o["metadata"]["name"], o)
                      for o in session.list(NAMESPACE.path(), page_size=CLUSTER_PAGE))
    targets = resolve_targets(explicit, selector, namespaces, state, problems, findings)
    to_label = []
    if state == "present":
        to_label = gate(version, templates, namespaces, params["label_namespaces"], problems, findings)
    if problems:
        runner.fail(problems.render(), problems=problems.items, server_version="%d.%d" % version)

    scope = params["list_scope"]
    if scope == "auto":
        scope = "cluster" if (selector is not None or len(targets) > AUTO_CLUSTER_LIST_ABOVE
                              or params["prune_scope"] == "cluster") else "namespace"
    kinds = [KindPlan(NETWORK_POLICY, single, list_policies(session, scope, targets))]
    existing_multi = list_multi_policies(session, scope, targets)
    if existing_multi is None:
        if multi and state == "present":
            problems.add("task", "rules[].network", "this cluster does not serve MultiNetworkPolicy "
                         "(k8s.cni.cncf.io/v1beta1 multi-networkpolicies): install the multi-networkpolicy "
                         "CRD and an implementation (OVN-Kubernetes, multi-networkpolicy-iptables) first")
    else:
        kinds.append(KindPlan(MULTI_NETWORK_POLICY, multi, existing_multi))
    for kind_plan in kinds:
        kind_plan.prepare(params, targets, problems, findings)
    baseline_plan = BaselinePlan(baselines) if baselines is not None else None
    if baseline_plan is not None:
        baseline_plan.prepare(session, params, problems, findings)

    vms_by_namespace = None
    wants_vms = params["vm_checks"] and any(t.vm_policy for t in templates) and targets
    if state == "present" and wants_vms:
        vms_by_namespace = list_vms(session, scope, targets, findings)
    if state == "present" and multi and targets and not problems:
        nad_scope = "cluster" if scope == "cluster" else "namespace"
        nads = list_nads(session, nad_scope, netpol_multi.nad_namespaces(multi, targets))
        netpol_multi.check(multi, targets, nads, vms_by_namespace or None, problems, findings)
    if problems:
        runner.fail(problems.render(), problems=problems.items, server_version="%d.%d" % version)

    if state == "present":
        kv_namespaces = kubevirt_namespaces(session) if params["default_deny"] != "none" else ()
        findings.extend(netpol_report.baseline_findings(params, templates, targets, kv_namespaces))
        if vms_by_namespace:
            findings.extend(netpol_report.vm_findings(templates, vms_by_namespace))
    return _Planned(version, targets, scope, kinds, baseline_plan, to_label)


def _execute(module: Any, runner: Run, planned: _Planned) -> Tuple[List[str], List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Label the namespaces that need it, then write every kind's plan and the
    baselines; (labelled namespaces, policy results, baseline results)."""
    session, params = runner.session, module.params
    labelled = []
    for name in planned.to_label:
        if not module.check_mode:
            session.request("PATCH", NAMESPACE.path(None, name), content_type=MERGE_PATCH,
                            body={"metadata": {"labels": {netpol.NAME_LABEL: name}}})
        labelled.append(name)
    results = []
    for kind_plan in planned.kinds:
        results.extend(kind_plan.execute(session, params, planned.targets, module.check_mode))
    baseline_results = [] if planned.baseline_plan is None else planned.baseline_plan.execute(
        session, params, module.check_mode)
    return labelled, results, baseline_results


def _report(module: Any, runner: Run, planned: _Planned, templates: List[netpol.Template],
            baselines: Optional[List[netpol_admin.Baseline]], findings: List[Dict[str, Any]],
            labelled: List[str], results: List[Dict[str, Any]], baseline_results: List[Dict[str, Any]]) -> NoReturn:
    """The task's result (per policy, per namespace, totals, findings, diff) and its end."""
    params = module.params
    state, policy_set = params["state"], params["policy_set"]
    origins = dict((t.name, t.origin) for t in templates)
    counts = dict((ns, dict((c, 0) for c in COUNTS)) for ns in planned.targets)
    policies = []
    for result in results:
        entry = {"namespace": result["namespace"], "name": result["name"], "kind": result["kind"],
                 "method": result["method"],
                 "origin": "no longer declared" if result["method"] == DELETE and state == "present"
                 else origins.get(result["name"], "policy set %s" % policy_set)}
        if result.get("error"):
            entry["error"] = str(result["error"])
        else:
            counts.setdefault(result["namespace"], dict((c, 0) for c in COUNTS))[result["method"]] += 1
        policies.append(entry)
    totals = dict((c, sum(n[c] for n in counts.values())) for c in COUNTS)
    failed = [r for r in results if r.get("error")]
    tiers = dict((b.key_name, b.tier) for b in baselines or [])
    baseline_entries = [dict({"name": r["name"], "kind": r["kind"], "tier": tiers.get(r["name"]),
                              "method": r["method"]}, **({"error": str(r["error"])} if r.get("error") else {}))
                        for r in baseline_results]
    failed += [r for r in baseline_results if r.get("error")]
    results_all = results + baseline_results
    changed = bool(labelled) or any(r["method"] != UNCHANGED and not r.get("error") for r in results_all)
    out = dict(changed=changed, policies=policies, namespaces=counts, totals=totals, findings=findings,
               labelled_namespaces=labelled, server_version="%d.%d" % planned.version, policy_set=policy_set,
               list_scope=planned.scope, declared=[t.name for t in templates], baselines=baseline_entries,
               baseline_api=None if planned.baseline_plan is None else planned.baseline_plan.version)
    if params["report"]:
        out["report"] = netpol_report.markdown_report(dict(out, state=state, check_mode=module.check_mode))
    if module._diff and changed:  # pylint: disable=protected-access
        out["diff"] = diff_of([r for r in results_all if not r.get("error")])
    _warn(module, findings)
    if failed:
        runner.fail("%d of %d policies failed: %s" % (len(failed), len(results_all), "; ".join(
            "%s %s/%s: %s" % (r["kind"], r["namespace"], r["name"], r["error"]) for r in failed[:10])), **out)
    runner.exit(**out)


def _warn(module: Any, findings: List[Dict[str, Any]]) -> None:
    for finding in findings:
        module.warn(finding["message"])
