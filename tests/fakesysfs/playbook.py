"""ansible-playbook against a fake host, for the role and module tests: this
checkout's collection, the JSON callback, and (unless ``hook=False``) the
simulated kernel behind the module's SysfsWriter in every Python process."""

import json
import os
import shutil
import subprocess
import sys
import uuid

import yaml

from tests.fakesysfs.tree import REPO

SITEHOOK = os.path.join(REPO, "tests", "fakesysfs", "sitehook")


def playbook_env(tmp_path, hook=True, base=None):
    build = os.path.join(REPO, ".build")
    os.makedirs(os.path.join(build, "ansible_collections", "kubevirt_net"), exist_ok=True)
    link = os.path.join(build, "ansible_collections", "kubevirt_net", "core")
    if not os.path.islink(link):
        os.symlink(REPO, link)
    env = dict(base if base is not None else os.environ)
    venv_bin = os.path.dirname(shutil.which("ansible-playbook") or sys.executable)
    env.update({
        "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_COLLECTIONS_PATH": build,
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PIPELINING": "True",
    })
    paths = [REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != SITEHOOK]
    if hook:
        env["FAKESYSFS_HOOK"] = "1"
        paths.insert(0, SITEHOOK)
    else:
        env.pop("FAKESYSFS_HOOK", None)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class Result:
    def __init__(self, proc, data):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.data = data

    def task_results(self, host="node01"):
        """[(task name, result)] in order (a task run twice appears twice)."""
        out = []
        for play in (self.data or {}).get("plays", []):
            for task in play["tasks"]:
                name = task["task"]["name"].split(" : ", 1)[-1]
                out.append((name, task["hosts"].get(host, {})))
        return out

    def task(self, name, host="node01"):
        """The last result of the task called ``name`` (without the role prefix)."""
        found = [result for task_name, result in self.task_results(host) if task_name == name]
        if not found:
            raise KeyError("no task %r; tasks: %s" % (name, [n for n, _r in self.task_results(host)]))
        return found[-1]

    def stats(self, host="node01"):
        return (self.data or {}).get("stats", {}).get(host, {})

    @property
    def changed(self):
        return self.stats().get("changed", 0)

    def failures(self, host="node01"):
        """[(task name, message)] of failed tasks; a loop's message is its failed items' messages."""
        out = []
        for name, result in self.task_results(host):
            if result.get("failed"):
                items = [item["msg"] for item in result.get("results", []) if item.get("msg")]
                out.append((name, "\n".join(items) if items else result.get("msg")))
        return out


def run_playbook(env, tmp_path, plays, inventory="node01,", extra_vars=None, check=False, diff=False,
                 expect_rc=0, cwd=None, limit=None):
    if not isinstance(plays, str):
        plays = yaml.safe_dump(plays, sort_keys=False)
    path = tmp_path / ("play-%s.yml" % uuid.uuid4().hex[:6])
    path.write_text(plays)
    argv = ["ansible-playbook", "-i", inventory, "-c", "local", str(path)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if limit:
        argv += ["--limit", limit]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1200, check=False, cwd=cwd)
    try:
        data = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        data = None
    result = Result(proc, data)
    if expect_rc is not None and proc.returncode != expect_rc:
        raise AssertionError("ansible-playbook rc=%s (expected %s); failed tasks: %s\nstdout:\n%s\nstderr:\n%s" % (
            proc.returncode, expect_rc, result.failures(), proc.stdout[-6000:], proc.stderr[-3000:]))
    return result


def role_play(root, pfs, **variables):
    """One play applying the sriov_host role to ``node01`` (a fake host under ``root``)."""
    role_vars = {"sriov_host_root": str(root), "sriov_host_manage_cluster": False, "sriov_host_pfs": pfs}
    role_vars.update(variables)
    return [{"name": "sriov_host", "hosts": "all", "gather_facts": False,
             "roles": [{"role": "kubevirt_net.core.sriov_host", "vars": role_vars}]}]
