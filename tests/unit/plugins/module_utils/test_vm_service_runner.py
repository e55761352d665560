"""kubevirt_vm_service's waits share one deadline: ``wait_timeout`` bounds the
task's waiting as a whole (issue 19 item 5), not the subdomain restarts and
the endpoints wait each on its own."""

from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_service_runner
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import ENDPOINTS
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import Deadline
from tests.unit.plugins.module_utils.session_double import Clock, Done, FakeRun, FakeSession

ENDPOINTS_DB = ENDPOINTS.path("vms", "db")


def slow_session(clock, cost):
    """Endpoints that never become ready; every read of them advances the clock by ``cost``."""
    def read_takes_time(_session, method, path):
        if (method, path) == ("GET", ENDPOINTS_DB):
            clock.now += cost
    return FakeSession({ENDPOINTS_DB: {"metadata": {"name": "db", "namespace": "vms"}, "subsets": []}},
                       on_request=read_takes_time)


def service(session):
    runner = vm_service_runner.VmService.__new__(vm_service_runner.VmService)
    runner.params = {"name": "db", "wait_timeout": 10, "wait_sleep": 1.0, "ports": []}
    runner.namespace, runner.runner = "vms", FakeRun(session)
    return runner


def test_the_endpoints_wait_gets_only_what_the_task_has_left():
    clock = Clock(now=0.0)
    deadline = Deadline(10, clock=clock, sleep=clock.sleep)
    clock.now = 8.0   # the restarts before it took 8 of the 10 s
    session = slow_session(clock, cost=0.5)
    try:
        service(session).wait_endpoints({"app": "db"}, [], [], {}, {}, deadline)
    except Done as failed:
        assert "after 10s" in str(failed)
    else:
        raise AssertionError("the wait did not fail")
    # 2 s left: reads at 8, 9.5 (+0.5 each, 1 s apart) -> the deadline passes at 10; a fresh
    # 10 s deadline would have polled about 7 times
    assert len(session.paths("GET")) <= 2 and set(session.paths("GET")) == {ENDPOINTS_DB}
    assert clock.now <= 10.5
    assert session.deadlines and all(d is deadline for d in session.deadlines)   # every read ran within it
