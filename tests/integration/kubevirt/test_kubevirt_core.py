"""kubevirt.core's own modules, unmodified, against the emulated KubeVirt:
kubevirt_vm (create and wait for Ready, stop, start through the
subresources API) and kubevirt_vm_info."""

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    kubevirt.core.kubevirt_vm: {namespace: "{{ ns }}", wait_sleep: 1, wait_timeout: 90}
  tasks:
    - name: create
      kubevirt.core.kubevirt_vm:
        name: core
        labels: {app: core}
        running: true
        wait: true
        spec:
          domain:
            devices:
              interfaces: [{name: default, masquerade: {}}]
            resources: {requests: {memory: 128Mi}}
          networks: [{name: default, pod: {}}]
    - name: info
      kubevirt.core.kubevirt_vm_info:
        name: core
        namespace: "{{ ns }}"
    - name: stopped
      kubevirt.core.kubevirt_vm:
        name: core
        state: stopped
        wait: true
    - name: stopped again
      kubevirt.core.kubevirt_vm:
        name: core
        state: stopped
    - name: started
      kubevirt.core.kubevirt_vm:
        name: core
        state: started
        wait: true
    - name: info running
      kubevirt.core.kubevirt_vm_info:
        name: core
        namespace: "{{ ns }}"
        wait: true
"""


def test_kubevirt_core_modules_work_unmodified(kv, run_playbook):
    result = run_playbook(PLAYBOOK, {"ns": kv.namespace})
    tasks = result.tasks
    assert tasks["create"]["changed"] is True
    info = tasks["info"]["resources"][0]
    assert info["status"]["printableStatus"] == "Running" and info["status"]["ready"] is True
    assert tasks["stopped"]["changed"] is True
    assert tasks["stopped again"]["changed"] is False          # 409 "VM is not running" is "already there"
    assert tasks["started"]["changed"] is True
    running = tasks["info running"]["resources"][0]
    assert running["status"]["printableStatus"] == "Running"
    assert kv.get("virtualmachines", "core")["spec"]["running"] is True    # virt-api keeps the legacy field
    assert kv.running("core")["metadata"]["labels"]["app"] == "core"
