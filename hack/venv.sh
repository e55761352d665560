#!/usr/bin/env bash
# Create or reuse the project virtualenv and install the pinned dependencies.
# The newest Python that works here is used (3.12 gets ansible 14 / ansible-core
# 2.21; 3.11 gets ansible 12 / ansible-core 2.19).  pyenv shims are skipped:
# interpreter discovery through them is broken on these machines.
set -euo pipefail
VENV="${1:-.venv}"
cd "$(dirname "$0")/.."

pick_python() {
  local cand
  # (ls | sort -V: the newest pyenv patch release; its names have no blanks)
  # shellcheck disable=SC2012
  for cand in "${LAB_PYTHON:-}" \
              "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3 2>/dev/null | sort -V | tail -1)" \
              /usr/bin/python3.12 /usr/local/bin/python3.12 \
              "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.11*/bin/python3 2>/dev/null | sort -V | tail -1)" \
              /usr/bin/python3.11 /usr/bin/python3 python3; do
    [ -n "$cand" ] || continue
    if "$cand" -c 'import sys, ssl, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
      echo "$cand"; return 0
    fi
  done
  echo "no Python >= 3.11 found" >&2; return 1
}

stamp="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.installed" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  py="$(pick_python)"
  echo "venv: creating $VENV with $("$py" --version 2>&1) ($py)"
  "$py" -m venv "$VENV"
fi
echo "venv: installing pinned dependencies (requirements-dev.txt)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt 2>&1 \
  | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c 'import ansible, kubernetes, netaddr, jsonpatch, jsonschema, yaml, pytest' \
  || { echo "venv: dependency installation failed" >&2; exit 1; }
echo "$stamp" > "$VENV/.installed"
