#!/usr/bin/env bash
# Installs what kxfer needs on Debian/Ubuntu: build dependencies, the test peers (curl,
# wget, openssl, nginx, python3, rsync over ssh, rclone, aria2, sslscan), libFuzzer, the
# service tools (systemd-analyze, promtool, logrotate) and the benchmark tools.  Only what is missing is
# installed; as a non-root user it prints the exact command instead.
set -eu

packages=(
    gcc make pkg-config libssl-dev liburing-dev          # build
    openssl curl wget nginx-light python3 procps iproute2 # tests: real peers
    hyperfine gnuplot-nox file                            # bench: timings, charts
    rsync openssh-server openssh-client rclone aria2 attr # trees: the tools kxfer -r is measured against
    libnginx-mod-http-dav-ext                             # (rclone's webdav uploads need PROPFIND)
    clang-14 libfuzzer-14-dev                             # fuzzing: libFuzzer targets (tests/fuzz)
    sslscan                                               # tests: the TLS configuration scan
    systemd prometheus logrotate strace                   # service: systemd-analyze, socket activation, promtool, logrotate, syscall trace
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: no apt-get here; install the equivalents of: ${missing[*]}" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root:  apt-get update && $cmd" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Debian's nginx and prometheus packages start system services (nginx on port 80); the
# tests run their own, so no service starts while these are installed.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
