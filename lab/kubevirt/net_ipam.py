"""IP addresses for the lab's pods and Multus networks: what the CNI IPAM
plugins named in a NetworkAttachmentDefinition's ``spec.config`` would hand
out.  KubeVirt reads none of this itself; the addresses reach
``VirtualMachineInstance.status.interfaces[]`` through the pod's
``k8s.v1.cni.cncf.io/network-status`` annotation.

- ``host-local``: ``subnet`` (+ ``rangeStart``/``rangeEnd``/``gateway``) or
  ``ranges`` (a list of range sets, one address from each); the gateway
  (default: the subnet's first address) is never handed out;
- ``whereabouts``: ``range`` as a CIDR or ``<start>-<end>[/<prefix>]``,
  ``range_start``/``range_end``, ``exclude`` CIDRs, or several ``ipRanges``;
  one address per range;
- ``static``: the ``addresses`` as written (every pod gets them);
- anything else (``dhcp``, no ``ipam``): no address is known.

Allocations are deterministic (lowest free address) and unique per pool;
whereabouts pools are cluster-wide per range, host-local ones per NAD (real
host-local is per node, which only matters for duplicate addresses).  The
standard library's ``ipaddress`` covers all of it, so netaddr is not needed.
"""

import ipaddress
import json
import threading


class Pool:
    """An address range: ``first``..``last`` minus ``excluded`` networks/addresses."""

    def __init__(self, key, network, first=None, last=None, excluded=()):
        self.key = key
        self.network = network
        self.first = first or _first_host(network)
        self.last = last or _last_host(network)
        self.excluded = list(excluded)

    def candidates(self):
        address = self.first
        while address <= self.last:
            if not any(address in ex if isinstance(ex, _NETWORKS) else address == ex for ex in self.excluded):
                yield str(address)
            address += 1


_NETWORKS = (ipaddress.IPv4Network, ipaddress.IPv6Network)


def _first_host(network):
    return network.network_address + (1 if network.num_addresses > 2 else 0)


def _last_host(network):
    offset = 1 if network.version == 4 and network.num_addresses > 2 else 0
    return network.broadcast_address - offset


class IPAM:
    """The parsed ``ipam`` of one NAD: fixed addresses or pools."""

    def __init__(self, static=(), pools=()):
        self.static = list(static)
        self.pools = list(pools)

    @property
    def empty(self):
        return not self.static and not self.pools


def parse_nad_ipam(nad):
    """IPAM of a NAD object (None or malformed config: no IPAM)."""
    namespace = ((nad or {}).get("metadata") or {}).get("namespace", "")
    name = ((nad or {}).get("metadata") or {}).get("name", "")
    try:
        config = json.loads(((nad or {}).get("spec") or {}).get("config") or "{}")
    except ValueError:
        return IPAM()
    for plugin in config.get("plugins") or [config]:
        ipam = plugin.get("ipam") or {}
        try:
            parsed = parse_ipam(ipam, "%s/%s" % (namespace, name))
        except (ValueError, TypeError, KeyError, IndexError):
            return IPAM()
        if not parsed.empty:
            return parsed
    return IPAM()


def parse_ipam(ipam, owner):
    kind = ipam.get("type")
    if kind == "static":
        return IPAM(static=[a["address"].split("/")[0] for a in ipam.get("addresses") or []])
    if kind == "host-local":
        range_sets = ipam.get("ranges") or ([[dict(ipam)]] if ipam.get("subnet") else [])
        return IPAM(pools=[_host_local_pool(owner, index, ranges[0]) for index, ranges in enumerate(range_sets)])
    if kind == "whereabouts":
        ranges = ipam.get("ipRanges") or ([ipam] if ipam.get("range") else [])
        return IPAM(pools=[_whereabouts_pool(ipam.get("network_name") or "", r) for r in ranges])
    return IPAM()


def _host_local_pool(owner, index, entry):
    network = ipaddress.ip_network(entry["subnet"], strict=False)
    gateway = ipaddress.ip_address(entry["gateway"]) if entry.get("gateway") else _first_host(network)
    first = ipaddress.ip_address(entry["rangeStart"]) if entry.get("rangeStart") else None
    last = ipaddress.ip_address(entry["rangeEnd"]) if entry.get("rangeEnd") else None
    return Pool(("host-local", owner, index, str(network)), network, first, last, excluded=[gateway])


def _whereabouts_pool(network_name, entry):
    text = entry["range"]
    first = last = None
    if "-" in text:
        span, _sep, prefix = text.partition("/")
        first, last = (ipaddress.ip_address(part) for part in span.split("-", 1))
        network = ipaddress.ip_network("%s/%s" % (first, prefix or _covering_prefix(first, last)), strict=False)
    else:
        network = ipaddress.ip_network(text, strict=False)
    if entry.get("range_start"):
        first = ipaddress.ip_address(entry["range_start"])
    if entry.get("range_end"):
        last = ipaddress.ip_address(entry["range_end"])
    excluded = [ipaddress.ip_network(cidr, strict=False) for cidr in entry.get("exclude") or []]
    return Pool(("whereabouts", network_name, str(network)), network, first, last, excluded)


def _covering_prefix(start, end):
    bits = 32 if start.version == 4 else 128
    return bits - (int(start) ^ int(end)).bit_length()


class Allocator:
    """Lab-wide allocations: pool key -> address -> owner.  Thread-safe."""

    def __init__(self):
        self._owners = {}
        self._lock = threading.Lock()

    def allocate(self, pool, owner):
        """The owner's address in ``pool`` (the same one on every call), or
        None when the pool is exhausted."""
        with self._lock:
            taken = self._owners.setdefault(pool.key, {})
            for address, holder in taken.items():
                if holder == owner:
                    return address
            for address in pool.candidates():
                if address not in taken:
                    taken[address] = owner
                    return address
        return None

    def addresses(self, ipam, owner):
        """All addresses an IPAM config gives ``owner`` (static ones as written)."""
        found = list(ipam.static)
        for pool in ipam.pools:
            address = self.allocate(pool, owner)
            if address:
                found.append(address)
        return found

    def release(self, owner_matches):
        """Free every address whose owner satisfies ``owner_matches(owner)``."""
        with self._lock:
            for taken in self._owners.values():
                for address in [a for a, holder in taken.items() if owner_matches(holder)]:
                    del taken[address]
