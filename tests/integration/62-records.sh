#!/usr/bin/env bash
# The TLS 1.3 record layer of kxfer's userspace data path against real peers, for each of
# TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256 (always
# --ktls off: this is about the userspace path):
#  a. kxfer get from openssl s_server -WWW: 16384-byte fragments (its default), small
#     fragments, padded records (-record_padding), heavily padded records; the record
#     lengths on the wire are checked through tamper.py --nth 0, so that each case is what
#     it says.
#  b. KeyUpdate mid-body: interactive s_server ('k' update_not_requested, 'K'
#     update_requested on its stdin); s_server cannot end with close_notify ('q' and 'Q'
#     close the socket before SSL_shutdown), so the body has a Content-Length; the same
#     with a close-delimited body must fail (exit 7: a FIN is not a close_notify).  A
#     close-delimited body after both KeyUpdates that does end with close_notify comes from
#     Python's ssl (libssl's SSL_key_update through ctypes).
#  c. one bit flipped in a bulk record from kxfer serve, nginx, s_server (tamper.py s2c):
#     kxfer get exits 5 naming the TLS failure; no file and no .NAME.kxfer-part left.
#  d. e. one bit flipped in an upload record (tamper.py c2s) from kxfer put and curl -T to
#     kxfer serve --allow-upload: the upload fails, nothing (final or .kxfer-upload-*
#     temp) is left, the server lives on and serves.
#  f. zero-length application_data records: checked only if some standard peer here can
#     send one (probed with Python's ssl); else skipped with the reason.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

TAMPER=$HERE/tamper.py
SUITES="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256"
short() { case $1 in *AES_128*) echo AES-128-GCM ;; *AES_256*) echo AES-256-GCM ;; *) echo ChaCha20-Poly1305 ;; esac; }

newcert "$T" srv "DNS:localhost,IP:127.0.0.1" || { notok "openssl req: server certificate"; finish; }
CA=$T/srv.pem
W=$T/www            # s_server -WWW's directory
mkdir -p "$W" "$T/out"
head -c $((3 * 1048576 + 12345)) /dev/urandom >"$W/r3m"   # not a multiple of 16384
BIG=$W/r3m

# ---- helpers --------------------------------------------------------------------------------
# wait_for SECONDS COMMAND...: until COMMAND succeeds (polls every 50 ms).
wait_for() {
    local n=$(($1 * 20)); shift
    while [ $n -gt 0 ]; do "$@" && return 0; sleep 0.05; n=$((n - 1)); done
    return 1
}
has() { [ -f "$1" ] && grep -qa -- "$2" "$1"; }
diag() { local f; for f; do [ -f "$f" ] && tail -n 8 "$f" | sed "s|^|#   $(basename "$f"): |"; done; }
stop() { local p; for p; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
json() { sed -n "s/.*\"$2\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" "$1"; }   # json FILE KEY

# start_tamper TARGET ARGS...: tamper.py on a free port; sets TP_PORT TP_PID TP_LOG.
start_tamper() {
    local target=$1; shift
    TP_PORT=$(free_port) TP_LOG=$(mktemp "$T/tamper.XXXXXX")
    rm -f "$TP_LOG.ready"
    python3 "$TAMPER" "$TP_PORT" "$target" --ready "$TP_LOG.ready" --log "$TP_LOG" "$@" &
    TP_PID=$!; PIDS+=("$TP_PID")
    wait_for 10 test -s "$TP_LOG.ready" || echo "# tamper.py did not start"
}
# tamper_line: the tamper log line of the last connection (waits until it is written).
tamper_line() { wait_for 5 test -s "$TP_LOG"; tail -n 1 "$TP_LOG"; }
# lengths_count LENGTH: how many type-23 records of LENGTH tamper.py saw on its connection.
lengths_count() { tamper_line | sed 's/.*lengths //' | tr ',' '\n' | grep -cx "$1"; }

# start_www NAME S_SERVER-ARGS...: s_server -WWW on a free port serving $W; sets SS_PORT SS_PID.
start_www() {
    local name=$1; shift
    SS_PORT=$(free_port)
    (cd "$W" && exec openssl s_server -WWW -quiet -accept "127.0.0.1:$SS_PORT" -cert "$CA" \
        -key "$T/srv.key" -tls1_3 "$@" </dev/null >"$T/$name.log" 2>&1) &
    SS_PID=$!; PIDS+=("$SS_PID")
    wait_port "$SS_PORT" 10 || { echo "# s_server $* did not start"; diag "$T/$name.log"; return 1; }
}

# get_ok NAME SUITE URL SRCFILE: kxfer get --ktls off of URL must exit 0 with SRCFILE's bytes,
# over SUITE, on the userspace path.
get_ok() {
    local n=$1 suite=$2 url=$3 src=$4 o=$T/out/get.bin rc
    rm -f "$o"
    kx get "$url" -o "$o" --ca "$CA" --ktls off --timeout 20 --json >"$T/get.json" 2>"$T/get.err"
    rc=$?
    if [ "$rc" = 0 ] && same_file "$src" "$o" && [ "$(json "$T/get.json" cipher)" = "$suite" ] &&
       [ "$(json "$T/get.json" rx_path)" = userspace ]; then
        ok "$n: exit 0, identical, $suite, rx=userspace"
    else
        notok "$n: exit 0, identical, $suite, rx=userspace (exit $rc)"; diag "$T/get.err" "$T/get.json"
    fi
}

# ---- a. s_server -WWW: fragment sizes and padding -------------------------------------------
# With -record_padding alone only short records grow (handshake, tickets, the last one): a
# full 16384-byte record cannot take padding.  With a smaller -max_send_frag every 16 KiB
# that s_server writes ends in a short record, which is padded (up to max_send_frag).
# CASE: label | s_server options | expected record length on the wire | at least this many
CASES=(
  "16384-byte fragments (s_server default): 16401-byte records||16401|190"
  "512-byte fragments: 529-byte records|-max_send_frag 512|529|6000"
  "padded records (-record_padding 512 -max_send_frag 4000: 384 data bytes + 127 padding in 528-byte records)|-record_padding 512 -max_send_frag 4000|528|190"
  "heavily padded records (-record_padding 16384 -max_send_frag 10000: 6384 data bytes + 3615 padding)|-record_padding 16384 -max_send_frag 10000|10016|190"
)
for suite in $SUITES; do
    n=$(short "$suite")
    for c in "${CASES[@]}"; do
        IFS='|' read -r label opts len min <<<"$c"
        # shellcheck disable=SC2086
        start_www "www-$n" -ciphersuites "$suite" $opts || { notok "$n: s_server -WWW $opts starts"; continue; }
        start_tamper "$SS_PORT" --nth 0
        get_ok "$n: s_server -WWW, $label" "$suite" "https://127.0.0.1:$TP_PORT/r3m" "$BIG"
        got=$(lengths_count "$len")
        if [ "$got" -ge "$min" ]; then ok "$n: $label: $got records of $len bytes on the wire"
        else notok "$n: $label: at least $min records of $len bytes on the wire (saw $got)"
             tamper_line | cut -c1-300 | sed 's/^/#   /'; fi
        stop "$TP_PID" "$SS_PID"
    done
done

# ---- b. KeyUpdate from an interactive s_server ----------------------------------------------
# The body: random bytes without s_server's command letters, CR and LF, so that no read
# s_server makes of its stdin can start a command; three parts, the command lines between.
for i in 1 2 3; do head -c 1500000 /dev/urandom | tr -d 'QqPSRrKkCcB\n\r' | head -c 700001 >"$T/ku$i"; done
cat "$T/ku1" "$T/ku2" "$T/ku3" >"$T/ku.body"
KU_TOTAL=$(stat -c %s "$T/ku.body")
# drained FD: until (at most 10 s) s_server has read everything written to the pipe on FD,
# and a little more for it to finish writing that.
drained() {
    python3 -c 'import fcntl, struct, sys, termios, time
fd, end = int(sys.argv[1]), time.time() + 10
while struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"0000"))[0] > 0:
    if time.time() > end:
        sys.exit(1)
    time.sleep(0.01)
time.sleep(0.1)' "$1" || echo "# s_server did not read its stdin"
}
# ku_case SUITE cl|eof: s_server sends the head, ku1, KeyUpdate(not requested), ku2,
# KeyUpdate(requested), ku3; cl: with Content-Length; eof: HTTP/1.0 without one, ended by
# 'q' (TCP close without close_notify).
ku_case() {
    local suite=$1 mode=$2 n gp rc o=$T/out/ku log name
    n=$(short "$suite")
    log=$T/ku-$n-$mode.log
    rm -f "$T/ss.fifo" "$o" "$T/out/.ku.kxfer-part"
    mkfifo "$T/ss.fifo"
    exec {SSW}<>"$T/ss.fifo"        # s_server's stdin; read-write, so opening never blocks
    SS_PORT=$(free_port)
    openssl s_server -msg -accept "127.0.0.1:$SS_PORT" -cert "$CA" -key "$T/srv.key" -tls1_3 \
        -naccept 1 -ciphersuites "$suite" <"$T/ss.fifo" >"$log" 2>&1 &
    SS_PID=$!; PIDS+=("$SS_PID")
    # (not wait_port: with -naccept 1 a probe connection would be its only one)
    if ! wait_for 10 has "$log" '^ACCEPT'; then
        notok "$n: interactive s_server starts"; diag "$log"; exec {SSW}>&-; stop "$SS_PID"; return
    fi
    timeout 30 "$KXFER" get "https://127.0.0.1:$SS_PORT/ku" -o "$o" --ca "$CA" --ktls off \
        --timeout 20 --json >"$T/ku.json" 2>"$T/ku.err" &
    gp=$!; PIDS+=("$gp")
    wait_for 10 has "$log" 'GET /ku HTTP/1.1' || echo "# s_server saw no request"
    {
        if [ "$mode" = cl ]; then
            printf 'HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' "$KU_TOTAL"
        else
            printf 'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n'
        fi
        cat "$T/ku1"
    } | timeout 20 cat >&"$SSW"
    drained "$SSW"; echo k >&"$SSW"; drained "$SSW"      # SSL_key_update(update_not_requested)
    timeout 20 cat "$T/ku2" >&"$SSW"
    drained "$SSW"; echo K >&"$SSW"; drained "$SSW"      # SSL_key_update(update_requested)
    timeout 20 cat "$T/ku3" >&"$SSW"
    drained "$SSW"
    if [ "$mode" = eof ]; then echo q >&"$SSW"; drained "$SSW"; fi   # close(), then SSL_shutdown
    wait "$gp"; rc=$?
    exec {SSW}>&-                    # EOF: s_server ends (-naccept 1)
    wait_for 5 sh -c "! kill -0 $SS_PID 2>/dev/null"
    stop "$SS_PID"
    name="$n: s_server KeyUpdates after $(stat -c %s "$T/ku1") and $((2 * $(stat -c %s "$T/ku1"))) of $KU_TOTAL body bytes"
    if [ "$(grep -a -A1 '>>> TLS 1.3, Handshake \[length 0005\], KeyUpdate' "$log" |
            grep -aoE '18 00 00 01 0[01]' | tr '\n' ' ')" = "18 00 00 01 00 18 00 00 01 01 " ]; then
        ok "$name: s_server sent KeyUpdate(update_not_requested), then KeyUpdate(update_requested)"
    else
        notok "$name: s_server sent KeyUpdate(update_not_requested), then KeyUpdate(update_requested)"
        diag "$log"
    fi
    if [ "$mode" = cl ]; then
        if [ "$rc" = 0 ] && same_file "$T/ku.body" "$o" && [ "$(json "$T/ku.json" cipher)" = "$suite" ] &&
           [ "$(json "$T/ku.json" rx_path)" = userspace ]; then
            ok "$name, Content-Length body: kxfer get exit 0, identical, $suite"
        else
            notok "$name, Content-Length body: kxfer get exit 0, identical, $suite (exit $rc)"
            diag "$T/ku.err" "$T/ku.json"
        fi
        if grep -aq '^ERROR' "$log"; then
            notok "$name: s_server saw no error from kxfer get"; diag "$log"
        else ok "$name: s_server saw no error from kxfer get (nothing bad sent after the KeyUpdates)"; fi
    else
        if [ "$rc" = 7 ] && [ ! -e "$o" ] && [ ! -e "$T/out/.ku.kxfer-part" ] &&
           grep -Eqi 'close_notify|truncat' "$T/ku.err"; then
            ok "$name, close-delimited body ended by a TCP close without close_notify ('q'): exit 7 naming close_notify, no file, no part file"
        else
            notok "$name, close-delimited body ended without close_notify: exit 7 naming close_notify, no file, no part file (exit $rc)"
            ls -A "$T/out" | sed 's/^/#   out: /'; diag "$T/ku.err"
        fi
    fi
}
for suite in $SUITES; do ku_case "$suite" cl; done
ku_case TLS_AES_128_GCM_SHA256 eof

# ---- b'. close-delimited body with KeyUpdates that ends with close_notify (Python ssl) -------
# Python's ssl module has no KeyUpdate; libssl's SSL_key_update is called through ctypes on
# the SSL * of the socket (the second field after PyObject_HEAD of CPython's _ssl._SSLSocket,
# checked against the third, which points at the SSLContext).  MODE ku: KeyUpdate (not
# requested) after a third, (requested) after two thirds; MODE zero: three zero-length
# writes there instead.  Then close_notify.  Prints "done".
cat >"$T/kupeer.py" <<'EOF'
import ctypes, socket, ssl, sys
cert, key, suite, body_path, portfile, mode = sys.argv[1:]
P, w = ctypes.c_void_p, ctypes.sizeof(ctypes.c_void_p)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(cert, key)
try:
    lib = ctypes.CDLL(getattr(ssl._ssl, "__file__", None))
    for f, a, r in (("SSL_key_update", [P, ctypes.c_int], ctypes.c_int),
                    ("SSL_get_key_update_type", [P], ctypes.c_int),
                    ("SSL_set_ciphersuites", [P, ctypes.c_char_p], ctypes.c_int)):
        getattr(lib, f).argtypes, getattr(lib, f).restype = a, r
except (OSError, AttributeError) as e:
    sys.exit(print("SKIP: no SSL_key_update in Python's libssl: %s" % e))
probe = ctx.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
if P.from_address(id(probe._sslobj) + 4 * w).value != id(ctx):
    sys.exit(print("SKIP: this Python's _ssl._SSLSocket layout is not CPython 3's usual one"))
body = open(body_path, "rb").read()
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
with open(portfile + ".tmp", "w") as f:
    f.write("%d\n" % ls.getsockname()[1])
__import__("os").rename(portfile + ".tmp", portfile)
ls.settimeout(20)
raw, _ = ls.accept()
ls.close()
raw.settimeout(20)
s = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
ptr = P.from_address(id(s._sslobj) + 3 * w).value
if lib.SSL_set_ciphersuites(ptr, suite.encode()) != 1:
    sys.exit("SSL_set_ciphersuites failed")
s.do_handshake()
req = b""
while b"\r\n\r\n" not in req:
    d = s.recv(4096)
    if not d:
        sys.exit("no request")
    req += d
third = len(body) // 3
s.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + body[:third])
for kind, part in ((0, body[third:2 * third]), (1, body[2 * third:])):
    if mode == "ku":
        if lib.SSL_key_update(ptr, kind) != 1 or lib.SSL_get_key_update_type(ptr) != kind:
            sys.exit("SSL_key_update failed")
    else:
        for _ in range(3):
            s.write(b"")
    s.sendall(part)
    if lib.SSL_get_key_update_type(ptr) != -1:   # SSL_KEY_UPDATE_NONE: it was sent
        sys.exit("KeyUpdate not sent")
print("cipher", s.cipher()[0])
try:
    s.unwrap()          # close_notify; then wait for the client's (or its close)
except (OSError, ssl.SSLError):
    pass
print("done", flush=True)
EOF
# py_case SUITE MODE NAME
py_case() {
    local suite=$1 mode=$2 name=$3 pp rc o=$T/out/py
    rm -f "$T/py.port" "$o"
    python3 "$T/kupeer.py" "$CA" "$T/srv.key" "$suite" "$T/ku.body" "$T/py.port" "$mode" \
        >"$T/py.log" 2>&1 &
    pp=$!; PIDS+=("$pp")
    wait_for 10 sh -c '[ -s "$1" ] || grep -q "^SKIP" "$2"' _ "$T/py.port" "$T/py.log"
    if has "$T/py.log" '^SKIP'; then skip "$name: $(sed -n 's/^SKIP: //p' "$T/py.log")"; stop "$pp"; return; fi
    if [ ! -s "$T/py.port" ]; then notok "$name: python peer starts"; diag "$T/py.log"; stop "$pp"; return; fi
    kx get "https://127.0.0.1:$(cat "$T/py.port")/py" -o "$o" --ca "$CA" --ktls off --timeout 20 \
        --json >"$T/py.json" 2>"$T/py.err"
    rc=$?
    wait_for 5 sh -c "! kill -0 $pp 2>/dev/null"; stop "$pp"
    if [ "$rc" = 0 ] && same_file "$T/ku.body" "$o" && [ "$(json "$T/py.json" cipher)" = "$suite" ] &&
       has "$T/py.log" '^done'; then
        ok "$name: kxfer get exit 0, identical, $suite"
    else
        notok "$name: kxfer get exit 0, identical, $suite (exit $rc)"; diag "$T/py.log" "$T/py.err"
    fi
}
for suite in $SUITES; do
    py_case "$suite" ku "$(short "$suite"): python ssl (SSL_key_update via ctypes), close-delimited body, KeyUpdate(update_not_requested) then (update_requested) mid-body, then close_notify under the new key"
done

# ---- c. a flipped bit in a bulk record from the server: kxfer get fails ---------------------
# tampered NAME URL-PATH TARGET-PORT SUITE
tampered() {
    local name=$1 path=$2 target=$3 suite=$4 rc line o=$T/out/tampered.bin
    rm -f "$o"
    start_tamper "$target" --dir s2c
    kx get "https://127.0.0.1:$TP_PORT/$path" -o "$o" --ca "$CA" --ktls off --timeout 20 \
        2>"$T/tampered.err"
    rc=$?
    line=$(tamper_line)
    stop "$TP_PID"
    case $line in *"tampered 1"*) ;; *) notok "$name: tamper.py flipped a bit in the third bulk record ($line)"; return ;; esac
    if [ "$rc" = 5 ] && grep -Eiq 'tls|ssl|decrypt|record|mac|authenticat|integrity' "$T/tampered.err"; then
        ok "$name: kxfer get exit 5, naming the TLS failure"
    else
        notok "$name: kxfer get exit 5, naming the TLS failure (exit $rc)"; diag "$T/tampered.err"
    fi
    echo "#   $name: $(head -n 1 "$T/tampered.err")"
    if [ ! -e "$o" ] && [ ! -e "$T/out/.tampered.bin.kxfer-part" ]; then
        ok "$name: no output file and no .tampered.bin.kxfer-part left"
    else
        notok "$name: no output file and no .tampered.bin.kxfer-part left"; ls -lA "$T/out" | sed 's/^/#   /'
    fi
}
K=$T/kroot                  # kxfer serve's root (uploads too)
mkdir -p "$K/up"
cp "$BIG" "$K/r3m"; head -c 16385 /dev/urandom >"$K/small"
# snapshot: every entry under kxfer serve's root, hidden ones (.kxfer-upload-*) included.
snapshot() { (cd "$K" && find . -printf '%p %y %s\n' | LC_ALL=C sort); }
wait_same() {
    wait_for 5 sh -c '[ "$(cd "$1" && find . -printf "%p %y %s\n" | LC_ALL=C sort)" = "$2" ]' _ "$K" "$1" && return 0
    diff <(echo "$1") <(snapshot) | sed 's/^/#   /'; return 1
}
NG=""
if command -v nginx >/dev/null; then NG=1; else skip "tampered records from nginx: nginx not installed"; fi

for suite in $SUITES; do
    n=$(short "$suite")
    # kxfer serve (also for d and e below)
    start_serve "serve-$n" --root "$K" --allow-upload --ciphers "$suite" --ktls off --cert "$CA" \
        --key "$T/srv.key" || { notok "$n: kxfer serve --ciphers $suite starts"; continue; }
    # shellcheck disable=SC2034  # (st in common.sh uses CERT)
    CERT=$CA
    get_ok "$n: kxfer serve, direct (sanity)" "$suite" "$URL/r3m" "$BIG"
    tampered "$n: kxfer serve -> tamper.py s2c -> kxfer get" r3m "$PORT" "$suite"
    check "$n: kxfer serve alive after the client's alert" alive
    is "$n: kxfer serve serves the next request" "$(st "$URL/small")" 200

    # d. kxfer put through tamper.py c2s
    before=$(snapshot)
    start_tamper "$PORT" --dir c2s
    kx put "$BIG" "https://127.0.0.1:$TP_PORT/up/put.bin" --ca "$CA" --ktls off --timeout 20 \
        2>"$T/put.err"
    rc=$?; line=$(tamper_line); stop "$TP_PID"
    case $line in *"tampered 1"*) ok "$n: kxfer put through tamper.py c2s: a bit flipped in its third bulk record" ;;
                  *) notok "$n: kxfer put through tamper.py c2s: a bit flipped in its third bulk record ($line)" ;; esac
    is_in "$n: kxfer put of a tampered upload fails with a network or TLS error (4/5)" "$rc" 4 5
    echo "#   $n: kxfer put: exit $rc: $(head -n 1 "$T/put.err")"
    check "$n: tampered kxfer put: no file and no .kxfer-upload-* temp left in the root" wait_same "$before"
    check "$n: kxfer serve alive after the tampered upload" alive
    is "$n: kxfer serve serves a GET after the tampered upload" "$(st "$URL/small")" 200

    # e. curl -T through tamper.py c2s
    start_tamper "$PORT" --dir c2s
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$CA" -T "$BIG" \
           "https://127.0.0.1:$TP_PORT/up/curl.bin" 2>"$T/curl.err")
    rc=$?; line=$(tamper_line); stop "$TP_PID"
    case $line in *"tampered 1"*) ;; *) notok "$n: curl -T through tamper.py c2s: a bit flipped ($line)" ;; esac
    if [ "$rc" != 0 ] && [ "$code" != 201 ] && [ "$code" != 204 ]; then
        ok "$n: curl -T of a tampered upload fails (curl exit $rc, status $code)"
    else notok "$n: curl -T of a tampered upload fails (curl exit $rc, status $code)"; fi
    check "$n: tampered curl -T: no file and no .kxfer-upload-* temp left in the root" wait_same "$before"
    check "$n: kxfer serve alive after the tampered curl upload" alive
    is "$n: kxfer serve still takes an upload after the tampered ones" \
        "$(st -T "$K/small" "$URL/up/after.bin")" 201
    check "$n: that upload is identical on disk" same_file "$K/small" "$K/up/after.bin"
    rm -f "$K/up/after.bin"
    stop_serve

    # nginx
    if [ -n "$NG" ]; then
        N=$T/nginx-$n
        NPORT=$(free_port)
        nginx_conf "$N" "$NPORT" "$CA" "$T/srv.key" ""
        sed -i "s|ssl_protocols TLSv1.3;|ssl_protocols TLSv1.3;\n        ssl_conf_command Ciphersuites $suite;|" "$N/nginx.conf"
        cp "$BIG" "$N/root/r3m"
        nginx -p "$N" -c "$N/nginx.conf" 2>>"$N/error.log" &
        NGINX_PID=$!; PIDS+=("$NGINX_PID")
        if wait_port "$NPORT" 10; then
            get_ok "$n: nginx, direct (sanity)" "$suite" "https://127.0.0.1:$NPORT/r3m" "$BIG"
            tampered "$n: nginx -> tamper.py s2c -> kxfer get" r3m "$NPORT" "$suite"
        else
            notok "$n: nginx starts"; diag "$N/error.log"
        fi
        stop "$NGINX_PID"
    fi

    # s_server -WWW
    if start_www "www-t-$n" -ciphersuites "$suite"; then
        tampered "$n: s_server -WWW -> tamper.py s2c -> kxfer get" r3m "$SS_PORT" "$suite"
        stop "$SS_PID"
    else
        notok "$n: s_server -WWW starts"
    fi
done

# ---- f. zero-length application_data records ------------------------------------------------
# Does Python's ssl (OpenSSL's SSL_write) put anything on the wire for write(b"")?  openssl
# s_server and s_client cannot send an empty record: they read their stdin, and a read of 0
# bytes is its end (they quit).  nginx and curl never write 0 bytes.
zbytes=$(python3 - "$CA" "$T/srv.key" <<'EOF'
import ssl, sys
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(sys.argv[1], sys.argv[2])
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
cctx.check_hostname, cctx.verify_mode = False, ssl.CERT_NONE
cin, cout, sin, sout = (ssl.MemoryBIO() for _ in range(4))
c, s = cctx.wrap_bio(cin, cout), sctx.wrap_bio(sin, sout, server_side=True)
for _ in range(10):
    for o in (c, s):
        try:
            o.do_handshake()
        except ssl.SSLWantReadError:
            pass
    sin.write(cout.read()); cin.write(sout.read())
try:
    c.read(1)       # takes the session tickets
except ssl.SSLWantReadError:
    pass
sout.read()
s.write(b"")
print(sout.pending if s.version() == "TLSv1.3" else -1)
EOF
)
if [ "$zbytes" = 0 ]; then
    skip "zero-length application_data records: no standard peer here sends one (python ssl SSLObject.write(b'') puts 0 bytes on the wire: OpenSSL's SSL_write of 0 bytes sends nothing; openssl s_server/s_client end at a 0-byte stdin read)"
elif [ "${zbytes:-x}" = x ] || [ "$zbytes" -lt 0 ]; then
    notok "zero-length record probe (python ssl over MemoryBIO) ran (got '$zbytes')"
else
    ok "python ssl write(b'') sends $zbytes bytes: a zero-length record"
    py_case TLS_AES_128_GCM_SHA256 zero "python ssl, zero-length application_data records between body parts, then close_notify"
fi
finish
