# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""What the cluster's KubeVirt can do, read from its KubeVirt CR: version,
feature gates (with KubeVirt 1.9's rule that Beta gates are on by default),
workload update methods and the VM rollout strategy; and the one reader of the
mutating admission webhooks in front of virt-launcher pods (Istio's sidecar
injector, network-resources-injector)."""


import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError, ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import KUBEVIRT, MUTATING_WEBHOOK

# pkg/virt-config/featuregate at v1.9.0 (network-relevant gates)
GA_GATES = {"HotplugNICs": (1, 4), "NetworkBindingPlugins": (1, 5), "LiveUpdateNADRef": (1, 9),
            "SRIOVLiveMigration": (1, 0)}
BETA_GATES = {"PasstBinding": (1, 8), "ExternalNetResourceInjection": (1, 8),
              "PodSecondaryInterfaceNamingUpgrade": (1, 7), "Snapshot": (0, 59)}
BETA_ON_BY_DEFAULT_FROM = (1, 9)


def parse_version(text: Optional[str]) -> Optional[Tuple[int, ...]]:
    """(major, minor, patch) from 'v1.9.0', '1.8.3-rc.1'; None when unknown."""
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", str(text or ""))
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


class KubeVirtInfo:
    """The KubeVirt CR of a cluster (None when KubeVirt is not installed)."""

    def __init__(self, cr: Optional[Dict[str, Any]]) -> None:
        self.cr = cr or {}
        self.installed = bool(cr)
        status = self.cr.get("status") or {}
        self.version_text = status.get("observedKubeVirtVersion") or status.get("targetKubeVirtVersion")
        self.version = parse_version(self.version_text)
        spec = self.cr.get("spec") or {}
        self.configuration = spec.get("configuration") or {}
        developer = self.configuration.get("developerConfiguration") or {}
        self.enabled_gates = set(developer.get("featureGates") or [])
        self.disabled_gates = set(developer.get("disabledFeatureGates") or [])
        self.workload_update_methods = list((spec.get("workloadUpdateStrategy") or {}).get("workloadUpdateMethods") or [])
        self.rollout_strategy = self.configuration.get("vmRolloutStrategy") or (
            "LiveUpdate" if self.version is None or self.version[:2] >= (1, 6) else "Stage")
        self.binding_plugins = dict((self.configuration.get("network") or {}).get("binding") or {})

    @classmethod
    def read(cls, session: ApiSession) -> "KubeVirtInfo":
        """One LIST across namespaces (the CR is usually kubevirt/kubevirt)."""
        items = session.list(KUBEVIRT.path())
        return cls(items[0] if items else None)

    def at_least(self, major: int, minor: int) -> bool:
        return self.version is None or self.version[:2] >= (major, minor)

    def gate_enabled(self, gate: str) -> bool:
        """KubeVirt's featuregate.IsEnabled: GA > explicit enable > explicit
        disable > Beta default-on (from 1.9.0)."""
        version = self.version[:2] if self.version else (1, 9)
        if gate in GA_GATES and version >= GA_GATES[gate]:
            return True
        if gate in self.enabled_gates:
            return True
        if gate in self.disabled_gates:
            return False
        return gate in BETA_GATES and version >= BETA_ON_BY_DEFAULT_FROM

    @property
    def live_migrate(self) -> bool:
        return "LiveMigrate" in self.workload_update_methods

    def as_dict(self) -> Dict[str, Any]:
        return {"installed": self.installed, "version": self.version_text,
                "workload_update_methods": self.workload_update_methods,
                "vm_rollout_strategy": self.rollout_strategy,
                "feature_gates": sorted(self.enabled_gates), "disabled_feature_gates": sorted(self.disabled_gates)}


def mutating_webhooks(session: Any) -> Optional[List[Dict[str, Any]]]:
    """Every MutatingWebhookConfiguration of the cluster (one LIST); None
    when this identity may not list them (401/403) or the server does not
    serve the API (404), so a caller can say "cannot check" instead of
    failing.  Any other API error is raised."""
    try:
        return session.list(MUTATING_WEBHOOK.path())
    except ApiError as err:
        if err.status in (401, 403, 404):
            return None
        raise
