# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Options shared by the kubevirt_net.core modules.

The connection options are kubernetes.core's own: modules list
``kubernetes.core.k8s_auth_options`` beside these fragments rather than a copy.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  api_retries:
    description:
      - How many times in all an API request is tried when the API server answers
        429 (too many requests) or 5xx, or when the connection fails for a request
        that is safe to repeat.
      - Waits grow exponentially between tries and honour C(Retry-After).
    type: int
    default: 5
"""

    WAIT = r"""
options:
  wait:
    description:
      - Wait until the cluster reports the change as done before returning.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait at most when O(wait=true).
    type: int
    default: 300
  wait_sleep:
    description:
      - Seconds between two status reads while waiting. One read covers every object the task waits for.
    type: float
    default: 1.0
"""
