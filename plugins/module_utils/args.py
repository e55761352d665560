# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Argument specs shared by the modules of this collection."""


from copy import deepcopy
from typing import Any, Dict, List, Mapping

from ansible_collections.kubevirt_net.core.plugins.module_utils.retry import DEFAULT_API_RETRIES, retries_error

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
except ImportError:  # pragma: no cover - the module reports the missing collection
    AUTH_ARG_SPEC = {}

WAIT_ARG_SPEC = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=300),
    wait_sleep=dict(type="float", default=1.0),
)

DEFAULT_REQUEST_TIMEOUT = 60  # api.DEFAULT_REQUEST_TIMEOUT (kube-apiserver's own --request-timeout)

API_ARG_SPEC = dict(
    api_retries=dict(type="int", default=DEFAULT_API_RETRIES),
    request_timeout=dict(type="float", default=DEFAULT_REQUEST_TIMEOUT),
)
# options in seconds that bound a wait: 0 or less would give up before the first look
TIMEOUT_OPTIONS = ("wait_timeout", "write_timeout", "request_timeout", "restart_timeout")
# options in seconds between two looks: 0 or less would poll without a pause
PAUSE_OPTIONS = ("wait_sleep", "restart_poll")


def option_problems(params: Mapping[str, Any]) -> List[str]:
    """Range checks of the shared options (the argument spec checks types
    only): ``api_retries`` >= 0, timeouts (``request_timeout`` and
    ``restart_timeout`` too) > 0, ``wait_sleep`` and ``restart_poll`` > 0.  Run by
    every module before its first request."""
    problems = []
    error = retries_error(params.get("api_retries"))
    if error:
        problems.append(error)
    for option in TIMEOUT_OPTIONS:
        value = params.get(option)
        if value is not None and value <= 0:
            hint = "; not to wait at all, set wait=false" if option == "wait_timeout" and "wait" in params else ""
            if option == "request_timeout":
                hint = " for one API request (default %d)" % DEFAULT_REQUEST_TIMEOUT
            problems.append("%s: %r is not a timeout: give the most seconds to wait, more than 0%s"
                            % (option, value, hint))
    for option in PAUSE_OPTIONS:
        if params.get(option) is not None and params[option] <= 0:
            problems.append("%s: %r must be more than 0 seconds (the pause between two status reads, "
                            "e.g. 1.0)" % (option, params[option]))
    return problems


def option_error(params: Mapping[str, Any]) -> str:
    """One message for ``option_problems`` (empty when there is none)."""
    problems = option_problems(params)
    if not problems:
        return ""
    return "%d invalid option(s), nothing was done:\n- %s" % (len(problems), "\n- ".join(problems))


def argument_spec(module_spec: Dict[str, Any], wait: bool = False) -> Dict[str, Any]:
    """The module's own options plus kubernetes.core's auth options (so
    ``module_defaults: group/kubevirt_net.core.kubevirt_net`` works) and the
    retry and request timeout options; ``wait=True`` adds wait/wait_timeout/wait_sleep."""
    spec = deepcopy(AUTH_ARG_SPEC)
    spec.update(deepcopy(API_ARG_SPEC))
    if wait:
        spec.update(deepcopy(WAIT_ARG_SPEC))
    spec.update(deepcopy(module_spec))
    return spec


# One value per interface binding across modules: the API's interface field names (bridge, masquerade, sriov,
# passtBinding).  KubeVirt v1.9.0 staging/src/kubevirt.io/api/core/v1/schema.go, InterfaceBindingMethod: the core
# passt binding is ``passtBinding``; the field ``passt`` is DeprecatedPasst, removed in KubeVirt 1.3.  The old
# value ``passt`` of kubevirt_vm_network is accepted until 2.0.0.
BINDING_VALUE_ALIASES = {"passt": "passtBinding"}
RENAMED_VALUES_REMOVED_IN = "2.0.0"


def rename_binding_values(module: Any, items: Any, field: str) -> None:
    """Replace deprecated binding values in ``items`` (dicts with a ``binding``
    key, changed in place) by their current name, with a deprecation warning
    naming ``field[index].binding``."""
    for index, item in enumerate(items or []):
        value = item.get("binding") if isinstance(item, dict) else None
        if value in BINDING_VALUE_ALIASES:
            new = BINDING_VALUE_ALIASES[value]
            module.deprecate("%s[%d].binding: the value %r is deprecated, write %r (the KubeVirt interface field "
                             "of the core passt binding)" % (field, index, value, new),
                             version=RENAMED_VALUES_REMOVED_IN, collection_name="kubevirt_net.core")
            item["binding"] = new
