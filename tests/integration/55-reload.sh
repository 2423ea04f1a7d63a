#!/usr/bin/env bash
# SIGHUP: kxfer serve reads --cert/--key, --client-ca and --token-file again.  New connections
# get the new set, connections in flight finish on the old one, and a set that does not load
# (a broken certificate, a key of another certificate, an empty token file, a missing CA
# file) is logged and the old one stays in use.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

R=$T/root; mkdir -p "$R"
head -c 256M /dev/urandom >"$R/big"
echo small >"$R/small"
C=$T/certs; mkdir -p "$C"
newcert "$C" a "DNS:localhost,IP:127.0.0.1"
newcert "$C" b "DNS:localhost,IP:127.0.0.1"
newcert "$C" c "DNS:localhost,IP:127.0.0.1"
PIN_A=$(pin_of "$C/a.pem"); PIN_B=$(pin_of "$C/b.pem")
cp "$C/a.pem" "$T/live.pem"; cp "$C/a.key" "$T/live.key"
echo "token-one-$RANDOM" >"$T/token"; TOK1=$(cat "$T/token")
MPORT=$(free_port)

# served_pin: the pin of the certificate a new connection is shown.
served_pin() {
    echo "sha256:$(timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
        </dev/null 2>/dev/null | openssl x509 -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)"
}
metric() { curl -s --max-time 10 "http://127.0.0.1:$MPORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
hup() { kill -HUP "$SERVE_PID"; sleep 0.5; }

start_serve reload --root "$R" --cert "$T/live.pem" --key "$T/live.key" --token-file "$T/token" \
    --metrics "127.0.0.1:$MPORT" --threads 2 || { notok "serve starts"; finish; }
is "before: a new connection shows certificate a" "$(served_pin)" "$PIN_A"
is "the banner names certificate a" "$(grep -c "certificate $PIN_A" "$T/reload.log")" 1

# A 256 MiB download in flight across the reload (about 5 s at 50 MB/s).
curl -s --max-time 60 --limit-rate 50M --cacert "$C/a.pem" -H "Authorization: Bearer $TOK1" \
    -o "$T/big.out" "https://127.0.0.1:$PORT/big" &
CURL=$!; PIDS+=("$CURL")
sleep 1
# Swap the files the way certbot's deploy hooks and mv do: new inodes under the same names.
cp "$C/b.pem" "$T/live.pem.new" && mv "$T/live.pem.new" "$T/live.pem"
cp "$C/b.key" "$T/live.key.new" && mv "$T/live.key.new" "$T/live.key"
echo "token-two-$RANDOM" >"$T/token.new" && mv "$T/token.new" "$T/token"; TOK2=$(cat "$T/token")
check "the download is still running when SIGHUP arrives" kill -0 "$CURL"
hup
is "after SIGHUP: a new connection shows certificate b" "$(served_pin)" "$PIN_B"
check "the log says reloaded with certificate b" grep -q "reloaded: certificate $PIN_B" "$T/reload.log"
kx get --quiet --pin "$PIN_B" --token "$TOK2" "$URL/small" -o "$T/small.b"
is "kxfer get --pin b (the new certificate) works" "$?" 0
kx get --quiet --pin "$PIN_A" --token "$TOK2" "$URL/small" -o "$T/small.a" 2>"$T/pin-a.err"
is "kxfer get --pin a (the old certificate) is refused: exit 5" "$?" 5
is "the new token is accepted" "$(st --cacert "$C/b.pem" -H "Authorization: Bearer $TOK2" "$URL/small")" 200
is "the old token is refused" "$(st --cacert "$C/b.pem" -H "Authorization: Bearer $TOK1" "$URL/small")" 401
wait "$CURL"
is "the download in flight completes: curl exit 0" "$?" 0
check "the download is byte for byte the file" same_file "$R/big" "$T/big.out"
is "reloads_total ok = 1" "$(metric 'kxfer_reloads_total{result="ok"}')" 1

# Broken sets: each keeps certificate b and the second token in use.
printf 'not a certificate\n' >"$T/live.pem"
hup
check "a broken certificate: the log says why and keeps the old set" \
    grep -q "reload failed, still using the previous certificate.*live.pem" "$T/reload.log"
is "a broken certificate: new connections still get b" "$(served_pin)" "$PIN_B"
cp "$C/c.pem" "$T/live.pem"          # c's certificate with b's key
hup
check "a key of another certificate: the log says so" \
    grep -Eq "reload failed.*(key values mismatch|live.key)" "$T/reload.log"
is "a key of another certificate: new connections still get b" "$(served_pin)" "$PIN_B"
is "reload_last_successful = 0 after a failed reload" "$(metric kxfer_reload_last_successful)" 0
cp "$C/b.pem" "$T/live.pem"
: >"$T/token"
hup
check "an empty token file: the log says so" grep -q "reload failed.*token.*empty" "$T/reload.log"
is "an empty token file: the token stays" \
    "$(st --cacert "$C/b.pem" -H "Authorization: Bearer $TOK2" "$URL/small")" 200
is "an empty token file: no token is not let in" "$(st --cacert "$C/b.pem" "$URL/small")" 401
is "reloads_total failed = 3" "$(metric 'kxfer_reloads_total{result="failed"}')" 3
echo "$TOK2" >"$T/token"
hup
is "a good set again: reload_last_successful = 1" "$(metric kxfer_reload_last_successful)" 1
check "an unchanged certificate is logged as unchanged" grep -q "reloaded: certificate $PIN_B (unchanged)" "$T/reload.log"
check "server alive after five reloads" alive
stop_serve

# --- --client-ca ---------------------------------------------------------------------------
mkca() { # NAME: a CA and a client certificate it issued
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=reload CA $1" -addext "basicConstraints=critical,CA:TRUE" \
        -keyout "$C/ca$1.key" -out "$C/ca$1.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=client $1" \
        -keyout "$C/cl$1.key" -out "$C/cl$1.csr" 2>/dev/null
    openssl x509 -req -in "$C/cl$1.csr" -CA "$C/ca$1.pem" -CAkey "$C/ca$1.key" -CAcreateserial \
        -days 2 -out "$C/cl$1.pem" 2>/dev/null
}
mkca 1; mkca 2
cp "$C/ca1.pem" "$T/clients.pem"
start_serve mtls --root "$R" --client-ca "$T/clients.pem" || { notok "serve --client-ca starts"; finish; }
is "client CA 1: its client gets in" "$(st --cert "$C/cl1.pem" --key "$C/cl1.key" "$URL/small")" 200
is "client CA 1: CA 2's client is refused" "$(st --cert "$C/cl2.pem" --key "$C/cl2.key" "$URL/small")" 000
cp "$C/ca2.pem" "$T/clients.pem"
hup
is "after SIGHUP: CA 2's client gets in" "$(st --cert "$C/cl2.pem" --key "$C/cl2.key" "$URL/small")" 200
is "after SIGHUP: CA 1's client is refused" "$(st --cert "$C/cl1.pem" --key "$C/cl1.key" "$URL/small")" 000
rm "$T/clients.pem"
hup
check "a missing CA file: the log says why" grep -q "reload failed.*clients.pem" "$T/mtls.log"
is "a missing CA file: CA 2 stays in use" "$(st --cert "$C/cl2.pem" --key "$C/cl2.key" "$URL/small")" 200
check "server alive" alive
stop_serve

# --- the state dir's self-signed certificate -------------------------------------------------
start_serve self --root "$R" || { notok "serve (self-signed) starts"; finish; }
PIN_S=$(pin_of "$CERT")
hup
check "self-signed: SIGHUP reloads the same certificate" grep -q "reloaded: certificate $PIN_S (unchanged)" "$T/self.log"
is "self-signed: still served" "$(st "$URL/small")" 200
stop_serve
finish
