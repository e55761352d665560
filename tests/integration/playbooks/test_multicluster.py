"""Issue 23, trap 1: one job over two clusters with one credential in the environment
(what an AWX credential injector does). Each host must reach only its own cluster, or
fail before sending anything. Two labs; both proxies' request logs are the witnesses.

The play uses the ``module_defaults`` mapping of the shipped playbooks (read from
playbooks/site.yml), so the test covers what users run."""

import json
import os
import subprocess
import uuid

import pytest
import yaml

from lab.cluster import REPO_ROOT, Lab

NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def lab_b(tmp_path_factory, lab):  # noqa: ARG001 - the session lab first: its build/cache serves both
    second = Lab(str(tmp_path_factory.mktemp("lab-b"))).up()
    yield second
    second.down()


@pytest.fixture
def both(lab, lab_b, namespace):
    """The test's namespace in both clusters; the log position of each proxy."""
    lab_b.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": namespace}})
    marks = {"a": lab.log_seq(), "b": lab_b.log_seq()}
    yield {"a": lab, "b": lab_b, "marks": marks, "namespace": namespace}
    try:
        lab_b.request("DELETE", "/api/v1/namespaces/" + namespace)
    except Exception:  # pylint: disable=broad-except
        pass


@pytest.fixture
def credential_env(ansible_env, lab, tmp_path):
    """The job's environment: lab A's credential (host, token, CA) and nothing else -
    no kubeconfig, no ~/.kube/config."""
    env = dict(ansible_env)
    for key in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG"):
        env.pop(key, None)
    home = tmp_path / "home"
    home.mkdir()
    env.update({"HOME": str(home), "K8S_AUTH_HOST": lab.url, "K8S_AUTH_API_KEY": lab.token(),
                "K8S_AUTH_SSL_CA_CERT": lab.state["pki"]["ca.crt"]})
    return env


def cluster_vars(cluster, token=True):
    out = {"k8s_api_host": cluster.url, "k8s_ca_cert_file": cluster.state["pki"]["ca.crt"]}
    if token:
        out["k8s_api_token"] = cluster.token()
    return out


def shipped_module_defaults():
    with open(os.path.join(REPO_ROOT, "playbooks", "site.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)[0]["module_defaults"]


def run(env, tmp_path, hosts, namespace):
    inventory = {"all": {"children": {"clusters": {"hosts": hosts, "vars": {"ansible_connection": "local"}}}}}
    play = [{"hosts": "clusters", "gather_facts": False, "module_defaults": shipped_module_defaults(), "tasks": [
        {"name": "nad", "kubevirt_net.core.kubevirt_network": {
            "namespace": namespace,
            "networks": [{"name": "net-{{ inventory_hostname }}", "type": "bridge", "bridge": "br-mc"}]}}]}]
    tag = uuid.uuid4().hex[:6]
    (tmp_path / ("inv-%s.yml" % tag)).write_text(yaml.safe_dump(inventory))
    (tmp_path / ("play-%s.yml" % tag)).write_text(yaml.safe_dump(play, sort_keys=False))
    proc = subprocess.run(["ansible-playbook", "-i", str(tmp_path / ("inv-%s.yml" % tag)),
                           str(tmp_path / ("play-%s.yml" % tag))],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    return proc.returncode, data["plays"][0]["tasks"][0]["hosts"], proc


def nads(cluster, namespace):
    return sorted(o["metadata"]["name"] for o in cluster.request("GET", NAD_PATH % namespace)["items"])


def log(both, key):
    return both[key].log(both["marks"][key])


def writes(entries):
    return [(e["method"], e["path"]) for e in entries if e["method"] in WRITES and not e.get("dry_run")]


def test_each_host_reaches_only_its_own_cluster(both, credential_env, tmp_path):
    ns = both["namespace"]
    rc, hosts, proc = run(credential_env, tmp_path, {"eu": cluster_vars(both["a"]), "us": cluster_vars(both["b"])},
                          ns)
    assert rc == 0, (proc.stdout[-4000:], proc.stderr[-2000:])
    assert hosts["eu"]["changed"] and hosts["us"]["changed"]
    assert nads(both["a"], ns) == ["net-eu"]
    assert nads(both["b"], ns) == ["net-us"]
    assert writes(log(both, "a")) == [("POST", NAD_PATH % ns)]
    assert writes(log(both, "b")) == [("POST", NAD_PATH % ns)]
    # no host ever showed its token to the other cluster
    assert [e for e in log(both, "a") + log(both, "b") if e["status"] == 401] == []


def test_a_host_without_its_own_endpoint_fails_before_any_request(both, credential_env, tmp_path):
    """The docs' old inventory: staging had no endpoint and talked to prod-eu through the credential."""
    ns = both["namespace"]
    rc, hosts, _proc = run(credential_env, tmp_path, {"eu": cluster_vars(both["a"]), "us": {}}, ns)
    assert rc == 2
    assert hosts["eu"]["changed"] and not hosts["eu"].get("failed")
    refused = hosts["us"]
    assert refused["failed"] and "nothing was sent to any cluster" in refused["msg"]
    assert "host us" in refused["msg"] and "K8S_AUTH_HOST" in refused["msg"]
    assert refused["api_requests"]["total"] == 0
    assert both["a"].token() not in refused["msg"]
    assert nads(both["a"], ns) == ["net-eu"]
    assert writes(log(both, "a")) == [("POST", NAD_PATH % ns)]   # eu's only: us wrote nothing here
    assert log(both, "b") == []


def test_own_endpoint_without_own_token_never_gets_the_environment_token(both, credential_env, tmp_path):
    """prod-us with its own host but no token would have sent prod-eu's token to prod-us."""
    ns = both["namespace"]
    rc, hosts, _proc = run(credential_env, tmp_path,
                           {"eu": cluster_vars(both["a"]), "us": cluster_vars(both["b"], token=False)}, ns)
    assert rc == 2
    assert "host is set but no credential" in hosts["us"]["msg"] and "K8S_AUTH_API_KEY" in hosts["us"]["msg"]
    assert log(both, "b") == []          # not one request, so not one foreign token
    assert nads(both["b"], ns) == []
    assert writes(log(both, "a")) == [("POST", NAD_PATH % ns)]


def test_the_environment_token_mapped_to_another_host_is_refused(both, credential_env, tmp_path):
    """The old playbook mapping copied K8S_AUTH_API_KEY into api_key for hosts without a token."""
    ns = both["namespace"]
    us = dict(cluster_vars(both["b"]), k8s_api_token=both["a"].token())
    rc, hosts, _proc = run(credential_env, tmp_path, {"eu": cluster_vars(both["a"]), "us": us}, ns)
    assert rc == 2
    assert "api_key is the environment's K8S_AUTH_API_KEY" in hosts["us"]["msg"]
    assert both["a"].token() not in hosts["us"]["msg"]
    assert log(both, "b") == []
