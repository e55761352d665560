"""Small helpers for integration tests.  No fixed sleeps: wait on a condition
with a bounded timeout, and fail with what was last seen."""

import json
import os
import shutil
import subprocess
import sys
import time


def wait_for(probe, timeout=120.0, interval=0.1, message="condition"):
    """Call ``probe()`` until it returns a truthy value; return that value.
    Exceptions from the probe count as "not yet" until the timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except Exception as exc:  # pylint: disable=broad-except
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s; last seen: %r" % (timeout, message, last))
        time.sleep(interval)


def wait_equal(probe, expected, timeout=120.0, interval=0.2, message="value"):
    """Call ``probe()`` until it returns ``expected`` (==); return that value.
    For state a controller writes asynchronously (a status, a label, an event,
    the lab DNS's watch cache): on timeout the failure names what was awaited,
    the expected value and the last value seen (or the probe's last exception)."""
    deadline = time.monotonic() + timeout
    last = "(nothing read yet)"
    while True:
        try:
            last = probe()
            if last == expected:
                return last
        except Exception as exc:  # pylint: disable=broad-except
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s to be %r; last seen: %r"
                                 % (timeout, message, expected, last))
        time.sleep(interval)


def molecule_test(role_dir, env, timeout):
    """``molecule test`` of a role's default scenario; returns its output after
    asserting success.  Molecule keeps "prepared"/"converged" state in
    ~/.ansible/tmp/molecule.<hash of the role dir's name>.default across runs
    (and checkouts): reset it first, or every second run skips prepare."""
    subprocess.run(["molecule", "reset", "-s", "default"], cwd=role_dir, env=env, capture_output=True, timeout=300,
                   check=True)
    proc = subprocess.run(["molecule", "test", "-s", "default"], cwd=role_dir, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-8000:]
    return output


WRITE_METHODS = frozenset(["POST", "PUT", "PATCH", "DELETE"])


def collection_path(repo_root):
    """An ``ansible_collections`` tree whose kubevirt_net/core is this checkout
    (a symlink under <repo>/.build); returns the tree's parent for
    ANSIBLE_COLLECTIONS_PATH."""
    build = os.path.join(repo_root, ".build")
    os.makedirs(os.path.join(build, "ansible_collections", "kubevirt_net"), exist_ok=True)
    link = os.path.join(build, "ansible_collections", "kubevirt_net", "core")
    if not os.path.islink(link):
        os.symlink(repo_root, link)
    return build


def playbook_env(repo_root, tmp_dir, kubeconfig=None, **extra):
    """The environment of an ansible-playbook run against this checkout's
    collection, the JSON callback on, pointed at ``kubeconfig`` through
    K8S_AUTH_KUBECONFIG only (what the README tells a user to set)."""
    venv_bin = os.path.dirname(shutil.which("ansible-playbook") or sys.executable)
    env = dict(os.environ)
    for name in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY"):
        env.pop(name, None)
    env.update({
        "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_COLLECTIONS_PATH": collection_path(repo_root),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": os.path.join(str(tmp_dir), "ansible-tmp"),
    })
    if kubeconfig:
        env["K8S_AUTH_KUBECONFIG"] = kubeconfig
    env.update(extra)
    return env


class PlaybookRun:
    """An ansible-playbook run: rc, output and the JSON callback's data."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.data = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError:
            self.data = None

    def stats(self, host="localhost"):
        return (self.data or {}).get("stats", {}).get(host, {})

    def failures(self):
        """(play, task, message) of every failed task, for assertion messages."""
        found = []
        for play in (self.data or {}).get("plays", []):
            for task in play.get("tasks", []):
                for result in task.get("hosts", {}).values():
                    if result.get("failed") or result.get("unreachable"):
                        found.append((play["play"]["name"], task["task"]["name"],
                                      result.get("msg") or result.get("message") or result))
        return found

    def explain(self):
        failed = "\n".join("  %s / %s: %s" % item for item in self.failures())
        return "rc=%s\nfailed tasks:\n%s\nstdout (tail):\n%s\nstderr (tail):\n%s" % (
            self.rc, failed or "  (none reported)", self.stdout[-4000:], self.stderr[-2000:])


def run_playbook_file(path, env, extra_args=(), timeout=900):
    """``ansible-playbook -i localhost, -c local <path>`` with ``env``."""
    argv = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(path)] + list(extra_args)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookRun(proc)


def writes_since(lab, seq):
    """The write requests clients sent through the lab proxy after ``seq``."""
    return [entry for entry in lab.log(seq) if entry["method"] in WRITE_METHODS and not entry.get("dry_run")]


def play(*tasks):
    """One play on localhost without fact gathering: ``play(t1, t2)`` or ``play([t1, t2])``."""
    if len(tasks) == 1 and isinstance(tasks[0], list):
        tasks = tuple(tasks[0])
    return [{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}]
