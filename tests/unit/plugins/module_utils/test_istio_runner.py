"""The API-side helpers of kubevirt_vm_istio against a fake session: API group
versions, istiod version detection, per-namespace vs cluster-wide reads, and
the executor's refusal to take over objects it did not make."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import istio, istio_runner
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import CREATE, Action
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import SERVICE, VM
from tests.unit.plugins.module_utils.session_double import TimeBounds


# pylint: disable=unused-argument
class FakeSession(TimeBounds):
    def __init__(self, objects=None, lists=None):
        self.objects = objects or {}
        self.lists = lists or {}
        self.calls = []

    def get(self, path, query=None):
        self.calls.append(("GET", path))
        return self.objects.get(path)

    def list(self, path, label_selector=None, field_selector=None, page_size=500):
        self.calls.append(("LIST", path, label_selector))
        answer = self.lists.get(path)
        if isinstance(answer, Exception):
            raise answer
        return list(answer or [])

    def request(self, method, path, body=None, query=None, content_type=None, **kwargs):
        self.calls.append((method, path))
        if method == "POST":
            raise ApiError(method, path, 409, {"reason": "AlreadyExists"})
        raise AssertionError("unexpected %s %s" % (method, path))


def test_api_group_versions_preferred_first():
    session = FakeSession({"/apis/security.istio.io": {"versions": [{"version": "v1beta1"}, {"version": "v1"}],
                                                       "preferredVersion": {"version": "v1"}}})
    versions = istio_runner.api_group(session, "security.istio.io")
    assert versions == ["v1", "v1beta1"]
    assert istio_runner.pick_version(versions) == "v1"
    assert istio_runner.pick_version(["v1beta1"]) == "v1beta1"
    assert istio_runner.api_group(session, "networking.istio.io") == []
    assert istio_runner.pick_version([]) is None


def test_istio_version_from_istiod():
    path = "/apis/apps/v1/namespaces/istio-system/deployments"
    deployment = {"spec": {"template": {"spec": {"containers": [{"image": "docker.io/istio/pilot:1.26.3"}]}}}}
    assert istio_runner.detect_istio_version(FakeSession(lists={path: [deployment]}), "istio-system") == (1, 26, 3)
    assert istio_runner.detect_istio_version(FakeSession(lists={path: []}), "istio-system") is None
    forbidden = FakeSession(lists={path: ApiError("GET", path, 403)})
    assert istio_runner.detect_istio_version(forbidden, "istio-system") is None


MWC_PATH = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"


def test_sidecar_injectors_are_found_by_webhook_name_not_by_configuration_name():
    # as istiod's chart registers them: istio-sidecar-injector[-<rev>], webhooks *sidecar-injector.istio.io
    injector = {"metadata": {"name": "istio-sidecar-injector-canary", "labels": {"istio.io/rev": "canary"}},
                "webhooks": [{"name": "rev.namespace.sidecar-injector.istio.io"}]}
    other = {"metadata": {"name": "istio-sidecar-injector-lookalike"}, "webhooks": [{"name": "inject.example.com"}]}
    found = istio_runner.sidecar_injectors(FakeSession(lists={MWC_PATH: [injector, other]}))
    assert found == {"istio-sidecar-injector-canary": "canary"}
    assert istio_runner.sidecar_injectors(FakeSession(lists={MWC_PATH: [other]})) == {}
    assert istio_runner.sidecar_injectors(FakeSession(lists={MWC_PATH: ApiError("GET", MWC_PATH, 403)})) is None
    with pytest.raises(ApiError):
        istio_runner.sidecar_injectors(FakeSession(lists={MWC_PATH: ApiError("GET", MWC_PATH, 500)}))


def vm_obj(namespace, name):
    return {"metadata": {"namespace": namespace, "name": name}}


@pytest.mark.parametrize("scope, expected_lists", [("namespace", 4), ("cluster", 2)])
def test_reader_scopes(scope, expected_lists):
    lists = {VM.path("a"): [vm_obj("a", "x")], VM.path("b"): [vm_obj("b", "y")],
             VM.path(): [vm_obj("a", "x"), vm_obj("b", "y"), vm_obj("elsewhere", "z")],
             SERVICE.path("a"): [], SERVICE.path("b"): [], SERVICE.path(): []}
    session = FakeSession(lists=lists)
    data = istio_runner.Reader(session, ["a", "b"], scope, 4).read({"vms": (VM, None), "services": (SERVICE, None)})
    assert [o["metadata"]["name"] for o in data["vms"]["a"]] == ["x"]
    assert [o["metadata"]["name"] for o in data["vms"]["b"]] == ["y"]
    assert "elsewhere" not in data["vms"]
    assert len([c for c in session.calls if c[0] == "LIST"]) == expected_lists


def test_owned_executor_does_not_take_over_a_foreign_object():
    decl = istio.ServiceDecl("web", None, {"app": "web"}, [{"name": "tcp-80", "port": 80, "targetPort": 80,
                                                            "protocol": "TCP"}], "ClusterIP", "services[0]")
    desired = istio.service_manifest(decl, "shop", (1, 20))
    foreign = {"metadata": {"namespace": "shop", "name": "web", "labels": {}, "resourceVersion": "1"},
               "spec": {"selector": {"app": "other"}}}
    session = FakeSession({SERVICE.path("shop", "web"): foreign})
    executor = istio_runner.OwnedExecutor(session, istio.OwnedKind(SERVICE, service=True))
    [result] = executor.run([Action(CREATE, desired)])
    assert "not managed by this module" in str(result["error"])
    assert [c[0] for c in session.calls] == ["POST", "GET"]   # no PATCH of the foreign Service
