"""Fixtures for the integration tests (the session's lab cluster is in the
root conftest.py, shared with bench/): a fresh namespace per test, the proxy's request log scoped per test, and an
ansible-playbook runner wired to the lab and to this checkout's collection."""

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest
import yaml

from tests.integration.helpers import wait_for
from lab.cluster import REPO_ROOT

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def namespace(lab):
    name = "t-" + uuid.uuid4().hex[:10]
    lab.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubevirt-net.test": "true"}}})
    yield name
    try:
        lab.request("DELETE", "/api/v1/namespaces/" + name)
    except Exception:  # pylint: disable=broad-except
        pass


SITE_NAMESPACES = ("tenant-a", "tenant-b")


@pytest.fixture
def site_namespaces_fresh(lab):
    """playbooks/site.yml works in fixed namespaces (tenant-a, tenant-b), and the
    session's lab is shared: another test (the AWX site job, the module examples)
    may have built them already.  Delete them and wait until they are gone, so a
    site test starts from an empty cluster and its first run really builds."""
    present = {ns["metadata"]["name"] for ns in lab.request("GET", "/api/v1/namespaces")["items"]}
    for name in SITE_NAMESPACES:
        if name in present:
            lab.request("DELETE", "/api/v1/namespaces/" + name)

    def gone():
        names = {ns["metadata"]["name"] for ns in lab.request("GET", "/api/v1/namespaces")["items"]}
        return not names & set(SITE_NAMESPACES)

    wait_for(gone, timeout=300, interval=1, message="namespaces %s deleted" % ", ".join(SITE_NAMESPACES))


class RequestLog:
    """The proxy's requests sent from the moment the fixture was made (or ``mark()``).

    The proxy logs a request once it is answered, so a request an earlier test sent and the
    proxy held (the fault matrix's 30 s stall) can be logged after this log's start; the
    entry's ``time`` (when the proxy received it) keeps it out."""

    def __init__(self, lab):
        self.lab = lab
        self.mark()

    def mark(self):
        self.start = self.lab.log_seq()
        self.since = time.time()

    def entries(self):
        return [e for e in self.lab.log(self.start) if e["time"] >= self.since]

    def writes(self, include_dry_run=False):
        return [e for e in self.entries() if e["method"] in WRITE_METHODS
                and (include_dry_run or not e.get("dry_run"))]


@pytest.fixture
def request_log(lab):
    lab.clear_faults()
    log = RequestLog(lab)
    yield log
    lab.clear_faults()


class PlaybookResult:
    def __init__(self, proc, data):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.data = data

    @property
    def tasks(self):
        """name -> result of the task on localhost (last play wins)."""
        results = {}
        for play in (self.data or {}).get("plays", []):
            for task in play["tasks"]:
                results[task["task"]["name"]] = task["hosts"].get("localhost", {})
        return results

    @property
    def stats(self):
        return (self.data or {}).get("stats", {}).get("localhost", {})

    @property
    def changed(self):
        return self.stats.get("changed", 0)


@pytest.fixture
def ansible_env(lab, tmp_path):
    venv_bin = os.path.dirname(shutil.which("ansible-playbook") or "")
    build = os.path.join(REPO_ROOT, ".build")
    os.makedirs(os.path.join(build, "ansible_collections", "kubevirt_net"), exist_ok=True)
    link = os.path.join(build, "ansible_collections", "kubevirt_net", "core")
    if not os.path.islink(link):
        os.symlink(REPO_ROOT, link)
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": build,
        "ANSIBLE_PYTHON_INTERPRETER": os.path.join(venv_bin, "python"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "K8S_AUTH_KUBECONFIG": lab.kubeconfig,
        "KUBECONFIG": lab.kubeconfig,
    })
    return env


@pytest.fixture
def run_playbook(ansible_env, tmp_path):
    """Run a playbook (YAML text or a list of plays) and parse the JSON callback."""

    def run(playbook, extra_vars=None, check=False, diff=False, expect_rc=0):
        if not isinstance(playbook, str):
            playbook = yaml.safe_dump(playbook, sort_keys=False)
        path = tmp_path / ("play-%s.yml" % uuid.uuid4().hex[:6])
        path.write_text(playbook)
        argv = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(path)]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        proc = subprocess.run(argv, env=ansible_env, capture_output=True, text=True, timeout=600, check=False)
        try:
            data = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError:
            data = None
        result = PlaybookResult(proc, data)
        if expect_rc is not None and proc.returncode != expect_rc:
            raise AssertionError("ansible-playbook rc=%s (expected %s)\nstdout:\n%s\nstderr:\n%s" % (
                proc.returncode, expect_rc, proc.stdout[-6000:], proc.stderr[-3000:]))
        return result

    return run


@pytest.fixture
def config_restored(lab):
    """Capabilities a test changes by any means (``lab.set_config``) are put back afterwards."""
    before = lab.get_config()
    yield
    after = lab.get_config()
    changed = {key: value for key, value in before.items() if after.get(key) != value}
    if changed:
        lab.set_config(**changed)


@pytest.fixture
def capabilities(lab):
    """``capabilities(key=value, ...)`` changes the lab's capabilities; every
    key changed is put back when the test ends."""
    saved = lab.get_config()
    changed = set()

    def change(**values):
        changed.update(values)
        return lab.set_config(**values)

    yield change
    if changed:
        lab.set_config(**{key: saved[key] for key in changed})


@pytest.fixture
def cordon(lab):
    """``cordon(True)`` makes every node unschedulable (``kubectl cordon``), ``cordon(False)``
    undoes it; the nodes are uncordoned when the test ends.  While cordoned, a migration's
    target pod stays Pending (kube-scheduler's NodeUnschedulable filter), so a change that
    needs a migration cannot finish until the test lets it."""
    names = [node["metadata"]["name"] for node in lab.request("GET", "/api/v1/nodes")["items"]]

    def set_unschedulable(value):
        for name in names:
            lab.request("PATCH", "/api/v1/nodes/" + name, {"spec": {"unschedulable": True if value else None}},
                        content_type="application/merge-patch+json")

    yield set_unschedulable
    set_unschedulable(False)
