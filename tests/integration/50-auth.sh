#!/usr/bin/env bash
# Authentication: --token-file (Bearer tokens, 401 + WWW-Authenticate) and mutual TLS
# (--client-ca, client certificates made with the openssl CLI).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

make_tree "$T/root"
R=$T/root
TOKEN="tok-$$-$RANDOM-s3cret"
printf '  %s \n\n' "$TOKEN" >"$T/token"     # surrounding whitespace must be trimmed

# --- Bearer token ------------------------------------------------------------------------
start_serve token --root "$R" --token-file "$T/token" || { notok "kxfer serve --token-file starts"; finish; }
is "token: no Authorization header: 401" "$(req noauth "$URL/r16385")" 401
is "token: 401 has WWW-Authenticate: Bearer realm=\"kxfer\"" "$(hdr "$T/noauth.h" WWW-Authenticate)" 'Bearer realm="kxfer"'
check "token: 401 body does not contain the file" sh -c "! cmp -s '$R/r16385' '$T/noauth.b'"
is "token: wrong token: 401" "$(st -H "Authorization: Bearer wrong-$TOKEN" "$URL/r16385")" 401
is "token: token prefix only: 401" "$(st -H "Authorization: Bearer ${TOKEN%s3cret}" "$URL/r16385")" 401
is "token: right token but scheme Basic: 401" "$(st -H "Authorization: Basic $TOKEN" "$URL/r16385")" 401
is "token: HEAD without header: 401" "$(st -I "$URL/r16385")" 401
is "token: right token via curl -H 'Authorization: Bearer ...': 200" \
    "$(req auth -H "Authorization: Bearer $TOKEN" "$URL/r16385")" 200
check "token: right token: body identical" same_file "$R/r16385" "$T/auth.b"
is "token: directory listing needs the token too" "$(st "$URL/")" 401
kx get "$URL/r1m" -o "$T/kget.bin" --ca "$CERT" --token "$TOKEN" --quiet
is "token: kxfer get --token (right): exit 0" "$?" 0
check "token: kxfer get --token: file identical" same_file "$R/r1m" "$T/kget.bin"
kx get "$URL/r1m" -o "$T/kget-wrong.bin" --ca "$CERT" --token "nope" --quiet 2>/dev/null
is "token: kxfer get --token (wrong): exit 6" "$?" 6
check "token: kxfer get wrong token leaves no file" test ! -e "$T/kget-wrong.bin"
kx get "$URL/r1m" -o "$T/kget-none.bin" --ca "$CERT" --quiet 2>/dev/null
is "token: kxfer get without --token: exit 6" "$?" 6
check "server alive" alive
stop_serve

# --- Mutual TLS ----------------------------------------------------------------------------
P=$T/pki; mkdir -p "$P"
mkca() { # NAME
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=kxfer test $1" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$P/$1.key" -out "$P/$1.pem" 2>/dev/null
}
mkclient() { # NAME CA
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
        -keyout "$P/$1.key" -out "$P/$1.csr" 2>/dev/null &&
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$P/$1.ext" &&
    openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.pem" -CAkey "$P/$2.key" -CAcreateserial \
        -days 2 -extfile "$P/$1.ext" -out "$P/$1.pem" 2>/dev/null
}
if mkca ca && mkclient client ca && mkca rogueca && mkclient rogue rogueca; then
    ok "openssl CLI: CA, client cert, rogue CA and rogue client cert created"
else
    notok "openssl CLI: CA and client certs created"; finish
fi
check "client cert verifies against the CA (sanity)" sh -c "openssl verify -CAfile '$P/ca.pem' -purpose sslclient '$P/client.pem' >/dev/null"

start_serve mtls --root "$R" --client-ca "$P/ca.pem" || { notok "kxfer serve --client-ca starts"; finish; }
is "mTLS: curl --cert/--key (client cert from the CA): 200" \
    "$(req mtls --cert "$P/client.pem" --key "$P/client.key" "$URL/r16385")" 200
check "mTLS: curl with client cert: body identical" same_file "$R/r16385" "$T/mtls.b"
out=$(curl -s --max-time 10 --cacert "$CERT" -o "$T/nocert.b" -w '%{http_code}' "$URL/r16385"; echo " rc=$?")
case $out in "200 "*) notok "mTLS: curl without client cert must fail (got $out)" ;;
             *) ok "mTLS: curl without client cert fails ($out)" ;; esac
check "mTLS: no file content without a client cert" sh -c "! cmp -s '$R/r16385' '$T/nocert.b'"
out=$(curl -s --max-time 10 --cacert "$CERT" --cert "$P/rogue.pem" --key "$P/rogue.key" \
      -o "$T/rogue.b" -w '%{http_code}' "$URL/r16385"; echo " rc=$?")
case $out in "200 "*) notok "mTLS: curl with a cert from another CA must fail (got $out)" ;;
             *) ok "mTLS: curl with a cert from another CA fails ($out)" ;; esac
kx get "$URL/r1m" -o "$T/mtls-k.bin" --ca "$CERT" --cert "$P/client.pem" --key "$P/client.key" --quiet
is "mTLS: kxfer get --cert --key: exit 0" "$?" 0
check "mTLS: kxfer get --cert --key: file identical" same_file "$R/r1m" "$T/mtls-k.bin"
kx get "$URL/r1m" -o "$T/mtls-none.bin" --ca "$CERT" --quiet 2>/dev/null
is "mTLS: kxfer get without client cert: exit 5 (TLS error)" "$?" 5
check "mTLS: kxfer get without client cert leaves no file" test ! -e "$T/mtls-none.bin"
kx get "$URL/r1m" -o "$T/mtls-rogue.bin" --ca "$CERT" --cert "$P/rogue.pem" --key "$P/rogue.key" --quiet 2>/dev/null
is "mTLS: kxfer get with a cert from another CA: exit 5" "$?" 5
kx get "$URL/r1m" -o "$T/mtls-mismatch.bin" --ca "$CERT" --cert "$P/client.pem" --key "$P/rogue.key" --quiet 2>/dev/null
rc=$?
case $rc in 0) notok "mTLS: kxfer get with a key not matching the cert must fail" ;;
            *) ok "mTLS: kxfer get with a key not matching the cert fails (exit $rc)" ;; esac
check "server alive after refused client certs" alive
is "mTLS: still serves good clients afterwards" \
    "$(st --cert "$P/client.pem" --key "$P/client.key" "$URL/one")" 200
stop_serve

# --- Both at once ----------------------------------------------------------------------------
start_serve both --root "$R" --client-ca "$P/ca.pem" --token-file "$T/token" || { notok "serve with --client-ca and --token-file starts"; finish; }
is "mTLS+token: client cert without token: 401" "$(st --cert "$P/client.pem" --key "$P/client.key" "$URL/one")" 401
kx get "$URL/one" -o "$T/both.bin" --ca "$CERT" --cert "$P/client.pem" --key "$P/client.key" --token "$TOKEN" --quiet
is "mTLS+token: kxfer get --cert --key --token: exit 0" "$?" 0
check "mTLS+token: file identical" same_file "$R/one" "$T/both.bin"
finish
