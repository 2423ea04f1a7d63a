#!/usr/bin/env bash
# Where each side's CPU goes per GiB: perf samples (cpu-clock, 2000 Hz) of kxfer serve and of
# its client while 1 GiB from the page cache crosses loopback with userspace TLS 1.3
# (TLS_AES_128_GCM_SHA256), sorted into categories by bench/perf-categories.py.
# Used for docs/benchmarks.md ("Where the CPU goes").
#
#   bench/perf-breakdown.sh KXFER [CLIENT]    CLIENT: kxfer (default) or curl
#
# Needs perf (Debian: linux-perf) and root or kernel.perf_event_paranoid <= 1.  The client runs
# three times under one perf record of the server; figures are per GiB.
set -eu
K=${1:?usage: bench/perf-breakdown.sh KXFER [kxfer|curl]}
CLIENT=${2:-kxfer}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v perf >/dev/null || { echo "perf-breakdown: perf not installed (apt-get install linux-perf)" >&2; exit 2; }
D=$(mktemp -d /tmp/kxfer-perf.XXXXXX)
trap 'kill $S 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
head -c 1G /dev/urandom >"$D/g1"
cat "$D/g1" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$K" serve --listen 127.0.0.1:$port --root "$D" --state-dir "$D/st" --threads 1 --quiet --ktls off 2>/dev/null &
S=$!
sleep 0.5
url=https://127.0.0.1:$port/g1
case $CLIENT in
kxfer) fetch() { "$K" get --insecure --quiet --ktls off -o /dev/null "$url"; } ;;
curl)  fetch() { curl -sk -o /dev/null "$url"; } ;;
*) echo "perf-breakdown: CLIENT is kxfer or curl" >&2; exit 2 ;;
esac
fetch   # warm-up
perf record -q -e cpu-clock -F 2000 -o "$D/srv.data" -p $S 2>/dev/null &
P=$!
sleep 0.3
perf record -q -e cpu-clock -F 2000 -o "$D/cli.data" -- bash -c "$(declare -f fetch); K='$K' url='$url'; fetch; fetch; fetch" 2>/dev/null
kill -INT $P; wait $P 2>/dev/null || true
echo "== kxfer serve, serving $CLIENT (CPU-s per GiB)"
python3 "$HERE/perf-categories.py" "$D/srv.data" 6000
echo "== $CLIENT (CPU-s per GiB)"
python3 "$HERE/perf-categories.py" "$D/cli.data" 6000
