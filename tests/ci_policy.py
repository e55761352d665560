"""In CI (``CI=true``) a skip is a failure: every test here needs only what
set-up installs (hack/venv.sh, hack/system-deps.sh from bindep.txt, the lab
build), so a skip there means set-up is broken, not that the test may pass.
The root conftest.py uses these hooks; tests/unit/test_ci_policy.py tests them."""

import os

import pytest


def _in_ci():
    return os.environ.get("CI") == "true"


def pytest_runtest_makereport(item, call):
    """A test skipped in its set-up or body (``pytest.skip``, ``importorskip``
    inside a test or fixture) is reported failed in CI."""
    if not _in_ci() or call.when not in ("setup", "call"):
        return None
    if call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
        reason = str(call.excinfo.value)
        call.excinfo = None
        rep = pytest.TestReport.from_item_and_call(item, call)
        rep.outcome = "failed"
        rep.longrepr = "skipped in CI, where set-up installs everything tests need: %s" % reason
        return rep
    return None


@pytest.hookimpl(tryfirst=True)   # before the terminal reporter and the session count it
def pytest_collectreport(report):
    """A whole file skipped while it is collected (a module-level
    ``pytest.importorskip`` or ``pytest.skip(allow_module_level=True)``) is a
    collection error in CI."""
    if _in_ci() and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = "skipped in CI, where set-up installs everything tests need: %s" % reason
