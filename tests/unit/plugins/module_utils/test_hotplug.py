import copy

import jsonpatch
import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import hotplug
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


def vm(ifaces=None, networks=None):
    ifaces = [{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}}] if ifaces is None else ifaces
    networks = [{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": "br1"}}] \
        if networks is None else networks
    return {"metadata": {"name": "vm1", "namespace": "vms", "resourceVersion": "42"},
            "spec": {"runStrategy": "Always", "template": {"spec": {
                "domain": {"devices": {"interfaces": ifaces}}, "networks": networks}}}}


def plan(requests, machine=None, running=True):
    problems = Problems()
    machine = machine or vm()
    result = hotplug.plan_vm(problems, machine, requests, running)
    return problems.items, result, machine


def apply(machine, ops):
    return jsonpatch.apply_patch(copy.deepcopy(machine), ops)


def spec_lists(machine):
    spec = machine["spec"]["template"]["spec"]
    return spec["domain"]["devices"]["interfaces"], spec["networks"]


def test_plug_adds_interface_and_network_in_one_patch_with_tests_first():
    problems, result, machine = plan([{"interface": "net2", "network": "other/br2", "binding": "sriov",
                                       "mac_address": "02:00:00:00:00:09"}])
    assert problems == [] and result.changes == [("net2", "plug", "sriov on other/br2")]
    assert [op["op"] for op in result.ops] == ["test", "test", "add", "add"]
    ifaces, networks = spec_lists(apply(machine, result.ops))
    assert ifaces[-1] == {"name": "net2", "sriov": {}, "macAddress": "02:00:00:00:00:09"}
    assert networks[-1] == {"name": "net2", "multus": {"networkName": "other/br2"}}


def test_patch_fails_when_someone_else_changed_the_lists():
    _problems, result, machine = plan([{"interface": "net2", "network": "br2"}])
    other = copy.deepcopy(machine)
    spec_lists(other)[0].append({"name": "theirs", "bridge": {}})
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        apply(other, result.ops)


def test_present_and_same_is_unchanged_without_ops():
    problems, result, _machine = plan([{"interface": "net1", "network": "vms/br1"}])
    assert problems == [] and not result.changed and result.ops == []


def test_unplug_running_sets_state_absent_stopped_removes_both():
    _p, result, machine = plan([{"interface": "net1", "state": "absent"}], running=True)
    ifaces, networks = spec_lists(apply(machine, result.ops))
    assert ifaces[1] == {"name": "net1", "bridge": {}, "state": "absent"} and len(networks) == 2
    _p, result, machine = plan([{"interface": "net1", "state": "absent"}], running=False)
    ifaces, networks = spec_lists(apply(machine, result.ops))
    assert [i["name"] for i in ifaces] == ["default"] and [n["name"] for n in networks] == ["default"]
    assert result.changes == [("net1", "remove", "removed from the stopped VM")]


def test_unplug_of_absent_interface_is_unchanged():
    problems, result, _machine = plan([{"interface": "nope", "state": "absent"}])
    assert problems == [] and not result.changed


def test_network_swap_changes_only_network_name():
    _p, result, machine = plan([{"interface": "net1", "network": "br9"}])
    assert result.changes == [("net1", "swap", "br1 -> br9")]
    _ifaces, networks = spec_lists(apply(machine, result.ops))
    assert networks[1] == {"name": "net1", "multus": {"networkName": "br9"}}


@pytest.mark.parametrize("request_,words", [
    ({"interface": "default", "state": "absent"}, "primary network"),
    ({"interface": "default", "network": "br1"}, "primary network"),
    ({"interface": "net1", "network": "br1", "binding": "sriov"}, "changing a binding is not live-updatable"),
    ({"interface": "net1", "network": "br1", "model": "e1000"}, "model virtio -> e1000"),
])
def test_impossible_requests_are_refused(request_, words):
    problems, result, _machine = plan([request_])
    assert problems and words in problems[0]["message"] and result.ops == []


def test_unplug_of_masquerade_on_secondary_is_refused():
    machine = vm(ifaces=[{"name": "default", "masquerade": {}}, {"name": "m", "sriov": {}}],
                 networks=[{"name": "default", "pod": {}}, {"name": "m", "multus": {"networkName": "x"}}])
    problems, _r, _m = plan([{"interface": "m", "state": "absent"}], machine)
    assert "only bridge" in problems[0]["message"]


def test_vm_without_declared_interfaces_is_refused():
    problems, _r, _m = plan([{"interface": "net2", "network": "br2"}], vm(ifaces=[], networks=[]))
    assert problems and "implicitly" in problems[0]["message"]


def test_several_interfaces_in_one_patch():
    _p, result, machine = plan([{"interface": "a", "network": "br-a"}, {"interface": "b", "network": "br-b"},
                                {"interface": "net1", "state": "absent"}])
    ifaces, networks = spec_lists(apply(machine, result.ops))
    assert [i["name"] for i in ifaces] == ["default", "net1", "a", "b"] and ifaces[1]["state"] == "absent"
    assert [n["name"] for n in networks] == ["default", "net1", "a", "b"]


@pytest.mark.parametrize("req,field", [
    ({"interface": "Net_1", "network": "br"}, "interface"),
    ({"interface": "n"}, "network"),
    ({"interface": "n", "network": "a/b/c"}, "network"),
    ({"interface": "n", "network": "br", "binding": "masquerade"}, "binding"),
    ({"interface": "n", "network": "br", "model": "virtio-net"}, "model"),
    ({"interface": "n", "network": "br", "mac_address": "02:00:00:00:00"}, "mac_address"),
    ({"interface": "n", "network": "br", "pci_address": "81:00.1"}, "pci_address"),
])
def test_check_request_names_the_field(req, field):
    problems = Problems()
    hotplug.check_request(problems, "VirtualMachine vms/vm1", req)
    assert [p["field"] for p in problems.items] == [field]


def test_completion_signals():
    vmi = {"status": {"interfaces": [{"name": "net2", "infoSource": "multus-status"}]}}
    assert not hotplug.plug_done(vmi, "net2")
    vmi["status"]["interfaces"][0]["infoSource"] = "domain, guest-agent, multus-status"
    assert hotplug.plug_done(vmi, "net2")
    vmi["status"]["conditions"] = [{"type": "MigrationRequired", "status": "True"}]
    assert not hotplug.plug_done(vmi, "net2")
    machine = vm()
    assert not hotplug.unplug_done(machine, {}, "net1")
    assert hotplug.unplug_done(machine, {"spec": {}, "status": {}}, "gone")
