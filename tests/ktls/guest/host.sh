#!/usr/bin/env bash
# The host side of a kTLS test: sourced (after tests/lib.sh) by tests/ktls/NN-*.sh, which
# run on the host.  It is the one file in this directory that does not run in the guest.
#
#   guest_ready NAME        kxfer built, guest set up (exit 77 with the reason when it cannot be)
#   guest_files             the standard test files in $T/src (tests/lib.sh make_tree) and a
#                           self-signed certificate $T/srv.pem / $T/srv.key for other servers
#   guest_run SECS SCRIPT   one guest boot running tests/ktls/guest/SCRIPT "$T"; its ok/not ok
#                           lines come back on stdout; then the test exits with its verdict
G=$TOP/scripts/ktls-guest.sh
GUEST_TESTS=$TOP/tests/ktls/guest

guest_ready() {
    local out rc=0
    if [ ! -x "$KXFER" ]; then
        notok "$1: kxfer binary exists ($KXFER; run make)"
        exit 1
    fi
    out=$("$G" setup 2>&1) || rc=$?
    if [ "$rc" -eq 77 ]; then
        skip "$1: $(echo "$out" | tail -n 1 | sed 's/^ktls-guest: //')"
        exit 77
    elif [ "$rc" -ne 0 ]; then
        notok "$1: ktls guest setup (exit $rc)"
        echo "$out" | sed 's/^/# /'
        exit 1
    fi
}

guest_files() {
    make_tree "$T/src"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$T/srv.key" -out "$T/srv.pem" 2>/dev/null
}

guest_run() {
    local secs=$1 script=$2 rc t0=$EPOCHREALTIME
    # The interpreter itself, not a pyenv-style shim script: each start costs far less in
    # the guest, where every exec is slow.
    KXFER_PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || KXFER_PY=python3
    export KXFER_PY
    "$G" run --timeout "$secs" -- bash "$GUEST_TESTS/$script" "$T" | tee "$T/guest.out"
    rc=${PIPESTATUS[0]}
    echo "# guest boot + $script: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s, exit $rc"
    case $rc in
    0) [ "$FAILS" -eq 0 ] && exit 0; exit 1 ;;
    77) grep -q '^\(ok\|not ok\) - ' "$T/guest.out" ||
            { skip "$script: $(tail -n 1 "$T/guest.out" | sed 's/^ktls-guest: //')"; exit 77; }
        notok "$script: guest stopped after some checks (77)"; exit 1 ;;
    124) notok "$script: guest timed out after ${secs}s"; exit 1 ;;
    *) grep -q '^not ok - ' "$T/guest.out" || notok "$script: exited $rc without reporting a failure"
       exit 1 ;;
    esac
}
