#!/usr/bin/env bash
# kxfer serve's TLS configuration as a scanner sees it (sslscan): TLS 1.3 only by default with
# the three suites; with --tls12, TLS 1.2 with ECDHE + AEAD suites only (Mozilla
# "intermediate", no CBC, no RSA key exchange, no DHE); never renegotiation or compression.
# What kxfer get offers for TLS 1.2.  0-RTT: early data offered by a client is rejected and
# never acted on (GET or PUT).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

mkdir -p "$T/root"
printf 'x' >"$T/root/one"
HELLO=$T/hello.py
SESSEARLY=$T/sess_early.py

# hello.py MODE PORT: raw TLS ClientHellos.
#   tls12 / tls13: a TLS 1.2 (or 1.3) ClientHello offering DEFLATE and null compression;
#                  prints "compression N" from the ServerHello, or "alert N" if refused.
#   capture: listen on PORT, print the cipher suites (hex) of the first ClientHello received.
cat >"$HELLO" <<'EOF'
import os, socket, struct, sys
mode, port = sys.argv[1], int(sys.argv[2])
def ext(t, d): return struct.pack(">HH", t, len(d)) + d
def vec(n, d): return len(d).to_bytes(n, "big") + d
def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return b
if mode == "capture":
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port)); ls.listen(1); ls.settimeout(20)
    while True:  # skip connections that send no record (port probes)
        c, _ = ls.accept(); c.settimeout(10)
        try:
            h = recv_exact(c, 5); rec = recv_exact(c, struct.unpack(">H", h[3:5])[0]); break
        except (EOFError, OSError):
            c.close()
    body = rec[4:]; i = 2 + 32; i += 1 + body[i]
    n = struct.unpack(">H", body[i:i + 2])[0]; suites = body[i + 2:i + 2 + n]
    print(" ".join("%04x" % struct.unpack(">H", suites[k:k + 2]) for k in range(0, n, 2)))
    c.close(); sys.exit(0)
suites = bytes.fromhex("c02bc02fc02cc030cca9cca8")
exts = ext(0x000a, vec(2, bytes.fromhex("001d0017"))) + ext(0x000b, vec(1, b"\x00")) + \
       ext(0x000d, vec(2, bytes.fromhex("040308040401")))
if mode == "tls13":
    suites = bytes.fromhex("130113021303")
    exts += ext(0x002b, vec(1, b"\x03\x04")) + \
            ext(0x0033, vec(2, b"\x00\x1d" + vec(2, os.urandom(32))))
ch = b"\x03\x03" + os.urandom(32) + vec(1, os.urandom(32)) + vec(2, suites) + \
     vec(1, b"\x01\x00") + vec(2, exts)
hs = b"\x01" + len(ch).to_bytes(3, "big") + ch
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs)
try:
    h = recv_exact(s, 5); rec = recv_exact(s, struct.unpack(">H", h[3:5])[0])
except (EOFError, OSError):
    print("closed"); sys.exit(0)
if h[0] == 0x15:
    print("alert %d" % rec[1])
elif h[0] == 0x16 and rec[0] == 0x02:
    b = rec[4:]; i = 2 + 32; i += 1 + b[i]; i += 2
    print("compression %d" % b[i])
else:
    print("unexpected record %d" % h[0])
EOF

# sess_early.py IN.pem OUT.pem N: a copy of an OpenSSL SSL_SESSION (PEM) whose client-side
# max_early_data is N, so that s_client -sess_in offers 0-RTT whatever the server's ticket
# allowed (field [15] of OpenSSL's SSL_SESSION_ASN1 sequence).
cat >"$SESSEARLY" <<'EOF'
import base64, re, sys
def tlv(d, i):
    t, l, j = d[i], d[i + 1], i + 2
    if l & 0x80:
        n = l & 0x7f; l = int.from_bytes(d[j:j + n], "big"); j += n
    return t, j, j + l
def enc_len(n):
    if n < 0x80: return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big"); return bytes([0x80 | len(b)]) + b
pem = open(sys.argv[1]).read()
der = base64.b64decode("".join(re.search(
    r"-----BEGIN SSL SESSION PARAMETERS-----(.*?)-----END", pem, re.S).group(1).split()))
_, s, e = tlv(der, 0)
fields, i = [], s
while i < e:
    ft, _, fe = tlv(der, i); fields.append((ft, der[i:fe])); i = fe
n = int(sys.argv[3]); v = n.to_bytes((n.bit_length() + 8) // 8, "big")
mine = bytes([0xaf]) + enc_len(len(v) + 2) + bytes([0x02, len(v)]) + v
out, done = [], False
for ft, raw in fields:
    if ft == 0xaf: continue
    if not done and ft & 0xe0 == 0xa0 and (ft & 0x1f) > 15: out.append(mine); done = True
    out.append(raw)
if not done: out.append(mine)
body = b"".join(out); der = bytes([0x30]) + enc_len(len(body)) + body
b = base64.b64encode(der).decode()
open(sys.argv[2], "w").write("-----BEGIN SSL SESSION PARAMETERS-----\n" +
    "\n".join(b[k:k + 64] for k in range(0, len(b), 64)) + "\n-----END SSL SESSION PARAMETERS-----\n")
EOF

AEAD12="ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-RSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384
ECDHE-RSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305 ECDHE-RSA-CHACHA20-POLY1305"
SUITES13="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256"

# scan NAME: sslscan $PORT into $T/NAME.txt (text) and $T/NAME.xml.
scan() {
    timeout 60 sslscan --no-colour "127.0.0.1:$PORT" >"$T/$1.txt" 2>&1
    timeout 60 sslscan --no-colour --xml=- "127.0.0.1:$PORT" >"$T/$1.xml" 2>/dev/null
}
# proto NAME VERSION: "1" if the scan found VERSION (ssl:2, tls:1.2, ...) enabled.
proto() {
    local type=${2%%:*} ver=${2#*:}
    grep -o "<protocol type=\"$type\" version=\"$ver\" enabled=\"[01]\"" "$T/$1.xml" |
        sed 's/.*enabled="\(.\)"/\1/'
}
# ciphers NAME VERSION: the accepted suites (sorted, one line) of one TLS version.
ciphers() {
    grep "<cipher .*sslversion=\"$2\"" "$T/$1.xml" | sed 's/.* cipher="\([^"]*\)".*/\1/' |
        sort | tr '\n' ' ' | sed 's/ $//'
}
sorted() { printf '%s\n' $* | sort | tr '\n' ' ' | sed 's/ $//'; }
# common_checks NAME: renegotiation, compression, heartbleed, fallback.
common_checks() {
    local n=$1
    check "$n: sslscan reports 'Session renegotiation not supported'" \
        grep -q "Session renegotiation not supported" "$T/$n.txt"
    check "$n: sslscan XML <renegotiation supported=\"0\">" \
        grep -q '<renegotiation supported="0"' "$T/$n.xml"
    check "$n: sslscan does not report compression enabled" \
        sh -c "! grep -qi 'Compression enabled' '$T/$n.txt' && ! grep -q '<compression supported=\"1\"' '$T/$n.xml'"
    check "$n: not vulnerable to heartbleed (every version)" \
        sh -c "grep -q 'not vulnerable to heartbleed' '$T/$n.txt' && ! grep -q 'vulnerable=\"1\"' '$T/$n.xml'"
    if grep -q "TLS Fallback SCSV" "$T/$n.txt"; then
        check "$n: sslscan: 'Server supports TLS Fallback SCSV' (or nothing to fall back to)" \
            grep -q "Server supports TLS Fallback SCSV\|Server only supports" "$T/$n.txt"
    fi
}
# weak NAME: accepted TLS 1.2 suites that are not ECDHE + AEAD (CBC/SHA MAC, RSA or DHE kx).
weak() {
    local c bad=""
    for c in $(ciphers "$1" TLSv1.2); do
        case " $(echo $AEAD12) " in *" $c "*) ;; *) bad="$bad $c" ;; esac
    done
    echo "${bad# }"
}

if ! command -v sslscan >/dev/null; then
    skip "sslscan checks: sslscan not installed (apt-get install sslscan)"
else
    # --- default: TLS 1.3 only ------------------------------------------------------------
    start_serve default --root "$T/root" || { notok "kxfer serve starts"; finish; }
    scan default
    if ! grep -q "<ssltest" "$T/default.xml"; then
        notok "default: sslscan --xml produced a report"; sed 's/^/#   /' "$T/default.txt" | head -20
    else
        for p in ssl:2 ssl:3 tls:1.0 tls:1.1 tls:1.2; do
            is "default: ${p/:/ } disabled" "$(proto default $p)" 0
        done
        is "default: tls 1.3 enabled" "$(proto default tls:1.3)" 1
        check "default: text report says 'TLSv1.2   disabled' and 'TLSv1.3   enabled'" \
            sh -c "grep -q '^TLSv1.2 *disabled' '$T/default.txt' && grep -q '^TLSv1.3 *enabled' '$T/default.txt'"
        is "default: exactly the three TLS 1.3 suites" "$(ciphers default TLSv1.3)" "$(sorted $SUITES13)"
        is "default: no TLS 1.2 (or older) suite accepted" \
            "$(grep '<cipher ' "$T/default.xml" | grep -vc 'sslversion="TLSv1.3"')" 0
        common_checks default
    fi
    stop_serve

    # --- --tls12 (ECDSA certificate): ECDHE-ECDSA with AEAD only --------------------------
    start_serve tls12 --root "$T/root" --tls12 || notok "kxfer serve --tls12 starts"
    scan tls12
    is "--tls12: tls 1.2 enabled" "$(proto tls12 tls:1.2)" 1
    is "--tls12: tls 1.3 enabled" "$(proto tls12 tls:1.3)" 1
    for p in ssl:2 ssl:3 tls:1.0 tls:1.1; do
        is "--tls12: ${p/:/ } disabled" "$(proto tls12 $p)" 0
    done
    is "--tls12: the three TLS 1.3 suites" "$(ciphers tls12 TLSv1.3)" "$(sorted $SUITES13)"
    is "--tls12 (ECDSA cert): TLS 1.2 suites are exactly ECDHE-ECDSA + AES-GCM/ChaCha20" \
        "$(ciphers tls12 TLSv1.2)" \
        "$(sorted ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305)"
    is "--tls12: no CBC / SHA-MAC / RSA / DHE suite accepted" "$(weak tls12)" ""
    common_checks tls12
    out=$(timeout 10 python3 "$HELLO" tls12 "$PORT")
    is "--tls12: a TLS 1.2 ClientHello offering DEFLATE gets null compression" "$out" "compression 0"
    stop_serve

    # --- --tls12 with an RSA certificate: ECDHE-RSA with AEAD, no RSA key exchange --------
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$T/rsa.key" -out "$T/rsa.pem" 2>/dev/null
    start_serve rsa --root "$T/root" --tls12 --cert "$T/rsa.pem" --key "$T/rsa.key" ||
        notok "kxfer serve --tls12 with an RSA certificate starts"
    scan rsa
    is "--tls12 (RSA cert): TLS 1.2 suites are exactly ECDHE-RSA + AES-GCM/ChaCha20" \
        "$(ciphers rsa TLSv1.2)" \
        "$(sorted ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305)"
    is "--tls12 (RSA cert): no CBC / SHA-MAC / RSA / DHE suite accepted" "$(weak rsa)" ""
    common_checks rsa
    stop_serve
fi

# --- compression, without sslscan: a ClientHello offering DEFLATE ------------------------
start_serve plain13 --root "$T/root" || notok "kxfer serve starts"
out=$(timeout 10 python3 "$HELLO" tls13 "$PORT")
is_in "default: a TLS 1.3 ClientHello offering DEFLATE is refused (illegal_parameter) or gets null" \
    "$out" "alert 47" "compression 0"
stop_serve

# --- what kxfer get offers for TLS 1.2 ---------------------------------------------------
CPORT=$(free_port)
timeout 25 python3 "$HELLO" capture "$CPORT" >"$T/capture.out" 2>&1 &
CAPPID=$!; PIDS+=("$CAPPID")
n=0; until (exec 3<>/dev/tcp/127.0.0.1/"$CPORT") 2>/dev/null || [ $n -ge 100 ]; do sleep 0.05; n=$((n + 1)); done
kx get "https://127.0.0.1:$CPORT/one" -o "$T/cap.out" -k --quiet --timeout 5 >/dev/null 2>&1
wait "$CAPPID" 2>/dev/null
offered=$(cat "$T/capture.out")
bad=""
for s in $offered; do
    case $s in 1301|1302|1303|c02b|c02f|c02c|c030|cca9|cca8|00ff) ;; *) bad="$bad $s" ;; esac
done
check "kxfer get sends a ClientHello with the TLS 1.3 suites ($offered)" sh -c "echo '$offered' | grep -q '1301'"
is "kxfer get offers no TLS 1.2 suite outside ECDHE + AEAD (hex ids)" "${bad# }" ""

# --- 0-RTT: early data is never accepted ---------------------------------------------------
start_serve early --root "$T/root" --allow-upload || notok "kxfer serve --allow-upload starts"
printf 'GET /one HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' |
    timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -sess_out "$T/sess.pem" -ign_eof \
        >"$T/s1.out" 2>&1
check "0-RTT: first connection gets a session ticket (s_client -sess_out)" test -s "$T/sess.pem"
is "0-RTT: the ticket allows no early data ('Max Early Data: 0')" \
    "$(openssl sess_id -in "$T/sess.pem" -noout -text 2>/dev/null | grep -o 'Max Early Data: [0-9]*')" \
    "Max Early Data: 0"
printf 'GET /early-get HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >"$T/early-get.txt"
timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -sess_in "$T/sess.pem" \
    -early_data "$T/early-get.txt" </dev/null >"$T/s2.out" 2>&1
check "0-RTT: s_client with that ticket resumes ('Reused, TLSv1.3')" grep -q "^Reused, TLSv1.3" "$T/s2.out"
check "0-RTT: s_client with that ticket sends none ('Early data was not sent')" \
    grep -q "Early data was not sent" "$T/s2.out"

# A client that offers early data anyway (its session copy says 16384 bytes).
python3 "$SESSEARLY" "$T/sess.pem" "$T/sess-early.pem" 16384
check "0-RTT: forged client session allows early data" \
    sh -c "openssl sess_id -in '$T/sess-early.pem' -noout -text | grep -q 'Max Early Data: 16384'"
printf 'GET /after-handshake HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' |
    timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -sess_in "$T/sess-early.pem" \
        -early_data "$T/early-get.txt" -ign_eof >"$T/s3.out" 2>&1
check "0-RTT GET: resumed ('Reused, TLSv1.3')" grep -q "^Reused, TLSv1.3" "$T/s3.out"
check "0-RTT GET: s_client reports 'Early data was rejected'" grep -q "^Early data was rejected" "$T/s3.out"
check "0-RTT GET: the request sent after the handshake is answered (404)" \
    grep -q "^HTTP/1.1 404" "$T/s3.out"
printf 'PUT /early.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello' \
    >"$T/early-put.txt"
timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -sess_in "$T/sess-early.pem" \
    -early_data "$T/early-put.txt" </dev/null >"$T/s4.out" 2>&1
check "0-RTT PUT: s_client reports 'Early data was rejected'" grep -q "^Early data was rejected" "$T/s4.out"
sleep 0.3
check "0-RTT PUT (--allow-upload): no file created" test ! -e "$T/root/early.bin"
check "0-RTT: the access log has no early request (GET /early-get, PUT /early.bin)" \
    sh -c "! grep -q 'early-get\|early.bin' '$T/early.log'"
check "0-RTT: the access log has the post-handshake request" grep -q "GET /after-handshake 404" "$T/early.log"
check "0-RTT: server still serves" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert '$CERT' '$URL/one')\" = 200 ]"
stop_serve
finish
