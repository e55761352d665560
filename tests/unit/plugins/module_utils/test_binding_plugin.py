import copy

import jsonpatch
import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import binding_plugin as bp
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


def kubevirt(version="v1.9.0", gates=(), network=None):
    spec = {"configuration": {"developerConfiguration": {"featureGates": list(gates)}}}
    if network is not None:
        spec["configuration"]["network"] = network
    return {"metadata": {"name": "kubevirt", "namespace": "kubevirt", "generation": 4}, "spec": spec,
            "status": {"observedKubeVirtVersion": version}}


FULL = {"name": "passt", "state": "present", "sidecar_image": "quay.io/kubevirt/network-passt-binding:v1.9.0",
        "network_attachment_definition": "default/netbindingpasst", "domain_attachment_type": None,
        "migration_method": "link-refresh", "downward_api": "device-info",
        "compute_resource_overhead": {"requests": {"memory": "250Mi"}, "limits": None}}


def test_entry_and_typed_round_trip():
    entry = bp.entry(FULL)
    assert entry == {"sidecarImage": "quay.io/kubevirt/network-passt-binding:v1.9.0",
                     "networkAttachmentDefinition": "default/netbindingpasst",
                     "migration": {"method": "link-refresh"}, "downwardAPI": "device-info",
                     "computeResourceOverhead": {"requests": {"memory": "250Mi"}}}
    assert bp.entry({"domain_attachment_type": "tap", "migratable": True}) == {"domainAttachmentType": "tap",
                                                                               "migration": {}}
    typed = bp.typed(entry)
    assert typed["migration_method"] == "link-refresh" and typed["migratable"] is True


@pytest.mark.parametrize("params,field", [
    ({"name": "bad name!", "sidecar_image": "x"}, "name"),
    ({"name": "p"}, "sidecar_image"),
    ({"name": "p", "sidecar_image": "has space"}, "sidecar_image"),
    ({"name": "p", "sidecar_image": "x", "network_attachment_definition": "a/b/c"}, "network_attachment_definition"),
    ({"name": "p", "sidecar_image": "x", "compute_resource_overhead": {"requests": {"memory": "lots"}}},
     "compute_resource_overhead.requests.memory"),
    ({"sidecar_image": "x"}, "name"),
    ({"default_network_interface": "bridge", "permit_bridge_interface_on_pod_network": False},
     "default_network_interface"),
])
def test_option_checks(params, field):
    problems = bp.check_options(Problems(), params)
    assert field in [p["field"] for p in problems.items], problems.items


@pytest.mark.parametrize("version,gates,params,field", [
    ("v1.0.0", (), {"name": "p", "sidecar_image": "x"}, "name"),
    ("v1.4.0", (), {"name": "p", "sidecar_image": "x"}, "name"),
    ("v1.3.0", (), {"name": "p", "domain_attachment_type": "managedTap"}, "domain_attachment_type"),
    ("v1.1.0", ("NetworkBindingPlugins",), {"name": "p", "domain_attachment_type": "tap"}, "domain_attachment_type"),
    ("v1.1.1", ("NetworkBindingPlugins",), {"name": "p", "sidecar_image": "x", "migration_method": "link-refresh"},
     "migration_method"),
    ("v1.2.0", ("NetworkBindingPlugins",), {"name": "p", "sidecar_image": "x", "downward_api": "device-info"},
     "downward_api"),
])
def test_version_gates(version, gates, params, field):
    problems = bp.check_versions(Problems(), dict(params, state="present"), KubeVirtInfo(kubevirt(version, gates)))
    assert field in [p["field"] for p in problems.items], problems.items


def test_version_gates_pass():
    params = dict(FULL, domain_attachment_type="managedTap")
    assert bp.check_versions(Problems(), params, KubeVirtInfo(kubevirt("v1.5.0"))).items == []
    assert bp.check_versions(Problems(), dict(params, downward_api=None, compute_resource_overhead=None),
                             KubeVirtInfo(kubevirt("v1.4.0", ("NetworkBindingPlugins",)))).items == []


def test_patch_creates_parents_and_is_guarded():
    cr = kubevirt()
    ops = bp.patch(cr, bp.KUBEVIRT_BINDING_PATH, "passt", {"sidecarImage": "x"},
                   {"permitBridgeInterfaceOnPodNetwork": False})
    assert ops[0] == {"op": "test", "path": "/metadata/generation", "value": 4}
    after = jsonpatch.apply_patch(copy.deepcopy(cr), ops)
    assert after["spec"]["configuration"]["network"] == {"binding": {"passt": {"sidecarImage": "x"}},
                                                         "permitBridgeInterfaceOnPodNetwork": False}
    assert bp.patch(after, bp.KUBEVIRT_BINDING_PATH, "passt", {"sidecarImage": "x"},
                    {"permitBridgeInterfaceOnPodNetwork": False}) == []
    two = jsonpatch.apply_patch(copy.deepcopy(after), bp.patch(after, bp.KUBEVIRT_BINDING_PATH, "b", {"x": "y"}, {}))
    one = jsonpatch.apply_patch(copy.deepcopy(two), bp.patch(two, bp.KUBEVIRT_BINDING_PATH, "b", None, {}))
    assert one == after
    removed = jsonpatch.apply_patch(copy.deepcopy(after), bp.patch(after, bp.KUBEVIRT_BINDING_PATH, "passt", None, {}))
    assert "binding" not in removed["spec"]["configuration"]["network"]
    assert bp.patch(removed, bp.KUBEVIRT_BINDING_PATH, "passt", None, {}) == []
    moved = copy.deepcopy(cr)
    moved["metadata"]["generation"] = 5
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(moved, ops)


def test_patch_on_hyperconverged():
    hco = {"metadata": {"name": "kubevirt-hyperconverged", "namespace": "openshift-cnv", "generation": 1},
           "spec": {}}
    after = jsonpatch.apply_patch(copy.deepcopy(hco), bp.patch(hco, bp.HCO_BINDING_PATH, "a/b", {"sidecarImage": "x"},
                                                               {}))
    assert after["spec"]["networkBinding"] == {"a/b": {"sidecarImage": "x"}}


def test_users_and_bridge_on_pod():
    vm = {"metadata": {"name": "v", "namespace": "n"}, "spec": {"template": {"spec": {
        "domain": {"devices": {"interfaces": [{"name": "default", "bridge": {}},
                                              {"name": "m", "binding": {"name": "macvtap"}}]}},
        "networks": [{"name": "default", "pod": {}}, {"name": "m", "multus": {"networkName": "x"}}]}}}}
    vmi = {"metadata": {"name": "v", "namespace": "n"}, "spec": vm["spec"]["template"]["spec"]}
    assert bp.users_of("macvtap", [vm], [vmi]) == ["VirtualMachine n/v interface m",
                                                   "VirtualMachineInstance n/v interface m"]
    assert bp.users_of("other", [vm], [vmi]) == []
    assert bp.bridge_on_pod_users([vm]) == ["VirtualMachine n/v interface default"]
