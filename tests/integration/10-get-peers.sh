#!/usr/bin/env bash
# kxfer serve against standard clients (curl, wget, Python ssl, openssl s_client) and
# kxfer get (--pin, --ca, -k); certificate verification failures; TLS parameters.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

make_tree "$T/root"
FILES="empty one r16383 r16384 r16385 r1m r64m sub/hello.txt"
start_serve serve --root "$T/root" || { notok "kxfer serve starts"; finish; }
ok "kxfer serve starts"
PIN=$(pin_of "$CERT")

# --- startup output and generated certificate -----------------------------------------
check "stderr has 'kxfer serve: listening on $URL/'" grep -qF "kxfer serve: listening on $URL/" "$T/serve.log"
check "stderr has 'kxfer serve: certificate $PIN (...)'" grep -qF "kxfer serve: certificate $PIN (" "$T/serve.log"
check "generated cert.pem and key.pem exist" test -s "$T/state/cert.pem" -a -s "$T/state/key.pem"
is "generated key.pem has mode 0600" "$(stat -c %a "$T/state/key.pem")" 600
check "generated cert is ECDSA P-256" sh -c "openssl x509 -in '$CERT' -noout -text | grep -q 'prime256v1\|P-256'"
check "generated cert has SAN DNS:localhost, IP:127.0.0.1, IP:::1" sh -c \
    "openssl x509 -in '$CERT' -noout -ext subjectAltName | grep -q 'DNS:localhost' &&
     openssl x509 -in '$CERT' -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1' &&
     openssl x509 -in '$CERT' -noout -ext subjectAltName | grep -q 'IP Address:0:0:0:0:0:0:0:1'"

mkdir -p "$T/out"
# compare TOOL: every file fetched into $T/out/TOOL must equal the original.
compare() {
    local tool=$1 f bad=""
    for f in $FILES; do same_file "$T/root/$f" "$T/out/$tool/$f" || bad="$bad $f"; done
    if [ -z "$bad" ]; then ok "$tool: every file identical (sha256)"
    else notok "$tool: files differ or missing:$bad"; fi
}
prep() { mkdir -p "$T/out/$1/sub"; }

# --- curl ------------------------------------------------------------------------------
prep curl; rc=0
for f in $FILES; do
    curl -sS --fail --max-time 60 --cacert "$CERT" "$URL/$f" >"$T/out/curl/$f" || rc=$?
done
is "curl --cacert: every download exits 0" "$rc" 0
compare curl

# --- wget ------------------------------------------------------------------------------
if command -v wget >/dev/null; then
    prep wget; rc=0
    for f in $FILES; do
        timeout 60 wget -q --tries=1 --ca-certificate="$CERT" -O "$T/out/wget/$f" "$URL/$f" || rc=$?
    done
    is "wget --ca-certificate: every download exits 0" "$rc" 0
    compare wget
else
    skip "wget: not installed"
fi

# --- Python ssl / urllib ----------------------------------------------------------------
prep python
timeout 120 python3 - "$CERT" "$URL" "$T/out/python" $FILES <<'EOF'
import os, ssl, sys, urllib.request
ca, url, out, *files = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
for f in files:
    with urllib.request.urlopen(url + "/" + f, context=ctx, timeout=30) as r:
        data = r.read()
    with open(os.path.join(out, f), "wb") as o:
        o.write(data)
EOF
is "python urllib with ssl context(cafile=CERT): exits 0" "$?" 0
compare python

# TLS parameters seen by Python: TLS 1.3, ALPN http/1.1, one of the three suites.
tlsinfo=$(timeout 20 python3 - "$CERT" "$PORT" <<'EOF'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        print(s.version(), s.selected_alpn_protocol(), s.cipher()[0])
EOF
)
set -- $tlsinfo
is "python: negotiated TLSv1.3" "${1:-}" TLSv1.3
is "python: negotiated ALPN http/1.1" "${2:-}" http/1.1
is_in "python: negotiated one of the three TLS 1.3 suites" "${3:-}" \
    TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256

# --- openssl s_client: raw GET with Connection: close -----------------------------------
prep s_client; rc=0
for f in $FILES; do
    printf 'GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$f" |
        timeout 30 openssl s_client -quiet -connect "127.0.0.1:$PORT" -CAfile "$CERT" \
            -verify_return_error -verify_ip 127.0.0.1 -alpn http/1.1 \
            >"$T/out/s_client/$f.raw" 2>"$T/out/s_client.err" || rc=$?
    body_of "$T/out/s_client/$f.raw" >"$T/out/s_client/$f"
done
is "openssl s_client (verify_return_error): every request exits 0 (server closes)" "$rc" 0
is "openssl s_client: status line of r1m" "$(head -n 1 "$T/out/s_client/r1m.raw" | tr -d '\r')" "HTTP/1.1 200 OK"
compare s_client
check "openssl s_client -tls1_2 is refused (TLS 1.3 only)" \
    sh -c "! timeout 10 openssl s_client -connect 127.0.0.1:$PORT -tls1_2 </dev/null >/dev/null 2>&1"

# --- kxfer get --pin / --ca / -k ---------------------------------------------------------
for mode in pin ca k; do
    prep "kxfer-$mode"; rc=0
    case $mode in pin) opt=(--pin "$PIN") ;; ca) opt=(--ca "$CERT") ;; k) opt=(-k) ;; esac
    for f in $FILES; do
        kx get "$URL/$f" -o "$T/out/kxfer-$mode/$f" "${opt[@]}" --quiet || rc=$?
    done
    is "kxfer get ${opt[0]}: every download exits 0" "$rc" 0
    compare "kxfer-$mode"
done

# The summary line on stderr (without --quiet).
kx get "$URL/r1m" -o "$T/out/summary.bin" --ca "$CERT" 2>"$T/out/summary.err"
is "kxfer get without --quiet exits 0" "$?" 0
check "kxfer get summary line mentions TLSv1.3 and rx=userspace tx=userspace" \
    sh -c "grep -q 'TLSv1.3' '$T/out/summary.err' && grep -q 'rx=userspace' '$T/out/summary.err' && grep -q 'tx=userspace' '$T/out/summary.err'"

# By host name: the certificate has DNS:localhost (localhost may resolve to ::1 first; the
# client must fall back to 127.0.0.1).
kx get "https://localhost:$PORT/r16385" -o "$T/out/localhost.bin" --ca "$CERT" --quiet
is "kxfer get https://localhost:PORT --ca CERT exits 0" "$?" 0
check "kxfer get https://localhost:PORT: file identical" same_file "$T/root/r16385" "$T/out/localhost.bin"

# --- verification failures ---------------------------------------------------------------
kx get "$URL/one" -o "$T/out/noca" --quiet 2>"$T/out/noca.err"
is "kxfer get without --ca/--pin/-k (unknown CA) exits 5" "$?" 5
check "kxfer get with unknown CA leaves no output file" [ ! -e "$T/out/noca" ]

kx get "$URL/one" -o "$T/out/badpin" --pin "sha256:$(printf '0%.0s' $(seq 64))" --quiet 2>/dev/null
is "kxfer get with a wrong pin exits 5" "$?" 5
check "kxfer get with a wrong pin leaves no output file" [ ! -e "$T/out/badpin" ]

# A certificate whose SAN does not match the host: --ca must fail (hostname check),
# --pin must succeed (the pin replaces chain and hostname verification).
newcert "$T" other "DNS:other.example" other.example
SAVE=("$PORT" "$URL" "$CERT" "$SERVE_PID")
start_serve other --root "$T/root" --cert "$T/other.pem" --key "$T/other.key" || notok "serve --cert/--key starts"
OCERT=$T/other.pem
kx get "$URL/one" -o "$T/out/mismatch" --ca "$OCERT" --quiet 2>/dev/null
is "kxfer get --ca with a cert for another host name exits 5" "$?" 5
check "curl also rejects it (sanity of the test)" \
    sh -c "! curl -s --max-time 10 --cacert '$OCERT' '$URL/one' >/dev/null"
kx get "$URL/one" -o "$T/out/pinned-other" --pin "$(pin_of "$OCERT")" --quiet
is "kxfer get --pin of a cert for another host name exits 0" "$?" 0
check "kxfer get --pin (other host name): file identical" same_file "$T/root/one" "$T/out/pinned-other"
stop_serve

# --ciphers: only ChaCha20 offered by the server.
start_serve chacha --root "$T/root" --ciphers TLS_CHACHA20_POLY1305_SHA256 || notok "serve --ciphers starts"
suite=$(timeout 20 python3 - "$CERT" "$PORT" <<'EOF'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        print(s.cipher()[0])
EOF
)
is "serve --ciphers TLS_CHACHA20_POLY1305_SHA256: negotiated suite" "$suite" TLS_CHACHA20_POLY1305_SHA256
kx get "$URL/r1m" -o "$T/out/chacha.bin" --ca "$CERT" --quiet
check "kxfer get through ChaCha20-Poly1305: file identical" same_file "$T/root/r1m" "$T/out/chacha.bin"
stop_serve

# --tls12: TLS 1.2 clients accepted.
start_serve tls12 --root "$T/root" --tls12 || notok "serve --tls12 starts"
out=$(curl -sS --max-time 20 --cacert "$CERT" --tls-max 1.2 -w ' %{http_code}' "$URL/one" 2>&1)
is "serve --tls12: curl --tls-max 1.2 gets the file" "$out" "x 200"
# TLS 1.2 keys are not the record layer's to see: OpenSSL's own path carries those bodies.
curl -sS --max-time 30 --cacert "$CERT" --tls-max 1.2 -o "$T/out/tls12.bin" "$URL/r64m"
check "serve --tls12: a 64 MiB body over TLS 1.2 (OpenSSL's record layer) is identical" \
    same_file "$T/root/r64m" "$T/out/tls12.bin"
curl -sS --max-time 30 --cacert "$CERT" -o "$T/out/tls13.bin" "$URL/r64m"
check "serve --tls12: the same body over TLS 1.3 (kxfer's record layer) is identical" \
    same_file "$T/root/r64m" "$T/out/tls13.bin"
sleep 0.2
check "serve --tls12: the access log names both versions, userspace" \
    grep -q "TLSv1.2 .*tx=userspace" "$T/tls12.log"
stop_serve

# The first server is still fine, and certificate reuse: the state dir cert did not change.
PORT=${SAVE[0]} URL=${SAVE[1]} CERT=${SAVE[2]} SERVE_PID=${SAVE[3]}
is "state-dir certificate reused by later servers (same pin)" "$(pin_of "$CERT")" "$PIN"
is "first server still serves after the others" "$(st "$URL/one")" 200
finish
