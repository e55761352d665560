"""The fault matrix (issue 19): every writing module x every API fault the
lab's proxy injects, judged by the cluster state, ``changed``, the
per-object results and convergence.

Each (module, fault) case runs in a namespace of its own, so the fault rule
(method + a path scoped to that namespace) hits only that case's first write,
and all eight cases of a module run as eight tasks of one playbook (cheap on
2 cores).  Three runs per module:

1. with the faults: the faults that clear (503 once, 429 with Retry-After, a
   connection dropped before or after the write, 409 once, a 30 s stall cut by
   ``request_timeout``) must end in the desired state; the lasting ones (503
   always, 409 always) must fail with nothing written.  Either way
   ``changed`` is exactly "the server confirmed a write of this case" (a 2xx
   write in the proxy log, or a write whose answer the proxy dropped after
   forwarding it), and the per-object result never claims a write that did
   not happen;
2. without faults: every case reaches the desired state; a case that
   succeeded in run 1 writes nothing;
3. again: no case writes anything (convergence).

kubevirt_binding_plugin writes the one KubeVirt CR, so its cases run one
after the other instead (same three runs each).  A stalled write reaches the
API server 30 s later, after the module gave up on it: such late requests
carry ``fault`` in the log and are not counted as writes of a later run (the
server refuses them: the object exists or the guard's ``test`` fails)."""

# pylint: disable=redefined-outer-name
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest
import yaml

from tests.integration.modules.kubevirt_objects import (
    NAD_PATH, create_nad, create_vm, get_vm, iface_names, wait_running)
from lab.cluster import REPO_ROOT

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
FAULTS = {
    "503-once": dict(action="status", code=503, count=1),
    "503-always": dict(action="status", code=503, count=-1),
    "429-retry-after": dict(action="status", code=429, retry_after=1, count=1),
    "drop-before-write": dict(action="drop", count=1),
    "drop-after-write": dict(action="drop_after", count=1),
    "409-once": dict(action="conflict", count=1),
    "409-always": dict(action="conflict", count=-1),
    "stall-30s": dict(action="latency", seconds=30, count=1),
}
LASTING = ("503-always", "409-always")
# short bounds: one retry is enough for the faults that clear, the stall ends after 4 s
COMMON = dict(api_retries=2, request_timeout=4)
KUBEVIRT_CR = "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt"
KUBEVIRT_MODULE = "kubevirt_net.core."


# ------------------------------------------------------------------ running
class Runner:
    """ansible-playbook against the lab, for module-scoped fixtures."""

    def __init__(self, lab, directory):
        self.lab, self.directory = lab, directory
        venv_bin = os.path.dirname(shutil.which("ansible-playbook") or "")
        build = os.path.join(REPO_ROOT, ".build")
        os.makedirs(os.path.join(build, "ansible_collections", "kubevirt_net"), exist_ok=True)
        link = os.path.join(build, "ansible_collections", "kubevirt_net", "core")
        if not os.path.islink(link):
            os.symlink(REPO_ROOT, link)
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=build, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                        ANSIBLE_PYTHON_INTERPRETER=os.path.join(venv_bin, "python"),
                        ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                        ANSIBLE_LOCAL_TEMP=os.path.join(directory, "ansible-tmp"), ANSIBLE_NOCOLOR="1",
                        K8S_AUTH_KUBECONFIG=lab.kubeconfig, KUBECONFIG=lab.kubeconfig)

    def play(self, tasks):
        """Run ``tasks`` (title -> (module, options)); returns title -> task result."""
        body = [{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": title, KUBEVIRT_MODULE + module: options, "ignore_errors": True}
            for title, (module, options) in tasks.items()]}]
        path = os.path.join(self.directory, "play-%s.yml" % uuid.uuid4().hex[:6])
        with open(path, "w") as handle:
            yaml.safe_dump(body, handle, sort_keys=False)
        proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", path], env=self.env,
                              capture_output=True, text=True, timeout=900, check=False)
        try:
            data = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError as exc:
            raise AssertionError("no JSON from ansible-playbook:\n%s\n%s" % (proc.stdout[-3000:],
                                                                             proc.stderr[-3000:])) from exc
        return dict((t["task"]["name"], t["hosts"].get("localhost", {}))
                    for play in data["plays"] for t in play["tasks"])


def confirmed_writes(entries):
    """Writes the server applied: a 2xx answer, or forwarded before the proxy dropped the answer."""
    return [e for e in entries if e["method"] in WRITES and not e.get("dry_run")
            and ((e.get("status") or 0) // 100 == 2 or e.get("fault") == "drop_after")]


def writes_of_run(entries):
    """The writes a run sent (late stalled requests of an earlier run excluded)."""
    return [e for e in entries if e["method"] in WRITES and not e.get("dry_run") and not e.get("fault")]


def in_case(entries, scope):
    return [e for e in entries if scope(e["path"])]


def run_matrix(lab, runner, spec, cases):
    """The three runs of ``cases`` (fault -> namespace or scope key); returns fault -> outcome."""
    outcome = dict((fault, {"scope": spec.scope(key), "rule": spec.write_rule(key)}) for fault, key in cases.items())
    for fault, key in cases.items():
        method, path = spec.write_rule(key)
        lab.add_fault(method=method, path=path, **FAULTS[fault])
    tasks = dict((fault, spec.task(key)) for fault, key in cases.items())
    for run in ("first", "second", "third"):
        start = lab.log_seq()
        try:
            results = runner.play(tasks)
        finally:
            if run == "first":
                lab.clear_faults()
        log = lab.log(start)
        for fault, key in cases.items():
            entries = in_case(log, outcome[fault]["scope"])
            outcome[fault][run] = {"result": results[fault], "confirmed": confirmed_writes(entries),
                                   "writes": writes_of_run(entries), "entries": entries}
            if run == "first":
                outcome[fault]["state_after_first"] = spec.state(key)
        if run == "second":
            for fault, key in cases.items():
                outcome[fault]["state_after_second"] = spec.state(key)
    return outcome


# ------------------------------------------------------------------ modules
class Namespaced:
    """A module whose case lives in one namespace."""
    method = "POST"

    def scope(self, namespace):
        return lambda path: "/namespaces/%s/" % namespace in path or path.endswith("/namespaces/%s" % namespace)

    def setup(self, lab, namespaces):
        pass

    def cleanup(self, lab):
        pass


class Network(Namespaced):
    """Three NADs per case, as in the issue's report (three NADs reported created under
    lasting 503s): the fault rule hits the first POST (or every one), the others go through."""
    module = "kubevirt_network"
    names = ("fm-a", "fm-b", "fm-c")
    nets = [{"name": name, "type": "bridge", "bridge": "br-" + name,
             "ipam": {"type": "host-local", "subnet": "10.88.%d.0/24" % index}} for index, name in enumerate(names)]

    def write_rule(self, ns):
        return "POST", "/namespaces/%s/network-attachment-definitions$" % ns

    def task(self, ns):
        return self.module, dict(COMMON, namespace=ns, networks=self.nets)

    def state(self, ns):
        return sorted(o["metadata"]["name"] for o in self.lab.request("GET", NAD_PATH % ns)["items"]) == list(self.names)

    def objects(self, result):
        return [(n["name"], n["method"]) for n in result.get("networks") or []]

    done, failed = [(name, "created") for name in names], [(name, "failed") for name in names]


class Policies(Namespaced):
    module = "kubevirt_network_policies"

    def write_rule(self, ns):
        return "POST", "/namespaces/%s/networkpolicies$" % ns

    def task(self, ns):
        return self.module, dict(COMMON, namespaces=[ns], default_deny="ingress")

    def state(self, ns):
        items = self.lab.request("GET", "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies" % ns)["items"]
        return [o["metadata"]["name"] for o in items] == ["kvnet-default-deny"]

    def objects(self, result):
        return [(p["name"], p["method"]) for p in result.get("policies") or []]

    done, failed = [("kvnet-default-deny", "created")], [("kvnet-default-deny", "failed")]


class Service(Namespaced):
    module = "kubevirt_vm_service"

    def setup(self, lab, namespaces):
        for ns in namespaces:
            create_vm(lab, ns, "web", running=False)

    def write_rule(self, ns):
        return "POST", "/namespaces/%s/services$" % ns

    def task(self, ns):
        return self.module, dict(COMMON, namespace=ns, name="web", vm="web", ports=[{"port": 80}],
                                 wait_for_endpoints=False)

    def state(self, ns):
        service = self.lab.request("GET", "/api/v1/namespaces/%s/services" % ns)["items"]
        return [(s["metadata"]["name"], s["spec"]["selector"]) for s in service] == [("web", {"app": "web"})]

    def objects(self, result):
        return [("web", result.get("method"))]

    done, failed = [("web", "created")], [("web", "failed")]


class VmNetwork(Namespaced):
    module = "kubevirt_vm_network"
    method = "PATCH"

    def setup(self, lab, namespaces):
        for ns in namespaces:
            create_nad(lab, ns, "br-fm")
            create_vm(lab, ns, "vm", running=False)

    def write_rule(self, ns):
        return "PATCH", "/namespaces/%s/virtualmachines/vm$" % ns

    def task(self, ns):
        return self.module, dict(COMMON, namespace=ns, vm="vm", state="merged",
                                 config={"interfaces": [{"name": "net1", "network": "br-fm", "binding": "bridge"}]})

    def state(self, ns):
        return iface_names(get_vm(self.lab, ns, "vm")) == ["default", "net1"]

    def objects(self, result):
        after = [i["name"] for i in (result.get("after") or {}).get("interfaces") or []]
        return [("vm", "net1" in after and bool(result.get("patches")))]

    done, failed = [("vm", True)], [("vm", False)]


class Hotplug(Namespaced):
    """A running VM, dynamic networks on: a live plug that is waited for until
    the VMI reports the interface in the domain."""
    module = "kubevirt_iface_hotplug"
    method = "PATCH"

    def setup(self, lab, namespaces):
        for ns in namespaces:
            create_nad(lab, ns, "br-fm")
            create_vm(lab, ns, "vm")
        for ns in namespaces:
            wait_running(lab, ns, "vm", timeout=300)  # headroom for VM starts on a loaded two-worker run

    def write_rule(self, ns):
        return "PATCH", "/namespaces/%s/virtualmachines/vm$" % ns

    def task(self, ns):
        return self.module, dict(COMMON, namespace=ns, vm="vm", interface="net1", network="br-fm",
                                 dynamic_networks="true", wait_timeout=90, wait_sleep=0.3)

    def state(self, ns):
        vmi = self.lab.request("GET", "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/vm" % ns)
        info = [i.get("infoSource") or "" for i in (vmi.get("status") or {}).get("interfaces") or []
                if i.get("name") == "net1"]
        return iface_names(get_vm(self.lab, ns, "vm")) == ["default", "net1"] and bool(info) and "domain" in info[0]

    def objects(self, result):
        out = []
        for vm in result.get("vms") or []:
            waited = all("domain" in ((i.get("status") or {}).get("infoSource") or "") for i in vm["interfaces"])
            out.append((vm["name"], vm["method"], waited if vm["method"] == "live" else None))
        return out

    done, failed = [("vm", "live", True)], [("vm", "failed", None)]


class Clone(Namespaced):
    module = "kubevirt_vm_clone"

    def setup(self, lab, namespaces):
        for ns in namespaces:
            create_vm(lab, ns, "golden", running=False)

    def write_rule(self, ns):
        return "POST", "/namespaces/%s/virtualmachineclones$" % ns

    def task(self, ns):
        return self.module, dict(COMMON, namespace=ns, source="golden", target="copy", wait_timeout=120,
                                 wait_sleep=0.3)

    def state(self, ns):
        try:
            copy = get_vm(self.lab, ns, "copy")
        except Exception:  # pylint: disable=broad-except
            return False
        return (copy["metadata"].get("annotations") or {}).get("kubevirt-net.io/cloned-from") == "golden"

    def objects(self, result):
        return [(c["name"], c["method"], (c.get("phases") or [None])[-1]) for c in result.get("clones") or []]

    done, failed = [("copy", "create", "Succeeded")], [("copy", "failed", None)]


class Istio(Namespaced):
    """A stopped VM into the mesh: namespace label, template annotation."""
    module = "kubevirt_vm_istio"
    method = "PATCH"

    def setup(self, lab, namespaces):
        for ns in namespaces:
            create_vm(lab, ns, "vm", running=False)

    def write_rule(self, ns):
        return "PATCH", "/namespaces/%s/virtualmachines/vm$" % ns

    def task(self, ns):
        return self.module, dict(COMMON, namespaces=[ns])

    def state(self, ns):
        annotations = (get_vm(self.lab, ns, "vm")["spec"]["template"].get("metadata") or {}).get("annotations") or {}
        return annotations.get("sidecar.istio.io/inject") == "true"

    def objects(self, result):
        return [(v["name"], v.get("action")) for v in result.get("vms") or []]

    done, failed = [("vm", "updated")], [("vm", "failed")]


class BindingPlugin:
    """The one KubeVirt CR: a plugin of its own per case, one case at a time."""
    module = "kubevirt_binding_plugin"
    method = "PATCH"

    def __init__(self):
        self.names = {}

    def scope(self, key):
        return lambda path: path == KUBEVIRT_CR

    def setup(self, lab, keys):
        for key in keys:
            self.names[key] = "fm" + uuid.uuid4().hex[:8]

    def write_rule(self, key):
        return "PATCH", "/kubevirts/kubevirt$"

    def task(self, key):
        return self.module, dict(COMMON, name=self.names[key], sidecar_image="quay.io/kubevirt/fm:v1")

    def binding(self):
        return (self.lab.request("GET", KUBEVIRT_CR)["spec"]["configuration"].get("network") or {}).get("binding") or {}

    def state(self, key):
        return (self.binding().get(self.names[key]) or {}).get("sidecarImage") == "quay.io/kubevirt/fm:v1"

    def objects(self, result):
        plugin = result.get("plugin") or {}
        return [(plugin.get("name"), bool(result.get("patch")))]

    def cleanup(self, lab):
        binding = self.binding()
        mine = [n for n in self.names.values() if n in binding]
        # as the module does for its last plugin: no empty map left behind (the KubeVirt CR is
        # shared by the session; tests/integration/kubevirt/test_capabilities.py reads it whole)
        ops = ([{"op": "remove", "path": "/spec/configuration/network/binding"}] if set(binding) == set(mine)
               else [{"op": "remove", "path": "/spec/configuration/network/binding/%s" % n} for n in mine])
        if mine:
            lab.request("PATCH", KUBEVIRT_CR, ops, content_type="application/json-patch+json")

    @property
    def done(self):
        return None   # checked in the test: the plugin's name differs per case

    failed = None   # checked in the test: the plugin is named, and no patch is claimed


MODULES = {"kubevirt_network": Network, "kubevirt_network_policies": Policies, "kubevirt_vm_service": Service,
           "kubevirt_vm_network": VmNetwork, "kubevirt_iface_hotplug": Hotplug, "kubevirt_vm_clone": Clone,
           "kubevirt_vm_istio": Istio, "kubevirt_binding_plugin": BindingPlugin}


@pytest.fixture(scope="module")
def matrix(lab, tmp_path_factory):
    """module name -> its outcome (fault -> runs), computed once per module."""
    runner = Runner(lab, str(tmp_path_factory.mktemp("fault-matrix")))
    saved = lab.get_config()
    lab.set_config(dynamic_networks=True, istio=True)
    made, specs, cache = [], [], {}

    def outcome(name):
        if name in cache:
            return cache[name]
        spec = MODULES[name]()
        spec.lab = lab
        specs.append(spec)
        if isinstance(spec, BindingPlugin):
            spec.setup(lab, list(FAULTS))
            cache[name] = {}
            try:
                for fault in FAULTS:
                    cache[name].update(run_matrix(lab, runner, spec, {fault: fault}))
            finally:
                spec.cleanup(lab)
            return cache[name]
        cases = {}
        for fault in FAULTS:
            ns = "fm-%s-%s" % (fault.split("-")[0], uuid.uuid4().hex[:6])
            lab.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": ns, "labels": {"kubevirt-net.test": "true"}}})
            made.append(ns)
            cases[fault] = ns
        spec.setup(lab, list(cases.values()))
        cache[name] = run_matrix(lab, runner, spec, cases)
        return cache[name]

    yield outcome
    lab.clear_faults()
    lab.set_config(dynamic_networks=saved["dynamic_networks"], istio=saved["istio"], pod_cidr=saved["pod_cidr"])
    for ns in made:
        try:
            lab.request("DELETE", "/api/v1/namespaces/" + ns)
        except Exception:  # pylint: disable=broad-except
            pass


def summary(case):
    return json.dumps({run: {"result": dict((k, v) for k, v in case[run]["result"].items()
                                            if k not in ("invocation", "diff", "kubevirt")),
                             "log": [(e["method"], e["path"], e.get("status"), e.get("fault"))
                                     for e in case[run]["entries"]]} for run in ("first", "second", "third")},
                      indent=1, default=str)[-12000:]


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("module", list(MODULES))
def test_fault(matrix, module, fault):
    case = matrix(module)[fault]
    spec = MODULES[module]
    first, second, third = case["first"], case["second"], case["third"]
    result = first["result"]
    why = summary(case)
    # the fault hit this case's write (a stalled one is logged only once the API answered it, later)
    if fault != "stall-30s":
        assert any(e.get("fault") for e in first["entries"]), why
    # changed is what the server confirmed, in every case
    assert bool(result.get("changed")) == bool(first["confirmed"]), why
    if fault in LASTING:
        assert result.get("failed"), why
        # the faulted write never landed (a module may have made other writes first, e.g. kubevirt_vm_istio's
        # namespace label: changed says so, see above), and the cluster is not in the desired state
        method, path = case["rule"]
        assert not [e for e in first["confirmed"] if e["method"] == method and re.search(path, e["path"])], why
        assert not case["state_after_first"], why
        # no per-object result claims a write that did not happen
        if module == "kubevirt_binding_plugin":
            name = (result.get("plugin") or {}).get("name") or ""
            assert name.startswith("fm") and spec().objects(result) == [(name, False)], why
        else:
            assert spec().objects(result) == spec.failed, why
        # the next run without the fault does the work, once
        assert not second["result"].get("failed") and second["result"].get("changed"), why
        assert second["confirmed"], why
    else:
        assert not result.get("failed"), why
        assert result.get("changed") and case["state_after_first"], why
        if module == "kubevirt_binding_plugin":
            assert spec().objects(result) == [(result["plugin"]["name"], True)], why
        else:
            assert spec().objects(result) == spec.done, why
        # converged already: the next run writes nothing
        assert not second["result"].get("changed") and second["writes"] == [], why
    assert case["state_after_second"], why
    assert not third["result"].get("failed") and not third["result"].get("changed"), why
    assert third["writes"] == [], why
