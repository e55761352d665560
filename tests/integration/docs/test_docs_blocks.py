"""Every YAML task or playbook block of the guides (docs/*.md; not docs/modules,
which is generated and covered by tests/integration/examples) runs against the
lab as written, after playbooks/guides_setup.yml, so the guides cannot rot.

Markers (HTML comments, invisible on the rendered page):

* ``<!-- lab: default -->`` or ``<!-- lab: istio=true -->`` (several
  ``key=value`` separated by spaces; values are JSON as for
  ``python -m lab up --option``): the lab the page's blocks need.  A page
  with runnable blocks must have one, and its prose must give the matching
  ``python -m lab up`` command.
* ``<!-- norun: <reason> -->`` on the line(s) just before a block: the block is
  not run (a host-side role, a placeholder, a product bug).  The reason is
  required.

A YAML block that is a list of tasks (items with a module key) or a playbook
(items with ``hosts``) runs unless marked; any other YAML (a manifest excerpt,
role variables, rendered output) is documentation, not a task.  A list of
mappings that is neither tasks nor plays fails: it looks like tasks with a typo.

Runs are grouped: one lab per set of lab options (the guides that share it run
one after the other on it, so a guide must not break another's prerequisites),
and one ansible-playbook run per guide, one play per block."""

import json
import os
import re
import sys

import pytest
import yaml

from tests.integration.helpers import playbook_env, run_playbook_file, writes_since
from lab.cluster import REPO_ROOT, Lab
from lab.kubevirt.config import parse_option

DOCS = os.path.join(REPO_ROOT, "docs")
SETUP = os.path.join(REPO_ROOT, "playbooks", "guides_setup.yml")
# pages whose blocks another test owns
ELSEWHERE = {
    "awx.md": "AWX job templates and inventories; its files are tested by the AWX tests",
}
FENCE = re.compile(r"^```(\S*)\s*$")
NORUN = re.compile(r"^<!--\s*norun:\s*(.*?)\s*-->\s*$")
LAB = re.compile(r"^<!--\s*lab:\s*(.*?)\s*-->\s*$", re.M)
BUILTIN_KEYS = {"debug", "set_fact", "assert", "include_role", "import_role", "block", "include_tasks",
                "import_tasks"}


class Block:
    def __init__(self, page, line, text, norun):
        self.page = page
        self.line = line
        self.text = text
        self.norun = norun
        try:
            self.data = yaml.safe_load(text)
            self.error = None
        except yaml.YAMLError as exc:
            self.data = None
            self.error = str(exc)

    @property
    def where(self):
        return "docs/%s:%d" % (self.page, self.line)

    @property
    def kind(self):
        """"playbook", "tasks", "other" (documentation YAML) or "bad"."""
        if self.error:
            return "bad"
        data = self.data
        if not isinstance(data, list) or not data or not all(isinstance(item, dict) for item in data):
            return "other"
        if all("hosts" in item for item in data):
            return "playbook"
        if all(any("." in key or key in BUILTIN_KEYS for key in item) for item in data):
            return "tasks"
        return "bad"


def blocks(page):
    """The ```yaml blocks of a page with their norun marker (or None)."""
    with open(os.path.join(DOCS, page), encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    found, index = [], 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        if match.group(1) in ("yaml", "yml"):
            back = index - 1
            while back >= 0 and not lines[back].strip():
                back -= 1
            marker = NORUN.match(lines[back]) if back >= 0 else None
            found.append(Block(page, index + 1, "\n".join(lines[index + 1:end]),
                               marker.group(1) if marker else None))
        index = end + 1
    return found


def lab_options(page):
    """The page's lab marker as an options dict; None without a marker."""
    with open(os.path.join(DOCS, page), encoding="utf-8") as handle:
        markers = LAB.findall(handle.read())
    assert len(markers) <= 1, "docs/%s: more than one <!-- lab: ... --> marker" % page
    if not markers:
        return None
    if markers[0] == "default":
        return {}
    return dict(parse_option(item) for item in markers[0].split())


def lab_command(options):
    """The command a page must give: scalars as they are, lists and objects as compact
    JSON in single quotes (for the shell)."""
    def text(value):
        if isinstance(value, str):
            return value
        dumped = json.dumps(value, separators=(",", ":"))
        return "'%s'" % dumped if isinstance(value, (list, dict)) else dumped
    flags = ["--option %s=%s" % (key, text(value)) for key, value in sorted(options.items())]
    return " ".join(["python -m lab up"] + flags)


def pages():
    return sorted(name for name in os.listdir(DOCS) if name.endswith(".md") and name not in ELSEWHERE)


def runnable(page):
    return [block for block in blocks(page) if block.norun is None and block.kind in ("playbook", "tasks")]


def guide_playbook(page):
    """One play per runnable block of the page, in page order."""
    plays = []
    for block in runnable(page):
        if block.kind == "playbook":
            for index, play in enumerate(block.data):
                plays.append(dict(play, name="%s play %d: %s" % (block.where, index + 1, play.get("name", ""))))
        else:
            plays.append({"name": block.where, "hosts": "localhost", "gather_facts": False, "tasks": block.data})
    return plays


def options_key(options):
    return json.dumps(options, sort_keys=True)


def _lab_rank(page):
    """The default lab first, the others in reverse order of their options (so the
    Istio lab is the last one, which test_istio_mesh_playbook_prints_labelled_results reuses)."""
    key = options_key(lab_options(page) or {})
    keys = sorted({options_key(lab_options(p) or {}) for p in pages() if runnable(p)} - {"{}"}, reverse=True)
    return (0 if key == "{}" else 1 + keys.index(key), page)


RUN_PAGES = sorted((page for page in pages() if runnable(page)), key=_lab_rank)


# ----------------------------------------------------------------------------- without a cluster
def syntax_check(playbooks, directory):
    """``--syntax-check`` of every playbook (name -> list of plays): one
    ansible-playbook run for all of them (a run costs seconds of start-up), and
    only when that run fails one run per playbook, so each failure is named
    by its own playbook.  Returns name -> error output, or "" when it passed."""
    paths = {}
    for name, plays in playbooks.items():
        path = os.path.join(str(directory), "syntax-%s.yml" % re.sub(r"[^a-z0-9_-]", "_", name.lower()))
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(plays, handle, sort_keys=False)
        paths[name] = path
    if not paths:
        return {}
    env = playbook_env(REPO_ROOT, directory)
    first, *rest = paths.values()
    together = run_playbook_file(first, env, rest + ["--syntax-check"], timeout=300)
    if together.rc == 0:
        return dict.fromkeys(paths, "")
    out = {}
    for name, path in paths.items():
        run = run_playbook_file(path, env, ["--syntax-check"], timeout=120)
        out[name] = "" if run.rc == 0 else (run.stdout[-2000:] + run.stderr[-2000:]) or "rc=%s" % run.rc
    return out


@pytest.fixture(scope="module")
def syntax_errors(tmp_path_factory):
    """page -> its ``--syntax-check`` error ("" when it passed), for every page with runnable blocks."""
    return syntax_check({page: guide_playbook(page) for page in pages() if runnable(page)},
                        tmp_path_factory.mktemp("docs-syntax"))


@pytest.mark.parametrize("page", pages())
def test_blocks_are_runnable_or_marked(page, syntax_errors):
    found = blocks(page)
    problems = []
    for block in found:
        if block.norun is not None and not block.norun.strip(" .:"):
            problems.append("%s: <!-- norun: --> needs a reason" % block.where)
        if block.norun is None and block.kind == "bad":
            problems.append("%s: neither tasks nor a playbook nor documentation YAML (%s); fix it or mark it "
                            "<!-- norun: reason -->" % (block.where, block.error or "a list of mappings without "
                                                        "a module key or hosts"))
    with open(os.path.join(DOCS, page), encoding="utf-8") as handle:
        text = handle.read()
    markers = len(re.findall(r"<!--\s*norun:", text))
    used = sum(1 for block in found if block.norun is not None)
    if markers != used:
        problems.append("docs/%s: %d norun marker(s) not directly before a ```yaml block" % (page, markers - used))
    if runnable(page):
        options = lab_options(page)
        if options is None:
            problems.append("docs/%s: runnable blocks but no <!-- lab: ... --> marker saying which lab they need"
                            % page)
        elif lab_command(options) not in text:
            problems.append("docs/%s: the page must give the lab command `%s`" % (page, lab_command(options)))
        if syntax_errors.get(page):
            problems.append("docs/%s: ansible-playbook --syntax-check failed:\n%s" % (page, syntax_errors[page]))
    assert not problems, "\n".join(problems)


def test_syntax_check_names_the_failing_playbook_only(tmp_path):
    """The one-run syntax check can fail, and a failure is attributed to its own playbook."""
    good = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"ansible.builtin.debug": {"msg": "ok"}}]}]
    task = {"ansible.builtin.debug": {"msg": "x"}, "no_such_keyword": 1}
    bad = [{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]
    result = syntax_check({"a": good, "b": bad}, tmp_path)
    assert result["a"] == "" and result["b"], result
    assert "no_such_keyword" in result["b"], result["b"]


def test_marker_parser_catches_unmarked_and_reasonless_blocks(tmp_path, monkeypatch):
    """The rules above can fail: a typo'd task list and an empty reason are caught."""
    (tmp_path / "x.md").write_text("<!-- lab: istio=true -->\n\n```yaml\n- name: typo\n  kubevirt_network: {}\n"
                                   "  nme: x\n```\n\n<!-- norun:  -->\n```yaml\n- name: a\n  a.b.c: {}\n```\n"
                                   "```yaml\nkind: VirtualMachine\n```\n")
    monkeypatch.setattr(sys.modules[__name__], "DOCS", str(tmp_path))
    found = blocks("x.md")
    assert [b.kind for b in found] == ["bad", "tasks", "other"]
    assert [b.norun for b in found] == [None, "", None]
    assert lab_options("x.md") == {"istio": True}
    assert lab_command({"istio": True}) == "python -m lab up --option istio=true"
    assert lab_command({"nodes": [{"name": "n"}]}) == """python -m lab up --option nodes='[{"name":"n"}]'"""


# ----------------------------------------------------------------------------- against the lab
class Labs:
    """At most one lab at a time (2 cores): a new option set stops the previous lab."""

    def __init__(self, base):
        self.base = base
        self.key = None
        self.lab = None
        self.env = None
        self.setup_run = None
        self.count = 0

    def get(self, options):
        key = options_key(options)
        if key != self.key:
            self.close()
            self.count += 1
            state = os.path.join(self.base, "lab-%d" % self.count)
            try:
                self.lab = Lab(state, options).up()
            except RuntimeError:  # a component slow to listen on a loaded machine: one more try
                self.lab = Lab(state + "-again", options).up()
                state += "-again"
            self.env = playbook_env(REPO_ROOT, state, self.lab.kubeconfig)
            self.setup_run = run_playbook_file(SETUP, self.env)
            assert self.setup_run.rc == 0, "guides_setup.yml failed:\n" + self.setup_run.explain()
            self.key = key
        return self.lab, self.env

    def close(self):
        if self.lab is not None:
            self.lab.down()
        self.lab = self.key = None


@pytest.fixture(scope="module")
def labs(tmp_path_factory):
    pool = Labs(str(tmp_path_factory.mktemp("docs-labs")))
    yield pool
    pool.close()


def test_guides_setup_is_idempotent(labs):
    lab, env = labs.get({})
    assert labs.setup_run.stats().get("changed", 0) > 0, "the first run created nothing?\n" + labs.setup_run.explain()
    seq = lab.log_seq()
    check = run_playbook_file(SETUP, env, ["--check"])
    assert check.rc == 0, check.explain()
    assert writes_since(lab, seq) == []
    seq = lab.log_seq()
    again = run_playbook_file(SETUP, env)
    assert again.rc == 0, again.explain()
    assert again.stats().get("changed") == 0, again.explain()
    assert writes_since(lab, seq) == []


@pytest.mark.parametrize("page", RUN_PAGES)
def test_guide_blocks_run_on_the_lab(page, labs, tmp_path):
    _lab, env = labs.get(lab_options(page) or {})
    path = tmp_path / ("guide-%s.yml" % page[:-3])
    path.write_text(yaml.safe_dump(guide_playbook(page), sort_keys=False))
    run = run_playbook_file(path, env)
    assert run.rc == 0, "docs/%s: a block failed\n%s" % (page, run.explain())
    plays = [play["play"]["name"] for play in run.data["plays"]]
    assert len(plays) == len(guide_playbook(page)), plays


def test_istio_mesh_playbook_prints_labelled_results(labs):
    """playbooks/istio_mesh.yml on the VMs the Istio guide put in the mesh: one labelled
    line per VM, not a bare tuple."""
    _lab, env = labs.get({"istio": True})
    run = run_playbook_file(os.path.join(REPO_ROOT, "playbooks", "istio_mesh.yml"), env,
                            ["-e", json.dumps({"istio_injection_namespaces": ["vms"]})])
    assert run.rc == 0, run.explain()
    tasks = {task["task"]["name"]: task["hosts"]["localhost"] for play in run.data["plays"] for task in play["tasks"]}
    lines = [item["msg"] for item in tasks["Per VM, whether it is in the mesh and why not"]["results"]]
    names = sorted(line.split(":")[0] for line in lines)
    assert names == ["vms/app", "vms/db-1", "vms/web-1", "vms/web-golden"], lines
    for line in lines:
        assert isinstance(line, str) and "in mesh: " in line and "restart required: " in line, line
    assert all(re.match(r"vms/[a-z0-9-]+: in mesh: (True|False|n/a); action: ", line) for line in lines), lines
    assert "restarted" in tasks["Totals"]["msg"]
