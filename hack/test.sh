#!/usr/bin/env bash
# The test command: unit tests, ansible-test sanity, ansible-lint (production
# profile) and the integration tests against the lab cluster.
#   hack/test.sh [all|unit|sanity|lint|typecheck|integration] [pytest args...]
#   hack/test.sh sanity [ansible-test sanity args...]   (e.g. --test import)
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/env.sh
what="${1:-all}"; shift || true

versions() {
  python - <<'PY'
import json, os, sys, ansible, ansible.release
import ansible_collections.kubernetes.core as kc, ansible_collections.kubevirt.core as kv
def coll(mod):
    with open(os.path.join(list(mod.__path__)[0], "MANIFEST.json")) as f:
        return json.load(f)["collection_info"]["version"]
import importlib.metadata as md
print("versions: Python %s, ansible %s (ansible-core %s), kubernetes.core %s, kubevirt.core %s, kubernetes client %s" % (
    sys.version.split()[0], md.version("ansible"), ansible.release.__version__, coll(kc), coll(kv), md.version("kubernetes")))
PY
}

sanity() {  # sanity [ansible-test sanity args...]
  # ansible-test wants the collection (and its dependencies) in a real
  # ansible_collections tree: copy the tracked files there.  One tree per
  # ansible-core and Python (.build/sanity-<core>-py<python>), so the matrix's
  # sanity runs (hack/matrix.sh) do not clobber the main venv's.
  local core pyver base root
  core="$(python -c 'import ansible.release as r; print(".".join(r.__version__.split(".")[:2]))')"
  pyver="$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  base="$BUILD/sanity-$core-py$pyver"
  root="$base/ansible_collections"
  rm -rf "$root/kubevirt_net/core"; mkdir -p "$root/kubevirt_net/core" "$root/kubernetes"
  git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$root/kubevirt_net/core/"
  local kc; kc="$(python -c 'import ansible_collections.kubernetes.core as m; print(list(m.__path__)[0])')"
  ln -sfn "$kc" "$root/kubernetes/core"
  # ansible-test downloads a pip bootstrap script from a host these machines
  # cannot reach: give it an offline stand-in under the name it caches.
  local pipver; pipver="$(sed -n "s/^ *pip='\([0-9.]*\)',.*/\1/p" \
      "$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py")"
  mkdir -p "$HOME/.ansible/test/cache"
  for v in $pipver; do cp hack/get-pip-offline.py "$HOME/.ansible/test/cache/get_pip_${v//./_}.py"; done
  ( cd "$root/kubevirt_net/core" && git init -q && git add -A )
  echo "sanity: ansible-test sanity --python $pyver (ansible-core $core) $*"
  ( cd "$root/kubevirt_net/core" && ANSIBLE_COLLECTIONS_PATH="$base" \
      ansible-test sanity --python "$pyver" --color no --venv "$@" )
}

lint() {
  echo "lint: ansible-lint --profile production"
  ansible-lint --profile production --offline -q
}

typecheck() {
  # mypy over plugins/module_utils as the package ansible-core imports (env.sh links it under
  # .build/ansible_collections; hack/mypy.ini)
  echo "typecheck: mypy $(python -m mypy --version | cut -d' ' -f2) on plugins/module_utils"
  MYPYPATH="$BUILD" python -m mypy --config-file hack/mypy.ini --cache-dir "$BUILD/mypy-cache" \
      -p ansible_collections.kubevirt_net.core.plugins.module_utils
}

run_pytest() {
  local rc=0
  python -m pytest "$@" || rc=$?
  [ "$rc" -eq 5 ] && { echo "pytest: no tests collected" >&2; return 1; }
  return "$rc"
}

versions
case "$what" in
  # with a test path among the arguments, run only what was named
  unit) if printf '%s\n' "$@" | grep -q '^tests/'; then run_pytest "$@"; else run_pytest tests/unit "$@"; fi ;;
  sanity) sanity "$@" ;;
  lint) lint ;;
  typecheck) typecheck ;;
  integration) if printf '%s\n' "$@" | grep -q '^tests/\|^bench/'; then run_pytest "$@"; else run_pytest tests/integration bench "$@"; fi ;;
  all)
    # run every stage, then fail if any failed (so one report shows all of them)
    rc=0
    sanity || { echo "test: ansible-test sanity FAILED" >&2; rc=1; }
    # the support matrix's other ansible-core versions (hack/matrix.sh): the sanity
    # tests that depend on the core version here; their smoke runs (site.yml
    # converge + check) are tests/integration/matrix in the pytest run below
    MATRIX_STAGES=sanity MATRIX_SKIP_MAIN=1 bash hack/matrix.sh \
      || { echo "test: ansible-core matrix sanity FAILED" >&2; rc=1; }
    lint || { echo "test: ansible-lint FAILED" >&2; rc=1; }
    typecheck || { echo "test: mypy FAILED" >&2; rc=1; }
    bash hack/docs.sh --check || { echo "test: docs generation FAILED" >&2; rc=1; }
    # two workers (pytest-xdist), each with its own lab; a file stays on one worker, so
    # module-scoped fixtures (the Istio lab set-up) and a file's order hold.  PYTEST_WORKERS=0: serial.
    # --durations=40: the slowest tests in the log, to see where CI's time goes
    workers="${PYTEST_WORKERS:-2}"
    if [ "$workers" != 0 ]; then
      run_pytest -n "$workers" --dist loadfile --durations=40 tests/unit tests/integration bench "$@" || rc=1
    else
      run_pytest --durations=40 tests/unit tests/integration bench "$@" || rc=1
    fi
    exit "$rc"
    ;;
  *) echo "usage: $0 [all|unit|sanity|lint|typecheck|integration]" >&2; exit 2 ;;
esac
