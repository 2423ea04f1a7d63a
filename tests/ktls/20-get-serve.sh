#!/usr/bin/env bash
# kxfer get downloads from kxfer serve, both with --ktls on (server: kTLS TX by splice and RX;
# client: kTLS RX read with recvmsg, and TX for the request), for AES-128-GCM, AES-256-GCM and
# ChaCha20-Poly1305: 0 B, 1 B, 16 KiB +- 1, 1 MiB and 64 MiB (also to stdout) compared by
# SHA-256; the get summary (--json tx_path/rx_path) and the access log say ktls, and
# /proc/net/tls_stat proves the kernel did the crypto.  One guest boot:
# tests/ktls/guest/20-get-serve.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guest/host.sh"
guest_ready "kxfer serve -> kxfer get over kTLS"
guest_files
guest_run 240 20-get-serve.sh
