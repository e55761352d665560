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


# in CI a skip is a failure (tests/ci_policy.py)
from tests.ci_policy import pytest_collectreport, pytest_runtest_makereport  # noqa: E402,F401 pylint: disable=wrong-import-position,unused-import
