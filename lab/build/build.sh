#!/usr/bin/env bash
# Build the lab's control plane from Go modules, through the Go module proxy,
# with the machine's Go (1.26):
#   kubernetes/  k8s.io/kubernetes v1.34.2: kube-apiserver, kube-controller-manager,
#                kube-scheduler, kubectl (each staging module replaced by v0.34.2,
#                the ordinary way to build Kubernetes outside its own tree)
#   etcd/        go.etcd.io/etcd/server/v3 v3.6.x: etcd
#   kubevirt/    kubevirt.io/kubevirt v1.9.0: virt-api, virt-controller, and labinstall
#                (virt-operator's own install strategy generator, as JSON)
# Each go.mod/go.sum pins every module.  Binaries are cached outside the
# repository, keyed by component and version; a component whose binaries are
# all present is skipped, so a warm run costs a few file checks.  The Go build
# cache is private to one run and deleted afterwards (the module cache is Go's
# usual one, GOMODCACHE).
#
#   lab/build/build.sh [kubernetes|etcd|kubevirt ...]   (default: all)
#   lab/build/build.sh --print-dir COMPONENT            (cache dir of a component)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${LAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubevirt-net-lab}"

# component -> version, Go module of the version, packages to build
version_of() {
  case "$1" in
    kubernetes) echo "v1.34.2" ;;
    etcd) echo "v3.6.16" ;;
    kubevirt) echo "v1.9.0" ;;
    *) echo "unknown component $1" >&2; return 2 ;;
  esac
}
packages_of() {
  case "$1" in
    kubernetes) echo "k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl" ;;
    etcd) echo "go.etcd.io/etcd/server/v3" ;;
    kubevirt) echo "kubevirt.io/kubevirt/cmd/virt-api kubevirt.io/kubevirt/cmd/virt-controller ./labinstall" ;;
  esac
}
binaries_of() {
  case "$1" in
    kubernetes) echo "kube-apiserver kube-controller-manager kube-scheduler kubectl" ;;
    etcd) echo "etcd" ;;
    kubevirt) echo "virt-api virt-controller labinstall" ;;
  esac
}
ldflags_of() {
  local v; v="$(version_of "$1")"
  case "$1" in
    kubernetes)
      local minor; minor="$(echo "$v" | cut -d. -f2)"
      local x=""
      for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        x="$x -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
      done
      echo "-s -w$x" ;;
    kubevirt)
      echo "-s -w -X kubevirt.io/client-go/version.gitVersion=$v -X kubevirt.io/client-go/version.gitTreeState=clean" ;;
    *) echo "-s -w" ;;
  esac
}
cache_dir_of() { echo "$CACHE_ROOT/$1-$(version_of "$1")"; }

have() {
  local dir; dir="$(cache_dir_of "$1")"
  for b in $(binaries_of "$1"); do [ -x "$dir/$b" ] || return 1; done
}

build() {
  local comp="$1" dir v start
  dir="$(cache_dir_of "$comp")"; v="$(version_of "$comp")"
  if have "$comp"; then echo "lab-build: $comp $v cached in $dir"; return 0; fi
  start=$(date +%s)
  echo "lab-build: building $comp $v ($(binaries_of "$comp")) from the Go module proxy; once, minutes"
  local gocache; gocache="$(mktemp -d "${TMPDIR:-/tmp}/kvnet-lab-gocache.XXXXXX")"
  local out; out="$(mktemp -d "${TMPDIR:-/tmp}/kvnet-lab-out.XXXXXX")"
  # shellcheck disable=SC2046
  if ! ( cd "$HERE/$comp" && CGO_ENABLED=0 GOFLAGS=-mod=readonly GOCACHE="$gocache" GOTOOLCHAIN=local \
        go build -trimpath -ldflags "$(ldflags_of "$comp")" -o "$out/" $(packages_of "$comp") ) \
        >"$out.log" 2>&1; then
    tail -40 "$out.log" >&2; rm -rf "$gocache" "$out" "$out.log"; return 1
  fi
  if [ "$comp" = etcd ]; then for n in server v3; do [ -f "$out/$n" ] && mv "$out/$n" "$out/etcd"; done; fi
  mkdir -p "$dir"
  for b in $(binaries_of "$comp"); do install -m 0755 "$out/$b" "$dir/$b"; done
  rm -rf "$gocache" "$out" "$out.log"
  echo "lab-build: $comp $v built in $(( $(date +%s) - start ))s -> $dir ($(du -sh "$dir" | cut -f1))"
}

if [ "${1:-}" = "--print-dir" ]; then cache_dir_of "$2"; exit 0; fi
command -v go >/dev/null || { echo "lab-build: Go is needed (go 1.26 or newer on PATH)" >&2; exit 1; }
comps=("$@"); [ ${#comps[@]} -gt 0 ] || comps=(etcd kubernetes kubevirt)
for c in "${comps[@]}"; do build "$c"; done
