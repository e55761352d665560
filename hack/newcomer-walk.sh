#!/usr/bin/env bash
# A newcomer's first hour, scripted: clone this repository into a temporary
# directory and follow the README's quick start there, as written:
#   1. a virtualenv with ansible and requirements.txt; ansible-galaxy collection build + install
#   2. the lab (python -m lab up), K8S_AUTH_KUBECONFIG=$PWD/.lab/kubeconfig
#   3. the README's first task (the ```yaml block after <!-- quickstart: first.yml -->), twice:
#      the second run must report changed=0
#   4. playbooks/guides_setup.yml, twice: the second run must report changed=0
# and print how long each step took.  The clone gets its own HOME (so ~/.ansible of
# this machine is neither used nor touched); only the lab's compiled control plane
# is shared (LAB_CACHE_DIR, default ~/.cache/kubevirt-net-lab): its one-time build
# (about 18 minutes) is not part of the walk.
#
#   bash hack/newcomer-walk.sh                 # clone HEAD of this checkout
#   WALK_REPO=<url or path> WALK_REF=<branch> bash hack/newcomer-walk.sh
#   WALK_KEEP=1 ...                            # keep the temporary directory
# Needs Python >= 3.11 (PYTHON=...) and pip access to PyPI (or a wheel house in PIP_FIND_LINKS).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="${WALK_REPO:-$here}"
ref="${WALK_REF:-HEAD}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  for cand in python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python="$(command -v "$cand")"; break
    fi
  done
fi
[ -n "$python" ] || { echo "walk: no Python >= 3.11 (set PYTHON=...)" >&2; exit 2; }

export LAB_CACHE_DIR="${LAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubevirt-net-lab}"
work="$(mktemp -d "${TMPDIR:-/tmp}/newcomer-walk.XXXXXX")"
lab_started=""
cleanup() {
  if [ -n "$lab_started" ]; then
    ( cd "$work/kubevirt_net" && .venv/bin/python -m lab down >/dev/null 2>&1 ) || true
  fi
  if [ -z "${WALK_KEEP:-}" ]; then rm -rf "$work"; else echo "walk: kept $work"; fi
}
trap cleanup EXIT
export HOME="$work/home"
mkdir -p "$HOME"
for name in KUBECONFIG K8S_AUTH_KUBECONFIG K8S_AUTH_CONTEXT K8S_AUTH_HOST K8S_AUTH_API_KEY \
            ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS VIRTUAL_ENV LAB_STATE_DIR; do
  unset "$name"
done

started=$SECONDS
step_start=$SECONDS
timings=()
step() {  # step <name>: ends the previous step's clock
  echo "walk: == $1"
}
done_step() {
  timings+=("$(printf '%-34s %4ds' "$1" $((SECONDS - step_start)))")
  step_start=$SECONDS
}
changed_of() {  # the PLAY RECAP's changed= count for localhost
  sed -n 's/^localhost *:.* changed=\([0-9]*\).*/\1/p' "$1" | tail -1
}

step "clone $repo ($ref)"
git clone -q "$repo" "$work/kubevirt_net"
cd "$work/kubevirt_net"
git checkout -q "$ref"
done_step "clone"

step "1. virtualenv, ansible, requirements.txt"
"$python" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
pip install -q 'ansible>=10' -r requirements.txt
done_step "pip install"

step "1. ansible-galaxy collection build + install"
ansible-galaxy collection build --force
tarball="$(ls kubevirt_net-core-*.tar.gz)"
ansible-galaxy collection install --force --no-deps "$tarball"
ansible-doc kubevirt_net.core.kubevirt_network | head -3
installed="$HOME/.ansible/collections/ansible_collections/kubevirt_net/core"
[ -f "$installed/MANIFEST.json" ] || { echo "walk: the collection is not in $installed" >&2; exit 1; }
done_step "collection build + install"

step "2. the lab"
lab_started=1
python -m lab up
export K8S_AUTH_KUBECONFIG="$PWD/.lab/kubeconfig"
[ -f "$K8S_AUTH_KUBECONFIG" ] || { echo "walk: no $K8S_AUTH_KUBECONFIG" >&2; exit 1; }
done_step "lab up"

step "3. the README's first task"
python - <<'PY' > first.yml
import re
text = open("README.md", encoding="utf-8").read()
match = re.search(r"<!-- quickstart: first.yml -->\s*```yaml\n(.*?)```", text, re.S)
if not match:
    raise SystemExit("walk: README.md has no <!-- quickstart: first.yml --> block")
print(match.group(1), end="")
PY
# run from another directory: the installed collection must be what is used, not the checkout
mkdir -p "$work/play" && cp first.yml "$work/play/"
( cd "$work/play" && ansible-playbook first.yml ) | tee "$work/first-1.log"
( cd "$work/play" && ansible-playbook first.yml ) | tee "$work/first-2.log"
[ "$(changed_of "$work/first-1.log")" -gt 0 ] || { echo "walk: the first task changed nothing" >&2; exit 1; }
[ "$(changed_of "$work/first-2.log")" = 0 ] || { echo "walk: the first task's second run changed something" >&2; exit 1; }
done_step "first task (twice)"

step "4. playbooks/guides_setup.yml"
ansible-playbook playbooks/guides_setup.yml | tee "$work/setup-1.log"
ansible-playbook playbooks/guides_setup.yml | tee "$work/setup-2.log"
[ "$(changed_of "$work/setup-2.log")" = 0 ] || { echo "walk: guides_setup.yml's second run changed something" >&2; exit 1; }
writes="$(python -m lab log-writes)"
done_step "guides_setup.yml (twice)"

echo
echo "walk: OK in $((SECONDS - started)) s ($("$python" --version 2>&1), $(ansible --version | head -1)); lab writes: $writes"
printf 'walk:   %s\n' "${timings[@]}"
