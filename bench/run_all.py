"""Run every benchmark scenario in bench/ and write docs/benchmarks.md.

Each scenario script (bench/<name>.py with a ``main()``) starts its own lab,
runs the collection's way and the comparison in the same run and writes
bench/results/<name>.json; this runs each one ``--runs`` times and reports,
per run label, the median seconds and the request and write counts from the
lab proxy's request log, and per comparison the median ratio.

  python -m bench.run_all                    # default sizes, 1 run each
  python -m bench.run_all --runs 3           # medians of 3
  python -m bench.run_all --scale small      # tiny sizes (smoke; numbers not representative)
  python -m bench.run_all --only networks --only clones

Scenarios are found by file name, so a new script is picked up by itself; the
size options of ``--scale small`` are applied when its ``--help`` lists them."""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")
NOT_SCENARIOS = {"__init__", "common", "run_all"}
# the scenario order in the report (others follow alphabetically)
ORDER = ["network_policies", "multi_network_policies", "networks", "hotplug", "clones", "istio", "single_object"]
# --scale small: applied to the options a scenario's --help lists
SMALL = {"--count": 4, "--loop-count": 4, "--namespaces": 10, "--loop-namespaces": 4, "--vms": 4,
         "--loop-vms": 4, "--restart-vms": 2}
SMALL_PER_SCENARIO = {"clones": {"--count": 3}, "istio": {"--namespaces": 2, "--vms": 3, "--loop-namespaces": 1}}


def scenarios(only=None):
    names = [os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "bench", "*.py"))]
    names = [n for n in names if n not in NOT_SCENARIOS and not n.startswith("_")]
    with_main = []
    for name in names:
        with open(os.path.join(REPO, "bench", name + ".py"), encoding="utf-8") as handle:
            if re.search(r"^def main\(", handle.read(), re.M):
                with_main.append(name)
    ordered = [n for n in ORDER if n in with_main] + sorted(n for n in with_main if n not in ORDER)
    return [n for n in ordered if not only or n in only]


def scale_args(name, scale):
    if scale != "small":
        return []
    proc = subprocess.run([sys.executable, "-m", "bench." + name, "--help"], cwd=REPO, capture_output=True,
                          text=True, check=False)
    listed = set(re.findall(r"(--[a-z][a-z-]*)", proc.stdout))
    values = dict(SMALL, **SMALL_PER_SCENARIO.get(name, {}))
    args = []
    for option, value in values.items():
        if option in listed:
            args += [option, str(value)]
    return args


def run_once(name, args, timeout):
    out = os.path.join(RESULTS, name + ".json")
    before = os.path.getmtime(out) if os.path.exists(out) else None
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "bench." + name] + args, cwd=REPO,  # pylint: disable=R1732
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as err:
        # SIGINT, so the scenario's ``finally: lab.down()`` stops its lab; kill only if it does not end
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise RuntimeError("bench.%s did not finish within %ss" % (name, timeout)) from err
    elapsed = time.monotonic() - start
    sys.stdout.write(stdout)
    if proc.returncode:
        raise RuntimeError("bench.%s failed (rc %s):\n%s\n%s" % (name, proc.returncode, stdout[-3000:],
                                                                 stderr[-3000:]))
    if not os.path.exists(out) or os.path.getmtime(out) == before:
        raise RuntimeError("bench.%s wrote no %s" % (name, out))
    with open(out, encoding="utf-8") as handle:
        data = json.load(handle)
    data["scenario_seconds"] = round(elapsed, 1)
    return data


def _speedup(ratio):
    """(value, kind): ``speedup`` or a per-unit one (``speedup_per_namespace``, ``speedup_per_vm``...)."""
    for key in sorted(ratio):
        if key == "speedup" or key.startswith("speedup_per_"):
            return ratio[key], key
    return None, None


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def combine(name, args, runs):
    """Medians over runs: rows by label, ratios by (ours, alternative)."""
    first = runs[0]
    rows = []
    for row in first["rows"]:
        same = [next((r for r in run["rows"] if r["label"] == row["label"]), None) for run in runs]
        same = [r for r in same if r]
        rows.append({"label": row["label"], "seconds": _median([r["seconds"] for r in same]),
                     "requests": int(statistics.median([r["requests"] for r in same])),
                     "writes": int(statistics.median([r["writes"] for r in same])),
                     "seconds_all": [r["seconds"] for r in same]})
    by_label = {r["label"]: r for r in rows}
    comparisons = []
    for index, ratio in enumerate(first.get("ratios", [])):
        alternative = ratio.get("alternative") or ratio.get("loop")
        values = []
        kind = None
        for run in runs:
            if index < len(run.get("ratios", [])):
                value, kind = _speedup(run["ratios"][index])
                values.append(value)
        ours, theirs = by_label.get(ratio["ours"]), by_label.get(alternative)
        comparisons.append({"ours": ratio["ours"], "alternative": alternative,
                            "ours_seconds": ours and ours["seconds"], "alternative_seconds": theirs and theirs["seconds"],
                            "ratio": _median(values), "ratio_kind": kind,
                            "ours_requests": ours and ours["requests"], "ours_writes": ours and ours["writes"],
                            "alternative_requests": theirs and theirs["requests"],
                            "alternative_writes": theirs and theirs["writes"],
                            "notes": {k: v for k, v in ratio.items() if k.startswith("loop_seconds_extrapolated")}})
    return {"scenario": name, "title": first.get("title", name), "args": args, "runs": len(runs),
            "rows": rows, "comparisons": comparisons,
            "scenario_seconds": _median([r["scenario_seconds"] for r in runs])}


def machine():
    info = {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kib = int(handle.readline().split()[1])
        info["memory_gib"] = round(kib / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import ansible.release  # pylint: disable=import-outside-toplevel
        info["ansible_core"] = ansible.release.__version__
        import ansible_collections.kubernetes.core as kc  # pylint: disable=import-outside-toplevel
        with open(os.path.join(list(kc.__path__)[0], "MANIFEST.json"), encoding="utf-8") as handle:
            info["kubernetes_core"] = json.load(handle)["collection_info"]["version"]
    except Exception:  # pylint: disable=broad-except
        pass
    return info


def _num(value, fmt="%.2f"):
    return "n/a" if value is None else fmt % value


def markdown(results, info, args, failed):
    out = ["# Benchmarks", "",
           "Written by `python -m bench.run_all%s` (`make bench`) on %s UTC. Every scenario starts its own lab "
           "cluster (etcd and kube-apiserver 1.34 with KubeVirt v1.9.0's virt-api and virt-controller, behind the lab "
           "proxy) and runs the collection's way and the "
           "comparison **in the same run**; requests and writes are counted by the lab proxy's request log "
           "(writes = POST/PUT/PATCH/DELETE). Seconds are wall time of one `ansible-playbook` process, Ansible's "
           "start-up included; %s. The ratios and request counts are the point, not the seconds."
           % ("".join(" " + a for a in args), datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
              "medians of %d runs" % args_runs(args) if args_runs(args) > 1 else "single runs"), "",
           "Machine: %s cores, %s GiB, %s; Python %s, ansible-core %s, kubernetes.core %s; load average at the end %s."
           % (info.get("cores"), info.get("memory_gib", "?"), info.get("platform"), info.get("python"),
              info.get("ansible_core", "?"), info.get("kubernetes_core", "?"), info.get("load_average", "?")), ""]
    if "--scale" in args and "small" in args:
        out += ["**Small sizes (`--scale small`): a smoke run, not representative numbers.**", ""]
    out += ["## Summary", "",
            "| scenario | ours | seconds | comparison | seconds | ratio | requests ours / comparison "
            "| writes ours / comparison |", "|---|---|---:|---|---:|---:|---:|---:|"]
    for res in results:
        for comp in res["comparisons"]:
            ratio = _num(comp["ratio"], "%.1fx")
            if comp["ratio_kind"] and comp["ratio_kind"].startswith("speedup_per_"):
                ratio += " " + comp["ratio_kind"][len("speedup_"):].replace("_", " ")
            out.append("| %s | %s | %s | %s | %s | %s | %s / %s | %s / %s |" % (
                res["scenario"], comp["ours"], _num(comp["ours_seconds"]), comp["alternative"],
                _num(comp["alternative_seconds"]), ratio, comp["ours_requests"], comp["alternative_requests"],
                comp["ours_writes"], comp["alternative_writes"]))
    for res in results:
        command = "python -m bench.%s%s" % (res["scenario"], "".join(" " + a for a in res["args"]))
        out += ["", "## %s (`%s`)" % (res["title"], command), "",
                "| run | seconds (median) | requests | writes | seconds of each run |", "|---|---:|---:|---:|---|"]
        for row in res["rows"]:
            each = ", ".join("%.2f" % s for s in row["seconds_all"])
            cells = (row["label"], _num(row["seconds"]), row["requests"], row["writes"], each)
            out.append("| %s | %s | %d | %d | %s |" % cells)
        for comp in res["comparisons"]:
            for key, value in comp["notes"].items():
                out.append("")
                out.append("%s: %s s (`%s`), the comparison measured on fewer objects and scaled."
                           % (comp["alternative"], value, key))
    if failed:
        out += ["", "## Failed scenarios", ""] + ["- `%s`: %s" % (n, e.splitlines()[0]) for n, e in failed]
    out += ["", "Raw numbers: `bench/results/run_all.json` and the per-scenario files next to it.", ""]
    return "\n".join(out)


def args_runs(args):
    return int(args[args.index("--runs") + 1]) if "--runs" in args else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="runs per scenario; medians are reported")
    parser.add_argument("--scale", choices=["default", "small"], default="default")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--output", default=os.path.join(REPO, "docs", "benchmarks.md"))
    parser.add_argument("--from-json", action="append", metavar="RUN_ALL_JSON",
                        help="do not run anything: write the page from saved bench/results/run_all.json files "
                             "(repeatable; e.g. scenarios run in several sittings)")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds per scenario run (default 3600, 900 with --scale small)")
    args = parser.parse_args(argv)
    shown = ["--runs", str(args.runs)] if args.runs > 1 else []
    if args.scale == "small":
        shown += ["--scale", "small"]
    results, failed = [], []
    if args.from_json:
        for path in args.from_json:
            with open(path, encoding="utf-8") as handle:
                saved = json.load(handle)
            results += saved["results"]
            failed += [tuple(f) for f in saved.get("failed", [])]
            shown = saved.get("args", shown)
        rank = {name: index for index, name in enumerate(ORDER)}
        results.sort(key=lambda r: (rank.get(r["scenario"], len(ORDER)), r["scenario"]))
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(markdown(results, saved.get("machine") or machine(), shown, failed))
        print("wrote %s" % args.output)
        return 1 if failed else 0
    for name in scenarios(args.only):
        extra = scale_args(name, args.scale)
        print("== bench.%s %s (x%d)" % (name, " ".join(extra), args.runs), flush=True)
        runs = []
        try:
            for _run in range(args.runs):
                runs.append(run_once(name, extra, args.timeout or (900 if args.scale == "small" else 3600)))
        except RuntimeError as err:
            print(err, file=sys.stderr)
            failed.append((name, str(err)))
            continue
        results.append(combine(name, extra, runs))
    info = machine()
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "run_all.json"), "w", encoding="utf-8") as handle:
        json.dump({"machine": info, "args": shown, "results": results, "failed": failed}, handle, indent=2)
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(markdown(results, info, shown, failed))
    print("wrote %s" % args.output)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
