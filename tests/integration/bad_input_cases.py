"""The table-driven bad-input suite's machinery (issue 19, acceptance): each case
is one module call (or one role's argument spec) that must be refused before
any write, with a message naming the field and a word of the fix.

A table runs as WORKERS ansible-playbooks side by side, each with one task per
case and ``ignore_errors`` (a role case is a block whose rescue records the
failure), so 40-90 cases cost two playbook starts instead of one each.  Per
case the check is

* the task failed,
* the message holds every expected word (the field first, then the fix) and
  none of the ``unwanted`` ones,
* the module's own ``api_requests.writes`` is 0 where it reports one,
* the proxy logged no POST/PUT/PATCH/DELETE (dry runs included) inside the
  case's start/end times from the JSON callback (with two playbooks side by
  side a write is named under every case running then: a diagnosis, not an
  attribution),

and then that the proxy logged no write at all while the table ran, which
is what proves "0 writes" for every case.

A table file runs its table once in a module-scoped fixture (``lab_table``)
and has one test per case (parametrized by ``case_ids``) that reads the
case's outcome, so the report names every case that fails, plus one test of
the whole table (its size, no write at all).  ``run_cases`` checks a table
in one test instead, all mismatches reported together.
"""

import datetime
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import yaml

from tests.integration.conftest import WRITE_METHODS, RequestLog
from tests.integration.helpers import PlaybookRun, playbook_env, run_playbook_file
from lab.cluster import REPO_ROOT

FQCN = "kubevirt_net.core."
# seconds one case may take: a refusal needs at most a few reads, so a case
# that waits on the cluster (it was accepted) ends here instead of stalling the table
CASE_TIMEOUT = 60
# playbooks run side by side: two, one per core of the machines these tests run on
WORKERS = 2


@dataclass
class Case:
    """``module`` called with ``args`` must fail naming ``words`` (the field
    first, then a word of the fix).  ``role`` instead of ``module`` runs the
    role with ``args`` as its variables (argument spec validation)."""

    id: str
    module: Optional[str]
    args: Dict[str, Any]
    words: Sequence[str]
    role: Optional[str] = None
    unwanted: Sequence[str] = ()   # words the message must not contain (noise)
    check_api_writes: bool = True


def case(case_id, module, args, *words, **extra):
    return Case(case_id, module, {k: v for k, v in args.items() if v is not None}, words, **extra)


def role_case(case_id, role, variables, *words):
    return Case(case_id, None, variables, words, role=role)


def _task(c: Case) -> Dict[str, Any]:
    if c.role is None:
        return {"name": c.id, FQCN + c.module: c.args, "ignore_errors": True, "timeout": CASE_TIMEOUT}
    # a role's argument spec is checked by a task the role runs first; the
    # rescue records the failed result under the case's name
    return {"name": "block " + c.id, "block": [
        {"name": "role " + c.id, "ansible.builtin.include_role": {"name": FQCN + c.role}, "vars": c.args}],
        "rescue": [{"name": c.id, "ansible.builtin.set_fact": {"bad_input_result": "{{ ansible_failed_result }}"}}]}


def playbook(cases: Sequence[Case]) -> List[Dict[str, Any]]:
    ids = [c.id for c in cases]
    assert len(set(ids)) == len(ids), "duplicate case ids"
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [_task(c) for c in cases]}]


def _epoch(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def _results(data: Dict[str, Any], ids: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """Case id -> {"result", "start", "end"} from the ansible.posix.json output;
    a role case's window runs from its include_role to its rescue."""
    out = {}  # type: Dict[str, Dict[str, Any]]
    wanted = set(ids)
    for play in (data or {}).get("plays", []):
        for task in play["tasks"]:
            name = task["task"]["name"]
            duration = task["task"].get("duration") or {}
            start = _epoch(duration["start"]) if duration.get("start") else 0.0
            end = _epoch(duration["end"]) if duration.get("end") else float("inf")
            if name.startswith("role ") and name[5:] in wanted:
                out[name[5:]] = {"start": start, "end": end}
            elif name in wanted:
                entry = out.setdefault(name, {"start": start})
                entry["end"] = end
                res = task["hosts"].get("localhost", {})
                facts = res.get("ansible_facts") or {}
                entry["result"] = facts["bad_input_result"] if "bad_input_result" in facts else res
    return out


def problems_of(c: Case, entry: Optional[Dict[str, Any]], writes: List[Dict[str, Any]]) -> List[str]:
    """What is wrong with the outcome of one case (empty when it passed)."""
    if entry is None or "result" not in entry:
        return ["%s: no result (the %s did not fail, or never ran)" % (c.id, "role" if c.role else "task")]
    res = entry["result"]
    msg = res.get("msg") or ""
    if not isinstance(msg, str):
        msg = str(msg)
    out = []
    if not res.get("failed"):
        out.append("%s: not refused (changed=%s)" % (c.id, res.get("changed")))
    missing = [w for w in c.words if w not in msg]
    if missing:
        out.append("%s: message lacks %r: %s" % (c.id, missing, msg[:600]))
    noise = [w for w in c.unwanted if w in msg]
    if noise:
        out.append("%s: message has %r: %s" % (c.id, noise, msg[:600]))
    reported = (res.get("api_requests") or {}).get("writes", 0)
    if c.check_api_writes and reported:
        out.append("%s: the module reports %s write(s)" % (c.id, reported))
    mine = [w for w in writes if entry["start"] - 0.05 <= w["time"] <= entry["end"] + 0.05]
    if mine:
        out.append("%s: the proxy saw write(s) while it ran: %s" % (c.id, [(w["method"], w["path"]) for w in mine]))
    return out


class TableOutcome:
    """What one table's run gave: each case's result and time window, and the
    writes the proxy logged while the table ran.  A test per case reads it."""

    def __init__(self, cases: Sequence[Case], results: Dict[str, Dict[str, Any]],
                 writes: List[Dict[str, Any]]) -> None:
        self.cases = {c.id: c for c in cases}
        self.results = results
        self.writes = writes

    def problems(self, case_id: str) -> List[str]:
        return problems_of(self.cases[case_id], self.results.get(case_id), self.writes)

    def assert_case(self, case_id: str) -> None:
        """One case's checks (the module docstring's list), failing with the case id."""
        problems = self.problems(case_id)
        assert not problems, "\n".join(problems)

    def assert_table(self, minimum: int) -> None:
        """The table is as large as it should be and the proxy logged no write at all while it ran."""
        assert len(self.cases) >= minimum, "%d cases, expected at least %d" % (len(self.cases), minimum)
        assert self.writes == [], [(w["method"], w["path"]) for w in self.writes]

    def result(self, case_id: str) -> Optional[Dict[str, Any]]:
        return (self.results.get(case_id) or {}).get("result")


def run_table(run_playbook, request_log, cases: Sequence[Case], workers: int = WORKERS) -> TableOutcome:
    """Run ``cases`` as ``workers`` playbooks side by side (one ansible-playbook
    start per worker, not per case); the checks are left to the caller."""
    request_log.mark()
    chunks = [list(cases[i::workers]) for i in range(workers) if cases[i::workers]]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        outcomes = list(pool.map(lambda chunk: run_playbook(playbook(chunk), expect_rc=None), chunks))
    writes = [e for e in request_log.entries() if e["method"] in WRITE_METHODS]
    results = {}  # type: Dict[str, Dict[str, Any]]
    for chunk, outcome in zip(chunks, outcomes):
        assert outcome.data, "no JSON output: rc=%s\n%s\n%s" % (
            outcome.rc, outcome.stdout[-3000:], outcome.stderr[-3000:])
        results.update(_results(outcome.data, [c.id for c in chunk]))
    return TableOutcome(cases, results, writes)


def run_cases(run_playbook, request_log, cases: Sequence[Case], workers: int = WORKERS) -> Dict[str, Dict[str, Any]]:
    """Run ``cases`` (see ``run_table``); assert every case (all problems
    reported at once) and that the proxy saw no write at all while they ran.
    Returns the results by case id."""
    table = run_table(run_playbook, request_log, cases, workers)
    problems = []
    for c in cases:
        problems.extend(table.problems(c.id))
    assert not problems, "%d of %d bad-input case(s) failed:\n%s" % (
        len(set(p.split(":")[0] for p in problems)), len(cases), "\n".join(problems))
    table.assert_table(0)
    return {k: v.get("result") for k, v in table.results.items()}


def case_ids(make_cases: Callable[[Any], Sequence[Case]]) -> List[str]:
    """The ids of a table, for parametrizing (they do not depend on the namespace)."""
    return [c.id for c in make_cases("t-ids")]


def playbook_runner(env: Dict[str, str], directory: str) -> Callable[..., PlaybookRun]:
    """``run(plays, expect_rc=None)`` for a module-scoped fixture (conftest's
    ``run_playbook`` is per test): the plays as a file under ``directory``, run
    with ``env``."""

    def run(plays, expect_rc=None):  # pylint: disable=unused-argument
        path = os.path.join(directory, "play-%s.yml" % uuid.uuid4().hex[:6])
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(plays, handle, sort_keys=False)
        return run_playbook_file(path, env, timeout=900)

    return run


def lab_table(lab, tmp_path_factory, make_cases: Callable[[str], Sequence[Case]],
              **config: Any) -> Iterator[TableOutcome]:
    """A module-scoped fixture's body: a namespace of the table's own with the
    objects the cases refer to (``setup_target``), the lab's ``config`` set
    while the table runs (and put back), all cases run once; yields the
    outcome, then deletes the namespace."""
    directory = str(tmp_path_factory.mktemp("bad-input"))
    namespace = "t-bad-" + uuid.uuid4().hex[:8]
    lab.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": namespace, "labels": {"kubevirt-net.test": "true"}}})
    saved = lab.get_config() if config else {}
    try:
        try:
            if config:
                lab.set_config(**config)
            setup_target(lab, namespace)
            run = playbook_runner(playbook_env(REPO_ROOT, directory, lab.kubeconfig), directory)
            outcome = run_table(run, RequestLog(lab), make_cases(namespace))
        finally:
            if config:
                lab.set_config(**{key: saved[key] for key in config})
        yield outcome
    finally:
        try:
            lab.request("DELETE", "/api/v1/namespaces/" + namespace)
        except Exception:  # pylint: disable=broad-except
            pass


def setup_target(lab, namespace):
    """The objects most cases refer to: the NAD ``br-a`` and the stopped VM ``target``."""
    from tests.integration.modules.kubevirt_objects import create_nad, create_vm
    create_nad(lab, namespace, "br-a")
    create_vm(lab, namespace, "target", running=False)
