"""The support matrix's smoke run (issue 22) on the pytest worker's own lab:
playbooks/site.yml run by another ansible-core's ansible-playbook, from the
virtualenv hack/matrix.sh keeps for it (~/.cache/kubevirt-net-lab/venvs), is
converged for real, then checked: changed=0 and not one write request.

One module per ansible-core version (test_core_<x>_<y>.py), so pytest-xdist's
--dist loadfile runs them on different workers."""

import os
import subprocess

from lab.cluster import REPO_ROOT

SITE = os.path.join(REPO_ROOT, "playbooks", "site.yml")
MATRIX = os.path.join(REPO_ROOT, "hack", "matrix.sh")


def matrix_venv(minor: str) -> str:
    """The cached venv of ansible-core ``minor`` (created on first use: minutes)."""
    proc = subprocess.run(["bash", MATRIX, "venv", minor], capture_output=True, text=True, timeout=1800,
                          check=False)
    assert proc.returncode == 0, "hack/matrix.sh venv %s failed:\n%s" % (minor, proc.stderr[-4000:])
    return proc.stdout.strip().splitlines()[-1]


def core_env(ansible_env: dict, venv: str) -> dict:
    """ansible_env (the lab's kubeconfig, this checkout's collection) with the
    matrix venv's interpreter and commands in place of the main venv's."""
    bin_dir = os.path.join(venv, "bin")
    env = dict(ansible_env)
    env.update({
        "PATH": bin_dir + os.pathsep + ansible_env.get("PATH", ""),
        "VIRTUAL_ENV": venv,
        "ANSIBLE_PYTHON_INTERPRETER": os.path.join(bin_dir, "python"),
        "ANSIBLE_STDOUT_CALLBACK": "default",
    })
    return env


def core_version(env: dict, venv: str) -> str:
    proc = subprocess.run([os.path.join(venv, "bin", "ansible-playbook"), "--version"], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    first = proc.stdout.splitlines()[0]  # "ansible-playbook [core 2.17.14]"
    return first.split("[core ", 1)[1].rstrip("]")


def run_site(env: dict, venv: str, check: bool = False) -> str:
    argv = [os.path.join(venv, "bin", "ansible-playbook"), "-i", "localhost,", SITE] + (["--check"] if check else [])
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert proc.returncode == 0, (proc.stdout[-6000:], proc.stderr[-3000:])
    return proc.stdout


def recap(out: str) -> dict:
    line = [text for text in out.splitlines() if text.startswith("localhost ")][-1]
    return dict(part.split("=") for part in line.split(":", 1)[1].split())


def converge_then_check(minor: str, capabilities, ansible_env: dict, request_log) -> dict:
    """Converge site.yml with ansible-core ``minor``, then check it; returns both recaps."""
    venv = matrix_venv(minor)
    env = core_env(ansible_env, venv)
    version = core_version(env, venv)
    assert version.startswith(minor + "."), "%s runs ansible-core %s, not %s" % (venv, version, minor)
    capabilities(istio=True)  # site.yml labels tenant-a for Istio injection

    first = recap(run_site(env, venv))
    assert int(first["changed"]) > 0 and first["failed"] == "0", first

    request_log.mark()
    checked = recap(run_site(env, venv, check=True))
    assert checked["changed"] == "0" and checked["failed"] == "0", checked
    assert request_log.writes(include_dry_run=True) == []
    return {"converge": first, "check": checked}
