#!/usr/bin/env bash
# Install the system packages bindep.txt lists for the "test" profile that this host lacks,
# with apt (Debian; root, or sudo).  Quiet and quick when all are there.  bindep itself (from
# the venv; ansible-builder depends on it) reads bindep.txt's selectors and asks dpkg-query
# what is installed: `bindep -b test` prints the missing packages, one per line, and exits 1
# when there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/env.sh
rc=0
out=$(bindep -b test) || rc=$?
[ "$rc" -eq 0 ] && exit 0
mapfile -t missing <<<"$out"
if [ "$rc" -ne 1 ] || [ -z "${missing[*]}" ]; then
  echo "system-deps: bindep -b test failed (exit $rc): $out" >&2; exit 1
fi
command -v apt-get >/dev/null || { echo "system-deps: missing ${missing[*]} and no apt-get; install them" >&2; exit 1; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "system-deps: installing ${missing[*]} (apt)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
