# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Waiting and fanning out: the two loops every flow needs, written once.

* ``poll(probe, timeout)`` calls ``probe`` until it returns something other
  than None or the ``Deadline`` passes.  Each probe runs under the deadline
  (``session.within``), so a probe's requests and their retries end with the
  wait, and the pause between probes is cut to the time left: a wait of 15 s
  ends by 15 s.
* ``fan_out(func, items, limit)`` calls ``func`` on every item, at most
  ``limit`` at a time, and returns the answers in the order of ``items``.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, List, Optional, TypeVar, Union

from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline

T = TypeVar("T")
R = TypeVar("R")

MIN_INTERVAL = 0.05  # seconds between two probes at least, whatever wait_sleep says


def deadline_of(timeout: Union[Deadline, float, int]) -> Deadline:
    """``timeout`` as a ``Deadline`` (seconds from now, or the one given)."""
    return timeout if isinstance(timeout, Deadline) else Deadline(float(timeout))


def poll(probe: Callable[[], Optional[T]], timeout: Union[Deadline, float, int], interval: float = 1.0,
         session: Any = None, sleep: Optional[Callable[[float], Any]] = None) -> Optional[T]:
    """``probe()`` until it answers something other than None (returned), or
    until ``timeout`` (a ``Deadline`` or seconds) passes (None).  The probe is
    called at least once.  With ``session``, each probe runs under the
    deadline (``session.within``): its requests are cut to the time left and
    none is sent after it.  A probe decides itself what a failed read means
    (catch ``ApiError`` there: "not yet", or stop with an answer).  ``sleep``
    replaces the deadline's own sleep (tests)."""
    deadline = deadline_of(timeout)
    pause = max(interval, MIN_INTERVAL)
    while True:
        if session is not None:
            with session.within(deadline):
                answer = probe()
        else:
            answer = probe()
        if answer is not None:
            return answer
        if deadline.expired():
            return None
        if sleep is None:
            deadline.sleep(pause)
        else:
            sleep(deadline.cut(pause))


def fan_out(func: Callable[[T], R], items: Iterable[T], limit: int) -> List[R]:
    """``[func(item) for item in items]``, at most ``limit`` calls at a time
    (threads; one item, or a limit of 1, runs in this thread).  Answers keep
    the order of ``items``; an exception of one call is raised after all ran."""
    todo = list(items)
    workers = min(max(int(limit or 1), 1), len(todo))
    if workers <= 1:
        return [func(item) for item in todo]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, todo))
