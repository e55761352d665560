# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The requests of kubevirt_vm_istio besides its writes: which Istio APIs the
cluster serves, istiod's version, the per-namespace (or cluster-wide) reads
of one run, the executor that never takes over a foreign object, and the
rolling restart of running VMs in bounded batches."""


from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import istio, istio_verify
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.istio_objects import is_ours
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import Executor, key_of
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import POD, VMI
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from ansible_collections.kubevirt_net.core.plugins.module_utils.waits import fan_out
from ansible_collections.kubevirt_net.core.plugins.module_utils.writes import vm_action

CLUSTER_PAGE = 1000
LAUNCHER_SELECTOR = "kubevirt.io=virt-launcher"
Key = Tuple[str, str]


def api_group(session: Any, group: str) -> List[str]:
    """The served versions of an API group (preferred first), [] when absent."""
    answer = session.get("/apis/%s" % group)
    if not answer or not isinstance(answer, dict):
        return []
    versions = [v.get("version") for v in answer.get("versions") or []]
    preferred = (answer.get("preferredVersion") or {}).get("version")
    if preferred in versions:
        versions.remove(preferred)
        versions.insert(0, preferred)
    return versions


def pick_version(versions: List[str]) -> Optional[str]:
    return "v1" if "v1" in versions else (versions[0] if versions else None)


def detect_istio_version(session: Any, namespace: str) -> Optional[Tuple[int, ...]]:
    """Istio's version from the istiod Deployment image; None when not found."""
    try:
        items = session.list("/apis/apps/v1/namespaces/%s/deployments" % namespace, label_selector="app=istiod")
    except ApiError as err:
        if err.status in (403, 404):
            return None
        raise
    for deployment in items:
        for container in (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
                "containers") or []:
            version = istio.istio_version_from_image(container.get("image"))
            if version:
                return version
    return None


class Reader:
    """The per-namespace objects, read with one LIST per (kind, namespace) or
    one cluster-wide LIST per kind, concurrently."""

    def __init__(self, session: Any, targets: List[str], scope: str, workers: int) -> None:
        self.session = session
        self.targets = targets
        self.scope = scope
        self.workers = workers

    def read(self, jobs: Dict[str, Tuple[Any, Optional[str]]]) -> Dict[str, Dict[str, List[Dict[str, Any]]]]:
        """jobs: name -> (resource path builder, label selector); returns name -> {namespace: [items]}."""
        calls: List[Tuple[str, Optional[str], Any, Optional[str]]] = []
        for name, (resource, selector) in jobs.items():
            if self.scope == "cluster":
                calls.append((name, None, resource.path(), selector))
            else:
                calls.extend((name, ns, resource.path(ns), selector) for ns in self.targets)
        out: Dict[str, Dict[str, List[Dict[str, Any]]]] = dict(
            (name, dict((ns, []) for ns in self.targets)) for name in jobs)

        def one(call: Tuple[str, Optional[str], Any, Optional[str]]
                ) -> Tuple[Tuple[str, Optional[str], Any, Optional[str]], List[Dict[str, Any]]]:
            return call, self.session.list(call[2], label_selector=call[3], page_size=CLUSTER_PAGE)

        answers = fan_out(one, calls, self.workers)
        for (name, _ns, _path, _sel), items in answers:
            for obj in items:
                namespace = (obj.get("metadata") or {}).get("namespace")
                if namespace in out[name]:
                    out[name][namespace].append(obj)
        return out


class OwnedExecutor(Executor):
    """Never takes over an object this module did not make: when it reads one
    again (409, lost answer) and it is not ours, that object stops there."""

    def _read(self, obj: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
        fresh = super()._read(obj)
        if fresh is not None and not is_ours(fresh):
            raise ApiError("GET", self._path(obj), 409, message="%s %s/%s exists and is not managed by this module: "
                           "left alone" % (self.kind.resource.kind, key_of(obj)[0], key_of(obj)[1]))
        return fresh


class RollingRestart:
    """Restart running VMs in batches of ``batch_size`` (the VM ``restart``
    subresource) and wait for each batch: a new VMI that is Ready, and a
    virt-launcher pod with istio-proxy exactly when its namespace injects.  A
    failed batch stops the next ones."""

    def __init__(self, session: Any, batch_size: int, workers: int, timeout: float, poll: float,
                 clock: Optional[Callable[[], float]] = None, sleep: Optional[Callable[[float], Any]] = None) -> None:
        self.session = session
        self.batch_size = batch_size
        self.workers = workers
        self.timeout = timeout
        self.poll = poll
        self._clock, self._sleep = clock, sleep   # tests: a fake clock (retry.Deadline's)

    def run(self, keys: List[Key], running: Dict[Key, Any], ns_labels: Dict[str, Dict[str, str]]
            ) -> Tuple[List[Key], Dict[Key, str], Dict[str, Dict[Any, Any]]]:
        """(restarted keys, {key: error}, {"vmis": {key: VMI}, "pods": {namespace: [pods]}} as last read)."""
        done: List[Key] = []
        errors: Dict[Key, str] = {}
        fresh: Dict[str, Dict[Any, Any]] = {"vmis": {}, "pods": {}}
        for start in range(0, len(keys), self.batch_size):
            batch = keys[start:start + self.batch_size]
            old = dict((key, (running.get(key) or {}).get("metadata", {}).get("uid")) for key in batch)
            pending = self._restart(batch, errors)
            deadline = Deadline(self.timeout, self._clock, self._sleep)  # reads and sleeps are cut to it
            while pending:
                pending = self._still_pending(pending, old, ns_labels, deadline, done, fresh)
                if pending and deadline.expired():
                    for key in pending:
                        errors[key] = self._timeout_text(istio.injection_expected(ns_labels[key[0]]))
                    pending = []
                elif pending:
                    deadline.sleep(self.poll)
            if errors:
                break  # do not go on with the next batch after a failure
        return done, errors, fresh

    def _restart(self, batch: List[Key], errors: Dict[Key, str]) -> List[Key]:
        def restart(key: Key) -> Tuple[Key, Optional[str]]:
            try:
                vm_action(self.session, key[0], key[1], "restart")
                return key, None
            except ApiError as err:
                return key, str(err)

        pending = []
        for key, error in fan_out(restart, batch, self.workers):
            if error:
                errors[key] = error
            else:
                pending.append(key)
        return pending

    def _read(self, spaces: List[str], deadline: Deadline) -> Tuple[Optional[List[Any]], Dict[str, List[Any]]]:
        """The VMIs and launcher pods of ``spaces`` (None, {ns: []} when the deadline cut the reads)."""
        def bounded_list(path: str, label_selector: Optional[str] = None) -> List[Any]:
            with self.session.within(deadline):  # per worker thread
                return self.session.list(path, label_selector=label_selector)

        try:
            vmis = fan_out(lambda ns: (ns, bounded_list(VMI.path(ns))), spaces, self.workers)
            pods = fan_out(lambda ns: (ns, bounded_list(POD.path(ns), label_selector=LAUNCHER_SELECTOR)),
                           spaces, self.workers)
        except ApiError as err:
            if err.sent:
                raise
            return None, dict((ns, []) for ns in spaces)  # the time is up: report what is pending
        return vmis, dict(pods)

    def _still_pending(self, pending: List[Key], old: Dict[Key, Any], ns_labels: Dict[str, Dict[str, str]],
                       deadline: Deadline, done: List[Key], fresh: Dict[str, Dict[Any, Any]]) -> List[Key]:
        vmis, pods = self._read(sorted(set(k[0] for k in pending)), deadline)
        by_key = dict(((ns, v["metadata"]["name"]), v) for ns, items in vmis or [] for v in items)
        if vmis is not None:
            fresh["pods"].update(pods)
        still = []
        for key in pending:
            vmi = by_key.get(key)
            if vmis is not None:
                fresh["vmis"][key] = vmi
            injecting = istio.injection_expected(ns_labels[key[0]])
            pod = istio_verify.pod_of(vmi, pods[key[0]])
            if (vmi is not None and vmi["metadata"].get("uid") != old[key] and istio_verify.vmi_ready(vmi)
                    and pod is not None and istio_verify.has_proxy(pod) == injecting):
                done.append(key)
            else:
                still.append(key)
        return still

    def _timeout_text(self, injecting: bool) -> str:
        return ("timed out after %ss waiting for the restarted VM to be Ready with%s an istio-proxy container in its "
                "virt-launcher pod%s" % (self.timeout, "" if injecting else "out",
                                         " (is Istio's sidecar injector running?)" if injecting else ""))
