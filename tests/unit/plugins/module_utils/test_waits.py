import threading
import time

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from ansible_collections.kubevirt_net.core.plugins.module_utils.waits import fan_out, poll
from tests.unit.plugins.module_utils.session_double import Clock, TimeBounds


def test_poll_returns_the_first_answer_and_sleeps_between_probes():
    clock = Clock(now=0.0)
    answers = [None, None, "done"]
    assert poll(lambda: answers.pop(0), Deadline(60, clock=clock, sleep=clock.sleep), 2.0) == "done"
    assert clock.slept == [2.0, 2.0]


def test_poll_ends_at_the_deadline_with_the_last_sleep_cut():
    clock = Clock(now=0.0)
    calls = []
    assert poll(lambda: calls.append(1), Deadline(15, clock=clock, sleep=clock.sleep), 4.0) is None
    assert clock.slept == [4.0, 4.0, 4.0, 3.0] and clock.now == 15.0 and len(calls) == 5


def test_poll_probes_once_even_after_the_deadline_and_runs_under_it():
    session = TimeBounds()
    deadline = Deadline(0)
    assert poll(lambda: 0, deadline, 1.0, session=session) == 0     # 0 is an answer; only None is "not yet"
    assert session.deadlines == [deadline]


def test_poll_accepts_seconds_and_an_own_sleep():
    slept = []
    assert poll(lambda: None, 0.0, 1.0, sleep=slept.append) is None and slept == []


def test_fan_out_keeps_the_order_and_the_cap():
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def work(item):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return item * 2
    assert fan_out(work, range(12), 3) == [i * 2 for i in range(12)]
    assert 1 < state["max"] <= 3


def test_fan_out_runs_serially_with_a_cap_of_one_and_passes_errors_on():
    seen = []
    assert fan_out(lambda i: seen.append(threading.current_thread().name) or i, [1, 2], 1) == [1, 2]
    assert set(seen) == {threading.current_thread().name}

    def boom(item):
        raise ValueError(item)
    with pytest.raises(ValueError):
        fan_out(boom, [1, 2, 3], 2)
    assert fan_out(boom, [], 4) == []
