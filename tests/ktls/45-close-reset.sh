#!/usr/bin/env bash
# How kernel-TLS transfers end: close_notify, a FIN without it, a clean close_notify before
# the announced length, and TCP resets mid-body in both directions.  In the guest:
#  - kxfer get --ktls on (kTLS RX) from a userspace TLS 1.3 server (tests/ktls/guest/tlspeer.py):
#    close_notify ends a body without Content-Length (exit 0, SHA-256 identical); a FIN without
#    close_notify, a reset mid-body, and a close_notify before Content-Length with no server
#    left to resume from all fail (non-zero exit) and leave no output file;
#  - kxfer serve (kTLS TX) killed with SIGKILL mid-body: kxfer get fails (4/7), no file;
#  - clients resetting mid-body (curl killed, a Python client with SO_LINGER 0, kxfer put
#    killed mid-upload): kxfer serve closes those connections, leaves no partial upload, and
#    serves the next request correctly.
# /proc/net/tls_stat before and after each case.  One guest boot: tests/ktls/guest/45-close-reset.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guest/host.sh"
guest_ready "kTLS close_notify and resets"
guest_files
guest_run 240 45-close-reset.sh
