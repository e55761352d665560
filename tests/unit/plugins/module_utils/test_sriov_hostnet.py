"""sriov_hostnet: what of the host's network a PF carries, read from iproute2's JSON.

The JSON below is what iproute2 6.1 printed on a real kernel (a network namespace with a veth pair v0/v1,
v0 a port of bridge br0 that has the addresses and the default routes, and macvlan mv0 on v1), trimmed of
lifetimes; and the fake host's ``ip`` (tests/fakesysfs/netconf.py), driven through the module's code."""

import json

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import sriov_hostnet as h
from tests.fakesysfs import Kernel, KernelRunner, build_host

REAL_ADDR = json.loads("""[
 {"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN",
  "group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00",
  "addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo"},
               {"family":"inet6","local":"::1","prefixlen":128,"scope":"host"}]},
 {"ifindex":2,"link":"v0","ifname":"v1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue",
  "operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"da:1c:b8:2c:fd:35",
  "broadcast":"ff:ff:ff:ff:ff:ff",
  "addr_info":[{"family":"inet6","local":"fe80::d81c:b8ff:fe2c:fd35","prefixlen":64,"scope":"link","tentative":true}]},
 {"ifindex":3,"link":"v1","ifname":"v0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue",
  "master":"br0","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"12:11:a4:2f:63:38",
  "broadcast":"ff:ff:ff:ff:ff:ff",
  "addr_info":[{"family":"inet6","local":"fe80::1011:a4ff:fe2f:6338","prefixlen":64,"scope":"link","tentative":true}]},
 {"ifindex":4,"ifname":"br0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue",
  "operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"12:11:a4:2f:63:38",
  "broadcast":"ff:ff:ff:ff:ff:ff",
  "addr_info":[{"family":"inet","local":"10.0.0.2","prefixlen":24,"scope":"global","label":"br0"},
               {"family":"inet6","local":"fd00::2","prefixlen":64,"scope":"global","nodad":true},
               {"family":"inet6","local":"fe80::1011:a4ff:fe2f:6338","prefixlen":64,"scope":"link","tentative":true}]},
 {"ifindex":5,"link":"v1","ifname":"mv0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,
  "qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether",
  "address":"6a:57:41:bf:05:37","broadcast":"ff:ff:ff:ff:ff:ff",
  "addr_info":[{"family":"inet","local":"10.1.0.2","prefixlen":24,"scope":"global","label":"mv0"},
               {"family":"inet6","local":"fe80::6857:41ff:febf:537","prefixlen":64,"scope":"link","tentative":true}]}
]""")
REAL_ROUTES = json.loads("""[
 {"dst":"default","gateway":"10.0.0.1","dev":"br0","flags":[]},
 {"dst":"10.0.0.0/24","dev":"br0","protocol":"kernel","scope":"link","prefsrc":"10.0.0.2","flags":[]},
 {"dst":"10.1.0.0/24","dev":"mv0","protocol":"kernel","scope":"link","prefsrc":"10.1.0.2","flags":[]},
 {"dst":"10.9.0.0/16","flags":[],"nexthops":[{"gateway":"10.0.0.3","dev":"br0","weight":1,"flags":[]},
                                              {"gateway":"10.1.0.4","dev":"mv0","weight":1,"flags":[]}]},
 {"dst":"fd00::/64","dev":"br0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},
 {"dst":"fe80::/64","dev":"v1","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},
 {"dst":"default","gateway":"fd00::1","dev":"br0","metric":1024,"flags":[],"pref":"medium"}
]""")


def test_a_bridge_port_carries_the_bridges_addresses_and_default_routes():
    assert h.stacked(REAL_ADDR, "v0") == ["v0", "br0"]
    assert h.carried(REAL_ADDR, REAL_ROUTES, "v0") == [
        "address 10.0.0.2/24 (on br0, which v0 is part of)",
        "address fd00::2/64 (on br0, which v0 is part of)",
        "the default route via 10.0.0.1 (on br0, which v0 is part of)",
        "the default route via fd00::1 (on br0, which v0 is part of)"]


def test_a_macvlan_on_top_counts_and_link_local_addresses_and_veth_peers_do_not():
    # v1 carries mv0's address; its only own address is link-local; v0 is its veth peer, not on top of it
    assert h.stacked(REAL_ADDR, "v1") == ["v1", "mv0"]
    assert h.carried(REAL_ADDR, REAL_ROUTES, "v1") == ["address 10.1.0.2/24 (on mv0, which v1 is part of)"]


def test_a_multipath_default_route_through_the_pf_counts():
    routes = [{"dst": "default", "flags": [], "nexthops": [{"gateway": "10.1.0.4", "dev": "mv0", "weight": 1}]}]
    assert h.carried(REAL_ADDR, routes, "v1") == [
        "address 10.1.0.2/24 (on mv0, which v1 is part of)",
        "the default route via 10.1.0.4 (on mv0, which v1 is part of)"]


class Runner:
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def run(self, argv):
        self.calls.append(argv)
        return self.answers.get(" ".join(argv), (1, "", "unexpected"))


def test_management_problem_names_the_pf_what_it_carries_and_the_fix():
    runner = Runner({"ip -j addr show": (0, json.dumps(REAL_ADDR), ""),
                     "ip -j route show": (0, json.dumps(REAL_ROUTES[:4]), ""),
                     "ip -j -6 route show": (0, json.dumps(REAL_ROUTES[4:]), "")})
    message = h.management_problem(runner, "v0", "0000:3b:00.0", 0, 8)
    assert message.startswith("PF v0 (0000:3b:00.0) carries this host's network: address 10.0.0.2/24 (on br0")
    assert "(0 -> 8)" in message and "allow_management_pf: true" in message and "Nothing was changed" in message
    # no count change, or no netdev: nothing to ask ip about
    runner.calls = []
    assert h.management_problem(runner, "v0", "0000:3b:00.0", 8, 8) is None
    assert h.management_problem(runner, None, "0000:3b:00.0", 0, 8) is None
    assert runner.calls == []
    # a PF that carries nothing
    runner.answers["ip -j addr show"] = (0, json.dumps([dict(REAL_ADDR[1], link=None)]), "")
    assert h.management_problem(runner, "v1", "0000:3b:00.1", 4, 0) is None


@pytest.mark.parametrize("broken", ["ip -j addr show", "ip -j route show"])
def test_management_problem_refuses_when_ip_cannot_tell(broken):
    answers = {"ip -j addr show": (0, "[]", ""), "ip -j route show": (0, "[]", ""),
               "ip -j -6 route show": (0, "[]", "")}
    answers[broken] = (127, "", "ip: command not found")
    message = h.management_problem(Runner(answers), "ens1f0", "0000:3b:00.0", 0, 4)
    assert "cannot tell whether the PF carries" in message and "install iproute2" in message


def test_a_kernel_without_ipv6_has_no_ipv6_routes():
    links = [dict(REAL_ADDR[3], addr_info=REAL_ADDR[3]["addr_info"][:1]), REAL_ADDR[2]]
    answers = {"ip -j addr show": (0, json.dumps(links), ""), "ip -j route show": (0, json.dumps(REAL_ROUTES[:1]), ""),
               "ip -j -6 route show": (2, "", "RTNETLINK answers: Address family not supported by protocol\n")}
    message = h.management_problem(Runner(answers), "v0", "0000:3b:00.0", 0, 4)
    assert "address 10.0.0.2/24 (on br0" in message and "the default route via 10.0.0.1 (on br0" in message
    answers["ip -j addr show"] = (0, json.dumps([REAL_ADDR[1]]), "")
    answers["ip -j route show"] = (0, "[]", "")
    assert h.management_problem(Runner(answers), "v1", "0000:3b:00.1", 0, 4) is None


def test_the_fake_hosts_ip_through_the_same_code(tmp_path):
    build_host(str(tmp_path))
    kernel = Kernel(str(tmp_path))
    runner = KernelRunner(kernel)
    links, routes = h.read(runner)
    assert h.carried(links, routes, "eno1") == ["address 192.0.2.10/24", "address 2001:db8::10/64",
                                                "the default route via 192.0.2.1", "the default route via 2001:db8::1"]
    assert h.carried(links, routes, "ens1f0") == []
    # ens1f1 enslaved to bond0, with a VLAN on the bond carrying an address
    net = kernel.netconf()
    net.add_virtual("bond0", "bond")
    net.set_master("ens1f1", "bond0")
    net.add_virtual("bond0.100", "vlan", link="bond0")
    net.add_address("bond0.100", "198.51.100.7/24")
    links, routes = h.read(runner)
    assert h.carried(links, routes, "ens1f1") == ["address 198.51.100.7/24 (on bond0.100, which ens1f1 is part of)"]
    assert h.carried(links, routes, "ens1f0") == []
