"""kubernetes.core modules against the lab, judged by the proxy's request log."""

import textwrap

PLAYBOOK = textwrap.dedent("""
    - hosts: localhost
      gather_facts: false
      vars:
        ns: "{{ namespace }}"
      module_defaults:
        group/kubernetes.core.k8s:
          namespace: "{{ ns }}"
      tasks:
        - name: NAD present
          kubernetes.core.k8s:
            state: present
            definition:
              apiVersion: k8s.cni.cncf.io/v1
              kind: NetworkAttachmentDefinition
              metadata:
                name: br1
                labels: {tier: gold}
              spec:
                config: '{"cniVersion": "0.3.1", "name": "br1", "type": "bridge", "bridge": "br1"}'
        - name: VM applied
          kubernetes.core.k8s:
            apply: true
            definition: "{{ lookup('file', vm_file) | from_yaml }}"
        - name: NetworkPolicy server-side applied
          kubernetes.core.k8s:
            apply: true
            server_side_apply:
              field_manager: kvnet-test
            definition: "{{ lookup('file', np_file) | from_yaml }}"
        - name: VM label patched
          kubernetes.core.k8s:
            state: patched
            kind: VirtualMachine
            api_version: kubevirt.io/v1
            name: vm1
            definition:
              metadata:
                labels: {patched: "yes"}
        - name: VM json-patched
          kubernetes.core.k8s_json_patch:
            kind: VirtualMachine
            api_version: kubevirt.io/v1
            name: vm1
            patch:
              - op: add
                path: /metadata/labels/jsonpatched
                value: "yes"
        - name: NADs by label
          kubernetes.core.k8s_info:
            kind: NetworkAttachmentDefinition
            api_version: k8s.cni.cncf.io/v1
            label_selectors: ["tier in (gold,silver)"]
            wait: true
            wait_timeout: 30
          register: nads
        - name: Check the NAD was found
          ansible.builtin.assert:
            that: nads.resources | length == 1
        - name: ConfigMap present and waited for
          kubernetes.core.k8s:
            state: present
            wait: true
            wait_timeout: 30
            definition:
              apiVersion: v1
              kind: ConfigMap
              metadata: {name: cm1}
              data: {key: value}
        - name: ConfigMap absent and waited for
          kubernetes.core.k8s:
            state: absent
            kind: ConfigMap
            name: cm1
            wait: true
            wait_timeout: 30
""")


# Check mode of the state=present tasks.  (kubernetes.core's apply: true and
# k8s_json_patch fail in check mode on objects that do not exist yet: they read
# back what the dry run did not store - kubernetes.core's behaviour, not the lab's.)
CHECK_PLAYBOOK = PLAYBOOK[:PLAYBOOK.index("    - name: VM applied")] + \
    PLAYBOOK[PLAYBOOK.index("    - name: ConfigMap present and waited for"):]


def _vars(namespace, tmp_path):
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    return {"namespace": namespace,
            "vm_file": os.path.join(here, "manifests", "vm.yaml"),
            "np_file": os.path.join(here, "manifests", "networkpolicy.yaml")}


def test_modules_work_and_second_run_is_idempotent(run_playbook, request_log, namespace, tmp_path, lab):
    extra = _vars(namespace, tmp_path)
    first = run_playbook(PLAYBOOK, extra)
    tasks = first.tasks
    assert tasks["NAD present"]["changed"] and tasks["NAD present"]["method"] == "create"
    assert tasks["VM applied"]["changed"]
    assert tasks["NetworkPolicy server-side applied"]["changed"]
    assert tasks["VM label patched"]["changed"]
    assert tasks["VM json-patched"]["changed"]
    assert tasks["ConfigMap absent and waited for"]["changed"]
    vm = lab.request("GET", "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines/vm1" % namespace)
    assert vm["metadata"]["labels"]["patched"] == "yes"
    assert vm["metadata"]["labels"]["jsonpatched"] == "yes"
    ssa = [e for e in request_log.entries() if e["content_type"] == "application/apply-patch+yaml"]
    assert ssa and "fieldManager=kvnet-test" in ssa[0]["query"]

    # The second run: the ConfigMap is created and deleted again by design; every
    # other task is unchanged.  kubernetes.core still sends no-op PATCHes (the
    # real server does not bump resourceVersion for them): prove nothing moved.
    paths = ["/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/br1" % namespace,
             "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines/vm1" % namespace,
             "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies/allow-ssh" % namespace]
    before = [lab.request("GET", p)["metadata"]["resourceVersion"] for p in paths]
    request_log.mark()
    second = run_playbook(PLAYBOOK, extra)
    changed = sorted(name for name, res in second.tasks.items() if res.get("changed"))
    assert changed == ["ConfigMap absent and waited for", "ConfigMap present and waited for"]
    assert [lab.request("GET", p)["metadata"]["resourceVersion"] for p in paths] == before
    writes = request_log.writes()
    assert {e["method"] for e in writes if "/configmaps" in e["path"]} == {"POST", "DELETE"}
    assert {e["method"] for e in writes if "/configmaps" not in e["path"]} <= {"PATCH"}


def test_check_mode_makes_no_real_writes(run_playbook, request_log, namespace, tmp_path, lab):
    extra = _vars(namespace, tmp_path)
    result = run_playbook(CHECK_PLAYBOOK, extra, check=True)
    assert result.tasks["NAD present"]["changed"]
    assert request_log.writes() == [], request_log.writes()
    # check mode is a server-side dry run: the writes were sent with dryRun=All
    assert request_log.writes(include_dry_run=True)
    assert all(e["dry_run"] for e in request_log.writes(include_dry_run=True))
    listing = lab.request("GET", "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions" % namespace)
    assert listing["items"] == []
