"""Fixtures for the role tests that run ansible-playbook against a fake host (tests/fakesysfs): the
playbook environment (this checkout's collection, the JSON callback, the simulated kernel behind the module)
and a factory for fake host roots."""

import pytest

from tests.fakesysfs import build_host
from tests.fakesysfs.playbook import playbook_env


@pytest.fixture
def host_env(tmp_path):
    """ansible-playbook's environment for a fake host (no cluster)."""
    return playbook_env(tmp_path)


@pytest.fixture
def fake_host(tmp_path):
    """``fake_host(**build_host options)`` -> the root of a new fake host (with its fake tools unless
    ``tools=False``)."""

    def make(**kwargs):
        root = tmp_path / "host"
        kwargs.setdefault("tools", True)
        build_host(str(root), **kwargs)
        return root

    return make
