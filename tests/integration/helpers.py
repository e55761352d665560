"""Small helpers for integration tests.  No fixed sleeps: wait on a condition
with a bounded timeout, and fail with what was last seen."""

import time


def wait_for(probe, timeout=30.0, interval=0.1, message="condition"):
    """Call ``probe()`` until it returns a truthy value; return that value.
    Exceptions from the probe count as "not yet" until the timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except Exception as exc:  # pylint: disable=broad-except
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s; last seen: %r" % (timeout, message, last))
        time.sleep(interval)
