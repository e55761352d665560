# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""One cluster per inventory host: the guard every API module's action plugin runs.

How a module finds its cluster (kubernetes.core ``get_api_client``): each
auth option the task sets wins; every option it does not set is read from
``K8S_AUTH_<OPTION>`` in the module's environment; with no host+credential
and no kubeconfig/context, the default kubeconfig (``$KUBECONFIG`` or
``~/.kube/config``) is loaded.  The environment is the job's, shared by every
host of the play - in AWX, an attached credential's injector puts one
cluster's ``K8S_AUTH_HOST``/``K8S_AUTH_API_KEY`` there.

So in a play over several cluster hosts, a host without its own endpoint
silently talks to the environment's cluster, and a host with its own
``host`` but no ``api_key`` sends the environment's token to its cluster.

The rule enforced here, before the module runs (so before any API request),
when the play has more than one host (``ansible_play_hosts_all``), the task
is not ``run_once`` and ``kubevirt_net_shared_cluster`` is not true:

1. the task names its cluster itself (``module_defaults`` count): ``host``,
   or ``context``;
2. with ``host`` (and no ``context``) it brings its own credential:
   ``api_key``, ``username`` + ``password``, or ``client_cert`` +
   ``client_key`` - otherwise the default kubeconfig's user would be sent;
3. no option that locates or authenticates a cluster comes from a
   ``K8S_AUTH_*`` variable (one exception: ``K8S_AUTH_KUBECONFIG`` beside an
   explicit ``context``, which names the cluster and carries its own user);
4. an explicit ``api_key`` equal to ``K8S_AUTH_API_KEY`` is refused when
   the task's ``host`` is not ``K8S_AUTH_HOST``: that token belongs to
   another cluster.

Values of secrets are never put into messages, only the names of options
and variables.
"""


import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action.normal import ActionModule as NormalAction

from ansible_collections.kubevirt_net.core.plugins.plugin_utils import role_fields

SHARED_VAR = "kubevirt_net_shared_cluster"

# option -> the environment variables kubernetes.core reads when the task does not set it
IDENTITY_ENV = {
    "host": ("K8S_AUTH_HOST",),
    "api_key": ("K8S_AUTH_API_KEY",),
    "username": ("K8S_AUTH_USERNAME",),
    "password": ("K8S_AUTH_PASSWORD",),
    "client_cert": ("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"),
    "client_key": ("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"),
    "ca_cert": ("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"),
    "validate_certs": ("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"),
    "kubeconfig": ("K8S_AUTH_KUBECONFIG",),
    "context": ("K8S_AUTH_CONTEXT",),
    "impersonate_user": ("K8S_AUTH_IMPERSONATE_USER",),
    "impersonate_groups": ("K8S_AUTH_IMPERSONATE_GROUPS",),
}
ALIASES = {"verify_ssl": "validate_certs", "ssl_ca_cert": "ca_cert", "cert_file": "client_cert",
           "key_file": "client_key"}
CREDENTIALS = (("api_key",), ("username", "password"), ("client_cert", "client_key"))
FIX = ("give every host its own cluster in its host variables (k8s_api_host + k8s_api_token [+ k8s_ca_cert_file], "
       "or kube_context) mapped by module_defaults - see docs/awx.md section 3 - or, if every host of this play "
       "deliberately uses the same cluster, set %s: true" % SHARED_VAR)


def _given(args: Mapping[str, Any]) -> Dict[str, Any]:
    """The auth options the task sets (aliases folded, empty values dropped)."""
    out = {}
    for key, value in args.items():
        key = ALIASES.get(key, key)
        if key in IDENTITY_ENV and value not in (None, "", [], {}):
            out[key] = value
    return out


def _env_set(env: Mapping[str, Any], names: Sequence[str]) -> List[str]:
    return [name for name in names if env.get(name) not in (None, "")]


def multi_cluster(play_hosts: Optional[Sequence[str]], run_once: bool, shared: Any) -> bool:
    """Whether the one-cluster-per-host rule applies to this task."""
    return len(play_hosts or []) > 1 and not run_once and not boolean(shared or False, strict=False)


def problems(inventory_host: str, play_host_count: int, args: Mapping[str, Any],
             env: Mapping[str, Any]) -> List[str]:
    """Why this host's task could reach a cluster that is not its own (empty = fine)."""
    given = _given(args)
    where = "host %s (one of %d hosts in this play)" % (inventory_host, play_host_count)
    named = "host" in given or "context" in given
    by_host = "host" in given and "context" not in given
    credential = any(all(k in given for k in combo) for combo in CREDENTIALS)
    found = []
    if not named:
        fallback = _env_set(env, IDENTITY_ENV["host"]) or _env_set(env, IDENTITY_ENV["context"])
        found.append("%s: the task sets neither host nor context, so its cluster would come from %s, the same for "
                     "every host of the play" % (where, "the environment (%s)" % ", ".join(fallback) if fallback
                                                 else "the default kubeconfig"))
    elif by_host and not credential:
        from_env = _env_set(env, IDENTITY_ENV["api_key"])
        found.append("%s: host is set but no credential (api_key, username + password, or client_cert + "
                     "client_key), so the credential would come from %s" % (
                         where, "the environment (%s)" % ", ".join(from_env) if from_env
                         else "the default kubeconfig's user"))
    for option, names in sorted(IDENTITY_ENV.items()):
        if option in given:
            continue
        if not named and option in ("host", "context"):
            continue  # reported above
        if by_host and not credential and option == "api_key":
            continue  # reported above
        if by_host and credential and option in ("kubeconfig", "context"):
            continue  # host + credential: kubernetes.core loads no kubeconfig
        if option == "kubeconfig" and "context" in given:
            continue  # one kubeconfig file for all; the task's context names the cluster and its user
        for name in _env_set(env, names):
            found.append("%s: %s is not set by the task, so it would come from the environment's %s, which is the "
                         "same for every host" % (where, option, name))
    env_key, env_host = env.get("K8S_AUTH_API_KEY"), env.get("K8S_AUTH_HOST")
    if env_key and given.get("api_key") == env_key and given.get("host") and \
            str(given["host"]).rstrip("/") != str(env_host or "").rstrip("/"):
        found.append("%s: api_key is the environment's K8S_AUTH_API_KEY, the token of %s, but this host's cluster "
                     "is %s" % (where, "K8S_AUTH_HOST=%s" % env_host if env_host else "another cluster",
                                given["host"]))
    return found


def message(found: List[str]) -> str:
    return ("kubevirt_net.core: refusing to connect, nothing was sent to any cluster - in a play over several "
            "cluster hosts each host must bring its own cluster endpoint and credential:\n- %s\nFix: %s"
            % ("\n- ".join(found), FIX))


class ClusterScopedAction(NormalAction):
    """The normal module action, after the one-cluster-per-host check; inside a
    role, a failure names the role's variables (plugin_utils/role_fields.py)."""

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        play_hosts = self._templar.template(task_vars.get("ansible_play_hosts_all") or [])
        shared = self._templar.template(task_vars.get(SHARED_VAR, False))
        if multi_cluster(play_hosts, bool(self._task.run_once), shared):
            env = {}  # type: Dict[str, Any]
            self._compute_environment_string(env)  # the task's `environment:`
            if getattr(self._connection, "transport", None) == "local":
                env = dict(os.environ, **env)  # a local module inherits the controller's environment
            found = problems(task_vars.get("inventory_hostname", "?"), len(play_hosts), self._task.args, env)
            if found:
                return {"failed": True, "changed": False, "msg": message(found), "cluster_scope_problems": found,
                        "api_requests": {"total": 0, "writes": 0, "retries": 0}}
        result = super(ClusterScopedAction, self).run(tmp, task_vars)
        if result.get("failed") and getattr(self._task, "_role", None) is not None:
            raw = role_fields.raw_module_args(self._task.get_ds(), self._task.args)
            result = role_fields.rename_fields(result, role_fields.option_variables(raw))
        return result
