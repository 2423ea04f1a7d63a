#!/usr/bin/env bash
# kxfer doctor on this host: --json is one valid JSON object whose facts match the host
# (tls ULP, kTLS ciphers, io_uring, OpenSSL version, sysctls, interfaces, AEAD speeds), the
# exit status follows the worst check, tuning advice aside (1 here: no kTLS), the table has OK/WARN lines with
# fixes, --iface, usage errors (exit 2) and --help.  Where this host's kernel has the tls
# ULP, the "missing" checks are skipped with that reason; the guest test
# (tests/ktls/65-doctor.sh) covers a kernel with kTLS.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

# jv FILE EXPR: a Python expression over the parsed JSON object d ("ERROR" when it fails).
jv() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || echo ERROR
}
ULP=no
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null && ULP=yes

# --- --json ---------------------------------------------------------------------------------
t0=$EPOCHREALTIME
kx doctor --json >"$T/d.json" 2>"$T/d.err"
rc=$?
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
if python3 -m json.tool "$T/d.json" >/dev/null 2>&1; then
    ok "doctor --json: stdout is one valid JSON object ($(wc -c <"$T/d.json") bytes)"
else
    notok "doctor --json: stdout is one valid JSON object (exit $rc)"
    head -c 600 "$T/d.json" | sed 's/^/#   /'; sed 's/^/#   /' "$T/d.err"
    finish
fi
is "doctor --json: nothing on stderr" "$(cat "$T/d.err")" ""
is "doctor --json: \"exit\" is the exit status ($rc)" "$(jv "$T/d.json" 'd["exit"]')" "$rc"
is "doctor --json: verdict names the exit status" \
    "$(jv "$T/d.json" '{0: "ok", 1: "reduced", 2: "cannot-run"}[d["exit"]] == d["verdict"]')" True
# The exit status: any fail -> 2; a warn outside the advice sections (tuning, network, service) -> 1;
# else 0.
is "doctor --json: exit status = worst check, tuning advice aside (fail 2, warn 1, else 0)" \
    "$(jv "$T/d.json" '(2 if any(c["status"] == "fail" for c in d["checks"]) else 1 if any(c["status"] == "warn" and c["section"] not in ("tuning", "network", "service") for c in d["checks"]) else 0) == d["exit"]')" True
is "doctor --json: every check has section, name, status ok|warn|fail|info, found" \
    "$(jv "$T/d.json" 'len(d["checks"]) > 10 and all(c["section"] and c["name"] and c["found"] and c["status"] in ("ok", "warn", "fail", "info") and "fix" in c for c in d["checks"])')" True
is "doctor --json: every warn or fail says how to fix it (or points at the tls ULP line)" \
    "$(jv "$T/d.json" '[c["name"] for c in d["checks"] if c["status"] in ("warn", "fail") and not c["fix"] and "no tls ULP" not in c["found"]]')" "[]"
is "doctor --json: kxfer_version is kxfer --version's" \
    "kxfer $(jv "$T/d.json" 'd["kxfer_version"]')" "$("$KXFER" --version)"
is "doctor --json: kernel release is uname -r" "$(jv "$T/d.json" 'd["kernel"]["release"]')" "$(uname -r)"
if awk -v s="$secs" 'BEGIN { exit !(s < 5) }'; then
    ok "doctor --json: finished in ${secs}s (about 1 s: three 0.2 s AEAD measurements)"
else
    notok "doctor --json: finished in ${secs}s (about 1 s: three 0.2 s AEAD measurements)"
fi

# --- kernel TLS -----------------------------------------------------------------------------
if [ "$ULP" = no ]; then
    is "no kTLS on this host: exit status 1 (reduced: userspace TLS)" "$rc" 1
    is "no kTLS: ktls.ulp false, with a reason" \
        "$(jv "$T/d.json" 'd["ktls"]["ulp"] is False and len(d["ktls"]["reason"]) > 20')" True
    echo "#   reason: $(jv "$T/d.json" 'd["ktls"]["reason"]')"
    is "no kTLS: TX and RX false for AES_128_GCM AES_256_GCM CHACHA20_POLY1305" \
        "$(jv "$T/d.json" '[(k, v["tx"], v["rx"]) for k, v in sorted(d["ktls"]["ciphers"].items())]')" \
        "[('AES_128_GCM', False, False), ('AES_256_GCM', False, False), ('CHACHA20_POLY1305', False, False)]"
    is "no kTLS: the 'tls ULP' check is a warn with a fix" \
        "$(jv "$T/d.json" '[(c["status"], bool(c["fix"])) for c in d["checks"] if c["name"] == "tls ULP"]')" \
        "[('warn', True)]"
    is "no kTLS: rekey and the kTLS options untested (null)" \
        "$(jv "$T/d.json" '[d["ktls"][k] for k in ("rekey", "rx_expect_no_pad", "tx_zerocopy_ro")]')" \
        "[None, None, None]"
else
    skip "no kTLS on this host: ULP missing, ciphers false, exit 1: this host's kernel has the tls ULP"
    is "kTLS host: ktls.ulp true, no reason" "$(jv "$T/d.json" '(d["ktls"]["ulp"], d["ktls"]["reason"])')" \
        "(True, None)"
fi
if [ -r /proc/net/tls_stat ]; then
    is "tls_stat: the counters of /proc/net/tls_stat" \
        "$(jv "$T/d.json" 'sorted(d["ktls"]["tls_stat"])')" \
        "$(python3 -c 'print(sorted(l.split()[0] for l in open("/proc/net/tls_stat") if l.strip()))')"
else
    is "tls_stat: null (no /proc/net/tls_stat here)" "$(jv "$T/d.json" 'd["ktls"]["tls_stat"]')" None
fi

# --- io_uring, OpenSSL, CPU -----------------------------------------------------------------
is "io_uring usable, with every opcode kxfer submits" \
    "$(jv "$T/d.json" '(d["io_uring"]["usable"], sorted(k for k, v in d["io_uring"]["opcodes"].items() if v))')" \
    "(True, ['ACCEPT', 'ASYNC_CANCEL', 'FSYNC', 'POLL_ADD', 'READ', 'SPLICE', 'TIMEOUT', 'WRITE'])"
# The library kxfer runs with (openssl version says "Library: ..." when it differs from the CLI's).
lib=$(openssl version | sed -n 's/.*Library: OpenSSL \([0-9.]*\).*/\1/p')
[ -n "$lib" ] || lib=$(openssl version | awk '{ print $2 }')
is "openssl.version_number is openssl version's ($lib)" "$(jv "$T/d.json" 'd["openssl"]["version_number"]')" "$lib"
is "openssl: TLS 1.3, built with kTLS (Debian 12), offloads TLS 1.3 TX itself" \
    "$(jv "$T/d.json" '(d["openssl"]["tls13"], d["openssl"]["ktls"], d["openssl"]["tls13_tx_offload"])')" \
    "(True, True, True)"
is "cpu.aead_MBps: AES_128_GCM AES_256_GCM CHACHA20_POLY1305 all measured (> 0)" \
    "$(jv "$T/d.json" 'sorted(k for k, v in d["cpu"]["aead_MBps"].items() if v > 0)')" \
    "['AES_128_GCM', 'AES_256_GCM', 'CHACHA20_POLY1305']"
echo "#   AEAD MB/s: $(jv "$T/d.json" 'd["cpu"]["aead_MBps"]')"
if [ "$(uname -m)" = x86_64 ]; then
    is "cpu.flags.aes matches /proc/cpuinfo" "$(jv "$T/d.json" 'd["cpu"]["flags"]["aes"]')" \
        "$(grep -m1 -qw aes /proc/cpuinfo && echo True || echo False)"
fi

# --- tuning ---------------------------------------------------------------------------------
for k in net.core.rmem_max net.ipv4.tcp_wmem fs.pipe-max-size net.ipv4.tcp_congestion_control; do
    is "sysctl $k as /proc/sys has it" "$(jv "$T/d.json" "d['sysctl']['$k']")" \
        "$(tr '\t' ' ' </proc/sys/${k//.//})"
done
v=$(cat /proc/sys/net/core/rmem_max)
want=ok; [ "$v" -lt 16777216 ] && want=warn
is "rmem_max ($v) is $want (warn below 16 MiB)" \
    "$(jv "$T/d.json" '[c["status"] for c in d["checks"] if c["name"] == "rmem_max"]')" "['$want']"
is "limits.nofile_soft is ulimit -n" "$(jv "$T/d.json" 'd["limits"]["nofile_soft"]')" "$(ulimit -n)"

# --- interfaces -----------------------------------------------------------------------------
others=$(ip -o link show up 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -vx lo | sort | tr '\n' ' ')
if [ -n "$others" ]; then
    is "interfaces: the non-loopback ones that are up ($others)" \
        "$(jv "$T/d.json" '" ".join(sorted(i["name"] for i in d["interfaces"])) + " "')" "$others"
else
    is "interfaces: lo alone, flagged as loopback" \
        "$(jv "$T/d.json" '[(i["name"], i["loopback"]) for i in d["interfaces"]]')" "[('lo', True)]"
fi
kx doctor --json --iface lo >"$T/lo.json" 2>"$T/lo.err"
is "doctor --iface lo: same exit status ($rc)" "$?" "$rc"
is "doctor --iface lo: only lo, loopback, up, mtu from /sys" \
    "$(jv "$T/lo.json" '[(i["name"], i["loopback"], i["up"], i["mtu"]) for i in d["interfaces"]]')" \
    "[('lo', True, True, $(cat /sys/class/net/lo/mtu))]"
is "doctor --iface lo: tls-hw offload fields as ethtool -k prints them" \
    "$(jv "$T/lo.json" 'all(i[k] in ("on", "off", "on [fixed]", "off [fixed]", "unknown") for i in d["interfaces"] for k in ("tls_hw_tx_offload", "tls_hw_rx_offload"))')" True

# --- io_uring refused (as a container's seccomp profile does): FAIL, exit 2 -----------------
if [ "$(uname -m)" = x86_64 ]; then
    # Runs a command with io_uring_setup (x86_64 syscall 425) failing with EPERM.
    cat >"$T/noring.py" <<'PY'
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def ins(code, jt, jf, k): return struct.pack("HBBI", code, jt, jf, k)
ALLOW, EPERM = 0x7fff0000, 0x00050000 | 1
prog = b"".join([ins(0x20, 0, 0, 4), ins(0x15, 1, 0, 0xc000003e), ins(0x06, 0, 0, ALLOW),
                 ins(0x20, 0, 0, 0), ins(0x15, 0, 1, 425), ins(0x06, 0, 0, EPERM),
                 ins(0x06, 0, 0, ALLOW)])
buf = ctypes.create_string_buffer(prog)
class Prog(ctypes.Structure): _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
p = Prog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(p), 0, 0):  # NO_NEW_PRIVS, SECCOMP
    sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])
PY
    timeout 60 python3 "$T/noring.py" "$KXFER" doctor --json >"$T/noring.json" 2>"$T/noring.err"
    nrc=$?
    if [ "$nrc" = 77 ]; then
        skip "io_uring refused by seccomp: cannot install a seccomp filter here"
    else
        is "io_uring refused by seccomp: exit 2 (cannot-run)" "$nrc" 2
        is "io_uring refused: usable false, error EPERM, the io_uring check fails with a fix" \
            "$(jv "$T/noring.json" '(d["io_uring"]["usable"], d["io_uring"]["error"], [(c["status"], "seccomp" in c["fix"]) for c in d["checks"] if c["name"] == "io_uring"])')" \
            "(False, 'Operation not permitted', [('fail', True)])"
    fi
fi

# --- the table ------------------------------------------------------------------------------
# --- service ---------------------------------------------------------------------------------
is "service: its four checks, in order" \
    "$(jv "$T/d.json" '" / ".join(c["name"] for c in d["checks"] if c["section"] == "service")')" \
    "systemd / tls at boot / port 443 / clock"
if [ -d /run/systemd/system ]; then want=ok; else want=info; fi
is "service: systemd is $want here" "$(jv "$T/d.json" '[c["status"] for c in d["checks"] if c["name"] == "systemd"][0]')" "$want"
if [ "$ULP" = no ]; then
    check "service: tls at boot says userspace TLS without kernel TLS" \
        test "$(jv "$T/d.json" '[c["found"] for c in d["checks"] if c["name"] == "tls at boot"][0].endswith("userspace TLS")')" = True
fi
start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)
check "service: port 443 quotes ip_unprivileged_port_start ($start)" \
    test "$(jv "$T/d.json" "'$start' in [c['found'] for c in d['checks'] if c['name'] == 'port 443'][0]")" = True
is "service: a clock WARN comes with a fix" \
    "$(jv "$T/d.json" '[c["status"] != "warn" or bool(c["fix"]) for c in d["checks"] if c["name"] == "clock"][0]')" True

kx doctor >"$T/table" 2>"$T/table.err"
is "doctor (table): same exit status as --json" "$?" "$rc"
check "table: OK lines (e.g. io_uring)" grep -Eq '^  OK    io_uring +enabled' "$T/table"
if [ "$ULP" = no ]; then
    check "table: WARN tls ULP line with a fix" grep -Eq '^  WARN  tls ULP +not available: .* -> fix: ' "$T/table"
else
    skip "table: WARN tls ULP line: this host's kernel has the tls ULP"
fi
check "table: a verdict line with the exit status" grep -Eq "^verdict: (ok|reduced|cannot-run) \\(exit $rc\\)" "$T/table"
check "table: section headings" grep -qx 'kernel TLS' "$T/table"
check "table: the service section" grep -qx 'running as a service' "$T/table"
kx doctor --iface lo >"$T/table-lo"
check "table --iface lo: lo flagged as loopback" grep -Eq '^  INFO  lo +loopback' "$T/table-lo"

# --- usage ----------------------------------------------------------------------------------
kx doctor --iface nosuchif0 >"$T/u.out" 2>"$T/u.err"
urc=$?
if [ "$urc" = 2 ] && grep -q "no network interface 'nosuchif0'" "$T/u.err" && [ ! -s "$T/u.out" ]; then
    ok "doctor --iface nosuchif0: exit 2, says so ($(head -n 1 "$T/u.err"))"
else
    notok "doctor --iface nosuchif0: exit 2, says so (exit $urc)"; sed 's/^/#   /' "$T/u.err"
fi
kx doctor --bogus >/dev/null 2>"$T/b.err"
is "doctor --bogus: exit 2" "$?" 2
check "doctor --bogus: usage on stderr" grep -q 'Usage: kxfer doctor' "$T/b.err"
kx doctor extra >/dev/null 2>&1
is "doctor with an argument: exit 2" "$?" 2
kx doctor --iface >/dev/null 2>&1
is "doctor --iface without a name: exit 2" "$?" 2
kx doctor --help >"$T/h.out"
is "doctor --help: exit 0" "$?" 0
for w in '--json ' '--iface NAME ' '-h, --help ' 'Exit status: 0 ' '1 it runs, slower' '2 it cannot run here' 'advice' \
         'usage errors' 'docs/tuning.md'; do
    check "doctor --help: says '$w'" grep -qF -e "$w" "$T/h.out"
done
check "kxfer --help lists doctor" bash -c "'$KXFER' --help | grep -q '^  doctor '"
finish
