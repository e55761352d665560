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
is what proves "0 writes" for every case.  All mismatches of a table are
reported together, so one run shows every gap.
"""

import datetime
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from tests.integration.conftest import WRITE_METHODS

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


def run_cases(run_playbook, request_log, cases: Sequence[Case], workers: int = WORKERS) -> Dict[str, Dict[str, Any]]:
    """Run ``cases`` as ``workers`` playbooks side by side; assert every case
    (all problems reported at once) and that the proxy saw no write at all
    while they ran.  Returns the results by case id."""
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
    problems = []
    for c in cases:
        problems.extend(problems_of(c, results.get(c.id), writes))
    assert not problems, "%d of %d bad-input case(s) failed:\n%s" % (
        len(set(p.split(":")[0] for p in problems)), len(cases), "\n".join(problems))
    assert writes == [], writes
    return {k: v.get("result") for k, v in results.items()}


def setup_target(lab, namespace):
    """The objects most cases refer to: the NAD ``br-a`` and the stopped VM ``target``."""
    from tests.integration.modules.kubevirt_objects import create_nad, create_vm
    create_nad(lab, namespace, "br-a")
    create_vm(lab, namespace, "target", running=False)
