"""Shared pieces of the lab's node side (virt-handler, the launcher pod
runtime): API timestamps, status conditions the way KubeVirt's condition
managers keep them (``pkg/controller/conditions.go``: ``lastTransitionTime``
only moves when the status changes), events, a Controller that spaces its
observable steps ``reconcile_delay`` apart, and the lab-wide MAC/IP books."""

import datetime
import threading
import time

from .net_ipam import Allocator
from .net_status import MacPool
from .runtime import Controller, key_of


def now():
    """An RFC 3339 timestamp, as the API server stores metav1.Time."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_condition(obj_or_conditions, kind):
    conditions = obj_or_conditions
    if isinstance(obj_or_conditions, dict):
        conditions = (obj_or_conditions.get("status") or {}).get("conditions")
    return next((c for c in conditions or [] if c.get("type") == kind), None)


def set_condition(conditions, kind, status, reason="", message=""):
    """``conditions`` with ``kind`` set in place (order kept); the transition
    time only moves when the status changes, so rewriting an unchanged
    condition changes nothing."""
    old = find_condition(conditions, kind) or {}
    entry = {"type": kind, "status": status, "lastProbeTime": None,
             "lastTransitionTime": old.get("lastTransitionTime") if old.get("status") == status else now()}
    if reason:
        entry["reason"] = reason
    if message:
        entry["message"] = message
    if old:
        return [entry if c.get("type") == kind else c for c in conditions]
    return list(conditions or []) + [entry]


def drop_condition(conditions, kind):
    return [c for c in conditions or [] if c.get("type") != kind]


class PacedController(Controller):
    """A Controller whose reconcile makes at most one observable step per
    ``reconcile_delay``: ``wait_left(key)`` says how long to wait before the
    next step, ``stepped(key)`` records a step and returns the requeue delay.
    Events enqueue keys ``reconcile_delay`` after the change they report."""

    def __init__(self, kube, config):
        super().__init__(kube, config)
        self._next_step = {}

    @property
    def delay(self):
        return float(self.config.get("reconcile_delay") or 0)

    def on_event(self, _event_type, obj):
        self.enqueue(key_of(obj), self.delay)

    def wait_left(self, key):
        return max(0.0, self._next_step.get(key, 0.0) - time.monotonic())

    def stepped(self, key):
        self._next_step[key] = time.monotonic() + self.delay
        return self.delay

    def forget(self, key):
        self._next_step.pop(key, None)


def record_event(kube, obj, event_type, reason, message, component, host=None):
    """A core/v1 Event about ``obj``, as the named component would record it."""
    meta = obj["metadata"]
    stamp = now()
    event = {"apiVersion": "v1", "kind": "Event",
             "metadata": {"generateName": meta["name"] + ".", "namespace": meta["namespace"]},
             "involvedObject": {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", "Pod"),
                                "namespace": meta["namespace"], "name": meta["name"], "uid": meta.get("uid")},
             "type": event_type, "reason": reason, "message": message, "count": 1,
             "firstTimestamp": stamp, "lastTimestamp": stamp,
             "source": dict({"component": component}, **({"host": host} if host else {}))}
    kube.create("/api/v1/namespaces/%s/events" % meta["namespace"], event)


def status_patch(old, new):
    """A JSON merge patch turning the ``old`` status dict into ``new`` (top
    level keys; lists and dicts are replaced whole)."""
    patch = {key: value for key, value in new.items() if (old or {}).get(key) != value}
    patch.update({key: None for key in old or {} if key not in new})
    return patch


class NetState:
    """The lab's address books, shared by the VMI, migration and pod parts."""

    def __init__(self):
        self.macs = MacPool()
        self.ips = Allocator()


def net_state(ctx):
    """The daemon's one NetState (kept on the emulator Context)."""
    with _STATE_LOCK:
        if not hasattr(ctx, "kubevirt_net_state"):
            ctx.kubevirt_net_state = NetState()
        return ctx.kubevirt_net_state


_STATE_LOCK = threading.Lock()
