#!/usr/bin/env bash
# kxfer bench in the kTLS guest: --quick --json has numbers on the ktls-tx and ktls rows for
# AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305, the paths the programs report are the
# kernel's, and /proc/net/tls_stat grew by the sessions the runs made.  One guest boot:
# tests/ktls/guest/70-bench.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guest/host.sh"
guest_ready "kxfer bench in the kTLS guest"
guest_run 300 70-bench.sh
