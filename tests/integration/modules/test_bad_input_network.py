"""Bad input of kubevirt_network: names, types, ranges, Linux interface names,
CNI versions, raw CNI configs, IPAM addresses, labels and the shared options.
Each case fails before any write, naming the field and the fix (issue 19)."""

import pytest

from tests.integration.bad_input_cases import case, case_ids, lab_table

M = "kubevirt_network"


def net(ns, **more):
    return dict({"name": "n1", "namespace": ns, "type": "bridge", "bridge": "br0"}, **more)


def ipam(ns, **options):
    return net(ns, ipam=dict({"type": "whereabouts", "subnet": "10.10.0.0/24"}, **options))


def raw(ns, config):
    return {"name": "n1", "namespace": ns, "type": "cni_config", "cni_config": config}


def cases(ns):
    return [
        # names and namespaces
        case("net-name-upper", M, net(ns, name="Bad_Name"), "name", "lowercase"),
        case("net-name-long", M, net(ns, name="a" * 254), "name", "at most 253"),
        case("net-name-dot-end", M, net(ns, name="net."), "name", "ending with a letter or digit"),
        case("net-namespace-label", M, net(ns, namespace="Bad NS"), "namespace", "DNS-1123 label"),
        case("net-namespace-missing", M, net("t-no-such-namespace"), "namespace", "create the namespace"),
        # types and choices (argument spec)
        case("net-type-unknown", M, net(ns, type="weird"), "type", "one of"),
        case("net-type-missing", M, {"name": "n1", "namespace": ns}, "type", "required"),
        case("net-vlan-string", M, net(ns, vlan="ten"), "vlan", "int"),
        case("net-mode-choice", M, net(ns, type="macvlan", bridge=None, master="eth0", mode="bridged"),
             "mode", "one of"),
        case("net-link-state-choice", M, net(ns, type="sriov", bridge=None, resource_name="a.io/b", link_state="up"),
             "link_state", "one of"),
        case("net-state-choice", M, net(ns, state="gone"), "state", "one of"),
        case("net-unknown-option", M, net(ns, bridge_name="br0"), "bridge_name", "Supported parameters"),
        # ranges
        case("net-vlan-4095", M, net(ns, vlan=4095), "vlan", "0 to 4094"),
        case("net-vlan-negative", M, net(ns, vlan=-1), "vlan", "0 to 4094"),
        case("net-mtu-small", M, net(ns, mtu=100), "mtu", "576 to 9216"),
        case("net-mtu-large", M, net(ns, mtu=65536), "mtu", "576 to 9216"),
        case("net-vlan-qos", M, net(ns, type="sriov", bridge=None, resource_name="a.io/b", vlan_qos=8),
             "vlan_qos", "0 to 7"),
        case("net-tx-rates", M, net(ns, type="sriov", bridge=None, resource_name="a.io/b", min_tx_rate=500,
                                    max_tx_rate=100), "min_tx_rate", "max_tx_rate"),
        case("net-api-retries", M, net(ns, api_retries=-1), "api_retries", "0 or more"),
        case("net-request-timeout", M, net(ns, request_timeout=-1), "request_timeout", "more than 0"),
        # required and conflicting options per type
        case("net-bridge-missing", M, net(ns, bridge=None), "bridge", "required"),
        case("net-master-missing", M, net(ns, type="macvlan", bridge=None), "master", "required"),
        case("net-resource-missing", M, net(ns, type="sriov", bridge=None), "resource_name", "required"),
        case("net-localnet-missing", M, net(ns, type="ovn_localnet", bridge=None), "physical_network_name",
             "required"),
        case("net-option-other-type", M, net(ns, master="eth0"), "master", "not used by type"),
        case("net-name-and-networks", M, net(ns, networks=[{"name": "n2", "type": "bridge", "bridge": "br1"}]),
             "name", "networks"),
        case("net-overridden-no-list", M, net(ns, name=None, type=None, bridge=None, state="overridden"),
             "name, networks", "required"),
        # issue 19 item 8: an empty list is one problem, not also a network "<namespace>/None"
        case("net-overridden-empty", M, {"namespace": ns, "state": "overridden", "networks": []},
             "1 invalid input(s)", "task: networks: is empty", "state=absent", unwanted=("/None", "type:")),
        case("net-present-empty", M, {"namespace": ns, "networks": []}, "1 invalid input(s)", "networks: is empty",
             unwanted=("/None",)),
        case("net-networks-twice", M,
             {"namespace": ns, "networks": [{"name": "n1", "type": "bridge", "bridge": "br0"},
                                            {"name": "n1", "type": "bridge", "bridge": "br1"}]},
             "name", "listed twice"),
        case("net-networks-item-type", M, {"namespace": ns, "networks": [
            {"name": "n1", "type": "bridge", "bridge": "br0", "vlan": "x"}]}, "vlan", "int"),
        case("net-resource-name", M, net(ns, type="sriov", bridge=None, resource_name="intelnics"),
             "resource_name", "<domain>/<name>"),
        # Linux interface names (dev_valid_name)
        case("net-bridge-16-bytes", M, net(ns, bridge="br-0123456789abc"), "bridge", "at most 15 bytes"),
        case("net-bridge-shell", M, net(ns, bridge="br0; rm -rf / #x"), "bridge", "at most 15 bytes"),
        case("net-bridge-utf8", M, net(ns, bridge="br" + "\u00fc" * 7), "bridge", "bytes"),
        case("net-bridge-slash", M, net(ns, bridge="br/0"), "bridge", "'/'"),
        case("net-bridge-space", M, net(ns, bridge="br 0"), "bridge", "whitespace"),
        case("net-bridge-tab", M, net(ns, bridge="br\t0"), "bridge", "whitespace"),
        case("net-bridge-colon", M, net(ns, bridge="br0:1"), "bridge", "':'"),
        case("net-bridge-dot", M, net(ns, bridge="."), "bridge", "'.' and '..'"),
        case("net-bridge-dotdot", M, net(ns, bridge=".."), "bridge", "'.' and '..'"),
        case("net-ovs-bridge", M, net(ns, type="ovs", bridge="ovs br"), "bridge", "whitespace"),
        case("net-master-slash", M, net(ns, type="macvlan", bridge=None, master="eth0/1"), "master", "'/'"),
        case("net-master-long", M, net(ns, type="macvlan", bridge=None, master="enp0s31f6-macvlan0"),
             "master", "at most 15 bytes"),
        # ovs trunks
        case("net-trunk-both", M, net(ns, type="ovs", trunk=[{"id": 5, "min_id": 1, "max_id": 9}]),
             "trunk[0]", "either id"),
        case("net-trunk-order", M, net(ns, type="ovs", trunk=[{"min_id": 9, "max_id": 1}]),
             "trunk[0]", "above max_id"),
        case("net-trunk-range", M, net(ns, type="ovs", trunk=[{"id": 5000}]), "trunk[0].id", "0 to 4094"),
        case("net-trunk-empty", M, net(ns, type="ovs", trunk=[{}]), "trunk[0]", "needs id"),
        # CNI versions and raw configs
        case("net-cni-banana", M, net(ns, cni_version="banana"), "cni_version", "0.3.1"),
        case("net-cni-short", M, net(ns, cni_version="0.3"), "cni_version", "1.1.0"),
        case("net-cni-v-prefix", M, net(ns, cni_version="v1.0.0"), "cni_version", "1.0.0"),
        case("net-raw-version", M, raw(ns, {"cniVersion": "2.0.0", "type": "bridge", "bridge": "br0"}),
             "cni_config.cniVersion", "1.1.0"),
        case("net-raw-no-version", M, raw(ns, {"type": "bridge", "bridge": "br0"}), "cni_config.cniVersion",
             "required"),
        case("net-raw-not-json", M, raw(ns, "{not json"), "cni_config", "JSON"),
        case("net-raw-no-type", M, raw(ns, {"cniVersion": "0.3.1"}), "cni_config", "'plugins'"),
        case("net-raw-plugin-bridge", M, raw(ns, {"cniVersion": "1.0.0", "plugins": [
            {"type": "bridge", "bridge": "a-very-long-bridge"}]}), "cni_config.plugins[0].bridge", "at most 15 bytes"),
        case("net-raw-macvlan-master", M, raw(ns, {"cniVersion": "0.3.1", "type": "macvlan", "master": "eth0:1"}),
             "cni_config.master", "':'"),
        case("net-raw-versions-list", M,
             raw(ns, {"cniVersion": "1.0.0", "cniVersions": ["1.0.0", "9.9.9"], "type": "bridge", "bridge": "br0"}),
             "cni_config.cniVersions[1]", "1.1.0"),
        case("net-raw-with-bridge", M, dict(raw(ns, {"cniVersion": "0.3.1", "type": "bridge"}), bridge="br0"),
             "bridge", "not used by type"),
        # IPAM and CIDRs
        case("net-ipam-prefix", M, ipam(ns, subnet="10.10.0.0/33"), "subnet", "CIDR"),
        case("net-ipam-no-prefix", M, ipam(ns, subnet="10.10.0.0"), "subnet", "prefix length"),
        case("net-ipam-host-bits", M, ipam(ns, subnet="10.10.0.1/24"), "subnet", "did you mean 10.10.0.0/24"),
        case("net-ipam-no-subnet", M, net(ns, ipam={"type": "whereabouts"}), "ipam.subnet", "required"),
        case("net-ipam-start-outside", M, ipam(ns, range_start="10.20.0.5"), "range_start", "outside"),
        case("net-ipam-end-bad", M, ipam(ns, range_end="10.10.0.300"), "range_end", "not an IP address"),
        case("net-ipam-swapped", M, ipam(ns, range_start="10.10.0.200", range_end="10.10.0.10"), "range_start",
             "swap them"),
        case("net-ipam-family", M, ipam(ns, range_start="fd00::5"), "range_start", "IPv6"),
        case("net-ipam-gateway-outside", M, ipam(ns, gateway="10.99.0.1"), "gateway", "not inside the subnet"),
        case("net-ipam-gateway-in-range", M, ipam(ns, gateway="10.10.0.1", range_start="10.10.0.1"), "gateway",
             "exclude"),
        case("net-ipam-exclude-outside", M, ipam(ns, exclude=["10.99.0.0/28"]), "exclude[0]", "not inside"),
        case("net-ipam-static-none", M, net(ns, ipam={"type": "static"}), "ipam.addresses", "required"),
        case("net-ipam-static-network", M, net(ns, ipam={"type": "static", "addresses": [
            {"address": "10.10.0.0/24"}]}), "address", "network address"),
        case("net-ipam-static-twice", M, net(ns, ipam={"type": "static", "addresses": [
            {"address": "10.10.0.5/24"}, {"address": "10.10.0.5/24"}]}), "address", "listed twice"),
        case("net-ipam-static-subnet", M, net(ns, ipam={"type": "static", "subnet": "10.10.0.0/24", "addresses": [
            {"address": "10.10.0.5/24"}]}), "ipam.subnet", "list the addresses"),
        case("net-ipam-ranges-overlap", M, ipam(ns, ranges=[{"subnet": "10.10.0.0/25"}]), "ipam", "overlaps"),
        case("net-ipam-route", M, ipam(ns, routes=[{"dst": "0.0.0.0/99"}]), "routes", "CIDR"),
        case("net-ipam-type-choice", M, net(ns, ipam={"type": "calico"}), "type", "one of"),
        case("net-ipam-none-subnet", M, net(ns, ipam={"type": "none", "subnet": "10.10.0.0/24"}), "ipam.subnet",
             "not used with ipam type"),
        case("net-ovn-subnet", M, net(ns, type="ovn_layer2", bridge=None, subnets=["10.30.0.0/99"]),
             "subnets[0]", "CIDR"),
        case("net-ovn-exclude-outside", M,
             net(ns, type="ovn_layer2", bridge=None, subnets=["10.30.0.0/24"], exclude_subnets=["10.40.0.0/28"]),
             "exclude_subnets[0]", "not inside any of subnets"),
        case("net-ovn-exclude-only", M, net(ns, type="ovn_layer2", bridge=None, exclude_subnets=["10.40.0.0/28"]),
             "subnets", "required when exclude_subnets"),
        case("net-overlap-segment", M, {"namespace": ns, "networks": [
            {"name": "n1", "type": "bridge", "bridge": "br0", "ipam": {"type": "host-local",
                                                                       "subnet": "10.10.0.0/24"}},
            {"name": "n2", "type": "bridge", "bridge": "br0", "ipam": {"type": "host-local",
                                                                       "subnet": "10.10.0.0/25"}}]},
             "ipam", "same segment"),
        # labels and annotations
        case("net-label-key-space", M, net(ns, labels={"bad key": "x"}), "labels.bad key", "at most 63"),
        case("net-label-prefix", M, net(ns, labels={"Example.COM/tier": "x"}), "labels.Example.COM/tier", "prefix"),
        case("net-label-value", M, net(ns, labels={"tier": "not valid!"}), "labels.tier", "label value"),
        case("net-label-value-long", M, net(ns, labels={"tier": "x" * 64}), "labels.tier", "at most 63"),
        case("net-label-value-int", M, net(ns, labels={"size": 8}), "labels.size", "quote"),
        case("net-annotation-key", M, net(ns, annotations={"-x": "y"}), "annotations.-x", "not a valid key"),
    ]


@pytest.fixture(scope="module", name="table")
def table_fixture(lab, tmp_path_factory):
    yield from lab_table(lab, tmp_path_factory, cases)


@pytest.mark.parametrize("case_id", case_ids(cases))
def test_kubevirt_network_bad_input(table, case_id):
    table.assert_case(case_id)


def test_kubevirt_network_bad_inputs_write_nothing(table):
    table.assert_table(60)
