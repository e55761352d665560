# shellcheck shell=bash
# Sourced by the hack/ scripts: the environment every ansible and test command uses.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
export PATH="$VENV/bin:$PATH"
# The collection must live under an ansible_collections/<ns>/<name> path: a
# symlink inside the build dir, so the repository itself never moves.
BUILD="$REPO/.build"
mkdir -p "$BUILD/ansible_collections/kubevirt_net"
ln -sfn "$REPO" "$BUILD/ansible_collections/kubevirt_net/core"
export ANSIBLE_COLLECTIONS_PATH="$BUILD"
# Interpreter discovery finds broken pyenv shims here: pin the venv's Python.
export ANSIBLE_PYTHON_INTERPRETER="$VENV/bin/python"
export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
