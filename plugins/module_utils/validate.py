# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Input checks that run before any API request.

Every problem names the object, the field and what would be valid; all
problems of a run are collected and reported together, so a user fixes a
playbook in one pass.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Extended resource names: <domain>/<name>, as the device plugins register them.
RESOURCE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/"
                           r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")


class Problems(object):
    """Collects validation problems for one module run."""

    def __init__(self):
        self.items = []

    def add(self, where, field, message):
        self.items.append({"object": where, "field": field, "message": message})

    def __bool__(self):
        return bool(self.items)

    __nonzero__ = __bool__

    def __len__(self):
        return len(self.items)

    def render(self):
        lines = ["%s: %s: %s" % (p["object"], p["field"], p["message"]) for p in self.items]
        return "%d invalid input(s), nothing was changed:\n- %s" % (len(lines), "\n- ".join(lines))

    # ------------------------------------------------------------ checks
    def dns_subdomain(self, where, field, value, max_len=253):
        if not isinstance(value, str) or not value:
            self.add(where, field, "is required (a DNS-1123 name such as 'br-prod')")
            return False
        if len(value) > max_len or not DNS1123_SUBDOMAIN.match(value):
            self.add(where, field, "%r is not a valid name: use at most %d lowercase letters, digits, '-' and '.', "
                     "starting and ending with a letter or digit (e.g. 'br-prod')" % (value, max_len))
            return False
        return True

    def dns_label(self, where, field, value):
        if not isinstance(value, str) or not value:
            self.add(where, field, "is required (a DNS-1123 label such as 'vms')")
            return False
        if len(value) > 63 or not DNS1123_LABEL.match(value):
            self.add(where, field, "%r is not a valid DNS-1123 label: use at most 63 lowercase letters, digits "
                     "and '-', starting and ending with a letter or digit" % (value,))
            return False
        return True

    def int_range(self, where, field, value, low, high, hint=""):
        if value is None:
            return True
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(where, field, "%r is out of range: use an integer from %d to %d%s" % (value, low, high, hint))
            return False
        return True

    def resource_name(self, where, field, value):
        if value is None:
            return True
        if not RESOURCE_NAME.match(str(value)):
            self.add(where, field, "%r is not a resource name: use '<domain>/<name>' as the device plugin "
                     "registers it, e.g. 'openshift.io/intelnics'" % (value,))
            return False
        return True

    def mac(self, where, field, value):
        if value is None:
            return True
        if not MAC.match(str(value)):
            self.add(where, field, "%r is not a MAC address: use six hex pairs such as '02:00:00:00:00:01'"
                     % (value,))
            return False
        return True
