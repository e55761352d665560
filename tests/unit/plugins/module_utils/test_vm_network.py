import copy
import os

import jsonpatch
import jsonschema
import pytest
import yaml

from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network as vmn
from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network_checks, vm_network_live
from ansible_collections.kubevirt_net.core.plugins.module_utils import vm_network_admission as admission
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "lab", "schemas",
                      "kubevirt-v1.9.0-crd-virtualmachine.openapiv3.yaml")


def kubevirt(version="v1.9.0", gates=(), disabled=(), network=None):
    return KubeVirtInfo({"metadata": {"name": "kubevirt", "namespace": "kubevirt"},
                         "spec": {"configuration": {"developerConfiguration": {
                             "featureGates": list(gates), "disabledFeatureGates": list(disabled)},
                             "network": network or {}}},
                         "status": {"observedKubeVirtVersion": version}})


def machine(ifaces=None, networks=None, **spec_fields):
    ifaces = [{"name": "default", "masquerade": {}, "ports": [{"port": 22}]},
              {"name": "net1", "bridge": {}, "tag": "keep-me"}] if ifaces is None else ifaces
    networks = [{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": "br1"}}] \
        if networks is None else networks
    spec = {"domain": {"devices": {"interfaces": ifaces}}, "networks": networks}
    spec.update(spec_fields)
    return {"metadata": {"name": "vm1", "namespace": "vms", "generation": 3, "resourceVersion": "7"},
            "spec": {"runStrategy": "Always", "template": {"spec": spec}}}


def desired(config, state, vm=None):
    return vmn.desired(vmn.template_of(vm or machine()), config, state)


def names(want):
    return [i["name"] for i in want.ifaces], [n["name"] for n in want.networks]


# ------------------------------------------------------------ translation
FULL = {"interfaces": [
    {"name": "default", "network": "pod", "binding": "masquerade",
     "ports": [{"name": "ssh", "port": 22}, {"port": 53, "protocol": "UDP"}]},
    {"name": "net1", "network": "other/br1", "binding": "bridge", "model": "e1000e", "mac_address": "02:00:00:00:00:09",
     "pci_address": "0000:81:00.1", "boot_order": 2, "acpi_index": 3, "link_state": "down", "tag": "t1",
     "dhcp_options": {"boot_file_name": "pxe", "tftp_server_name": "tftp", "ntp_servers": ["10.0.0.1"],
                      "private_options": [{"option": 240, "value": "x"}]}},
    {"name": "fast", "network": "sriov-a", "binding": "sriov"},
    {"name": "pl", "network": "mv", "binding": "plugin:macvtap"},
],
    "hostname": "web", "subdomain": "vms", "dns_policy": "None",
    "dns_config": {"nameservers": ["10.0.0.10"], "searches": ["vms.svc.cluster.local"],
                   "options": [{"name": "ndots", "value": "2"}]},
    "vm_network_cidr": "10.0.3.0/24"}


def test_overridden_translates_every_option_and_gathered_reads_it_back():
    want = desired(FULL, vmn.OVERRIDDEN)
    spec = vmn.apply_desired({}, want)
    ifaces = spec["domain"]["devices"]["interfaces"]
    assert ifaces[0] == {"name": "default", "masquerade": {},
                         "ports": [{"name": "ssh", "port": 22}, {"protocol": "UDP", "port": 53}]}
    assert ifaces[1] == {"name": "net1", "bridge": {}, "model": "e1000e", "macAddress": "02:00:00:00:00:09",
                         "pciAddress": "0000:81:00.1", "bootOrder": 2, "acpiIndex": 3, "tag": "t1", "state": "down",
                         "dhcpOptions": {"bootFileName": "pxe", "tftpServerName": "tftp", "ntpServers": ["10.0.0.1"],
                                         "privateOptions": [{"option": 240, "value": "x"}]}}
    assert ifaces[2] == {"name": "fast", "sriov": {}} and ifaces[3] == {"name": "pl", "binding": {"name": "macvtap"}}
    assert spec["networks"][0] == {"name": "default", "pod": {"vmNetworkCIDR": "10.0.3.0/24"}}
    assert spec["networks"][1] == {"name": "net1", "multus": {"networkName": "other/br1"}}
    assert spec["dnsConfig"]["options"] == [{"name": "ndots", "value": "2"}] and spec["dnsPolicy"] == "None"
    assert "dnsConfig" not in spec["domain"]
    typed = vmn.typed_config(spec)
    for wanted, got in zip(FULL["interfaces"], typed["interfaces"]):
        assert dict((k, v) for k, v in got.items()) == wanted
    assert typed["vm_network_cidr"] == "10.0.3.0/24" and typed["hostname"] == "web"


def test_gathered_then_overridden_is_a_no_op():
    vm = machine(hostname="h1")
    typed = vmn.typed_config(vmn.template_of(vm))
    assert vmn.config_details(vmn.template_of(vm))["interfaces"] == {}
    want = desired(typed, vmn.OVERRIDDEN, vm)
    assert vmn.same(vmn.template_of(vm), want)
    assert vmn.template_patch(vm, want) == []


def test_default_bindings_follow_the_network():
    want = desired({"interfaces": [{"name": "p", "network": "pod"}, {"name": "s", "network": "br"}]}, vmn.OVERRIDDEN)
    assert want.ifaces == [{"name": "p", "masquerade": {}}, {"name": "s", "bridge": {}}]


# ------------------------------------------------------------ states
def test_merged_adds_new_and_changes_only_given_options():
    want = desired({"interfaces": [{"name": "net1", "model": "e1000"},
                                   {"name": "net2", "network": "br2", "mac_address": "02:00:00:00:00:02"}],
                    "hostname": "db"}, vmn.MERGED)
    assert names(want) == (["default", "net1", "net2"], ["default", "net1", "net2"])
    assert want.ifaces[1] == {"name": "net1", "bridge": {}, "tag": "keep-me", "model": "e1000"}
    assert want.ifaces[0]["ports"] == [{"port": 22}]  # untouched interface
    assert want.networks[2] == {"name": "net2", "multus": {"networkName": "br2"}}
    assert want.fields["hostname"] == "db"


def test_merged_network_change_keeps_pod_cidrs_and_multus_default():
    vm = machine(networks=[{"name": "default", "pod": {"vmNetworkCIDR": "10.9.0.0/24"}},
                           {"name": "net1", "multus": {"networkName": "br1"}}])
    want = desired({"interfaces": [{"name": "default", "network": "pod"}, {"name": "net1", "network": "br9"}]},
                   vmn.MERGED, vm)
    assert want.networks[0] == {"name": "default", "pod": {"vmNetworkCIDR": "10.9.0.0/24"}}
    assert want.networks[1] == {"name": "net1", "multus": {"networkName": "br9"}}


def test_replaced_rewrites_listed_interfaces_exactly_and_keeps_the_others():
    want = desired({"interfaces": [{"name": "net1", "network": "br1", "binding": "sriov"}]}, vmn.REPLACED)
    assert want.ifaces[1] == {"name": "net1", "sriov": {}}  # tag dropped: not given
    assert want.ifaces[0]["ports"] == [{"port": 22}]


def test_overridden_removes_unlisted_interfaces_and_dns():
    vm = machine(hostname="old", subdomain="s")
    want = desired({"interfaces": [{"name": "default", "network": "pod"}]}, vmn.OVERRIDDEN, vm)
    assert names(want) == (["default"], ["default"])
    assert want.fields["hostname"] is None and want.fields["subdomain"] is None
    spec = vmn.apply_desired(vmn.template_of(vm), want)
    assert "hostname" not in spec and "subdomain" not in spec


def test_overridden_with_no_interfaces_disables_autoattach():
    want = desired({"interfaces": []}, vmn.OVERRIDDEN)
    spec = vmn.apply_desired(vmn.template_of(machine()), want)
    assert spec["domain"]["devices"]["autoattachPodInterface"] is False and want.notes


def test_deleted_listed_and_deleted_everything_keeps_the_primary():
    vm = machine(hostname="h")
    want = desired({"interfaces": [{"name": "net1"}]}, vmn.DELETED, vm)
    assert names(want) == (["default"], ["default"]) and want.fields["hostname"] == "h"
    want = desired(None, vmn.DELETED, vm)
    assert names(want) == (["default"], ["default"]) and want.fields["hostname"] is None
    want = desired({"hostname": "x"}, vmn.DELETED, vm)
    assert names(want)[0] == ["default", "net1"] and want.fields["hostname"] is None


def test_merged_on_a_vm_without_interfaces_declares_the_implicit_pod_interface():
    vm = machine(ifaces=[], networks=[])
    want = vmn.desired(vmn.template_of(vm), {"interfaces": [{"name": "net1", "network": "br1"}]}, vmn.MERGED,
                       default_interface="masquerade")
    assert want.ifaces[0] == {"name": "default", "masquerade": {}} and want.networks[0]["pod"] == {}
    assert names(want)[0] == ["default", "net1"] and "implicitly" in want.notes[0]


def test_merged_dns_config_merges_keys_replaced_replaces():
    vm = machine(dnsConfig={"nameservers": ["1.1.1.1"], "searches": ["a"]})
    want = desired({"dns_config": {"searches": ["b"]}}, vmn.MERGED, vm)
    assert want.fields["dnsConfig"] == {"nameservers": ["1.1.1.1"], "searches": ["b"]}
    want = desired({"dns_config": {"searches": ["b"]}}, vmn.REPLACED, vm)
    assert want.fields["dnsConfig"] == {"searches": ["b"]}
    want = desired({"hostname": ""}, vmn.MERGED, machine(hostname="h"))
    assert want.fields["hostname"] is None


# ------------------------------------------------------------ input checks
BAD = [
    ({"interfaces": [{"name": "bad name", "network": "pod"}]}, "merged", "name"),
    ({"interfaces": [{"name": "a", "network": "a/b/c"}]}, "merged", "network"),
    ({"interfaces": [{"name": "a", "network": "br", "binding": "slirp"}]}, "merged", "binding"),
    ({"interfaces": [{"name": "a", "network": "br", "mac_address": "02:00:00:00:00"}]}, "merged", "mac_address"),
    ({"interfaces": [{"name": "a", "network": "pod", "mac_address": "02:00:00:00:00:00"}]}, "merged", "mac_address"),
    ({"interfaces": [{"name": "a", "network": "br", "pci_address": "81:00.1"}]}, "merged", "pci_address"),
    ({"interfaces": [{"name": "a", "network": "br", "ports": [{"port": 80}]}]}, "merged", "ports"),
    ({"interfaces": [{"name": "a", "network": "pod", "ports": [{"port": 70000}]}]}, "merged", "ports[0].port"),
    ({"interfaces": [{"name": "a", "network": "pod", "ports": [{"port": 1, "name": "Bad_Name"}]}]}, "merged",
     "ports[0].name"),
    ({"interfaces": [{"name": "a", "network": "sr", "binding": "sriov", "link_state": "down"}]}, "merged",
     "link_state"),
    ({"interfaces": [{"name": "a", "network": "br", "dhcp_options": {"private_options": [
        {"option": 10, "value": "x"}]}}]}, "merged", "dhcp_options.private_options[0].option"),
    ({"interfaces": [{"name": "a", "network": "br", "dhcp_options": {"ntp_servers": ["fe80::1"]}}]}, "merged",
     "dhcp_options.ntp_servers[0]"),
    ({"interfaces": [{"name": "a"}]}, "overridden", "network"),
    ({"interfaces": [{"name": "a", "network": "pod"}, {"name": "b", "network": "pod"}]}, "merged", "network"),
    ({"interfaces": [{"name": "a", "network": "br"}, {"name": "a", "network": "br"}]}, "merged", "name"),
    ({"hostname": "Web_1"}, "merged", "hostname"),
    ({"subdomain": "a.b"}, "merged", "subdomain"),
    ({"dns_policy": "None"}, "merged", "dns_config"),
    ({"dns_config": {"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"]}}, "merged", "dns_config.nameservers"),
    ({"vm_network_cidr": "fd00::/64"}, "merged", "vm_network_cidr"),
    ({"interfaces": [{"name": "a", "network": "br", "boot_order": 0}]}, "merged", "boot_order"),
]


@pytest.mark.parametrize("config,state,field", BAD)
def test_check_config_names_the_field(config, state, field):
    problems = Problems()
    vm_network_checks.check_config(problems, config, state)
    assert field in [p["field"] for p in problems.items], problems.items


def test_dns_search_limits_are_kubernetes_1_28s():
    """32 search domains and 2048 characters (ExpandedDNSConfig, GA in 1.28); 6 and 256 refused valid configs."""
    problems = Problems()
    vm_network_checks.check_config(problems, {"dns_config": {"searches": ["s%d.example" % i for i in range(32)]}}, "merged")
    assert problems.items == []
    vm_network_checks.check_config(problems, {"dns_config": {"searches": ["s%d.example" % i for i in range(33)]}}, "merged")
    assert [p["field"] for p in problems.items] == ["dns_config.searches"] and "at most 32" in problems.render()
    problems = Problems()
    long_names = ["s%d.%s" % (i, ".".join(["x" * 60] * 4)) for i in range(9)]
    vm_network_checks.check_config(problems, {"dns_config": {"searches": long_names}}, "merged")
    assert "2048 characters" in problems.render()


def test_good_config_has_no_problems():
    problems = Problems()
    vm_network_checks.check_config(problems, FULL, vmn.OVERRIDDEN)
    assert problems.items == []


# ------------------------------------------------------------ admission mirror
def spec_with(ifaces, networks, **extra):
    spec = {"domain": {"devices": {"interfaces": ifaces}}, "networks": networks}
    spec.update(extra)
    return spec


POD_NET = {"name": "default", "pod": {}}
ADMISSION = [
    (spec_with([{"name": "a", "masquerade": {}}, {"name": "b", "masquerade": {}}],
               [{"name": "a", "pod": {}}, {"name": "b", "pod": {}}]), kubevirt(), "more than one network"),
    (spec_with([{"name": "a", "masquerade": {}}], [{"name": "a", "multus": {"networkName": "x"}}]), kubevirt(),
     "Masquerade interface only implemented with pod network"),
    (spec_with([{"name": "default", "passtBinding": {}}], [POD_NET]), kubevirt("v1.7.0"), "from KubeVirt 1.8"),
    (spec_with([{"name": "default", "passtBinding": {}}], [POD_NET]), kubevirt("v1.8.0"),
     "PasstBinding feature gate is not enabled"),
    (spec_with([{"name": "default", "passtBinding": {}}], [POD_NET]), kubevirt(disabled=["PasstBinding"]),
     "PasstBinding feature gate is not enabled"),
    (spec_with([{"name": "n", "passtBinding": {}}], [{"name": "n", "multus": {"networkName": "x"}}]), kubevirt(),
     "PasstBinding interface only implemented with pod network"),
    (spec_with([{"name": "default", "bridge": {}}], [POD_NET]),
     kubevirt(network={"permitBridgeInterfaceOnPodNetwork": False}), "Bridge on pod network"),
    (spec_with([{"name": "default", "binding": {"name": "nope"}}], [POD_NET]), kubevirt(), "not registered"),
    (spec_with([{"name": "default", "binding": {"name": "x"}}], [POD_NET]), kubevirt("v1.4.0"),
     "NetworkBindingPlugins"),
    (spec_with([{"name": "a", "bridge": {}}], [POD_NET]), kubevirt(), "has no network of that name"),
    (spec_with([{"name": "default", "masquerade": {}}], [POD_NET, {"name": "x", "multus": {"networkName": "y"}}]),
     kubevirt(), "has no interface of that name"),
    (spec_with([{"name": "s", "sriov": {}, "state": "down"}], [{"name": "s", "multus": {"networkName": "y"}}]),
     kubevirt(), "not supported for SR-IOV"),
    (spec_with([{"name": "default", "bridge": {}, "state": "absent"}], [POD_NET]), kubevirt(),
     "not supported on default networks"),
    (spec_with([{"name": "default", "masquerade": {}, "state": "down"}], [POD_NET]), kubevirt("v1.4.0"),
     "link state exists from KubeVirt 1.5"),
    (spec_with([{"name": "default", "masquerade": {}, "bridge": {}}], [POD_NET]), kubevirt(), "exactly one binding"),
    (spec_with([{"name": "default", "slirp": {}}], [POD_NET]), kubevirt(), "removed in KubeVirt 1.3"),
    (spec_with([{"name": "a", "bridge": {}}], [{"name": "a", "pod": {}, "multus": {"networkName": "x"}}]), kubevirt(),
     "only one network type"),
    (spec_with([{"name": "default", "masquerade": {}}, {"name": "m", "bridge": {}}],
               [POD_NET, {"name": "m", "multus": {"networkName": "x", "default": True}}]), kubevirt(),
     "Pod network cannot be defined"),
]


@pytest.mark.parametrize("spec,kv,words", ADMISSION)
def test_admission_mirror(spec, kv, words):
    problems = Problems()
    admission.check(problems, "VirtualMachine vms/vm1", spec, kv)
    assert any(words in p["message"] for p in problems.items), problems.items


def test_admission_accepts_a_good_spec_and_registered_plugin():
    spec = spec_with([{"name": "default", "passtBinding": {}}, {"name": "m", "binding": {"name": "macvtap"}}],
                     [POD_NET, {"name": "m", "multus": {"networkName": "x"}}])
    problems = Problems()
    admission.check(problems, "vm", spec, kubevirt(network={"binding": {"macvtap": {"domainAttachmentType": "tap"}}}))
    assert problems.items == []


def test_start_time_rules_apply_to_changed_interfaces_only():
    # an unregistered binding plugin stops the VM from starting (netbinding.go), not the update
    spec = spec_with([{"name": "default", "binding": {"name": "nope"}}], [POD_NET])
    problems = Problems()
    admission.check(problems, "vm", spec, kubevirt(), changed_names=[])
    assert problems.items == []


# ------------------------------------------------------------ running VMs
def test_running_plan_hotplugs_bridge_and_sriov_and_reports_the_rest():
    vm = machine()
    want = desired({"interfaces": [{"name": "net2", "network": "br2", "boot_order": 3},
                                   {"name": "fast", "network": "sr", "binding": "sriov"},
                                   {"name": "pod2", "network": "m", "binding": "plugin:macvtap"}],
                    "hostname": "x"}, vmn.MERGED, vm)
    plan = vm_network_live.plan_running(vm, want, kubevirt())
    assert [(r["interface"], r["binding"]) for r in plan.requests] == [("net2", "bridge"), ("fast", "sriov")]
    assert plan.requests[0]["fields"] == {"bootOrder": 3}
    assert plan.nonlive == ["set hostname"]
    assert plan.deferred == ["add interface pod2 (plugin:macvtap)"]


def test_pending_start_lists_template_interfaces_the_vmi_lacks():
    vm = machine(ifaces=[{"name": "default", "masquerade": {}}, {"name": "pl", "binding": {"name": "x"}},
                         {"name": "gone", "bridge": {}, "state": "absent"}])
    vmi = {"spec": {"domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}}]}}}}
    assert vm_network_live.pending_start(vm, vmi) == ["pl"] and vm_network_live.pending_start(vm, None) == []


def test_running_plan_unplugs_bridge_keeps_it_absent_in_place_and_removes_others_offline():
    vm = machine(ifaces=[{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}},
                         {"name": "sr", "sriov": {}}, {"name": "last", "bridge": {}}],
                 networks=[POD_NET, {"name": "net1", "multus": {"networkName": "a"}},
                           {"name": "sr", "multus": {"networkName": "b"}}, {"name": "last", "multus": {"networkName": "c"}}])
    want = desired({"interfaces": [{"name": "net1"}, {"name": "sr"}]}, vmn.DELETED, vm)
    plan = vm_network_live.plan_running(vm, want, kubevirt())
    assert plan.requests == [{"interface": "net1", "state": "absent"}]
    assert plan.nonlive == ["remove interface sr (sriov)"]
    assert [i["name"] for i in plan.final.ifaces] == ["default", "net1", "last"]
    assert plan.final.ifaces[1] == {"name": "net1", "bridge": {}, "state": "absent"}
    assert [n["name"] for n in plan.final.networks] == ["default", "net1", "last"]


def test_running_plan_network_swap_is_live_only_when_nothing_else_changes():
    vm = machine()
    plan = vm_network_live.plan_running(vm, desired({"interfaces": [{"name": "net1", "network": "br9"}]}, vmn.MERGED, vm),
                                        kubevirt())
    assert plan.requests == [{"interface": "net1", "network": "br9", "binding": "bridge", "model": None,
                              "mac_address": None, "state": "present"}] and plan.nonlive == []
    plan = vm_network_live.plan_running(vm, desired({"interfaces": [{"name": "net1", "network": "br9"}]}, vmn.MERGED, vm),
                                        kubevirt("v1.8.0"))
    assert plan.requests == [] and plan.nonlive == ["change interface net1"]
    plan = vm_network_live.plan_running(vm, desired({"interfaces": [{"name": "net1", "model": "e1000"}]}, vmn.MERGED, vm),
                                        kubevirt())
    assert plan.requests == [] and plan.nonlive == ["change interface net1"]


def test_running_plan_pod_interface_addition_is_not_live():
    vm = machine(ifaces=[{"name": "net1", "bridge": {}}], networks=[{"name": "net1", "multus": {"networkName": "a"}}])
    plan = vm_network_live.plan_running(vm, desired({"interfaces": [{"name": "default", "network": "pod"}]}, vmn.MERGED, vm),
                                        kubevirt())
    assert plan.requests == [] and plan.nonlive == ["add interface default (masquerade) on the pod network"]


def test_running_plan_ignores_interfaces_kubevirt_is_still_unplugging():
    vm = machine(ifaces=[{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}, "state": "absent"}])
    want = desired({"interfaces": [{"name": "net1"}]}, vmn.DELETED, vm)
    plan = vm_network_live.plan_running(vm, want, kubevirt())
    assert plan.requests == [] and plan.nonlive == []
    assert vmn.template_patch(vm, plan.final) == []


# ------------------------------------------------------------ the patch
def test_template_patch_is_guarded_by_generation_and_reaches_the_target():
    vm = machine(hostname="old")
    want = desired({"interfaces": [{"name": "net1", "model": "e1000"}], "hostname": "",
                    "subdomain": "sub"}, vmn.MERGED, vm)
    ops = vmn.template_patch(vm, want)
    assert ops[0] == {"op": "test", "path": "/metadata/generation", "value": 3}
    after = jsonpatch.apply_patch(copy.deepcopy(vm), ops)
    assert vmn.same(vmn.template_of(after), want) and "hostname" not in vmn.template_of(after)
    assert vmn.template_of(after)["subdomain"] == "sub"
    moved = copy.deepcopy(vm)
    moved["metadata"]["generation"] = 4
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(moved, ops)


def test_template_patch_creates_missing_devices():
    vm = {"metadata": {"generation": 1}, "spec": {"template": {"spec": {"domain": {}}}}}
    want = desired({"interfaces": [{"name": "default", "network": "pod"}]}, vmn.OVERRIDDEN, vm)
    after = jsonpatch.apply_patch(copy.deepcopy(vm), vmn.template_patch(vm, want))
    assert vmn.template_of(after)["domain"]["devices"]["interfaces"] == [{"name": "default", "masquerade": {}}]


# ------------------------------------------------------------ rendered
def strict(schema):
    if isinstance(schema, dict):
        out = dict((k, strict(v)) for k, v in schema.items())
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
                and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def vm_schema():
    with open(SCHEMA, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    schema = strict(doc["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


def test_rendered_manifest_validates_in_strict_mode_and_bad_shapes_do_not():
    schema = vm_schema()
    want = desired(FULL, vmn.OVERRIDDEN)
    manifest = vmn.rendered_vm("web", "vms", want)
    jsonschema.validate(manifest, schema)
    broken = copy.deepcopy(manifest)
    broken["spec"]["template"]["spec"]["domain"]["dnsConfig"] = {"nameservers": ["1.1.1.1"]}  # seed claim (d)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    broken = copy.deepcopy(manifest)
    broken["spec"]["template"]["spec"]["networks"][1]["interfaces"] = [{"ipAddress": "10.244.3.10/24"}]  # claim (b)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_details_hold_what_the_options_cannot_say():
    vm = machine(ifaces=[{"name": "default", "masquerade": {}, "portRanges": [{"start": 1, "end": 2}]},
                         {"name": "net1", "bridge": {}, "state": "absent"}],
                 networks=[POD_NET, {"name": "net1", "multus": {"networkName": "a"}}, {"name": "lost", "pod": {}}])
    details = vmn.config_details(vmn.template_of(vm))
    assert details["interfaces"] == {"default": {"unmanaged": {"interface": {"portRanges": [{"start": 1, "end": 2}]},
                                                               "network": {}}},
                                     "net1": {"unplug_pending": True}}
    assert details["networks_without_interface"] == ["lost"] and details["autoattach_pod_interface"] is True
    assert "unplug_pending" not in vmn.typed_config(vmn.template_of(vm))["interfaces"][1]
