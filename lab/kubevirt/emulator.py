"""Starts KubeVirt's emulated parts inside the lab daemon.

Each part is a module with ``start(ctx)``; they share one ``Context``: the
controller-identity client (straight to kube-apiserver), the capabilities, the
proxy (for routes such as ``subresources.kubevirt.io``) and shared informers.
"""

import importlib
import json
import logging
import threading

from .config import LabConfig
from .kapi import Kube
from .runtime import Informer

log = logging.getLogger("lab.kubevirt")

# Started in this order.  KubeVirt's control plane (virt-api, virt-controller) runs
# as real processes (lab/kubevirt_cp.py); these are the node side.
PARTS = [
    "capabilities",   # KubeVirt CR, nodes, kubevirt namespace
    "operator",       # virt-operator's RBAC that follows the CR (ExternalNetResourceInjection)
    "kubelet",        # node Lease heartbeats (the node lifecycle controller keeps nodes Ready)
    "addons",         # network-resources-injector and Istio's sidecar injector (pod webhooks)
    "handler",        # virt-handler's node side, CNI/Multus and the kubelet for launcher pods
    "dns",            # the lab resolver
]


class Context:
    def __init__(self, state, state_dir, proxy, kube, config):
        self.state = state
        self.state_dir = state_dir
        self.proxy = proxy
        self.kube = kube
        self.config = config
        self._informers = {}
        self._lock = threading.Lock()

    def informer(self, path):
        """The shared informer of a collection path (all namespaces), started."""
        with self._lock:
            informer = self._informers.get(path)
            if informer is None:
                informer = Informer(self.kube, path)
                self._informers[path] = informer
                informer.start()
        return informer


def _config_route(config):
    def handle(method, path, query, headers, body):  # pylint: disable=unused-argument
        try:
            if method == "PATCH":
                config.update(json.loads(body or b"{}"))
            elif method != "GET":
                return 405, {"Content-Type": "application/json"}, b'{"error": "GET or PATCH"}'
        except ValueError as exc:
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": str(exc)}).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(config.snapshot()).encode()
    return handle


def start(state, state_dir, proxy, kubeconfig):
    config = LabConfig(state.get("options") or {})
    proxy.add_route("/_lab/config", _config_route(config))
    ctx = Context(state, state_dir, proxy, Kube(kubeconfig, context="lab-controller"), config)
    for name in PARTS:
        try:
            module = importlib.import_module("." + name, __package__)
        except ModuleNotFoundError as exc:
            if exc.name == "%s.%s" % (__package__, name):
                log.info("emulator part %s not present", name)
                continue
            raise
        module.start(ctx)
        log.info("emulator part %s started", name)
    return ctx
