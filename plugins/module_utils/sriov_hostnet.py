# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Whether a PF carries the host's own network (its address or default route).

Changing a PF's VF count enables or disables SR-IOV, and some PF drivers
reset the whole PF to do so: i40e_pci_sriov_configure
(drivers/net/ethernet/intel/i40e/i40e_virtchnl_pf.c) calls
i40e_do_reset_safe() when it turns VEB mode on for the first VFs and again
when it frees the last ones.  On a PF that carries the node's address or
default route, the node drops off the network (and, on a cluster node, out of
the cluster) for the length of the reset, or for good when NetworkManager
does not bring the address back.

Read with iproute2's JSON output (``ip -j addr show``, ``ip -j route show``,
``ip -j -6 route show``; print_linkinfo/print_addrinfo in ip/ipaddress.c and
print_route in ip/iproute.c).  The PF counts together with every device
stacked on it: its bond or bridge (``master``, repeatedly) and VLAN/macvlan
devices on top of any of them (``link``)."""

import json
from typing import Dict, List, Optional, Set, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils.sriov_sysfs import CommandRunner

# addresses that are the host's: not loopback (host) or link-local (link) scope
GLOBAL_SCOPES = ("global", "site")


def _run_json(runner: CommandRunner, argv: List[str]) -> Optional[list]:
    rc, out, _err = runner.run(argv)
    if rc != 0:
        return None
    try:
        data = json.loads(out or "[]")
    except ValueError:
        return None
    return data if isinstance(data, list) else None


def read(runner: CommandRunner) -> Optional[Tuple[list, list]]:
    """(links with addr_info, IPv4 + IPv6 routes of the main table); None when ``ip`` cannot tell.  A kernel
    without IPv6 (ipv6.disable=1) refuses the IPv6 route dump ("Address family not supported by protocol"):
    then there are no IPv6 routes."""
    links = _run_json(runner, ["ip", "-j", "addr", "show"])
    routes4 = _run_json(runner, ["ip", "-j", "route", "show"])
    if links is None or routes4 is None:
        return None
    routes6 = _run_json(runner, ["ip", "-j", "-6", "route", "show"])
    return links, routes4 + (routes6 or [])


def stacked(links: List[dict], name: str) -> List[str]:
    """``name`` and every device on top of it: masters (bond, bridge, ...) and devices whose ``link`` is one
    of them (VLAN, macvlan), until nothing is added."""
    found: List[str] = [name]
    seen: Set[str] = {name}
    by_name: Dict[str, dict] = {str(link["ifname"]): link for link in links if link.get("ifname")}
    changed = True
    while changed:
        changed = False
        for link in links:
            ifname = link.get("ifname")
            upper = []
            if ifname in seen and link.get("master"):
                upper.append(link["master"])
            if ifname not in seen and link.get("link") in seen and \
                    (by_name.get(str(link["link"])) or {}).get("link") != ifname:  # a veth peer is no upper device
                upper.append(ifname)
            for item in upper:
                if item not in seen:
                    seen.add(item)
                    found.append(item)
                    changed = True
    return found


def carried(links: List[dict], routes: List[dict], name: str) -> List[str]:
    """What of the host's network runs over the netdev ``name``: ["address 192.0.2.10/24 (on br0)",
    "the default route via 192.0.2.1 (on br0)"]; [] when nothing."""
    devices = stacked(links, name)
    out: List[str] = []

    def where(dev: str) -> str:
        return "" if dev == name else " (on %s, which %s is part of)" % (dev, name)

    for link in links:
        dev = link.get("ifname")
        if dev not in devices:
            continue
        for addr in link.get("addr_info") or []:
            if addr.get("scope") in GLOBAL_SCOPES and addr.get("local"):
                out.append("address %s/%s%s" % (addr["local"], addr.get("prefixlen", "?"), where(dev)))
    for route in routes:
        if route.get("dst") != "default":
            continue
        hops = route.get("nexthops") or [route]
        for hop in hops:
            if hop.get("dev") in devices:
                via = " via %s" % hop["gateway"] if hop.get("gateway") else ""
                out.append("the default route%s%s" % (via, where(hop["dev"])))
    return out


def management_problem(runner: CommandRunner, pf_name: Optional[str], pf_address: str, current: int,
                       wanted: int) -> Optional[str]:
    """A message when changing the VF count from ``current`` to ``wanted`` would reset a PF that carries the
    host's network, or when ``ip`` cannot tell; None when it is safe."""
    if current == wanted or not pf_name:
        return None
    state = read(runner)
    what = "PF %s (%s)" % (pf_name, pf_address)
    if state is None:
        return ("%s: cannot tell whether the PF carries this host's address or default route ('ip -j addr show' "
                "and 'ip -j route show' failed): install iproute2, or set allow_management_pf: true if the PF "
                "may be reset" % what)
    found = carried(state[0], state[1], pf_name)
    if not found:
        return None
    return ("%s carries this host's network: %s. Changing its VF count (%d -> %d) enables or disables SR-IOV, "
            "and PF drivers such as i40e reset the PF to do that: the node would lose its network. Use another "
            "PF for VFs, or move the host's address and routes off it, or set allow_management_pf: true "
            "(sriov_host_pfs[].allow_management_pf in the sriov_host role) if a short outage is acceptable "
            "(out-of-band console at hand). Nothing was changed" % (what, "; ".join(found), current, wanted))
