# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The sets a NetworkPolicy evaluation works with: IP address sets (CIDRs
minus exceptions, pod IPs, both families) and merged port intervals."""


import ipaddress
from typing import Iterable, List, Tuple


class IPSet:
    """A set of addresses as sorted, merged intervals per IP version.

    Version 0 is a pseudo address space with the single point 0: the identity
    of a pod that has no IP yet (selectors can match it, ipBlocks cannot)."""

    def __init__(self, intervals: Iterable[Tuple[int, int, int]] = ()) -> None:
        merged: List[Tuple[int, int, int]] = []
        for version, start, end in sorted(intervals):
            if merged and merged[-1][0] == version and start <= merged[-1][2] + 1:
                if end > merged[-1][2]:
                    merged[-1] = (version, merged[-1][1], end)
            else:
                merged.append((version, start, end))
        self.intervals = tuple(merged)

    @classmethod
    def parse(cls, text: object) -> "IPSet":
        """An IP address or CIDR (host bits are ignored, as for ipBlock)."""
        net = ipaddress.ip_network(str(text).strip(), strict=False)
        return cls([(net.version, int(net.network_address), int(net.broadcast_address))])

    @classmethod
    def identity(cls) -> "IPSet":
        return cls([(0, 0, 0)])

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IPSet) and self.intervals == other.intervals

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.intervals)

    def union(self, other: "IPSet") -> "IPSet":
        return IPSet(self.intervals + other.intervals)

    def intersection(self, other: "IPSet") -> "IPSet":
        out = []
        for v1, s1, e1 in self.intervals:
            for v2, s2, e2 in other.intervals:
                if v1 == v2 and s1 <= e2 and s2 <= e1:
                    out.append((v1, max(s1, s2), min(e1, e2)))
        return IPSet(out)

    def difference(self, other: "IPSet") -> "IPSet":
        out = list(self.intervals)
        for v2, s2, e2 in other.intervals:
            nxt = []
            for v1, s1, e1 in out:
                if v1 != v2 or e1 < s2 or e2 < s1:
                    nxt.append((v1, s1, e1))
                    continue
                if s1 < s2:
                    nxt.append((v1, s1, s2 - 1))
                if e2 < e1:
                    nxt.append((v1, e2 + 1, e1))
            out = nxt
        return IPSet(out)

    def contains(self, other: "IPSet") -> bool:
        return not other.difference(self)

    def cidrs(self) -> List[str]:
        """The set as CIDR strings (the pseudo identity shows as 'pod')."""
        out = []
        for version, start, end in self.intervals:
            if version == 0:
                out.append("pod")
                continue
            cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
            out.extend(str(n) for n in ipaddress.summarize_address_range(cls(start), cls(end)))
        return out


def merge_ports(intervals: Iterable[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Merged, sorted port intervals."""
    merged: List[Tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def ports_text(intervals: Iterable[Tuple[int, int]]) -> str:
    return ",".join(str(s) if s == e else "%d-%d" % (s, e) for s, e in intervals)
