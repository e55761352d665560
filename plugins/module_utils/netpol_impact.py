# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""What a NetworkPolicy change does before it is written: the flows between
given endpoints and ports that it opens or closes (evaluated before and after
with netpol_eval.evaluate)."""


from typing import Any, Dict, Iterable, List, Sequence, Tuple, Union

from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_eval import Verdict, evaluate
from ansible_collections.kubevirt_net.core.plugins.module_utils.netpol_model import (
    Endpoint, EndpointLike, EvaluationError, NamespacesLike, policy_name)


class FlowChange:
    def __init__(self, before: Verdict, after: Verdict) -> None:
        self.before = before
        self.after = after

    @property
    def change(self) -> str:
        order = {"denied": 0, "partial": 1, "allowed": 2}
        return "newly_allowed" if order[self.after.outcome] > order[self.before.outcome] else "newly_denied"

    def as_dict(self) -> Dict[str, Any]:
        return {"source": self.after.source.name, "destination": self.after.destination.name,
                "port": self.after.port, "protocol": self.after.protocol, "change": self.change,
                "before": self.before.outcome, "after": self.after.outcome,
                "policies_before": self.before.deciding_policies, "policies_after": self.after.deciding_policies,
                "reasons": self.after.reasons}


def merge_policies(current: Iterable[Dict[str, Any]], changes: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """``current`` policies with ``changes`` applied: a change replaces the
    policy of the same namespace/name or adds it; a change with
    ``state: absent`` removes it."""
    result = dict((policy_name(p), p) for p in current)
    for change in changes:
        name = policy_name(change)
        if change.get("state") == "absent":
            result.pop(name, None)
        else:
            result[name] = dict((k, v) for k, v in change.items() if k != "state")
    return list(result.values())


def impact(before: Sequence[Dict[str, Any]], after: Sequence[Dict[str, Any]], namespaces: NamespacesLike,
           endpoints: Iterable[EndpointLike], ports: Iterable[Tuple[Union[int, str, None], str]],
           name_label: bool = False) -> List[FlowChange]:
    """The flows between ``endpoints`` (every ordered pair of distinct
    endpoints, at least one of them a pod) on ``ports`` (list of
    ``(port, protocol)``) whose outcome differs between the ``before`` and
    ``after`` policy sets, as ``FlowChange`` objects."""
    ends = [Endpoint.coerce(e) for e in endpoints]
    changes = []
    for src in ends:
        for dst in ends:
            if src is dst or (not src.is_pod and not dst.is_pod):
                continue
            for port, protocol in ports:
                try:
                    old = evaluate(before, namespaces, (), src, dst, port, protocol, name_label=name_label)
                    new = evaluate(after, namespaces, (), src, dst, port, protocol, name_label=name_label)
                except EvaluationError:
                    continue
                if old.outcome != new.outcome:
                    changes.append(FlowChange(old, new))
    return changes
