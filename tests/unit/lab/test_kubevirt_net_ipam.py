"""NAD IPAM parsing and address allocation (lab/kubevirt/net_ipam.py)."""

import ipaddress
import json

import pytest

from lab.kubevirt import net_ipam


def nad(ipam, name="net", namespace="ns1", plugins=False):
    config = {"cniVersion": "0.3.1", "name": name, "type": "bridge", "ipam": ipam}
    if plugins:
        config = {"cniVersion": "0.3.1", "name": name, "plugins": [{"type": "tuning"}, config]}
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"config": json.dumps(config)}}


def allocate_all(ipam, owners):
    allocator = net_ipam.Allocator()
    return [allocator.addresses(ipam, owner) for owner in owners]


def test_host_local_subnet_skips_the_gateway_and_honours_the_range():
    ipam = net_ipam.parse_nad_ipam(nad({"type": "host-local", "subnet": "10.88.0.0/24"}))
    got = allocate_all(ipam, ["a", "b"])
    assert got == [["10.88.0.2"], ["10.88.0.3"]]
    ranged = net_ipam.parse_nad_ipam(nad({"type": "host-local", "subnet": "10.88.0.0/24", "rangeStart": "10.88.0.200",
                                          "rangeEnd": "10.88.0.201", "gateway": "10.88.0.200"}))
    got = allocate_all(ranged, ["a", "b"])
    assert got == [["10.88.0.201"], []]          # the gateway is never handed out; the range is exhausted


def test_host_local_ranges_give_one_address_per_range_set():
    ipam = net_ipam.parse_nad_ipam(nad({"type": "host-local", "ranges": [
        [{"subnet": "10.1.0.0/24"}], [{"subnet": "fd00:1::/64", "rangeStart": "fd00:1::10"}]]}))
    got = allocate_all(ipam, ["a"])
    assert got == [["10.1.0.2", "fd00:1::10"]]


def test_whereabouts_range_exclude_and_dash_form():
    ipam = net_ipam.parse_nad_ipam(nad({"type": "whereabouts", "range": "192.168.2.0/29",
                                        "exclude": ["192.168.2.0/30"]}))
    got = allocate_all(ipam, ["a", "b", "c", "d"])
    assert got == [["192.168.2.4"], ["192.168.2.5"], ["192.168.2.6"], []]
    dashed = net_ipam.parse_nad_ipam(nad({"type": "whereabouts", "range": "192.168.2.225-192.168.2.226/28"}))
    got = allocate_all(dashed, ["a", "b", "c"])
    assert got == [["192.168.2.225"], ["192.168.2.226"], []]
    bounded = net_ipam.parse_nad_ipam(nad({"type": "whereabouts", "range": "10.9.0.0/24", "range_start": "10.9.0.50"}))
    assert allocate_all(bounded, ["a"]) == [["10.9.0.50"]]


def test_whereabouts_pools_are_shared_by_nads_with_the_same_range():
    first = net_ipam.parse_nad_ipam(nad({"type": "whereabouts", "range": "10.5.0.0/24"}, name="one"))
    second = net_ipam.parse_nad_ipam(nad({"type": "whereabouts", "range": "10.5.0.0/24"}, name="two"))
    allocator = net_ipam.Allocator()
    assert allocator.addresses(first, "a") != allocator.addresses(second, "b")


def test_static_gives_the_written_addresses_to_everyone():
    addresses = [{"address": "10.10.0.5/24"}, {"address": "fd10::5/64"}]
    ipam = net_ipam.parse_nad_ipam(nad({"type": "static", "addresses": addresses}))
    got = allocate_all(ipam, ["a", "b"])
    assert got == [["10.10.0.5", "fd10::5"], ["10.10.0.5", "fd10::5"]]


@pytest.mark.parametrize("ipam", [{}, {"type": "dhcp"}, {"type": "host-local"}, {"type": "whereabouts"}])
def test_no_known_address_without_usable_ipam(ipam):
    assert net_ipam.parse_nad_ipam(nad(ipam)).empty


def test_malformed_or_missing_config_means_no_ipam():
    assert net_ipam.parse_nad_ipam(None).empty
    assert net_ipam.parse_nad_ipam({"metadata": {}, "spec": {"config": "{not json"}}).empty
    assert net_ipam.parse_nad_ipam(nad({"type": "host-local", "subnet": "not-a-cidr"})).empty


def test_conflist_uses_the_plugin_that_has_ipam():
    ipam = net_ipam.parse_nad_ipam(nad({"type": "host-local", "subnet": "10.3.0.0/24"}, plugins=True))
    assert allocate_all(ipam, ["a"]) == [["10.3.0.2"]]


def test_allocation_is_stable_per_owner_and_released():
    pool = net_ipam.Pool(("pods",), ipaddress.ip_network("10.244.0.0/16"), excluded=[ipaddress.ip_address("10.244.0.1")])
    allocator = net_ipam.Allocator()
    first = allocator.allocate(pool, ("pod", "u1"))
    assert first == "10.244.0.2" and allocator.allocate(pool, ("pod", "u1")) == first
    assert allocator.allocate(pool, ("pod", "u2")) == "10.244.0.3"
    allocator.release(lambda owner: owner == ("pod", "u1"))
    assert allocator.allocate(pool, ("pod", "u3")) == "10.244.0.2"
