"""Time bounds against the lab (issue 19 item 5): a stalled API server ends a
task after ``request_timeout`` (not after the stall), TLS verification errors
fail at once naming ca_cert/validate_certs, ``validate_certs: false`` warns
once.  Judged by the proxy's request log and the module's request counts."""

import certifi

from tests.integration.helpers import play, wait_for

NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions"
NET = {"name": "br", "type": "bridge", "bridge": "br1",
       "ipam": {"type": "host-local", "subnet": "10.61.0.0/24"}}


def network(title, namespace, **options):
    return {"name": title, "kubevirt_net.core.kubevirt_network": dict(namespace=namespace, networks=[NET], **options),
            "register": "r", "ignore_errors": True}


def test_a_stalled_api_server_ends_the_task_after_request_timeout(lab, namespace, run_playbook, request_log):
    # the next 10 LISTs of NADs stall 25 s in the proxy; request_timeout 2 s, one retry
    lab.add_fault(method="GET", path="/network-attachment-definitions$", action="latency", seconds=25, count=10)
    result = run_playbook(play(network("stalled", namespace, request_timeout=2, api_retries=1)), expect_rc=None)
    res = result.tasks["stalled"]
    assert res.get("failed"), res
    assert "request_timeout" in res["msg"] and "no answer within 2" in res["msg"]
    assert res["api_requests"] == {"total": 2, "writes": 0, "retries": 1}
    # the proxy logs a stalled request only once it is answered: count the stalls it started instead;
    # api_retries=1 makes two tries of the LIST, not four each (urllib3's own retries are off)
    rules = lab.request("GET", "/_lab/faults", direct=False)["rules"]
    assert [r["count"] for r in rules] == [8]
    assert request_log.writes() == []
    lab.clear_faults()
    assert lab.request("GET", NAD_PATH % namespace)["items"] == []
    # the two stalled LISTs are logged when their 25 s are up: wait for them here, or they land in
    # the request log of the next test on this lab
    wait_for(lambda: len([e for e in request_log.entries() if e.get("fault") == "latency"]) >= 2, timeout=180,
             message="the two stalled LISTs answered")


def test_request_timeout_must_be_positive(namespace, run_playbook, request_log):
    result = run_playbook(play(network("zero", namespace, request_timeout=0)), expect_rc=None)
    res = result.tasks["zero"]
    assert res.get("failed") and "request_timeout: 0.0 is not a timeout" in res["msg"]
    assert request_log.entries() == []


def test_an_untrusted_certificate_fails_at_once_naming_the_options(namespace, run_playbook, request_log):
    # public CAs only: the lab's own CA is not among them
    result = run_playbook(play(network("untrusted", namespace, ca_cert=certifi.where(), api_retries=4)),
                          expect_rc=None)
    res = result.tasks["untrusted"]
    assert res.get("failed"), res
    assert "ca_cert" in res["msg"] and "validate_certs" in res["msg"] and "retrying cannot heal" in res["msg"]
    assert "unable to get local issuer certificate" in res["msg"]
    assert res["api_requests"]["retries"] == 0
    assert request_log.entries() == []  # the handshake failed: no request reached the API


def test_validate_certs_false_warns_once(lab, namespace, run_playbook, request_log):
    result = run_playbook(play(network("insecure", namespace, validate_certs=False)))
    res = result.tasks["insecure"]
    assert res["changed"] and not res.get("failed")
    warnings = [w for w in res.get("warnings") or [] if "validate_certs=false" in w]
    assert len(warnings) == 1
    assert [n["metadata"]["name"] for n in lab.request("GET", NAD_PATH % namespace)["items"]] == ["br"]
