#!/usr/bin/env bash
# kxfer serve on IPv6 loopback: curl and kxfer get over [::1].
. "$(dirname "$0")/../lib.sh"

if ! ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
    skip "IPv6: no ::1 on lo in this environment"
    exit 77
fi
mkdir -p "$T/root" "$T/state"
head -c 200000 /dev/urandom >"$T/root/f"
PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1])')
"$KXFER" serve --listen "[::1]:$PORT" --root "$T/root" --state-dir "$T/state" --threads 1 \
    2>"$T/serve.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$T/serve.log" && break; sleep 0.05; done
check "IPv6: serve announces https://[::1]:$PORT/" grep -qF "listening on https://[::1]:$PORT/" "$T/serve.log"
timeout 20 curl -s -g --cacert "$T/state/cert.pem" "https://[::1]:$PORT/f" -o "$T/curl.out"
check "IPv6: curl over [::1] (certificate names ::1)" same_file "$T/root/f" "$T/curl.out"
timeout 20 "$KXFER" get --ca "$T/state/cert.pem" --quiet "https://[::1]:$PORT/f" -o "$T/get.out"
check "IPv6: kxfer get over [::1] verifies the certificate" same_file "$T/root/f" "$T/get.out"
check "IPv6: access log shows an IPv6 peer" grep -q '^\[::1\]:[0-9]* GET /f 200 200000 ' "$T/serve.log"
finish
