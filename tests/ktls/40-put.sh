#!/usr/bin/env bash
# kxfer put uploads to kxfer serve --allow-upload, both with --ktls on (client: kTLS TX by
# splice file -> pipe -> socket; server: kTLS RX for the request and body, TX for the
# answer), for AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305: 0 B, 1 B, 16 KiB +- 1, 1 MiB
# and 64 MiB compared by SHA-256 on the server's disk; the put summary and the access log say
# ktls, and /proc/net/tls_stat proves the kernel did the crypto.  One guest boot:
# tests/ktls/guest/40-put.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guest/host.sh"
guest_ready "kxfer put -> kxfer serve over kTLS"
guest_files
guest_run 240 40-put.sh
