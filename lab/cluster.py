"""Start, stop and inspect the lab cluster: etcd 3.6, kube-apiserver,
kube-controller-manager and kube-scheduler 1.34 built from their Go modules
(lab/build/build.sh), plus the lab daemon (request-logging,
fault-injecting proxy; KubeVirt's emulated parts; the node side that plays the
kubelet for the pods the scheduler bound) in front of the API server.

Everything a running lab needs is in one state directory: certificates,
tokens, etcd data, logs, the kubeconfig and ``lab.json`` (ports and pids).
"""

import glob
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

from . import crds as lab_crds
from . import pki
from .kubevirt_cp import KubeVirtControlPlane

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_SCRIPT = os.path.join(REPO_ROOT, "lab", "build", "build.sh")
# component -> binaries; versions and packages live in the build script and go.mod files
COMPONENTS = {
    "etcd": ("etcd",),
    "kubernetes": ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
    "kubevirt": ("virt-api", "virt-controller", "labinstall"),
}
_DIRS = {}


def component_dir(component):
    """The cache directory of a component's binaries (keyed by its version)."""
    if component not in _DIRS:
        _DIRS[component] = subprocess.run(
            ["bash", BUILD_SCRIPT, "--print-dir", component], check=True,
            capture_output=True, text=True).stdout.strip()
    return _DIRS[component]


def binary(name):
    for component, names in COMPONENTS.items():
        if name in names:
            return os.path.join(component_dir(component), name)
    raise KeyError(name)


def ensure_binaries():
    """Build the control plane once (cached outside the repo by version)."""
    missing = [component for component, names in COMPONENTS.items()
               if not all(os.access(binary(b), os.X_OK) for b in names)]
    if missing:
        subprocess.run(["bash", BUILD_SCRIPT] + missing, check=True)


def _memory_dir():
    """A writable tmpfs for etcd's data (LAB_ETCD_DIR overrides; "" = the state dir)."""
    if "LAB_ETCD_DIR" in os.environ:
        return os.environ["LAB_ETCD_DIR"] or None
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return shm
    return None


def ephemeral_range(path="/proc/sys/net/ipv4/ip_local_port_range"):
    """(low, high) of the kernel's ephemeral ports, which it hands out as the
    local port of every outgoing connection (Linux's default 32768-60999)."""
    try:
        with open(path, encoding="ascii") as handle:
            low, high = (int(v) for v in handle.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port(attempts=200):
    """A free TCP port on 127.0.0.1 for a lab process to listen on, chosen
    below the ephemeral range.  A port the kernel picks with bind(0) is an
    ephemeral one, and between our check and the process's own bind any
    outgoing connection on the machine (the other xdist worker's lab makes
    thousands) may take it as its local port: virt-api then panicked with
    "bind: address already in use" and the worker's whole lab was lost.  Below
    the range only another listener can take a port, and the choice is random
    over ~20,000 of them."""
    low, _high = ephemeral_range()
    lowest = 10000
    if low - lowest >= 1000:
        for _attempt in range(attempts):
            port = random.randint(lowest, low - 1)
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket() as sock:   # no room below the range: the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clear_discovery_caches():
    """kubernetes.core and the DynamicClient cache discovery per host in the
    temp dir; a lab that reuses a port with other resources must not see it."""
    for pattern in ("k8srcp-*.json", "osrcp-*.json"):
        for path in glob.glob(os.path.join(tempfile.gettempdir(), pattern)):
            try:
                os.unlink(path)
            except OSError:
                pass


class LabError(RuntimeError):
    pass


class Lab:
    """A lab cluster rooted at ``state_dir``."""

    def __init__(self, state_dir, options=None):
        self.state_dir = os.path.abspath(state_dir)
        self.options = dict(options or {})
        self.state_file = os.path.join(self.state_dir, "lab.json")
        self.state = {}
        if os.path.exists(self.state_file):
            with open(self.state_file, encoding="utf-8") as handle:
                self.state = json.load(handle)

    # ---------------------------------------------------------------- paths
    def path(self, *parts):
        return os.path.join(self.state_dir, *parts)

    @property
    def kubeconfig(self):
        return self.path("kubeconfig")

    @property
    def url(self):
        """The API URL clients use: the lab daemon's proxy."""
        return "https://127.0.0.1:%d" % self.state["proxy_port"]

    @property
    def apiserver_url(self):
        return "https://127.0.0.1:%d" % self.state["apiserver_port"]

    def token(self, name="admin"):
        return self.state["tokens"][name]

    # ------------------------------------------------------------ lifecycle
    def up(self, timeout=120):
        if self.is_running():
            return self
        ensure_binaries()
        os.makedirs(self.path("logs"), exist_ok=True)
        paths = pki.make_pki(self.path("pki"))
        paths["front-proxy-ca.crt"], _key = pki.make_ca(self.path("pki"), "front-proxy-ca", "front-proxy-ca")
        paths["front-proxy-client.crt"], paths["front-proxy-client.key"] = pki.make_leaf(
            self.path("pki"), "front-proxy-client", "front-proxy-client", usage="clientAuth", ca="front-proxy-ca")
        tokens, token_file = pki.make_tokens(self.path("pki"))
        # etcd fsyncs every write: on memory (tmpfs /dev/shm, when there is one) a
        # write costs what it costs a real cluster's SSD-backed etcd, not a VM disk's
        etcd_data = tempfile.mkdtemp(prefix="kvnet-lab-etcd-", dir=_memory_dir() or self.state_dir)
        self.state = {
            "tokens": tokens, "pki": paths, "etcd_data": etcd_data,
            "etcd_port": free_port(), "etcd_peer_port": free_port(),
            "apiserver_port": free_port(), "proxy_port": free_port(),
            "options": self.options, "pids": {},
            # virt-handler pods' loopback addresses (kubevirt/handler_rest.py), one /24 per lab
            "handler_ip_base": "127.%d.%d." % (random.randint(20, 250), random.randint(0, 255)),
        }
        clear_discovery_caches()
        try:
            self._start_etcd()
            self._start_apiserver(token_file)
            self._wait_ready(timeout)
            self._write_kubeconfig()
            self._start_controller_manager()
            self._start_scheduler()
            self._bootstrap()
            kubevirt = KubeVirtControlPlane(self, component_dir("kubevirt"))
            kubevirt.install({"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
                              "metadata": {"name": "kubevirt", "namespace": "kubevirt"}, "spec": {}})
            self._start_daemon()
            self._wait_daemon(timeout)
            kubevirt.start()
        except BaseException:
            self.down()
            raise
        self._save()
        return self

    def down(self):
        pids = self.state.get("pids", {})
        for name in ("virt-controller", "virt-api", "daemon", "scheduler", "controller-manager", "apiserver", "etcd"):
            pid = pids.get(name)
            if pid:
                _terminate(pid)
        if self.state.get("etcd_data"):
            shutil.rmtree(self.state["etcd_data"], ignore_errors=True)
        if os.path.exists(self.state_file):
            os.unlink(self.state_file)
        self.state = {}

    def is_running(self):
        pids = self.state.get("pids", {})
        if not pids or not all(_alive(pid) for pid in pids.values()):
            return False
        try:
            self.request("GET", "/readyz")
            return True
        except (OSError, LabError):
            return False

    def status(self):
        pids = self.state.get("pids", {})
        return {
            "running": self.is_running(),
            "url": self.url if self.state else None,
            "apiserver": self.apiserver_url if self.state else None,
            "kubeconfig": self.kubeconfig if self.state else None,
            "processes": {name: {"pid": pid, "alive": _alive(pid), "version": self._version_of(name)}
                          for name, pid in pids.items()},
        }

    @staticmethod
    def _version_of(process):
        """The version a lab process runs (its build's cache directory says it)."""
        component = {"etcd": "etcd", "apiserver": "kubernetes", "controller-manager": "kubernetes",
                     "scheduler": "kubernetes", "virt-api": "kubevirt", "virt-controller": "kubevirt"}.get(process)
        if component is None:
            return None
        return os.path.basename(component_dir(component)).rsplit("-", 1)[-1]

    # ------------------------------------------- helpers for the installers
    def spawn(self, name, argv, env=None):
        return self._spawn(name, argv, env)

    @staticmethod
    def free_port():
        return free_port()

    @staticmethod
    def port_open(port):
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    def check_alive(self):
        for name, pid in self.state["pids"].items():
            if not _alive(pid):
                raise LabError("%s exited; see %s" % (name, self.path("logs", name + ".log")))

    def apply(self, collection, body):
        """Create ``body`` in ``collection``; an existing object is left as it is."""
        try:
            return self.request("POST", collection, body)
        except LabError as err:
            if "-> 409" in str(err):
                return None
            raise

    def wait_crds_established(self, names, timeout=60):
        self._wait_crds_established(names, timeout)

    # --------------------------------------------------------- processes
    def _spawn(self, name, argv, env=None):
        log = open(self.path("logs", name + ".log"), "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=self.state_dir, env=env, start_new_session=True)
        log.close()
        self.state["pids"][name] = proc.pid
        self._save()
        return proc

    def _start_etcd(self):
        port, peer = self.state["etcd_port"], self.state["etcd_peer_port"]
        self._spawn("etcd", [
            binary("etcd"), "--name", "lab", "--data-dir", self.state["etcd_data"],
            "--listen-client-urls", "http://127.0.0.1:%d" % port,
            "--advertise-client-urls", "http://127.0.0.1:%d" % port,
            "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-cluster", "lab=http://127.0.0.1:%d" % peer,
            "--unsafe-no-fsync", "--logger", "zap", "--log-level", "warn",
        ])

    def _start_apiserver(self, token_file):
        pki_paths = self.state["pki"]
        self._spawn("apiserver", [
            binary("kube-apiserver"),
            "--etcd-servers", "http://127.0.0.1:%d" % self.state["etcd_port"],
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", str(self.state["apiserver_port"]),
            "--tls-cert-file", pki_paths["server.crt"], "--tls-private-key-file", pki_paths["server.key"],
            "--client-ca-file", pki_paths["ca.crt"],
            "--token-auth-file", token_file,
            "--authorization-mode", "RBAC",
            "--service-account-key-file", pki_paths["sa.pub"],
            "--service-account-signing-key-file", pki_paths["sa.key"],
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--api-audiences", "https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range", "10.96.0.0/16",
            # the aggregation layer (KubeVirt's subresources.kubevirt.io APIService): kube-apiserver
            # authenticates to virt-api with the front-proxy client certificate
            "--requestheader-client-ca-file", pki_paths["front-proxy-ca.crt"],
            "--requestheader-allowed-names", "front-proxy-client",
            "--requestheader-username-headers", "X-Remote-User",
            "--requestheader-group-headers", "X-Remote-Group",
            "--requestheader-extra-headers-prefix", "X-Remote-Extra-",
            "--proxy-client-cert-file", pki_paths["front-proxy-client.crt"],
            "--proxy-client-key-file", pki_paths["front-proxy-client.key"],
            "--endpoint-reconciler-type", "none",
            # The default admission chain of 1.34 (NamespaceLifecycle, TaintNodesByCondition,
            # DefaultTolerationSeconds, PodSecurity, webhooks, ValidatingAdmissionPolicy, ...)
            # less ServiceAccount: pods are made right after their namespace, before the
            # serviceaccount controller has made its "default" account.
            "--disable-admission-plugins", "ServiceAccount",
            "--allow-privileged=true",
            "--profiling=false", "--v", "1",
        ])

    def _start_controller_manager(self):
        pki_paths = self.state["pki"]
        self._spawn("controller-manager", [
            binary("kube-controller-manager"),
            "--kubeconfig", self.path("kubeconfig-controller"),
            # the controllers every cluster runs by default (namespace, garbage collector,
            # endpoints, endpointslices, service accounts and tokens, node lifecycle,
            # deployments/replicasets/daemonsets, ...); nothing cloud-specific is configured
            "--controllers", "*",
            "--leader-elect=false", "--secure-port=0",
            "--service-account-private-key-file", pki_paths["sa.key"],
            "--root-ca-file", pki_paths["ca.crt"],
            "--concurrent-gc-syncs", "5", "--concurrent-namespace-syncs", "5",
            "--namespace-sync-period", "30s",
            "--v", "1",
        ])

    def _start_scheduler(self):
        """The real kube-scheduler places pods on the lab's nodes by their requests."""
        self._spawn("scheduler", [
            binary("kube-scheduler"),
            "--kubeconfig", self.path("kubeconfig-controller"),
            "--leader-elect=false", "--secure-port=0", "--v", "1",
        ])

    def _start_daemon(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        self._spawn("daemon", [sys.executable, "-m", "lab.daemon", "--state-dir", self.state_dir], env=env)

    # ---------------------------------------------------------------- HTTP
    def _ssl(self):
        return ssl.create_default_context(cafile=self.state["pki"]["ca.crt"])

    def request(self, method, path, body=None, token="admin", direct=True,
                content_type="application/json"):
        """A raw request (for the lab's own set-up and for tests)."""
        base = self.apiserver_url if direct else self.url
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token(token))
        req.add_header("Accept", "application/json, */*")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raise LabError("%s %s -> %s: %s" % (method, path, err.code, err.read()[:4000])) from err
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    # ------------------------------------------------ the proxy's admin API
    def log_seq(self):
        """The sequence number of the last logged request."""
        return self.request("GET", "/_lab/log/seq", direct=False)["seq"]

    def log(self, since=0):
        """Requests the proxy logged after sequence number ``since``."""
        return self.request("GET", "/_lab/log?since=%d" % since, direct=False)["requests"]

    def add_fault(self, **rule):
        return self.request("POST", "/_lab/faults", rule, direct=False)

    def clear_faults(self):
        self.request("DELETE", "/_lab/faults", direct=False)

    def get_config(self):
        """The lab's capabilities (lab/kubevirt/config.py)."""
        return self.request("GET", "/_lab/config", direct=False)

    def set_config(self, **changes):
        """Change capabilities at run time; returns the new configuration."""
        return self.request("PATCH", "/_lab/config", changes, direct=False)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for name, pid in self.state["pids"].items():
                if not _alive(pid):
                    raise LabError("%s exited during start-up; see %s" % (
                        name, self.path("logs", name + ".log")))
            try:
                if self.request("GET", "/readyz") == "ok":
                    return
            except (OSError, LabError) as err:
                last = err
            time.sleep(0.2)
        raise LabError("kube-apiserver not ready after %ss: %s" % (timeout, last))

    def _wait_daemon(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(self.state["pids"]["daemon"]):
                raise LabError("lab daemon exited; see %s" % self.path("logs", "daemon.log"))
            try:
                self.request("GET", "/version", direct=False)
                return
            except (OSError, LabError):
                time.sleep(0.1)
        raise LabError("lab daemon not answering after %ss" % timeout)

    # ------------------------------------------------------------ bootstrap
    def _bootstrap(self):
        self.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "lab-viewers"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "lab:viewers"}],
        })
        # The built-in "view" role does not cover custom resources: let viewers read them.
        self.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "lab-view-custom-resources",
                         "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [{"apiGroups": ["kubevirt.io", "clone.kubevirt.io", "k8s.cni.cncf.io",
                                     "sriovnetwork.openshift.io", "security.istio.io",
                                     "networking.istio.io", "subresources.kubevirt.io"],
                       "resources": ["*"], "verbs": ["get", "list", "watch"]}],
        })
        self.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "lab-viewers-custom-resources"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "lab-view-custom-resources"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "lab:viewers"}],
        })
        for crd in lab_crds.all_crds():
            self.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        self._wait_crds_established([c["metadata"]["name"] for c in lab_crds.all_crds()])

    def _wait_crds_established(self, names, timeout=60):
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                crd = self.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name)
                conds = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
                if conds.get("Established") == "True":
                    pending.discard(name)
            if pending:
                time.sleep(0.1)
        if pending:
            raise LabError("CRDs not established: %s" % ", ".join(sorted(pending)))

    def _write_kubeconfig(self):
        import base64

        with open(self.state["pki"]["ca.crt"], "rb") as handle:
            ca_data = base64.b64encode(handle.read()).decode()

        def config(server, users, current):
            return {
                "apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": server,
                                                         "certificate-authority-data": ca_data}}],
                "users": [{"name": name, "user": {"token": self.token(name)}} for name in users],
                "contexts": [{"name": "lab" if name == "admin" else "lab-" + name,
                              "context": {"cluster": "lab", "user": name, "namespace": "default"}}
                             for name in users],
                "current-context": current,
            }

        proxy = "https://127.0.0.1:%d" % self.state["proxy_port"]
        _write_private(self.kubeconfig, config(proxy, ["admin", "viewer"], "lab"))
        _write_private(self.path("kubeconfig-direct"), config(self.apiserver_url, ["admin"], "lab"))
        _write_private(self.path("kubeconfig-controller"),
                       config(self.apiserver_url, ["controller"], "lab-controller"))

    def _save(self):
        os.makedirs(self.state_dir, exist_ok=True)
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.state, handle, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.state_file)


def _write_private(path, data):
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    os.chmod(path, 0o600)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours counts as dead
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:
        return True


def _terminate(pid, timeout=10):
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
