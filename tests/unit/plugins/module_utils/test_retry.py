import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import RetryPolicy, parse_retry_after


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
