# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Which namespaces a task targets: an explicit list and a namespace selector,
resolved against the namespaces read (pure; shared by kubevirt_network_policies
and kubevirt_vm_istio)."""

from typing import Any, Dict, List, Optional

from ansible_collections.kubevirt_net.core.plugins.module_utils import selectors


def resolve_targets(explicit: List[str], selector: Optional[Dict[str, Any]], namespaces: Dict[str, Dict[str, Any]],
                    state: str, problems: Any, findings: List[Dict[str, str]]) -> List[str]:
    """Target namespace names (sorted) from the explicit list and the selector."""
    targets = set()
    for name in explicit:
        obj = namespaces.get(name)
        if obj is None:
            if state == "present":
                problems.add("namespace %s" % name, "namespaces", "does not exist: create it first or remove it "
                                                                  "from the list")
            continue
        if (obj.get("status") or {}).get("phase") == "Terminating":
            if state == "present":
                problems.add("namespace %s" % name, "namespaces", "is being deleted (Terminating): nothing can be "
                                                                  "created in it")
                continue
        targets.add(name)
    if selector is not None:
        matched = []
        for name, obj in sorted(namespaces.items()):
            if selectors.matches(selector, (obj.get("metadata") or {}).get("labels")):
                if (obj.get("status") or {}).get("phase") == "Terminating":
                    findings.append({"kind": "terminating",
                                     "message": "namespace %s matches namespace_selector but is being deleted: "
                                                "skipped" % name})
                    continue
                matched.append(name)
        if not matched:
            findings.append({"kind": "no-match", "message": "namespace_selector %s matched no namespace"
                                                            % selectors.describe(selector)})
        targets.update(matched)
    return sorted(targets)
