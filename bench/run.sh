#!/usr/bin/env bash
# kxfer benchmark: kxfer serve vs nginx, kxfer get vs curl, 1 GiB from the page cache over
# loopback with TLS 1.3 / TLS_AES_128_GCM_SHA256.  Run by `make bench` (after `make`).
#
# Environment:
#   KXFER          kxfer binary (default: <repo>/build/kxfer)
#   BENCH_SIZE_MB  size of the served file in MiB (default 1024)
#   BENCH_RUNS     measured runs per combination (default 5)
#   BENCH_OUT      results directory (default bench/results/<YYYY-MM-DD>-<hostname>)
#   BENCH_COMBOS   subset, e.g. "nginx/curl,kxfer-serve/kxfer-get" (default: all four of
#                  nginx|kxfer-serve x curl|kxfer-get)
#
# Prints a markdown table of medians and the goal ratios; writes table.md, results.csv and
# machine.txt into the results directory.  Exit status: 0 when every transfer was complete,
# 1 when one failed, 2 when a prerequisite is missing.  Missed goals do not change it.
set -eu
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
export KXFER=${KXFER:-$TOP/build/kxfer}

missing=()
for c in python3 openssl curl; do command -v "$c" >/dev/null || missing+=("$c"); done
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    missing+=("nginx (Debian: apt-get install nginx-light)")
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: missing: ${missing[*]}" >&2
    exit 2
fi
case ${BENCH_COMBOS:-kxfer} in *kxfer*) need_kxfer=1 ;; *) need_kxfer=0 ;; esac
if [ "$need_kxfer" = 1 ] && [ ! -x "$KXFER" ]; then
    echo "bench: $KXFER not found or not executable (run 'make' first, or set KXFER=...)" >&2
    exit 2
fi
exec python3 "$HERE/bench.py" "$@"
