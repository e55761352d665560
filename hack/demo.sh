#!/usr/bin/env bash
# make demo: start the embedded lab cluster (KubeVirt 1.9 emulation with
# Multus, the dynamic-networks controller and Istio), run playbooks/site.yml
# against it twice (the second run must change nothing and write nothing),
# print a summary and the network doctor's report, stop the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/env.sh
state="$(mktemp -d "${TMPDIR:-/tmp}/kubevirt-net-demo.XXXXXX")"
cleanup() { python -m lab down --state-dir "$state" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
t0=$SECONDS
python -m lab up --state-dir "$state" --option istio=true
export K8S_AUTH_KUBECONFIG="$state/kubeconfig"
export ANSIBLE_DISPLAY_SKIPPED_HOSTS=false
run() { ansible-playbook -i localhost, playbooks/site.yml; }
writes() { python -m lab log-writes --state-dir "$state"; }

echo "demo: first run of playbooks/site.yml"
t1=$SECONDS; before=$(writes)
first="$(run)" || { echo "$first"; exit 1; }
echo "$first" | sed -n '/TASK \[Summary\]/,/PLAY RECAP/{/PLAY RECAP/!p}'
echo "$first" | grep -A1 'PLAY RECAP'
echo "demo: first run took $((SECONDS - t1)) s and sent $(( $(writes) - before )) write requests"

echo "demo: second run (idempotent: expect changed=0 and no write request)"
t2=$SECONDS; before=$(writes)
second="$(run)" || { echo "$second"; exit 1; }
echo "$second" | grep -A1 'PLAY RECAP'
sent=$(( $(writes) - before ))
echo "demo: second run took $((SECONDS - t2)) s and sent $sent write requests"
echo "$second" | grep -Eq 'localhost +: ok=[0-9]+ +changed=0 ' || { echo "demo: second run changed something" >&2; exit 1; }
[ "$sent" -eq 0 ] || { echo "demo: second run wrote to the cluster" >&2; exit 1; }
echo "demo: done in $((SECONDS - t0)) s"
