"""Every module's EXAMPLES block, extracted from plugins/modules/*.py and run,
so the documentation cannot rot.

* Without a cluster: each block is YAML, a list of tasks of this collection
  (or ansible.builtin), and passes ``ansible-playbook --syntax-check``.
* Against the lab: the block runs as written, in order, as one play.  Its
  prerequisites (namespaces, VMs, NetworkAttachmentDefinitions) are found in
  the examples' own options and created through the lab's API first; the few
  things that cannot be read off the options (template labels shared by a
  group of VMs, an interface the clone example overrides, SR-IOV networks) come
  from naming conventions below.  Namespaces are the examples' own names
  (``vms``, ``shared-nets``...): each module's run deletes them afterwards, so
  the next module starts clean.
* vfio_sriov manages a host, not the API: its examples run for real against the
  fake host in tests/fakesysfs, ``sysfs_root`` set through ``module_defaults``
  (the example text is unchanged).

A module added later is picked up by the glob; if its examples need
something the discovery below does not create, add it to EXTRA_SETUP."""

import ast
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.integration.helpers import wait_for
from tests.integration.modules.kubevirt_objects import NAD_PATH, VM_PATH, vm_manifest, wait_running

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MODULE_FILES = sorted(glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")))
MODULES = [os.path.basename(p)[:-3] for p in MODULE_FILES if not os.path.basename(p).startswith("_")]
FQCN = "kubevirt_net.core."
KUBEVIRT_CR = "/apis/kubevirt.io/v1/namespaces/kubevirt/kubevirts/kubevirt"
SRIOV_RESOURCE = "openshift.io/intelnics"  # what the lab's node01 has allocatable
HOST_MODULES = {"vfio_sriov"}  # run on a (fake) host, not against the API


def examples(module):
    """The EXAMPLES string of plugins/modules/<module>.py, read without importing it."""
    with open(os.path.join(REPO, "plugins", "modules", module + ".py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXAMPLES" for t in node.targets):
            return node.value.value
    raise AssertionError("%s has no EXAMPLES" % module)


def example_tasks(module):
    tasks = yaml.safe_load(examples(module))
    assert isinstance(tasks, list) and tasks, "%s: EXAMPLES must be a YAML list of tasks" % module
    return tasks


def task_module(task):
    keys = [k for k in task if "." in k or k in ("debug", "set_fact", "assert")]
    assert len(keys) == 1, "task %r: expected exactly one module key, found %s" % (task.get("name"), keys)
    return keys[0]


def play(tasks, **extra):
    return [dict({"name": "examples", "hosts": "all", "gather_facts": False}, **extra, tasks=tasks)]


def base_env(tmp_path):
    """ansible-playbook wired to this checkout's collection, without the lab."""
    build = os.path.join(REPO, ".build")
    os.makedirs(os.path.join(build, "ansible_collections", "kubevirt_net"), exist_ok=True)
    link = os.path.join(build, "ansible_collections", "kubevirt_net", "core")
    if not os.path.islink(link):
        os.symlink(REPO, link)
    venv_bin = os.path.dirname(shutil.which("ansible-playbook") or sys.executable)
    env = dict(os.environ)
    env.update({"PATH": venv_bin + os.pathsep + env.get("PATH", ""), "ANSIBLE_COLLECTIONS_PATH": build,
                "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_LOCALHOST_WARNING": "False",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False", "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")})
    return env


# ----------------------------------------------------------------------------- without a cluster
@pytest.mark.parametrize("module", MODULES)
def test_examples_parse_and_pass_syntax_check(module, tmp_path):
    tasks = example_tasks(module)
    for task in tasks:
        assert task.get("name"), "%s: every example task needs a name" % module
        name = task_module(task)
        assert name.startswith(FQCN) or name.startswith("ansible.builtin."), (
            "%s: example %r uses %s; examples use FQCNs" % (module, task["name"], name))
    assert any(task_module(t) == FQCN + module for t in tasks), "%s: no example uses the module" % module
    path = tmp_path / "examples.yml"
    path.write_text(yaml.safe_dump(play(tasks), sort_keys=False))
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "--syntax-check", str(path)],
                          env=base_env(tmp_path), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ----------------------------------------------------------------------------- prerequisites from the options
class Needs:
    """What the examples refer to: namespaces, VMs (namespace, name), NADs (namespace, name, sriov?)."""

    def __init__(self):
        self.namespaces = set()
        self.vms = set()
        self.nads = {}
        self.namespace_labels = {}  # labels to add to existing namespaces for the run (removed after)

    def ns(self, name):
        if name and "{{" not in name:
            self.namespaces.add(name)

    def nad(self, default_ns, ref, sriov=False):
        if not ref or ref == "pod" or "{{" in ref:
            return
        namespace, _sep, name = ref.rpartition("/")
        namespace = namespace or default_ns
        if not namespace:
            return
        self.ns(namespace)
        self.nads[(namespace, name)] = self.nads.get((namespace, name), False) or sriov

    def vm(self, namespace, name):
        if namespace and name and "{{" not in name:
            self.ns(namespace)
            self.vms.add((namespace, name))


def discover(tasks):
    needs = Needs()
    for task in tasks:
        module = task_module(task)
        if not module.startswith(FQCN):
            continue
        short = module[len(FQCN):]
        args = task[module] or {}
        namespace = args.get("namespace")
        if args.get("state") == "rendered":
            continue
        needs.ns(namespace)
        for name in args.get("namespaces") or []:
            needs.ns(name)
        peer = args.get("peer") or {}
        needs.ns(peer.get("namespace"))
        if short == "kubevirt_network":
            continue  # its networks are what it creates
        for key in ("vm", "source"):
            if isinstance(args.get(key), str):
                needs.vm(namespace, args[key])
        for name in args.get("vms") or []:
            needs.vm(namespace, name)
        if isinstance(args.get("network_attachment_definition"), str) and args.get("state") != "absent":
            needs.nad(namespace or "default", args["network_attachment_definition"])
        sriov = args.get("binding") == "sriov"
        if isinstance(args.get("network"), str) and args.get("state") != "absent":
            needs.nad(namespace, args["network"], sriov)
        for net in args.get("networks") or []:
            if isinstance(net, dict):
                needs.nad(namespace, net.get("network"), net.get("binding") == "sriov")
        for iface in ((args.get("config") or {}).get("interfaces") or []):
            needs.nad(namespace, iface.get("network"), iface.get("binding") == "sriov")
    return needs


def group_of(vm_name):
    """web-1 -> web: the tier/app a VM belongs to, by name."""
    return vm_name.rsplit("-", 1)[0] if vm_name[-1:].isdigit() and "-" in vm_name else vm_name


def example_vm(name, extra_interfaces=()):
    group = group_of(name)
    manifest = vm_manifest(name, labels={"tier": group, "app": group}, template_labels={"app": group, "tier": group})
    spec = manifest["spec"]["template"]["spec"]
    for iface, network in extra_interfaces:
        spec["domain"]["devices"]["interfaces"].append({"name": iface, "bridge": {}})
        spec["networks"].append({"name": iface, "multus": {"networkName": network}})
    return manifest


def nad_manifest(name, sriov):
    config = {"cniVersion": "0.3.1", "name": name, "type": "sriov" if sriov else "bridge"}
    meta = {"name": name, "labels": {"kubevirt-net.test/examples": "true"}}
    if sriov:
        meta["annotations"] = {"k8s.v1.cni.cncf.io/resourceName": SRIOV_RESOURCE}
    else:
        config["bridge"] = "br-" + name[:10]
    return {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition", "metadata": meta,
            "spec": {"config": json.dumps(config)}}


# ----------------------------------------------------------------------------- what the options do not say
def _clone_setup(needs):
    # the clone example overrides interface "prod" of the source: give golden one, on prod-a
    for namespace, name in needs.vms:
        if name == "golden":
            needs.nads[(namespace, "prod-a")] = False
            return {(namespace, name): [("prod", "prod-a")]}
    return {}


def _policies_setup(needs):
    # the selector example matches namespaces labelled "tenant": make the two the examples name be them
    needs.ns("tenant-a")
    needs.ns("tenant-b")
    # allow_dns selects kube-system by kubernetes.io/metadata.name, which API servers set themselves
    # from 1.21; the lab is 1.20, so give kube-system the label a real cluster has (taken off after)
    needs.namespace_labels["kube-system"] = {"kubernetes.io/metadata.name": "kube-system"}
    return {}


EXTRA_SETUP = {
    "kubevirt_vm_clone": _clone_setup,
    "kubevirt_network_policies": _policies_setup,
}
# Examples known to be wrong (reported; the fix belongs in the module's EXAMPLES): the run is expected
# to fail until it is fixed, and the strict xfail turns into a failure the day it passes.
KNOWN_BROKEN = {}  # module -> why its EXAMPLES fail (an xfail that must turn into a pass)
NAMESPACE_LABELS = {"tenant-a": {"tenant": "a"}, "tenant-b": {"tenant": "b"}}


@pytest.fixture
def kubevirt_cr_restored(lab):
    """The binding-plugin examples change the session's KubeVirt CR: put its network configuration back."""
    before = lab.request("GET", KUBEVIRT_CR)["spec"]["configuration"].get("network") or {}
    yield
    lab.request("PATCH", KUBEVIRT_CR, [{"op": "add", "path": "/spec/configuration/network", "value": before}],
                content_type="application/json-patch+json")


def namespace_gone(lab, name):
    try:
        lab.request("GET", "/api/v1/namespaces/" + name)
    except Exception:  # pylint: disable=broad-except
        return True
    return False


@pytest.fixture
def example_cluster(lab):
    """Create what a module's examples need; delete their namespaces afterwards."""
    created, created_nads, labelled = [], [], []
    saved_nodes = []

    def make(module, tasks):
        needs = discover(tasks)
        extra_ifaces = EXTRA_SETUP.get(module, lambda _n: {})(needs)
        for name, labels in needs.namespace_labels.items():
            current = lab.request("GET", "/api/v1/namespaces/" + name)["metadata"].get("labels") or {}
            missing = {k: v for k, v in labels.items() if k not in current}
            if missing:
                lab.request("PATCH", "/api/v1/namespaces/" + name, {"metadata": {"labels": missing}},
                            content_type="application/merge-patch+json")
                labelled.append((name, list(missing)))
        for name in sorted(needs.namespaces):
            if name == "default" or not namespace_gone(lab, name):
                continue
            lab.request("POST", "/api/v1/namespaces", {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": dict(NAMESPACE_LABELS.get(name, {}),
                                                          **{"kubevirt-net.test": "examples"})}})
            created.append(name)
        if any(needs.nads.values()):
            # SR-IOV hot-plug goes through a live migration, whose target pod must land on another node
            # with a free VF: give every node of the lab VFs (it has them on node01 only) for the run
            nodes = lab.get_config()["nodes"]
            saved_nodes.append(nodes)
            lab.set_config(nodes=[dict(n, allocatable=dict(n["allocatable"], **{SRIOV_RESOURCE: "8"}))
                                  for n in nodes])
        for (namespace, name), sriov in sorted(needs.nads.items()):
            lab.request("POST", NAD_PATH % namespace, nad_manifest(name, sriov))
            if namespace not in created:
                created_nads.append("%s/%s" % (NAD_PATH % namespace, name))
        for namespace, name in sorted(needs.vms):
            lab.request("POST", VM_PATH % namespace, example_vm(name, extra_ifaces.get((namespace, name), ())))
        for namespace, name in sorted(needs.vms):
            wait_running(lab, namespace, name, timeout=120)
        return needs

    yield make
    for nodes in saved_nodes:
        lab.set_config(nodes=nodes)
    for path in created_nads:
        try:
            lab.request("DELETE", path)
        except Exception:  # pylint: disable=broad-except
            pass
    for name, keys in labelled:
        lab.request("PATCH", "/api/v1/namespaces/" + name, {"metadata": {"labels": {k: None for k in keys}}},
                    content_type="application/merge-patch+json")
    for name in created:
        try:
            lab.request("DELETE", "/api/v1/namespaces/" + name)
        except Exception:  # pylint: disable=broad-except
            pass
    for name in created:
        wait_for(lambda n=name: namespace_gone(lab, n), timeout=120, interval=0.5,
                 message="namespace %s deleted" % name)


def failures(result):
    out = []
    for ply in (result.data or {}).get("plays", []):
        for task in ply["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed"):
                    out.append("%s on %s: %s" % (task["task"]["name"], host, res.get("msg")))
    return out


@pytest.mark.parametrize("module", [m for m in MODULES if m not in HOST_MODULES])
def test_examples_run_against_the_lab(module, request, lab, example_cluster, run_playbook):
    if module == "kubevirt_binding_plugin":
        request.getfixturevalue("kubevirt_cr_restored")
    if module == "kubevirt_vm_istio":
        # the examples assume Istio runs (CRDs, istiod's sidecar-injector webhook): the module refuses otherwise
        saved = lab.get_config()["istio"]
        lab.set_config(istio=True)
        request.addfinalizer(lambda: lab.set_config(istio=saved))
    tasks = example_tasks(module)
    example_cluster(module, tasks)
    result = run_playbook(play(tasks), expect_rc=None)
    if module in KNOWN_BROKEN:
        if result.rc:
            pytest.xfail("%s (%s)" % (KNOWN_BROKEN[module], failures(result)))
        raise AssertionError("%s examples pass now: remove it from KNOWN_BROKEN" % module)
    assert result.rc == 0 and not failures(result), "%s examples failed: %s\n%s" % (
        module, failures(result) or result.stdout[-3000:], result.stderr[-2000:])
    names = [t["task"]["name"] for p in result.data["plays"] for t in p["tasks"]]
    assert names == [t["name"] for t in tasks], names
    for task_result in result.tasks.values():
        assert not task_result.get("skipped"), task_result


# ----------------------------------------------------------------------------- vfio_sriov on a fake host
@pytest.mark.parametrize("module", sorted(HOST_MODULES & set(MODULES)))
def test_host_examples_run_on_the_fake_host(module, tmp_path):
    from tests.fakesysfs import build_host  # pylint: disable=import-outside-toplevel
    from tests.fakesysfs.playbook import playbook_env, run_playbook as run_on_host  # pylint: disable=C0415

    root = tmp_path / "host"
    build_host(str(root))
    tasks = example_tasks(module)
    plays = play(tasks, module_defaults={FQCN + module: {"sysfs_root": str(root)}})
    result = run_on_host(playbook_env(tmp_path), tmp_path, plays, expect_rc=None)
    assert result.rc == 0 and not result.failures(), "%s examples failed: %s\n%s\n%s" % (
        module, result.failures(), result.stdout[-4000:], result.stderr[-2000:])
    outcomes = result.task_results()
    assert [name for name, _r in outcomes] == [t["name"] for t in tasks]
    assert all(not res.get("skipped") for _n, res in outcomes)
