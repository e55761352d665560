#!/usr/bin/env bash
# Install the system packages bindep.txt marks [test ... platform:dpkg] that are
# missing, with apt (Debian; root, or sudo).  Quiet and quick when all are there.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(awk '!/^#/ && /\[.*test.*platform:dpkg.*\]/ {print $1}' bindep.txt)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null || { echo "system-deps: missing ${missing[*]} and no apt-get; install them" >&2; exit 1; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "system-deps: installing ${missing[*]} (apt)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
