#!/usr/bin/env bash
# Build (once) and cache the binaries of a local Kubernetes control plane: kube-apiserver,
# kube-controller-manager and kube-scheduler from Debian's own `kubernetes` source package, etcd from
# Debian's `etcd-server`. No container engine and no prebuilt Kubernetes download is needed.
#
# Prints the folder holding the four binaries on its last line.
# Honours KUBEBUILDER_ASSETS (envtest convention) and GPUFABRIC_CACHE (default ~/.cache/gpufabric).
set -euo pipefail

say() { printf '[control-plane] %s\n' "$*" >&2; }

BINARIES=(kube-apiserver kube-controller-manager kube-scheduler etcd)
have_all() { local b; for b in "${BINARIES[@]}"; do [[ -x "$1/$b" ]] || return 1; done; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]] && have_all "$KUBEBUILDER_ASSETS"; then
  say "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

CACHE="${GPUFABRIC_CACHE:-$HOME/.cache/gpufabric}"
BIN="$CACHE/bin"
if have_all "$BIN"; then
  say "reusing cached binaries in $BIN"
  echo "$BIN"
  exit 0
fi

say "one-time build of kube-apiserver, kube-controller-manager and kube-scheduler 1.20 from Debian sources"
say "(about 7 minutes on 2 cores; cached afterwards in $BIN)"
WORK="$CACHE/build"
mkdir -p "$WORK" "$BIN"
cd "$WORK"

SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
need=()
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
command -v rsync >/dev/null || need+=(rsync)
command -v openssl >/dev/null || need+=(openssl)
if ((${#need[@]})); then
  say "installing ${need[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A private deb-src list and private apt state: the system's apt configuration stays untouched.
sources=/etc/apt/sources.list.d/debian.sources
if [[ -f $sources ]]; then
  sed 's/^Types: deb$/Types: deb-src/' "$sources" > debsrc.sources
  APT=(apt-get -q -o Dir::Etc::SourceList="$WORK/debsrc.sources" -o Dir::State::Lists="$WORK/lists")
else
  sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > debsrc.list
  APT=(apt-get -q -o Dir::Etc::SourceList="$WORK/debsrc.list" -o Dir::State::Lists="$WORK/lists")
fi
mkdir -p lists/partial

say "step 1/4: reading the package lists (about 10 s)"
"${APT[@]}" update >apt-update.log 2>&1 || { cat apt-update.log >&2; exit 1; }

say "step 2/4: downloading the kubernetes source package, Go 1.19 and etcd (about 60 MB)"
if [[ ! -d src ]]; then
  rm -rf src.tmp && mkdir src.tmp
  (cd src.tmp && "${APT[@]}" source kubernetes >../apt-source.log 2>&1) || { cat apt-source.log >&2; exit 1; }
  mv "$(find src.tmp -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)" src
  rm -rf src.tmp
fi
mkdir -p debs root
(cd debs && "${APT[@]}" download golang-1.19-go golang-1.19-src \
    golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev etcd-server >../apt-download.log 2>&1) \
  || { cat apt-download.log >&2; exit 1; }
for deb in debs/*.deb; do dpkg -x "$deb" root; done

say "step 3/4: replacing vendored reflect2 1.0.1 and json-iterator (they crash under Go >= 1.18)"
gocode=root/usr/share/gocode/src/github.com
rm -rf src/vendor/github.com/modern-go/reflect2 src/vendor/github.com/json-iterator/go
cp -a "$gocode/modern-go/reflect2" src/vendor/github.com/modern-go/reflect2
cp -a "$gocode/json-iterator/go" src/vendor/github.com/json-iterator/go

say "step 4/4: compiling kube-apiserver (about 5 minutes), then kube-controller-manager and kube-scheduler (about 1 minute)"
export PATH="$WORK/root/usr/lib/go-1.19/bin:$PATH"
export GOFLAGS=-mod=vendor GOCACHE="$WORK/gocache"
start=$SECONDS
for what in kube-apiserver kube-controller-manager kube-scheduler; do
  (cd src && make WHAT="cmd/$what" 2>&1 | sed 's/^/[control-plane]   /' >&2)
  built=$(find src/_output -type f -name "$what" -perm -u+x | head -n1)
  [[ -n $built ]] || { say "build produced no $what binary"; exit 1; }
  cp "$built" "$BIN/$what.tmp" && mv "$BIN/$what.tmp" "$BIN/$what"
  say "$what ready after $((SECONDS - start)) s"
done
cp root/usr/bin/etcd "$BIN/etcd.tmp" && mv "$BIN/etcd.tmp" "$BIN/etcd"
say "built in $((SECONDS - start)) s; binaries cached in $BIN"
if [[ -z "${GPUFABRIC_KEEP_BUILD:-}" ]]; then
  say "removing the 1.8 GB build tree (set GPUFABRIC_KEEP_BUILD=1 to keep it)"
  rm -rf "$WORK"
fi
echo "$BIN"
