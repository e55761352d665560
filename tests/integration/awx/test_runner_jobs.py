"""AWX / Automation Controller jobs through ansible-runner against the lab.

Each test lays out a job as AWX does (tests/integration/awx/awxjob.py: the
project, the inventory script, extra variables and survey answers, the injected
credential, env/settings, env/cmdline), runs it with ``ansible_runner.run()``
and reads what AWX would read: the job status, the events (the play recap from
``playbook_on_stats``) and the artifacts; the lab proxy's request log shows what
reached the cluster.  The collection is the tarball built from this checkout and
installed as in the execution environment."""

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.awx.awxjob import Job, install_collection
from tests.integration.modules.kubevirt_objects import create_nad, create_vm, get_vm, iface_names, wait_running
from lab.cluster import REPO_ROOT

AWX_DOCS = Path(REPO_ROOT) / "docs" / "awx"
# what docs/awx.md section 3 puts on every cluster host
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}


@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    return install_collection(tmp_path_factory.mktemp("ee"))


@pytest.fixture
def awx_job(tmp_path, collections, monkeypatch):
    """``awx_job(name)`` -> a new Job; job ids count up like AWX's.  The test
    process's own cluster settings are kept out of the job's environment: a job
    reaches a cluster only through what its credential injects."""
    for name in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "K8S_AUTH_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    counter = iter(range(101, 200))

    def make(name):
        return Job(tmp_path, next(counter), collections, name=name)

    return make


def bearer_token(lab):
    """The inputs of an "OpenShift or Kubernetes API Bearer Token" credential for the lab."""
    with open(lab.state["pki"]["ca.crt"], encoding="utf-8") as handle:
        ca = handle.read()
    return {"host": lab.url, "bearer_token": lab.token("admin"), "verify_ssl": True, "ssl_ca_cert": ca}


def assert_successful(job):
    assert job.result.status == "successful" and job.result.rc == 0, job.failure_report()


def assert_no_leak(job, *secrets):
    for secret in secrets:
        assert job.secret_leaks(secret) == [], "a credential secret shows in the job's output"


@pytest.mark.usefixtures("site_namespaces_fresh")
def test_site_job_with_the_bearer_token_credential(lab, capabilities, awx_job, request_log):
    """Job template "KubeVirt site (one cluster)": playbooks/site.yml, inventory
    of localhost, the bearer-token credential, diff mode.  A second job changes
    and writes nothing; the token is in no event, stdout or artifact.  (site.yml
    in check mode: tests/integration/playbooks/test_site.py.)"""
    capabilities(istio=True)
    creds = bearer_token(lab)

    def site_job(job_type="run"):  # job type check: test_day_two_job_with_survey_answers
        job = awx_job("KubeVirt site (one cluster)")
        job.inventory({"localhost": LOCAL})
        job.credential_kubernetes_bearer_token(**creds)
        job.run("playbooks/site.yml", job_type=job_type, diff=True)
        assert_successful(job)
        return job

    first = site_job()
    # the CA reached the job as a 0600 file under env/, named by K8S_AUTH_SSL_CA_CERT
    ca_file = Path(first.env["K8S_AUTH_SSL_CA_CERT"])
    assert ca_file.parent == first.dir / "env" and oct(ca_file.stat().st_mode & 0o777) == "0o600"
    recap = first.recap()
    assert set(recap) == {"localhost"} and recap["localhost"]["failures"] == 0 and recap["localhost"]["dark"] == 0
    assert recap["localhost"]["changed"] > 0, recap
    web_dr = get_vm(lab, "tenant-a", "web-dr")
    assert {n["name"]: n for n in web_dr["spec"]["template"]["spec"]["networks"]}["storage"]["multus"][
        "networkName"] == "backup"
    assert_no_leak(first, creds["bearer_token"])

    request_log.mark()
    second = site_job()
    assert second.recap()["localhost"]["changed"] == 0, second.recap()
    assert request_log.writes(include_dry_run=True) == []
    assert_no_leak(second, creds["bearer_token"])


def test_day_two_job_with_survey_answers(lab, namespace, capabilities, awx_job, request_log):
    """Job template "Plug a NIC (day two)": the survey of
    docs/awx/survey_day2_add_interface.json answered (AWX passes the answers as
    strings, "false" included), the bearer-token credential; check first (no
    write), then run (the NIC lands on the matching VMs only), then again
    (changed=0, no write)."""
    capabilities(dynamic_networks=True)
    create_nad(lab, namespace, "storage-net")
    create_vm(lab, namespace, "db-1", labels={"tier": "db"}, template_labels={"app": "db-1"})
    create_vm(lab, namespace, "web-1", labels={"tier": "web"})
    wait_running(lab, namespace, "db-1")
    survey = json.loads((AWX_DOCS / "survey_day2_add_interface.json").read_text())
    creds = bearer_token(lab)
    answers = {"vm_namespace": namespace, "vm_selector": "tier=db", "interface": "storage", "network": "storage-net"}

    def day_two(job_type):
        job = awx_job("Plug a NIC (day two)")
        job.inventory({"localhost": LOCAL})
        job.credential_kubernetes_bearer_token(**creds)
        job.survey(survey, answers)
        job.run("playbooks/day2_add_interface.yml", job_type=job_type, diff=True)
        assert_successful(job)
        assert job.extra_vars["vm_selector_all"] == "false" and job.extra_vars["binding"] == "bridge"
        assert_no_leak(job, creds["bearer_token"])
        return job

    request_log.mark()
    day_two("check")
    assert request_log.writes(include_dry_run=True) == []
    assert "storage" not in iface_names(get_vm(lab, namespace, "db-1"))

    ran = day_two("run")
    assert ran.recap()["localhost"]["changed"] == 1 and ran.recap()["localhost"]["failures"] == 0
    assert "storage" in iface_names(get_vm(lab, namespace, "db-1"))
    assert "storage" not in iface_names(get_vm(lab, namespace, "web-1"))

    request_log.mark()
    again = day_two("run")
    assert again.recap()["localhost"]["changed"] == 0
    assert request_log.writes(include_dry_run=True) == []


def test_kubeconfig_credential_type_over_two_cluster_hosts(lab, namespace, awx_job, request_log):
    """The custom type of docs/awx/credential_type_kubeconfig.yml, injected as
    AWX renders it (file under env/, K8S_AUTH_KUBECONFIG naming it), on an
    inventory of two cluster hosts that pick their context (docs/awx.md 3a): the
    read-only network doctor succeeds on both, with each context's own user;
    a host without kube_context fails before any request instead of taking the
    kubeconfig's current context."""
    create_vm(lab, namespace, "app-1", running=False)
    ctype = yaml.safe_load((AWX_DOCS / "credential_type_kubeconfig.yml").read_text())
    with open(lab.kubeconfig, encoding="utf-8") as handle:
        kubeconfig = handle.read()
    tokens = [lab.token("admin"), lab.token("viewer")]

    def doctor(hosts):
        job = awx_job("Network doctor")
        job.inventory(hosts, groups={"clusters": sorted(hosts)})
        job.credential_custom(ctype, kubeconfig=kubeconfig)
        job.extra_vars.update({"site_hosts": "clusters", "doctor_namespace": namespace})
        job.run("playbooks/network_doctor.yml")
        return job

    request_log.mark()
    job = doctor({"admin": dict(LOCAL, kube_context="lab"), "viewer": dict(LOCAL, kube_context="lab-viewer")})
    assert_successful(job)
    injected = Path(job.env["K8S_AUTH_KUBECONFIG"])
    assert injected.parent == job.dir / "env" and injected.read_text() == kubeconfig
    assert oct(injected.stat().st_mode & 0o777) == "0o600"
    recap = job.recap()
    assert set(recap) == {"admin", "viewer"}
    assert all(stats["failures"] == 0 and stats["ok"] > 0 for stats in recap.values()), recap
    assert request_log.writes(include_dry_run=True) == []
    assert_no_leak(job, *tokens)

    request_log.mark()
    job = doctor({"admin": dict(LOCAL, kube_context="lab"), "stray": dict(LOCAL)})
    assert job.result.status == "failed", job.failure_report()
    recap = job.recap()
    assert recap["stray"]["failures"] == 1 and recap["admin"]["failures"] == 0, recap
    failed = [e for e in job.events() if e.get("event") == "runner_on_failed"]
    assert [e["event_data"]["host"] for e in failed] == ["stray"]
    message = failed[0]["event_data"]["res"].get("msg", "")
    assert "nothing was sent to any cluster" in message, message
    assert_no_leak(job, *tokens)
