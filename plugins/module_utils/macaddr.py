# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""MAC addresses: parsed exactly as KubeVirt parses them, plus the rule that
only a unicast address can be given to a NIC.

KubeVirt v1.9.0 checks ``macAddress`` with ``pkg/network/link/mac.go
ValidateMacAddress``: Go's ``net.ParseMAC`` (KubeVirt v1.9.0 builds with Go
1.26, ``go.mod``), then at most 6 bytes.  ``ParseMAC`` (``src/net/mac.go``)
takes 6-, 8- or 20-byte addresses written

- as hex pairs separated by ``:`` or by ``-``, one separator throughout
  (``02:00:00:00:00:01``, ``02-00-00-00-00-01``; mixed separators fail),
- as dot-separated groups of four hex digits (``0200.0000.0001``),
- as bare hex digits (``020000000001``; new in Go 1.26).

Upper and lower case hex are both accepted.  KubeVirt does not refuse a
multicast, broadcast or all-zero address; the guest NIC then cannot use it
(a NIC's own address must be unicast), so the modules refuse those before
writing.  An unquoted MAC in YAML 1.1 such as ``52:54:00:12:34:56`` is a
sexagesimal integer, not a string: that gets its own message.
"""


from typing import Optional

LENGTHS = (6, 8, 20)
HEX = b"0123456789abcdefABCDEF"
EXAMPLE = "02:00:00:00:00:01"


def _hex_pair(data: bytes, sep: Optional[int]) -> Optional[int]:
    """Go's ``xtoi2``: two hex digits, followed by ``sep`` unless the input
    ends there."""
    if len(data) > 2 and data[2] != sep:
        return None
    if len(data) < 2 or data[0] not in HEX or data[1] not in HEX:
        return None
    return int(data[:2], 16)


def parse(text: object) -> Optional[bytes]:
    """The bytes of ``text`` as Go's ``net.ParseMAC`` reads them, else None.
    A line-for-line port of ``src/net/mac.go`` (Go 1.26), on the UTF-8 bytes
    of the text as Go indexes them."""
    if not isinstance(text, str):
        return None
    data = text.encode("utf-8")
    size = len(data)
    if size < 12:
        return None
    out = []
    if data[2] in b":-":
        if (size + 1) % 3 != 0:
            return None
        count = (size + 1) // 3
        if count not in LENGTHS:
            return None
        for i in range(count):
            byte = _hex_pair(data[3 * i:], data[2])
            if byte is None:
                return None
            out.append(byte)
    elif data[4] == ord("."):
        if (size + 1) % 5 != 0:
            return None
        count = 2 * (size + 1) // 5
        if count not in LENGTHS:
            return None
        for i in range(0, count, 2):
            pos = 5 * (i // 2)
            first = _hex_pair(data[pos:pos + 2], None)
            second = _hex_pair(data[pos + 2:], ord("."))
            if first is None or second is None:
                return None
            out.extend((first, second))
    else:
        if size % 2 != 0:
            return None
        count = size // 2
        if count not in LENGTHS:
            return None
        for i in range(count):
            byte = _hex_pair(data[2 * i:2 * i + 2], None)
            if byte is None:
                return None
            out.append(byte)
    return bytes(out)


def canonical(value: object) -> str:
    """Lowercase colon form of a parsable MAC (for comparisons); any other
    value as a lowercase string with ``-`` turned into ``:``."""
    parsed = parse(value) if isinstance(value, str) else None
    if parsed is None:
        return str(value).lower().replace("-", ":")
    return ":".join("%02x" % b for b in bytearray(parsed))


def _sexagesimal(number: int) -> Optional[str]:
    """The six-group MAC YAML 1.1 read as ``number``, when there is one."""
    groups = []
    for _index in range(5):
        number, rest = divmod(number, 60)
        groups.append(rest)
    if not 1 <= number <= 99:
        return None
    return ":".join(["%d" % number] + ["%02d" % g for g in reversed(groups)])


def kubevirt_error(value: object) -> Optional[str]:
    """KubeVirt's own message for a ``macAddress`` (``link.ValidateMacAddress``),
    None when KubeVirt accepts it.  Empty means "no MAC" there."""
    if value in (None, ""):
        return None
    parsed = parse(value) if isinstance(value, str) else None
    if parsed is None:
        return "malformed MAC address (%s)" % (value,)
    if len(parsed) > 6:
        return "too long MAC address (%s)" % (value,)
    return None


def problem(value: object, option: str = "mac_address") -> Optional[str]:
    """Why ``value`` cannot be assigned to a NIC, naming ``option`` and the fix;
    None when it can (or when it is not given)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return "%r is not a MAC address: give a string such as %s=%r" % (value, option, EXAMPLE)
    if isinstance(value, int) or (value.isdigit() and len(value) < 12):
        guess = _sexagesimal(int(value)) if str(value).isdigit() else None
        return ("%s arrived as the number %s: YAML reads an unquoted MAC such as 52:54:00:12:34:56 as a "
                "sexagesimal integer; quote the MAC (%s: %r)"
                % (option, value, option, guess or EXAMPLE))
    parsed = parse(value)
    if parsed is None:
        return ("%r is not a MAC address: write six hex pairs with one separator throughout, e.g. %r, "
                "'02-00-00-00-00-01' or '0200.0000.0001' (KubeVirt parses it with Go's net.ParseMAC; mixed "
                "separators are refused)" % (value, EXAMPLE))
    if len(parsed) != 6:
        return ("%r is a %d-byte hardware address: a NIC's MAC has 6 bytes, e.g. %r"
                % (value, len(parsed), EXAMPLE))
    octets = bytearray(parsed)
    if all(b == 0xff for b in octets):
        return "%r is the broadcast address: a NIC needs a unicast MAC, e.g. %r" % (value, EXAMPLE)
    if octets[0] & 1:
        return ("%r is a multicast address (the lowest bit of the first octet, 0x%02x, is set): a NIC needs a "
                "unicast MAC; use an even first octet, e.g. %r (0x02 = locally administered)"
                % (value, octets[0], EXAMPLE))
    if not any(octets):
        return "%r is the all-zero address, which no NIC can use: choose another MAC, e.g. %r" % (value, EXAMPLE)
    return None
