"""The message a task gives when it finds no cluster: where it looked and how to
point the collection at one (plugins/module_utils/connection_hint.py), through
the real kubernetes.core client construction (module.Run.session)."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import module as module_shell
from ansible_collections.kubevirt_net.core.plugins.module_utils.connection_hint import (
    is_config_error, missing_connection_message)

AUTH_VARS = ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY", "K8S_AUTH_CONTEXT",
             "K8S_AUTH_USERNAME", "K8S_AUTH_PASSWORD", "K8S_AUTH_CERT_FILE", "K8S_AUTH_KEY_FILE",
             "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")


class Failed(Exception):
    pass


class FakeModule:
    """What kubernetes.core's get_api_client and module.Run use of a module."""

    check_mode = False
    server_side_dry_run = False

    def __init__(self, **params):
        self.params = dict({"kubeconfig": None, "context": None, "host": None, "api_key": None}, **params)
        self.failed = None

    def requires(self, *args, **kwargs):
        pass

    def fail_json(self, **result):
        self.failed = result
        raise Failed(result["msg"])


@pytest.fixture
def no_cluster(monkeypatch, tmp_path):
    for name in AUTH_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    return tmp_path


def test_no_kubeconfig_anywhere_says_where_it_looked_and_how_to_point_it(no_cluster):
    module = FakeModule()
    with pytest.raises(Failed):
        module_shell.Run(module).session  # pylint: disable=expression-not-assigned
    msg = module.failed["msg"]
    assert "No configuration found" in msg  # the client's own words are kept
    assert "~/.kube/config (no such file)" in msg
    assert "K8S_AUTH_KUBECONFIG (not set)" in msg and "KUBECONFIG not set" in msg
    assert "KUBERNETES_SERVICE_HOST not set" in msg
    assert "export K8S_AUTH_KUBECONFIG=<path>" in msg and ".lab/kubeconfig" in msg
    assert "module_defaults" in msg and "host and api_key" in msg
    assert module.failed["api_requests"] == {"total": 0, "writes": 0, "retries": 0}


def test_a_kubeconfig_path_that_does_not_exist_is_named(no_cluster):
    missing = str(no_cluster / "nope" / "kubeconfig")
    module = FakeModule(kubeconfig=missing)
    with pytest.raises(Failed):
        module_shell.Run(module).session  # pylint: disable=expression-not-assigned
    assert "K8S_AUTH_KUBECONFIG: %s (no such file)" % missing in module.failed["msg"]


def test_kubeconfig_variable_paths_are_each_checked(no_cluster):
    there = no_cluster / "a"
    there.write_text("")
    msg = missing_connection_message("Invalid kube-config file. No configuration found.", {},
                                     {"KUBECONFIG": "%s:%s" % (there, no_cluster / "b")})
    assert "KUBECONFIG: %s (found), %s (no such file)" % (there, no_cluster / "b") in msg
    assert "found.." not in msg


def test_environment_settings_count_like_options_and_no_secret_is_shown():
    msg = missing_connection_message("boom", {"api_key": "s3cr3t-token"},
                                     {"K8S_AUTH_HOST": "https://api.example:6443", "K8S_AUTH_CONTEXT": "prod"},
                                     exists=lambda path: False)
    assert "host https://api.example:6443 without api_key" in msg
    assert "context prod" in msg
    assert "s3cr3t" not in msg
    inline = missing_connection_message("boom", {"kubeconfig": {"users": [{"user": {"token": "s3cr3t"}}]}}, {})
    assert "an inline kubeconfig" in inline and "s3cr3t" not in inline


def test_only_configuration_errors_get_the_hint():
    class ConfigException(Exception):
        pass

    try:
        try:
            raise ConfigException("Invalid kube-config file.")
        except ConfigException as inner:
            raise RuntimeError("Could not create API client") from inner
    except RuntimeError as outer:
        assert is_config_error(outer)
    assert not is_config_error(ValueError("connection refused"))
