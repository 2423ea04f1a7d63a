#!/usr/bin/env bash
# The kTLS test guest itself (scripts/ktls-guest.sh): set it up, boot it, and check inside
# that it is the 6.1 user-mode kernel with the tls module, that TLS 1.3 kTLS TX and RX work
# for AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305 on loopback TCP (tests/ktls/ktls_probe.c),
# that vector registers survive thread switches, and that arguments, environment, working
# directory, exit status and --timeout pass through.  Skips (77) where setup is impossible.
. "$(dirname "$0")/../lib.sh"
G=$TOP/scripts/ktls-guest.sh
t_start=$EPOCHREALTIME
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# ---- setup (downloads once into the cache dir, then only checks it)
rc=0
out=$("$G" setup 2>&1) || rc=$?
if [ "$rc" -eq 77 ]; then
    skip "ktls guest: $(echo "$out" | tail -n 1 | sed "s/^ktls-guest: //")"
    exit 77
elif [ "$rc" -ne 0 ]; then
    notok "ktls guest setup (exit $rc)"
    echo "$out" | sed 's/^/# /'
    finish
fi
ok "ktls guest setup ($(echo "$out" | tail -n 1 | sed 's/^ktls-guest: //'))"

# ---- the probe, built on the host; the guest sees $T through hostfs
if ! cc -O2 -Wall -pthread -o "$T/ktls_probe" "$TOP/tests/ktls/ktls_probe.c" -lcrypto \
        2>"$T/cc.log"; then
    notok "build tests/ktls/ktls_probe.c"
    sed 's/^/# /' "$T/cc.log"
    finish
fi

# ---- everything that runs inside the guest
cat >"$T/in-guest.sh" <<'GUEST'
set -u
ok()    { echo "ok - $*"; }
notok() { echo "not ok - $*"; }
expect_pwd=$1 word=$2 dollar=$3 backend=$4
r=$(uname -r)
case $r in 6.1.*) ok "guest kernel is 6.1 ($r)" ;; *) notok "guest kernel is 6.1 (got $r)" ;; esac
if [ "$backend" = qemu ]; then
    if ! grep -q '^vendor_id.*User Mode Linux' /proc/cpuinfo; then ok "guest is a QEMU virtual machine"
    else notok "guest is a QEMU virtual machine"; fi
elif grep -q '^vendor_id.*User Mode Linux' /proc/cpuinfo; then ok "guest is user-mode Linux"
else notok "guest is user-mode Linux"; fi
[ -r /proc/net/tls_stat ] && ok "/proc/net/tls_stat exists" || notok "/proc/net/tls_stat exists"
if [ "$PWD" = "$expect_pwd" ] && [ "$word" = "two words" ] && [ "$dollar" = '$HOME "q'"'"'' ] &&
   [ "${KXFER_IN_GUEST:-}" = 1 ] && [ "${KXFER_GUEST_TEST_VAR:-}" = 'a b
c' ] && [ -n "${HOME:-}" ] && command -v cc >/dev/null; then
    ok "cwd, arguments, PATH, HOME and KXFER* variables reach the guest"
else
    notok "cwd, arguments, PATH, HOME and KXFER* variables reach the guest"
    echo "# PWD=$PWD want $expect_pwd; args: [$word] [$dollar]; KXFER_IN_GUEST=${KXFER_IN_GUEST:-}"
fi
"$KTLS_PROBE" tls
"$KTLS_PROBE" vecregs
exit 42  # the host checks that this status comes back
GUEST

t0=$EPOCHREALTIME
rc=0
backend=$("$G" status | sed -n 's/^backend: \([a-z]*\).*/\1/p')
KXFER_GUEST_TEST_VAR='a b
c' KTLS_PROBE=$T/ktls_probe \
    "$G" run --timeout 120 -- bash "$T/in-guest.sh" "$PWD" "two words" '$HOME "q'"'"'' "$backend" || rc=$?
case $rc in
42) ok "guest run: exit status of the command comes back (boot + checks $(elapsed "$t0")s)" ;;
77) skip "ktls guest: guest did not boot (see above)"; exit 77 ;;
*)  notok "guest run: command exit status 42 comes back (got $rc)" ;;
esac

# ---- --timeout stops a hung guest with SIGTERM and leaves no UML process behind
t0=$EPOCHREALTIME
rc=0
# (8 s: the guest must boot first, which takes 2 s on a quiet machine and more under load;
# a guest that has not booted when the time is up reports 77, not 124.)
"$G" run --timeout 8 -- sleep 60 >"$T/timeout.log" 2>&1 || rc=$?
if [ "$rc" -eq 124 ]; then ok "run --timeout 8 exits 124 ($(elapsed "$t0")s)"
else notok "run --timeout 8 exits 124 (got $rc)"; sed 's/^/# /' "$T/timeout.log"; fi
# UML processes carry umid=kxfer-... in their argv; orphans (parent 1) would be leaks.
left=$(ps -eo ppid=,pid=,args= | awk '$1 == 1 && /linux\.uml/ && /umid=kxfer-/ { print $2 }')
if [ -z "$left" ]; then ok "no UML processes left behind"
else notok "no UML processes left behind (orphans: $left)"; fi

echo "# 00-guest total $(elapsed "$t_start")s"
finish
