#!/usr/bin/env bash
# kxfer serve --plain (plaintext HTTP, the ceiling kxfer bench measures): curl, wget and
# kxfer get/put over http:// move the right bytes, ranges and errors work, the access log
# and the client summary say tx/rx=plain; --plain refuses TLS options; an https:// client
# against it fails cleanly, and so does http:// against a TLS server.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

make_tree "$T/src"
mkdir -p "$T/src/up"
start_serve plain --root "$T/src" --allow-upload --plain || { notok "kxfer serve --plain starts"; finish; }
H="http://127.0.0.1:$PORT"
check "serve --plain: says it listens on http://" grep -q "listening on $H/" "$T/plain.log"
check "serve --plain: says there is no TLS" grep -q 'plaintext HTTP, no TLS' "$T/plain.log"

# curl and wget over http://
for f in empty one r16384 r1m r64m; do
    curl -s --max-time 30 -o "$T/c.$f" "$H/$f"
    check "curl http:// $f: identical" same_file "$T/src/$f" "$T/c.$f"
done
wget -q -O "$T/w.r1m" "$H/r1m"
check "wget http:// r1m: identical" same_file "$T/src/r1m" "$T/w.r1m"
is "curl http:// Range bytes=10-19: 206" "$(curl -s -o "$T/range" -w '%{http_code}' -r 10-19 "$H/r1m")" 206
check "curl http:// Range: the right 10 bytes" cmp -s "$T/range" <(tail -c +11 "$T/src/r1m" | head -c 10)
is "curl http:// missing file: 404" "$(curl -s -o /dev/null -w '%{http_code}' "$H/nope")" 404
is "curl http:// traversal: 400 or 403 or 404" \
    "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$H/../../etc/passwd" | sed 's/^40[034]$/4xx/')" 4xx

# kxfer get / put over http://
"$KXFER" get "$H/r64m" -o "$T/g.r64m" --json >"$T/g.json" 2>"$T/g.err"
rc=$?
check "kxfer get http:// r64m: exit 0, identical" bash -c "[ $rc = 0 ] && cmp -s '$T/src/r64m' '$T/g.r64m'"
check "kxfer get http:// --json: tx_path and rx_path plain, no TLS version" \
    grep -q '"tls_version":"","cipher":"","tx_path":"plain","rx_path":"plain"' "$T/g.json"
"$KXFER" get "$H/r1m" -o "$T/g2" 2>"$T/g2.err"
check "kxfer get http:// summary: plaintext, rx=plain" grep -q 'plaintext, no TLS, rx=plain tx=plain' "$T/g2.err"
"$KXFER" put "$T/src/r64m" "$H/up/" --quiet
rc=$?
check "kxfer put http:// r64m: exit 0, identical on the server" bash -c "[ $rc = 0 ] && cmp -s '$T/src/r64m' '$T/src/up/r64m'"
check "access log: GET with - - tx=plain rx=plain" grep -q 'GET /r64m 200 67108864 .* - - tx=plain rx=plain' "$T/plain.log"
check "access log: PUT with tx=plain rx=plain" grep -q 'PUT /up/r64m 201 .* tx=plain rx=plain' "$T/plain.log"
head -c 1000 /dev/urandom >"$T/part"
"$KXFER" get "$H/r1m" -o "$T/cont" --quiet
head -c 4096 "$T/src/r1m" >"$T/cont2"
"$KXFER" get --continue "$H/r1m" -o "$T/cont2" --quiet
check "kxfer get --continue over http://: identical" same_file "$T/src/r1m" "$T/cont2"

# the wrong scheme on either side: a clean failure, not a hang
timeout 20 "$KXFER" get "https://127.0.0.1:$PORT/one" -k -o "$T/x1" --timeout 5 2>"$T/x1.err"
rc=$?
check "kxfer get https:// against --plain: TLS failure (exit 5), no file" \
    bash -c "[ $rc = 5 ] && [ ! -e '$T/x1' ]"
stop_serve
start_serve tls --root "$T/src" || { notok "kxfer serve (TLS) starts"; finish; }
timeout 20 "$KXFER" get "http://127.0.0.1:$PORT/one" -o "$T/x2" --timeout 5 2>"$T/x2.err"
rc=$?
check "kxfer get http:// against a TLS server: fails (exit $rc), no file" \
    bash -c "[ $rc != 0 ] && [ $rc != 124 ] && [ ! -e '$T/x2' ]"
stop_serve

# --plain refuses TLS options (exit 2, says why)
echo secret >"$T/token"
for opt in "--cert $T/x --key $T/y" "--client-ca $T/x" "--tls12" "--ktls on" \
           "--ciphers TLS_AES_128_GCM_SHA256" "--token-file $T/token"; do
    # shellcheck disable=SC2086
    timeout 10 "$KXFER" serve --plain --listen 127.0.0.1:0 --root "$T/src" $opt >/dev/null 2>"$T/r.err"
    rc=$?
    check "serve --plain $opt: exit 2, says --plain takes no TLS options" \
        bash -c "[ $rc = 2 ] && grep -q -- '--plain serves without TLS' '$T/r.err'"
done
# http:// with options that ask for TLS protection: refused, never silently dropped
for opt in "--pin sha256:$(printf '0%.0s' $(seq 64))" "--ca $T/x" "-k" "--token secret" "--ktls on" \
           "--cert $T/x --key $T/y"; do
    # shellcheck disable=SC2086
    "$KXFER" get $opt http://127.0.0.1:1/one -o "$T/h1" >/dev/null 2>"$T/h.err"
    rc=$?
    check "kxfer get $opt http://: exit 2, says it needs https://, no file" \
        bash -c "[ $rc = 2 ] && grep -q 'has no TLS' '$T/h.err' && [ ! -e '$T/h1' ]"
done
"$KXFER" put --token secret "$T/src/one" http://127.0.0.1:1/up/ >/dev/null 2>"$T/h.err"
is "kxfer put --token http://: exit 2 (the token would cross in the clear)" "$?" 2
is "kxfer get ftp://: usage error (exit 2)" "$("$KXFER" get ftp://h/x -o "$T/z" 2>/dev/null; echo $?)" 2
finish
