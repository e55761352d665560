"""virt-operator's reconciliation of what depends on the KubeVirt CR.

The lab installs KubeVirt from virt-operator's install strategy once
(lab/kubevirt_cp.py); virt-operator itself does not run.  Part of that
strategy follows the CR: the ``kubevirt-controller`` ClusterRole may read
NetworkAttachmentDefinitions only while ``ExternalNetResourceInjection`` is
disabled (``pkg/virt-operator/resource/generate/install/strategy.go``:
``rbac.GetAllController(ns, !config.ExternalNetResourceInjectionEnabled())``).
When the CR changes, this part asks virt-operator's generator again
(``labinstall`` with the current CR) and replaces every KubeVirt ClusterRole
whose rules differ, as virt-operator's reconcile would.
"""

import logging
import threading

from ..kubevirt_cp import manifests, strategy_objects
from .capabilities import KUBEVIRT_PATH
from .kapi import Conflict, KubeError, NotFound

log = logging.getLogger("lab.kubevirt.operator")

CLUSTER_ROLES = "/apis/rbac.authorization.k8s.io/v1/clusterroles"


class Operator:
    def __init__(self, kube, labinstall):
        self.kube = kube
        self.labinstall = labinstall
        self._lock = threading.Lock()
        self._last_spec = None

    def on_kubevirt(self, event_type, cr):
        if event_type == "DELETED":
            return
        spec = cr.get("spec")
        if spec == self._last_spec:
            return
        try:
            self.reconcile()
        except (KubeError, NotFound, OSError, ValueError) as exc:
            log.error("reconciling KubeVirt's RBAC failed: %s", exc)

    def reconcile(self):
        with self._lock:
            cr = self.kube.get_or_none(KUBEVIRT_PATH)
            if cr is None:
                return []
            plan = strategy_objects(manifests(self.labinstall, cr))
            changed = []
            for role in plan["clusterRoles"]:
                path = "%s/%s" % (CLUSTER_ROLES, role["metadata"]["name"])
                current = self.kube.get_or_none(path)
                if current is None or (current.get("rules") or []) == (role.get("rules") or []):
                    continue
                body = dict(current, rules=role.get("rules") or [])
                try:
                    self.kube.replace(path, body)
                    changed.append(role["metadata"]["name"])
                except Conflict:
                    return self.reconcile()
            self._last_spec = cr.get("spec")
            if changed:
                log.info("ClusterRoles reconciled with the KubeVirt CR: %s", ", ".join(changed))
            return changed


def start(ctx):
    labinstall = ctx.state.get("labinstall")
    if not labinstall:
        log.warning("no labinstall in the lab state: KubeVirt's RBAC will not follow the CR")
        return None
    operator = Operator(ctx.kube, labinstall)
    ctx.informer("/apis/kubevirt.io/v1/kubevirts").add_handler(operator.on_kubevirt)
    return operator
