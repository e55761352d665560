"""Bad input of kubevirt_iface_hotplug: MACs (multicast, broadcast, all-zero,
mixed separators, 8-byte, unquoted), interface names, NAD references, selectors
(malformed, empty, negative-only without vm_selector_all), exclusive and
required options, ranges.  Each refused before any write (issue 19)."""

import pytest

from tests.integration.bad_input_cases import case, case_ids, lab_table

M = "kubevirt_iface_hotplug"


def plug(ns, **more):
    return dict({"vm": "target", "namespace": ns, "interface": "net1", "network": "br-a"}, **more)


def many(ns, *items, **more):
    return dict({"vm": "target", "namespace": ns, "interfaces": list(items)}, **more)


def cases(ns):
    return [
        # MACs
        case("hp-mac-multicast", M, plug(ns, mac_address="01:00:5e:00:00:01"), "mac_address", "multicast"),
        case("hp-mac-ipv6-multicast", M, plug(ns, mac_address="33:33:00:00:00:01"), "mac_address", "unicast"),
        case("hp-mac-broadcast", M, plug(ns, mac_address="ff:ff:ff:ff:ff:ff"), "mac_address", "broadcast"),
        case("hp-mac-zero", M, plug(ns, mac_address="00:00:00:00:00:00"), "mac_address", "all-zero"),
        case("hp-mac-mixed", M, plug(ns, mac_address="02:00-00:00:00:01"), "mac_address", "one separator throughout"),
        case("hp-mac-8-byte", M, plug(ns, mac_address="02:00:5e:10:00:00:00:01"), "mac_address", "8-byte"),
        case("hp-mac-short", M, plug(ns, mac_address="02:00:00:00:01"), "mac_address", "six hex pairs"),
        case("hp-mac-not-hex", M, plug(ns, mac_address="02:00:00:00:00:zz"), "mac_address", "six hex pairs"),
        case("hp-mac-number", M, plug(ns, mac_address=41135085296), "mac_address", "quote the MAC"),
        case("hp-mac-list-item", M, many(ns, {"interface": "net1", "network": "br-a",
                                              "mac_address": "01:80:c2:00:00:00"}),
             "interfaces[0]", "multicast"),
        # interface names and references
        case("hp-iface-upper", M, plug(ns, interface="Net1"), "interface", "DNS-1123 label"),
        case("hp-iface-long", M, plug(ns, interface="n" * 64), "interface", "at most 63"),
        case("hp-iface-empty", M, plug(ns, interface=""), "interface", "net1"),
        case("hp-network-missing", M, plug(ns, network=None), "network", "required"),
        case("hp-network-ref", M, plug(ns, network="a/b/c"), "network", "'<namespace>/<name>'"),
        case("hp-network-upper", M, plug(ns, network="BR-A"), "network", "'<namespace>/<name>'"),
        case("hp-network-absent", M, plug(ns, network="no-such-nad"), "network", "not found"),
        case("hp-binding-choice", M, plug(ns, binding="masquerade"), "binding", "one of"),
        case("hp-model", M, plug(ns, model="virtio-net"), "model", "virtio"),
        case("hp-pci", M, plug(ns, pci_address="81:00"), "pci_address", "0000:81:00.1"),
        case("hp-twice", M, many(ns, *[{"interface": "net1", "network": "br-a"} for _index in range(2)]),
             "interfaces", "twice"),
        case("hp-item-unknown", M, many(ns, {"interface": "net1", "network": "br-a", "nic": "x"}),
             "nic", "Supported parameters"),
        case("hp-state-choice", M, plug(ns, state="removed"), "state", "one of"),
        case("hp-dynamic-choice", M, plug(ns, dynamic_networks="yes please"), "dynamic_networks", "one of"),
        # selectors (issue 19 items 1 and 8)
        case("hp-selector-empty", M, plug(ns, vm=None, vm_selector=""), "vm_selector", "vm_selector_all: true"),
        case("hp-selector-negative", M, plug(ns, vm=None, vm_selector="tier!=db"), "vm_selector",
             "vm_selector_all: true"),
        case("hp-selector-notin", M, plug(ns, vm=None, vm_selector="tier notin (db,web)"), "vm_selector",
             "positive term"),
        case("hp-selector-syntax", M, plug(ns, vm=None, vm_selector="tier in db"), "vm_selector",
             "not a label selector"),
        case("hp-selector-trailing", M, plug(ns, vm=None, vm_selector="tier=db,"), "vm_selector", "ends with ','"),
        case("hp-selector-value", M, plug(ns, vm=None, vm_selector="tier=-db"), "vm_selector", "label value"),
        case("hp-selector-gt", M, plug(ns, vm=None, vm_selector="count>3"), "vm_selector", "in (...)"),
        case("hp-selector-key", M, plug(ns, vm=None, vm_selector="Bad Key=x"), "vm_selector", "'Bad'"),
        case("hp-selector-all-with-vm", M, plug(ns, vm_selector_all=True), "vm_selector_all", "remove it"),
        # exclusive and required options, ranges
        case("hp-vm-and-selector", M, plug(ns, vm_selector="tier=db"), "vm", "vm_selector"),
        case("hp-no-target", M, plug(ns, vm=None), "vm", "vm_selector"),
        case("hp-iface-and-list", M, plug(ns, interfaces=[{"interface": "net2", "network": "br-a"}]),
             "interface", "interfaces"),
        case("hp-vm-missing", M, plug(ns, vm="no-such-vm"), "vm", "check the name"),
        case("hp-concurrency", M, plug(ns, max_concurrency=0), "max_concurrency", "at least 1"),
        case("hp-wait-timeout", M, plug(ns, wait_timeout=-5), "wait_timeout", "more than 0"),
        case("hp-wait-zero", M, plug(ns, wait_timeout=0), "wait_timeout", "wait=false"),
        case("hp-wait-sleep", M, plug(ns, wait_sleep=-1), "wait_sleep", "more than 0"),
        case("hp-retries", M, plug(ns, api_retries=-2), "api_retries", "0 or more"),
        case("hp-retries-type", M, plug(ns, api_retries="many"), "api_retries", "int"),
    ]


@pytest.fixture(scope="module", name="table")
def table_fixture(lab, tmp_path_factory):
    yield from lab_table(lab, tmp_path_factory, cases)


@pytest.mark.parametrize("case_id", case_ids(cases))
def test_kubevirt_iface_hotplug_bad_input(table, case_id):
    table.assert_case(case_id)


def test_kubevirt_iface_hotplug_bad_inputs_write_nothing(table):
    table.assert_table(40)
