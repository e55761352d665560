"""Shared by every pytest suite here (tests/unit, tests/integration, bench/):
make this checkout importable as ``ansible_collections.kubevirt_net.core`` (a
symlink in .build/, so the repository never moves), the lab cluster (lab/,
one per test session), and skips that fail in CI."""

import os
import sys

import pytest

from lab.cluster import Lab

REPO = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(REPO, ".build")
_link = os.path.join(BUILD, "ansible_collections", "kubevirt_net", "core")
if not os.path.islink(_link):
    os.makedirs(os.path.dirname(_link), exist_ok=True)
    os.symlink(REPO, _link)
if BUILD not in sys.path:
    sys.path.insert(0, BUILD)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """The lab cluster (lab/cluster.py), started once per test session (per xdist worker)."""
    cluster = Lab(str(tmp_path_factory.mktemp("lab"))).up()
    yield cluster
    cluster.down()


def pytest_runtest_makereport(item, call):
    """In CI (``CI=true``) a skip is a failure: every test here needs only what
    set-up installs (hack/venv.sh, hack/system-deps.sh from bindep.txt, the lab
    build), so a skip there means set-up is broken, not that the test may pass."""
    if os.environ.get("CI") != "true" or call.when not in ("setup", "call"):
        return None
    if call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
        reason = str(call.excinfo.value)
        call.excinfo = None
        rep = pytest.TestReport.from_item_and_call(item, call)
        rep.outcome = "failed"
        rep.longrepr = "skipped in CI, where set-up installs everything tests need: %s" % reason
        return rep
    return None
