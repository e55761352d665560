import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo, mutating_webhooks, parse_version
from tests.unit.plugins.module_utils.session_double import FakeSession


def cr(version, gates=(), disabled=(), methods=None, rollout=None):
    spec = {"configuration": {"developerConfiguration": {"featureGates": list(gates),
                                                         "disabledFeatureGates": list(disabled)}}}
    if methods is not None:
        spec["workloadUpdateStrategy"] = {"workloadUpdateMethods": methods}
    if rollout:
        spec["configuration"]["vmRolloutStrategy"] = rollout
    return {"spec": spec, "status": {"observedKubeVirtVersion": version}}


@pytest.mark.parametrize("text,expected", [("v1.9.0", (1, 9, 0)), ("1.8.3-rc.1", (1, 8, 3)), ("v1.10", (1, 10, 0)),
                                           ("", None), ("main", None)])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("version,gates,disabled,gate,expected", [
    ("v1.9.0", (), (), "Snapshot", True),                 # Beta is on by default from 1.9
    ("v1.8.2", (), (), "Snapshot", False),                # ... but not before
    ("v1.8.2", ("Snapshot",), (), "Snapshot", True),
    ("v1.9.0", (), ("Snapshot",), "Snapshot", False),     # explicit disable wins over the Beta default
    ("v1.9.0", ("Snapshot",), ("Snapshot",), "Snapshot", True),  # explicit enable wins over disable
    ("v1.9.0", (), ("HotplugNICs",), "HotplugNICs", True),  # GA cannot be disabled
    ("v1.3.0", (), (), "HotplugNICs", False),
    ("v1.9.0", (), (), "PortRangesSpec", False),          # Alpha stays off
])
def test_feature_gate_semantics(version, gates, disabled, gate, expected):
    assert KubeVirtInfo(cr(version, gates, disabled)).gate_enabled(gate) is expected


def test_live_migrate_rollout_and_missing_kubevirt():
    info = KubeVirtInfo(cr("v1.9.0", methods=["LiveMigrate", "Evict"]))
    assert info.live_migrate and info.rollout_strategy == "LiveUpdate" and info.at_least(1, 4)
    assert KubeVirtInfo(cr("v1.5.0")).rollout_strategy == "Stage"
    assert not KubeVirtInfo(cr("v1.9.0", methods=[])).live_migrate
    assert not KubeVirtInfo(None).installed


MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"


def failing_list(status):
    """A session whose LIST of MutatingWebhookConfigurations fails with ``status``."""
    return FakeSession(lists={MWC: ApiError("GET", MWC, status)})


def test_mutating_webhooks_is_one_list():
    session = FakeSession({MWC + "/istio-sidecar-injector": {"metadata": {"name": "istio-sidecar-injector"}}})
    assert mutating_webhooks(session) == [{"metadata": {"name": "istio-sidecar-injector"}}]
    assert session.calls == [("LIST", MWC)]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_mutating_webhooks_unreadable_is_none(status):
    assert mutating_webhooks(failing_list(status)) is None


@pytest.mark.parametrize("status", [409, 500, 503])
def test_mutating_webhooks_other_errors_are_raised(status):
    with pytest.raises(ApiError) as caught:
        mutating_webhooks(failing_list(status))
    assert caught.value.status == status
