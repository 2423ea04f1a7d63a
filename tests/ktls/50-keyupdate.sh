#!/usr/bin/env bash
# A TLS 1.3 KeyUpdate from the server in the middle of a body: openssl s_server (interactive,
# its 'k' and 'K' commands) answers kxfer get's request with an HTTP/1.0 head and
# Content-Length, half the body, a KeyUpdate, then the rest.  Linux 6.1 cannot take a new
# TLS_RX key, so kxfer get --ktls on must stop with an error naming the key update, before
# reading on (no decrypt error, no output or part file); with --ktls off, userspace OpenSSL
# follows the KeyUpdate and the body is complete.  AES-128-GCM, AES-256-GCM and
# ChaCha20-Poly1305 with 'k' (update_not_requested), AES-128-GCM with 'K' (update_requested).
# /proc/net/tls_stat before and after each case.  One guest boot: tests/ktls/guest/50-keyupdate.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guest/host.sh"
guest_ready "KeyUpdate from openssl s_server"
guest_files
guest_run 240 50-keyupdate.sh
