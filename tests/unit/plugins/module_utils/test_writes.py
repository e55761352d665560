from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.writes import (
    generation_test, restart_required, vm_action, vmi_running)


class Recorder:
    def __init__(self):
        self.calls = []

    def request(self, method, path, body=None, **_kw):
        self.calls.append((method, path, body))
        return {}


def test_vm_action_uses_kubevirts_subresource_path():
    session = Recorder()
    vm_action(session, "vms", "vm1", "restart")
    assert session.calls == [("PUT", "/apis/subresources.kubevirt.io/v1/namespaces/vms/virtualmachines/vm1/restart",
                              {})]


def test_small_accessors():
    assert generation_test({"metadata": {"generation": 7}}) == {"op": "test", "path": "/metadata/generation",
                                                                "value": 7}
    cond = {"type": "RestartRequired", "status": "True"}
    assert restart_required({"status": {"conditions": [cond]}}) == cond
    assert restart_required({"status": {"conditions": [dict(cond, status="False")]}}) is None
    assert restart_required(None) is None
    assert vmi_running({"status": {"phase": "Running"}}) and not vmi_running({"status": {"phase": "Succeeded"}})
    assert not vmi_running(None)


def test_an_api_error_report_always_has_status_reason_and_message():
    err = ApiError("PATCH", "/p", 409, {"reason": "Conflict", "message": "the object has been modified"})
    report = err.report("VirtualMachine vms/vm1")
    assert report["status"] == 409 and report["reason"] == "Conflict"
    assert report["message"] == "the object has been modified"
    assert report["msg"].startswith("VirtualMachine vms/vm1: Kubernetes API error: PATCH /p failed (409 Conflict)")
    lost = ApiError("PATCH", "/p", None, message="connection reset").report()
    assert lost == {"msg": "Kubernetes API error: PATCH /p failed (None): connection reset", "status": None,
                    "reason": None, "message": "connection reset"}
