# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The kubevirt_network module's flow: options -> checked networks -> one
LIST per namespace -> plan -> (check mode: stop) -> writes."""


from typing import Any, Dict, List, Optional, Tuple

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kubevirt_net.core.plugins.module_utils import cni
from ansible_collections.kubevirt_net.core.plugins.module_utils import nad as nad_utils
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.module import Run
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import (
    DELETE, UNCHANGED, Executor, diff_of, key_of, plan)
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import VM, VMI
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


def collect_networks(params: Dict[str, Any], problems: Problems, network_spec: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The network dicts of this task: one from the top-level options, or the
    ``networks`` items (each validated with the same spec, defaults from the top)."""
    if params.get("networks") is None:
        return [dict((k, params.get(k)) for k in network_spec)]
    if not params["networks"]:  # refused in run(); not a network without a name (issue 19 item 8)
        return []
    validator = ArgumentSpecValidator(network_spec)
    networks = []
    for index, item in enumerate(params["networks"]):
        if not isinstance(item, dict):
            problems.add("networks[%d]" % index, "item", "must be a dict of network options")
            continue
        result = validator.validate(item)
        for error in result.errors:
            problems.add("networks[%d] (%s)" % (index, item.get("name")), "options", str(error))
        net = result.validated_parameters
        net["namespace"] = net.get("namespace") or params["namespace"]
        net["cni_version"] = net.get("cni_version") or params["cni_version"]
        networks.append(net)
    return networks


def check(networks: List[Dict[str, Any]], state: str, problems: Problems) -> None:
    seen = set()
    for index, net in enumerate(networks):
        where = "network %s/%s" % (net.get("namespace"), net.get("name"))
        key = (net.get("namespace"), net.get("name"))
        if key in seen:
            problems.add(where, "name", "is listed twice (networks[%d])" % index)
        seen.add(key)
        if state == "absent":
            problems.dns_subdomain(where, "name", net.get("name"))
            problems.dns_label(where, "namespace", net.get("namespace"))
        elif not net.get("type"):
            problems.dns_subdomain(where, "name", net.get("name"))
            problems.add(where, "type", "is required: one of %s" % ", ".join(cni.NETWORK_TYPES))
        else:
            cni.check_network(problems, net)
            nad_utils.check_metadata(problems, where, net)


def _entry(result: Dict[str, Any], users: Optional[Dict[Tuple[Optional[str], str], List[str]]] = None) -> Dict[str, Any]:
    """One network's result.  ``method`` is what the server confirmed: a write
    that failed is ``failed`` (with ``planned`` and ``error``), never the
    method it was planned as; its ``resource`` is what the cluster held."""
    obj = result.get("object")
    config = cni.parse(((obj or {}).get("spec") or {}).get("config")) if obj else None
    entry = {"name": result["name"], "namespace": result["namespace"], "method": result["method"],
             "config": config, "resource": obj}
    if result.get("error"):
        entry.update(planned=result.get("planned"), error=str(result["error"]))
    if users is not None:
        entry["users"] = users.get((result["namespace"], result["name"]), [])
    return entry


def run(module: Any, network_spec: Dict[str, Any]) -> None:
    """The kubevirt_network flow; ``network_spec``: the options of one network
    (the module's argument spec), checked here for each ``networks`` item."""
    params = module.params
    state = params["state"]
    runner = Run(module)
    problems = Problems()
    networks = collect_networks(params, problems, network_spec)
    if params.get("networks") == []:
        problems.add("task", "networks", "is empty: list at least one network" + (
            "; state=overridden needs the complete list (it deletes the other networks this collection manages): "
            "to delete networks, use state=absent and name them" if state == "overridden" else ", or use name"))
    elif state == "overridden" and not params.get("networks"):
        problems.add("task", "networks", "is required with state=overridden (the complete list of networks)")
    check(networks, state, problems)
    problems.int_range("task", "max_concurrency", params["max_concurrency"], 1, 64)
    if problems:
        runner.fail_problems(problems)

    desired = [] if state == "absent" else [nad_utils.manifest(net) for net in networks]
    if state == "rendered":
        runner.exit(changed=False, networks=[
            {"name": m["metadata"]["name"], "namespace": m["metadata"]["namespace"], "method": "rendered",
             "config": cni.parse(m["spec"]["config"]), "resource": m} for m in desired])

    session = runner.session
    kind = nad_utils.NadKind()
    namespaces = sorted(set(net["namespace"] for net in networks))
    try:
        existing, everywhere, overlap_warnings = nad_utils.read_nads(
            session, namespaces, params["overlap_scope"] if desired else None)
        wanted = set((net["namespace"], net["name"]) for net in networks)
        if state == "absent":
            deletions = [existing[k] for k in sorted(wanted) if k in existing]
        elif state == "overridden":
            deletions = [obj for k, obj in sorted(existing.items()) if k not in wanted and nad_utils.is_managed(obj)]
        else:
            deletions = []
        if desired:
            nad_utils.check_overlaps(problems, desired, everywhere, removed=set(key_of(o) for o in deletions),
                                     warnings=overlap_warnings, local=set(namespaces))
            for warning in overlap_warnings or []:
                module.warn(warning)
            if problems:
                runner.fail_problems(problems)
        users = None
        if deletions:
            users = nad_utils.users_of(session.list(VM.path()), session.list(VMI.path()))
            blocked = [(key_of(o), users[key_of(o)]) for o in deletions if users.get(key_of(o))]
            if blocked and not params["force"]:
                runner.fail("refusing to delete networks that VMs use (set force=true to delete anyway): " + "; ".join(
                    "%s/%s is used by %s" % (k[0], k[1], ", ".join(u)) for k, u in blocked),
                    users=dict(("%s/%s" % k, u) for k, u in blocked))
        # a namespace holding none of our NADs yet may not exist: one GET each, before the first write
        creating = set(key_of(obj)[0] for obj in desired if key_of(obj) not in existing)
        for namespace in nad_utils.missing_namespaces(session, creating - set(k[0] for k in existing)):
            problems.add("namespace %s" % namespace, "namespace", "does not exist: create the namespace first, "
                         "or correct the namespace option")
        if problems:
            runner.fail_problems(problems)
        actions = plan(kind, desired, existing, deletions)
        results = Executor(session, kind, check_mode=module.check_mode,
                           workers=params["max_concurrency"]).run(actions)
    except ApiError as err:
        runner.fail_api(err)

    failed = [r for r in results if r.get("error")]
    changed = any(r["method"] != UNCHANGED and not r.get("error") for r in results)
    out = dict(changed=changed, networks=[_entry(r, users if r["method"] == DELETE else None) for r in results])
    if module._diff and changed:  # pylint: disable=protected-access
        out["diff"] = diff_of([r for r in results if not r.get("error")])
    if failed:
        runner.fail("%d of %d networks failed: %s" % (len(failed), len(results), "; ".join(
            "%s/%s: %s" % (r["namespace"], r["name"], r["error"]) for r in failed)), **out)
    runner.exit(**out)
