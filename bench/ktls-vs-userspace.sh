#!/usr/bin/env bash
# Kernel TLS vs userspace TLS for sending, per server core:
#
#   bench/ktls-vs-userspace.sh [--guest] [SIZE_MB [RUNS]]      (defaults 256 MiB, 3 runs)
#
# Serves one SIZE_MB file with `kxfer serve --threads 1 --ktls off` (userspace OpenSSL) and
# `--ktls on` (kernel TLS: file -> pipe -> socket splices), alternating, and downloads it with
# `kxfer get -o /dev/null` using the same --ktls.  Reports per path the wall-clock MB/s,
# the server's CPU seconds, and MB per server CPU-second (throughput per server core), and
# the ratio ktls / userspace of the last (the goal on a host with kTLS and AES-NI: >= 1.3).
# --guest runs the whole measurement inside the project's kTLS test guest (user-mode Linux:
# generic C crypto, one CPU): such figures prove function, never speed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
if [ "${1:-}" = --guest ]; then
    shift
    "$top/scripts/ktls-guest.sh" setup >/dev/null || { echo "guest unavailable"; exit 77; }
    exec "$top/scripts/ktls-guest.sh" run --timeout 900 -- bash "$here/ktls-vs-userspace.sh" "$@"
fi
kxfer=${KXFER:-$top/build/kxfer}
size_mb=${1:-256}
runs=${2:-3}
work=$(mktemp -d /tmp/kxfer-kvu.XXXXXX)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
head -c $((size_mb * 1048576)) /dev/urandom >"$work/file"
hz=$(getconf CLK_TCK)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure MODE: one download; prints "wall_s server_cpu_s"
measure() {
    local mode=$1 port log=$work/serve-$1.log t0 t1 c0 c1
    "$kxfer" serve --listen 127.0.0.1:0 --root "$work" --state-dir "$work/state" --threads 1 \
        --ktls "$mode" >/dev/null 2>"$log" &
    server=$!
    for _ in $(seq 200); do
        port=$(sed -n 's|^kxfer serve: listening on https://127.0.0.1:\([0-9]*\)/$|\1|p' "$log")
        [ -n "$port" ] && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$port" ]; then
        echo "unavailable: $(grep -m1 -- '--ktls' "$log" | sed 's/^kxfer serve: //')" >&2
        wait "$server" 2>/dev/null; server=
        return 1
    fi
    c0=$(ticks "$server"); t0=$(date +%s.%N)
    "$kxfer" get -k --ktls "$mode" --quiet -o /dev/null "https://127.0.0.1:$port/file"
    t1=$(date +%s.%N); c1=$(ticks "$server")
    kill "$server"; wait "$server" 2>/dev/null; server=
    echo "$t0 $t1 $c0 $c1" | awk -v hz="$hz" '{printf "%.4f %.4f\n", $2 - $1, ($4 - $3) / hz}'
}

declare -A wall cpu
for mode in off on; do wall[$mode]=""; cpu[$mode]=""; done
ktls_ok=1
for r in $(seq "$runs"); do
    for mode in off on; do
        [ "$mode" = on ] && [ "$ktls_ok" = 0 ] && continue
        if out=$(measure "$mode" 2>"$work/why"); then
            wall[$mode]+="${out% *} "; cpu[$mode]+="${out#* } "
        else
            ktls_ok=0; why=$(cat "$work/why")
        fi
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "kxfer $("$kxfer" --version | cut -d' ' -f2), $(uname -sr), ${size_mb} MiB x $runs runs, medians$( [ -n "${KXFER_IN_GUEST:-}" ] && echo ', GUEST (user-mode Linux, emulated: function, not speed)')"
echo
echo "| path (send and receive) | MB/s wall | server CPU-s | MB per server CPU-s |"
echo "|---|--:|--:|--:|"
for mode in off on; do
    name=$([ "$mode" = on ] && echo "kernel TLS (splice)" || echo "userspace OpenSSL")
    if [ "$mode" = on ] && [ "$ktls_ok" = 0 ]; then
        echo "| $name | unavailable: ${why#unavailable: } | | |"
        continue
    fi
    w=$(echo "${wall[$mode]}" | median); c=$(echo "${cpu[$mode]}" | median)
    awk -v s="$size_mb" -v w="$w" -v c="$c" -v n="$name" 'BEGIN {
        printf "| %s | %.1f | %.2f | %s |\n", n, s * 1.048576 / w, c, (c > 0) ? sprintf("%.1f", s * 1.048576 / c) : "n/a" }'
    eval "per_core_$mode=\$(awk -v s=$size_mb -v c=$c 'BEGIN {print (c > 0) ? s / c : 0}')"
done
if [ "$ktls_ok" = 1 ]; then
    echo
    awk -v a="$per_core_on" -v b="$per_core_off" 'BEGIN {
        printf "throughput per server core, kernel TLS / userspace: %.2f (goal >= 1.3 on a host with kTLS and AES-NI)\n", (b > 0) ? a / b : 0 }'
fi
