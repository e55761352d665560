#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager from Debian's `kubernetes`
# source package (bookworm: 1.20.2, full upstream tree with vendor/), offline,
# with Debian's golang-go.  The binaries are cached outside the repository,
# keyed by version, and rebuilt only when absent.
#
# No package host is written here: the deb-src line is derived at run time
# from the machine's own Debian apt sources.
set -euo pipefail

K8S_VERSION="${LAB_K8S_VERSION:-1.20.2}"
CACHE_DIR="${LAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubevirt-net-lab}/${K8S_VERSION}"
BINS=(kube-apiserver kube-controller-manager)
# Debian's kubectl of the same release, for client-compatibility tests.
CLIENT=kubectl

have_all() {
  for b in "${BINS[@]}"; do [ -x "$CACHE_DIR/$b" ] || return 1; done
  [ -x "$CACHE_DIR/$CLIENT" ] || return 1
  command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || return 1
  return 0
}

if have_all; then
  echo "lab: cached binaries present in $CACHE_DIR"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

echo "lab: installing build dependencies (golang-go, rsync, etcd-server, reflect2)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  golang-go rsync etcd-server golang-github-modern-go-reflect2-dev \
  dpkg-dev ca-certificates >/dev/null

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kvnet-lab-build.XXXXXX")"
chmod 755 "$WORK"   # apt downloads as the _apt user
trap 'chmod -R u+w "$WORK" 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [ ! -x "$CACHE_DIR/$CLIENT" ]; then
  echo "lab: fetching Debian's kubectl (kubernetes-client)"
  mkdir -p "$WORK/client" "$CACHE_DIR"
  ( cd "$WORK/client" && apt-get download kubernetes-client >/dev/null 2>&1 && dpkg -x kubernetes-client_*.deb root )
  install -m 0755 "$WORK/client/root/usr/bin/kubectl" "$CACHE_DIR/$CLIENT"
fi
server_built=1
for b in "${BINS[@]}"; do [ -x "$CACHE_DIR/$b" ] || server_built=0; done
if [ "$server_built" = 1 ]; then
  echo "lab: cached binaries present in $CACHE_DIR"; exit 0
fi

# --- a private apt configuration with one deb-src line -------------------------
uri="" suite="" key=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  u=$(sed -n 's/^URIs:[[:space:]]*//p' "$f" | head -1 | awk '{print $1}')
  s=$(sed -n 's/^Suites:[[:space:]]*//p' "$f" | head -1 | awk '{print $1}')
  case "$u" in *security*) continue ;; esac
  k=$(sed -n 's/^Signed-By:[[:space:]]*//p' "$f" | head -1)
  if [ -n "$u" ] && [ -n "$s" ]; then uri="$u"; suite="$s"; key="$k"; break; fi
done
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  read -r uri suite < <(awk '$1=="deb" && $0 !~ /security/ {
      i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i, $(i+1); exit }' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "lab: no Debian apt source found to derive deb-src from" >&2; exit 1; }
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/sources.list.d"
# Verify the source package with the machine's own archive key.
[ -n "$key" ] || key=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb-src [signed-by=$key] $uri $suite main" > "$WORK/apt/sources.list"
APT_OPTS=(-o "Dir::Etc::sourcelist=$WORK/apt/sources.list"
          -o "Dir::Etc::sourceparts=$WORK/apt/sources.list.d"
          -o "Dir::State::Lists=$WORK/apt/lists"
          -o "APT::Get::List-Cleanup=0")
echo "lab: fetching the kubernetes source package ($suite)"
apt-get "${APT_OPTS[@]}" update -qq
( cd "$WORK" && apt-get "${APT_OPTS[@]}" source --download-only "kubernetes=${K8S_VERSION}*" >/dev/null 2>&1 \
  || apt-get "${APT_OPTS[@]}" source --download-only kubernetes >/dev/null )

cd "$WORK"
orig=$(ls kubernetes_*.orig.tar.* | head -1)
mkdir src && tar -xf "$orig" -C src --strip-components=1
# Debian's packaging patches are for the client build; the upstream tree is what we want.

# Go >= 1.18 crashes reflect2 1.0.1 on the first custom-resource POST: use Debian's 1.0.2.
rm -rf src/vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 src/vendor/github.com/modern-go/reflect2

mkdir -p .go/src/k8s.io
ln -s "$WORK/src" .go/src/k8s.io/kubernetes
export GOPATH="$WORK/.go" GO111MODULE=off GOPROXY=off GOFLAGS=-mod=vendor CGO_ENABLED=0
export GOCACHE="$WORK/.gocache" KUBE_GIT_VERSION="v${K8S_VERSION}" KUBE_GIT_TREE_STATE=clean
unset GOFLAGS
cd .go/src/k8s.io/kubernetes
echo "lab: building ${BINS[*]} (a few minutes, once)"
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" KUBE_BUILD_PLATFORMS=linux/amd64 >"$WORK/build.log" 2>&1 || {
  tail -40 "$WORK/build.log" >&2; exit 1; }
mkdir -p "$CACHE_DIR"
for b in "${BINS[@]}"; do
  install -m 0755 "_output/local/go/bin/$b" "$CACHE_DIR/$b" 2>/dev/null \
    || install -m 0755 "$(find _output -type f -name "$b" | head -1)" "$CACHE_DIR/$b"
done
echo "lab: built $(ls "$CACHE_DIR" | tr "\n" " ")-> $CACHE_DIR"
