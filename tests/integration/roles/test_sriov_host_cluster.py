"""The sriov_host role's cluster wiring against the lab: node label, SR-IOV
device plugin ConfigMap, SR-IOV NAD (kubevirt_network), device plugin pod
restart, drain/uncordon around a reboot.  The host is a fake host root with
the simulated kernel (tests/fakesysfs); the cluster tasks are delegated to
localhost and talk to the lab through its logging proxy, so "no writes" is
read from the request log."""

import json
import uuid

import pytest

from tests.fakesysfs import Kernel, build_host, snapshot
from tests.fakesysfs.playbook import playbook_env, role_play, run_playbook
from lab.cluster import LabError

pytestmark = pytest.mark.lab

LABEL = "feature.node.kubernetes.io/network-sriov.capable"


@pytest.fixture
def env(ansible_env, tmp_path):
    return playbook_env(tmp_path, base=ansible_env)


@pytest.fixture
def cleanup(lab):
    """Undo cluster-wide changes a test made (label, ConfigMap, cordon)."""
    configmaps = []
    yield configmaps
    for node in ("node01", "node02"):
        lab.request("PATCH", "/api/v1/nodes/" + node,
                    {"metadata": {"labels": {LABEL: None}}, "spec": {"unschedulable": None}},
                    content_type="application/merge-patch+json")
    for name in configmaps:
        try:
            lab.request("DELETE", "/api/v1/namespaces/kube-system/configmaps/" + name)
        except LabError:
            pass


def device_plugin_pod(lab, selector_value):
    name = "sriov-device-plugin-" + uuid.uuid4().hex[:5]
    lab.request("POST", "/api/v1/namespaces/kube-system/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": selector_value}},
        "spec": {"nodeName": "node01", "containers": [
            {"name": "kube-sriovdp", "image": "ghcr.io/k8snetworkplumbingwg/sriov-network-device-plugin:latest"}]}})
    return name


def pod_exists(lab, name):
    try:
        lab.request("GET", "/api/v1/namespaces/kube-system/pods/" + name)
        return True
    except LabError as err:
        if "404" in str(err):
            return False
        raise


def cluster_vars(configmap, namespace, selector_value, **more):
    variables = {
        "sriov_host_manage_cluster": True,
        "sriov_host_resource_prefix": "openshift.io",
        "sriov_host_device_plugin_configmap": configmap,
        "sriov_host_device_plugin_pod_selector": "app=" + selector_value,
        "sriov_host_device_plugin_delete_grace_period": 0,
        "sriov_host_networks": [{"name": "sriov-vms", "namespace": namespace, "resource_name": "intelnics",
                                 "vlan": 100, "spoof_check": True}],
    }
    variables.update(more)
    return variables


VF_TASK = "Create the VFs, pin their settings and bind them (vfio_sriov)"
PFS = [
    {"name": "ens1f0", "num_vfs": 4, "resource_name": "intelnics"},
    {"name": "ens1f1", "num_vfs": 2, "driver": "kernel", "resource_name": "intel_netdev"},
]


def test_cluster_wiring_idempotence_and_check_mode(lab, namespace, request_log, env, tmp_path, cleanup):
    root = tmp_path / "host"
    build_host(str(root), tools=True)
    configmap = "sriovdp-" + uuid.uuid4().hex[:6]
    cleanup.append(configmap)
    selector = "sriovdp-" + uuid.uuid4().hex[:6]
    pod = device_plugin_pod(lab, selector)
    variables = cluster_vars(configmap, namespace, selector)

    first = run_playbook(env, tmp_path, role_play(root, PFS, **variables))
    assert first.changed > 0
    node = lab.request("GET", "/api/v1/nodes/node01")
    assert node["metadata"]["labels"][LABEL] == "true"
    data = lab.request("GET", "/api/v1/namespaces/kube-system/configmaps/" + configmap)["data"]
    assert set(data) == {"node01"}  # one key per node name, read by that node's device plugin
    assert json.loads(data["node01"]) == {"resourceList": [
        {"resourceName": "intel_netdev", "resourcePrefix": "openshift.io",
         "selectors": [{"devices": ["1889"], "pfNames": ["ens1f1"], "vendors": ["8086"]}]},
        {"resourceName": "intelnics", "resourcePrefix": "openshift.io",
         "selectors": [{"devices": ["1889"], "drivers": ["vfio-pci"], "pfNames": ["ens1f0"], "vendors": ["8086"]}]},
    ]}
    nad = lab.request("GET", "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/sriov-vms"
                      % namespace)
    assert nad["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"] == "openshift.io/intelnics"
    config = json.loads(nad["spec"]["config"])
    assert (config["type"], config["vlan"], config["spoofchk"]) == ("sriov", 100, "on")
    # the VFs changed, so the node's device plugin pod was deleted (its DaemonSet starts a new one)
    assert not pod_exists(lab, pod)
    assert any(e["method"] == "DELETE" and e["path"].endswith("/pods/" + pod) for e in request_log.writes())

    # a second run: nothing changes, on the host or in the cluster
    before, mark = snapshot(str(root)), len(Kernel(str(root)).writes())
    request_log.mark()
    second = run_playbook(env, tmp_path, role_play(root, PFS, **variables))
    assert second.changed == 0, [n for n, r in second.task_results() if r.get("changed")]
    assert request_log.writes() == []
    assert snapshot(str(root)) == before and Kernel(str(root)).writes()[mark:] == []

    # check mode with a change: reported, nothing written anywhere
    changed_pfs = [dict(PFS[0], num_vfs=6), PFS[1]]
    request_log.mark()
    checked = run_playbook(env, tmp_path, role_play(root, changed_pfs, **variables), check=True, diff=True)
    assert checked.task("This node's key of the device plugin ConfigMap (resourceList with prefix, vendors, devices, "
                        "drivers, pfNames)")["changed"] is False
    assert checked.task("Create the VFs, pin their settings and bind them (vfio_sriov)")["changed"]
    assert request_log.writes() == []
    assert snapshot(str(root)) == before and Kernel(str(root)).writes()[mark:] == []


def test_bad_input_writes_nothing_to_the_cluster(lab, request_log, env, tmp_path, cleanup):
    root = tmp_path / "host"
    build_host(str(root), tools=True)
    pfs = [dict(PFS[0], num_vfs=500)]
    result = run_playbook(env, tmp_path, role_play(root, pfs, **cluster_vars("sriovdp-x", "default", "none")),
                          expect_rc=2)
    assert "use at most 128" in result.failures()[0][1]
    assert request_log.writes(include_dry_run=True) == []


def test_reboot_drains_the_node_and_uncordons_it(lab, namespace, request_log, env, tmp_path, cleanup):
    root = tmp_path / "host"
    build_host(str(root), tools=True, iommu=False)
    configmap = "sriovdp-" + uuid.uuid4().hex[:6]
    cleanup.append(configmap)
    variables = cluster_vars(configmap, namespace, "none", sriov_host_allow_reboot=True,
                             sriov_host_reboot_command=str(root / "usr/sbin/reboot"))
    result = run_playbook(env, tmp_path, role_play(root, PFS, **variables))
    assert result.task("Drain the node the KubeVirt way (virt-launcher pods are evicted, so VMs live-migrate "
                       "away)")["changed"]
    node_patches = [e for e in request_log.writes() if e["method"] == "PATCH" and e["path"] == "/api/v1/nodes/node01"]
    assert len(node_patches) >= 3  # label, cordon, uncordon
    assert not lab.request("GET", "/api/v1/nodes/node01")["spec"].get("unschedulable")
    names = [t for t, _r in result.task_results()]
    assert names.index("Drain the node the KubeVirt way (virt-launcher pods are evicted, so VMs live-migrate "
                       "away)") < names.index("Boot the host tree under sriov_host_root") < \
        names.index("Uncordon the node")
    kernel = Kernel(str(root))
    assert [kernel.driver_of("0000:3b:02.%d" % i) for i in range(4)] == ["vfio-pci"] * 4


# ---------------------------------------------------------------------------- issue 24
def test_device_plugin_config_is_per_node_and_a_limited_run_keeps_the_other_nodes(
        lab, request_log, env, tmp_path, cleanup):
    """node01 maps ens1f0 to net_a; node02 maps ens1f0 to net_b and ens1f1 to net_a.  Merged into one
    configuration, net_a would take node02's ens1f0 VFs (first matching resource wins) and net_b none."""
    configmap = "sriovdp-" + uuid.uuid4().hex[:6]
    cleanup.append(configmap)
    roots = {}
    for node in ("node01", "node02"):
        roots[node] = tmp_path / node
        build_host(str(roots[node]), tools=True)
    maps = {
        "node01": [{"name": "ens1f0", "num_vfs": 2, "resource_name": "net_a"}],
        "node02": [{"name": "ens1f0", "num_vfs": 2, "resource_name": "net_b"},
                   {"name": "ens1f1", "num_vfs": 2, "resource_name": "net_a"}],
    }
    inventory = tmp_path / "inventory.yml"

    def write_inventory():
        inventory.write_text(json.dumps({"all": {"hosts": {
            node: {"sriov_host_root": str(roots[node]), "sriov_host_pfs": maps[node]} for node in maps}}}))

    write_inventory()
    common = dict(cluster_vars(configmap, "default", "none"), sriov_host_networks=[])
    play = [{"name": "sriov_host", "hosts": "all", "gather_facts": False,
             "roles": [{"role": "kubevirt_net.core.sriov_host", "vars": common}]}]

    run_playbook(env, tmp_path, play, inventory=str(inventory))
    data = lab.request("GET", "/api/v1/namespaces/kube-system/configmaps/" + configmap)["data"]
    assert set(data) == {"node01", "node02"}

    def resources(text):
        return {r["resourceName"]: r["selectors"][0]["pfNames"] for r in json.loads(text)["resourceList"]}

    assert resources(data["node01"]) == {"net_a": ["ens1f0"]}
    assert resources(data["node02"]) == {"net_a": ["ens1f1"], "net_b": ["ens1f0"]}

    # --limit node01 with a new map for node01: only node01's key changes, node02's is kept as it was
    maps["node01"] = [{"name": "ens1f0", "num_vfs": 2, "resource_name": "net-c"}]
    write_inventory()
    request_log.mark()
    run_playbook(env, tmp_path, play, inventory=str(inventory), limit="node01")
    after = lab.request("GET", "/api/v1/namespaces/kube-system/configmaps/" + configmap)["data"]
    assert resources(after["node01"]) == {"net-c": ["ens1f0"]}
    assert after["node02"] == data["node02"]
    writes = [e for e in request_log.writes() if "/configmaps" in e["path"]]
    assert [e["method"] for e in writes] == ["PATCH"], writes


def test_a_vf_count_change_drains_the_node_first_and_uncordons_it(
        lab, namespace, request_log, env, tmp_path, cleanup):
    root = tmp_path / "host"
    build_host(str(root), tools=True)
    configmap = "sriovdp-" + uuid.uuid4().hex[:6]
    cleanup.append(configmap)
    variables = cluster_vars(configmap, namespace, "none", sriov_host_networks=[])
    pfs = [{"name": "ens1f0", "num_vfs": 2, "resource_name": "intelnics"}]
    run_playbook(env, tmp_path, role_play(root, pfs, **variables))
    launcher = "virt-launcher-vm1-" + uuid.uuid4().hex[:5]
    # a controller owns it (a VMI owns a real launcher; any existing owner keeps the garbage collector and
    # k8s_drain's "unmanaged pod" rule out of this test)
    owner = lab.request("POST", "/api/v1/namespaces/%s/configmaps" % namespace, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner-" + launcher}})
    lab.request("POST", "/api/v1/namespaces/%s/pods" % namespace, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": launcher, "labels": {"kubevirt.io": "virt-launcher"},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                          "uid": owner["metadata"]["uid"], "controller": True}]},
        # no kubelet confirms a graceful deletion of this stand-in: its grace period is 0
        "spec": {"nodeName": "node01", "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "compute", "image": "quay.io/kubevirt/virt-launcher"}]}})

    # the same count: nothing is destroyed, no drain
    request_log.mark()
    same = run_playbook(env, tmp_path, role_play(root, pfs, **variables))
    assert same.changed == 0 and request_log.writes() == []

    # 2 -> 4 goes through 0: cordon, evict the virt-launcher pod, apply, uncordon, in that order
    request_log.mark()
    more = [dict(pfs[0], num_vfs=4)]
    result = run_playbook(env, tmp_path, role_play(root, more, **variables))
    writes = [(e["method"], e["path"]) for e in request_log.writes()]
    node = "/api/v1/nodes/node01"
    eviction = ("POST", "/api/v1/namespaces/%s/pods/%s/eviction" % (namespace, launcher))
    assert eviction in writes, writes
    patches = [i for i, w in enumerate(writes) if w == ("PATCH", node)]
    assert len(patches) == 2 and patches[0] < writes.index(eviction) < patches[1]
    assert not lab.request("GET", node)["spec"].get("unschedulable")
    assert result.task(VF_TASK)["results"][0]["changed_steps"][0].startswith("sriov_numvfs 2 -> 0")
    kernel = Kernel(str(root))
    assert [kernel.driver_of("0000:3b:02.%d" % i) for i in range(4)] == ["vfio-pci"] * 4

    # check mode with a teardown: planned, nothing drained, nothing written
    request_log.mark()
    run_playbook(env, tmp_path, role_play(root, pfs, **variables), check=True)
    assert request_log.writes() == []
