"""The execution environment definition (execution-environment.yml) produces an
ansible-builder build context that installs this collection, kubernetes.core
and the Python/system dependencies.

Context generation only (``ansible-builder create``): no container engine is
needed.  The introspection step that the image build runs is replayed on the
built tarball, so the merged dependency list is checked too."""

import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

pytest.importorskip("ansible_builder", reason="ansible-builder is not installed (requirements-dev.txt)")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PY_DEPS = ("kubernetes", "netaddr", "jsonpatch", "jsonschema", "PyYAML")


def _tool(name):
    """The console script next to this interpreter (the venv), else PATH."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else shutil.which(name)


def _req_names(lines):
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            for sep in "<>=!~;[ ":
                line = line.split(sep, 1)[0]
            names.add(line.lower())
    return names


@pytest.fixture(scope="module")
def ee_definition():
    with open(os.path.join(REPO, "execution-environment.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def galaxy():
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def built(tmp_path_factory, galaxy):
    """Copy the EE definition and its inputs to a scratch dir, build the collection
    tarball there and run ``ansible-builder create``; return the paths."""
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        shutil.copy(os.path.join(REPO, name), work / name)
    galaxy_cli = _tool("ansible-galaxy")
    assert galaxy_cli, "ansible-galaxy not found"
    proc = subprocess.run([galaxy_cli, "collection", "build", "--force", "--output-path", str(work), REPO],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarball = work / ("%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"]))
    assert tarball.exists(), proc.stdout
    context = work / "context"
    proc = subprocess.run([sys.executable, "-m", "ansible_builder", "create", "-f", "execution-environment.yml",
                           "-c", str(context), "--output-filename", "Containerfile", "-v", "2"],
                          cwd=str(work), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"work": work, "context": context, "tarball": tarball}


def test_schema_v3_and_inputs(ee_definition, galaxy):
    assert ee_definition["version"] == 3
    deps = ee_definition["dependencies"]
    assert deps["python"] == "requirements.txt" and deps["system"] == "bindep.txt"
    names = {c["name"] for c in deps["galaxy"]["collections"]}
    assert "kubernetes.core" in names
    # the local tarball's file name follows galaxy.yml's version
    expected = "%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"])
    assert any(n.endswith("/" + expected) for n in names), (names, expected)
    assert [f["src"] for f in ee_definition["additional_build_files"]] == [expected]
    # kubernetes.core bounds are the ones galaxy.yml declares
    kc = [c for c in deps["galaxy"]["collections"] if c["name"] == "kubernetes.core"][0]
    assert kc["version"] == galaxy["dependencies"]["kubernetes.core"]


def test_containerfile_installs_collections_and_deps(built):
    containerfile = (built["context"] / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile
    assert "-r requirements.yml" in containerfile
    assert "--user-pip=requirements.txt" in containerfile
    assert "--user-bindep=bindep.txt" in containerfile
    assert "COPY _build/requirements.txt requirements.txt" in containerfile
    assert "COPY _build/bindep.txt bindep.txt" in containerfile
    assert "ansible-core" in containerfile and "ansible-runner" in containerfile
    assert "python3.11" in containerfile


def test_context_lists_python_deps(built):
    lines = (built["context"] / "_build" / "requirements.txt").read_text().splitlines()
    names = _req_names(lines)
    for dep in PY_DEPS:
        assert dep.lower() in names, (dep, lines)


def test_context_lists_collections_and_ships_tarball(built, galaxy):
    reqs = yaml.safe_load((built["context"] / "_build" / "requirements.yml").read_text())
    collections = {c["name"]: c for c in reqs["collections"]}
    assert "kubernetes.core" in collections
    ours = [c for c in collections.values() if c.get("type") == "file"]
    assert len(ours) == 1
    # the Containerfile copies _build to /build: the requirement names the copied tarball
    assert ours[0]["name"].startswith("/build/")
    shipped = built["context"] / "_build" / ours[0]["name"][len("/build/"):]
    assert shipped.exists(), shipped
    with tarfile.open(str(shipped)) as tar:
        manifest = yaml.safe_load(tar.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    expected = (galaxy["namespace"], galaxy["name"], galaxy["version"])
    assert (info["namespace"], info["name"], info["version"]) == expected


def test_bindep_keeps_test_only_packages_out_of_the_image(built):
    bindep = (built["context"] / "_build" / "bindep.txt").read_text()
    for line in bindep.splitlines():
        if any(pkg in line for pkg in ("golang-go", "etcd-server")):
            assert "[test" in line, line


def test_introspection_merges_collection_requirements(built):
    """Replay the builder stage's introspection: install the tarball and
    kubernetes.core into a collections dir and merge their requirements."""
    colls = built["work"] / "collections" / "ansible_collections"
    ours = colls / "kubevirt_net" / "core"
    ours.mkdir(parents=True)
    with tarfile.open(str(built["tarball"])) as tar:
        tar.extractall(str(ours), filter="data")
    kc = pytest.importorskip("ansible_collections.kubernetes.core")
    (colls / "kubernetes").mkdir()
    os.symlink(list(kc.__path__)[0], str(colls / "kubernetes" / "core"))
    out_pip = built["work"] / "merged-requirements.txt"
    build_dir = built["context"] / "_build"
    proc = subprocess.run([sys.executable, str(build_dir / "scripts" / "introspect.py"), "introspect",
                           str(colls.parent), "--user-pip", str(build_dir / "requirements.txt"),
                           "--user-bindep", str(build_dir / "bindep.txt"), "--write-pip", str(out_pip)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = yaml.safe_load(proc.stdout)
    ours_lines = [line for line in data["python"] if line.endswith("from collection kubevirt_net.core")]
    for dep in ("kubernetes", "netaddr", "jsonpatch", "jsonschema"):
        assert dep in _req_names(ours_lines), (dep, data["python"])
    assert any(line.endswith("from collection kubernetes.core") for line in data["python"])
    assert {"kubernetes", "netaddr", "jsonpatch", "jsonschema"} <= _req_names(out_pip.read_text().splitlines())


def _lines(path):
    with open(path, encoding="utf-8") as handle:
        return [line.split("#", 1)[0].strip() for line in handle if line.split("#", 1)[0].strip()]


def test_ansible_builder_introspect_lists_exactly_the_declared_requirements(built, tmp_path):
    """``ansible-builder introspect`` (the CLI, PyPI ansible-builder) over the built
    collection alone: its Python and system requirements are exactly the lines of
    requirements.txt and bindep.txt, as meta/execution-environment.yml names them."""
    with open(os.path.join(REPO, "meta", "execution-environment.yml"), encoding="utf-8") as handle:
        meta = yaml.safe_load(handle)
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    colls = tmp_path / "ansible_collections" / "kubevirt_net" / "core"
    colls.mkdir(parents=True)
    with tarfile.open(str(built["tarball"])) as tar:
        tar.extractall(str(colls), filter="data")
    builder = _tool("ansible-builder")
    assert builder, "ansible-builder not found (requirements-dev.txt)"
    proc = subprocess.run([builder, "introspect", str(tmp_path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = yaml.safe_load(proc.stdout)
    suffix = "  # from collection kubevirt_net.core"
    assert all(line.endswith(suffix) for line in data["python"] + data["system"]), data
    python = [line[:-len(suffix)] for line in data["python"]]
    system = [line[:-len(suffix)] for line in data["system"]]
    # ansible-builder drops what ansible-core itself installs (PyYAML); everything else, in order
    declared = _lines(os.path.join(REPO, "requirements.txt"))
    assert [line for line in declared if line not in python] == ["PyYAML>=6.0"], (declared, python)
    assert python == [line for line in declared if not line.lower().startswith("pyyaml")]
    assert system == _lines(os.path.join(REPO, "bindep.txt"))
