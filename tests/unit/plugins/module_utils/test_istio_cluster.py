"""The API-side helpers of kubevirt_vm_istio (istio_cluster.py) against a fake
session: API group versions, istiod version detection, the sidecar injectors
among the webhooks (kubevirt.mutating_webhooks, the one reader), per-namespace vs cluster-wide reads, and
the executor's refusal to take over objects it did not make."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import (
    istio, istio_cluster, istio_objects, istio_options, kubevirt)
from ansible_collections.kubevirt_net.core.plugins.module_utils.api import ApiError
from ansible_collections.kubevirt_net.core.plugins.module_utils.reconcile import CREATE, Action
from ansible_collections.kubevirt_net.core.plugins.module_utils.resources import SERVICE, VM, VM_SUBRESOURCES, VMI
from tests.unit.plugins.module_utils.session_double import Clock, FakeSession


def test_api_group_versions_preferred_first():
    session = FakeSession({"/apis/security.istio.io": {"versions": [{"version": "v1beta1"}, {"version": "v1"}],
                                                       "preferredVersion": {"version": "v1"}}})
    versions = istio_cluster.api_group(session, "security.istio.io")
    assert versions == ["v1", "v1beta1"]
    assert istio_cluster.pick_version(versions) == "v1"
    assert istio_cluster.pick_version(["v1beta1"]) == "v1beta1"
    assert istio_cluster.api_group(session, "networking.istio.io") == []
    assert istio_cluster.pick_version([]) is None


def test_istio_version_from_istiod():
    path = "/apis/apps/v1/namespaces/istio-system/deployments"
    deployment = {"spec": {"template": {"spec": {"containers": [{"image": "docker.io/istio/pilot:1.26.3"}]}}}}
    assert istio_cluster.detect_istio_version(FakeSession(lists={path: [deployment]}), "istio-system") == (1, 26, 3)
    assert istio_cluster.detect_istio_version(FakeSession(lists={path: []}), "istio-system") is None
    forbidden = FakeSession(lists={path: ApiError("GET", path, 403)})
    assert istio_cluster.detect_istio_version(forbidden, "istio-system") is None


MWC_PATH = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"


def test_sidecar_injectors_are_found_by_webhook_name_not_by_configuration_name():
    # as istiod's chart registers them: istio-sidecar-injector[-<rev>], webhooks *sidecar-injector.istio.io
    injector = {"metadata": {"name": "istio-sidecar-injector-canary", "labels": {"istio.io/rev": "canary"}},
                "webhooks": [{"name": "rev.namespace.sidecar-injector.istio.io"}]}
    other = {"metadata": {"name": "istio-sidecar-injector-lookalike"}, "webhooks": [{"name": "inject.example.com"}]}

    def injectors(answer):
        return istio.sidecar_injectors(kubevirt.mutating_webhooks(FakeSession(lists={MWC_PATH: answer})))
    assert injectors([injector, other]) == {"istio-sidecar-injector-canary": "canary"}
    assert injectors([other]) == {}
    assert injectors(ApiError("GET", MWC_PATH, 403)) is None
    with pytest.raises(ApiError):
        injectors(ApiError("GET", MWC_PATH, 500))


def vm_obj(namespace, name):
    return {"metadata": {"namespace": namespace, "name": name}}


@pytest.mark.parametrize("scope, expected_lists", [("namespace", 4), ("cluster", 2)])
def test_reader_scopes(scope, expected_lists):
    lists = {VM.path("a"): [vm_obj("a", "x")], VM.path("b"): [vm_obj("b", "y")],
             VM.path(): [vm_obj("a", "x"), vm_obj("b", "y"), vm_obj("elsewhere", "z")],
             SERVICE.path("a"): [], SERVICE.path("b"): [], SERVICE.path(): []}
    session = FakeSession(lists=lists)
    data = istio_cluster.Reader(session, ["a", "b"], scope, 4).read({"vms": (VM, None), "services": (SERVICE, None)})
    assert [o["metadata"]["name"] for o in data["vms"]["a"]] == ["x"]
    assert [o["metadata"]["name"] for o in data["vms"]["b"]] == ["y"]
    assert "elsewhere" not in data["vms"]
    assert len([c for c in session.calls if c[0] == "LIST"]) == expected_lists


def test_owned_executor_does_not_take_over_a_foreign_object():
    decl = istio_options.ServiceDecl("web", None, {"app": "web"}, [{"name": "tcp-80", "port": 80, "targetPort": 80,
                                                                    "protocol": "TCP"}], "ClusterIP", "services[0]")
    desired = istio_objects.service_manifest(decl, "shop", (1, 20))
    foreign = {"metadata": {"namespace": "shop", "name": "web", "labels": {}, "resourceVersion": "1"},
               "spec": {"selector": {"app": "other"}}}
    session = FakeSession({SERVICE.path("shop", "web"): foreign})
    executor = istio_cluster.OwnedExecutor(session, istio_objects.OwnedKind(SERVICE, service=True))
    [result] = executor.run([Action(CREATE, desired)])
    assert "not managed by this module" in str(result["error"])
    assert [c[0] for c in session.calls] == ["POST", "GET"]   # no PATCH of the foreign Service


# ------------------------------------------------------------ rolling restart
class RestartSession(FakeSession):
    """VMs a, b, c in namespace shop; a PUT .../restart gives the VM a new
    VMI (Ready) and launcher pod, with istio-proxy unless ``no_proxy``."""

    def __init__(self, no_proxy=(), broken=()):
        super().__init__()
        self.vmis = dict((name, self.vmi(name, "old-" + name)) for name in "abc")
        self.pods = []
        self.no_proxy, self.broken = set(no_proxy), set(broken)

    @staticmethod
    def vmi(name, uid):
        return {"metadata": {"namespace": "shop", "name": name, "uid": uid},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}

    def request(self, method, path, body=None, query=None, content_type=None, **kwargs):
        self.calls.append((method, path))
        name = path.split("/")[-2]
        if name in self.broken:
            raise ApiError(method, path, 500, message="boom")
        self.vmis[name] = self.vmi(name, "new-" + name)
        containers = [{"name": "compute"}] + ([] if name in self.no_proxy else [{"name": "istio-proxy"}])
        self.pods.append({"metadata": {"namespace": "shop", "name": "virt-launcher-" + name,
                                       "labels": {"kubevirt.io/created-by": "new-" + name}},
                          "status": {"phase": "Running"}, "spec": {"containers": containers}})
        return {}

    def list(self, path, label_selector=None, field_selector=None, page_size=500):
        self.calls.append(("LIST", path, label_selector))
        return list(self.vmis.values()) if path == VMI.path("shop") else list(self.pods)


KEYS = [("shop", "a"), ("shop", "b"), ("shop", "c")]
INJECTING = {"shop": {"istio-injection": "enabled"}}


def restart_paths(session):
    return [c[1] for c in session.calls if c[0] == "PUT"]


def test_rolling_restart_goes_batch_by_batch_through_the_subresource():
    session = RestartSession()
    running = dict((key, session.vmis[key[1]]) for key in KEYS)
    done, errors, fresh = istio_cluster.RollingRestart(session, 2, 4, 60, 1.0).run(KEYS, running, INJECTING)
    assert (sorted(done), errors) == (KEYS, {})
    assert sorted(restart_paths(session)[:2]) == [VM_SUBRESOURCES.path("shop", n, subresource="restart") for n in "ab"]
    assert restart_paths(session)[2] == VM_SUBRESOURCES.path("shop", "c", subresource="restart")
    # the second batch starts after the first one was read back done
    first_list = next(i for i, c in enumerate(session.calls) if c[0] == "LIST")
    assert [c[0] for c in session.calls[:first_list]] == ["PUT", "PUT"]
    assert fresh["vmis"][("shop", "c")]["metadata"]["uid"] == "new-c"


def test_rolling_restart_times_out_on_a_missing_sidecar_and_stops_there():
    session = RestartSession(no_proxy={"a"})
    clock = Clock()
    running = dict((key, session.vmis[key[1]]) for key in KEYS)
    done, errors, _fresh = istio_cluster.RollingRestart(session, 2, 4, 10, 1.0, clock=clock, sleep=clock.sleep).run(
        KEYS, running, INJECTING)
    assert done == [("shop", "b")]
    assert list(errors) == [("shop", "a")]
    assert "timed out after 10s" in errors[("shop", "a")] and "sidecar injector running" in errors[("shop", "a")]
    assert len(restart_paths(session)) == 2          # c (next batch) is not restarted after a failure
    assert sum(clock.slept) <= 10


def test_rolling_restart_reports_a_failed_restart_call():
    session = RestartSession(broken={"b"})
    running = dict((key, session.vmis[key[1]]) for key in KEYS)
    done, errors, _fresh = istio_cluster.RollingRestart(session, 3, 4, 60, 1.0).run(KEYS, running, INJECTING)
    assert sorted(done) == [("shop", "a"), ("shop", "c")]
    assert "boom" in errors[("shop", "b")]
