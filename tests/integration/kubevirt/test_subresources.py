"""The subresources.kubevirt.io/v1 API the lab proxy serves (virt-api's
start/stop/restart/migrate and the guest-agent reads), reached the way
clients reach it: through the proxy, with their own token."""

import http.client
import json
import ssl

from tests.integration.helpers import wait_for

GROUP = "/apis/subresources.kubevirt.io/v1"


def raw(lab, method, path, token):
    """(status, parsed body) of a request through the lab proxy, any outcome."""
    conn = http.client.HTTPSConnection("127.0.0.1", lab.state["proxy_port"], timeout=30,
                                       context=ssl.create_default_context(cafile=lab.state["pki"]["ca.crt"]))
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=b"{}" if method == "PUT" else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, json.loads(data) if data else None


def call(kv, action, name, token="admin", resource="virtualmachines", method="PUT", expect=(200, 202)):
    status, body = raw(kv.lab, method, "%s/namespaces/%s/%s/%s/%s" % (
        GROUP, kv.namespace, resource, name, action), kv.lab.token(token) if token else None)
    assert status in expect, (status, body)
    return body


def refused(kv, action, name, token="admin", resource="virtualmachines", method="PUT"):
    """(code, message) of a refused call."""
    status, body = raw(kv.lab, method, "%s/namespaces/%s/%s/%s/%s" % (GROUP, kv.namespace, resource, name, action),
                       kv.lab.token(token) if token else None)
    assert status >= 400 and body["kind"] == "Status" and body["code"] == status, (status, body)
    return status, body["message"]


def test_discovery_lists_the_subresources(lab):
    groups = lab.request("GET", "/apis", direct=False)["groups"]
    assert "subresources.kubevirt.io" in [g["name"] for g in groups]
    resources = {r["name"]: r for r in lab.request("GET", GROUP, direct=False)["resources"]}
    for action in ("start", "stop", "restart", "migrate"):
        assert resources["virtualmachines/" + action]["verbs"] == ["update"]
    assert resources["virtualmachineinstances/interfacelist"]["namespaced"] is True


def test_start_stop_restart_and_their_refusals(kv):
    kv.vm("sub", run_strategy="Halted")
    code, message = refused(kv, "start", "sub", token="viewer")
    assert code == 403 and message == ('virtualmachines.subresources.kubevirt.io "sub" is forbidden: User "lab-viewer" '
                                       'cannot update resource "virtualmachines/start" in API group '
                                       '"subresources.kubevirt.io" in the namespace "%s"' % kv.namespace)
    assert refused(kv, "start", "sub", token=None) == (401, "Unauthorized")
    assert refused(kv, "start", "nope") == (404, 'virtualmachine.kubevirt.io "nope" not found')
    assert refused(kv, "stop", "sub") == (
        409, 'Operation cannot be fulfilled on virtualmachine.kubevirt.io "sub": VM is not running')

    assert call(kv, "start", "sub", expect=(202,)) is None      # 202 Accepted, no body
    assert kv.get("virtualmachines", "sub")["spec"]["runStrategy"] == "Always"
    first = kv.running("sub")
    assert refused(kv, "start", "sub") == (
        409, 'Operation cannot be fulfilled on virtualmachine.kubevirt.io "sub": VM is already running')

    call(kv, "restart", "sub")

    def restarted():
        vmi = kv.vmi_or_none("sub")
        return vmi and vmi["metadata"]["uid"] != first["metadata"]["uid"] and vmi["status"].get("phase") == "Running" \
            and vmi

    second = wait_for(restarted, timeout=60, message="a new VMI after restart")
    assert not kv.get("virtualmachines", "sub")["status"].get("stateChangeRequests")
    assert kv.pods(first) == [] or all(p["metadata"].get("deletionTimestamp") for p in kv.pods(first))

    call(kv, "stop", "sub")
    assert kv.get("virtualmachines", "sub")["spec"]["runStrategy"] == "Halted"
    wait_for(lambda: kv.vmi_or_none("sub") is None and
             kv.get("virtualmachines", "sub")["status"]["printableStatus"] == "Stopped", timeout=60,
             message="stopped")
    assert refused(kv, "restart", "sub")[1].endswith("RunStategy Halted does not support manual restart requests")
    assert kv.pods(second) == []


def test_manual_run_strategy_uses_state_change_requests(kv):
    kv.vm("man", run_strategy="Manual")
    call(kv, "start", "man")
    vmi = kv.running("man")
    wait_for(lambda: not kv.get("virtualmachines", "man")["status"].get("stateChangeRequests"), timeout=30,
             message="start request done")
    call(kv, "stop", "man")
    requests = kv.get("virtualmachines", "man")["status"].get("stateChangeRequests")
    assert requests in ([{"action": "Stop", "uid": vmi["metadata"]["uid"]}], None)
    wait_for(lambda: kv.vmi_or_none("man") is None, timeout=60, message="stopped")
    assert kv.get("virtualmachines", "man")["spec"]["runStrategy"] == "Manual"


def test_guest_agent_reads(kv):
    kv.vm("agent")
    vmi = kv.running("agent")
    listing = call(kv, "interfacelist", "agent", resource="virtualmachineinstances", method="GET")
    assert listing["items"] == [{"interfaceName": "eth0", "mac": vmi["status"]["interfaces"][0]["mac"],
                                 "ipAddress": vmi["status"]["interfaces"][0]["ipAddress"],
                                 "ipAddresses": vmi["status"]["interfaces"][0]["ipAddresses"]}]
    info = call(kv, "guestosinfo", "agent", resource="virtualmachineinstances", method="GET", token="viewer")
    assert info["os"]["id"] == "fedora" and info["hostname"] == "agent"
    kv.patch("virtualmachines", "agent", {"spec": {"runStrategy": "Halted"}}, merge=True)
    wait_for(lambda: kv.vmi_or_none("agent") is None, timeout=60, message="stopped")
    assert refused(kv, "interfacelist", "agent", resource="virtualmachineinstances", method="GET") == (
        404, 'virtualmachineinstance.kubevirt.io "agent" not found')
