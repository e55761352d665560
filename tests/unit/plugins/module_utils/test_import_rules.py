"""The layering of plugins/module_utils (docs/architecture.md), enforced:

* no ``*_runner`` imports another ``*_runner`` (shared machinery lives in the
  engine files: writes, waits, hotplug_engine, reconcile);
* no pure planning file imports the executor or the engine (they hold I/O);
* no import cycle among module_utils files (late imports inside functions
  count: they hide a cycle, they do not remove it).

The imports are read with ``ast`` from the source, so the test needs nothing
installed and names the file and line of each violation."""

import ast
import os

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
MODULE_UTILS = os.path.join(ROOT, "plugins", "module_utils")
PACKAGE = "ansible_collections.kubevirt_net.core.plugins.module_utils"

# files that talk to the API or carry plans out
EXECUTOR = {"reconcile", "writes", "waits", "hotplug_engine", "api", "module", "istio_cluster", "clone_source"}
# pure planning and rule files: no I/O of their own
PURE = {"nad", "cni", "ipam", "netpol", "netpol_eval", "netpol_admin", "netpol_eval_tiers", "netpol_fields",
        "netpol_model", "netpol_sets", "netpol_impact",
        "netpol_multi", "netpol_report", "sriov_capacity", "istio", "istio_options", "istio_vms", "istio_objects",
        "istio_verify", "vm_service", "clone", "clone_own_patches", "clone_progress", "hotplug", "vmspec",
        "vm_network", "vm_network_admission", "vm_network_checks", "vm_network_live", "binding_plugin", "planner",
        "targets", "selectors", "macaddr",
        "validate", "retry", "resources"}

# Known violations in files another change splits (issue 20 steps 3-4); each one is named so that a new
# violation fails, and an entry that no longer exists fails too (remove it when its file is fixed).
KNOWN_PURE_VIOLATIONS = {
    ("nad", "api"),            # nad.missing_namespaces does one GET per namespace (ApiError for 401/403)
}
KNOWN_CYCLE_EDGES = set()  # doctor_diagnose imports the checks; they import only doctor's shared model


def imports_of(path):
    """[(imported module_utils file, line)] of one source file."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                out.extend((alias.name, node.lineno) for alias in node.names)
            elif node.module.startswith(PACKAGE + "."):
                out.append((node.module[len(PACKAGE) + 1:].split(".")[0], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    out.append((alias.name[len(PACKAGE) + 1:].split(".")[0], node.lineno))
    return out


def graph(directory=MODULE_UTILS):
    """file -> {imported file: first line}, module_utils files only."""
    names = sorted(f[:-3] for f in os.listdir(directory) if f.endswith(".py") and f != "__init__.py")
    edges = {}
    for name in names:
        found = {}
        for target, line in imports_of(os.path.join(directory, name + ".py")):
            if target in names and target != name:
                found.setdefault(target, line)
        edges[name] = found
    return edges


def runner_violations(edges):
    return sorted("%s.py:%d imports %s" % (src, line, dst) for src, targets in edges.items()
                  for dst, line in targets.items() if src.endswith("_runner") and dst.endswith("_runner"))


def pure_violations(edges, known=frozenset()):
    return sorted("%s.py:%d imports %s" % (src, line, dst) for src, targets in edges.items() if src in PURE
                  for dst, line in targets.items()
                  if (dst in EXECUTOR or dst.endswith("_runner")) and (src, dst) not in known)


def cycles(edges, known=frozenset()):
    """Every cycle (as a list of files, smallest rotation first), ignoring the ``known`` edges."""
    adjacency = dict((src, sorted(d for d in targets if (src, d) not in known and (d, src) not in known))
                     for src, targets in edges.items())
    found = set()

    def walk(node, path, on_path):
        for nxt in adjacency.get(node, ()):
            if nxt in on_path:
                cycle = path[path.index(nxt):]
                start = cycle.index(min(cycle))
                found.add(tuple(cycle[start:] + cycle[:start]))
            elif len(path) < 40:
                walk(nxt, path + [nxt], on_path | {nxt})
    for node in adjacency:
        walk(node, [node], {node})
    return sorted(list(c) for c in found)


def test_no_runner_imports_another_runner():
    assert runner_violations(graph()) == []


def test_no_pure_planning_file_imports_the_executor():
    assert pure_violations(graph(), KNOWN_PURE_VIOLATIONS) == []


def test_no_import_cycle_in_module_utils():
    assert cycles(graph(), KNOWN_CYCLE_EDGES) == []


def test_the_known_violations_still_exist():
    """A whitelisted violation that was fixed must leave the whitelist, so it cannot come back unnoticed."""
    edges = graph()
    for src, dst in KNOWN_PURE_VIOLATIONS | KNOWN_CYCLE_EDGES:
        assert dst in edges.get(src, {}) or src in edges.get(dst, {}), (src, dst)


def test_every_module_utils_file_is_classified():
    """A new file must be put in a layer: runner, executor/engine, pure, or one of the others named here."""
    others = {"args", "kubevirt", "doctor", "doctor_diagnose", "doctor_interfaces", "doctor_traffic", "doctor_dns",
              "doctor_istio", "doctor_impact", "doctor_networks", "sriov_sysfs", "sriov_hostnet", "connection_hint"}
    unknown = [n for n in graph() if not n.endswith("_runner") and n not in EXECUTOR | PURE | others]
    assert unknown == []


# ----------------------------------------------------- the checks can fail
def write(tmp_path, name, *imports):
    lines = ["from %s import %s" % (PACKAGE, i) if "." not in i else "from %s.%s import x" % (PACKAGE, i.split(".")[0])
             for i in imports]
    (tmp_path / (name + ".py")).write_text("\n".join(lines) + "\n")


def test_the_checks_find_what_they_look_for(tmp_path):
    write(tmp_path, "a_runner", "b_runner.x")
    write(tmp_path, "b_runner", "writes")
    write(tmp_path, "writes", "vmspec")
    write(tmp_path, "vmspec", "reconcile.x")
    write(tmp_path, "reconcile", "writes")
    (tmp_path / "late.py").write_text("def f():\n    from %s import vmspec\n" % PACKAGE)
    edges = graph(str(tmp_path))
    assert runner_violations(edges) == ["a_runner.py:1 imports b_runner"]
    assert pure_violations(edges) == ["vmspec.py:1 imports reconcile"]
    assert cycles(edges) == [["reconcile", "writes", "vmspec"]]
    assert edges["late"] == {"vmspec": 2}
    assert cycles(edges, {("vmspec", "reconcile")}) == []


@pytest.mark.parametrize("runner", ["a_runner", "b_runner"])
def test_a_runner_importing_itself_is_no_violation(tmp_path, runner):
    write(tmp_path, runner, runner)
    assert runner_violations(graph(str(tmp_path))) == []
