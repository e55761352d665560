"""The lab's capabilities: what the emulated cluster has installed.

Set at start-up (``python -m lab up --option key=value``, or
``Lab(options={...})``) and changeable at run time through the proxy's
``/_lab/config`` endpoint (GET; PATCH with a JSON object).  What KubeVirt
itself reads from its CR (feature gates, workloadUpdateMethods,
vmRolloutStrategy, binding plugins) lives in the KubeVirt CR the lab creates in
namespace ``kubevirt``; controllers read it from there, as KubeVirt does.
"""

import copy
import json
import threading

DEFAULTS = {
    # Multus present (NAD-backed secondary networks work at all)
    "multus": True,
    # Multus thick plugin + multus-dynamic-networks-controller: in-place bridge hot-plug
    "dynamic_networks": True,
    # Istio installed with its CNI plugin (sidecar injection happens)
    "istio": False,
    # network-resources-injector deployed (the SR-IOV network operator's default): its
    # MutatingWebhookConfiguration exists.  With ExternalNetResourceInjection on (Beta, default in
    # v1.9) it, not virt-controller, adds a NAD's resourceName request to virt-launcher pods.
    "network_resources_injector": True,
    # written into the KubeVirt CR at start-up; workloadUpdateMethods: "LiveMigrate" migrates a
    # migratable VMI with MigrationRequired=True, "Evict" evicts the launcher pod of one it does not
    # migrate (the guest shuts down; migration.py WorkloadUpdater)
    "workload_update_methods": ["LiveMigrate"],
    "vm_rollout_strategy": "LiveUpdate",
    "feature_gates": [],
    "disabled_feature_gates": [],
    # seconds every emulated controller waits before acting on a change, so
    # tests can observe intermediate states (0 = as fast as possible)
    "reconcile_delay": 0.0,
    "pod_cidr": "10.244.0.0/16",
    "cluster_domain": "cluster.local",
    "nodes": [
        # devices.kubevirt.io/{kvm,tun,vhost-net}: what virt-handler's device plugins advertise
        {"name": "node01", "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "250",
                                           "ephemeral-storage": "100Gi",
                                           "devices.kubevirt.io/kvm": "1k", "devices.kubevirt.io/tun": "1k",
                                           "devices.kubevirt.io/vhost-net": "1k",
                                           "openshift.io/intelnics": "8"}},
        {"name": "node02", "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "250",
                                           "ephemeral-storage": "100Gi",
                                           "devices.kubevirt.io/kvm": "1k", "devices.kubevirt.io/tun": "1k",
                                           "devices.kubevirt.io/vhost-net": "1k"}},
    ],
}


def parse_option(text):
    """``key=value`` from the command line; the value is JSON when it parses."""
    key, _sep, raw = text.partition("=")
    if key not in DEFAULTS:
        raise ValueError("unknown lab option %r; known: %s" % (key, ", ".join(sorted(DEFAULTS))))
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


class LabConfig:
    """Thread-safe capabilities with change notification."""

    def __init__(self, overrides=None):
        self._values = copy.deepcopy(DEFAULTS)
        self._lock = threading.Lock()
        self._listeners = []
        self.update(overrides or {})

    def get(self, key):
        with self._lock:
            return copy.deepcopy(self._values[key])

    def snapshot(self):
        with self._lock:
            return copy.deepcopy(self._values)

    def update(self, changes):
        unknown = sorted(set(changes) - set(DEFAULTS))
        if unknown:
            raise ValueError("unknown lab option(s): %s" % ", ".join(unknown))
        with self._lock:
            self._values.update(copy.deepcopy(changes))
            listeners = list(self._listeners)
        for listener in listeners:
            listener(dict(changes))

    def on_change(self, listener):
        """listener(changes: dict) after every update."""
        self._listeners.append(listener)
