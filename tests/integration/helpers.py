"""Small helpers for integration tests.  No fixed sleeps: wait on a condition
with a bounded timeout, and fail with what was last seen."""

import subprocess
import time


def wait_for(probe, timeout=30.0, interval=0.1, message="condition"):
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
