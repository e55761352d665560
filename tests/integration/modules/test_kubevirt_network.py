"""kubevirt_network against the lab, judged by the proxy's request log."""

import json
import os

import jsonschema
import yaml

from lab.crds import SCHEMA_DIR
from tests.integration.helpers import play

NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions"

ALL_TYPES = [
    {"name": "br", "type": "bridge", "bridge": "br1", "vlan": 10, "mtu": 1500,
     "ipam": {"type": "host-local", "subnet": "10.10.0.0/24", "range_start": "10.10.0.10",
              "range_end": "10.10.0.99", "gateway": "10.10.0.1",
              "ranges": [{"subnet": "fd10::/64"}]}},
    {"name": "ovs", "type": "ovs", "bridge": "ovsbr", "vlan": 20, "trunk": [{"id": 21}, {"min_id": 30, "max_id": 39}],
     "ipam": {"type": "whereabouts", "subnet": "10.20.0.0/24", "gateway": "10.20.0.1", "exclude": ["10.20.0.0/28"]}},
    {"name": "mv", "type": "macvlan", "master": "ens3", "mode": "bridge", "ipam": {"type": "dhcp"}},
    {"name": "sr", "type": "sriov", "resource_name": "openshift.io/intelnics", "vlan": 30, "spoof_check": True},
    {"name": "l2", "type": "ovn_layer2", "subnets": ["10.40.0.0/24"], "exclude_subnets": ["10.40.0.0/29"]},
    {"name": "ln", "type": "ovn_localnet", "physical_network_name": "physnet", "vlan": 50},
    {"name": "raw", "type": "cni_config", "cni_config": {"cniVersion": "1.0.0", "plugins": [
        {"type": "bridge", "bridge": "br9"}, {"type": "tuning"}]}},
]


def task(title, options=None, **more):
    return {"name": title, "kubevirt_net.core.kubevirt_network": dict(options or {}, **more), "register": "r"}


def nads(lab, namespace):
    return {o["metadata"]["name"]: o for o in lab.request("GET", NAD_PATH % namespace)["items"]}


def test_all_types_create_rerun_check_mode_update_delete(lab, namespace, run_playbook, request_log):
    create = play([task("all", namespace=namespace, networks=ALL_TYPES)])
    first = run_playbook(create)
    res = first.tasks["all"]
    assert res["changed"] and [n["method"] for n in res["networks"]] == ["created"] * 7
    assert res["api_requests"]["writes"] == 7
    stored = nads(lab, namespace)
    assert set(stored) == {n["name"] for n in ALL_TYPES}
    assert stored["sr"]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"] == "openshift.io/intelnics"
    assert json.loads(stored["l2"]["spec"]["config"])["netAttachDefName"] == "%s/l2" % namespace
    assert stored["br"]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubevirt_net.core"

    # second identical run: unchanged, and not a single write reached the server
    request_log.mark()
    second = run_playbook(create)
    assert not second.tasks["all"]["changed"]
    assert {n["method"] for n in second.tasks["all"]["networks"]} == {"unchanged"}
    assert request_log.writes(include_dry_run=True) == []
    assert [e["method"] for e in request_log.entries()] == ["GET"]  # one LIST for the namespace

    # check mode + diff of an update: reported, not written
    changed = [dict(n) for n in ALL_TYPES]
    changed[0] = dict(changed[0], vlan=11)
    update = play([task("all", namespace=namespace, networks=changed)])
    request_log.mark()
    checked = run_playbook(update, check=True, diff=True)
    res = checked.tasks["all"]
    assert res["changed"] and [n["method"] for n in res["networks"]][0] == "updated"
    assert res["diff"]["before"]["config"]["vlan"] == 10 and res["diff"]["after"]["config"]["vlan"] == 11
    assert request_log.writes(include_dry_run=True) == []
    assert json.loads(nads(lab, namespace)["br"]["spec"]["config"])["vlan"] == 10

    # the real update: one PATCH
    request_log.mark()
    res = run_playbook(update).tasks["all"]
    assert [n["method"] for n in res["networks"]] == ["updated"] + ["unchanged"] * 6
    assert [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in request_log.writes()] == [("PATCH", "br")]
    assert json.loads(nads(lab, namespace)["br"]["spec"]["config"])["vlan"] == 11

    res = run_playbook(play([task("gone", namespace=namespace, name="mv", state="absent")])).tasks["gone"]
    assert res["changed"] and res["networks"][0]["method"] == "deleted"
    assert "mv" not in nads(lab, namespace)


def test_rendered_validates_against_the_nad_crd_without_cluster(run_playbook, request_log):
    with open(os.path.join(SCHEMA_DIR, "k8s.cni.cncf.io_networkattachmentdefinitions.yaml"), encoding="utf-8") as fh:
        crd = yaml.safe_load_all(fh)
        schema = [d for d in crd if d][0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    res = run_playbook(play([task("r", namespace="anywhere", networks=ALL_TYPES, state="rendered")])).tasks["r"]
    assert not res["changed"] and len(res["networks"]) == 7
    for entry in res["networks"]:
        jsonschema.validate(entry["resource"], schema)
        assert json.loads(entry["resource"]["spec"]["config"]) == entry["config"]
    assert request_log.entries() == []


def test_overridden_prunes_only_managed_networks(lab, namespace, run_playbook):
    lab.request("POST", NAD_PATH % namespace, {
        "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "handmade"}, "spec": {"config": '{"cniVersion":"0.3.1","type":"bridge","bridge":"x"}'}})
    run_playbook(play([task("two", namespace=namespace, networks=ALL_TYPES[:2])]))
    res = run_playbook(play([task("over", namespace=namespace, state="overridden",
                                  networks=[ALL_TYPES[1], ALL_TYPES[2]])])).tasks["over"]
    methods = {n["name"]: n["method"] for n in res["networks"]}
    assert methods == {"ovs": "unchanged", "mv": "created", "br": "deleted"}
    assert set(nads(lab, namespace)) == {"ovs", "mv", "handmade"}


def test_delete_protection_lists_the_vm_and_force_deletes(lab, namespace, run_playbook, request_log):
    run_playbook(play([task("net", ALL_TYPES[0], namespace=namespace)]))
    lab.request("POST", "/apis/kubevirt.io/v1/namespaces/%s/virtualmachines" % namespace, {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "user-vm"},
        "spec": {"runStrategy": "Halted", "template": {"spec": {
            "domain": {"devices": {"interfaces": [{"name": "n", "bridge": {}}]}, "resources": {"requests": {"memory": "64Mi"}}},
            "networks": [{"name": "n", "multus": {"networkName": "br"}}]}}}})
    request_log.mark()
    refused = run_playbook(play([task("rm", namespace=namespace, name="br", state="absent")]), expect_rc=2)
    res = refused.tasks["rm"]
    assert res["failed"] and "VirtualMachine %s/user-vm" % namespace in res["msg"] and "force=true" in res["msg"]
    assert request_log.writes() == []
    assert "br" in nads(lab, namespace)
    forced = run_playbook(play([task("rm", namespace=namespace, name="br", state="absent", force=True)]))
    assert forced.tasks["rm"]["networks"][0]["method"] == "deleted"


BAD = [
    ({"type": "bridge"}, "bridge"),
    ({"type": "bridge", "bridge": "b", "vlan": 5000}, "vlan"),
    ({"type": "bridge", "bridge": "b", "mtu": 100}, "mtu"),
    ({"type": "bridge", "bridge": "b", "ipam": {"type": "host-local", "subnet": "10.0.0.0/33"}}, "ipam.subnet"),
    ({"type": "bridge", "bridge": "b", "ipam": {"type": "host-local", "subnet": "10.0.0.7/24"}}, "ipam.subnet"),
    ({"type": "bridge", "bridge": "b", "ipam": {"type": "host-local", "subnet": "10.0.0.0/24",
                                                "range_start": "10.0.1.5"}}, "ipam.range_start"),
    ({"type": "bridge", "bridge": "b", "ipam": {"type": "host-local", "subnet": "10.0.0.0/24",
                                                "range_start": "10.0.0.50", "range_end": "10.0.0.5"}},
     "ipam.range_start"),
    ({"type": "bridge", "bridge": "b", "ipam": {"type": "host-local", "subnet": "10.0.0.0/24",
                                                "gateway": "10.9.9.9"}}, "ipam.gateway"),
    ({"type": "bridge", "bridge": "b", "ipam": {"type": "whereabouts", "subnet": "10.0.0.0/24",
                                                "gateway": "10.0.0.1"}}, "ipam.gateway"),
    ({"type": "bridge", "bridge": "b", "ipam": {"type": "whereabouts", "subnet": "10.0.0.0/24",
                                                "exclude": ["11.0.0.0/24"]}}, "ipam.exclude[0]"),
    ({"type": "bridge", "bridge": "b", "ipam": {"type": "static", "addresses": [{"address": "10.0.0.x/24"}]}},
     "ipam.addresses[0].address"),
    ({"type": "sriov", "resource_name": "nics"}, "resource_name"),
    ({"type": "sriov", "resource_name": "a.io/nics", "vlan_qos": 9}, "vlan_qos"),
    ({"type": "macvlan"}, "master"),
    ({"type": "macvlan", "master": "eth0", "bridge": "b"}, "bridge"),
    ({"type": "ovs", "bridge": "b", "trunk": [{"min_id": 9, "max_id": 3}]}, "trunk[0]"),
    ({"type": "ovn_layer2", "subnets": ["10.0.0.0/24"], "exclude_subnets": ["12.0.0.0/24"]}, "exclude_subnets[0]"),
    ({"type": "ovn_localnet"}, "physical_network_name"),
    ({"type": "cni_config", "cni_config": {"type": "bridge"}}, "cni_config.cniVersion"),
    ({"type": "bridge", "bridge": "b", "name": "Not_A_Name"}, "name"),
]


def test_twenty_bad_inputs_fail_before_any_request(namespace, run_playbook, request_log):
    tasks = []
    for index, (options, _field) in enumerate(BAD):
        options = dict(options)
        options.setdefault("name", "bad%d" % index)
        tasks.append(dict(task("bad%d" % index, options, namespace=namespace), ignore_errors=True))
    result = run_playbook(play(tasks))
    assert len(BAD) == 20
    for index, (_options, field) in enumerate(BAD):
        res = result.tasks["bad%d" % index]
        assert res.get("failed"), (index, res)
        assert ": %s: " % field in res["msg"], (index, field, res["msg"])
        assert res["api_requests"] == {"total": 0, "writes": 0, "retries": 0}
    assert request_log.entries() == []


def test_overlap_with_an_existing_network_is_refused(lab, namespace, run_playbook, request_log):
    first = dict(ALL_TYPES[0], name="first")
    run_playbook(play([task("a", first, namespace=namespace)]))
    clash = dict(first, name="second",
                 ipam={"type": "host-local", "subnet": "10.10.0.0/24", "range_start": "10.10.0.90"})
    request_log.mark()
    res = run_playbook(play([task("b", clash, namespace=namespace)]), expect_rc=2).tasks["b"]
    assert "%s/first" % namespace in res["msg"] and "10.10.0.90-10.10.0.99" in res["msg"]
    assert request_log.writes() == []


def test_overlap_in_another_namespace_warns_and_overlap_scope_cluster_refuses(lab, namespace, run_playbook,
                                                                              request_log):
    # a Linux bridge is node-wide: br-shared in two namespaces is one layer-2 segment
    other = namespace + "-b"
    lab.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    try:
        shared = {"name": "theirs", "type": "bridge", "bridge": "br-shared",
                  "ipam": {"type": "host-local", "subnet": "10.77.0.0/24"}}
        run_playbook(play([task("theirs", shared, namespace=other)]))
        mine = dict(shared, name="mine")
        request_log.mark()
        refused = run_playbook(play([task("strict", mine, namespace=namespace, overlap_scope="cluster")]),
                               expect_rc=2).tasks["strict"]
        assert "%s/theirs" % other in refused["msg"] and "br-shared" in refused["msg"]
        assert request_log.writes() == []
        lists = [e["path"] for e in request_log.entries() if e["method"] == "GET"]
        assert lists == ["/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"], lists
        warned = run_playbook(play([task("default", mine, namespace=namespace)])).tasks["default"]
        assert warned["changed"] and any("%s/theirs" % other in w for w in warned["warnings"])
        assert "mine" in nads(lab, namespace)
    finally:
        lab.request("DELETE", "/api/v1/namespaces/" + other)


def test_503_is_retried_and_409_reads_again(lab, namespace, run_playbook, request_log):
    net = dict(ALL_TYPES[2], name="flaky")
    lab.add_fault(method="POST", path="/network-attachment-definitions$", action="status", code=503, count=1)
    res = run_playbook(play([task("c", net, namespace=namespace)])).tasks["c"]
    assert res["networks"][0]["method"] == "created" and res["api_requests"]["retries"] == 1
    statuses = [e["status"] for e in request_log.entries() if e["method"] == "POST"]
    assert statuses == [503, 201]

    lab.add_fault(method="PATCH", path="/network-attachment-definitions/flaky$", action="conflict", count=1)
    request_log.mark()
    res = run_playbook(play([task("u", dict(net, mtu=1400), namespace=namespace)])).tasks["u"]
    assert res["networks"][0]["method"] == "updated"
    calls = [(e["method"], e["status"]) for e in request_log.entries() if e["path"].endswith("/flaky")]
    assert calls == [("PATCH", 409), ("GET", 200), ("PATCH", 200)]
    assert json.loads(nads(lab, namespace)["flaky"]["spec"]["config"])["mtu"] == 1400


def test_faults_that_do_not_clear_fail_cleanly_with_nothing_half_applied(lab, namespace, run_playbook):
    lab.add_fault(method="POST", path="/network-attachment-definitions$", action="status", code=500, count=-1)
    res = run_playbook(play([task("x", namespace=namespace, networks=ALL_TYPES[:3], api_retries=2)]),
                       expect_rc=2).tasks["x"]
    assert res["failed"] and "3 of 3 networks failed" in res["msg"] and "InternalError" in res["msg"]
    lab.clear_faults()
    assert nads(lab, namespace) == {}


def test_max_concurrency_caps_the_writes_in_flight(lab, namespace, run_playbook, request_log):
    """Each NAD create is held 0.5 s by the proxy: with max_concurrency=1 the creates arrive one after
    another; with 4 they arrive together.  A bad cap fails before any request."""
    four = [{"name": "cap-%d" % i, "type": "bridge", "bridge": "brcap%d" % i} for i in range(4)]
    bad = run_playbook(play([dict(task("bad", namespace=namespace, networks=four, max_concurrency=0),
                                  ignore_errors=True)])).tasks["bad"]
    assert bad["failed"] and "max_concurrency: 0 is out of range" in bad["msg"]
    assert request_log.entries() == []
    lab.add_fault(method="POST", path="network-attachment-definitions", action="latency", seconds=0.5, count=-1)

    def arrivals(cap, networks):
        request_log.mark()
        res = run_playbook(play([task("nets", namespace=namespace, networks=networks,
                                      max_concurrency=cap)])).tasks["nets"]
        assert res["changed"] and [n["method"] for n in res["networks"]] == ["created"] * 4
        times = sorted(e["time"] for e in request_log.writes())
        assert len(times) == 4
        return times

    one = arrivals(1, four)
    assert min(b - a for a, b in zip(one, one[1:])) >= 0.45, one
    together = arrivals(4, [dict(n, name=n["name"] + "-b") for n in four])
    assert together[-1] - together[0] < 0.45, together
    lab.clear_faults()
    request_log.mark()
    again = run_playbook(play([task("again", namespace=namespace, networks=four, max_concurrency=4)])).tasks["again"]
    assert not again["changed"] and request_log.writes() == []
