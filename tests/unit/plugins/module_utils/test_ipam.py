import netaddr
import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils.ipam import (
    check_ipam, pools_from_cni, render_ipam)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


def problems_of(ipam):
    problems = Problems()
    pools = check_ipam(problems, "network ns/n", ipam)
    return problems.items, pools


def fields(items):
    return [p["field"] for p in items]


def test_host_local_v4_range_is_valid_and_gateway_is_not_handed_out():
    items, pools = problems_of({"type": "host-local", "subnet": "10.1.0.0/24", "range_start": "10.1.0.1",
                                "range_end": "10.1.0.20", "gateway": "10.1.0.1"})
    assert items == []
    assert netaddr.IPAddress("10.1.0.1") not in pools and pools.size == 19


def test_ipv6_and_several_ranges():
    items, pools = problems_of({"type": "host-local", "subnet": "192.168.5.0/24",
                                "ranges": [{"subnet": "fd00:5::/64", "range_start": "fd00:5::10",
                                            "range_end": "fd00:5::ff"}]})
    assert items == []
    assert netaddr.IPAddress("fd00:5::20") in pools and netaddr.IPAddress("192.168.5.7") in pools


@pytest.mark.parametrize("ipam,field,words", [
    ({"type": "host-local", "subnet": "10.1.0.0/33"}, "ipam.subnet", "not a CIDR"),
    ({"type": "host-local", "subnet": "10.1.0.5/24"}, "ipam.subnet", "did you mean 10.1.0.0/24"),
    ({"type": "host-local", "subnet": "10.1.0.0"}, "ipam.subnet", "no prefix length"),
    ({"type": "host-local", "subnet": "10.1.0.0/24", "range_start": "10.2.0.1"}, "ipam.range_start", "outside"),
    ({"type": "host-local", "subnet": "10.1.0.0/24", "range_end": "10.1.0.255"}, "ipam.range_end", "outside"),
    ({"type": "host-local", "subnet": "10.1.0.0/24", "range_start": "10.1.0.50", "range_end": "10.1.0.10"},
     "ipam.range_start", "swap them"),
    ({"type": "host-local", "subnet": "10.1.0.0/24", "gateway": "10.9.0.1"}, "ipam.gateway", "not inside"),
    ({"type": "host-local", "subnet": "10.1.0.0/24", "range_start": "fd00::1"}, "ipam.range_start", "IPv6"),
    ({"type": "whereabouts", "subnet": "10.1.0.0/24", "gateway": "10.1.0.1"}, "ipam.gateway", "add '10.1.0.1/32' to exclude"),
    ({"type": "whereabouts", "subnet": "10.1.0.0/24", "exclude": ["10.2.0.0/28"]}, "ipam.exclude[0]", "not inside"),
    ({"type": "whereabouts", "subnet": "10.1.0.0/30", "exclude": ["10.1.0.0/30"]}, "ipam", "no address"),
    ({"type": "host-local"}, "ipam.subnet", "is required"),
    ({"type": "none", "subnet": "10.1.0.0/24"}, "ipam.subnet", "not used with ipam type 'none'"),
    ({"type": "static"}, "ipam.addresses", "is required"),
    ({"type": "static", "addresses": [{"address": "10.1.0.0/24"}]}, "ipam.addresses[0].address", "network address"),
    ({"type": "static", "addresses": [{"address": "10.1.0.5/24", "gateway": "10.2.0.1"}]},
     "ipam.addresses[0].gateway", "not inside"),
    ({"type": "host-local", "subnet": "10.1.0.0/24", "ranges": [{"subnet": "10.1.0.0/25"}]}, "ipam.ranges[0]",
     "overlaps another range"),
    ({"type": "host-local", "subnet": "10.1.0.0/24", "routes": [{"dst": "nope"}]}, "ipam.routes[0].dst", "not a CIDR"),
])
def test_each_rule_names_the_field(ipam, field, words):
    items, _pools = problems_of(ipam)
    assert field in fields(items), items
    assert any(words in p["message"] for p in items if p["field"] == field), items


def test_whereabouts_gateway_excluded_is_fine():
    items, pools = problems_of({"type": "whereabouts", "subnet": "10.1.0.0/24", "gateway": "10.1.0.1",
                                "exclude": ["10.1.0.1/32"]})
    assert items == [] and netaddr.IPAddress("10.1.0.1") not in pools


def test_render_host_local_uses_ranges_form():
    assert render_ipam({"type": "host-local", "subnet": "10.1.0.0/24", "range_start": "10.1.0.10",
                        "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]}) == {
        "type": "host-local",
        "ranges": [[{"subnet": "10.1.0.0/24", "rangeStart": "10.1.0.10", "gateway": "10.1.0.1"}]],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]}


def test_render_whereabouts_single_and_multi():
    assert render_ipam({"type": "whereabouts", "subnet": "10.1.0.0/24", "exclude": ["10.1.0.0/28"]}) == {
        "type": "whereabouts", "range": "10.1.0.0/24", "exclude": ["10.1.0.0/28"]}
    multi = render_ipam({"type": "whereabouts", "subnet": "10.1.0.0/24", "ranges": [{"subnet": "fd00::/64"}]})
    assert multi == {"type": "whereabouts", "ipRanges": [{"range": "10.1.0.0/24"}, {"range": "fd00::/64"}]}


def test_render_static_dhcp_none():
    assert render_ipam({"type": "static", "addresses": [{"address": "10.1.0.5/24", "gateway": "10.1.0.1"}]}) == {
        "type": "static", "addresses": [{"address": "10.1.0.5/24", "gateway": "10.1.0.1"}]}
    assert render_ipam({"type": "dhcp"}) == {"type": "dhcp"}
    assert render_ipam({}) == {}


@pytest.mark.parametrize("ipam,inside,outside", [
    ({"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "rangeEnd": "10.0.0.20"}]]},
     "10.0.0.15", "10.0.0.21"),
    ({"type": "host-local", "subnet": "10.0.1.0/24", "gateway": "10.0.1.1"}, "10.0.1.2", "10.0.1.1"),
    ({"type": "whereabouts", "range": "10.0.2.0/24", "exclude": ["10.0.2.0/28"]}, "10.0.2.16", "10.0.2.5"),
    ({"type": "whereabouts", "range": "10.0.3.10-10.0.3.20/24"}, "10.0.3.12", "10.0.3.21"),
    ({"type": "static", "addresses": [{"address": "10.0.4.5/24"}]}, "10.0.4.5", "10.0.4.6"),
])
def test_pools_from_any_cni_config(ipam, inside, outside):
    pools = pools_from_cni({"cniVersion": "0.3.1", "plugins": [{"type": "bridge", "ipam": ipam}]})
    assert netaddr.IPAddress(inside) in pools
    assert netaddr.IPAddress(outside) not in pools


def test_pools_of_garbage_is_empty():
    assert pools_from_cni({"type": "bridge", "ipam": {"type": "host-local", "subnet": "nope"}}).size == 0
