"""What every API-session test double needs beyond get/list/request: the time
bounds of ``ApiSession`` (``within`` a wait's deadline, ``conflict_pause``),
recorded instead of slept."""

import contextlib


class TimeBounds:
    """Mix into a fake session: ``deadlines`` lists the deadline of every
    ``within`` block entered, ``conflict_pauses`` the attempt numbers passed to
    ``conflict_pause`` (nothing sleeps)."""

    @contextlib.contextmanager
    def within(self, deadline):
        self.__dict__.setdefault("deadlines", []).append(deadline)
        yield deadline

    def conflict_pause(self, attempt):
        self.__dict__.setdefault("conflict_pauses", []).append(attempt)


class Clock:
    """A monotonic clock for ``Deadline``s: ``sleep`` records and advances it."""

    def __init__(self, now=100.0):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds
