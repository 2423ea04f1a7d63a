#!/usr/bin/env bash
# Robustness: clients that vanish mid-transfer, stalled clients, many sequential and
# parallel requests, --max-conns, --idle-timeout, SIGTERM/SIGINT (idle and in flight).
# The server runs with --threads 1 (start_serve), so one bad client must not block others.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

make_tree "$T/root"
R=$T/root
now_ms() { date +%s%3N; }
# wait_exit PID SECONDS: until PID exits (then "wait" gives its status); 1 if still running.
wait_exit() {
    local i
    for i in $(seq $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}
GET64='GET /r64m HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'

start_serve serve --root "$R" || { notok "kxfer serve starts"; finish; }

# --- Clients vanishing mid-transfer while another downloads the same file ------------------
curl -sS --max-time 30 --cacert "$CERT" "$URL/r64m" >"$T/full.bin" 2>"$T/full.err" &
full=$!
curl -s --max-time 0.5 --limit-rate 1M --cacert "$CERT" "$URL/r64m" -o /dev/null &
a1=$!
(curl -s --max-time 20 --cacert "$CERT" "$URL/r64m" | head -c 100000 >/dev/null) &
a2=$!
rawbg "$GET64" --ca "$CERT" --abort
a3=$RAWPID
wait "$full"; rc=$?
wait "$a1" "$a2" "$a3" 2>/dev/null
is "download concurrent with 3 aborting clients: curl exit 0" "$rc" 0
check "download concurrent with aborting clients: sha256 identical" same_file "$R/r64m" "$T/full.bin"
check "server alive after clients vanished mid-transfer" alive
is "GET / after clients vanished: 200" "$(st "$URL/")" 200

# kxfer get racing against an aborting client, several rounds.
bad=0
for i in 1 2 3; do
    rawbg "$GET64" --ca "$CERT" --abort
    kx get "$URL/r64m" -o "$T/race$i.bin" --ca "$CERT" --quiet || bad=1
    same_file "$R/r64m" "$T/race$i.bin" || bad=1
    wait "$RAWPID" 2>/dev/null; rm -f "$T/race$i.bin"
done
is "3 rounds: kxfer get of r64m correct while another client resets" "$bad" 0

# --- Stalled clients must not block others (--threads 1) --------------------------------
rawbg "$GET64" --ca "$CERT" --hold 25; stall1=$RAWPID     # asks for 64 MiB, never reads
rawbg 'GET /one HTTP/1.1\r\nHost: 127.0.0.1\r\n' --ca "$CERT" --hold 25; stall2=$RAWPID   # unfinished header
tcphold 25; stall3=$RAWPID                                  # TCP only, no ClientHello
sleep 1
t0=$(now_ms)
curl -sS --max-time 15 --cacert "$CERT" "$URL/r64m" >"$T/while-stalled.bin" 2>/dev/null
rc=$?
is "while 3 clients stall (unread 64 MiB response, unfinished header, no ClientHello): download exit 0 ($(( $(now_ms) - t0 )) ms)" "$rc" 0
check "download while others stall: sha256 identical" same_file "$R/r64m" "$T/while-stalled.bin"
kill "$stall1" "$stall2" "$stall3" 2>/dev/null; wait "$stall1" "$stall2" "$stall3" 2>/dev/null

# Connections that open and close at once, and TLS sessions without a request.
for i in $(seq 10); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; done
for i in $(seq 5); do raw --ca "$CERT" --shutdown </dev/null; raw --ca "$CERT" --abort </dev/null; done
printf '\x16\x03\x01\x00\x05garbage-not-a-client-hello' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; cat >&3; cat <&3 >/dev/null" 2>/dev/null
check "server alive after empty / reset / garbage connections" alive

# --- Many requests ---------------------------------------------------------------------------
good=0
for i in $(seq 50); do
    [ "$(curl -s --max-time 10 --cacert "$CERT" "$URL/one")" = x ] && good=$((good + 1))
done
is "50 sequential short requests (new connection each): all correct" "$good" 50
args=()
for i in $(seq 200); do args+=(-o /dev/null "$URL/sub/hello.txt"); done
codes=$(curl -s --max-time 30 --cacert "$CERT" -w '%{http_code}:%{num_connects} ' "${args[@]}")
is "200 requests on one keep-alive connection: all 200" "$(echo "$codes" | tr ' ' '\n' | grep -c '^200:')" 200
is "200 requests on one keep-alive connection: 1 connect" "$(echo "$codes" | tr ' ' '\n' | grep -c ':1$')" 1

pids=()
for i in $(seq 20); do
    case $((i % 5)) in 0) f=r64m ;; 1) f=r16385 ;; 2) f=r16384 ;; *) f=r1m ;; esac
    curl -sS --max-time 60 --cacert "$CERT" "$URL/$f" >"$T/par$i.$f" 2>"$T/par$i.err" &
    pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
is "20 parallel curl downloads: all exit 0" "$fails" 0
bad=""
for i in $(seq 20); do
    f=$(ls "$T" | grep "^par$i\.r" | head -n 1); f=${f#par$i.}
    same_file "$R/$f" "$T/par$i.$f" || bad="$bad $i:$f"
done
is "20 parallel curl downloads: every sha256 identical" "$bad" ""
rm -f "$T"/par*
check "server alive after the load" alive

# --- SIGTERM ---------------------------------------------------------------------------------
rawbg "" --ca "$CERT" --hold 30; idle=$RAWPID   # an idle connection stays open
sleep 0.5
t0=$(now_ms)
kill -TERM "$SERVE_PID"
if wait_exit "$SERVE_PID" 5; then
    wait "$SERVE_PID"; rc=$?
    ok "SIGTERM with an idle connection open: server exits within 5 s ($(( $(now_ms) - t0 )) ms)"
    is "SIGTERM: exit status 0" "$rc" 0
else
    notok "SIGTERM with an idle connection open: server exits within 5 s"
    kill -KILL "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null
fi
kill "$idle" 2>/dev/null; wait "$idle" 2>/dev/null

start_serve idle --root "$R" || notok "server restarts"
t0=$(now_ms)
kill -INT "$SERVE_PID"
if wait_exit "$SERVE_PID" 5; then
    wait "$SERVE_PID"; is "SIGINT when idle: exit 0 within 5 s ($(( $(now_ms) - t0 )) ms)" "$?" 0
else
    notok "SIGINT when idle: exit 0 within 5 s"; kill -KILL "$SERVE_PID" 2>/dev/null
fi

# In flight: a rate-limited 64 MiB download (about 1.5 s) must complete after SIGTERM.
start_serve inflight --root "$R" || notok "server restarts"
curl -sS --max-time 30 --cacert "$CERT" --limit-rate 48M "$URL/r64m" >"$T/inflight.bin" 2>"$T/inflight.err" &
cpid=$!
sleep 0.5
kill -TERM "$SERVE_PID"
sleep 0.3
out=$(curl -s --max-time 3 --cacert "$CERT" -o /dev/null -w '%{http_code}' "$URL/one")
check "after SIGTERM: new connections are not served (got '$out')" test "$out" != 200
wait "$cpid"; rc=$?
is "SIGTERM during a download: the download completes (curl exit 0)" "$rc" 0
check "SIGTERM during a download: sha256 identical" same_file "$R/r64m" "$T/inflight.bin"
if wait_exit "$SERVE_PID" 10; then
    wait "$SERVE_PID"; is "SIGTERM during a download: server then exits 0" "$?" 0
else
    notok "SIGTERM during a download: server then exits 0 (still running)"; kill -KILL "$SERVE_PID" 2>/dev/null
fi

# --- --max-conns / --idle-timeout ------------------------------------------------------------
start_serve maxc --root "$R" --max-conns 2 --idle-timeout 30 || notok "serve --max-conns 2 starts"
holders=()
for i in 1 2; do rawbg "" --ca "$CERT" --hold 8; holders+=("$RAWPID"); done
sleep 1
is "--max-conns 2 with 2 connections open: third request gets 503" "$(st "$URL/one")" 503
kill "${holders[@]}" 2>/dev/null; wait "${holders[@]}" 2>/dev/null
recovered=0
for i in $(seq 20); do [ "$(st "$URL/one")" = 200 ] && { recovered=1; break; }; sleep 0.1; done
is "--max-conns: after the holders leave, requests succeed again" "$recovered" 1
stop_serve

start_serve idlet --root "$R" --idle-timeout 1 || notok "serve --idle-timeout 1 starts"
raw --ca "$CERT" --timeout 8 --time </dev/null >/dev/null 2>"$T/idle.err"
rc=$?
el=$(sed -n 's/^elapsed=//p' "$T/idle.err")
is "--idle-timeout 1: server closes a silent connection" "$rc" 0
check "--idle-timeout 1: closed within 4 s (elapsed ${el:-?} s)" awk -v e="${el:-99}" 'BEGIN{exit !(e < 4)}'
printf 'GET /one HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' | raw --ca "$CERT" --timeout 8 --time >"$T/idle2" 2>"$T/idle2.err"
rc=$?
el=$(sed -n 's/^elapsed=//p' "$T/idle2.err")
is "--idle-timeout 1: keep-alive connection answered, then closed when idle" "$rc/$(body_of "$T/idle2")" "0/x"
check "--idle-timeout 1: keep-alive closed within 4 s (elapsed ${el:-?} s)" awk -v e="${el:-99}" 'BEGIN{exit !(e < 4)}'
# A head dribbled a byte every 0.3 s renews the idle timer each time, but must arrive whole
# within --idle-timeout of its first byte.
el=$(python3 - "$PORT" "$CERT" <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="127.0.0.1")
t0 = time.monotonic()
try:
    for b in b"GET /one HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"x" * 40:
        s.send(bytes([b]))
        time.sleep(0.3)
        if time.monotonic() - t0 > 10:
            break
    s.settimeout(5)
    s.recv(1)
except OSError:
    pass
print("%.1f" % (time.monotonic() - t0))
PY
)
check "--idle-timeout 1: a head dribbled a byte at a time is cut off within 4 s (${el:-?} s)" \
    awk -v e="${el:-99}" 'BEGIN{exit !(e < 4)}'
check "server alive after idle timeouts" alive
stop_serve

# An upload slower than 256 KiB per --idle-timeout: the userspace record layer waits with
# SO_RCVLOWAT 256 KiB, so its bytes arrive without waking the server; they still count as
# progress.  A body that stops arriving is still cut off.
start_serve slowup --root "$R" --allow-upload --idle-timeout 1 || notok "serve --allow-upload --idle-timeout 1 starts"
head -c 900000 /dev/urandom >"$T/slow.bin"
is "--idle-timeout 1: an upload at 100 KB/s (256 KiB take 2.6 s) completes: 201" \
    "$(st -T "$T/slow.bin" --limit-rate 100K --max-time 30 "$URL/up/slow.bin")" 201
check "... and is stored whole" same_file "$T/slow.bin" "$R/up/slow.bin"
el=$(python3 - "$PORT" "$CERT" <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="127.0.0.1")
s.sendall(b"PUT /up/stalled.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4000000\r\n\r\n" + b"x" * 300000)
t0 = time.monotonic()
s.settimeout(10)
try:
    while s.recv(4096):
        pass
except OSError:
    pass
print("%.1f" % (time.monotonic() - t0))
PY
)
check "--idle-timeout 1: an upload that stops is cut off within 4 s (${el:-?} s)" \
    awk -v e="${el:-99}" 'BEGIN{exit !(e < 4)}'
check "... and leaves no file" test ! -e "$R/up/stalled.bin"
check "server alive" alive
finish
