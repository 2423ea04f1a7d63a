#!/usr/bin/env bash
# kxfer get -r, get --parallel and put -r between kxfer serve and the tree client, both
# --ktls on: keep-alive connections carry many responses (and uploads) with the kernel
# encrypting and decrypting, byte ranges of one file on several connections, --verify; the
# --json connection counts and /proc/net/tls_stat say the kernel did it.  One guest boot:
# tests/ktls/guest/75-tree.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guest/host.sh"
guest_ready "tree transfers over kTLS"
guest_files
guest_run 300 75-tree.sh
