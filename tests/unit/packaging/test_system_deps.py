"""hack/system-deps.sh installs, with apt, exactly the packages that bindep
reports missing for the "test" profile of bindep.txt, and does nothing when
none are.

The script runs as `make test` runs it, from a copy of the hack/ directory
next to a bindep.txt written here; the real bindep (the venv's) and the real
dpkg-query of this Debian host decide what is missing.  Only apt-get (and sudo,
for a non-root run) are replaced, by recorders on PATH: they would change the
host."""

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ABSENT = "kubevirt-net-test-absent-package"


@pytest.fixture
def checkout(tmp_path):
    os.makedirs(tmp_path / "hack")
    for name in ("system-deps.sh", "env.sh"):
        shutil.copy(os.path.join(REPO, "hack", name), tmp_path / "hack" / name)
    tools = tmp_path / "bin"
    tools.mkdir()
    record = tmp_path / "apt.log"
    (tools / "apt-get").write_text('#!/bin/sh\necho "$*" >> %s\n' % record)
    (tools / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    for tool in ("apt-get", "sudo"):
        os.chmod(tools / tool, 0o755)
    return tmp_path


def run(checkout, bindep_txt):
    (checkout / "bindep.txt").write_text(bindep_txt)
    env = dict(os.environ, VENV=os.path.dirname(os.path.dirname(sys.executable)),
               PATH="%s:%s" % (checkout / "bin", os.environ["PATH"]))
    proc = subprocess.run(["bash", str(checkout / "hack" / "system-deps.sh")], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    log = checkout / "apt.log"
    return proc, log.read_text().splitlines() if log.exists() else []


def test_installs_only_what_bindep_reports_missing_for_the_test_profile(checkout):
    assert shutil.which("dpkg-query"), "the host must be Debian-like (bindep.txt's platform:dpkg)"
    proc, apt = run(checkout, "\n".join([
        "# comment",
        "coreutils [test platform:dpkg]",           # installed on every Debian host
        ABSENT + " [test platform:dpkg]",           # missing: installed
        ABSENT + "-rpm [test platform:rpm]",        # another platform
        ABSENT + "-runtime [!test platform:dpkg]",  # excluded from the test profile
        ABSENT + "-doc [doc platform:dpkg]",        # another profile
    ]) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert apt == ["update -qq", "install -y -qq --no-install-recommends " + ABSENT]
    assert "installing " + ABSENT in proc.stdout


def test_nothing_missing_installs_nothing(checkout):
    proc, apt = run(checkout, "coreutils [test platform:dpkg]\n%s [platform:rpm]\n" % ABSENT)
    assert proc.returncode == 0, proc.stderr
    assert apt == [] and proc.stdout == ""


def test_a_bindep_failure_is_not_taken_for_missing_packages(checkout):
    proc, apt = run(checkout, "coreutils [test platform:dpkg\n")  # unclosed selector list: bindep's parse error
    assert proc.returncode == 1 and apt == []
    assert "bindep -b test failed" in proc.stderr
