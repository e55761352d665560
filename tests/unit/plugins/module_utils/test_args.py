"""Range checks of the shared options (args.option_problems), run by every
module before its first request (issue 19 item 3)."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils.args import option_error, option_problems


@pytest.mark.parametrize("params, words", [
    ({"wait_timeout": -5, "wait": True}, ["wait_timeout: -5 is not a timeout", "wait=false"]),
    ({"write_timeout": 0}, ["write_timeout: 0 is not a timeout"]),
    ({"request_timeout": 0.0}, ["request_timeout: 0.0 is not a timeout", "default 60"]),
    ({"restart_timeout": -1}, ["restart_timeout: -1 is not a timeout", "more than 0"]),
    ({"wait_sleep": 0}, ["wait_sleep: 0 must be more than 0 seconds"]),
    ({"restart_poll": -0.5}, ["restart_poll: -0.5 must be more than 0 seconds"]),
    ({"api_retries": -1}, ["api_retries", "0 or more"]),
])
def test_out_of_range_options_are_named(params, words):
    problems = option_problems(params)
    assert len(problems) == 1
    for word in words:
        assert word in problems[0]
    assert option_error(params).startswith("1 invalid option(s), nothing was done")


def test_in_range_options_pass():
    assert option_problems({"wait_timeout": 1, "write_timeout": 5, "request_timeout": 0.5, "restart_timeout": 600,
                            "wait_sleep": 0.1, "restart_poll": 1.0, "api_retries": 0}) == []
    assert option_error({}) == ""
