"""The collection runs with what it declares, and nothing the development
requirements bring along: a fresh virtualenv from requirements.txt (plus
ansible-core and kubernetes.core, which the execution environment gets from
execution-environment.yml and Galaxy) imports every plugin and runs every
module through ansible-core without an import error.  bindep.txt lists what the
controller side of the roles needs.

The virtualenv is cached outside the repository by the hash of its inputs
(~/.cache/kubevirt-net-lab/venvs/reqonly-*); the first run builds it (about a
minute with a warm pip cache)."""

import ast
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap

import ansible.release
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CACHE = os.path.join(os.environ.get("KUBEVIRT_NET_CACHE", os.path.expanduser("~/.cache/kubevirt-net-lab")), "venvs")
PLUGIN_DIRS = ("modules", "module_utils", "action", "plugin_utils", "filter")
# modules Ansible ships or the collection path provides, not a Python distribution
PROVIDED = {"ansible", "ansible_collections", "__future__"}


def _read(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as handle:
        return handle.read()


def plugin_files():
    files = []
    for sub in PLUGIN_DIRS:
        base = os.path.join(REPO, "plugins", sub)
        files += sorted("plugins/%s/%s" % (sub, name) for name in os.listdir(base)
                        if name.endswith(".py") and name != "__init__.py")
    return files


def third_party_imports():
    """{top-level package: [plugin files]} of every import in the plugins, guarded or
    not (a guarded import that fails only shows at run time as missing_required_lib)."""
    found = {}
    for path in plugin_files():
        for node in ast.walk(ast.parse(_read(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in PROVIDED and top not in sys.stdlib_module_names:
                    found.setdefault(top, []).append(path)
    return found


@pytest.fixture(scope="module")
def fresh_venv():
    """A virtualenv with requirements.txt and this ansible-core only; cached by the hash of both."""
    core = "ansible-core==%s" % ansible.release.__version__
    version = "%d.%d" % sys.version_info[:2]
    key = hashlib.sha256((_read("requirements.txt") + core + sys.version).encode()).hexdigest()[:12]
    venv = os.path.join(CACHE, "reqonly-py%s-%s" % (version, key))
    python = os.path.join(venv, "bin", "python")
    os.makedirs(CACHE, exist_ok=True)
    # one builder at a time: a second test process (another checkout, another xdist worker) that
    # ran ``venv --clear`` here while the first was installing left a venv marked installed
    # without its packages
    with open(venv + ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(venv, ".installed")):
            subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
            proc = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                   "-r", os.path.join(REPO, "requirements.txt"), core],
                                  capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            with open(os.path.join(venv, ".installed"), "w", encoding="utf-8") as handle:
                handle.write(core)
    return venv


@pytest.fixture(scope="module")
def collections_dir(tmp_path_factory):
    """This checkout as kubevirt_net.core and kubernetes.core (the declared Galaxy
    dependency) in a collections tree, nothing else."""
    import ansible_collections.kubernetes.core as kc  # pylint: disable=import-outside-toplevel
    root = tmp_path_factory.mktemp("colls")
    for ns, name, src in (("kubevirt_net", "core", REPO), ("kubernetes", "core", list(kc.__path__)[0])):
        (root / "ansible_collections" / ns).mkdir(parents=True, exist_ok=True)
        os.symlink(src, str(root / "ansible_collections" / ns / name))
    return root


def _env(venv, collections_dir):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "K8S_AUTH_", "PYTHON")) and key not in ("KUBECONFIG", "VIRTUAL_ENV")}
    env.update({"PATH": os.path.join(venv, "bin") + os.pathsep + env.get("PATH", ""),
                "ANSIBLE_COLLECTIONS_PATH": str(collections_dir), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
                "ANSIBLE_PYTHON_INTERPRETER": os.path.join(venv, "bin", "python"),
                "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
                "ANSIBLE_NOCOLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def test_every_third_party_import_is_a_declared_requirement(fresh_venv, collections_dir):
    imports = third_party_imports()
    assert imports, "no third-party import found: the scan is broken"
    code = textwrap.dedent("""
        import importlib, json, sys
        missing = {}
        for name in json.loads(sys.argv[1]):
            try:
                importlib.import_module(name)
            except ImportError as exc:
                missing[name] = str(exc)
        print(json.dumps(missing))
    """)
    proc = subprocess.run([os.path.join(fresh_venv, "bin", "python"), "-c", code, json.dumps(sorted(imports))],
                          env=_env(fresh_venv, collections_dir), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    missing = json.loads(proc.stdout)
    assert missing == {}, {name: (error, imports[name]) for name, error in missing.items()}


def test_every_plugin_imports_with_requirements_only(fresh_venv, collections_dir):
    """Import each plugin as ansible-core's collection loader does, then check the
    import flags the plugins keep for missing_required_lib (HAS_* true,
    *IMPORT_ERROR* None)."""
    names = ["ansible_collections.kubevirt_net.core." + path[:-3].replace("/", ".") for path in plugin_files()]
    code = textwrap.dedent("""
        import importlib, json, re, sys, traceback
        from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
        _AnsibleCollectionFinder(paths=[sys.argv[2]])._install()
        problems = {}
        for name in json.loads(sys.argv[1]):
            try:
                module = importlib.import_module(name)
            except Exception:
                problems[name] = traceback.format_exc(limit=3)
                continue
            for attr, value in vars(module).items():
                if re.match(r"^HAS_[A-Z0-9_]+$", attr) and value is not True:
                    problems[name + "." + attr] = repr(value)
                if re.match(r"^[A-Z0-9_]*IMP(ORT)?_ERR(OR)?$", attr) and value is not None:
                    problems[name + "." + attr] = str(value)[-300:]
        print(json.dumps(problems))
    """)
    proc = subprocess.run([os.path.join(fresh_venv, "bin", "python"), "-c", code, json.dumps(names),
                           str(collections_dir)],
                          env=_env(fresh_venv, collections_dir), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {}
    assert len(names) > 20


def test_every_module_runs_through_ansible_core(fresh_venv, collections_dir, tmp_path):
    """Every module through ansible-playbook (AnsiballZ packs its module_utils),
    in check mode with no arguments and a kubeconfig that does not exist: each
    fails on its arguments or on loading its configuration, none on a missing
    library or module_util."""
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules"))
                     if name.endswith(".py") and name != "__init__.py")
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "check_mode": True,
             "tasks": [{"name": name, "kubevirt_net.core." + name: {}, "ignore_errors": True, "register": "r_" + name}
                       for name in modules]
             + [{"name": "results", "check_mode": False, "ansible.builtin.copy": {
                 "dest": str(tmp_path / "results.json"),
                 "content": "{{ {%s} | to_json }}" % ", ".join("'%s': r_%s" % (n, n) for n in modules)}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    env = _env(fresh_venv, collections_dir)
    # no cluster: a kubeconfig that does not exist fails client construction at once, before any request
    env.update({"K8S_AUTH_KUBECONFIG": str(tmp_path / "no-such-kubeconfig"), "HOME": str(tmp_path),
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_REMOTE_TMP": str(tmp_path / "rtmp")})
    proc = subprocess.run([os.path.join(fresh_venv, "bin", "ansible-playbook"), "-i", "localhost,",
                           str(tmp_path / "play.yml")], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert sorted(results) == modules
    for name, result in results.items():
        text = json.dumps(result)
        assert result.get("failed") or result.get("skipped") is False or "msg" in result, (name, result)
        for marker in ("Failed to import", "No module named", "ModuleNotFoundError", "ImportError",
                       "MODULE FAILURE"):
            assert marker not in text, (name, result)


def test_bindep_lists_what_the_roles_need_on_the_controller():
    """The roles' controller-side tasks (delegated to localhost, or the
    Kubernetes delegate, whose default is localhost) use Python modules only, no
    command; so the image needs no system package beyond python3.  Host-side
    commands (sriov_host's grub/dracut/modprobe) run on the managed hosts."""
    controller_commands = []
    for root, _dirs, files in os.walk(os.path.join(REPO, "roles")):
        if os.sep + "tasks" not in root and not root.endswith("tasks"):
            continue
        for name in files:
            if not name.endswith(".yml"):
                continue
            with open(os.path.join(root, name), encoding="utf-8") as handle:
                tasks = yaml.safe_load(handle) or []
            stack = list(tasks)
            while stack:
                task = stack.pop()
                for key in ("block", "rescue", "always"):
                    stack += task.get(key) or []
                delegate = str(task.get("delegate_to", ""))
                if delegate in ("localhost", "127.0.0.1") or "kubernetes_delegate" in delegate:
                    used = [k for k in task if k.split(".")[-1] in ("command", "shell", "script", "raw", "expect")]
                    if used:
                        controller_commands.append((name, task.get("name"), used))
    assert controller_commands == []
    entries = [line.split("#", 1)[0].strip() for line in _read("bindep.txt").splitlines()]
    runtime = sorted(e.split()[0] for e in entries if e and "[test" not in e and "test]" not in e)
    assert runtime == ["python3"], runtime
    # every other entry is marked test-only, so bindep's default profile (the image build) skips it
    test_only = [e for e in entries if e and e.split()[0] != "python3"]
    assert test_only and all(re.search(r"\[test\b", e) for e in test_only), test_only
