#!/usr/bin/env bash
# curl downloads from kxfer serve with kernel TLS (TX: splice file -> pipe -> socket; RX: the
# request), for AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305: files of 0 B, 1 B,
# 16 KiB +- 1, 1 MiB and 64 MiB compared by SHA-256; the access log says tx=ktls rx=ktls and
# /proc/net/tls_stat proves the kernel did the crypto.  One guest boot:
# tests/ktls/guest/10-serve-curl.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guest/host.sh"
guest_ready "kxfer serve -> curl over kTLS"
guest_files
guest_run 240 10-serve-curl.sh
