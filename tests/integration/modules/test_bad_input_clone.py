"""Bad input of kubevirt_vm_clone: names, MACs, filters (RE2), network
overrides, labels, DNS names, ranges, and JSON patches KubeVirt's restore
webhook would refuse (vmrestore.go validatePatches).  Each refused before any
write, naming the field and the fix (issue 19)."""

import pytest

from tests.integration.bad_input_cases import case, case_ids, lab_table
from tests.integration.modules.kubevirt_objects import VM_PATH, create_nad, vm_manifest

M = "kubevirt_vm_clone"


def clone(ns, **more):
    return dict({"source": "target", "target": "copy-1", "namespace": ns}, **more)


def cases(ns):
    return [
        # names, required and exclusive options
        case("cl-target-name", M, clone(ns, target="Copy_1"), "name", "lowercase"),
        case("cl-source-name", M, clone(ns, source="Src VM"), "source", "lowercase"),
        case("cl-same-name", M, clone(ns, target="target"), "name", "another name"),
        case("cl-no-target", M, clone(ns, target=None), "target", "targets"),
        case("cl-target-and-targets", M, clone(ns, targets=[{"name": "copy-2"}]), "target", "targets"),
        case("cl-targets-twice", M, clone(ns, target=None, targets=[{"name": "c1"}, {"name": "c1"}]),
             "targets", "twice"),
        case("cl-targets-item", M, clone(ns, target=None, targets=[{"name": "c1", "hostnme": "x"}]),
             "hostnme", "Supported parameters"),
        case("cl-source-kind", M, clone(ns, source_kind="VirtualMachineInstance"), "source_kind", "one of"),
        case("cl-run-strategy", M, clone(ns, run_strategy="Sometimes"), "run_strategy", "one of"),
        case("cl-volume-policy", M, clone(ns, volume_name_policy="Random"), "volume_name_policy", "one of"),
        case("cl-source-missing", M, clone(ns, source="no-such-vm"), "no-such-vm", "not found"),
        # MACs
        case("cl-mac-multicast", M, clone(ns, new_mac_addresses={"default": "01:00:5e:00:00:09"}),
             "new_mac_addresses.default", "multicast"),
        case("cl-mac-mixed", M, clone(ns, new_mac_addresses={"default": "02:00-00:00:00:09"}),
             "new_mac_addresses.default", "one separator throughout"),
        case("cl-mac-number", M, clone(ns, new_mac_addresses={"default": 41135085296}),
             "new_mac_addresses.default", "quote the MAC"),
        case("cl-mac-unknown-iface", M, clone(ns, new_mac_addresses={"nosuch": "02:00:00:00:00:09"}),
             "new_mac_addresses.nosuch", "not in the source VM"),
        case("cl-net-mac", M, clone(ns, networks=[{"interface": "net1", "network": "br-a",
                                                   "mac_address": "ff:ff:ff:ff:ff:ff"}]),
             "mac_address", "broadcast"),
        # filters (KubeVirt matches them with Go's RE2)
        case("cl-filter-bang", M, clone(ns, label_filters=["app!"]), "label_filters", "'!'"),
        case("cl-filter-negated-star", M, clone(ns, label_filters=["*", "!*"]), "label_filters[1]", "removes nothing"),
        case("cl-filter-lookahead", M, clone(ns, annotation_filters=["(?=x)y"]), "annotation_filters", "RE2"),
        case("cl-filter-regex", M, clone(ns, template_label_filters=["app("]), "template_label_filters",
             "regular expression"),
        # network overrides
        case("cl-net-ref", M, clone(ns, networks=[{"interface": "net1", "network": "a/b/c"}]),
             "networks[0].network", "'<ns>/<nad>'"),
        case("cl-net-model", M, clone(ns, networks=[{"interface": "net1", "network": "br-a", "model": "rtl"}]),
             "networks[0].model", "virtio"),
        case("cl-net-binding", M, clone(ns, networks=[{"interface": "net1", "network": "br-a", "binding": "tap"}]),
             "binding", "one of"),
        case("cl-net-no-iface", M, clone(ns, networks=[{"network": "br-a"}]), "interface", "required"),
        case("cl-net-new-no-network", M, clone(ns, networks=[{"interface": "net9"}]), "networks", "give its network"),
        case("cl-net-drop-missing", M, clone(ns, networks=[{"interface": "net9", "state": "absent"}]),
             "networks", "not in the source VM"),
        case("cl-net-drop-only", M, clone(ns, networks=[{"interface": "default", "state": "absent"}]),
             "networks", "only interface"),
        case("cl-net-pod-to-multus", M, clone(ns, networks=[{"interface": "default", "network": "br-a"}]),
             "networks", "pod network"),
        case("cl-net-nad-missing", M, clone(ns, networks=[{"interface": "net1", "network": "no-such-nad"}]),
             "no-such-nad", "create it first"),
        # an SR-IOV interface the clone would get: the hot-plug's checks (HotplugEngine.check_sriov)
        case("cl-sriov-no-resource-name", M,
             clone(ns, networks=[{"interface": "net1", "network": "br-a", "binding": "sriov"}]),
             "networks[0] (interface net1)", "resourceName"),
        case("cl-sriov-no-node", M, clone(ns, networks=[{"interface": "net1", "network": VF_NAD, "binding": "sriov"}]),
             "networks[0] (interface net1)", "no node offers the SR-IOV resource"),
        # labels and DNS names
        case("cl-labels-key", M, clone(ns, labels={"bad key": "x"}), "labels.bad key", "at most 63"),
        case("cl-labels-value", M, clone(ns, labels={"tier": "not valid!"}), "labels.tier", "label value"),
        case("cl-template-labels", M, clone(ns, template_labels={"Example.COM/tier": "x"}),
             "template_labels.Example.COM/tier", "prefix"),
        case("cl-hostname", M, clone(ns, hostname="Web_1"), "hostname", "DNS-1123 label"),
        case("cl-subdomain", M, clone(ns, subdomain="db_a"), "subdomain", "DNS-1123 label"),
        case("cl-concurrency", M, clone(ns, max_concurrency=0), "max_concurrency", "1 to 100"),
        case("cl-wait-sleep", M, clone(ns, wait_sleep=0), "wait_sleep", "more than 0"),
        case("cl-wait-timeout", M, clone(ns, wait_timeout=-5), "wait_timeout", "more than 0"),
        # patches the restore webhook refuses, or that do not apply
        case("cl-patch-metadata", M, clone(ns, patches=[{"op": "replace", "path": "/metadata/name", "value": "x"}]),
             "patches[0]", "/spec/"),
        case("cl-patch-status", M, clone(ns, patches=[{"op": "add", "path": "/status/ready", "value": True}]),
             "patches[0]", "/spec/"),
        case("cl-patch-test-object", M,
             clone(ns, patches=[{"op": "test", "path": "/spec/template/metadata/labels", "value": {"app": "target"}}]),
             "patches[0]", "scalar members"),
        case("cl-patch-missing-parent", M, clone(ns, patches=[
            {"op": "add", "path": "/spec/template/spec/nosuch/child", "value": 1}]), "patches[0]", "parent"),
        case("cl-patch-not-json", M, clone(ns, patches=["{not json"]), "patches[0]", "not JSON"),
        case("cl-patch-shape", M, clone(ns, patches=[{"path": "/spec/running"}]), "patches[0]", "{op, path"),
        case("cl-patch-labels-map", M, clone(ns, patches=[
            {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]), "patches[0]", "'labels' option"),
        # KubeVirt's own serial patch (vm-target.go addSmbiosSerialPatches) is not escaped: the restore
        # webhook would split it on ':' and ',' and the clone would hang in RestoreInProgress
        case("cl-serial-colon", M, clone(ns, source=FIRMWARE_SOURCE, new_smbios_serial="rack:1"),
             "new_smbios_serial", "without ':' and ','"),
        case("cl-serial-comma", M, clone(ns, source=FIRMWARE_SOURCE, new_smbios_serial="a,b"),
             "new_smbios_serial", "without ':' and ','"),
    ]


FIRMWARE_SOURCE = "fw-source"
VF_NAD = "vf-nowhere"   # an SR-IOV NAD whose resource no lab node offers


def with_firmware_source(lab):
    """The cases, after creating the stopped VM ``fw-source`` with firmware (so KubeVirt patches its serial)
    and the SR-IOV NAD ``vf-nowhere``."""
    def make(ns):
        manifest = vm_manifest(FIRMWARE_SOURCE, running=False)
        manifest["spec"]["template"]["spec"]["domain"]["firmware"] = {"serial": "fw-1"}
        lab.request("POST", VM_PATH % ns, manifest)
        create_nad(lab, ns, VF_NAD, resource_name="example.com/no-such-vf")
        return cases(ns)
    return make


@pytest.fixture(scope="module", name="table")
def table_fixture(lab, tmp_path_factory):
    yield from lab_table(lab, tmp_path_factory, with_firmware_source(lab))


@pytest.mark.parametrize("case_id", case_ids(cases))
def test_kubevirt_vm_clone_bad_input(table, case_id):
    table.assert_case(case_id)


def test_kubevirt_vm_clone_bad_inputs_write_nothing(table):
    table.assert_table(40)
