# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The module shell every kubevirt_net.core module shares: argument spec with
kubernetes.core's auth options, check mode, one API session, failures that
carry the API requests made (so a user sees that nothing was written)."""


import traceback
from typing import Any, Dict, NoReturn, Optional

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubevirt_net.core.plugins.module_utils.api import (
    HAS_K8S_CORE, ApiError, ApiSession, tls_message, tls_verify_error)
from ansible_collections.kubevirt_net.core.plugins.module_utils.args import argument_spec, option_error
from ansible_collections.kubevirt_net.core.plugins.module_utils.connection_hint import (
    is_config_error, missing_connection_message)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
except ImportError:  # pragma: no cover - reported below
    AnsibleK8SModule = None

try:
    import netaddr  # noqa: F401  pylint: disable=unused-import
    NETADDR_IMPORT_ERROR = None
except ImportError:  # pragma: no cover
    NETADDR_IMPORT_ERROR = traceback.format_exc()


def build_module(module_spec: Dict[str, Any], wait: bool = False, needs_netaddr: bool = False, **kwargs: Any) -> Any:
    """An AnsibleK8SModule (kubeconfig secrets redacted from logs) with the
    collection's common options; fails early on missing libraries."""
    kwargs.setdefault("supports_check_mode", True)
    spec = argument_spec(module_spec, wait=wait)
    if AnsibleK8SModule is None or not HAS_K8S_CORE:
        module = AnsibleModule(argument_spec=spec, **kwargs)
        module.fail_json(msg="the kubernetes.core collection (>= 6.0.0) is required by kubevirt_net.core")
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=spec, **kwargs)
    if needs_netaddr and NETADDR_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=NETADDR_IMPORT_ERROR)
    if option_error(module.params):
        module.fail_json(msg=option_error(module.params), api_requests={"total": 0, "writes": 0, "retries": 0})
    return module


class Run:
    """Per-run state: the lazily built API session and the request summary."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self._session: Optional[ApiSession] = None

    @property
    def session(self) -> ApiSession:
        if self._session is None:
            try:
                self._session = ApiSession(self.module)
            except Exception as exc:  # pylint: disable=broad-except
                tls = tls_verify_error(exc)  # kubernetes.core's client reads discovery first
                if tls is not None:
                    msg = tls_message(self.module.params.get("host"), tls)
                elif is_config_error(exc):  # no kubeconfig, host or service account found
                    msg = missing_connection_message(str(exc), self.module.params)
                else:
                    msg = "cannot connect to the Kubernetes API: %s" % exc
                self.module.fail_json(msg=msg, api_requests=self.api_requests())
        if self._session is None:
            raise AssertionError("fail_json does not return")
        return self._session

    def api_requests(self) -> Dict[str, int]:
        if self._session is None:
            return {"total": 0, "writes": 0, "retries": 0}
        return {"total": len(self._session.requests), "writes": self._session.write_count,
                "retries": self._session.retries}

    def fail(self, msg: str, **extra: Any) -> NoReturn:
        extra.setdefault("api_requests", self.api_requests())
        self.module.fail_json(msg=msg, **extra)
        raise AssertionError("fail_json returned")  # AnsibleModule.fail_json exits (sys.exit)

    def fail_api(self, err: ApiError, context: Optional[str] = None, **extra: Any) -> NoReturn:
        """Fail with an ``ApiError``: status, reason and the server's message,
        always (ApiError.report)."""
        report = err.report(context)
        for key in ("status", "reason", "message"):
            extra.setdefault(key, report[key])
        self.fail(report["msg"], **extra)

    def fail_problems(self, problems: Problems, **extra: Any) -> NoReturn:
        """Fail with the problems found before any write."""
        self.fail(problems.render(), problems=problems.items, **extra)

    def exit(self, **result: Any) -> NoReturn:
        result.setdefault("api_requests", self.api_requests())
        self.module.exit_json(**result)
        raise AssertionError("exit_json returned")  # AnsibleModule.exit_json exits (sys.exit)
