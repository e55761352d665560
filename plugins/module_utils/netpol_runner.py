# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_network_policies module's flow: options -> checked policy
templates (no request yet) -> server version and namespaces -> version gates
-> one LIST of the managed policies (cluster-wide, label-selected) or one LIST
per namespace -> plan -> (check mode: stop) -> concurrent writes of the
differences only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubevirt_net.core.plugins.module_utils import netpol, selectors
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import MERGE_PATCH, ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run, build_module
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import (
    CREATE, DELETE, UNCHANGED, UPDATE, Executor, diff_of, key_of, plan)
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import (
    KUBEVIRT, MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAMESPACE, NETWORK_POLICY, VM)
from ansible_collections.kubevirt_net.core.plugins.module_utils.targets import resolve_targets
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

PORT_SPEC = dict(
    port=dict(type="raw"),
    protocol=dict(type="str", default="TCP"),
    end_port=dict(type="int"),
)
PEER_SPEC = {
    "vm_selector": dict(type="dict", aliases=["pod_selector"]),
    "namespace_selector": dict(type="dict"),
    "namespaces": dict(type="list", elements="str"),
    "cidr": dict(type="str"),
    "except": dict(type="list", elements="str"),
}
RULE_SPEC = dict(
    name=dict(type="str", required=True),
    description=dict(type="str"),
    direction=dict(type="str", required=True, choices=["ingress", "egress"]),
    vm_selector=dict(type="dict", aliases=["pod_selector"]),
    peers=dict(type="list", elements="dict", options=PEER_SPEC),
    ports=dict(type="list", elements="dict", options=PORT_SPEC),
)
MONITORING_SPEC = dict(
    namespace_selector=dict(type="dict"),
    namespaces=dict(type="list", elements="str"),
    pod_selector=dict(type="dict"),
    vm_selector=dict(type="dict"),
    ports=dict(type="list", elements="dict", options=PORT_SPEC),
)
POLICIES_ARG_SPEC = dict(
    state=dict(type="str", choices=["present", "absent", "rendered"], default="present"),
    namespaces=dict(type="list", elements="str"),
    namespace_selector=dict(type="dict"),
    policy_set=dict(type="str", default="default"),
    name_prefix=dict(type="str", default="kvnet-"),
    default_deny=dict(type="str", choices=list(netpol.DENY_CHOICES), default="none"),
    allow_dns=dict(type="bool", default=False),
    dns_namespace=dict(type="str", default="kube-system"),
    dns_namespace_selector=dict(type="dict"),
    dns_pod_selector=dict(type="dict"),
    allow_same_namespace=dict(type="bool", default=False),
    allow_from_namespaces=dict(type="dict"),
    allow_monitoring=dict(type="dict", options=MONITORING_SPEC),
    rules=dict(type="list", elements="dict", options=RULE_SPEC),
    prune=dict(type="bool", default=True),
    prune_scope=dict(type="str", choices=["namespaces", "cluster"], default="namespaces"),
    label_namespaces=dict(type="bool", default=False),
    vm_checks=dict(type="bool", default=True),
    list_scope=dict(type="str", choices=["auto", "namespace", "cluster"], default="auto"),
    concurrency=dict(type="int", default=8),
    report=dict(type="bool", default=False),
)

AUTO_CLUSTER_LIST_ABOVE = 10  # namespaces; above this one cluster-wide LIST beats one LIST per namespace
CLUSTER_PAGE = 1000
MANAGED_SELECTOR = "%s=%s" % (MANAGED_BY_LABEL, MANAGED_BY_VALUE)
COUNTS = (CREATE, UPDATE, DELETE, UNCHANGED)


class PolicyExecutor(Executor):
    """Never touches a policy that is not this policy set's: whenever the
    engine reads an object again (409 on create or update, lost answer), a
    policy without the managed-by label, or of another set, stops that object."""

    def __init__(self, session, kind, policy_set, **kwargs):
        super(PolicyExecutor, self).__init__(session, kind, **kwargs)
        self.policy_set = policy_set

    def _read(self, obj):
        fresh = super(PolicyExecutor, self)._read(obj)
        if fresh is not None and not netpol.is_managed(fresh):
            raise ApiError("GET", self._path(obj), 409, message=unmanaged_message(key_of(obj)))
        if fresh is not None and netpol.policy_set_of(fresh) != self.policy_set:
            raise ApiError("GET", self._path(obj), 409, message=other_set_message(key_of(obj), fresh))
        return fresh


def unmanaged_message(key):
    return ("NetworkPolicy %s/%s exists and is not managed by kubevirt_net.core (no label %s): it is left alone; "
            "change name_prefix or the rule name, or remove that policy" % (key[0], key[1], MANAGED_SELECTOR))


def other_set_message(key, obj):
    return ("NetworkPolicy %s/%s belongs to policy set %r: it is left alone; use another name_prefix for one of "
            "the sets" % (key[0], key[1], netpol.policy_set_of(obj)))


# ---------------------------------------------------------------- targets
def check_task(params, problems):
    """Target options; returns (explicit namespace names, canonical selector or None)."""
    explicit = []
    for index, name in enumerate(params.get("namespaces") or []):
        if problems.dns_label("task", "namespaces[%d]" % index, name) and name not in explicit:
            explicit.append(name)
    selector = None
    if params.get("namespace_selector") is not None:
        selector = netpol.parse_selector(problems, "task", "namespace_selector", params["namespace_selector"])
        if selector == {}:
            problems.add("task", "namespace_selector", "is empty and would select every namespace (kube-system, "
                                                       "kubevirt, ...): give labels, or list namespaces")
            selector = None
        elif selector is not None and selectors.from_api(selector).selects_unlabelled:
            problems.add("task", "namespace_selector", selectors.everything_problem(
                selectors.from_api(selector), "namespace (kube-system, kubevirt, ...)", "list namespaces"))
            selector = None
    elif not params.get("namespaces"):
        problems.add("task", "namespaces", "no target namespaces: set namespaces and/or namespace_selector")
    if params["state"] == "rendered" and params.get("namespace_selector") is not None and not explicit:
        problems.add("task", "namespaces", "state=rendered does not contact the cluster, so it cannot resolve "
                                           "namespace_selector: list namespaces to render for")
    policy_set = params.get("policy_set")
    if not policy_set or netpol._label_value_problem(policy_set):  # pylint: disable=protected-access
        problems.add("task", "policy_set", "%r is not a valid label value: at most 63 letters, digits, '-', '_' "
                                           "or '.', starting and ending with a letter or digit" % (policy_set,))
    if not 1 <= (params.get("concurrency") or 0) <= 64:
        problems.add("task", "concurrency", "%r is out of range: use 1 to 64" % (params.get("concurrency"),))
    if params["prune_scope"] == "cluster" and params["list_scope"] == "namespace":
        problems.add("task", "prune_scope", "cluster needs the cluster-wide LIST: set list_scope to auto or cluster")
    return explicit, selector


# ------------------------------------------------------------ version gates
def gate(version, templates, namespaces, label_namespaces, problems, findings):
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
    to_label = []
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
def list_policies(session, scope, targets):
    existing = {}
    if scope == "cluster":
        for obj in session.list(NETWORK_POLICY.path(), label_selector=MANAGED_SELECTOR, page_size=CLUSTER_PAGE):
            existing[key_of(obj)] = obj
    else:
        for namespace in targets:
            for obj in session.list(NETWORK_POLICY.path(namespace)):
                existing[key_of(obj)] = obj
    return existing


def kubevirt_namespaces(session):
    names = set(["kubevirt"])
    try:
        for obj in session.list(KUBEVIRT.path()):
            names.add((obj.get("metadata") or {}).get("namespace"))
    except ApiError as err:
        if err.status not in (403, 404):
            raise
    return names


def list_vms(session, scope, targets, findings):
    wanted = set(targets)
    by_namespace = dict((n, []) for n in targets)
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
def run(arg_spec):
    module = build_module(arg_spec, needs_netaddr=True)
    params = module.params
    state = params["state"]
    policy_set = params["policy_set"]
    runner = Run(module)
    problems = Problems()
    findings = []
    explicit, selector = check_task(params, problems)
    templates = netpol.declare(params, problems)
    if problems:
        runner.fail(problems.render(), problems=problems.items)

    if state == "rendered":
        policies = [{"namespace": ns, "name": t.name, "origin": t.origin, "method": "rendered",
                     "resource": t.manifest(ns, policy_set)} for ns in explicit for t in templates]
        findings.extend(netpol.baseline_findings(params, templates, explicit, ["kubevirt"]))
        if selector is not None:
            findings.append({"kind": "no-match", "message": "state=rendered does not contact the cluster: "
                                                            "namespace_selector was not resolved, only namespaces "
                                                            "were rendered"})
        if netpol.uses_end_port(templates):
            findings.append({"kind": "end-port", "message": "end_port needs Kubernetes 1.22 or newer: older API "
                                                            "servers drop it, and this module refuses it there"})
        _warn(module, findings)
        runner.exit(changed=False, policies=policies, findings=findings, policy_set=policy_set,
                    declared=[t.name for t in templates])

    session = runner.session
    try:
        version = session.server_version()
        namespaces = dict(((o.get("metadata") or {}).get("name"), o)
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
        existing = list_policies(session, scope, targets)
        desired = [] if state == "absent" else [t.manifest(ns, policy_set) for ns in targets for t in templates]
        declared_keys = set((ns, t.name) for ns in targets for t in templates)
        for key in sorted(declared_keys):
            obj = existing.get(key)
            if obj is None or (netpol.is_managed(obj) and netpol.policy_set_of(obj) == policy_set):
                continue
            message = unmanaged_message(key) if not netpol.is_managed(obj) else other_set_message(key, obj)
            if state == "present":
                problems.add("policy %s/%s" % key, "name", message)
            else:
                findings.append({"kind": "not-ours", "message": message})
        if problems:
            runner.fail(problems.render(), problems=problems.items, server_version="%d.%d" % version)

        ours = dict((k, o) for k, o in existing.items()
                    if netpol.is_managed(o) and netpol.policy_set_of(o) == policy_set)
        target_set = set(targets)
        cluster_prune = params["prune_scope"] == "cluster"
        if state == "absent" and not params["prune"]:
            deletions = [ours[k] for k in sorted(declared_keys) if k in ours]
        elif state == "absent" or params["prune"]:
            keep = set() if state == "absent" else declared_keys
            deletions = [o for k, o in sorted(ours.items()) if k not in keep and (cluster_prune or k[0] in target_set)]
        else:
            deletions = []

        if state == "present":
            if params["default_deny"] != "none":
                kv_namespaces = kubevirt_namespaces(session)
            else:
                kv_namespaces = ()
            findings.extend(netpol.baseline_findings(params, templates, targets, kv_namespaces))
            if params["vm_checks"] and any(t.vm_policy for t in templates) and targets:
                findings.extend(netpol.vm_findings(templates, list_vms(session, scope, targets, findings)))

        labelled = []
        for name in to_label:
            if not module.check_mode:
                session.request("PATCH", NAMESPACE.path(None, name), content_type=MERGE_PATCH,
                                body={"metadata": {"labels": {netpol.NAME_LABEL: name}}})
            labelled.append(name)

        kind = netpol.PolicyKind()
        actions = plan(kind, desired, dict((k, o) for k, o in ours.items() if k in declared_keys), deletions)
        results = PolicyExecutor(session, kind, policy_set, check_mode=module.check_mode,
                                 workers=params["concurrency"]).run(actions)
    except ApiError as err:
        runner.fail("Kubernetes API error: %s" % err, status=err.status, reason=err.reason)

    origins = dict((t.name, t.origin) for t in templates)
    counts = dict((ns, dict((c, 0) for c in COUNTS)) for ns in targets)
    policies = []
    for result in results:
        entry = {"namespace": result["namespace"], "name": result["name"], "method": result["method"],
                 "origin": "no longer declared" if result["method"] == DELETE and state == "present"
                 else origins.get(result["name"], "policy set %s" % policy_set)}
        if result.get("error"):
            entry["error"] = str(result["error"])
        else:
            counts.setdefault(result["namespace"], dict((c, 0) for c in COUNTS))[result["method"]] += 1
        policies.append(entry)
    totals = dict((c, sum(n[c] for n in counts.values())) for c in COUNTS)
    failed = [r for r in results if r.get("error")]
    changed = bool(labelled) or any(r["method"] != UNCHANGED and not r.get("error") for r in results)
    out = dict(changed=changed, policies=policies, namespaces=counts, totals=totals, findings=findings,
               labelled_namespaces=labelled, server_version="%d.%d" % version, policy_set=policy_set,
               list_scope=scope, declared=[t.name for t in templates])
    if params["report"]:
        out["report"] = netpol.markdown_report(dict(out, state=state, check_mode=module.check_mode))
    if module._diff and changed:  # pylint: disable=protected-access
        out["diff"] = diff_of([r for r in results if not r.get("error")])
    _warn(module, findings)
    if failed:
        runner.fail("%d of %d NetworkPolicies failed: %s" % (len(failed), len(results), "; ".join(
            "%s/%s: %s" % (r["namespace"], r["name"], r["error"]) for r in failed[:10])), **out)
    runner.exit(**out)


def _warn(module, findings):
    for finding in findings:
        module.warn(finding["message"])
