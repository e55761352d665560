"""Feature-gate semantics the admission rules and controllers decide by
(tests/lab/kubevirt/capabilities.py feature_gate_enabled): KubeVirt v1.9
``featuregate.IsEnabled`` and the older ``isFeatureGateEnabled``."""

import pytest

from tests.lab.kubevirt.capabilities import feature_gate_enabled, gate_state, parse_version


def cr(gates=(), disabled=(), version=None):
    body = {"spec": {"configuration": {"developerConfiguration": {
        "featureGates": list(gates), "disabledFeatureGates": list(disabled)}}}}
    if version:
        body["status"] = {"observedKubeVirtVersion": version}
    return body


@pytest.mark.parametrize("gate", ["PasstBinding", "ExternalNetResourceInjection",
                                  "PodSecondaryInterfaceNamingUpgrade", "Snapshot"])
def test_beta_gates_are_on_by_default_from_1_9(gate):
    assert feature_gate_enabled(cr(), "v1.9.0", gate)
    assert not feature_gate_enabled(cr(disabled=[gate]), "v1.9.0", gate)
    assert not feature_gate_enabled(cr(), "v1.8.0", gate)
    assert feature_gate_enabled(cr(gates=[gate]), "v1.8.0", gate)


@pytest.mark.parametrize("gate", ["PortRangesSpec", "NetworkDevicesWithDRA"])
def test_alpha_gates_need_listing(gate):
    assert not feature_gate_enabled(cr(), "v1.9.0", gate)
    assert feature_gate_enabled(cr(gates=[gate]), "v1.9.0", gate)


@pytest.mark.parametrize("gate", ["HotplugNICs", "NetworkBindingPlugins", "LiveUpdateNADRef", "SRIOVLiveMigration"])
def test_ga_gates_cannot_be_disabled(gate):
    assert feature_gate_enabled(cr(disabled=[gate]), "v1.9.0", gate)


def test_explicit_enable_wins_over_disable():
    assert feature_gate_enabled(cr(gates=["Snapshot"], disabled=["Snapshot"]), "v1.9.0", "Snapshot")


@pytest.mark.parametrize("version,gate,expected", [
    ("v1.8.0", "LiveUpdateNADRef", False),      # Beta in 1.8, GA in 1.9
    ("v1.8.0", "NetworkBindingPlugins", True),  # GA since 1.5
    ("v1.4.0", "NetworkBindingPlugins", False),  # Beta in 1.4
    ("v1.4.0", "HotplugNICs", True),            # GA since 1.4
    ("v1.5.0", "Snapshot", False),              # Alpha until 1.6
])
def test_states_by_version(version, gate, expected):
    assert feature_gate_enabled(cr(), version, gate) is expected


def test_unknown_gate():
    assert not feature_gate_enabled(cr(gates=["NoSuchGate"]), "v1.9.0", "NoSuchGate")
    # before v1.9 a listed name was simply enabled
    assert feature_gate_enabled(cr(gates=["NoSuchGate"]), "v1.8.0", "NoSuchGate")


def test_version_defaults_to_the_crs_observed_version():
    assert feature_gate_enabled(cr(version="v1.9.0"), None, "PasstBinding")
    assert not feature_gate_enabled(cr(version="v1.8.0"), None, "PasstBinding")


def test_versions_parse():
    assert parse_version("v1.9.0-rc.1") == (1, 9, 0)
    assert parse_version("1.8") == (1, 8, 0)
    assert gate_state("PasstBinding", "v1.7.3") is None
    with pytest.raises(ValueError):
        parse_version("latest")
