"""The subresources.kubevirt.io/v1 API KubeVirt v1.9.0's virt-api serves through
kube-apiserver's aggregator (start/stop/restart/migrate and the guest-agent
reads), reached the way clients reach it: through the lab proxy, with their own
token."""

import http.client
import json
import ssl

from tests.integration.helpers import wait_equal, wait_for

GROUP = "/apis/subresources.kubevirt.io/v1"


# what client-go and kubectl send.  virt-api's start/stop/restart/migrate routes declare no
# Produces (pkg/virt-api/api.go composeSubresources), so go-restful answers a strict
# "Accept: application/json" with 406 Not Acceptable (test_start_stop_restart_and_their_refusals)
ACCEPT = "application/json, */*"


def raw(lab, method, path, token, accept=ACCEPT):
    """(status, body) of a request through the lab proxy, any outcome: parsed JSON, or
    the text virt-api writes with go-restful's WriteError (text/plain)."""
    conn = http.client.HTTPSConnection("127.0.0.1", lab.state["proxy_port"], timeout=60,
                                       context=ssl.create_default_context(cafile=lab.state["pki"]["ca.crt"]))
    headers = {"Content-Type": "application/json", "Accept": accept}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=b"{}" if method == "PUT" else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if not data:
        return resp.status, None
    if (resp.getheader("Content-Type") or "").startswith("application/json"):
        return resp.status, json.loads(data)
    return resp.status, data.decode()


def bearer(kv, token):
    """A lab user's token by name ("admin", "viewer"), any other string as it is, None for none."""
    return kv.lab.state["tokens"].get(token, token) if token else None


def call(kv, action, name, token="admin", resource="virtualmachines", method="PUT", expect=(200, 202)):
    status, body = raw(kv.lab, method, "%s/namespaces/%s/%s/%s/%s" % (
        GROUP, kv.namespace, resource, name, action), bearer(kv, token))
    assert status in expect, (status, body)
    return body


def refused(kv, action, name, token="admin", resource="virtualmachines", method="PUT"):
    """(code, message) of a refused call."""
    status, body = raw(kv.lab, method, "%s/namespaces/%s/%s/%s/%s" % (GROUP, kv.namespace, resource, name, action),
                       bearer(kv, token))
    assert status >= 400 and body["kind"] == "Status" and body["code"] == status, (status, body)
    return status, body["message"]


def test_discovery_lists_the_subresources(lab):
    groups = lab.request("GET", "/apis", direct=False)["groups"]
    assert "subresources.kubevirt.io" in [g["name"] for g in groups]
    resources = {r["name"]: r for r in lab.request("GET", GROUP, direct=False)["resources"]}
    # virt-api's own APIResourceList (pkg/virt-api/api.go composeSubresources, the GET "/"
    # route) names each subresource as namespaced and lists no verbs at all
    for name in ("virtualmachines/start", "virtualmachines/stop", "virtualmachines/restart",
                 "virtualmachines/migrate", "virtualmachineinstances/guestosinfo",
                 "virtualmachineinstances/userlist", "virtualmachineinstances/filesystemlist"):
        assert resources[name]["namespaced"] is True and not resources[name].get("verbs"), name
    # v1.9.0 has no interfacelist subresource (no route, not in the list): the interfaces a
    # guest agent reports are read from the VMI's status.interfaces
    assert "virtualmachineinstances/interfacelist" not in resources


def test_start_stop_restart_and_their_refusals(kv):
    kv.vm("sub", run_strategy="Halted")
    code, message = refused(kv, "start", "sub", token="viewer")
    assert code == 403 and message == ('virtualmachines.subresources.kubevirt.io "sub" is forbidden: User "lab-viewer" '
                                       'cannot update resource "virtualmachines/start" in API group '
                                       '"subresources.kubevirt.io" in the namespace "%s"' % kv.namespace)
    # no token: kube-apiserver's anonymous authentication (on by default) makes the caller
    # system:anonymous, whom RBAC refuses with 403 (a 401 only comes with a bad token)
    assert refused(kv, "start", "sub", token=None) == (
        403, 'virtualmachines.subresources.kubevirt.io "sub" is forbidden: User "system:anonymous" cannot update '
             'resource "virtualmachines/start" in API group "subresources.kubevirt.io" in the namespace "%s"'
             % kv.namespace)
    assert refused(kv, "start", "sub", token="not-a-token") == (401, "Unauthorized")
    assert refused(kv, "start", "nope") == (404, 'virtualmachine.kubevirt.io "nope" not found')
    assert refused(kv, "stop", "sub") == (
        409, 'Operation cannot be fulfilled on virtualmachine.kubevirt.io "sub": VM is not running')

    # a strict JSON Accept is refused by go-restful before virt-api's handler runs (the route
    # declares no Produces: pkg/virt-api/api.go), and nothing changes
    status, body = raw(kv.lab, "PUT", "%s/namespaces/%s/virtualmachines/sub/start" % (GROUP, kv.namespace),
                       kv.lab.token("admin"), accept="application/json")
    assert status == 406 and body.startswith("406: Not Acceptable"), (status, body)
    assert kv.get("virtualmachines", "sub")["spec"]["runStrategy"] == "Halted"

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

    second = wait_for(restarted, timeout=180, message="a new VMI after restart")
    # the VM controller trims a done request in its own status update (pkg/virt-controller/watch/vm/
    # vm.go updateStatus -> isTrimFirstChangeRequestNeeded), which can follow the new VMI's Running
    # (the node's write)
    wait_equal(lambda: kv.get("virtualmachines", "sub")["status"].get("stateChangeRequests") or None, None,
               message="the VM's stateChangeRequests trimmed after the restart")
    assert kv.pods(first) == [] or all(p["metadata"].get("deletionTimestamp") for p in kv.pods(first))

    call(kv, "stop", "sub")
    assert kv.get("virtualmachines", "sub")["spec"]["runStrategy"] == "Halted"
    wait_for(lambda: kv.vmi_or_none("sub") is None and
             kv.get("virtualmachines", "sub")["status"]["printableStatus"] == "Stopped", timeout=180,
             message="stopped")
    assert refused(kv, "restart", "sub")[1].endswith("RunStategy Halted does not support manual restart requests")
    assert kv.pods(second) == []


def test_manual_run_strategy_uses_state_change_requests(kv):
    kv.vm("man", run_strategy="Manual")
    call(kv, "start", "man")
    vmi = kv.running("man")
    wait_for(lambda: not kv.get("virtualmachines", "man")["status"].get("stateChangeRequests"), timeout=120,
             message="start request done")
    call(kv, "stop", "man")
    requests = kv.get("virtualmachines", "man")["status"].get("stateChangeRequests")
    assert requests in ([{"action": "Stop", "uid": vmi["metadata"]["uid"]}], None)
    wait_for(lambda: kv.vmi_or_none("man") is None, timeout=180, message="stopped")
    assert kv.get("virtualmachines", "man")["spec"]["runStrategy"] == "Manual"


def test_guest_agent_reads(kv):
    """The guest-agent reads take KubeVirt's real path: RBAC lets a viewer read
    (kubevirt.io:view has virtualmachineinstances/guestosinfo), the VMI must be
    Running with AgentConnected, then virt-api calls the node's virt-handler at
    its pod IP, port 8186, over mTLS with the kubevirt-ca (kubecli/handler.go
    ConnectionDetails; pkg/virt-api/rest/dialers.go getVirtHandlerConnForVMI;
    pkg/virt-api/rest/subresource.go GuestOSInfo).  The lab's virt-handler
    serves those routes from a loopback pod IP (lab/kubevirt/handler_rest.py)."""
    kv.vm("agent")
    vmi = kv.running("agent")
    assert kv.condition(vmi, "AgentConnected")["status"] == "True"
    handler_pod = next(p for p in kv.lab.request("GET", "/api/v1/namespaces/kubevirt/pods")["items"]
                       if p["metadata"]["labels"].get("kubevirt.io") == "virt-handler"
                       and p["spec"]["nodeName"] == vmi["status"]["nodeName"])
    assert handler_pod["status"]["podIP"].startswith("127.")   # never leaves the machine
    answers = {}
    for read, token in (("guestosinfo", "viewer"), ("userlist", "admin"), ("filesystemlist", "viewer")):
        status, body = raw(kv.lab, "GET", "%s/namespaces/%s/virtualmachineinstances/agent/%s" % (
            GROUP, kv.namespace, read), bearer(kv, token))
        assert status == 200, (read, status, body)
        answers[read] = body
    assert answers["guestosinfo"]["os"]["id"] == "fedora"
    assert answers["userlist"]["items"][0]["userName"] == "fedora"
    assert answers["filesystemlist"]["items"][0]["mountPoint"] == "/"
    # v1.9.0 has no interfacelist route: go-restful's 404
    status, body = raw(kv.lab, "GET", "%s/namespaces/%s/virtualmachineinstances/agent/interfacelist" % (
        GROUP, kv.namespace), bearer(kv, "admin"))
    assert (status, body) == (404, "404: Page Not Found")
    kv.patch("virtualmachines", "agent", {"spec": {"runStrategy": "Halted"}}, merge=True)
    wait_for(lambda: kv.vmi_or_none("agent") is None, timeout=180, message="stopped")
    # a VMI that is gone: FetchVirtualMachineInstance's NotFound, written by
    # httpGetRequestHandler as a 500 with the message as text
    status, body = raw(kv.lab, "GET", "%s/namespaces/%s/virtualmachineinstances/agent/guestosinfo" % (
        GROUP, kv.namespace), bearer(kv, "admin"))
    assert (status, body) == (500, 'virtualmachineinstance.kubevirt.io "agent" not found')
