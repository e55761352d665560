"""playbooks/network_doctor.yml against the lab: the Markdown report with its
Mermaid diagram, written from one read-only module run."""

import json
import os
import re
import subprocess

from tests.integration.helpers import wait_for
from tests.integration.modules.test_kubevirt_vm_network_info import (
    launch, nad, policy, ready_endpoints, service)
from lab.cluster import REPO_ROOT

PLAYBOOK = os.path.join(REPO_ROOT, "playbooks", "network_doctor.yml")
MERMAID_LINE = re.compile(
    r"^\s*(flowchart LR|end|subgraph ns\d+\[\"[^\"]*\"\]|classDef \w+ .+|"
    r"\w+(\[\"[^\"]*\"\]|\(\[\"[^\"]*\"\]\)|\[/\"[^\"]*\"/\]|\{\{\"[^\"]*\"\}\}):::\w+|"
    r"\w+ (-- \"[^\"]*\" -->|-- \"[^\"]*\" --x|== \"[^\"]*\" ==>|-\. \"[^\"]*\" \.->) \w+)$")


def run_doctor_playbook(ansible_env, extra_vars):
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", PLAYBOOK,
                           "-e", json.dumps(extra_vars)], env=ansible_env, capture_output=True, text=True,
                          timeout=600, check=False)
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    tasks = {}
    for play in data["plays"]:
        for task in play["tasks"]:
            tasks[task["task"]["name"]] = task["hosts"]["localhost"]
    return proc.returncode, tasks


def test_report_has_findings_and_a_mermaid_diagram(lab, namespace, ansible_env, request_log, tmp_path):
    nad(lab, namespace, "data-net")
    launch(lab, namespace, "front", ifaces=[{"name": "default", "masquerade": {}}, {"name": "data", "bridge": {}}],
           networks=[{"name": "default", "pod": {}}, {"name": "data", "multus": {"networkName": "data-net"}}])
    launch(lab, namespace, "back")
    service(lab, namespace, "back", {"app": "back"}, [{"port": 8080}])
    service(lab, namespace, "wrong", {"vm": "front"}, [{"port": 80}])      # selects nothing the pods carry
    policy(lab, namespace, "back-from-front", {"matchLabels": {"app": "back"}},
           ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "front"}}}], "ports": [{"port": 8080}]}])
    wait_for(ready_endpoints(lab, namespace, "back"), timeout=120, message="endpoints of back")
    report = tmp_path / "doctor.md"

    request_log.mark()
    rc, tasks = run_doctor_playbook(ansible_env, {"doctor_namespace": namespace, "doctor_report": str(report)})
    assert rc == 0
    assert request_log.writes(include_dry_run=True) == []
    doctor = tasks["Diagnose the VMs"]
    assert doctor["api_requests"]["writes"] == 0 and not doctor["changed"]

    text = report.read_text()
    assert text.startswith("# Network doctor: namespace %s" % namespace)
    assert "| %s/front | Running | node0" % namespace in text
    assert "### %s/back (Running)" % namespace in text
    assert "NetworkPolicy: ingress isolated by %s/back-from-front, egress open." % namespace in text
    assert "| info | reachability | VirtualMachine %s/front: NetworkPolicy applies only to the pod network" \
        % namespace in text
    # the per-network matrix: the pod network through the tiers, data-net with no MultiNetworkPolicy
    assert "| Network | Interface | Filtered by | Policies | Ingress | Egress |" in text
    assert "| %s/data-net | data | MultiNetworkPolicy | none | - | - |" % namespace in text
    diagram = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    lines = [line for line in diagram.splitlines() if line.strip()]
    bad = [line for line in lines if not MERMAID_LINE.match(line)]
    assert not bad, bad
    ids = dict((n["label"], n["id"]) for n in doctor["topology"]["nodes"])
    assert '%s -- "data (bridge)" --> %s' % (ids["front"], ids["%s/data-net" % namespace]) in diagram
    assert '%s -- "selects" --> %s' % (ids["back (ClusterIP)"], ids["back"]) in diagram
    assert '%s -. "isolates ingress" .-> %s' % (ids["back-from-front"], ids["back"]) in diagram
    assert '%s == "allowed TCP/8080" ==> %s' % (ids["front"], ids["back"]) in diagram

    # fail_on_error: an error makes the play fail, after the report is written
    policy(lab, namespace, "front-no-dns", {"matchLabels": {"app": "front"}}, types=["Egress"],
           egress=[{"ports": [{"port": 443}]}])
    report.unlink()
    rc, tasks = run_doctor_playbook(ansible_env, {"doctor_namespace": namespace, "doctor_report": str(report),
                                                  "doctor_fail_on_error": True})
    assert rc == 2 and report.exists()
    assert "| error | dns | VirtualMachine %s/front may not send DNS queries" % namespace in report.read_text()
    assert '%s -- "denied TCP/8080" --x %s' % (ids["front"], ids["back"]) in report.read_text()
