#!/usr/bin/env bash
# Debian packages the test hosts and the metrics tests run: openssh-server (one sshd per test host) and
# prometheus (the server and promtool). Installs only what is missing. The harness starts its own sshd and
# prometheus processes, so a service the package starts on install is stopped again (only that one).
set -euo pipefail

packages=(openssh-server prometheus)
declare -A unit=([openssh-server]=ssh [prometheus]=prometheus)
declare -A pidfile=([openssh-server]=/run/sshd.pid [prometheus]=/run/prometheus/prometheus.pid)
declare -A program=([openssh-server]=/usr/sbin/sshd [prometheus]=/usr/bin/prometheus)

# Output captured first: `grep -q` closing a pipe early fails the pipeline under pipefail.
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == *'install ok installed'* ]]; }
known() { [[ $(apt-cache policy "$1" 2>/dev/null) =~ Candidate:\ [^\(] ]]; }
# apt-get's chatter is shown only when it fails.
quiet() {
  local out
  if ! out=$("$@" 2>&1); then
    echo "$out" >&2
    echo "[packages] failed: $*" >&2
    return 1
  fi
}

missing=()
for pkg in "${packages[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

as_root=(); [[ $(id -u) -eq 0 ]] || as_root=(sudo)
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)

for pkg in "${missing[@]}"; do
  if ! known "$pkg"; then
    echo "[packages] $pkg is unknown to apt; running apt-get update (about 10 s)"
    quiet "${apt[@]}" update
    break
  fi
done

# What ran before the install, so that only a service the install itself started is stopped afterwards.
systemd=""; [[ -d /run/systemd/system ]] && systemd=1
declare -A before=()
for pkg in "${missing[@]}"; do
  if [[ -n $systemd ]]; then
    before[$pkg]=$(systemctl is-active "${unit[$pkg]}" 2>/dev/null || true)
  else
    before[$pkg]=$(cat "${pidfile[$pkg]}" 2>/dev/null || true)
  fi
done

echo "[packages] installing ${missing[*]} with apt-get (about 15 s; the package's own service start is not needed)"
start=$SECONDS
quiet "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
echo "[packages] installed ${missing[*]} in $((SECONDS - start)) s"

for pkg in "${missing[@]}"; do
  if [[ -n $systemd ]]; then
    if [[ ${before[$pkg]} != active ]] && systemctl is-active --quiet "${unit[$pkg]}"; then
      echo "[packages] stopping the ${unit[$pkg]} service the $pkg install started (the harness runs its own)"
      "${as_root[@]}" systemctl stop "${unit[$pkg]}"
      "${as_root[@]}" systemctl disable --quiet "${unit[$pkg]}" || true
    fi
    continue
  fi
  pid=$(cat "${pidfile[$pkg]}" 2>/dev/null || true)
  if [[ -n $pid && $pid != "${before[$pkg]}" && $(readlink "/proc/$pid/exe" 2>/dev/null) == "${program[$pkg]}" ]]; then
    echo "[packages] stopping ${program[$pkg]} (pid $pid) that the $pkg install started (the harness runs its own)"
    "${as_root[@]}" kill "$pid"
  fi
done
