"""Bad input of kubevirt_vm_network: MACs, interface names, NAD references,
bindings, ports (IANA names, ranges), DHCP options, DNS settings, CIDRs and
the resource-module states; KubeVirt's admission rules mirrored before the
write.  Each refused before any write, naming the field and the fix (issue 19)."""

import pytest

from tests.integration.bad_input_cases import case, case_ids, lab_table

M = "kubevirt_vm_network"


def vmnet(ns, iface=None, state="merged", **more):
    iface = dict({"name": "net1", "network": "br-a"}, **(iface or {}))
    return dict({"vm": "target", "namespace": ns, "state": state, "config": {"interfaces": [iface]}}, **more)


def pod(ns, **iface):
    return vmnet(ns, dict({"name": "default", "network": "pod", "binding": "masquerade"}, **iface))


def conf(ns, **config):
    return {"vm": "target", "namespace": ns, "state": "merged", "config": config}


def cases(ns):
    return [
        # MACs
        case("vn-mac-multicast", M, vmnet(ns, {"mac_address": "01:00:5e:00:00:01"}), "mac_address", "multicast"),
        case("vn-mac-mixed", M, vmnet(ns, {"mac_address": "02-00:00:00:00:01"}), "mac_address",
             "one separator throughout"),
        case("vn-mac-broadcast", M, vmnet(ns, {"mac_address": "FF-FF-FF-FF-FF-FF"}), "mac_address", "broadcast"),
        case("vn-mac-zero", M, vmnet(ns, {"mac_address": "0000.0000.0000"}), "mac_address", "all-zero"),
        case("vn-mac-20-byte", M, vmnet(ns, {"mac_address": ":".join(["02"] * 20)}), "mac_address", "20-byte"),
        case("vn-mac-number", M, vmnet(ns, {"mac_address": 41135085296}), "mac_address", "quote the MAC"),
        case("vn-mac-masquerade", M, pod(ns, mac_address="02:00:00:00:00:00"), "mac_address", "reserved"),
        # names, networks, bindings, models
        case("vn-name-space", M, vmnet(ns, {"name": "net 1"}), "name", "net1"),
        case("vn-name-long", M, vmnet(ns, {"name": "n" * 64}), "name", "at most 63"),
        case("vn-name-missing", M, conf(ns, interfaces=[{"network": "br-a"}]), "name", "required"),
        case("vn-name-twice", M, conf(ns, interfaces=[{"name": "net1", "network": "br-a"},
                                                      {"name": "net1", "network": "br-a"}]), "name", "listed twice"),
        case("vn-network-ref", M, vmnet(ns, {"network": "a/b/c"}), "network", "'<namespace>/<name>'"),
        case("vn-network-replaced", M, vmnet(ns, {"network": None}, state="replaced"), "network",
             "required with state=replaced"),
        case("vn-two-pods", M, conf(ns, interfaces=[{"name": "default", "network": "pod"},
                                                    {"name": "other", "network": "pod"}]), "network", "one pod"),
        case("vn-multus-default-pod", M, pod(ns, multus_default=True), "multus_default", "Multus network only"),
        case("vn-binding", M, vmnet(ns, {"binding": "tap"}), "binding", "plugin:<name>"),
        case("vn-binding-plugin-name", M, vmnet(ns, {"binding": "plugin:-x"}), "binding", "plugin:<name>"),
        case("vn-model", M, vmnet(ns, {"model": "virtio-net"}), "model", "one of"),
        case("vn-pci", M, vmnet(ns, {"pci_address": "0000:81:00"}), "pci_address", "0000:81:00.1"),
        case("vn-boot-order", M, vmnet(ns, {"boot_order": 0}), "boot_order", "1 to"),
        case("vn-boot-order-twice", M, conf(ns, interfaces=[{"name": "net1", "network": "br-a", "boot_order": 1},
                                                            {"name": "net2", "network": "br-a", "boot_order": 1}]),
             "boot_order", "same boot_order"),
        case("vn-acpi", M, vmnet(ns, {"acpi_index": 20000}), "acpi_index", "16383"),
        case("vn-link-state", M, vmnet(ns, {"link_state": "sideways"}), "link_state", "one of"),
        case("vn-link-state-sriov", M, vmnet(ns, {"binding": "sriov", "link_state": "down"}), "link_state",
             "drop link_state"),
        case("vn-unknown-suboption", M, vmnet(ns, {"vlan": 5}), "vlan", "Supported parameters"),
        # ports (IANA service names, ranges)
        case("vn-port-dup-name", M, pod(ns, ports=[{"name": "ssh", "port": 22}, {"name": "ssh", "port": 2222}]),
             "ports", "ssh"),
        case("vn-port-name-upper", M, pod(ns, ports=[{"name": "Web_Port", "port": 80}]), "ports", "Web_Port"),
        case("vn-port-name-long", M, pod(ns, ports=[{"name": "a-very-long-port-name", "port": 80}]),
             "ports[0].name", "15"),
        case("vn-port-name-digits", M, pod(ns, ports=[{"name": "8080", "port": 8080}]), "ports[0].name", "letter"),
        case("vn-port-name-dashes", M, pod(ns, ports=[{"name": "web--x", "port": 80}]), "ports[0].name", "'--'"),
        case("vn-port-zero", M, pod(ns, ports=[{"port": 0}]), "ports[0].port", "1 to 65535"),
        case("vn-port-high", M, pod(ns, ports=[{"port": 70000}]), "ports[0].port", "1 to 65535"),
        case("vn-port-protocol", M, pod(ns, ports=[{"port": 80, "protocol": "SCTP"}]), "protocol", "one of"),
        case("vn-port-missing", M, pod(ns, ports=[{"name": "web"}]), "port", "required"),
        case("vn-ports-bridge", M, vmnet(ns, {"ports": [{"port": 80}]}), "ports", "masquerade/passt"),
        # DHCP options
        case("vn-dhcp-private", M, vmnet(ns, {"dhcp_options": {"private_options": [{"option": 300, "value": "x"}]}}),
             "option", "224"),
        case("vn-dhcp-private-twice", M, vmnet(ns, {"dhcp_options": {"private_options": [
            {"option": 240, "value": "x"}, {"option": 240, "value": "y"}]}}), "private_options", "twice"),
        case("vn-dhcp-ntp", M, vmnet(ns, {"dhcp_options": {"ntp_servers": ["ntp.example.com"]}}), "ntp", "IPv4"),
        case("vn-dhcp-ntp-v6", M, vmnet(ns, {"dhcp_options": {"ntp_servers": ["fd00::1"]}}), "ntp", "IPv4"),
        # DNS and CIDRs
        case("vn-hostname", M, conf(ns, hostname="Web_1"), "hostname", "DNS label"),
        case("vn-subdomain", M, conf(ns, subdomain="db_a"), "subdomain", "DNS subdomain"),
        case("vn-subdomain-dot", M, conf(ns, subdomain="db.a"), "subdomain", "no dots"),
        case("vn-dns-policy", M, conf(ns, dns_policy="Custom"), "dns_policy", "one of"),
        case("vn-dns-none", M, conf(ns, dns_policy="None"), "dns_config", "nameservers"),
        case("vn-dns-server", M, conf(ns, dns_config={"nameservers": ["dns.example.com"]}), "nameservers[0]",
             "IP address"),
        case("vn-dns-many-servers", M, conf(ns, dns_config={"nameservers": ["10.0.0.1", "10.0.0.2", "10.0.0.3",
                                                                            "10.0.0.4"]}),
             "dns_config.nameservers", "at most 3"),
        case("vn-dns-search", M, conf(ns, dns_config={"searches": ["bad_domain"]}), "searches[0]", "DNS name"),
        case("vn-dns-searches", M, conf(ns, dns_config={"searches": ["s%d.example" % i for i in range(40)]}),
             "dns_config.searches", "at most 32"),
        case("vn-dns-search-chars", M,
             conf(ns, dns_config={"searches": ["s%d.%s" % (i, ".".join(["x" * 60] * 4)) for i in range(9)]}),
             "dns_config.searches", "2048 characters"),
        case("vn-cidr", M, conf(ns, vm_network_cidr="10.0.2.0/33"), "vm_network_cidr", "IPv4 CIDR"),
        case("vn-cidr-family", M, conf(ns, vm_ipv6_network_cidr="10.0.2.0/24"), "vm_ipv6_network_cidr", "IPv6 CIDR"),
        # states, required and shared options
        case("vn-state", M, vmnet(ns, state="purged"), "state", "one of"),
        case("vn-vm-missing", M, dict(vmnet(ns), vm="no-such-vm"), "no-such-vm", "not found"),
        case("vn-vm-name", M, dict(vmnet(ns), vm="Bad_VM"), "vm", "lowercase"),
        case("vn-nad-missing", M, vmnet(ns, {"network": "no-such-nad"}), "no-such-nad", "not found"),
        case("vn-wait-timeout", M, vmnet(ns, wait_timeout=-5), "wait_timeout", "more than 0"),
        case("vn-retries", M, vmnet(ns, api_retries=-1), "api_retries", "0 or more"),
        case("vn-dynamic-choice", M, vmnet(ns, dynamic_networks="maybe"), "dynamic_networks", "one of"),
    ]


@pytest.fixture(scope="module", name="table")
def table_fixture(lab, tmp_path_factory):
    yield from lab_table(lab, tmp_path_factory, cases)


@pytest.mark.parametrize("case_id", case_ids(cases))
def test_kubevirt_vm_network_bad_input(table, case_id):
    table.assert_case(case_id)


def test_kubevirt_vm_network_bad_inputs_write_nothing(table):
    table.assert_table(50)
