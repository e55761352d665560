# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""What to tell a user whose task found no cluster to talk to.

kubernetes.core's ``get_api_client`` (``k8s/client.py`` ``_create_configuration``)
looks, in this order, for: a host with credentials (options or ``K8S_AUTH_*``),
the ``kubeconfig`` option / ``K8S_AUTH_KUBECONFIG``, an in-cluster service
account, and the kubernetes client's default kubeconfig (``$KUBECONFIG``, else
``~/.kube/config``).  When that fails, the client says only "Invalid kube-config
file. No configuration found."; this says where it looked and how to point it
somewhere.  Paths and variable names only: never a token or a kubeconfig's
content.
"""

import os
from typing import Callable, Mapping, Optional

CREDENTIALS = (("api_key",), ("username", "password"), ("cert_file", "key_file"))


def _value(params: Mapping, environ: Mapping[str, str], name: str) -> Optional[object]:
    value = params.get(name)
    if value in (None, ""):
        value = environ.get("K8S_AUTH_" + name.upper()) or None
    return value


def _file(path: str, exists: Callable[[str], bool]) -> str:
    return "%s (%s)" % (path, "found" if exists(os.path.expanduser(path)) else "no such file")


def is_config_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is the kubernetes client's ConfigException."""
    seen = 0
    current: Optional[BaseException] = exc
    while current is not None and seen < 10:
        if type(current).__name__ == "ConfigException":
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def missing_connection_message(error: str, params: Mapping, environ: Optional[Mapping[str, str]] = None,
                               exists: Callable[[str], bool] = os.path.exists) -> str:
    """The message for a failed client configuration: ``error``, where the
    connection was looked for, and the ways to point the collection at a cluster."""
    environ = os.environ if environ is None else environ
    looked = []
    host = _value(params, environ, "host")
    if host:
        looked.append("host %s without api_key, username/password or cert_file/key_file" % host)
    else:
        looked.append("the host option and K8S_AUTH_HOST (not set)")
    kubeconfig = _value(params, environ, "kubeconfig")
    if isinstance(kubeconfig, dict):
        looked.append("the kubeconfig option (an inline kubeconfig)")
    elif kubeconfig:
        looked.append("the kubeconfig option / K8S_AUTH_KUBECONFIG: " + _file(str(kubeconfig), exists))
    else:
        looked.append("the kubeconfig option and K8S_AUTH_KUBECONFIG (not set)")
        looked.append("an in-cluster service account (%s)" % (
            "KUBERNETES_SERVICE_HOST is set" if environ.get("KUBERNETES_SERVICE_HOST")
            else "not in a pod: KUBERNETES_SERVICE_HOST not set"))
        if environ.get("KUBECONFIG"):
            paths = [p for p in environ["KUBECONFIG"].split(os.pathsep) if p]
            looked.append("KUBECONFIG: " + ", ".join(_file(p, exists) for p in paths))
        else:
            looked.append("the default kubeconfig (KUBECONFIG not set): " + _file("~/.kube/config", exists))
    context = _value(params, environ, "context")
    if context:
        looked.append("context %s" % context)
    return ("cannot connect to the Kubernetes API: %s. Looked at: %s. Point the collection at a cluster with "
            "kubeconfig: <path> (and context: <name>) on the task or in module_defaults "
            "(group/kubevirt_net.core.kubevirt_net), or export K8S_AUTH_KUBECONFIG=<path> (the lab: "
            "K8S_AUTH_KUBECONFIG=$PWD/.lab/kubeconfig after python -m lab up in the checkout), or give host "
            "and api_key (K8S_AUTH_HOST, K8S_AUTH_API_KEY)" % (error.rstrip("."), "; ".join(looked)))
