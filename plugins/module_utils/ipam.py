# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""IPAM for NetworkAttachmentDefinitions: checked with netaddr, rendered as
the CNI IPAM plugins expect it (host-local, whereabouts, static, dhcp), and
read back from any CNI config to know which addresses a network hands out."""


from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_NETADDR = False

IPAM_TYPES = ("none", "host-local", "whereabouts", "static", "dhcp")
RANGE_KEYS = ("subnet", "range_start", "range_end", "gateway", "exclude")


def ranges_of(ipam: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The ranges of an ``ipam`` option: the top-level shorthand first, then ``ranges``."""
    ranges: List[Dict[str, Any]] = []
    if ipam.get("subnet") or any(ipam.get(k) for k in ("range_start", "range_end", "gateway", "exclude")):
        ranges.append(dict((k, ipam.get(k)) for k in RANGE_KEYS))
    ranges.extend(ipam.get("ranges") or [])
    return ranges


def parse_address(problems: Problems, where: str, field: str, value: Any,
                  version: Optional[int] = None) -> Optional["netaddr.IPAddress"]:
    try:
        addr = netaddr.IPAddress(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        problems.add(where, field, "%r is not an IP address" % (value,))
        return None
    if version and addr.version != version:
        problems.add(where, field, "%s is IPv%d but the subnet is IPv%d" % (addr, addr.version, version))
        return None
    return addr


def parse_network(problems: Problems, where: str, field: str, value: Any,
                  strict: bool = True) -> Optional["netaddr.IPNetwork"]:
    try:
        net = netaddr.IPNetwork(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        problems.add(where, field, "%r is not a CIDR: write it like '192.168.10.0/24' or 'fd00:10::/64'" % (value,))
        return None
    if "/" not in str(value):
        problems.add(where, field, "%r has no prefix length: write it like '%s/24'" % (value, value))
        return None
    if strict and net.ip != net.network:
        problems.add(where, field, "%s has host bits set: did you mean %s?" % (value, net.cidr))
        return None
    return net


def usable_bounds(net: "netaddr.IPNetwork") -> Tuple["netaddr.IPAddress", "netaddr.IPAddress"]:
    """First and last assignable address of a subnet (IPv4 skips network/broadcast)."""
    if net.version == 4 and net.prefixlen <= 30:
        return netaddr.IPAddress(net.first + 1), netaddr.IPAddress(net.last - 1)
    if net.version == 6 and net.prefixlen <= 126:
        return netaddr.IPAddress(net.first + 1, 6), netaddr.IPAddress(net.last, 6)
    return netaddr.IPAddress(net.first, net.version), netaddr.IPAddress(net.last, net.version)


def check_ipam(problems: Problems, where: str, ipam: Dict[str, Any]) -> Optional["netaddr.IPSet"]:
    """Validate an ``ipam`` option dict; returns the allocatable IPSet (or None)."""
    kind = ipam.get("type") or "none"
    field = "ipam"
    ranges = ranges_of(ipam)
    if kind in ("none", "dhcp"):
        for key in ("subnet", "range_start", "range_end", "gateway", "exclude", "ranges", "addresses"):
            if ipam.get(key):
                problems.add(where, "%s.%s" % (field, key), "is not used with ipam type %r: choose type "
                             "host-local, whereabouts or static to give addresses" % kind)
        return netaddr.IPSet() if HAS_NETADDR else None
    if kind == "static":
        return _check_static(problems, where, ipam)
    if not ranges:
        problems.add(where, "ipam.subnet", "is required for ipam type %r (e.g. '192.168.10.0/24')" % kind)
        return None
    pools = netaddr.IPSet()
    for index, rng in enumerate(ranges):
        prefix = "ipam" if index == 0 and ipam.get("subnet") else "ipam.ranges[%d]" % (
            index - (1 if ipam.get("subnet") else 0))
        pool = _check_range(problems, where, prefix, rng, kind)
        if pool is None:
            continue
        overlap = pools & pool
        if overlap:
            problems.add(where, prefix, "overlaps another range of the same network at %s" % _describe(overlap))
        pools |= pool
    for index, route in enumerate(ipam.get("routes") or []):
        parse_network(problems, where, "ipam.routes[%d].dst" % index, route.get("dst"), strict=False)
        if route.get("gw"):
            parse_address(problems, where, "ipam.routes[%d].gw" % index, route["gw"])
    return pools


def _check_range(problems: Problems, where: str, prefix: str, rng: Dict[str, Any], kind: str) -> Optional["netaddr.IPSet"]:
    if not rng.get("subnet"):
        problems.add(where, prefix + ".subnet", "is required for each range (e.g. '192.168.10.0/24')")
        return None
    net = parse_network(problems, where, prefix + ".subnet", rng["subnet"])
    if net is None:
        return None
    first, last = usable_bounds(net)
    start = end = None
    if rng.get("range_start"):
        start = parse_address(problems, where, prefix + ".range_start", rng["range_start"], net.version)
        if start is not None and not first <= start <= last:
            problems.add(where, prefix + ".range_start", "%s is outside the usable addresses of %s (%s-%s)"
                         % (start, net, first, last))
            start = None
    if rng.get("range_end"):
        end = parse_address(problems, where, prefix + ".range_end", rng["range_end"], net.version)
        if end is not None and not first <= end <= last:
            problems.add(where, prefix + ".range_end", "%s is outside the usable addresses of %s (%s-%s)"
                         % (end, net, first, last))
            end = None
    start = start if start is not None else first
    end = end if end is not None else last
    if start > end:
        problems.add(where, prefix + ".range_start", "%s is after range_end %s: swap them" % (start, end))
        return None
    pool = netaddr.IPSet(netaddr.IPRange(start, end))
    for index, cidr in enumerate(rng.get("exclude") or []):
        excluded = parse_network(problems, where, "%s.exclude[%d]" % (prefix, index), cidr, strict=False)
        if excluded is None:
            continue
        if excluded not in net:
            problems.add(where, "%s.exclude[%d]" % (prefix, index), "%s is not inside the subnet %s"
                         % (cidr, net))
            continue
        pool.remove(excluded)
    if rng.get("gateway"):
        gateway = parse_address(problems, where, prefix + ".gateway", rng["gateway"], net.version)
        if gateway is not None and gateway not in net:
            problems.add(where, prefix + ".gateway", "%s is not inside the subnet %s" % (gateway, net))
        elif gateway is not None and kind == "whereabouts" and gateway in pool:
            problems.add(where, prefix + ".gateway", "%s is inside the range whereabouts allocates from (%s): "
                         "add '%s/%d' to exclude, or start the range after it"
                         % (gateway, _describe(pool), gateway, 32 if gateway.version == 4 else 128))
        elif gateway is not None and kind == "host-local":
            pool.remove(gateway)  # host-local never hands out the gateway
    if not pool:
        problems.add(where, prefix, "leaves no address to allocate: widen the range or exclude less")
    return pool


def _check_static(problems: Problems, where: str, ipam: Dict[str, Any]) -> "netaddr.IPSet":
    pools = netaddr.IPSet()
    addresses = ipam.get("addresses") or []
    if not addresses:
        problems.add(where, "ipam.addresses", "is required for ipam type 'static' "
                     "(e.g. [{address: '192.168.10.5/24', gateway: '192.168.10.1'}])")
    for index, entry in enumerate(addresses):
        field = "ipam.addresses[%d]" % index
        iface = parse_network(problems, where, field + ".address", entry.get("address"), strict=False)
        if iface is None:
            continue
        if iface.ip == iface.network and iface.prefixlen < (31 if iface.version == 4 else 127):
            problems.add(where, field + ".address", "%s is the network address of its subnet: "
                         "use a host address such as %s" % (iface, netaddr.IPAddress(iface.first + 1)))
        if entry.get("gateway"):
            gateway = parse_address(problems, where, field + ".gateway", entry["gateway"], iface.version)
            if gateway is not None and gateway not in iface.cidr:
                problems.add(where, field + ".gateway", "%s is not inside %s" % (gateway, iface.cidr))
        if iface.ip in pools:
            problems.add(where, field + ".address", "%s is listed twice" % iface.ip)
        pools.add(iface.ip)
    for key in ("subnet", "range_start", "range_end", "exclude", "ranges"):
        if ipam.get(key):
            problems.add(where, "ipam." + key, "is not used with ipam type 'static': list the addresses instead")
    return pools


def _describe(ipset: "netaddr.IPSet") -> str:
    parts = [str(rng[0]) if rng.size == 1 else "%s-%s" % (rng[0], rng[-1]) for rng in ipset.iter_ipranges()]
    return ", ".join(parts[:4]) + (", ..." if len(parts) > 4 else "")


# --------------------------------------------------------------- rendering
def render_ipam(ipam: Dict[str, Any]) -> Dict[str, Any]:
    """The CNI ``ipam`` object for a validated option dict (deterministic)."""
    kind = ipam.get("type") or "none"
    if kind == "none":
        return {}
    if kind == "dhcp":
        return {"type": "dhcp"}
    routes = [dict((k, v) for k, v in (("dst", r.get("dst")), ("gw", r.get("gw"))) if v)
              for r in ipam.get("routes") or []]
    out: Dict[str, Any]
    if kind == "static":
        out = {"type": "static", "addresses": [
            dict((k, v) for k, v in (("address", a["address"]), ("gateway", a.get("gateway"))) if v)
            for a in ipam.get("addresses") or []]}
    elif kind == "host-local":
        out = {"type": "host-local", "ranges": [[_host_local_range(r)] for r in ranges_of(ipam)]}
    else:  # whereabouts
        ranges = [_whereabouts_range(r) for r in ranges_of(ipam)]
        out = {"type": "whereabouts"}
        if len(ranges) == 1:
            out.update(ranges[0])
        else:
            out["ipRanges"] = ranges
        gateways = [r.get("gateway") for r in ranges_of(ipam) if r.get("gateway")]
        if gateways:
            out["gateway"] = gateways[0]
    if routes:
        out["routes"] = routes
    return out


def _host_local_range(rng: Dict[str, Any]) -> Dict[str, Any]:
    out = {"subnet": rng["subnet"]}
    for key, cni in (("range_start", "rangeStart"), ("range_end", "rangeEnd"), ("gateway", "gateway")):
        if rng.get(key):
            out[cni] = rng[key]
    return out


def _whereabouts_range(rng: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"range": rng["subnet"]}
    for key in ("range_start", "range_end"):
        if rng.get(key):
            out[key] = rng[key]
    if rng.get("exclude"):
        out["exclude"] = list(rng["exclude"])
    return out


# ------------------------------------------------------------------ reading
def pools_from_cni(config: Dict[str, Any]) -> "netaddr.IPSet":
    """The addresses a CNI config's IPAM can hand out (IPSet), from a parsed
    config of any NAD (ours or not).  Unknown shapes give an empty set."""
    pools = netaddr.IPSet()
    for plugin in config.get("plugins") or [config]:
        ipam = plugin.get("ipam") or {}
        try:
            pools |= _pools_of_ipam(ipam)
        except (netaddr.AddrFormatError, ValueError, TypeError, KeyError, AttributeError):
            continue
    return pools


def _span(subnet: str, start: Optional[str] = None, end: Optional[str] = None, gateway: Optional[str] = None,
          excludes: Optional[Iterable[str]] = (), skip_gateway: bool = False) -> "netaddr.IPSet":
    net = netaddr.IPNetwork(subnet)
    first, last = usable_bounds(net)
    pool = netaddr.IPSet(netaddr.IPRange(netaddr.IPAddress(start) if start else first,
                                         netaddr.IPAddress(end) if end else last))
    for cidr in excludes or ():
        pool.remove(netaddr.IPNetwork(cidr))
    if gateway and skip_gateway:
        pool.remove(netaddr.IPAddress(gateway))
    return pool


def _pools_of_ipam(ipam: Dict[str, Any]) -> "netaddr.IPSet":
    kind = ipam.get("type")
    pools = netaddr.IPSet()
    if kind == "host-local":
        sets = ipam.get("ranges") or []
        if ipam.get("subnet"):
            sets = [[{"subnet": ipam["subnet"], "rangeStart": ipam.get("rangeStart"),
                      "rangeEnd": ipam.get("rangeEnd"), "gateway": ipam.get("gateway")}]]
        for range_set in sets:
            for rng in range_set:
                pools |= _span(rng["subnet"], rng.get("rangeStart"), rng.get("rangeEnd"), rng.get("gateway"),
                               skip_gateway=True)
    elif kind == "whereabouts":
        ranges = list(ipam.get("ipRanges") or [])
        if ipam.get("range"):
            ranges.insert(0, ipam)
        for rng in ranges:
            subnet = rng["range"]
            if "-" in subnet.split("/")[0]:  # "10.0.0.10-10.0.0.20/24" form
                span, prefix = subnet.split("/")
                start, end = span.split("-")
                subnet = str(netaddr.IPNetwork("%s/%s" % (start, prefix)).cidr)
                rng = dict(rng, range_start=start, range_end=end)
            pools |= _span(subnet, rng.get("range_start"), rng.get("range_end"), excludes=rng.get("exclude"))
    elif kind == "static":
        for entry in ipam.get("addresses") or []:
            pools.add(netaddr.IPNetwork(entry["address"]).ip)
    return pools


def describe_pools(pools: "netaddr.IPSet") -> str:
    return _describe(pools)
