"""The tests' RequestLog (tests/integration/conftest.py) counts the requests sent
after its mark, not those an earlier test sent and the proxy answered late."""

import time

from tests.integration.conftest import RequestLog


class Proxy:
    """The lab's log API: entries numbered as they are answered, with the time they arrived."""

    def __init__(self):
        self.entries = []

    def log_seq(self):
        return len(self.entries)

    def log(self, seq):
        return self.entries[seq:]

    def answer(self, method, arrived):
        self.entries.append({"seq": len(self.entries) + 1, "time": arrived, "method": method, "path": "/x",
                             "dry_run": False})


def test_a_request_held_from_before_the_mark_is_not_counted():
    proxy = Proxy()
    stalled_since = time.time()
    proxy.answer("GET", stalled_since)
    log = RequestLog(proxy)
    proxy.answer("PATCH", stalled_since)   # sent before the mark, answered after it (a stalled write)
    proxy.answer("POST", time.time())
    assert [e["method"] for e in log.writes()] == ["POST"]
    log.mark()
    assert log.entries() == []
    proxy.answer("DELETE", time.time())
    assert [e["method"] for e in log.writes()] == ["DELETE"]
