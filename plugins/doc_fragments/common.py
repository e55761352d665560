# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Options shared by the kubevirt_net.core modules.

The connection options are kubernetes.core's own: modules list
``kubernetes.core.k8s_auth_options`` beside these fragments rather than a copy.
"""


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  api_retries:
    description:
      - How many times an API request is retried after its first try when the API
        server answers 429 (too many requests) or 5xx, or when the connection fails
        for a request that is safe to repeat. V(0) tries once and never retries;
        the default V(4) makes at most 5 tries. Must be V(0) or more.
      - Waits grow exponentially between tries and honour C(Retry-After).
    type: int
    default: 4
  request_timeout:
    description:
      - How many seconds one API request may take, from connecting to the last byte of the answer. A request
        that gets no answer in time fails like a dropped connection - it is retried (O(api_retries)) when it is
        safe to repeat - so a hanging API server cannot block the task for ever. Must be more than 0.
      - The default is kube-apiserver's own C(--request-timeout), within which a healthy server answers or gives
        up. While a module waits (C(wait_timeout), C(restart_timeout)), each request and each retry is also cut to the time left.
      - kubernetes.core's modules have no such option, and the C(group/kubevirt_net.core.kubevirt_net) action group
        includes them; set O(request_timeout) on the task, or in C(module_defaults) under each module's name.
      - TLS certificate verification errors are never retried (they do not heal); the message names
        O(ca_cert) and O(validate_certs). O(validate_certs=false) adds a warning to the task.
    type: float
    default: 60
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
      - How many seconds to wait at most when O(wait=true). Must be more than 0 (not to wait, set O(wait=false)).
    type: int
    default: 300
  wait_sleep:
    description:
      - Seconds between two status reads while waiting, more than 0. One read covers every object the task waits
        for.
    type: float
    default: 1.0
"""
