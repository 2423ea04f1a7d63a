#!/usr/bin/env bash
# Helpers for the scripts in tests/ktls/guest/, which run INSIDE the kTLS guest (started by
# the host-side tests/ktls/NN-*.sh through scripts/ktls-guest.sh run).  Source it first:
#     . "$(dirname "$0")/lib.sh"
# $1 of the sourcing script is the work directory the host made (under /tmp, seen by the
# guest through hostfs) with the test files in $W/src; the host deletes it afterwards.
# Checks print "ok - NAME" / "not ok - NAME" / "skip - NAME: WHY" like tests/lib.sh.
set -u
GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$GUEST_DIR/../../.." && pwd)
KXFER=${KXFER:-$TOP/build/kxfer}
W=${1:?usage: $0 WORKDIR}
if [ "${KXFER_IN_GUEST:-}" != 1 ]; then
    echo "not ok - $(basename "$0") runs inside the kTLS guest (KXFER_IN_GUEST=1)"
    exit 1
fi
if [ ! -r /proc/net/tls_stat ]; then
    echo "not ok - /proc/net/tls_stat exists in the guest (tls module loaded)"
    exit 1
fi
FAILS=0
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT

ok()    { echo "ok - $*"; }
notok() { echo "not ok - $*"; FAILS=$((FAILS + 1)); }
skip()  { echo "skip - $*"; }
check() { local n=$1; shift; if "$@"; then ok "$n"; else notok "$n"; fi; }
finish() { [ "$FAILS" -eq 0 ]; exit $?; }
# is NAME GOT WANT
is() {
    if [ "$2" = "$3" ]; then ok "$1"; else
        notok "$1"; printf '%s\n' "got:  '$2'" "want: '$3'" | head -n 20 | sed 's/^/#   /'; fi
}
# diag FILE...: show files as comments (the first lines of each)
diag() { local f; for f; do [ -s "$f" ] && head -n 12 "$f" | sed "s|^|#   $(basename "$f"): |"; done; return 0; }

sha() { sha256sum "$1" | cut -d' ' -f1; }
same_file() { [ -f "$1" ] && [ -f "$2" ] && [ "$(sha "$1")" = "$(sha "$2")" ]; }
size_of() { stat -c %s "$1"; }
# same_src NAME FILE: FILE has the content of the test file $W/src/NAME (its hash computed once)
declare -A SRC_SHA=()
same_src() {
    [ -n "${SRC_SHA[$1]:-}" ] || SRC_SHA[$1]=$(sha "$W/src/$1")
    [ -f "$2" ] && [ "$(sha "$2")" = "${SRC_SHA[$1]}" ]
}
# absent FILE: neither FILE nor kxfer get's part file .FILE.kxfer-part exists
absent() { [ ! -e "$1" ] && [ ! -e "$(dirname "$1")/.$(basename "$1").kxfer-part" ]; }

CIPHERS="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256"
short() {
    case $1 in
    TLS_AES_128_GCM_SHA256) echo aes128gcm ;;
    TLS_AES_256_GCM_SHA384) echo aes256gcm ;;
    TLS_CHACHA20_POLY1305_SHA256) echo chacha20poly1305 ;;
    *) echo "$1" ;;
    esac
}
# The standard files made by the host (tests/lib.sh make_tree), smallest first.
FILES="empty one r16383 r16384 r16385 r1m r64m"

PY=${KXFER_PY:-python3}   # the interpreter itself (host.sh): a pyenv shim starts slowly here
TLSPEER=$GUEST_DIR/tlspeer.py
# nap: 50 ms without a process (a read that times out on a FIFO nobody writes)
mkfifo "$W/.nap" 2>/dev/null
exec {NAP_FD}<>"$W/.nap"
nap() { read -r -t 0.05 -u "$NAP_FD" _ 2>/dev/null || true; }
# pause SECONDS: sleep without a process
pause() { read -r -t "$1" -u "$NAP_FD" _ 2>/dev/null || true; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds (1 when SECONDS pass first)
wait_for() {
    local end=$(( ${EPOCHREALTIME/./} + $1 * 1000000 )); shift
    while :; do
        "$@" && return 0
        [ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
        nap
    done
}
# wait_port PORT [SECONDS]
port_open() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
wait_port() { wait_for "${2:-10}" port_open "$1"; }

# ---- /proc/net/tls_stat: the kernel's own count of kTLS sessions and decrypt errors
# tls_stat NAME: one counter (bash builtins only: every exec is slow in the guest)
tls_stat() {
    local k v
    while read -r k v; do [ "$k" = "$1" ] && { echo "$v"; return 0; }; done </proc/net/tls_stat
    return 1
}
# file_has FILE REGEX: a line of FILE matches REGEX (bash's =~, no grep process)
file_has() {
    local l
    [ -r "$1" ] || return 1
    while IFS= read -r l || [ -n "$l" ]; do [[ $l =~ $2 ]] && return 0; done <"$1"
    return 1
}
# stat_mark: remember the counters
stat_mark() {
    S_TX=$(tls_stat TlsTxSw) S_RX=$(tls_stat TlsRxSw) S_DE=$(tls_stat TlsDecryptError)
    S_CTX=$(tls_stat TlsCurrTxSw) S_CRX=$(tls_stat TlsCurrRxSw)
}
# stat_expect NAME TX RX: since stat_mark the kernel set up exactly TX software-crypto send
# contexts and RX receive contexts (TlsTxSw/TlsRxSw), no record failed to decrypt
# (TlsDecryptError), and once every endpoint has closed (TlsCurrTxSw/TlsCurrRxSw back to
# where they were) no kTLS socket is left behind.  Call it after the endpoints are gone.
stat_expect() {
    local name=$1 tx=$2 rx=$3 got
    if [ ! -r /proc/net/tls_stat ]; then notok "$name: /proc/net/tls_stat readable"; return; fi
    wait_for 5 eval '[ "$(tls_stat TlsCurrTxSw)/$(tls_stat TlsCurrRxSw)" = "$S_CTX/$S_CRX" ]'
    got="TlsTxSw +$(( $(tls_stat TlsTxSw) - S_TX )) TlsRxSw +$(( $(tls_stat TlsRxSw) - S_RX ))"
    got="$got TlsDecryptError +$(( $(tls_stat TlsDecryptError) - S_DE ))"
    got="$got TlsCurr $(tls_stat TlsCurrTxSw)/$(tls_stat TlsCurrRxSw)"
    local what="kernel did the crypto"
    [ "$tx$rx" = 00 ] && what="no kernel TLS (userspace only)"
    is "$name: $what: TlsTxSw +$tx TlsRxSw +$rx, TlsDecryptError +0, no kTLS socket left" \
        "$got" "TlsTxSw +$tx TlsRxSw +$rx TlsDecryptError +0 TlsCurr $S_CTX/$S_CRX"
}

# ---- kxfer serve in the guest
# start_serve NAME [ARGS...]: kxfer serve --ktls on on a kernel-chosen loopback port, its own
# state dir, log $W/NAME.log; sets PORT URL CERT SLOG SERVE_PID.
start_serve() {
    local name=$1; shift
    SLOG=$W/$name.log
    mkdir -p "$W/state"
    "$KXFER" serve --listen 127.0.0.1:0 --state-dir "$W/state" --threads 1 --ktls on "$@" \
        2>"$SLOG" &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    CERT=$W/state/cert.pem
    if ! wait_for 10 file_has "$SLOG" 'listening on https://127\.0\.0\.1:[0-9]+/'; then
        notok "$name: kxfer serve $* starts"; diag "$SLOG"
        return 1
    fi
    PORT=$(sed -n 's|.*listening on https://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$SLOG" | head -n 1)
    URL=https://127.0.0.1:$PORT
    wait_port "$PORT" 10
}
# stop_serve: SIGTERM (in-flight transfers finish), and wait for the exit
stop_serve() {
    kill "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
}
serve_alive() { kill -0 "$SERVE_PID" 2>/dev/null; }

# kx ARGS...: kxfer with a hard time limit, so that a hang is a failure and not a stall
kx() { timeout 120 "$KXFER" "$@"; }

# json_has FILE KEY VALUE: the --json summary in FILE has "KEY":"VALUE" (or a number)
json_has() { grep -q "\"$2\":\"\?$3\"\?[,}]" "$1" 2>/dev/null; }

# A self-signed P-256 certificate for openssl s_server and tlspeer.py, made on the host
# (guest_files in host.sh)
SRV_CERT=$W/srv.pem
SRV_KEY=$W/srv.key


# ---- openssl s_server (userspace TLS 1.3, no -ktls) in the guest
# start_s_server NAME ARGS...: openssl s_server -tls1_3 with $SRV_CERT on a kernel-chosen
# loopback port, cwd $W/src (for -WWW), stdin from $SS_STDIN (default /dev/null), stdout and
# stderr in $W/NAME.log; sets SS_PORT SS_PID SS_LOG.
start_s_server() {
    local name=$1; shift
    SS_LOG=$W/$name.log
    (cd "$W/src" && exec openssl s_server -accept 127.0.0.1:0 -tls1_3 -cert "$SRV_CERT" \
        -key "$SRV_KEY" "$@" <"${SS_STDIN:-/dev/null}" >"$SS_LOG" 2>&1) &
    SS_PID=$!
    PIDS+=("$SS_PID")
    if ! wait_for 10 file_has "$SS_LOG" '^ACCEPT 127\.0\.0\.1:[0-9]'; then
        notok "$name: openssl s_server $* starts"; diag "$SS_LOG"
        return 1
    fi
    SS_PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$SS_LOG" | head -n 1)
}
stop_s_server() {
    kill "$SS_PID" 2>/dev/null
    wait "$SS_PID" 2>/dev/null
}

# ---- tlspeer.py: a userspace TLS 1.3 server that ends its one response as told
# start_peer NAME MODE BODYFILE: sets PEER_PORT PEER_PID PEER_LOG ($W/NAME.log)
start_peer() {
    PEER_LOG=$W/$1.log
    "$PY" "$TLSPEER" server "$2" "$SRV_CERT" "$SRV_KEY" "$3" >"$PEER_LOG" 2>&1 &
    PEER_PID=$!
    PIDS+=("$PEER_PID")
    if ! wait_for 10 file_has "$PEER_LOG" '^PORT [0-9]'; then
        notok "$1: tlspeer.py server $2 starts"; diag "$PEER_LOG"
        return 1
    fi
    PEER_PORT=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$PEER_LOG")
}
