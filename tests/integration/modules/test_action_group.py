"""module_defaults: group/kubevirt_net.core.kubevirt_net carries the auth options
to every API module of the collection (and to kubernetes.core's k8s modules)."""

import pytest


@pytest.fixture
def no_env_auth(ansible_env, tmp_path):
    # without the group, the modules would find no cluster: prove the auth comes from it
    for key in ("K8S_AUTH_KUBECONFIG", "KUBECONFIG"):
        ansible_env.pop(key, None)
    home = tmp_path / "home"  # no ~/.kube/config either
    home.mkdir()
    ansible_env["HOME"] = str(home)
    return ansible_env


def _play(kubeconfig, namespace, with_group):
    play = {"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "nad", "register": "nad", "kubevirt_net.core.kubevirt_network": {
            "namespace": namespace, "networks": [{"name": "grp", "type": "bridge", "bridge": "br-grp"}]}},
        {"name": "info", "register": "info", "kubevirt_net.core.kubevirt_vm_network_info": {
            "namespace": namespace}},
        {"name": "k8s", "register": "k8s", "kubernetes.core.k8s_info": {
            "api_version": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "namespace": namespace, "name": "grp"}},
    ]}
    if with_group:
        play["module_defaults"] = {"group/kubevirt_net.core.kubevirt_net": {"kubeconfig": kubeconfig}}
    return [play]


def test_module_defaults_group_sets_auth_for_all_modules(lab, namespace, run_playbook, no_env_auth):
    res = run_playbook(_play(lab.kubeconfig, namespace, True))
    assert res.tasks["nad"]["changed"]
    assert res.tasks["info"]["vms"] == []
    assert [o["metadata"]["name"] for o in res.tasks["k8s"]["resources"]] == ["grp"]


def test_without_the_group_the_same_play_finds_no_cluster(lab, namespace, run_playbook, no_env_auth):
    res = run_playbook(_play(lab.kubeconfig, namespace, False), expect_rc=2)
    assert res.tasks["nad"].get("failed")
