#!/usr/bin/env bash
# Generate the module reference pages from the modules' own documentation
# (DOCUMENTATION/EXAMPLES/RETURN) with antsibull-docs, offline, from this
# checkout (the .build/ansible_collections symlink that hack/env.sh sets up).
#   hack/docs.sh [DEST]        default DEST: docs/modules
#   hack/docs.sh --check       generate into a temp dir; fail on any docs error or when
#                              docs/modules differs from what the sources generate
# The pages are reStructuredText ("simplified-rst": plain RST, no Sphinx
# extensions), one per module/role/filter plus an index; the hand-written
# guides in docs/*.md link to docs/modules/.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/env.sh
command -v antsibull-docs >/dev/null || {
  echo "antsibull-docs not found: pip install -r requirements-dev.txt" >&2; exit 1; }

check=0
dest="docs/modules"
if [ "${1:-}" = "--check" ]; then
  check=1; dest="$(mktemp -d)"; trap 'rm -rf "$dest"' EXIT
elif [ -n "${1:-}" ]; then
  dest="$1"
fi
mkdir -p "$dest"

# --use-current: document the collection found in ANSIBLE_COLLECTIONS_PATH
# (this checkout), never download anything.  --fail-on-error: a broken
# DOCUMENTATION block fails the run instead of producing an error page.
antsibull-docs collection \
  --use-current \
  --squash-hierarchy \
  --output-format simplified-rst \
  --no-add-antsibull-docs-version \
  --no-breadcrumbs \
  --fail-on-error \
  --cleanup everything \
  --dest-dir "$dest" \
  kubevirt_net.core

count=$(find "$dest" -name '*_module.rst' | wc -l)
echo "docs: $count module pages in $dest"
[ "$count" -gt 0 ] || { echo "docs: no module pages generated" >&2; exit 1; }
if [ "$check" = 1 ]; then
  # the committed pages (module, role and filter) must be what the sources generate now
  if ! stale="$(diff -rq "$dest" docs/modules)"; then
    echo "$stale" >&2
    echo "docs: docs/modules is out of date: run bash hack/docs.sh and commit the result" >&2
    exit 1
  fi
  echo "docs: --check passed"
fi
