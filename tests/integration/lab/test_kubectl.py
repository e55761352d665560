"""Real kubectl clients (the machine's own, if it has one, and the lab build's
1.34 from the same k8s.io/kubernetes release as the server) against the lab."""

import json
import os
import shutil
import subprocess
import threading

import pytest

from tests.integration.helpers import wait_for
from lab.cluster import binary

HERE = os.path.dirname(os.path.abspath(__file__))


def _kubectls():
    found = []
    # built with the server (lab/build/build.sh); the lab fixture builds it first
    found.append(pytest.param(binary("kubectl"), id="kubectl-1.34-lab-build"))
    machine = shutil.which("kubectl")
    if machine:
        found.append(pytest.param(machine, id="kubectl-machine"))
    return found


KUBECTLS = _kubectls()


@pytest.fixture(params=KUBECTLS)
def kubectl(request, lab, tmp_path):
    binary = request.param
    cache = tmp_path / "kubectl-cache"

    def run(*args, check=True, ns=None):
        argv = [binary, "--kubeconfig", lab.kubeconfig, "--cache-dir", str(cache)]
        if ns:
            argv += ["-n", ns]
        proc = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60, check=False)
        if check and proc.returncode:
            raise AssertionError("kubectl %s failed: %s%s" % (" ".join(args), proc.stdout, proc.stderr))
        return proc

    run.argv = [binary, "--kubeconfig", lab.kubeconfig, "--cache-dir", str(cache)]
    return run


def test_both_kubectls_are_present():
    """The lab build provides a 1.34 kubectl; a machine kubectl is optional."""
    assert any("lab-build" in p.id for p in KUBECTLS)


def _apply(kubectl, path, ns):
    proc = kubectl("apply", "-f", path, ns=ns, check=False)
    if proc.returncode and "openapi" in (proc.stderr + proc.stdout).lower():
        proc = kubectl("apply", "--validate=false", "-f", path, ns=ns)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("kind,name,manifest", [
    ("virtualmachine", "vm1", "vm.yaml"),
    ("networkpolicy", "allow-ssh", "networkpolicy.yaml"),
])
def test_get_apply_patch_watch_delete(kubectl, lab, namespace, kind, name, manifest):
    path = os.path.join(HERE, "manifests", manifest)
    assert "created" in _apply(kubectl, path, namespace).stdout
    # client-side apply of the same file: nothing to change
    assert "unchanged" in _apply(kubectl, path, namespace).stdout

    got = json.loads(kubectl("get", kind, name, "-o", "json", ns=namespace).stdout)
    assert got["metadata"]["name"] == name
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]
    assert name in kubectl("get", kind, ns=namespace).stdout

    # get -w: start a watch, change the object, see the change arrive
    seq = lab.log_seq()
    watch = subprocess.Popen(kubectl.argv + ["-n", namespace, "get", kind, name, "-w", "-o",
                                             "jsonpath={.metadata.labels.watched}{\"\\n\"}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    done = threading.Event()

    def reader():
        for line in watch.stdout:
            seen.append(line.strip())
            if line.strip() == "yes":
                done.set()
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    plural = "virtualmachines" if kind == "virtualmachine" else "networkpolicies"
    try:
        # change the object only once the watch request reached the server
        wait_for(lambda: [e for e in lab.log(seq) if e["path"].endswith("/" + plural) and "watch=" in e["query"]],
                 timeout=120, message="kubectl's watch request")
        kubectl("patch", kind, name, "--type=merge", "-p", '{"metadata":{"labels":{"watched":"yes"}}}',
                ns=namespace)
        assert done.wait(120), "watch saw %r" % seen
    finally:
        watch.kill()
        watch.wait()

    kubectl("patch", kind, name, "--type=json",
            "-p", '[{"op":"add","path":"/metadata/labels/jsonpatched","value":"1"}]', ns=namespace)
    labels = json.loads(kubectl("get", kind, name, "-o", "json", ns=namespace).stdout)["metadata"]["labels"]
    assert labels["watched"] == "yes" and labels["jsonpatched"] == "1"

    assert "deleted" in kubectl("delete", kind, name, ns=namespace).stdout
    missing = kubectl("get", kind, name, ns=namespace, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
