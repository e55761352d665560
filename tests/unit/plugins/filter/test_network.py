import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubevirt_net.core.plugins.filter.network import FilterModule, ip_in_range, next_free_ip

NAD = {"spec": {"config": json.dumps({"cniVersion": "0.3.1", "type": "bridge", "bridge": "b", "ipam": {
    "type": "whereabouts", "range": "10.0.0.0/24", "range_start": "10.0.0.10", "range_end": "10.0.0.12"}})}}


def test_registered():
    assert set(FilterModule().filters()) == {"ip_in_range", "next_free_ip"}


@pytest.mark.parametrize("address,expected", [("10.0.0.10", True), ("10.0.0.12/24", True), ("10.0.0.13", False)])
def test_ip_in_range_of_a_nad(address, expected):
    assert ip_in_range(address, NAD) is expected


def test_ip_in_range_of_cidr_and_range():
    assert ip_in_range("192.168.1.7", "192.168.1.0/24")
    assert not ip_in_range("192.168.1.7", "192.168.1.8-192.168.1.9")


def test_next_free_ip_skips_used_addresses_and_vmi_interfaces():
    assert next_free_ip(NAD) == "10.0.0.10"
    assert next_free_ip(NAD, ["10.0.0.10", {"ipAddress": "10.0.0.11", "ipAddresses": ["10.0.0.11"]}]) == "10.0.0.12"
    assert next_free_ip(NAD, ["10.0.0.10", "10.0.0.11", "10.0.0.12"]) is None


@pytest.mark.parametrize("call", [lambda: ip_in_range("nope", NAD), lambda: ip_in_range("1.2.3.4", "bad/cidr/x"),
                                  lambda: next_free_ip(NAD, ["x.y"]), lambda: ip_in_range("1.2.3.4", 42)])
def test_bad_input_is_a_filter_error(call):
    with pytest.raises(AnsibleFilterError):
        call()
