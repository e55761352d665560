#!/usr/bin/env bash
# The ansible-core support matrix: the versions the collection claims
# (meta/runtime.yml requires_ansible), each in its own virtualenv cached outside
# the repository (~/.cache/kubevirt-net-lab/venvs/matrix-*), each with
#   - sanity: the ansible-test sanity tests whose result depends on the
#     ansible-core version or its Python (SANITY_TESTS below), and
#   - smoke: playbooks/site.yml (the demo) converged for real on a fresh lab
#     (failed=0), then in check mode (changed=0 and no write request, the proxy's log).
#
#   hack/matrix.sh                 # every entry below (make matrix)
#   hack/matrix.sh 2.17 2.19       # some of them
#   MATRIX_STAGES=sanity hack/matrix.sh   # sanity only (or: smoke)
#   MATRIX_SKIP_MAIN=1 hack/matrix.sh     # leave out the version of the main venv
#   MATRIX_SANITY=all hack/matrix.sh      # every sanity test, the linters too
#   hack/matrix.sh venv 2.17       # create (or reuse) 2.17's venv and print its path
#
# make test (hack/test.sh all, what CI runs) runs `MATRIX_STAGES=sanity
# MATRIX_SKIP_MAIN=1 hack/matrix.sh`, and its pytest run does the smoke runs on
# the workers' own labs (tests/integration/matrix/test_core_<x>_<y>.py, which
# get their venv from `hack/matrix.sh venv <x.y>`).  2.21 on Python 3.13 is left
# to `make matrix`: make test runs the whole suite and full sanity on 2.21 (main
# venv, Python 3.12), and 2.19's entry runs the collection on Python 3.13; what
# 2.21 x 3.13 adds on top is ansible-core's own business (its CI covers 3.13).
#
# An entry is <ansible-core minor>:<ansible-core pin>:<Python>:<ansible package>.
# The ansible package (installed --no-deps) only brings the collections the
# tests use (kubernetes.core, kubevirt.core, ansible.posix).  ansible 10, the
# package of ansible-core 2.17, carries kubernetes.core 5, older than galaxy.yml's
# ">=6.0.0": the 2.17 entry takes ansible 12's collections (kubernetes.core 6.2,
# which declares ansible-core >= 2.16), as a 2.17 user installing kubernetes.core
# 6 from Galaxy would have.  Pythons: the oldest the machine has that the core
# version supports on the controller, and a newer one for the later cores
# (the main venv of `make test` covers 2.21 on 3.12).
set -euo pipefail
shopt -s inherit_errexit  # a failing pip inside $(make_venv ...) stops the script
cd "$(dirname "$0")/.."
REPO="$PWD"

MATRIX=(
  "2.17:ansible-core==2.17.14:3.11:ansible==12.3.0"
  "2.19:ansible-core==2.19.14:3.13:ansible==12.3.0"
  "2.21:ansible-core==2.21.5:3.13:ansible==14.5.0"
)
CACHE="${KUBEVIRT_NET_CACHE:-$HOME/.cache/kubevirt-net-lab}/venvs"
STAGES="${MATRIX_STAGES:-sanity smoke}"

# The sanity tests whose result depends on the ansible-core version (or on the
# Python it runs on), from `ansible-test sanity --list-tests` (the same 24 on
# 2.17, 2.19 and 2.21):
#   validate-modules    DOCUMENTATION/argument_spec against this core's schema and
#                       its argument-spec rules (both change between core versions)
#   import              every module and module_util imported under this core's
#                       module_utils and Python (a name removed from a core breaks here)
#   compile             syntax on this Python (3.11 for 2.17)
#   ansible-doc         this core's ansible-doc renders every plugin (doc fragments,
#                       the version_added / deprecated rules)
#   action-plugin-docs  this core's plugin loader pairs action plugins with modules
#   runtime-metadata    meta/runtime.yml (requires_ansible, action_groups,
#                       plugin_routing) against this core's schema
#   ignores             tests/sanity/ignore-<core>.txt, the one file per core version
# Left to make test's full sanity on the main venv (one run is enough): the
# linters pylint, pep8, yamllint, shellcheck, pslint (their versions are pinned per
# core, but they check style, not whether the collection works on a core), the
# changelog check (antsibull-changelog) and the text checks (line-endings, shebang,
# no-assert, empty-init, symlinks, no-smart-quotes, ...), which read the files alone.
SANITY_TESTS=(validate-modules import compile ansible-doc action-plugin-docs runtime-metadata ignores)

find_python() {  # the interpreter of a minor version: system first, then pyenv (not its shims)
  local want="$1" cand
  # (ls | sort -V: the newest patch release of the minor version; the names are pyenv's, no blanks)
  # shellcheck disable=SC2012
  for cand in "/usr/bin/python$want" "/usr/local/bin/python$want" \
              "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want".*/bin/python3 2>/dev/null | sort -V | tail -1)"; do
    if [ -z "$cand" ] || [ ! -x "$cand" ]; then continue; fi
    if "$cand" -c 'import ssl, venv' >/dev/null 2>&1; then echo "$cand"; return 0; fi
  done
  return 1
}

make_venv() {  # make_venv <core pin> <python> <ansible package> -> prints the venv path
  local core="$1" py="$2" pkg="$3" key venv
  key="$(printf '%s\n' "$core" "$("$py" -V 2>&1)" "$pkg" "$(cat requirements.txt)" | sha256sum | cut -c1-12)"
  venv="$CACHE/matrix-${core#ansible-core==}-py$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-$key"
  mkdir -p "$CACHE"
  # one creator at a time (pytest-xdist workers, a sanity stage beside a test run)
  exec 9>"$venv.lock"; flock 9
  if [ ! -f "$venv/.installed" ]; then
    echo "matrix: creating $venv ($core, $("$py" -V 2>&1))" >&2
    rm -rf "$venv"; mkdir -p "$CACHE"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip >&2
    # the collection's runtime requirements, the core under test, the test runner
    "$venv/bin/python" -m pip install -q "$core" -r requirements.txt pytest==9.0.3 >&2
    # collections only: the ansible package would otherwise replace the core
    "$venv/bin/python" -m pip install -q --no-deps "$pkg" >&2
    "$venv/bin/python" -c 'import ansible_collections.kubernetes.core, ansible_collections.ansible.posix' >&2
    touch "$venv/.installed"
  fi
  flock -u 9; exec 9>&-
  echo "$venv"
}

smoke() {  # smoke <venv>: site.yml converged on a fresh lab, then checked without a write
  local venv="$1" state rc=0
  state="$(mktemp -d "${TMPDIR:-/tmp}/kubevirt-net-matrix.XXXXXX")"
  # (set -e does not hold inside a subshell on the left of ||: every step exits itself)
  (
    # shellcheck disable=SC2030  # the venv of this version, in this subshell only
    export VENV="$venv"; source hack/env.sh
    trap 'python -m lab down --state-dir "$state" >/dev/null 2>&1 || true' EXIT
    python -m lab up --state-dir "$state" --option istio=true >/dev/null || exit 1
    export K8S_AUTH_KUBECONFIG="$state/kubeconfig" ANSIBLE_DISPLAY_SKIPPED_HOSTS=false
    out="$(ansible-playbook -i localhost, playbooks/site.yml)" || { echo "$out" | tail -40; exit 1; }
    echo "$out" | grep -A1 'PLAY RECAP' | tail -1
    echo "$out" | grep -Eq 'localhost +: ok=[0-9]+ +changed=[1-9][0-9]* .*failed=0 ' \
      || { echo "matrix: the converge changed nothing or failed" >&2; exit 1; }
    before="$(python -m lab log-writes --state-dir "$state")" || exit 1
    out="$(ansible-playbook -i localhost, playbooks/site.yml --check)" || { echo "$out" | tail -40; exit 1; }
    echo "$out" | grep -A1 'PLAY RECAP' | tail -1
    after="$(python -m lab log-writes --state-dir "$state")" || exit 1
    sent=$(( after - before ))
    echo "$out" | grep -Eq 'localhost +: ok=[0-9]+ +changed=0 .*failed=0 ' \
      || { echo "matrix: check mode reports changes on the converged site" >&2; exit 1; }
    [ "$sent" -eq 0 ] || { echo "matrix: check mode sent $sent write requests" >&2; exit 1; }
  ) || rc=1
  rm -rf "$state"
  return "$rc"
}

entry_of() {  # entry_of <minor> -> the MATRIX entry
  local entry
  for entry in "${MATRIX[@]}"; do [ "${entry%%:*}" = "$1" ] && { echo "$entry"; return 0; }; done
  echo "matrix: no entry for ansible-core $1 (have: ${MATRIX[*]%%:*})" >&2; return 1
}

if [ "${1:-}" = venv ]; then  # hack/matrix.sh venv <minor>: the venv's path on stdout, logs on stderr
  [ $# -eq 2 ] || { echo "usage: $0 venv <ansible-core minor>" >&2; exit 2; }
  entry="$(entry_of "$2")" || exit 2
  IFS=: read -r minor core pyver pkg <<<"$entry"
  py="$(find_python "$pyver")" || { echo "matrix: no Python $pyver on this machine for ansible-core $minor" >&2; exit 1; }
  make_venv "$core" "$py" "$pkg"
  exit 0
fi

main_minor=""
# shellcheck disable=SC2031  # the main venv: VENV as the caller set it (smoke changes it in a subshell only)
if [ -n "${MATRIX_SKIP_MAIN:-}" ] && [ -x "${VENV:-$REPO/.venv}/bin/python" ]; then
  main_minor="$("${VENV:-$REPO/.venv}/bin/python" -c 'import ansible.release as r; print(".".join(r.__version__.split(".")[:2]))')"
fi
want=("$@")
rc=0; summary=()
for entry in "${MATRIX[@]}"; do
  IFS=: read -r minor core pyver pkg <<<"$entry"
  if [ "${#want[@]}" -gt 0 ] && ! printf '%s\n' "${want[@]}" | grep -qx "$minor"; then continue; fi
  if [ "$minor" = "$main_minor" ]; then summary+=("$minor: covered by make test (the main venv)"); continue; fi
  t0=$SECONDS
  py="$(find_python "$pyver")" || { echo "matrix: no Python $pyver on this machine for ansible-core $minor" >&2; rc=1
    summary+=("$minor: FAILED (no Python $pyver)"); continue; }
  venv="$(make_venv "$core" "$py" "$pkg")"
  got="$("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)')"
  echo "matrix: ansible-core $got on $("$venv/bin/python" -V) ($venv)"
  result="ok"
  for stage in $STAGES; do
    case "$stage" in
      sanity) if [ "${MATRIX_SANITY:-}" = all ]; then args=(); else args=(); for t in "${SANITY_TESTS[@]}"; do args+=(--test "$t"); done; fi
              s0=$SECONDS
              VENV="$venv" bash hack/test.sh sanity "${args[@]}" || { result="FAILED (sanity)"; rc=1; }
              echo "matrix: sanity with ansible-core $got took $((SECONDS - s0)) s" ;;
      smoke) echo "matrix: smoke run (site.yml converge + check) with ansible-core $got"
             smoke "$venv" || { result="FAILED (smoke)"; rc=1; } ;;
      *) echo "matrix: unknown stage $stage" >&2; exit 2 ;;
    esac
  done
  summary+=("$minor ($got, Python $pyver): $result in $((SECONDS - t0)) s")
done
echo "matrix summary:"; printf '  %s\n' "${summary[@]}"
exit "$rc"
