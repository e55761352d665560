# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Input checks that run before any API request.

Every problem names the object, the field and what would be valid; all
problems of a run are collected and reported together, so a user fixes a
playbook in one pass.
"""


import re
from typing import Any, Dict, List, Optional

from ansible_collections.kubevirt_net.core.plugins.module_utils import macaddr

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Extended resource names: <domain>/<name>, as the device plugins register them.
RESOURCE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/"
                           r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
# k8s.io/apimachinery/pkg/util/validation IsQualifiedName / IsValidLabelValue
QUALIFIED_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Linux net/core/dev.c dev_valid_name: IFNAMSIZ is 16 bytes with the NUL, and
# the kernel's isspace() (lib/ctype.c) is true for 0x09-0x0d, 0x20 and 0xa0.
IFNAMSIZ = 16
KERNEL_SPACE = frozenset(b"\t\n\v\f\r \xa0")


def linux_ifname_error(value: Any) -> Optional[str]:
    """Why the kernel refuses ``value`` as a network device name, else None.

    Port of ``dev_valid_name`` (linux ``net/core/dev.c``): not empty, at most
    15 bytes, not ``.`` or ``..``, no ``/``, ``:`` or whitespace byte.  The
    kernel counts bytes, so a UTF-8 name is measured in bytes too."""
    if not isinstance(value, str) or not value:
        return "is required: the Linux interface name, e.g. 'br1'"
    data = value.encode("utf-8")
    if len(data) >= IFNAMSIZ:
        return ("%r is %d bytes long: Linux interface names have at most %d bytes (IFNAMSIZ), e.g. 'br1'"
                % (value, len(data), IFNAMSIZ - 1))
    if value in (".", ".."):
        return "%r is not a valid Linux interface name: '.' and '..' are refused by the kernel" % (value,)
    bad = sorted(set(chr(b) if b < 0x80 else "\\x%02x" % b for b in data if b in b"/:" or b in KERNEL_SPACE))
    if bad:
        return ("%r is not a valid Linux interface name: it contains %s; the kernel refuses '/', ':' and "
                "whitespace (use letters, digits, '-', '_' or '.', e.g. 'br1')"
                % (value, ", ".join(repr(c) for c in bad)))
    return None


def qualified_name_error(value: Any) -> Optional[str]:
    """Kubernetes ``IsQualifiedName`` (label and annotation keys): an optional
    DNS-1123 subdomain prefix (at most 253) and '/', then a name of at most 63
    alphanumerics, '-', '_' and '.', starting and ending alphanumeric."""
    if not isinstance(value, str) or not value:
        return "a key must be a non-empty string"
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix) or "/" in prefix):
        return ("%r has an invalid prefix %r: the part before '/' must be a DNS-1123 subdomain (lowercase, "
                "at most 253), e.g. 'example.com/tier'" % (value, prefix))
    if not name or len(name) > 63 or not QUALIFIED_NAME_PART.match(name):
        return ("%r is not a valid key: the name part must be at most 63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit (optionally prefixed 'example.com/')" % (value,))
    return None


def label_value_error(value: Any) -> Optional[str]:
    """Kubernetes ``IsValidLabelValue``: empty, or at most 63 alphanumerics,
    '-', '_' and '.', starting and ending alphanumeric."""
    if not isinstance(value, str):
        return "%r is not a string: quote label values (e.g. '8' or 'true')" % (value,)
    if value and (len(value) > 63 or not QUALIFIED_NAME_PART.match(value)):
        return ("%r is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and "
                "ending with a letter or digit" % (value,))
    return None


# Problems reported per (object, field): the first few, then one "and K more" entry.  400
# networks on one subnet make 79,800 overlap pairs; listing them all made a 16 MB message.
MAX_PER_FIELD = 5
# lines of the rendered message; the ``problems`` return value holds every reported entry
MAX_RENDERED = 100


class Problems:
    """Collects validation problems for one module run.

    Per object and field the first ``max_per_field`` problems are kept; the
    rest only counted, in one entry ``{"object", "field", "message": "... and
    K more ...", "omitted": K}`` (every distinct field of every object is
    still reported, so a user fixes a playbook in one pass).  ``len()`` and
    ``total`` count every problem found, omitted ones included."""

    def __init__(self, max_per_field: int = MAX_PER_FIELD) -> None:
        self.items: List[Dict[str, Any]] = []
        self.max_per_field = max_per_field
        self._kept: Dict[Any, int] = {}
        self._summary: Dict[Any, Dict[str, Any]] = {}

    def add(self, where: str, field: str, message: str) -> None:
        key = (where, field)
        if self._kept.get(key, 0) < self.max_per_field:
            self._kept[key] = self._kept.get(key, 0) + 1
            self.items.append({"object": where, "field": field, "message": message})
            return
        summary = self._summary.get(key)
        if summary is None:
            summary = self._summary[key] = {"object": where, "field": field, "omitted": 0}
            self.items.append(summary)
        summary["omitted"] += 1
        summary["message"] = "and %d more problem(s) of this field, not shown" % summary["omitted"]

    def full(self, where: str, field: str) -> bool:
        """Whether another problem of (where, field) would only be counted (so
        a caller may skip building its message)."""
        return self._kept.get((where, field), 0) >= self.max_per_field

    @property
    def total(self) -> int:
        """Every problem found, the omitted ones included."""
        return sum(p.get("omitted", 1) for p in self.items)

    @property
    def omitted(self) -> int:
        return sum(p.get("omitted", 0) for p in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return self.total

    def render(self, max_lines: int = MAX_RENDERED) -> str:
        """One message: the total, then at most ``max_lines`` entries."""
        shown_items, rest = self.items[:max_lines], self.items[max_lines:]
        lines = ["%s: %s: %s" % (p["object"], p["field"], p["message"]) for p in shown_items]
        if rest:
            lines.append("... and %d more problem(s) not listed here (see the problems return value)"
                         % sum(p.get("omitted", 1) for p in rest))
        total = self.total
        shown = sum(1 for p in shown_items if "omitted" not in p)
        head = "%d invalid input(s), nothing was changed" % total
        if shown < total:
            head += " (%d shown)" % shown
        return "%s:\n- %s" % (head, "\n- ".join(lines))

    # ------------------------------------------------------------ checks
    def dns_subdomain(self, where: str, field: str, value: Any, max_len: int = 253) -> bool:
        if not isinstance(value, str) or not value:
            self.add(where, field, "is required (a DNS-1123 name such as 'br-prod')")
            return False
        if len(value) > max_len or not DNS1123_SUBDOMAIN.match(value):
            self.add(where, field, "%r is not a valid name: use at most %d lowercase letters, digits, '-' and '.', "
                     "starting and ending with a letter or digit (e.g. 'br-prod')" % (value, max_len))
            return False
        return True

    def dns_label(self, where: str, field: str, value: Any) -> bool:
        if not isinstance(value, str) or not value:
            self.add(where, field, "is required (a DNS-1123 label such as 'vms')")
            return False
        if len(value) > 63 or not DNS1123_LABEL.match(value):
            self.add(where, field, "%r is not a valid DNS-1123 label: use at most 63 lowercase letters, digits "
                     "and '-', starting and ending with a letter or digit" % (value,))
            return False
        return True

    def int_range(self, where: str, field: str, value: Any, low: int, high: int, hint: str = "") -> bool:
        if value is None:
            return True
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(where, field, "%r is out of range: use an integer from %d to %d%s" % (value, low, high, hint))
            return False
        return True

    def resource_name(self, where: str, field: str, value: Any) -> bool:
        if value is None:
            return True
        if not RESOURCE_NAME.match(str(value)):
            self.add(where, field, "%r is not a resource name: use '<domain>/<name>' as the device plugin "
                     "registers it, e.g. 'openshift.io/intelnics'" % (value,))
            return False
        return True

    def mac(self, where: str, field: str, value: Any) -> bool:
        """A MAC a NIC can be given: Go's net.ParseMAC (what KubeVirt runs),
        6 bytes, unicast, not all-zero (see macaddr.py)."""
        message = macaddr.problem(value, field)
        if message:
            self.add(where, field, message)
            return False
        return True

    def linux_ifname(self, where: str, field: str, value: Any) -> bool:
        if value is None:
            return True
        message = linux_ifname_error(value)
        if message:
            self.add(where, field, message)
            return False
        return True

    def labels(self, where: str, field: str, value: Any, values: bool = True) -> bool:
        """Keys are qualified names; with ``values``, label values too."""
        if value is None:
            return True
        if not isinstance(value, dict):
            self.add(where, field, "must be a dict of key: value")
            return False
        ok = True
        for key in value:
            message = qualified_name_error(key)
            if message:
                self.add(where, "%s.%s" % (field, key), message)
                ok = False
                continue
            message = label_value_error(value[key]) if values else (
                None if isinstance(value[key], str) else "%r is not a string: quote the value" % (value[key],))
            if message:
                self.add(where, "%s.%s" % (field, key), message)
                ok = False
        return ok
