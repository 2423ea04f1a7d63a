#!/usr/bin/env bash
# In the guest: kxfer bench --quick --json (see tests/ktls/70-bench.sh).
. "$(dirname "$0")/lib.sh"
export TMPDIR=$W
tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw) err0=$(tls_stat TlsDecryptError)
"$KXFER" bench --quick --json --label "guest, emulated: function only" >"$W/b.json" 2>"$W/b.err"
rc=$?
is "bench --quick --json in the guest: exit" "$rc" 0
[ "$rc" = 0 ] || diag "$W/b.err"
tx1=$(tls_stat TlsTxSw) rx1=$(tls_stat TlsRxSw) err1=$(tls_stat TlsDecryptError)
"$PY" - "$W/b.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
suites = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
rows = {(r["path"], r["cipher"]): r for r in doc["rows"]}
def check(name, cond):
    print(("ok - " if cond else "not ok - ") + name)
check("json: the guest has kTLS (host.ktls true)", doc["host"]["ktls"] is True)
check("json: the label says emulated", doc["label"] == "guest, emulated: function only")
for s in suites:
    for path, send, recv in (("userspace", "userspace", "userspace"), ("ktls-tx", "ktls", "userspace"),
                             ("ktls", "ktls", "ktls")):
        r = rows.get((path, s), {})
        good = (r.get("ok") and r["mbps"] > 0 and r["send_cpu_s_per_gib"] > 0 and r["recv_cpu_s_per_gib"] > 0
                and r["send_path"] == send and r["recv_path"] == recv and len(r["samples"]) == 3)
        check(f"json: {path} {s}: numbers, sender {send}, receiver {recv}", good)
        if not good:
            print("#   " + json.dumps(r)[:400])
        # 3 runs, one connection each: the server's socket takes both directions on the kTLS
        # rows, the client's too on ktls; userspace rows set up none
        want = {"userspace": 0, "ktls-tx": 3, "ktls": 6}[path]
        got = r.get("kernel_tls_sessions")
        check(f"json: {path} {s}: kernel_tls_sessions tx {want} rx {want} (got {got})",
              got == {"tx": want, "rx": want})
check("json: plain row has numbers", rows.get(("plain", None), {}).get("ok"))
PY
pyrc=$?
[ "$pyrc" = 0 ] || notok "json checks ran to the end (python exit $pyrc)"
# Each kTLS run is one connection.  kxfer serve --ktls on takes both directions of its socket
# into the kernel; on the ktls rows kxfer get does too.  3 ciphers x 3 runs: ktls-tx 1 TX and
# 1 RX session each (the server), ktls 2 and 2 (server and client).  Before the runs, bench
# probes each kTLS row's cipher on a loopback pair: one TX and one RX session per row (6).
want=$((3 * 3 * (1 + 2) + 6))
is "tls_stat TlsTxSw grew by 3 ciphers x 3 runs x 3 sessions + 6 probes ($tx0 -> $tx1)" $((tx1 - tx0)) "$want"
is "tls_stat TlsRxSw grew by 3 ciphers x 3 runs x 3 sessions + 6 probes ($rx0 -> $rx1)" $((rx1 - rx0)) "$want"
is "tls_stat TlsDecryptError did not grow" "$err1" "$err0"
finish
