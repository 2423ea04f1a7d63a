#!/usr/bin/env bash
# kxfer get (--ktls on: kTLS RX read with recvmsg + cmsg) from openssl s_server -WWW, for
# AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305.  s_server sends two NewSessionTicket
# records first (control records on the kernel's RX path, which kxfer must consume) and
# ends every HTTP/1.0 body, which has no Content-Length, with close_notify (the end of the
# body).  Files of 0 B, 1 B, 16 KiB +- 1, 1 MiB and 64 MiB compared by SHA-256; --json says
# rx_path ktls; /proc/net/tls_stat proves the kernel did the crypto.  One guest boot:
# tests/ktls/guest/30-get-s_server.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guest/host.sh"
guest_ready "openssl s_server -WWW -> kxfer get over kTLS"
guest_files
guest_run 240 30-get-s_server.sh
