#!/usr/bin/env bash
# kxfer doctor on a kernel with kTLS (the Linux 6.1 guest): --json parses, the tls ULP is
# available, TX and RX are offloaded for AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305,
# rekey is refused with EBUSY before Linux 6.14, TLS_RX_EXPECT_NO_PAD and TLS_TX_ZEROCOPY_RO
# are accepted (6.0, 5.19), /proc/net/tls_stat is reported as it was before the probes, and
# the probes leave no kTLS socket behind.  One guest boot: tests/ktls/guest/65-doctor.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/guest/host.sh"
guest_ready "kxfer doctor on a kernel with kTLS"
guest_run 120 65-doctor.sh
