"""Informers and work queues for the emulated controllers (the client-go
pattern, small): an Informer lists and watches one resource across all
namespaces and keeps a cache; a Controller reconciles keys from a delaying
queue, so a reconcile can ask to run again later."""

import heapq
import logging
import threading
import time

from .kapi import KubeError

log = logging.getLogger("lab.kubevirt")


def key_of(obj):
    meta = obj.get("metadata", {})
    return "%s/%s" % (meta.get("namespace", ""), meta["name"])


class Informer:
    def __init__(self, kube, path, name=None):
        self.kube = kube
        self.path = path
        self.name = name or path
        self.cache = {}
        self.handlers = []
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def add_handler(self, handler):
        """handler(event_type, obj) with event_type in ADDED, MODIFIED, DELETED."""
        self.handlers.append(handler)

    def get(self, key):
        with self._lock:
            return self.cache.get(key)

    def items(self):
        with self._lock:
            return list(self.cache.values())

    def start(self):
        threading.Thread(target=self._run, name="informer:" + self.name, daemon=True).start()

    def stop(self):
        self._stop.set()

    def _dispatch(self, event_type, obj):
        for handler in self.handlers:
            try:
                handler(event_type, obj)
            except Exception:  # pylint: disable=broad-except
                log.exception("handler for %s failed", self.name)

    def _run(self):
        while not self._stop.is_set():
            try:
                listing = self.kube.list(self.path)
                fresh = {key_of(item): item for item in listing.get("items", [])}
                with self._lock:
                    gone = [obj for key, obj in self.cache.items() if key not in fresh]
                    self.cache = dict(fresh)
                for obj in gone:
                    self._dispatch("DELETED", obj)
                for obj in fresh.values():
                    self._dispatch("ADDED", obj)
                self.synced.set()
                version = listing.get("metadata", {}).get("resourceVersion")
                for event_type, obj in self.kube.watch(self.path, version):
                    if self._stop.is_set():
                        return
                    if event_type == "BOOKMARK":
                        continue
                    if event_type == "ERROR":
                        break  # e.g. 410 Gone: list again
                    with self._lock:
                        if event_type == "DELETED":
                            self.cache.pop(key_of(obj), None)
                        else:
                            self.cache[key_of(obj)] = obj
                    self._dispatch(event_type, obj)
            except (OSError, KubeError, ValueError) as exc:
                log.warning("informer %s: %s; relisting", self.name, exc)
                time.sleep(0.5)
            except Exception:  # pylint: disable=broad-except
                log.exception("informer %s crashed; relisting", self.name)
                time.sleep(0.5)


class WorkQueue:
    """A delaying, de-duplicating queue of keys."""

    def __init__(self):
        self._heap = []
        self._due = {}
        self._processing = set()
        self._cond = threading.Condition()

    def add(self, key, delay=0.0):
        when = time.monotonic() + delay
        with self._cond:
            current = self._due.get(key)
            if current is not None and current <= when:
                return
            self._due[key] = when
            heapq.heappush(self._heap, (when, key))
            self._cond.notify()

    def get(self, stop):
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # stale entry
                ready = [(when, key) for when, key in self._heap
                         if when <= now and key not in self._processing and self._due.get(key) == when]
                if ready:
                    when, key = min(ready)
                    self._heap.remove((when, key))
                    heapq.heapify(self._heap)
                    del self._due[key]
                    self._processing.add(key)  # a key is never handed to two workers at once
                    return key
                timeout = (self._heap[0][0] - now) if self._heap and self._heap[0][0] > now else 0.05
                self._cond.wait(min(timeout, 0.5))
        return None

    def done(self, key):
        with self._cond:
            self._processing.discard(key)
            self._cond.notify_all()


class Controller:
    """Subclasses implement ``reconcile(key)``; it may return seconds after
    which to reconcile the key again.  Errors are retried with back-off."""

    name = "controller"
    workers = 8  # the queue never hands one key to two workers at once

    def __init__(self, kube, config):
        self.kube = kube
        self.config = config
        self.queue = WorkQueue()
        self._stop = threading.Event()
        self._failures = {}

    def enqueue(self, key, delay=0.0):
        self.queue.add(key, delay)

    def start(self):
        for index in range(self.workers):
            threading.Thread(target=self._work, name="%s-%d" % (self.name, index), daemon=True).start()

    def stop(self):
        self._stop.set()

    def reconcile(self, key):  # pragma: no cover - abstract
        raise NotImplementedError

    def _work(self):
        while not self._stop.is_set():
            key = self.queue.get(self._stop)
            if key is None:
                continue
            try:
                again = self.reconcile(key)
                self._failures.pop(key, None)
                if again is not None:
                    self.enqueue(key, again)
            except Exception as exc:  # pylint: disable=broad-except
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                log.warning("%s: reconcile %s failed (%s): %s", self.name, key, failures, exc)
                self.enqueue(key, min(0.05 * 2 ** failures, 5.0))
            finally:
                self.queue.done(key)
