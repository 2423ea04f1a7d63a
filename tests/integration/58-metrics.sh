#!/usr/bin/env bash
# serve --metrics: the Prometheus listener.  A known sequence of requests, uploads and failed
# handshakes, then every counter it moved checked exactly (as deltas from a scrape taken
# before it), promtool's verdict on the exposition, and the listener's own answers (HEAD,
# 404, 405, 400), with a silent client and garbage in between.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

R=$T/root
mkdir -p "$R"
printf 'x' >"$R/one"
head -c 16383 /dev/urandom >"$R/r16383"
head -c 16385 /dev/urandom >"$R/r16385"
head -c 1048576 /dev/urandom >"$R/r1m"

# scrape FILE: GET /metrics into FILE; prints the status.
scrape() { curl -s -o "$1" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$MPORT/metrics"; }
# val FILE SERIES: the value of one series (exact name and labels), "absent" if missing.
val() { awk -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? "absent" : v) }' "$1"; }
# sum FILE PREFIX: the sum of every series whose name-and-labels start with PREFIX.
sum() { awk -v p="$2" 'substr($1, 1, length(p)) == p { s += $2 } END { printf "%d\n", s }' "$1"; }
# delta SERIES: its value in $T/after minus $T/before (absent counts as 0).
delta() {
    local a b; a=$(val "$T/after" "$1"); b=$(val "$T/before" "$1")
    [ "$a" = absent ] && a=0; [ "$b" = absent ] && b=0
    echo $((a - b))
}
# settle FILE: scrape until nothing is open and every connection has finished its handshake
# one way or the other (the workers count a connection's end a moment after the client has
# gone), 10 s at most.
settle() {
    local i
    for i in $(seq 100); do
        scrape "$1" >/dev/null
        [ "$(val "$1" kxfer_connections_open)" = 0 ] &&
            [ "$(val "$1" kxfer_connections_total)" = $(( $(val "$1" kxfer_handshakes_total) +
                $(sum "$1" kxfer_handshakes_failed_total) )) ] && return 0
        sleep 0.1
    done
    return 1
}
# wsum FILE DIRECTION: kxfer_worker_bytes_total summed over the workers.
wsum() {
    awk -v d="direction=\"$2\"" 'index($1, "kxfer_worker_bytes_total{") == 1 && index($1, d) { s += $2 }
        END { printf "%d\n", s }' "$1"
}
# rawhttp PORT BYTES [body]: send BYTES (with \r, \n and \xHH escapes) over plain TCP; print
# the first response line, or with "body", the number of bytes after the response head.
rawhttp() {
    python3 - "$1" "$2" "${3:-}" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin1"))
d = b""
try:
    while True:
        x = s.recv(4096)
        if not x:
            break
        d += x
except OSError:
    pass
if sys.argv[3] == "body":
    print(len(d) - d.find(b"\r\n\r\n") - 4 if b"\r\n\r\n" in d else "no head")
else:
    print(d.split(b"\r\n")[0].decode("latin1"))
EOF
}

# --- --metrics on a public address needs --metrics-public -------------------------------
P0=$(free_port)
timeout 10 "$KXFER" serve --listen "127.0.0.1:$(free_port)" --state-dir "$T/state" --root "$R" \
    --metrics "0.0.0.0:$P0" 2>"$T/public.err" >/dev/null
is "--metrics 0.0.0.0 without --metrics-public: exit 2" "$?" 2
check "--metrics 0.0.0.0 without --metrics-public: the error names --metrics-public" \
    grep -q -- --metrics-public "$T/public.err"
MPORT=$(free_port)
start_serve public --root "$R" --metrics "0.0.0.0:$MPORT" --metrics-public ||
    { notok "serve --metrics 0.0.0.0 --metrics-public starts"; finish; }
wait_port "$MPORT" 10
is "--metrics 0.0.0.0 --metrics-public: scrape answers 200" "$(scrape "$T/public.txt")" 200
stop_serve

# --- the known sequence -------------------------------------------------------------------
MPORT=$(free_port)
start_serve m --root "$R" --allow-upload --threads 2 --metrics "127.0.0.1:$MPORT" ||
    { notok "serve --metrics starts"; finish; }
check "metrics port accepts" wait_port "$MPORT" 10
check "counters settle after start (wait_port's probe)" settle "$T/before"
is "first scrape: 200" "$(scrape "$T/before")" 200

is "GET 1: 200" "$(st "$URL/r16385")" 200
is "GET 2: 200" "$(st "$URL/r16385")" 200
is "HEAD: 200" "$(st -I "$URL/r16385")" 200
is "GET missing: 404" "$(st "$URL/no-such-file")" 404
is "Range: 206" "$(st -r 0-99 "$URL/r1m")" 206
is "PUT: 201" "$(st -T "$R/r16383" "$URL/new.bin")" 201
# An upload given up after 1000 of its 1000000 bytes: a plain close (FIN, no close_notify),
# which the server sees only after the bytes before it, unlike a reset.
timeout 10 python3 - "$PORT" "$CERT" <<'EOF'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname="127.0.0.1")
s.sendall(b"PUT /aborted.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n"
          + b"a" * 1000)
s.close()
EOF
timeout 10 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" </dev/null >/dev/null 2>&1
rawhttp "$PORT" 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >/dev/null
python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1]))).close()' "$PORT"

check "counters settle: every connection open, handshaken or failed, and closed" settle "$T/after"
is "requests GET 200: +2" "$(delta 'kxfer_requests_total{method="GET",status="200"}')" 2
is "requests HEAD 200: +1" "$(delta 'kxfer_requests_total{method="HEAD",status="200"}')" 1
is "requests GET 404: +1" "$(delta 'kxfer_requests_total{method="GET",status="404"}')" 1
is "requests GET 206: +1" "$(delta 'kxfer_requests_total{method="GET",status="206"}')" 1
is "requests PUT 201: +1" "$(delta 'kxfer_requests_total{method="PUT",status="201"}')" 1
is "requests: no other series moved (the aborted PUT got no answer)" \
    $(( $(sum "$T/after" kxfer_requests_total) - $(sum "$T/before" kxfer_requests_total) )) 6
is "uploads committed: +1" "$(delta 'kxfer_uploads_total{result="committed"}')" 1
is "uploads aborted: +1" "$(delta 'kxfer_uploads_total{result="aborted"}')" 1
is "connections_total: +10" "$(delta kxfer_connections_total)" 10
is "handshakes completed: +7 (6 curl, 1 aborted upload)" "$(delta kxfer_handshakes_total)" 7
for r in protocol plaintext_http closed; do
    is "handshakes failed $r: +1" "$(delta "kxfer_handshakes_failed_total{reason=\"$r\"}")" 1
done
for r in timeout client_certificate peer_alert other; do
    is "handshakes failed $r: +0" "$(delta "kxfer_handshakes_failed_total{reason=\"$r\"}")" 0
done
is "connections refused: 0" "$(val "$T/after" kxfer_connections_refused_total)" 0
is "connections_max: 1024 (the default)" "$(val "$T/after" kxfer_connections_max)" 1024
# bdelta DIRECTION: kxfer_bytes_total over every path, $T/after minus $T/before.
bdelta() {
    local p="kxfer_bytes_total{direction=\"$1\""
    echo $(( $(sum "$T/after" "$p") - $(sum "$T/before" "$p") ))
}
sent=$(bdelta sent)
recv=$(bdelta received)
check "bytes sent >= the bodies (2 x 16385 + 100; got $sent)" test "$sent" -ge $((2 * 16385 + 100))
check "bytes received >= the uploads (16383 + 1000; got $recv)" test "$recv" -ge $((16383 + 1000))
is "bytes on the plain path: 0 (a TLS server)" \
    "$(sum "$T/after" 'kxfer_bytes_total{direction="sent",path="plain"}')" 0
is "per-worker connections sum to the total" \
    "$(sum "$T/after" kxfer_worker_connections_total)" "$(val "$T/after" kxfer_connections_total)"
for d in sent received; do
    is "per-worker bytes $d sum to the total" "$(wsum "$T/after" $d)" \
        "$(sum "$T/after" "kxfer_bytes_total{direction=\"$d\"")"
done
is "two workers, each with its series" "$(grep -c '^kxfer_worker_connections_open{' "$T/after")" 2
tx=$(sum "$T/after" 'kxfer_ktls_fallbacks_total{direction="tx"')
check "kTLS TX fallbacks ($tx) <= completed handshakes" \
    test "$tx" -le "$(val "$T/after" kxfer_handshakes_total)"
check "build_info names a version" grep -q '^kxfer_build_info{version="[^"]\+"} 1$' "$T/after"
check "certificate expiry is in the future" \
    test "$(val "$T/after" kxfer_certificate_expiry_timestamp_seconds | cut -d. -f1)" -gt "$(date +%s)"
echo "# kxfer_ktls_fallbacks_total: $(grep '^kxfer_ktls_fallbacks_total' "$T/after" | awk '$2 != 0' | tr '\n' ' ')"
if command -v promtool >/dev/null; then
    check "promtool check metrics accepts the scrape" sh -c "promtool check metrics <'$T/after' >'$T/promtool.out' 2>&1"
    sed 's/^/# promtool: /' "$T/promtool.out"
else
    skip "promtool check metrics: promtool not installed (scripts/install-deps.sh installs it)"
fi

# --- the listener's own answers -----------------------------------------------------------
M=http://127.0.0.1:$MPORT
curl -s -D "$T/mh.h" -o /dev/null --max-time 10 -I "$M/metrics"
is "HEAD /metrics: 200" "$(head -n1 "$T/mh.h" | cut -d' ' -f2)" 200
is "HEAD /metrics: Content-Type" "$(hdr "$T/mh.h" Content-Type)" "text/plain; version=0.0.4; charset=utf-8"
scrape "$T/again" >/dev/null
is "HEAD /metrics: Content-Length is the GET body's length" "$(hdr "$T/mh.h" Content-Length)" "$(stat -c %s "$T/again")"
is "HEAD /metrics: no body" "$(rawhttp "$MPORT" 'HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n' body)" 0
is "GET /metrics?x=1: 200" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$M/metrics?x=1")" 200
is "GET /: 200" "$(curl -s -o "$T/index" -w '%{http_code}' --max-time 10 "$M/")" 200
check "GET /: points at /metrics" grep -q /metrics "$T/index"
is "GET /nope: 404" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$M/nope")" 404
req m405 -X POST -d x "$M/metrics" >/dev/null
is "POST /metrics: 405" "$(head -n1 "$T/m405.h" | cut -d' ' -f2)" 405
is "POST /metrics: Allow: GET, HEAD" "$(hdr "$T/m405.h" Allow)" "GET, HEAD"
is "garbage: 400" "$(rawhttp "$MPORT" 'garbage garbage\r\n\r\n' | cut -d' ' -f2)" 400
is "binary (a TLS ClientHello): 400" "$(rawhttp "$MPORT" '\x16\x03\x01\x00\xc8\x01\x00' | cut -d' ' -f2)" 400
PORT=$MPORT tcphold 8
sleep 0.2
t0=$(date +%s%N)
is "scrape while a silent client holds the listener: 200" "$(scrape "$T/late")" 200
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "... within 10 s (took $ms ms)" test "$ms" -lt 10000
kill "$RAWPID" 2>/dev/null
check "server alive" alive
is "server still serves files" "$(st "$URL/one")" 200
PORT=$MPORT tcphold 8
sleep 0.2
t0=$(date +%s%N)
stop_serve
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "SIGTERM with a silent metrics client: exits within 3 s (took $ms ms)" test "$ms" -lt 3000
finish
