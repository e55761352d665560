# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Argument specs shared by the modules of this collection."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from copy import deepcopy

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
except ImportError:  # pragma: no cover - the module reports the missing collection
    AUTH_ARG_SPEC = {}

WAIT_ARG_SPEC = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=300),
    wait_sleep=dict(type="float", default=1.0),
)

API_ARG_SPEC = dict(
    api_retries=dict(type="int", default=5),
)


def argument_spec(module_spec, wait=False):
    """The module's own options plus kubernetes.core's auth options (so
    ``module_defaults: group/kubevirt_net.core.kubevirt_net`` works) and the
    retry option; ``wait=True`` adds wait/wait_timeout/wait_sleep."""
    spec = deepcopy(AUTH_ARG_SPEC)
    spec.update(deepcopy(API_ARG_SPEC))
    if wait:
        spec.update(deepcopy(WAIT_ARG_SPEC))
    spec.update(deepcopy(module_spec))
    return spec
