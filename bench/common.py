"""Shared plumbing for the benchmarks: a lab, playbook runs with wall time and
the API requests each made (from the lab proxy's request log)."""

import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from lab.cluster import Lab  # noqa: E402  pylint: disable=wrong-import-position

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def ansible_env(lab):
    venv_bin = os.path.dirname(sys.executable)
    build = os.path.join(REPO, ".build")
    link = os.path.join(build, "ansible_collections", "kubevirt_net", "core")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=build, ANSIBLE_PYTHON_INTERPRETER=os.path.join(venv_bin, "python"),
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               K8S_AUTH_KUBECONFIG=lab.kubeconfig, PATH=venv_bin + os.pathsep + env.get("PATH", ""))
    return env


def run_playbook(lab, plays, label):
    """Run plays; return dict(label, seconds, requests, writes)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump(plays, handle, sort_keys=False)
        path = handle.name
    seq = lab.log_seq()
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", path], env=ansible_env(lab),
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    os.unlink(path)
    if proc.returncode:
        raise SystemExit("%s failed:\n%s\n%s" % (label, proc.stdout[-3000:], proc.stderr[-2000:]))
    log = lab.log(seq)
    return {"label": label, "seconds": round(seconds, 2), "requests": len(log),
            "writes": sum(1 for e in log if e["method"] in WRITES)}


def wait_running(lab, namespace, name, timeout=120):
    """Until the VMI of ``namespace/name`` reports phase Running (KubeVirt's virt-controller
    and the lab's node side get it there)."""
    deadline = time.monotonic() + timeout
    path = "/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s" % (namespace, name)
    while True:
        try:
            if (lab.request("GET", path).get("status") or {}).get("phase") == "Running":
                return
        except Exception:  # pylint: disable=broad-except
            pass  # 404 until virt-controller has made the VMI
        if time.monotonic() >= deadline:
            raise SystemExit("VMI %s/%s not Running after %ss" % (namespace, name, timeout))
        time.sleep(0.5)


def start_lab():
    state = tempfile.mkdtemp(prefix="kvnet-bench-")
    return Lab(state).up()


def report(title, rows, pairs, out_name):
    print("\n== %s" % title)
    print("%-46s %9s %9s %7s" % ("run", "seconds", "requests", "writes"))
    for row in rows:
        print("%-46s %9.2f %9d %7d" % (row["label"], row["seconds"], row["requests"], row["writes"]))
    ratios = []
    for ours, theirs in pairs:
        ratio = theirs["seconds"] / ours["seconds"] if ours["seconds"] else float("inf")
        ratios.append({"ours": ours["label"], "alternative": theirs["label"], "speedup": round(ratio, 1),
                       "requests_ours": ours["requests"], "requests_alternative": theirs["requests"]})
        print("speed-up %-38s %6.1fx  (requests %d vs %d)"
              % (ours["label"], ratio, ours["requests"], theirs["requests"]))
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    with open(os.path.join(REPO, "bench", "results", out_name), "w", encoding="utf-8") as handle:
        json.dump({"title": title, "rows": rows, "ratios": ratios}, handle, indent=2)
    return ratios


def per_namespace_report(title, rows, sizes, out_name, goals=None):
    """Print and save a scenario whose two sides ran on different numbers of
    namespaces: ``rows`` are [ours first, loop first, ours re-run, loop re-run]
    and ``sizes`` their namespace counts.  The ratios are per namespace (a loop
    costs the same per namespace whatever N is); the loop's time extrapolated
    to the role's N is printed and saved, marked as such."""
    print("\n== %s; role on %d namespaces, k8s loop on %d" % (title, sizes[0], sizes[1]))
    print("%-44s %9s %9s %7s %12s" % ("run", "seconds", "requests", "writes", "s/namespace"))
    for row, size in zip(rows, sizes):
        row["namespaces"] = size
        row["seconds_per_namespace"] = round(row["seconds"] / size, 4)
        print("%-44s %9.2f %9d %7d %12.4f" % (row["label"], row["seconds"], row["requests"], row["writes"],
                                              row["seconds_per_namespace"]))
    ratios = []
    for index, (ours, loop) in enumerate(((rows[0], rows[1]), (rows[2], rows[3]))):
        ratio = loop["seconds_per_namespace"] / ours["seconds_per_namespace"]
        extrapolated = loop["seconds_per_namespace"] * ours["namespaces"]
        entry = {"ours": ours["label"], "loop": loop["label"], "speedup_per_namespace": round(ratio, 1),
                 "loop_seconds_extrapolated_to_%d" % ours["namespaces"]: round(extrapolated, 1),
                 "requests_per_namespace_ours": round(ours["requests"] / ours["namespaces"], 3),
                 "requests_per_namespace_loop": round(loop["requests"] / loop["namespaces"], 3)}
        goal = ""
        if goals:
            entry["goal"] = goals[index]
            goal = " (goal %dx)" % goals[index]
        ratios.append(entry)
        print("speed-up %-36s %7.1fx per namespace%s; loop extrapolated to %d namespaces: %.0f s (measured on %d)"
              % (ours["label"], ratio, goal, ours["namespaces"], extrapolated, loop["namespaces"]))
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    with open(os.path.join(REPO, "bench", "results", out_name), "w", encoding="utf-8") as handle:
        json.dump({"title": title, "rows": rows, "ratios": ratios}, handle, indent=2)
    return ratios
