import pytest

from urllib3.exceptions import ProtocolError

from ansible_collections.kubevirt_net.core.plugins.module_utils import args
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiSession
from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import (
    Deadline, RetryPolicy, parse_retry_after, policy_for)
from tests.unit.plugins.module_utils.session_double import Clock


@pytest.mark.parametrize("status,expected", [(429, True), (500, True), (502, True), (503, True), (504, True),
                                             (400, False), (403, False), (404, False), (409, False),
                                             (422, False)])
def test_status_retry_applies_to_writes_too(status, expected):
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry(1, "POST", status=status) is expected
    assert policy.should_retry(1, "GET", status=status) is expected


def test_attempts_bound_the_retries():
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry(2, "GET", status=503)
    assert not policy.should_retry(3, "GET", status=503)
    assert not RetryPolicy(attempts=1).should_retry(1, "GET", status=503)


@pytest.mark.parametrize("method,expected", [("GET", True), ("PUT", True), ("DELETE", True),
                                             ("POST", False), ("PATCH", False)])
def test_transport_errors_repeat_only_idempotent_methods(method, expected):
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry(1, method, transport_error=True) is expected
    assert policy.should_retry(1, method, transport_error=True, retry_unsafe=True)


def test_retry_after_wins_and_is_capped():
    policy = RetryPolicy(max_delay=10.0)
    assert policy.delay(1, "3") == 3.0
    assert policy.delay(1, "120") == 10.0


def test_backoff_grows_exponentially_with_bounded_jitter():
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, jitter=0.2, rand=lambda: 1.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.6, 1.2, 2.4, 4.8, 4.8]
    assert RetryPolicy(base_delay=0.5, jitter=0.2, rand=lambda: 0.0).delay(2) == 1.0


@pytest.mark.parametrize("value,expected", [(None, None), ("5", 5.0), (" 1.5 ", 1.5), ("-1", None),
                                            ("Wed, 21 Oct 2015 07:28:00 GMT", None)])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_attempts_must_be_positive():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


# ------------------------------------------------------------ api_retries / wait options (issue 19 item 3)


class _Module:
    def __init__(self, **params):
        self.params = params


class _Client:
    """Every request fails as a reset connection (a GET is retried)."""

    def __init__(self):
        self.calls = 0

    def request(self, method, path, body=None, **params):
        self.calls += 1
        raise ProtocolError("connection reset")


@pytest.mark.parametrize("retries,tries", [(0, 1), (1, 2), (3, 4), (None, 5)])
def test_api_retries_counts_retries_after_the_first_try(retries, tries):
    assert policy_for(retries).attempts == tries
    client = _Client()
    api = ApiSession(_Module(api_retries=retries), sleep=lambda _s: None, dynamic_client=client)
    with pytest.raises(Exception):
        api.request("GET", "/api/v1/namespaces/x")
    assert client.calls == tries   # 0 means one try, not the default


@pytest.mark.parametrize("value", [-1, -5, True, "3"])
def test_bad_api_retries_refused_with_an_honest_message(value):
    with pytest.raises(ValueError) as err:
        policy_for(value)
    assert "api_retries" in str(err.value) and "0 or more" in str(err.value)
    assert "api_retries" in args.option_error({"api_retries": value})


def test_default_api_retries_keeps_five_tries():
    assert args.API_ARG_SPEC["api_retries"]["default"] == 4 and policy_for(None).attempts == 5


@pytest.mark.parametrize("params,words", [
    ({"wait": True, "wait_timeout": -5}, "wait_timeout: -5 is not a timeout"),
    ({"wait": True, "wait_timeout": 0}, "wait=false"),
    ({"write_timeout": 0, "wait_timeout": 60}, "write_timeout: 0"),
    ({"wait_sleep": 0.0}, "wait_sleep: 0.0 must be more than 0"),
    ({"wait_sleep": -1.0}, "wait_sleep"),
])
def test_wait_options_must_be_positive(params, words):
    assert words in args.option_error(params)


def test_good_options_pass():
    assert args.option_problems({"api_retries": 0, "wait": True, "wait_timeout": 1, "wait_sleep": 0.1}) == []
    assert args.option_problems({"api_retries": None, "wait_timeout": None}) == []
    assert args.option_error({"api_retries": 4}) == ""


# ------------------------------------------------------------ issue 19 item 5: conflicts, deadlines
def test_conflict_backoff_is_exponential_with_equal_jitter_and_capped():
    low = RetryPolicy(rand=lambda: 0.0)
    high = RetryPolicy(rand=lambda: 1.0)
    assert [low.conflict_delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert [high.conflict_delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_deadline_cuts_sleeps_and_timeouts_to_the_time_left():
    clock = Clock()
    deadline = Deadline(15, clock=clock, sleep=clock.sleep)
    for _poll in range(4):
        deadline.sleep(4)
    assert clock.slept == [4, 4, 4, 3] and deadline.expired() and deadline.remaining() == 0
    deadline.sleep(4)
    assert clock.slept == [4, 4, 4, 3]  # nothing left to sleep
    clock.now = 110.0
    assert deadline.cut(60) == 5.0 and deadline.cut(2) == 2 and deadline.cut(None) == 5.0


@pytest.mark.parametrize("value", [0, 0.0, -1, -0.5])
def test_request_timeout_must_be_positive(value):
    assert "request_timeout: %r is not a timeout" % (value,) in args.option_error({"request_timeout": value})


def test_every_api_module_gets_request_timeout_with_a_default():
    spec = args.argument_spec({"name": {"type": "str"}})
    assert spec["request_timeout"] == {"type": "float", "default": 60}
    assert args.option_problems({"request_timeout": 0.5}) == []
