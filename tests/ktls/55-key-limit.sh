#!/usr/bin/env bash
# The TLS key-usage limit (--key-limit RECORDS) crossed with a small setting (64 records),
# in the guest, with a 4 MiB file:
#  - kxfer serve with kTLS TX cannot update its key: it ends the response at the limit with
#    close_notify; kxfer get resumes with Range and gets the whole file (AES-128-GCM,
#    AES-256-GCM, ChaCha20-Poly1305); curl, which does not resume, gets a short body: exit 18
#    "partial file" (expected), and the bytes it got are the file's first bytes;
#  - kxfer serve --ktls off updates its key (KeyUpdate) instead: curl and kxfer get --ktls off
#    follow; kxfer get --ktls on fails naming the key update (Linux 6.1), no output file;
#  - kxfer put --key-limit 64: with --ktls on it refuses to start (the file needs more records
#    than one key may carry); with --ktls auto it sends with userspace TLS and KeyUpdates,
#    which kxfer serve --ktls off follows, and which kxfer serve's kTLS RX cannot follow on
#    Linux 6.1: the upload fails cleanly (no file left, the server logs why and carries on).
# /proc/net/tls_stat before and after each case.  One guest boot: tests/ktls/guest/55-key-limit.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guest/host.sh"
guest_ready "key-usage limit with kTLS"
mkdir -p "$T/src"
head -c $((4 * 1048576)) /dev/urandom >"$T/src/r4m"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$T/srv.key" -out "$T/srv.pem" 2>/dev/null
guest_run 240 55-key-limit.sh
