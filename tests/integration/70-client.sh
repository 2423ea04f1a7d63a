#!/usr/bin/env bash
# kxfer get / put client behaviour: default output name, -o -, --continue, failed downloads
# leave nothing, exit codes (2 3 4 6 7), --json.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

make_tree "$T/root"
R=$T/root
start_serve serve --root "$R" --allow-upload || { notok "kxfer serve starts"; finish; }

# --- output names ---------------------------------------------------------------------------
mkdir -p "$T/dl"
(cd "$T/dl" && kx get "$URL/r16385" --ca "$CERT" --quiet)
is "get without -o: exit 0" "$?" 0
check "get without -o: writes ./r16385 (last URL segment)" same_file "$R/r16385" "$T/dl/r16385"
(cd "$T/dl" && kx get "$URL/sub/hello.txt" --ca "$CERT" --quiet)
check "get without -o: sub/hello.txt -> ./hello.txt" same_file "$R/sub/hello.txt" "$T/dl/hello.txt"
is "get without -o: nothing else in the directory (no temp files)" "$(ls -A "$T/dl" | tr '\n' ' ')" "hello.txt r16385 "

kx get "$URL/r64m" -o - --ca "$CERT" >"$T/stdout.bin" 2>"$T/stdout.err"
is "get -o -: exit 0" "$?" 0
check "get -o -: stdout is exactly the file (64 MiB)" same_file "$R/r64m" "$T/stdout.bin"
check "get -o -: no file named '-' created" test ! -e ./- -a ! -e "$T/dl/-"
kx get "$URL/empty" -o "$T/empty.out" --ca "$CERT" --quiet
is "get of an empty file: exit 0, empty file created" "$?/$(stat -c %s "$T/empty.out" 2>/dev/null)" "0/0"

# --- --continue -----------------------------------------------------------------------------
head -c 300000 "$R/r1m" >"$T/part.bin"
kx get "$URL/r1m" -o "$T/part.bin" --ca "$CERT" --continue --quiet
is "get --continue on a 300000-byte prefix: exit 0" "$?" 0
check "get --continue: result identical to the file" same_file "$R/r1m" "$T/part.bin"
for _ in $(seq 20); do grep -q 'GET /r1m 206 748576 ' "$T/serve.log" && break; sleep 0.1; done
check "get --continue: server sent 206 with the missing 748576 bytes only (access log)" \
    grep -q 'GET /r1m 206 748576 ' "$T/serve.log"
head -c 1 "$R/r64m" >"$T/part64.bin"
kx get "$URL/r64m" -o "$T/part64.bin" --ca "$CERT" --continue --quiet
check "get --continue on a 1-byte prefix of r64m: identical" same_file "$R/r64m" "$T/part64.bin"
kx get "$URL/r16384" -o "$T/fresh.bin" --ca "$CERT" --continue --quiet
check "get --continue without an existing file: full download" same_file "$R/r16384" "$T/fresh.bin"

# --- failures leave no output file ---------------------------------------------------------
mkdir -p "$T/fail"
kx get "$URL/nope" -o "$T/fail/nope.bin" --ca "$CERT" --quiet 2>/dev/null
is "get of a missing file (404): exit 6" "$?" 6
is "get 404: no output file, no temp file" "$(ls -A "$T/fail")" ""
(cd "$T/fail" && kx get "$URL/nope2" --ca "$CERT" --quiet 2>/dev/null)
is "get 404 without -o: exit 6" "$?" 6
is "get 404 without -o: directory still empty" "$(ls -A "$T/fail")" ""

DEAD=$(free_port)
kx get "https://127.0.0.1:$DEAD/one" -o "$T/fail/refused.bin" --ca "$CERT" --quiet 2>/dev/null
is "get with connection refused: exit 4" "$?" 4
kx put "$R/one" "https://127.0.0.1:$DEAD/one" --ca "$CERT" --quiet 2>/dev/null
is "put with connection refused: exit 4" "$?" 4
kx get "$URL/one" -o "$T/no/such/dir/one" --ca "$CERT" --quiet 2>/dev/null
is "get -o into a missing directory: exit 3 (local I/O)" "$?" 3
is "after all failures: $T/fail still empty" "$(ls -A "$T/fail")" ""

# --- usage ----------------------------------------------------------------------------------
timeout 10 "$KXFER" get >/dev/null 2>&1
is "get without URL: exit 2 (usage)" "$?" 2
timeout 10 "$KXFER" get "$URL/one" --no-such-option >/dev/null 2>&1
is "get with an unknown option: exit 2" "$?" 2
timeout 10 "$KXFER" frobnicate >/dev/null 2>&1
is "unknown subcommand: exit 2" "$?" 2
timeout 10 "$KXFER" put "$R/one" >/dev/null 2>&1
is "put without URL: exit 2" "$?" 2
out=$(timeout 10 "$KXFER" --help 2>&1); rc=$?
is "kxfer --help: exit 0" "$rc" 0
check "kxfer --help mentions serve, get and put" sh -c "echo \"\$1\" | grep -q serve && echo \"\$1\" | grep -q get && echo \"\$1\" | grep -q put" _ "$out"
for sub in serve get put; do
    timeout 10 "$KXFER" "$sub" --help >/dev/null 2>&1
    is "kxfer $sub --help: exit 0" "$?" 0
done
out=$(timeout 10 "$KXFER" --version 2>&1); rc=$?
check "kxfer --version: exit 0 and prints something ($out)" test "$rc" = 0 -a -n "$out"

# --- --json ---------------------------------------------------------------------------------
# json_check NAME FILE BYTES [STATUS]: FILE holds exactly one JSON object with the keys.
json_check() {
    local err
    if err=$(python3 - "$2" "$3" "${4:-}" 2>&1 <<'EOF'
import json, sys
path, size, status = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = open(path).read().strip()
obj = json.loads(text)
keys = ["url", "status", "bytes", "seconds", "mbps", "tls_version", "cipher", "rx_path", "tx_path", "output"]
missing = [k for k in keys if k not in obj]
assert not missing, "missing keys %s" % missing
assert obj["bytes"] == size, "bytes %r != %d" % (obj["bytes"], size)
if status:
    assert str(obj["status"]) == status, "status %r" % obj["status"]
assert obj["tls_version"] == "TLSv1.3", "tls_version %r" % obj["tls_version"]
assert obj["rx_path"] == "userspace" and obj["tx_path"] == "userspace", "rx/tx %r %r" % (obj["rx_path"], obj["tx_path"])
assert isinstance(obj["seconds"], (int, float)) and isinstance(obj["mbps"], (int, float)), "numbers"
EOF
    ); then ok "$1"; else notok "$1"; echo "$err" | tail -n 2 | sed 's/^/#   /'; sed 's/^/#   json: /' "$2" | head -n 5; fi
}
kx get "$URL/r1m" -o "$T/j.bin" --ca "$CERT" --json >"$T/get.json" 2>"$T/get.json.err"
is "get --json: exit 0" "$?" 0
check "get --json: stdout parses with json.load" sh -c "python3 -c 'import json,sys; json.load(sys.stdin)' <'$T/get.json'"
json_check "get --json: keys, bytes = 1048576, status 200, TLSv1.3, userspace" "$T/get.json" 1048576 200
check "get --json: file identical" same_file "$R/r1m" "$T/j.bin"
kx get "$URL/r16385" -o - --ca "$CERT" --json >"$T/jstdout.bin" 2>"$T/jstdout.err"
check "get --json -o -: stdout is only the file" same_file "$R/r16385" "$T/jstdout.bin"
grep '^{' "$T/jstdout.err" | tail -n 1 >"$T/jstdout.json"
json_check "get --json -o -: JSON object on stderr, bytes = 16385" "$T/jstdout.json" 16385 200
kx put "$R/r16385" "$URL/sub/putjson.bin" --ca "$CERT" --json >"$T/put.json" 2>/dev/null
is "put --json: exit 0" "$?" 0
json_check "put --json: keys, bytes = 16385, status 201" "$T/put.json" 16385 201
kx get "$URL/nope" -o "$T/fail/j404" --ca "$CERT" --json >/dev/null 2>&1
is "get --json of a 404: exit 6" "$?" 6
stop_serve

# --- malformed / short responses from a fake server (exit 7) --------------------------------
FAKE=$(free_port)
cat >"$T/fake.py" <<'EOF'
import socket, ssl, sys
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(8)
while True:
    c, _ = ls.accept()
    try:
        s = ctx.wrap_socket(c, server_side=True)
        req = b""
        while b"\r\n\r\n" not in req:
            d = s.recv(4096)
            if not d: break
            req += d
        path = req.split(b" ")[1] if b" " in req else b"/"
        if path.startswith(b"/short"):
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
        elif path.startswith(b"/garbage"):
            s.sendall(b"THIS IS NOT HTTP\r\n\r\nhello")
        elif path.startswith(b"/badlen"):
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello")
        else:
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        try: s.unwrap()
        except Exception: pass
        s.close()
    except Exception as e:
        print("fake:", e, file=sys.stderr)
        c.close()
EOF
python3 "$T/fake.py" "$FAKE" "$T/state/cert.pem" "$T/state/key.pem" 2>"$T/fake.log" &
PIDS+=($!)
wait_port "$FAKE" 10 || notok "fake server starts"
kx get "https://127.0.0.1:$FAKE/ok" -o "$T/fail/ok.bin" --ca "$CERT" --quiet
is "fake server sanity: 200 with 5 bytes: exit 0" "$?/$(cat "$T/fail/ok.bin" 2>/dev/null)" "0/hello"
rm -f "$T/fail/ok.bin"
kx get "https://127.0.0.1:$FAKE/short" -o "$T/fail/short.bin" --ca "$CERT" --quiet 2>/dev/null
is "body shorter than Content-Length: exit 7" "$?" 7
kx get "https://127.0.0.1:$FAKE/garbage" -o "$T/fail/garbage.bin" --ca "$CERT" --quiet 2>/dev/null
is "malformed status line: exit 7" "$?" 7
kx get "https://127.0.0.1:$FAKE/badlen" -o "$T/fail/badlen.bin" --ca "$CERT" --quiet 2>/dev/null
is "negative Content-Length: exit 7" "$?" 7
is "protocol errors leave no output file" "$(ls -A "$T/fail")" ""
finish
