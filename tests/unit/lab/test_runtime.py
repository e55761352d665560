import threading

from lab.kubevirt.runtime import WorkQueue


def test_a_key_in_work_is_not_handed_out_again_until_done():
    queue = WorkQueue()
    stop = threading.Event()
    queue.add("a")
    assert queue.get(stop) == "a"
    queue.add("a")
    queue.add("b")
    assert queue.get(stop) == "b"          # "a" is still being processed
    got = []
    thread = threading.Thread(target=lambda: got.append(queue.get(stop)))
    thread.start()
    thread.join(0.3)
    assert got == []                        # nothing else ready
    queue.done("a")
    thread.join(5)
    assert got == ["a"]
    stop.set()


def test_earlier_due_time_wins_and_duplicates_collapse():
    queue = WorkQueue()
    stop = threading.Event()
    queue.add("k", delay=60)
    queue.add("k", delay=0)
    queue.add("k", delay=30)
    assert queue.get(stop) == "k"
    queue.done("k")
    stop.set()
    assert queue.get(stop) is None
