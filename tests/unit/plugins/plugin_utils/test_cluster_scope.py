"""The one-cluster-per-host guard of the action plugins (no Ansible run, no network)."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.plugin_utils import cluster_scope as cs

EU = "https://api.prod-eu.example.com:6443"
US = "https://api.prod-us.example.com:6443"
CREDENTIAL_ENV = {"K8S_AUTH_HOST": EU, "K8S_AUTH_API_KEY": "eu-secret-token", "K8S_AUTH_VERIFY_SSL": "true"}


def found(args, env=None):
    return cs.problems("staging", 2, args, env or {})


def test_applies_only_to_plays_over_several_hosts():
    assert cs.multi_cluster(["a", "b"], False, False)
    assert not cs.multi_cluster(["a"], False, False)
    assert not cs.multi_cluster([], False, None)
    assert not cs.multi_cluster(["a", "b"], True, False)          # run_once: one cluster, one request set
    assert not cs.multi_cluster(["a", "b"], False, "true")        # kubevirt_net_shared_cluster
    assert cs.multi_cluster(["a", "b"], False, "no")


def test_a_host_without_endpoint_would_use_the_credential_of_another_cluster():
    problems = found({}, CREDENTIAL_ENV)
    assert "sets neither host nor context" in problems[0] and "K8S_AUTH_HOST" in problems[0]
    assert any("api_key is not set by the task" in p and "K8S_AUTH_API_KEY" in p for p in problems)
    assert any("validate_certs" in p and "K8S_AUTH_VERIFY_SSL" in p for p in problems)
    assert not any("eu-secret-token" in p for p in problems)


def test_a_host_without_endpoint_and_no_environment_would_use_the_default_kubeconfig():
    assert "the default kubeconfig" in found({})[0]


def test_own_host_without_own_token_would_send_the_environment_token():
    problems = found({"host": US}, CREDENTIAL_ENV)
    assert any("host is set but no credential" in p and "K8S_AUTH_API_KEY" in p for p in problems)
    assert "default kubeconfig's user" in found({"host": US})[0]


def test_own_host_and_token_with_every_identity_option_explicit_is_fine():
    args = {"host": US, "api_key": "us-token", "validate_certs": True, "ca_cert": None}
    assert found(args, CREDENTIAL_ENV) == []
    assert found({"host": US, "username": "u", "password": "p"}) == []
    assert found({"host": US, "cert_file": "/c", "key_file": "/k", "verify_ssl": False}) == []


def test_an_environment_ca_or_verify_setting_is_not_inherited():
    problems = found({"host": US, "api_key": "us-token"}, {"K8S_AUTH_SSL_CA_CERT": "/eu-ca.pem"})
    assert len(problems) == 1 and "ca_cert" in problems[0] and "K8S_AUTH_SSL_CA_CERT" in problems[0]


def test_the_environment_token_under_an_explicit_other_host_is_refused():
    problems = found({"host": US, "api_key": "eu-secret-token", "validate_certs": True}, CREDENTIAL_ENV)
    assert len(problems) == 1
    assert "api_key is the environment's K8S_AUTH_API_KEY" in problems[0] and US in problems[0]
    assert "eu-secret-token" not in problems[0]
    # the credential's own cluster may use its own token
    assert found({"host": EU + "/", "api_key": "eu-secret-token", "validate_certs": True}, CREDENTIAL_ENV) == []


def test_context_names_the_cluster_and_a_shared_kubeconfig_file_is_fine():
    assert found({"context": "prod-us"}, {"K8S_AUTH_KUBECONFIG": "/run/kubeconfig"}) == []
    assert found({"context": "prod-us", "kubeconfig": "/k"}) == []
    problems = found({"context": "prod-us"}, {"K8S_AUTH_API_KEY": "x"})
    assert len(problems) == 1 and "K8S_AUTH_API_KEY" in problems[0]   # would override the context's user


def test_kubeconfig_alone_names_no_cluster():
    assert "sets neither host nor context" in found({"kubeconfig": "/k"})[0]


def test_empty_values_count_as_not_set():
    assert "sets neither host nor context" in found({"host": "", "api_key": ""}, CREDENTIAL_ENV)[0]


def test_message_names_the_fix_and_the_opt_out():
    text = cs.message(found({}, CREDENTIAL_ENV))
    assert "nothing was sent to any cluster" in text and "docs/awx.md" in text and cs.SHARED_VAR in text


def test_every_kubernetes_core_identity_option_is_covered():
    args_common = pytest.importorskip("ansible_collections.kubernetes.core.plugins.module_utils.args_common")
    transport_only = {"proxy", "no_proxy", "proxy_headers", "persist_config"}
    assert set(args_common.AUTH_ARG_SPEC) - transport_only == set(cs.IDENTITY_ENV)
    for true_name, arg_name in args_common.AUTH_ARG_MAP.items():
        if arg_name in cs.IDENTITY_ENV:  # kubernetes.core reads K8S_AUTH_<arg> or K8S_AUTH_<true name>
            assert "K8S_AUTH_" + arg_name.upper() in cs.IDENTITY_ENV[arg_name]
            assert "K8S_AUTH_" + true_name.upper() in cs.IDENTITY_ENV[arg_name]
