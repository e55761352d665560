"""A running source is cloned from the revision its VMI started with
(KubeVirt v1.9.0 pkg/storage/snapshot/source.go Spec/getVMRevision)."""

import types

from ansible_collections.kubevirt_net.core.plugins.module_utils import clone_source


def vm(networks, volumes=None):
    return {"metadata": {"name": "web", "namespace": "ns"}, "spec": {"runStrategy": "Always", "template": {"spec": {
        "domain": {"devices": {"interfaces": [{"name": n, "bridge": {}} for n in networks],
                               "disks": [{"name": v} for v in volumes or []]}},
        "networks": [{"name": n, "pod": {}} for n in networks],
        "volumes": [{"name": v, "containerDisk": {"image": "x"}} for v in volumes or []]}}}}


def cloner(objects):
    session = types.SimpleNamespace(get=objects.get)
    return lambda source: clone_source.online_spec(session, "ns", source)


def test_running_source_uses_the_start_revision_with_todays_volumes():
    now = vm(["default", "storage"], volumes=["root", "data"])
    started = vm(["default"], volumes=["root"])
    online = cloner({
        "/apis/kubevirt.io/v1/namespaces/ns/virtualmachineinstances/web": {
            "status": {"virtualMachineRevisionName": "revision-start-vm-u-1"}},
        "/apis/apps/v1/namespaces/ns/controllerrevisions/revision-start-vm-u-1": {"data": {"spec": started["spec"]}},
    })(now)
    tmpl = online["spec"]["template"]["spec"]
    assert [n["name"] for n in tmpl["networks"]] == ["default"]              # the hot-plugged NIC is not there
    assert [v["name"] for v in tmpl["volumes"]] == ["root", "data"]          # today's volumes and disks are
    assert [d["name"] for d in tmpl["domain"]["devices"]["disks"]] == ["root", "data"]
    assert online["metadata"]["name"] == "web" and now["spec"]["template"]["spec"]["networks"][1]["name"] == "storage"


def test_stopped_source_is_taken_as_it_is():
    stopped = vm(["default", "storage"])
    assert cloner({})(stopped) is stopped
