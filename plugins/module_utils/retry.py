# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""When to retry a Kubernetes API call, and how long to wait (pure logic)."""


import random
import time
from typing import Any, Callable, Optional, Union

# Methods that may be repeated without changing the outcome.
IDEMPOTENT_METHODS = frozenset(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
# Statuses that mean "the server did not act, try again later".
RETRYABLE_STATUSES = frozenset([429, 500, 502, 503, 504])


class RetryPolicy:
    """Bounded exponential back-off with jitter that honours ``Retry-After``.

    ``attempts`` counts every try, the first one included.  Writes are repeated
    after an HTTP status only: such a status proves the server did not apply the
    request (429/5xx from kube-apiserver are answered before the write is
    stored).  After a transport error (timeout, reset) the write may have landed,
    so only idempotent methods are repeated blindly; the caller decides for the
    others (``retry_unsafe``), e.g. after reading the object back.
    """

    def __init__(self, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 10.0, jitter: float = 0.2,
                 rand: Optional[Callable[[], float]] = None, conflict_base_delay: float = 0.1,
                 conflict_max_delay: float = 2.0) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self.conflict_base_delay = conflict_base_delay
        self.conflict_max_delay = conflict_max_delay
        self._rand = rand or random.random

    def should_retry(self, attempt: int, method: str, status: Optional[int] = None, transport_error: bool = False,
                     retry_unsafe: bool = False) -> bool:
        """``attempt`` is the number of the try that just failed (1-based)."""
        if attempt >= self.attempts:
            return False
        if transport_error:
            return method.upper() in IDEMPOTENT_METHODS or retry_unsafe
        return status in RETRYABLE_STATUSES

    def delay(self, attempt: int, retry_after: Optional[Union[str, float]] = None) -> float:
        """Seconds to wait before try ``attempt + 1``."""
        parsed = parse_retry_after(retry_after)
        if parsed is not None:
            return min(parsed, self.max_delay)
        backoff = min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)
        return backoff * (1 + self.jitter * self._rand())

    def conflict_delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th lost race (409 Conflict, or a
        guarded patch refused because the object changed) before reading the
        object again: exponential (0.1, 0.2, 0.4, ... capped at 2 s) with "equal
        jitter" - half fixed, half random - so writers that collided once do not
        collide again in lockstep."""
        cap = min(self.conflict_base_delay * (2 ** (max(attempt, 1) - 1)), self.conflict_max_delay)
        return cap / 2.0 + cap / 2.0 * self._rand()


# at least this many seconds must be left before a request is worth sending under a deadline
MIN_REQUEST_SECONDS = 0.05


class Deadline:
    """The end of a bounded wait (``wait_timeout`` seconds from its start).

    Every wait loop keeps inside it: ``sleep()`` is cut to the time left, and an
    ``ApiSession`` used under it (``session.within(deadline)``) cuts each
    request's timeout and its retry back-off to the time left as well, so a
    wait of 15 s ends by 15 s, not after one more full poll interval or one
    more slow request."""

    def __init__(self, seconds: float, clock: Optional[Callable[[], float]] = None,
                 sleep: Optional[Callable[[float], Any]] = None) -> None:
        self.seconds = seconds
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self.at = self._clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self.at

    def cut(self, seconds: Optional[float]) -> float:
        """``seconds`` (None: unbounded), but no more than the time left."""
        left = self.remaining()
        return left if seconds is None else min(seconds, left)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or only until the deadline when that comes first."""
        pause = self.cut(seconds)
        if pause > 0:
            self._sleep(pause)


DEFAULT_API_RETRIES = 4   # 5 tries in all, the count before api_retries meant retries


def retries_error(value: Any) -> Optional[str]:
    """Why ``value`` is not a valid ``api_retries``, else None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return ("api_retries: %r is not a number of retries: use an integer of 0 or more; it counts the tries "
                "after the first one (0 = try once, never retry; default %d)" % (value, DEFAULT_API_RETRIES))
    return None


def policy_for(api_retries: Optional[int] = None, **kwargs: Any) -> "RetryPolicy":
    """The policy of the ``api_retries`` option: that many retries after the
    first try (0 means none; None means the default)."""
    error = retries_error(api_retries)
    if error:
        raise ValueError(error)
    retries = DEFAULT_API_RETRIES if api_retries is None else api_retries
    return RetryPolicy(attempts=retries + 1, **kwargs)


def parse_retry_after(value: Optional[Union[str, float]]) -> Optional[float]:
    """Seconds from a ``Retry-After`` header (delta-seconds form), else None."""
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
