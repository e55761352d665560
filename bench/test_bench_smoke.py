"""The benchmark scenarios at tiny sizes against the session's lab (the root
conftest.py's ``lab`` fixture; bench/ depends on lab/ only, never on tests/): request and
write counts only (the collection's no-op re-run writes nothing, its first
run writes exactly what is missing), never times.  Each scenario's own plays
are reused, so a broken benchmark fails here before anyone runs it big."""

import contextlib
import uuid

import pytest

from bench import clones, hotplug, multi_network_policies, network_policies, networks, single_object
from bench.common import run_playbook as bench_run, wait_running


def _namespace(lab, prefix):
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    lab.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": name, "labels": {"kubevirt-net.test": "bench"}}})
    return name


@pytest.fixture
def two_namespaces(lab):
    names = [_namespace(lab, "bench-ours"), _namespace(lab, "bench-alt")]
    yield names
    for name in names:
        try:
            lab.request("DELETE", "/api/v1/namespaces/" + name)
        except Exception:  # pylint: disable=broad-except
            pass


def test_networks(lab, two_namespaces):
    ours_ns, alt_ns = two_namespaces
    nets = networks.networks(5)
    first = bench_run(lab, networks.ours(ours_ns, nets), "ours")
    loop = bench_run(lab, networks.k8s_loop(alt_ns, nets), "loop")
    again = bench_run(lab, networks.ours(ours_ns, nets), "ours again")
    assert first["writes"] == 5 and loop["writes"] == 5
    assert again["writes"] == 0 and again["requests"] == 1  # one LIST


def test_single_object(lab, two_namespaces):
    rows, pairs = single_object.run(lab, *two_namespaces)
    create, k8s_create, rerun, _k8s_rerun = rows
    assert create["writes"] == 1 and k8s_create["writes"] == 1
    assert rerun["writes"] == 0
    assert len(pairs) == 2


def test_clones(lab, two_namespaces):
    rows, _pairs = clones.run(lab, 2, *two_namespaces)
    made, loop, rerun, _loop_rerun = rows
    # ours: one VirtualMachineClone per target (and nothing else on the way)
    assert made["writes"] >= 2 and loop["writes"] >= 2
    assert rerun["writes"] == 0
    vms = lab.request("GET", clones.VM_PATH % two_namespaces[0])["items"]
    assert {v["metadata"]["name"] for v in vms} == {"golden", "ours-000", "ours-001"}


def test_hotplug(lab, two_namespaces):
    namespace = two_namespaces[0]
    lab.request("POST", "/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions" % namespace, {
        "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": {"name": "br-bench"},
        "spec": {"config": '{"cniVersion":"0.3.1","name":"br-bench","type":"bridge","bridge":"brb"}'}})
    saved = lab.get_config()["dynamic_networks"]
    lab.set_config(dynamic_networks=True)
    try:
        # (not hotplug.make_vms: it waits on a VMI label selector the lab's VMIs do not carry)
        for name, group in (("ours-000", "ours"), ("ours-001", "ours"), ("loop-000", "loop")):
            lab.request("POST", hotplug.VM_PATH % namespace, hotplug.vm(name, group))
        for name in ("ours-000", "ours-001", "loop-000"):
            wait_running(lab, namespace, name, timeout=120)
        plugged = bench_run(lab, hotplug.ours(namespace), "ours")
        looped = bench_run(lab, hotplug.loop(namespace, ["loop-000"]), "loop")
        again = bench_run(lab, hotplug.ours(namespace), "ours again")
    finally:
        lab.set_config(dynamic_networks=saved)
    assert plugged["writes"] >= 2 and looped["writes"] >= 1  # one PATCH per VM (plus what KubeVirt needs)
    assert again["writes"] == 0


@contextlib.contextmanager
def tagged_namespaces(lab, scenario, prefix, counts):
    """(ours, loop): namespaces made by ``scenario.make_namespaces``, labelled with a fresh tag; deleted after."""
    tag = uuid.uuid4().hex[:8]
    ours = scenario.make_namespaces(lab, "%s-o-%s" % (prefix, tag), counts[0], {"bench-smoke": tag})
    loop = scenario.make_namespaces(lab, "%s-l-%s" % (prefix, tag), counts[1], {"bench-smoke-loop": tag})
    try:
        yield ours, loop, {"bench-smoke": tag}
    finally:
        for name in ours + loop:
            try:
                lab.request("DELETE", "/api/v1/namespaces/" + name)
            except Exception:  # pylint: disable=broad-except
                pass


def converge_both(lab, scenario, selector, loop):
    """The role, the loop, the role again: their request rows."""
    return (bench_run(lab, scenario.role_play(selector), "role"), bench_run(lab, scenario.k8s_loop(loop), "loop"),
            bench_run(lab, scenario.role_play(selector), "role again"))


def test_network_policies(lab):
    with tagged_namespaces(lab, network_policies, "smoke", (3, 2)) as (ours, loop, selector):
        per_ns = len(network_policies.SPECS)
        first, looped, again = converge_both(lab, network_policies, selector, loop)
        # the lab's API server (1.34) sets kubernetes.io/metadata.name itself: no namespace is labelled
        assert first["writes"] == 3 * per_ns
        assert looped["writes"] >= 2 * per_ns
        assert again["writes"] == 0
        stored = [p for p in lab.request("GET", "/apis/networking.k8s.io/v1/networkpolicies")["items"]
                  if p["metadata"]["namespace"] in ours]
        assert len(stored) == 3 * per_ns


def test_multi_network_policies(lab):
    mnp = multi_network_policies
    with tagged_namespaces(lab, mnp, "smoke-m", (2, 1)) as (ours, loop, selector):
        per_ns = len(mnp.SPECS)
        first, looped, again = converge_both(lab, mnp, selector, loop)
        assert first["writes"] == 2 * per_ns
        assert looped["writes"] >= per_ns
        assert again["writes"] == 0
        # the comparison is fair only if the loop writes what the role writes
        role_objects = mnp.stored(lab, ours)
        loop_objects = mnp.stored(lab, loop)
        assert len(role_objects) == 2 * per_ns and len(loop_objects) == per_ns
        for namespace in ours:
            assert {name: value for (ns, name), value in role_objects.items() if ns == namespace} == \
                {name: value for (_ns, name), value in loop_objects.items()}


def test_run_all_finds_the_scenarios():
    from bench import run_all  # pylint: disable=import-outside-toplevel
    found = run_all.scenarios()
    assert {"networks", "hotplug", "network_policies", "multi_network_policies", "clones", "single_object"} <= set(found)
    assert run_all.scale_args("clones", "small") == ["--count", "3"]
