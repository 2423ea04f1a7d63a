#!/usr/bin/env bash
# kxfer benchmark with hyperfine: whole client commands (kxfer get, curl, wget) downloading
# the same file from kxfer serve and from nginx (and, on a kernel with TLS, from both with
# kernel TLS), TLS 1.3 / TLS_AES_128_GCM_SHA256, file in the page cache, over loopback
# (127.0.0.1) and between two network namespaces joined by a veth pair (198.18.0.1, MTU 1500).
# Run by `make bench` (after `make`).  See docs/benchmarks.md.
#
#   bench/run.sh                 measure, write bench/results/<YYYY-MM-DD>-<host>/, regenerate
#                                the generated part of docs/benchmarks.md and docs/benchmarks.svg
#   bench/run.sh --report [DIR]  only regenerate DIR's results.csv, table.md and chart.svg and
#                                the docs from an existing results dir (default: the latest
#                                one under bench/results/)
#   bench/run.sh --help
#
# Environment:
#   KXFER          kxfer binary (default: <repo>/build/kxfer)
#   BENCH_SIZE_MB  size of the served file in MiB (default 1024)
#   BENCH_RUNS     hyperfine --runs per command (default 5; plus one --warmup run)
#   BENCH_OUT      results directory (default bench/results/<YYYY-MM-DD>-<hostname>, with -2,
#                  -3, ... appended when that exists already: results are never overwritten)
#   BENCH_NO_DOCS  1: leave docs/benchmarks.md and docs/benchmarks.svg alone (tests use it)
#   BENCH_SERVERS  subset of kxfer-serve,nginx,kxfer-serve-ktls,nginx-ktls (default: all)
#   BENCH_CLIENTS  subset of kxfer-get,curl,wget (default: all)
#   BENCH_NET      subset of loopback,netns (default: both when running as root and `ip netns`
#                  works, else loopback only, and the results say why).  loopback: server and
#                  clients here, https://127.0.0.1 over lo.  netns: namespaces kxb-srv-PID
#                  (server, 198.18.0.1/30) and kxb-cli-PID (clients, 198.18.0.2/30) joined by
#                  a veth pair, MTU 1500; the server runs under `ip netns exec kxb-srv-PID`,
#                  hyperfine under `ip netns exec kxb-cli-PID`; both are removed at the end.
#                  Each network's servers are measured one after the other.
#
# Exit status: 0 when every transfer was complete, 1 when one failed (or the bench could not
# run), 2 when a prerequisite is missing (the Debian packages are named), 130 interrupted.
#
# Internal: `run.sh --fetch CLIENT -- COMMAND...` is the per-run wrapper that hyperfine
# times (see fetch below); it is kept first so that bash parses as little as possible.

# --- per-run wrapper --------------------------------------------------------------------------
# Runs the client COMMAND once (stdin /dev/null, stdout and stderr to files) and, with bash
# builtins only (no fork besides the client), reads right before and right after it:
#   - the server's CPU time: utime + stime (all threads) of every pid in BENCH_SERVER_PIDS
#     from /proc/PID/stat, in clock ticks;
#   - the kernel TLS counters of BENCH_TLS_STAT (/proc/SERVERPID/net/tls_stat: the server's
#     network namespace; sockets that set up kTLS send/receive);
#   - $EPOCHREALTIME (the client's own wall time, a cross-check of hyperfine's);
#   - /proc/stat: busy ticks of all CPUs, so that CPU time used by anything but the server and
#     the client during the run (other users' load) can be shown;
# and after it the client's own user and system time (bash's `times`).
# Then it checks the transfer: exit status 0, HTTP 200 and exactly BENCH_SIZE_BYTES bytes
# (curl: -w '%{http_code} %{size_download}'; wget: the -nv line '[N/N] -> "/dev/null"';
# kxfer get: the --json summary).  One line per run goes to BENCH_FETCH_DIR/runs.log; a
# failure is written to BENCH_FETCH_DIR/failure.txt and makes the wrapper exit 1, which makes
# hyperfine (run without -i) stop with an error, and the bench exit 1.
if [ "${1:-}" = --fetch ]; then
    shift
    client=$1; shift
    [ "${1:-}" = -- ] && shift
    d=${BENCH_FETCH_DIR:?}; want=${BENCH_SIZE_BYTES:?}
    server_ticks() {
        local p l f
        TICKS=0
        for p in ${BENCH_SERVER_PIDS:-}; do
            if ! read -r l 2>/dev/null <"/proc/$p/stat"; then TICKS=gone:$p; return; fi
            l=${l##*) }
            read -ra f <<<"$l"
            TICKS=$((TICKS + f[11] + f[12]))     # fields 14 utime, 15 stime (field 3 is f[0])
        done
    }
    tls_stat() {
        local k v ts=${BENCH_TLS_STAT:-/proc/net/tls_stat}
        TLSTX=0 TLSRX=0
        [ -r "$ts" ] || return 0
        while read -r k v; do
            case $k in
            TlsTxSw|TlsTxDevice) TLSTX=$((TLSTX + v)) ;;
            TlsRxSw|TlsRxDevice) TLSRX=$((TLSRX + v)) ;;
            esac
        done <"$ts"
    }
    host_busy() {   # ticks of all CPUs not idle or in iowait
        local u n sy irq si st
        read -r _ u n sy _ _ irq si st _ </proc/stat
        BUSY=$((u + n + sy + irq + si + st))
    }
    tls_stat; tx0=$TLSTX rx0=$TLSRX
    host_busy; b0=$BUSY
    server_ticks; s0=$TICKS
    t0=$EPOCHREALTIME
    "$@" <"/dev/null" >"$d/out" 2>"$d/err" && rc=0 || rc=$?
    t1=$EPOCHREALTIME
    server_ticks; s1=$TICKS
    host_busy; b1=$BUSY
    tls_stat; tx1=$TLSTX rx1=$TLSRX
    times >"$d/times"     # line 2: user and system time of this shell's children: the client
    { read -r _; read -r cu cs; } <"$d/times"
    got="" status="" path=- why="" l=""
    case $client in
    curl)
        read -r status got <"$d/out" ;;
    wget)
        re='\[([0-9]+)(/[0-9]+)?\] -> "/dev/null"'
        while read -r l || [ -n "$l" ]; do
            if [[ $l =~ $re ]]; then
                got=${BASH_REMATCH[1]}; status=200
            fi
        done <"$d/err" ;;
    kxfer-get)
        rb='"bytes":([0-9]+)' rs='"status":([0-9]+)' rp='"rx_path":"([a-z]+)"' tp='"tx_path":"([a-z]+)"'
        while read -r l || [ -n "$l" ]; do
            [[ $l =~ $rb ]] && got=${BASH_REMATCH[1]}
            [[ $l =~ $rs ]] && status=${BASH_REMATCH[1]}
            [[ $l =~ $rp ]] && path=rx=${BASH_REMATCH[1]}
            [[ $l =~ $tp ]] && path=$path,tx=${BASH_REMATCH[1]}
        done <"$d/out" ;;
    *)
        why="unknown client kind '$client'" ;;
    esac
    if [ -n "$why" ]; then :
    elif [ "$rc" != 0 ]; then why="exit status $rc"
    elif [ "$status" != 200 ]; then why="HTTP status '${status}' (not 200)"
    elif [ "$got" != "$want" ]; then why="got '${got}' bytes, expected $want"
    elif [[ $s0 == gone:* || $s1 == gone:* ]]; then why="server process gone (/proc/PID/stat unreadable: $s0 $s1)"
    fi
    if [ -n "$why" ]; then
        {
            echo "$client: $why"
            echo "command: $*"
            echo "stdout (tail):"; tail -c 1000 "$d/out"
            echo "stderr (tail):"; tail -c 2000 "$d/err"
        } >"$d/failure.txt" 2>&1
        echo "bench: $client: $why" >&2
        exit 1
    fi
    echo "$client $got ${t0/,/.} ${t1/,/.} $s0 $s1 $tx0 $tx1 $rx0 $rx1 $path $b0 $b1 $cu $cs" \
        >>"$d/runs.log"
    exit 0
fi

# --- entry point ------------------------------------------------------------------------------
set -eu
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
export KXFER=${KXFER:-$TOP/build/kxfer}

case ${1:-} in
-h|--help)
    sed -n '2,/^# Internal:/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0 ;;
--report)
    shift
    command -v python3 >/dev/null || { echo "bench: missing: python3 (Debian package: python3)" >&2; exit 2; }
    exec python3 "$HERE/report.py" "$@" ;;
"") ;;
*)
    echo "bench: unknown argument '$1' (see bench/run.sh --help)" >&2
    exit 2 ;;
esac

# command -> Debian package
missing=() pkgs=()
need() { if ! command -v "$1" >/dev/null && [ ! -x "/usr/sbin/$1" ]; then missing+=("$1"); pkgs+=("$2"); fi; }
need python3 python3
need openssl openssl
need hyperfine hyperfine
need nginx nginx-light
need curl curl
need wget wget
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: missing: ${missing[*]}" >&2
    echo "bench: install the Debian packages: apt-get install ${pkgs[*]}   (or: scripts/install-deps.sh)" >&2
    exit 2
fi
if ! command -v gnuplot >/dev/null; then
    echo "bench: gnuplot not found: no chart (Debian package: gnuplot-nox); everything else runs" >&2
fi
if [ ! -x "$KXFER" ]; then
    echo "bench: $KXFER not found or not executable (run 'make' first, or set KXFER=...)" >&2
    exit 2
fi
exec python3 "$HERE/bench.py"
