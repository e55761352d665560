#!/usr/bin/env bash
# make demo: start the embedded lab cluster, run the demo playbook against it
# twice (the second run must change nothing), stop the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/env.sh
state="$(mktemp -d "${TMPDIR:-/tmp}/kubevirt-net-demo.XXXXXX")"
cleanup() { python -m tests.lab down --state-dir "$state" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
python -m tests.lab up --state-dir "$state"
export K8S_AUTH_KUBECONFIG="$state/kubeconfig"
echo "demo: first run"
ansible-playbook -i localhost, playbooks/demo.yml
echo "demo: second run (idempotent: expect changed=0)"
out="$(ansible-playbook -i localhost, playbooks/demo.yml)"
echo "$out" | tail -4
echo "$out" | grep -Eq 'localhost +: ok=[0-9]+ +changed=0 ' || { echo "demo: second run changed something" >&2; exit 1; }
echo "demo: done"
