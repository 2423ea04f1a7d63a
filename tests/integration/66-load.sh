#!/usr/bin/env bash
# Load: 1000 concurrent keep-alive TLS clients plus 200 clients that send their request heads
# one byte a second, against one kxfer serve (--threads 1), from one Python process
# (loadpeer.py: asyncio + ssl, the server verified with its certificate, every body checked
# by SHA-256).  While the load runs, a probe fetches a file every second and must be answered
# within PROBE_MAX s each time; afterwards the server's open descriptors (/proc/PID/fd) return
# to their level before the load.  Then the same against --max-conns 300, below the load: the
# surplus gets 503 (after the handshake, see src/conn.c), no client hangs, nothing leaks.
# A tree transfer with --parallel 16 against --max-conns 4 (the client backs off and
# completes) is in 72-tree.sh ("a full server"), not repeated here.
#
# Figures for docs/testing.md are printed as "# figures: ..." lines.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

LOADPEER=$HERE/loadpeer.py
CLIENTS=${KXFER_LOAD_CLIENTS:-1000}
SLOW=${KXFER_LOAD_SLOW:-200}
SLOW_SECONDS=20      # phase 1: how long the slow clients dribble their heads
SLOW_SECONDS_FULL=10 # phase 2
BOUND=90             # no client may take longer than this (loadpeer's own limit too)
PROBE_MAX=5          # seconds: one probe request, under load
need_fds=$((CLIENTS + SLOW + 600))

# Descriptors: the server holds one per connection, loadpeer one per client.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need_fds" ]; then
    skip "load test: needs $need_fds open files, the hard limit is $hard"
    exit 77
fi
[ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ] && ulimit -n "$need_fds"

R=$T/root
mkdir -p "$R"
head -c 1024 /dev/urandom >"$R/f1k"
head -c 102400 /dev/urandom >"$R/f100k"
head -c 1048576 /dev/urandom >"$R/f1m"
fds() { ls "/proc/$SERVE_PID/fd" 2>/dev/null | wc -l; }
now_ms() { date +%s%3N; }

# fds_settle WANT: until the server's descriptor count is WANT again (10 s at most); prints it.
fds_settle() {
    local i n
    for i in $(seq 100); do
        n=$(fds); [ "$n" -le "$1" ] && break; sleep 0.1
    done
    echo "$n"
}

# probe_loop FILE OUT: while $T/stop-probe is absent, fetch FILE every second; one line per
# probe "STATUS MS" to OUT.
probe_loop() {
    while [ ! -e "$T/stop-probe" ]; do
        local t0 code
        t0=$(now_ms)
        code=$(curl -s -o "$T/probe.body" -w '%{http_code}' --max-time "$PROBE_MAX" \
               --cacert "$CERT" "$URL/$1")
        [ "$code" = 200 ] && ! same_file "$R/$1" "$T/probe.body" && code=bad-body
        echo "$code $(( $(now_ms) - t0 ))" >>"$2"
        sleep 1
    done
}

# js FILE KEY: one value of loadpeer's JSON.
js() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# run_load NAME SLOW_SECONDS: loadpeer + the probe + descriptor samples against $PORT.
run_load() {
    local name=$1 secs=$2 p peak=0 n t0
    rm -f "$T/stop-probe" "$T/$name.probe"
    t0=$(now_ms)
    timeout $((BOUND + 30)) python3 "$LOADPEER" "$PORT" --ca "$CERT" --root "$R" \
        --clients "$CLIENTS" --slow "$SLOW" --slow-seconds "$secs" --requests 3 \
        --files f1k,f100k --big f1m --big-every 10 --bound "$BOUND" \
        --json "$T/$name.json" >/dev/null 2>"$T/$name.err" &
    p=$!; PIDS+=("$p")
    probe_loop f1k "$T/$name.probe" &
    PROBE=$!; PIDS+=("$PROBE")
    while kill -0 "$p" 2>/dev/null; do
        n=$(fds); [ "$n" -gt "$peak" ] && peak=$n
        sleep 0.5
    done
    wait "$p"; LOAD_RC=$?
    LOAD_MS=$(( $(now_ms) - t0 ))
    touch "$T/stop-probe"; wait "$PROBE" 2>/dev/null
    PEAK=$peak
    [ -s "$T/$name.err" ] && sed 's/^/# loadpeer: /' "$T/$name.err" | head -n 20
    return 0
}

# probe_report NAME ALLOWED...: checks that every probe got one of the ALLOWED codes within
# PROBE_MAX s, and that there were probes throughout.
probe_report() {
    local name=$1 f=$T/$1.probe n bad max; shift
    n=$(wc -l <"$f" 2>/dev/null || echo 0)
    bad=$(awk -v ok=" $* " 'index(ok, " " $1 " ") == 0' "$f" | head -n 5 | tr '\n' ';')
    max=$(awk 'BEGIN{m=0} $2>m{m=$2} END{print m}' "$f")
    check "$name: the probe ran throughout ($n probes)" test "$n" -ge 5
    is "$name: every probe answered ($*) within ${PROBE_MAX} s (slowest ${max} ms)" "$bad" ""
    PROBES=$n PROBE_SLOWEST=$max
}

# round_start NAME SLOW_SECONDS PREFIX SERVE-ARGS...: a server for one round, a warm-up
# request, the load; sets before (descriptors before it) and J (loadpeer's report), and
# prints loadpeer's first errors.
round_start() {
    local name=$1 secs=$2 prefix=$3 errs; shift 3
    start_serve "$name" --root "$R" "$@" || { notok "kxfer serve $* starts"; finish; }
    is "${prefix}warm-up request" "$(st "$URL/f1k")" 200
    sleep 0.5
    before=$(fds)
    run_load "$name" "$secs"
    J=$T/$name.json
    is "$name: loadpeer ran to the end" "$LOAD_RC" 0
    if [ -s "$J" ]; then
        errs=$(python3 -c 'import json,sys; print("; ".join(json.load(open(sys.argv[1]))["errors"][:5]))' "$J")
        [ -n "$errs" ] && echo "# first errors: $errs"
    fi
}

# stop_check NAME: SIGTERM the server; it must exit 0 within 10 s, its log free of sanitizer
# reports (an ASan build reports leaks at exit).
stop_check() {
    local i rc=running
    kill -TERM "$SERVE_PID" 2>/dev/null
    for i in $(seq 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVE_PID" 2>/dev/null; then kill -KILL "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null
    else wait "$SERVE_PID"; rc=$?; fi
    is "$1: SIGTERM after the load: server exits 0 within 10 s" "$rc" 0
    is "$1: no sanitizer report in the server log" \
        "$(grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/$1.log")" 0
}

# --- 1. The load against a server with room for it -----------------------------------------
round_start load "$SLOW_SECONDS" "" --max-conns $((CLIENTS + SLOW + 100)) --quiet
if [ -s "$J" ]; then
    is "load: $CLIENTS fast clients, all answered correctly (sha256)" "$(js "$J" fast_ok)" "$CLIENTS"
    is "load: all $CLIENTS fast clients were open at once" "$(js "$J" peak_fast_open)" "$CLIENTS"
    is "load: every request answered ($((CLIENTS * 3)))" "$(js "$J" requests_ok)" $((CLIENTS * 3))
    is "load: fast clients: no errors, none hung, none 503" \
        "$(js "$J" fast_err)/$(js "$J" fast_hung)/$(js "$J" fast_503)" 0/0/0
    # A head must arrive whole within --idle-timeout (60 s) of its first byte; these take
    # SLOW_SECONDS, so they are waited for and then answered (60-robustness.sh checks the
    # cut-off).
    is "load: $SLOW slow heads (1 byte/s for ${SLOW_SECONDS} s) all kept open, then answered" \
        "$(js "$J" slow_ok)/$(js "$J" slow_early)/$(js "$J" slow_err)/$(js "$J" slow_hung)" "$SLOW/0/0/0"
    is "load: no client unfinished after ${BOUND} s" "$(js "$J" unfinished)" 0
    check "load: the slowest client took under ${BOUND} s ($(js "$J" max_client_seconds) s)" \
        awk -v m="$(js "$J" max_client_seconds)" -v b="$BOUND" 'BEGIN{exit !(m < b)}'
    echo "# figures: load: clients=$CLIENTS slow=$SLOW requests=$(js "$J" requests_ok)+$(js "$J" slow_ok) bytes=$(js "$J" bytes) seconds=$(js "$J" seconds) median_client_s=$(js "$J" median_client_seconds) max_client_s=$(js "$J" max_client_seconds)"
else
    notok "load: loadpeer wrote its report"
fi
probe_report load 200
check "load: server alive" alive
after=$(fds_settle "$before")
is "load: open descriptors back to their level before the load ($before; peak $PEAK)" "$after" "$before"
echo "# figures: load: fds before=$before peak=$PEAK after=$after probes=$PROBES slowest_probe_ms=$PROBE_SLOWEST"
stop_check load

# --- 2. The same load against --max-conns 300 ------------------------------------------------
MAXC=300
round_start full "$SLOW_SECONDS_FULL" "full: " --max-conns $MAXC
if [ -s "$J" ]; then
    ok_f=$(js "$J" fast_ok) r503=$(js "$J" fast_503)
    early503=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["early_status"].get("503", 0))' "$J")
    slow_ok=$(js "$J" slow_ok)
    is "full: every fast client answered 200 (sha256) or 503, nothing else" \
        "$((ok_f + r503))/$(js "$J" fast_err)/$(js "$J" fast_hung)" "$CLIENTS/0/0"
    is "full: every slow client answered 200 or 503" \
        "$((slow_ok + early503))/$(js "$J" slow_err)/$(js "$J" slow_hung)" "$SLOW/0/0"
    check "full: the surplus got 503 ($r503 fast + $early503 slow)" test $((r503 + early503)) -gt 0
    # Open at once: every served slow client, and the fast ones that made it in.
    check "full: at most $MAXC served at once ($(js "$J" peak_fast_open) fast + $slow_ok slow)" \
        test $(( $(js "$J" peak_fast_open) + slow_ok )) -le "$MAXC"
    check "full: at least $((MAXC - SLOW - 50)) fast clients served" \
        test "$ok_f" -ge $((MAXC - SLOW - 50))
    is "full: no client unfinished after ${BOUND} s" "$(js "$J" unfinished)" 0
    check "full: the slowest client took under ${BOUND} s ($(js "$J" max_client_seconds) s)" \
        awk -v m="$(js "$J" max_client_seconds)" -v b="$BOUND" 'BEGIN{exit !(m < b)}'
    s503=$(grep -c ' 503 ' "$T/full.log")
    check "full: the server logged at least the 503s the clients saw ($s503 >= $((r503 + early503)))" \
        test "$s503" -ge $((r503 + early503))
    echo "# figures: full: max_conns=$MAXC fast_ok=$ok_f fast_503=$r503 slow_ok=$slow_ok slow_503=$early503 server_503=$s503 bytes=$(js "$J" bytes) seconds=$(js "$J" seconds) median_client_s=$(js "$J" median_client_seconds) max_client_s=$(js "$J" max_client_seconds)"
else
    notok "full: loadpeer wrote its report"
fi
probe_report full 200 503
check "full: server alive" alive
after=$(fds_settle "$before")
is "full: open descriptors back to their level before the load ($before; peak $PEAK)" "$after" "$before"
echo "# figures: full: fds before=$before peak=$PEAK after=$after probes=$PROBES slowest_probe_ms=$PROBE_SLOWEST"
is "full: after the load, requests succeed again" "$(st "$URL/f1k")" 200
stop_check full
finish
