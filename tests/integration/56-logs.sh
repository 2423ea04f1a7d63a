#!/usr/bin/env bash
# Logs: --access-log FILE (appended, reopened on SIGUSR1, rotated by logrotate with
# dist/kxfer.logrotate), --log-format json (every line a JSON object), and --quiet (no
# access log, but the start-up lines with the certificate pin stay).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

make_tree "$T/root"
R=$T/root
L=$T/log; mkdir -p "$L"
get() { st "$URL/$1"; }
lines() { [ -f "$1" ] && grep -c . "$1" || echo 0; }

# --- --access-log, SIGUSR1 -----------------------------------------------------------------
echo "an earlier line" >"$L/access.log"
start_serve text --root "$R" --access-log "$L/access.log" || { notok "serve --access-log starts"; finish; }
is "GET r16385: 200" "$(get r16385)" 200
is "GET missing: 404" "$(get missing)" 404
sleep 0.2
is "the file is appended to: 3 lines" "$(lines "$L/access.log")" 3
is "the earlier line is kept" "$(head -n 1 "$L/access.log")" "an earlier line"
check "a line starts with the UTC time, then the request" \
    grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z 127\.0\.0\.1:[0-9]+ GET /r16385 200 16385 ' "$L/access.log"
check "the 404 is logged" grep -q ' GET /missing 404 ' "$L/access.log"
check "no access line on stderr" sh -c "! grep -q 'GET /r16385' '$T/text.log'"
check "stderr keeps the banner with the pin" grep -q "certificate sha256:" "$T/text.log"
mv "$L/access.log" "$L/access.log.1"
is "after a move, before SIGUSR1: lines go to the moved file" "$(get r16385)" 200
sleep 0.2
is "... the moved file has 4 lines" "$(lines "$L/access.log.1")" 4
kill -USR1 "$SERVE_PID"; sleep 0.3
check "SIGUSR1: the reopen is logged" grep -q "SIGUSR1: access log .*access.log reopened" "$T/text.log"
is "after SIGUSR1: GET" "$(get empty)" 200
sleep 0.2
is "after SIGUSR1: the new file has the line" "$(lines "$L/access.log")" 1
is "after SIGUSR1: the moved file got nothing more" "$(lines "$L/access.log.1")" 4
check "the new file is mode 0640" test "$(stat -c %a "$L/access.log")" = 640
# A reopen that fails keeps the old file.
mv "$L" "$T/log-moved"
kill -USR1 "$SERVE_PID"; sleep 0.3
check "a failed reopen is logged" grep -q "cannot reopen the access log.*still writing to the old one" "$T/text.log"
is "after a failed reopen: GET" "$(get r16385)" 200
sleep 0.2
is "... the line still reaches the old file" "$(lines "$T/log-moved/access.log")" 2
mv "$T/log-moved" "$L"
check "server alive" alive

# --- logrotate with the shipped snippet -----------------------------------------------------
if command -v logrotate >/dev/null; then
    # The snippet as shipped, with this test's path and process in place of the unit's.
    sed -e "s|/var/log/kxfer/\*.log|$L/access.log|" \
        -e "s|systemctl kill .*|kill -USR1 $SERVE_PID|" "$TOP/dist/kxfer.logrotate" >"$T/logrotate.conf"
    before=$(lines "$L/access.log")
    logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf" 2>"$T/logrotate.err"
    is "logrotate -f with dist/kxfer.logrotate: exit 0" "$?" 0
    sed 's/^/# /' "$T/logrotate.err"
    check "logrotate moved the log to access.log.1" test -s "$L/access.log.1"
    is "... with every line it had" "$(lines "$L/access.log.1")" "$before"
    sleep 0.3
    is "after logrotate: GET" "$(get r16385)" 200
    sleep 0.2
    is "after logrotate: kxfer writes a new access.log" "$(lines "$L/access.log")" 1
else
    skip "logrotate: not installed (scripts/install-deps.sh installs it)"
fi
stop_serve

# --- --log-format json ------------------------------------------------------------------------
start_serve json --root "$R" --access-log "$L/json.log" --log-format json --verbose \
    || { notok "serve --log-format json starts"; finish; }
is "json: GET r16385" "$(get r16385)" 200
printf 'GET /a"b\\c\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | raw >/dev/null
timeout 5 python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(b"GET / HTTP/1.1\r\n\r\n"); s.recv(100)' "$PORT" 2>/dev/null
sleep 0.3
kill -TERM "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null
python3 - "$L/json.log" "$T/json.log" >"$T/json.check" 2>&1 <<'EOF'
import json, sys
acc = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
diag = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
print("access", len(acc))
want = {"time", "peer", "method", "path", "status", "bytes", "seconds", "mbps", "tls", "cipher", "tx", "rx", "worker"}
print("fields", all(set(a) == want for a in acc))
print("first", acc[0]["method"], acc[0]["path"], acc[0]["status"], acc[0]["bytes"], acc[0]["tls"])
print("odd", ascii([a["path"] for a in acc if a["status"] == 404]))
print("diag", all(set(d) == {"time", "level", "prog", "msg"} for d in diag))
print("levels", sorted({d["level"] for d in diag}))
print("pin", any(d["msg"].startswith("certificate sha256:") for d in diag))
print("failed", any("TLS handshake failed" in d["msg"] for d in diag))
EOF
cat "$T/json.check" | sed 's/^/# /'
is "json: every access line parses, 2 requests" "$(grep '^access' "$T/json.check")" "access 2"
is "json: access objects have exactly the documented fields" "$(grep '^fields' "$T/json.check")" "fields True"
is "json: the GET's values" "$(grep '^first' "$T/json.check")" "first GET /r16385 200 16385 TLSv1.3"
is "json: a path with a quote, a backslash and a byte that is not UTF-8" \
    "$(grep '^odd' "$T/json.check")" "odd ['/a\"b\\\\c\\ufffd']"
is "json: every stderr line is a JSON object with time, level, prog, msg" "$(grep '^diag' "$T/json.check")" "diag True"
is "json: levels seen" "$(grep '^levels' "$T/json.check")" "levels ['debug', 'info']"
is "json: the banner's pin is there" "$(grep '^pin' "$T/json.check")" "pin True"
is "json: --verbose's failed handshake is there" "$(grep '^failed' "$T/json.check")" "failed True"

# --- --quiet -----------------------------------------------------------------------------------
start_serve quiet --root "$R" --quiet || { notok "serve --quiet starts"; finish; }
is "quiet: GET" "$(get r16385)" 200
sleep 0.2
check "quiet: the banner and the pin are still printed" grep -q "certificate sha256:" "$T/quiet.log"
check "quiet: the listening line too" grep -q "listening on https://127.0.0.1:$PORT/" "$T/quiet.log"
check "quiet: no access line" sh -c "! grep -q 'GET /r16385' '$T/quiet.log'"
stop_serve
start_serve quietfile --root "$R" --quiet --access-log "$L/quiet.log" || { notok "serve --quiet --access-log starts"; finish; }
is "quiet with --access-log: GET" "$(get r16385)" 200
sleep 0.2
check "quiet with --access-log: the file is not even created" test ! -e "$L/quiet.log"
stop_serve

# --- bad options ----------------------------------------------------------------------------
kx serve --root "$R" --log-format yaml --state-dir "$T/state" 2>"$T/bad.err"
is "--log-format yaml: exit 2" "$?" 2
check "--log-format yaml: says which value is wrong" grep -q "bad value 'yaml' for --log-format" "$T/bad.err"
kx serve --root "$R" --access-log "$T/no/such/dir/a.log" --state-dir "$T/state" 2>"$T/bad2.err"
is "--access-log in a missing directory: exit 1" "$?" 1
check "... names the file and the reason" grep -q "cannot open --access-log $T/no/such/dir/a.log: No such file or directory" "$T/bad2.err"
finish
