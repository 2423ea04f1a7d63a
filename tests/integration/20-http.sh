#!/usr/bin/env bash
# HTTP/1.1 behaviour of kxfer serve: HEAD, ranges, keep-alive, Connection: close,
# directory listings, error statuses (400 404 405 431 505), plaintext on the TLS port,
# the access log.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

make_tree "$T/root"
R=$T/root
start_serve serve --root "$R" || { notok "kxfer serve starts"; finish; }

# --- HEAD --------------------------------------------------------------------------------
is "HEAD /r16384: status 200" "$(req head -I "$URL/r16384")" 200
is "HEAD: Content-Length is the file size" "$(hdr "$T/head.h" Content-Length)" 16384
etag=$(hdr "$T/head.h" ETag)
if [[ $etag =~ ^\"[^\"]+\"$ ]]; then ok "HEAD: strong ETag ($etag)"; else notok "HEAD: strong ETag (got '$etag')"; fi
lm=$(hdr "$T/head.h" Last-Modified)
is "HEAD: Last-Modified is the file mtime" "$(date -d "$lm" +%s 2>/dev/null)" "$(stat -c %Y "$R/r16384")"
is "HEAD: Accept-Ranges: bytes" "$(hdr "$T/head.h" Accept-Ranges)" bytes
is "GET /r16384: status 200" "$(req get "$URL/r16384")" 200
is "GET: same ETag as HEAD" "$(hdr "$T/get.h" ETag)" "$etag"
is "GET: Content-Length" "$(hdr "$T/get.h" Content-Length)" 16384
check "GET: body identical" same_file "$R/r16384" "$T/get.b"
printf 'HEAD /r16384 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' | raw --ca "$CERT" >"$T/rawhead"
is "raw HEAD with Connection: close: server closes" "$?" 0
is "raw HEAD: status 200" "$(status_line "$T/rawhead")" 200
is "raw HEAD: no body bytes after the header" "$(body_of "$T/rawhead" | wc -c)" 0
is "HEAD /empty: status 200" "$(req hempty -I "$URL/empty")" 200
is "HEAD /empty: Content-Length: 0" "$(hdr "$T/hempty.h" Content-Length)" 0
is "GET /empty: 200 with empty body" "$(req gempty "$URL/empty")/$(wc -c <"$T/gempty.b")" "200/0"

# --- Ranges ------------------------------------------------------------------------------
# slice FILE START LEN: the expected bytes.
slice() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; }
# range NAME FILE RANGE STATUS CONTENT-RANGE START LEN
range() {
    local n=$1 f=$2 r=$3 want=$4 cr=$5 s=$6 l=$7 got
    got=$(req "$n" -H "Range: bytes=$r" "$URL/$f")
    is "Range bytes=$r on $f: status $want" "$got" "$want"
    is "Range bytes=$r on $f: Content-Range" "$(hdr "$T/$n.h" Content-Range)" "$cr"
    if [ "$want" = 206 ]; then
        slice "$R/$f" "$s" "$l" >"$T/$n.want"
        is "Range bytes=$r on $f: Content-Length $l" "$(hdr "$T/$n.h" Content-Length)" "$l"
        check "Range bytes=$r on $f: body is the slice" same_file "$T/$n.want" "$T/$n.b"
    fi
}
range r1 r16384 0-0     206 "bytes 0-0/16384"         0     1
range r2 r16384 10-19   206 "bytes 10-19/16384"       10    10
range r3 r16384 100-    206 "bytes 100-16383/16384"   100   16284
range r4 r16384 -5      206 "bytes 16379-16383/16384" 16379 5
range r5 r16384 16000-99999 206 "bytes 16000-16383/16384" 16000 384
range r6 r64m 33554432-34603007 206 "bytes 33554432-34603007/67108864" 33554432 1048576
range r7 r16384 16384-  416 "bytes */16384" 0 0
range r8 r16384 20000-30000 416 "bytes */16384" 0 0
range r9 empty  0-0     416 "bytes */0" 0 0
# Numbers past 2^64 - 1: 416, as nginx answers, not the whole file.
range r10 r16384 99999999999999999999999- 416 "bytes */16384" 0 0
is "Range bytes=0-0,5-9 (several ranges): status 200" "$(req multi -H 'Range: bytes=0-0,5-9' "$URL/r16384")" 200
check "several ranges: full body" same_file "$R/r16384" "$T/multi.b"
is "several ranges: no Content-Range" "$(hdr "$T/multi.h" Content-Range)" ""

# --- Keep-alive and Connection: close ----------------------------------------------------
nc=$(curl -s --max-time 20 --cacert "$CERT" -o /dev/null -o /dev/null -o /dev/null \
     -w '%{num_connects} ' "$URL/one" "$URL/r16385" "$URL/r1m")
is "keep-alive: curl fetching 3 URLs opens 1 connection (num_connects per transfer)" "$nc" "1 0 0 "
curl -sv --max-time 20 --cacert "$CERT" -o /dev/null -o /dev/null "$URL/one" "$URL/sub/" 2>"$T/ka.err"
check "keep-alive: curl -v says 'Re-using existing connection'" grep -qi "Re-using existing connection" "$T/ka.err"
nc=$(curl -s --max-time 20 --cacert "$CERT" -H 'Connection: close' -o /dev/null -o /dev/null \
     -w '%{num_connects} ' "$URL/one" "$URL/r16385")
is "Connection: close: curl needs a new connection for the 2nd URL" "$nc" "1 1 "
printf 'GET /one HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' | raw --ca "$CERT" >"$T/close"
is "raw GET with Connection: close: server closes the connection" "$?" 0
is "raw GET with Connection: close: body" "$(status_line "$T/close") $(body_of "$T/close")" "200 x"
printf 'GET /one HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' | raw --ca "$CERT" >"$T/http10"
is "HTTP/1.0 request: server answers and closes" "$?/$(body_of "$T/http10")" "0/x"
printf 'GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /sub/hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' |
    raw --ca "$CERT" >"$T/pipe"
is "pipelined requests: server answers both then closes" "$?" 0
is "pipelined requests: two 200 responses in order" \
    "$(grep -ao 'HTTP/1.1 200 ' "$T/pipe" | wc -l)/$(tail -n 1 "$T/pipe")" "2/hello from sub"

# --- Directory listings ------------------------------------------------------------------
is "GET /: status 200" "$(req root "$URL/")" 200
check "GET /: Content-Type text/plain" sh -c "grep -qi '^content-type: *text/plain' '$T/root.h'"
printf 'empty\none\nr16383\nr16384\nr16385\nr1m\nr64m\nsub/\n' >"$T/root.want"
is "GET /: sorted names, one per line, '/' after subdirectories" \
    "$(sed -e '$a\' "$T/root.b")" "$(cat "$T/root.want")"
is "GET /sub/: status 200" "$(req subl "$URL/sub/")" 200
is "GET /sub/: listing" "$(sed -e '$a\' "$T/subl.b")" "hello.txt"
is "GET /sub/hello.txt" "$(curl -s --max-time 10 --cacert "$CERT" "$URL/sub/hello.txt")" "hello from sub"

# --- Errors ------------------------------------------------------------------------------
is "GET /nope: 404" "$(req nf "$URL/nope")" 404
check "404: short text/plain body saying why" sh -c "[ -s '$T/nf.b' ] && grep -qi '^content-type: *text/plain' '$T/nf.h'"
is "GET /sub/nope/deeper: 404" "$(st "$URL/sub/nope/deeper")" 404
is "DELETE /one: 405" "$(req del -X DELETE "$URL/one")" 405
is "405: Allow: GET, HEAD (no --allow-upload)" "$(hdr "$T/del.h" Allow)" "GET, HEAD"
is "POST /one: 405" "$(st -X POST --data x "$URL/one")" 405
is "PUT /new without --allow-upload: 405" "$(st -T "$R/one" "$URL/new")" 405
check "PUT without --allow-upload created nothing" test ! -e "$R/new"

resp=$(printf 'GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n' |
       timeout 8 openssl s_client -quiet -connect "127.0.0.1:$PORT" 2>/dev/null | head -n 1 | tr -d '\r')
is "GET / HTTP/2.0 via openssl s_client: 505" "$(echo "$resp" | cut -d' ' -f1-2)" "HTTP/1.1 505"
printf 'GET / HTTP/3.1\r\nHost: 127.0.0.1\r\n\r\n' | raw --timeout 3 >"$T/v3"
is "GET / HTTP/3.1: 505" "$(status_line "$T/v3")" 505
printf 'GARBAGE\r\n\r\n' | raw --timeout 3 >"$T/bad1"
is "malformed request line 'GARBAGE': 400" "$(status_line "$T/bad1")" 400
printf 'GET one HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' | raw --timeout 3 >"$T/bad2"
is "request target without leading '/': 400" "$(status_line "$T/bad2")" 400
printf 'GET /one HTTP/1.1\r\nNoColonHere\r\n\r\n' | raw --timeout 3 >"$T/bad3"
is "header line without ':': 400" "$(status_line "$T/bad3")" 400

big=$(head -c 20480 /dev/zero | tr '\0' a)
is "20 KiB request header: 431" "$(st -H "X-Big: $big" "$URL/one")" 431
mid=$(head -c 15000 /dev/zero | tr '\0' b)
is "15000-byte request header (head < 16 KiB): 200" "$(st -H "X-Mid: $mid" "$URL/one")" 200
check "server alive after 4xx/5xx" alive

# --- Plaintext HTTP to the TLS port ------------------------------------------------------
out=$(curl -s --max-time 5 -o "$T/plainhttp.b" -w '%{http_code}' "http://127.0.0.1:$PORT/one")
is "plaintext curl http:// to the TLS port: a plaintext 400, as nginx answers" "$out" 400
is "... whose body says to use https://" "$(cat "$T/plainhttp.b")" "this port speaks HTTPS: use an https:// URL"
start=$(date +%s)
timeout 8 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf 'GET /one HTTP/1.1\r\nHost: x\r\n\r\n' >&3; cat <&3 >/dev/null" 2>/dev/null
rc=$?   # 124: still open after 8 s; 0: FIN; 1: reset -- both mean closed
if [ "$rc" != 124 ]; then
    ok "plaintext request: server closes the connection ($(( $(date +%s) - start ))s, cat rc $rc)"
else
    notok "plaintext request: server closes the connection (still open after 8s)"
fi
check "server alive after plaintext requests" alive
is "curl https works after plaintext requests" "$(st "$URL/one")" 200

# --- Access log --------------------------------------------------------------------------
curl -s --max-time 10 --cacert "$CERT" -o /dev/null "$URL/r16385"
for _ in $(seq 20); do grep -q 'GET /r16385 200 16385 ' "$T/serve.log" && break; sleep 0.1; done
line=$(grep 'GET /r16385 200 16385 ' "$T/serve.log" | tail -n 1)
if [[ $line =~ ^127\.0\.0\.1(:[0-9]+)?\ GET\ /r16385\ 200\ 16385\ [0-9.]+s\ [0-9.]+MB/s\ TLSv1\.3\ TLS_[A-Z0-9_]+\ tx=userspace\ rx=userspace$ ]]; then
    ok "access log line format"
else
    notok "access log line format"; echo "#   got: '$line'"; grep -v '^kxfer serve:' "$T/serve.log" | tail -n 3 | sed 's/^/#   log: /'
fi
finish
