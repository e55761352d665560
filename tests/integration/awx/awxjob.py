"""A job the way AWX / Automation Controller runs it, without AWX: the private
data directory it lays out, the credentials it injects, and ansible-runner (the
engine AWX's execution nodes run) executing the playbook.

What AWX does and where (ansible/awx, awx/main/tasks/jobs.py and
awx/main/models/credential/): ``build_private_data_dir`` makes ``inventory/``
and ``env/``; the project checkout goes to ``project/`` and is the working
directory; ``write_inventory_file`` writes ``inventory/hosts`` as an executable
script printing the inventory's JSON (hostvars included); the extra variables
(job template, survey answers, ``awx_*``/``tower_*``) go to ``env/extravars``; the
ansible-playbook arguments (``--check``, ``--diff``, ``--limit``) to
``env/cmdline``; credentials are injected into the job's environment and into
files under ``env/`` (mode 0600).  AWX hands the environment to ansible-runner
in memory; here it is written to ``env/envvars``, which ansible-runner reads the
same way.  Inside an execution environment the private data directory is
mounted at ``/runner`` and injected file paths are given as ``/runner/env/...``;
this job runs without a container, so the paths are the host's.
"""

import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import ansible_runner
import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lab.cluster import REPO_ROOT

# variables AWX puts beside the job template's extra variables (a subset of
# Job.awx_meta_vars(); every awx_* exists as tower_* too)
_META = {"job_id": None, "job_launch_type": "manual", "job_template_id": 7, "job_template_name": None,
         "project_revision": "0" * 40, "inventory_id": 3, "inventory_name": None, "user_name": "admin"}


def _private_file(directory: Path, data: str) -> Path:
    """A file AWX writes for a credential: mkstemp in env/, owner read/write only."""
    handle, path = tempfile.mkstemp(dir=str(directory))
    with os.fdopen(handle, "w") as out:
        out.write(data)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return Path(path)


def inject_kubernetes_bearer_token(inputs: dict, env: dict, private_data_dir: Path) -> None:
    """AWX's managed type "OpenShift or Kubernetes API Bearer Token"
    (awx/main/models/credential/injectors.py kubernetes_bearer_token): host and
    token into K8S_AUTH_HOST / K8S_AUTH_API_KEY; with verify_ssl and a CA, the CA
    into a file named by K8S_AUTH_SSL_CA_CERT; otherwise K8S_AUTH_VERIFY_SSL=False
    (AWX turns verification off when no CA is given, even with verify_ssl on)."""
    env["K8S_AUTH_HOST"] = inputs.get("host", "")
    env["K8S_AUTH_API_KEY"] = inputs.get("bearer_token", "")
    if inputs.get("verify_ssl") and "ssl_ca_cert" in inputs:
        env["K8S_AUTH_VERIFY_SSL"] = "True"
        env["K8S_AUTH_SSL_CA_CERT"] = str(_private_file(private_data_dir / "env", inputs["ssl_ca_cert"]))
    else:
        env["K8S_AUTH_VERIFY_SSL"] = "False"


class _Namespace:
    """The ``tower`` (alias ``awx``) object the injector templates see."""


def inject_custom(credential_type: dict, inputs: dict, env: dict, extra_vars: dict, private_data_dir: Path) -> None:
    """A custom credential type's injectors, rendered as AWX renders them
    (CredentialType.inject_credential): a sandboxed Jinja2 environment with
    StrictUndefined over the inputs (missing booleans are false); each ``file``
    template into a 0600 file under env/, named by ``tower.filename`` (one file)
    or ``tower.filename.<name>`` (``template.<name>``); then ``env`` and
    ``extra_vars``."""
    sandbox = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    tower = _Namespace()
    namespace = {"tower": tower, "awx": tower}
    for field in credential_type["inputs"].get("fields", []):
        if field["id"] in inputs:
            namespace[field["id"]] = inputs[field["id"]]
        elif field.get("type") == "boolean":
            namespace[field["id"]] = False
    injectors = credential_type.get("injectors") or {}
    for label, template in (injectors.get("file") or {}).items():
        path = str(_private_file(private_data_dir / "env", sandbox.from_string(template).render(**namespace)))
        if "." not in label:
            tower.filename = path
        else:
            if not isinstance(getattr(tower, "filename", None), _Namespace):
                tower.filename = _Namespace()
            setattr(tower.filename, label.split(".", 1)[1], path)
    for name, template in (injectors.get("env") or {}).items():
        assert not name.startswith("ANSIBLE_"), "AWX refuses to inject %s" % name
        env[name] = sandbox.from_string(template).render(**namespace)
    for name, template in (injectors.get("extra_vars") or {}).items():
        extra_vars[name] = sandbox.from_string(template).render(**namespace)


def install_collection(dest: Path) -> Path:
    """This checkout built and installed as the execution environment has it
    (ansible-galaxy collection build + install of the tarball); returns the
    collections path.  kubernetes.core comes from the ansible package, as in the
    image built from execution-environment.yml it comes from Galaxy."""
    galaxy = shutil.which("ansible-galaxy")
    built = dest / "dist"
    subprocess.run([galaxy, "collection", "build", "--force", "--output-path", str(built), REPO_ROOT],
                   check=True, capture_output=True, text=True)
    tarball = next(built.glob("kubevirt_net-core-*.tar.gz"))
    collections = dest / "collections"
    subprocess.run([galaxy, "collection", "install", "--no-deps", "--force", "-p", str(collections), str(tarball)],
                   check=True, capture_output=True, text=True)
    assert (collections / "ansible_collections" / "kubevirt_net" / "core" / "MANIFEST.json").exists()
    return collections


class Job:
    """One AWX job: ``Job(root, job_id, collections)``, then ``inventory()``,
    ``credential_*()``, ``extra_vars``/``survey()``, ``run(playbook)``."""

    def __init__(self, root: Path, job_id: int, collections: Path, name: str = "job"):
        self.job_id = job_id
        self.name = name
        self.dir = root / ("awx_%d_job" % job_id)
        for sub in ("inventory", "env", "project"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, stat.S_IRWXU)
        # the project: the repository's playbooks as an SCM project update checks them out
        files = subprocess.run(["git", "ls-files", "playbooks"], cwd=REPO_ROOT, check=True,
                               capture_output=True, text=True).stdout.split()
        for rel in files:
            (self.dir / "project" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.join(REPO_ROOT, rel), self.dir / "project" / rel)
        self.env = {
            # AWX's defaults for every job (awx/settings/defaults.py AWX_TASK_ENV and RunJob.build_env)
            "ANSIBLE_FORCE_COLOR": "False", "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
            "AWX_PRIVATE_DATA_DIR": str(self.dir), "JOB_ID": str(job_id), "INVENTORY_ID": "3",
            "PROJECT_REVISION": _META["project_revision"],
            # the execution environment's collections: the built tarball installed, no checkout on the path
            "ANSIBLE_COLLECTIONS_PATH": str(collections),
            "ANSIBLE_LOCAL_TEMP": str(self.dir / "tmp"),
        }
        self.extra_vars = {}
        self.args = []
        self.result = None

    # -- what AWX writes --------------------------------------------------------------
    def inventory(self, hosts: dict, group_vars: dict | None = None, groups: dict | None = None) -> None:
        """inventory/hosts: the script AWX writes (prints the inventory's JSON)."""
        data = {"all": {"vars": group_vars or {}, "children": sorted(groups or {})},
                "_meta": {"hostvars": {}}}
        for index, (host, hostvars) in enumerate(hosts.items(), 1):
            data["_meta"]["hostvars"][host] = dict(hostvars, remote_tower_enabled="true", remote_tower_id=index)
        for group, members in (groups or {}).items():
            data[group] = {"hosts": members}
        ungrouped = [h for h in hosts if not any(h in m for m in (groups or {}).values())]
        if ungrouped:
            data["ungrouped"] = {"hosts": ungrouped}
            data["all"]["children"].append("ungrouped")
        script = "#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(data)
        path = self.dir / "inventory" / "hosts"
        path.write_text(script)
        os.chmod(path, stat.S_IRWXU)

    def credential_kubernetes_bearer_token(self, **inputs) -> None:
        inject_kubernetes_bearer_token(inputs, self.env, self.dir)

    def credential_custom(self, credential_type: dict, **inputs) -> None:
        inject_custom(credential_type, inputs, self.env, self.extra_vars, self.dir)

    def survey(self, spec: dict, answers: dict) -> None:
        """Survey answers into the extra variables as AWX passes them: every
        question's answer or default, text and multiple choice as strings."""
        for question in spec["spec"]:
            var = question["variable"]
            value = answers.get(var, question.get("default"))
            if question.get("required") and value in (None, ""):
                raise AssertionError("survey question %s is required" % var)
            if question["type"] in ("integer",):
                value = int(value)
            elif question["type"] == "float":
                value = float(value)
            elif question["type"] != "multiselect":
                value = str(value)
            self.extra_vars[var] = value
        unknown = set(answers) - {q["variable"] for q in spec["spec"]}
        assert not unknown, "answers to questions the survey does not have: %s" % sorted(unknown)

    # -- running ----------------------------------------------------------------------
    def run(self, playbook: str, job_type: str = "run", diff: bool = False, limit: str | None = None,
            timeout: int = 900):
        meta = dict(_META, job_id=self.job_id, job_template_name=self.name, inventory_name="kubevirt")
        extra = {}
        for key, value in meta.items():
            extra["awx_" + key] = extra["tower_" + key] = value
        extra.update(self.extra_vars)
        args = list(self.args) + (["--check"] if job_type == "check" else []) + (["--diff"] if diff else [])
        if limit:
            args += ["--limit", limit]
        env_dir = self.dir / "env"
        (env_dir / "extravars").write_text(yaml.safe_dump(extra))
        # ansible-runner starts ansible-playbook in project/; PWD says so, as a shell there would (else the
        # test process's own PWD leaks in, and playbooks/network_doctor.yml's default report lands in the checkout)
        (env_dir / "envvars").write_text(yaml.safe_dump(dict({"PWD": str(self.dir / "project")}, **self.env)))
        (env_dir / "settings").write_text(yaml.safe_dump({"job_timeout": timeout, "suppress_ansible_output": True,
                                                          "pexpect_timeout": 5}))
        if args:
            (env_dir / "cmdline").write_text(" ".join(args))
        for name in ("extravars", "envvars", "settings", "cmdline"):
            if (env_dir / name).exists():
                os.chmod(env_dir / name, stat.S_IRUSR | stat.S_IWUSR)
        self.result = ansible_runner.run(private_data_dir=str(self.dir), playbook=playbook, ident=str(self.job_id),
                                         quiet=True)
        return self.result

    # -- reading what the job left -----------------------------------------------------
    @property
    def artifacts(self) -> Path:
        return self.dir / "artifacts" / str(self.job_id)

    def events(self) -> list:
        return list(self.result.events)

    def recap(self) -> dict:
        """The play recap from the playbook_on_stats event: {host: {ok, changed, failures, ...}}."""
        stats = [e for e in self.events() if e.get("event") == "playbook_on_stats"]
        assert len(stats) == 1, [e.get("event") for e in self.events()][-5:]
        data = stats[0]["event_data"]
        hosts = set()
        for key in ("ok", "changed", "failures", "dark", "skipped", "processed"):
            hosts.update(data.get(key) or {})
        return {host: {key: (data.get(key) or {}).get(host, 0)
                       for key in ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")}
                for host in hosts}

    def stdout(self) -> str:
        return (self.artifacts / "stdout").read_text()

    def failure_report(self) -> str:
        return "status=%s rc=%s\n%s" % (self.result.status, self.result.rc, self.stdout()[-6000:])

    def secret_leaks(self, secret: str) -> list:
        """Where ``secret`` shows in what the job produced: its events (as
        ansible-runner hands them to AWX), its stdout, and every file under
        artifacts/ and project/.  One exception is not reported: ansible-runner's
        own record of the process environment (artifacts/<id>/command), which
        holds the injected K8S_AUTH_* values as the job's input exactly as AWX
        injected them; the check there is that the secret appears nowhere else
        in that file."""
        leaks = []
        for event in self.events():
            if secret in json.dumps(event):
                leaks.append("event %s (%s)" % (event.get("counter"), event.get("event")))
        if secret in self.result.stdout.read():
            leaks.append("runner stdout")
        for base in (self.dir / "artifacts", self.dir / "project"):
            for path in base.rglob("*"):
                if not path.is_file():
                    continue
                text = path.read_bytes().decode("utf-8", "replace")
                if path == self.artifacts / "command":
                    record = json.loads(text)
                    record["env"] = {key: value for key, value in record["env"].items()
                                     if not (key.startswith("K8S_AUTH_") and self.env.get(key) == value)}
                    text = json.dumps(record)
                if secret in text:
                    leaks.append(str(path.relative_to(self.dir)))
        return leaks
