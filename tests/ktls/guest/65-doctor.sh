#!/usr/bin/env bash
# In the guest: kxfer doctor where the kernel has kTLS (see tests/ktls/65-doctor.sh).
. "$(dirname "$0")/lib.sh"

# jv FILE EXPR: a Python expression over the parsed JSON object d ("ERROR" when it fails).
jv() {
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || echo ERROR
}
# is_in NAME GOT WANT...: ok when GOT is one of the WANTs.
is_in() {
    local n=$1 g=$2 w; shift 2
    for w; do [ "$g" = "$w" ] && { ok "$n"; return; }; done
    notok "$n"; echo "#   got: '$g'  want one of: $*"
}
# TLS 1.3 rekey (a second TLS_RX) arrived in Linux 6.14.
IFS=. read -r KMAJ KMIN _ <<<"$(uname -r)"
REKEY=False; REKEY_WHY="refused with EBUSY (Linux $KMAJ.$KMIN < 6.14)"
if [ "$KMAJ" -gt 6 ] || { [ "$KMAJ" = 6 ] && [ "${KMIN%%[!0-9]*}" -ge 14 ]; }; then
    REKEY=True; REKEY_WHY="accepted (Linux $KMAJ.$KMIN >= 6.14)"
fi

stat_mark
before_tx=$(tls_stat TlsTxSw) before_rx=$(tls_stat TlsRxSw)
kx doctor --json >"$W/d.json" 2>"$W/d.err"
rc=$?
# Each run tries TX and RX for three ciphers, rekey (one RX socket), RX_EXPECT_NO_PAD (one
# RX socket) and TX_ZEROCOPY_RO (one TX socket): 4 TX and 5 RX software contexts, all closed.
stat_expect "doctor's probes" 4 5
if "$PY" -m json.tool "$W/d.json" >/dev/null 2>&1; then
    ok "doctor --json: one valid JSON object"
else
    notok "doctor --json: one valid JSON object (exit $rc)"; diag "$W/d.json" "$W/d.err"
    finish
fi
is "doctor --json: \"exit\" is the exit status" "$(jv "$W/d.json" 'd["exit"]')" "$rc"
is "doctor: exit 0 (kTLS both ways for every cipher, io_uring: the fastest path; tuning WARNs are advice)" "$rc" 0
is "doctor: the tls ULP is available, no reason given" \
    "$(jv "$W/d.json" '(d["ktls"]["ulp"], d["ktls"]["reason"])')" "(True, None)"
is "doctor: the 'tls ULP' check is ok" \
    "$(jv "$W/d.json" '[c["status"] for c in d["checks"] if c["name"] == "tls ULP"]')" "['ok']"
is "doctor: kernel TX and RX for AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305" \
    "$(jv "$W/d.json" '[(k, v["tx"], v["rx"]) for k, v in sorted(d["ktls"]["ciphers"].items())]')" \
    "[('AES_128_GCM', True, True), ('AES_256_GCM', True, True), ('CHACHA20_POLY1305', True, True)]"
is "doctor: the three cipher checks are ok" \
    "$(jv "$W/d.json" '[c["status"] for c in d["checks"] if c["section"] == "ktls" and "-" in c["name"]]')" \
    "['ok', 'ok', 'ok']"
is "doctor: rekey $REKEY_WHY" "$(jv "$W/d.json" 'd["ktls"]["rekey"]')" "$REKEY"
if [ "$REKEY" = False ]; then
    check "doctor: rekey_error names EBUSY" file_has "$W/d.json" '"rekey_error":"EBUSY'
fi
is "doctor: TLS_RX_EXPECT_NO_PAD (6.0) and TLS_TX_ZEROCOPY_RO (5.19) accepted" \
    "$(jv "$W/d.json" '(d["ktls"]["rx_expect_no_pad"], d["ktls"]["tx_zerocopy_ro"])')" "(True, True)"
is "doctor: tls_stat is /proc/net/tls_stat as it was before the probes" \
    "$(jv "$W/d.json" '(d["ktls"]["tls_stat"]["TlsTxSw"], d["ktls"]["tls_stat"]["TlsRxSw"])')" \
    "($before_tx, $before_rx)"
is "doctor: io_uring usable" "$(jv "$W/d.json" 'd["io_uring"]["usable"]')" True
# The guest's init insmods tls.ko; whether it is loaded at boot depends on the host's
# modules-load.d (the guest sees the host's files): a WARN with the fix, or OK naming the file.
if grep -qsx tls /etc/modules-load.d/*.conf /usr/lib/modules-load.d/*.conf /usr/local/lib/modules-load.d/*.conf /etc/modules; then
    want=ok; else want=warn; fi
is "doctor: tls at boot is $want (a module; modules-load.d decides)" \
    "$(jv "$W/d.json" '[c["status"] for c in d["checks"] if c["name"] == "tls at boot"]')" "['$want']"
if [ "$want" = warn ]; then
    check "doctor: tls at boot's fix names modules-load.d" \
        file_has "$W/d.json" '"fix":"echo tls > /etc/modules-load.d/kxfer-tls.conf'
fi
is "doctor: interfaces: lo alone, as loopback" \
    "$(jv "$W/d.json" '[(i["name"], i["loopback"]) for i in d["interfaces"]]')" "[('lo', True)]"

kx doctor >"$W/table" 2>&1
is "doctor (table): same exit status" "$?" "$rc"
check "table: OK tls ULP line" file_has "$W/table" '^  OK    tls ULP +available'
for n in AES-128-GCM AES-256-GCM ChaCha20-Poly1305; do
    check "table: OK $n line (TX and RX)" file_has "$W/table" "^  OK    $n +kernel TLS 1\\.3 TX and RX"
done
if [ "$REKEY" = False ]; then
    check "table: rekey not supported, with the kernel that has it" \
        file_has "$W/table" '^  INFO  rekey +not supported: .*EBUSY.* -> fix: Linux 6\.14'
fi
diag "$W/table"
finish
