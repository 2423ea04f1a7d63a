#!/usr/bin/env bash
# --ktls on where the kernel has no kTLS: on THIS host (not in the guest), when its kernel
# lists no tls ULP (/proc/sys/net/ipv4/tcp_available_ulp).  kxfer serve --ktls on refuses to
# start (exit 1, naming the missing tls ULP); kxfer get/put --ktls on fail with exit 5 and
# the reason, leaving no file; --ktls auto still works there, in userspace.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../integration/common.sh"
if grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
    skip "--ktls on without kTLS: this host's kernel has the tls ULP"
    exit 77
fi
if [ ! -r /proc/sys/net/ipv4/tcp_available_ulp ]; then
    skip "--ktls on without kTLS: no /proc/sys/net/ipv4/tcp_available_ulp to tell"
    exit 77
fi
# The host's kTLS counters, if its kernel has any (a tls module that is built but not loaded):
# none of the failures below may set up a kernel TLS context.
stats() { grep -E '^Tls(Tx|Rx)Sw' /proc/net/tls_stat 2>/dev/null | tr -s ' \t' ' ' | tr '\n' ' '; }
stats0=$(stats)
head -c 100000 /dev/urandom >"$T/f"
mkdir -p "$T/root/up"
cp "$T/f" "$T/root/f"

# serve --ktls on: must exit at once, not listen
p=$(free_port)
timeout 10 "$KXFER" serve --listen "127.0.0.1:$p" --root "$T/root" --state-dir "$T/state" \
    --ktls on >"$T/on.out" 2>"$T/on.err"
rc=$?
if [ "$rc" = 1 ] && grep -q 'no tls ULP' "$T/on.err" && grep -q -- '--ktls on' "$T/on.err"; then
    ok "kxfer serve --ktls on without kTLS: exit 1, names the missing tls ULP ($(head -n 1 "$T/on.err"))"
else
    notok "kxfer serve --ktls on without kTLS: exit 1, names the missing tls ULP (exit $rc)"
    sed 's/^/#   /' "$T/on.err" | head -n 5
fi

start_serve auto --root "$T/root" --allow-upload || finish
kx get "$URL/f" -o "$T/got" --ca "$CERT" --ktls on --json >"$T/get.json" 2>"$T/get.err"
rc=$?
if [ "$rc" = 5 ] && grep -q -- '--ktls on: kernel TLS unavailable' "$T/get.err" &&
   grep -q 'no tls ULP' "$T/get.err" && [ ! -e "$T/got" ] && [ ! -e "$T/.got.kxfer-part" ]; then
    ok "kxfer get --ktls on without kTLS: exit 5 with the reason, no output file ($(head -n 1 "$T/get.err"))"
else
    notok "kxfer get --ktls on without kTLS: exit 5 with the reason, no output file (exit $rc)"
    sed 's/^/#   /' "$T/get.err" | head -n 5
fi
kx put "$T/f" "$URL/up/f" --ca "$CERT" --ktls on --json >"$T/put.json" 2>"$T/put.err"
rc=$?
if [ "$rc" = 5 ] && grep -q -- '--ktls on: kernel TLS unavailable' "$T/put.err" &&
   grep -q 'no tls ULP' "$T/put.err" && [ -z "$(ls -A "$T/root/up")" ]; then
    ok "kxfer put --ktls on without kTLS: exit 5 with the reason, nothing uploaded ($(head -n 1 "$T/put.err"))"
else
    notok "kxfer put --ktls on without kTLS: exit 5 with the reason, nothing uploaded (exit $rc)"
    sed 's/^/#   /' "$T/put.err" | head -n 5; ls -A "$T/root/up" | sed 's/^/#   /'
fi
# The same with --ktls auto: userspace TLS, and the server says once why.
kx get "$URL/f" -o "$T/got" --ca "$CERT" --json >"$T/get.json" 2>"$T/get.err"
rc=$?
if [ "$rc" = 0 ] && same_file "$T/f" "$T/got" && grep -q '"tx_path":"userspace","rx_path":"userspace"' "$T/get.json"; then
    ok "kxfer get --ktls auto without kTLS: exit 0, identical, tx_path/rx_path userspace"
else
    notok "kxfer get --ktls auto without kTLS: exit 0, identical, tx_path/rx_path userspace (exit $rc)"
    sed 's/^/#   /' "$T/get.err" "$T/get.json" | head -n 5
fi
check "kxfer serve --ktls auto still running" alive
stop_serve
is "/proc/net/tls_stat on the host unchanged (no kernel TLS context set up): '${stats0:-absent}'" "$(stats)" "$stats0"
if grep -q 'kernel TLS not used for .*no tls ULP.*using userspace TLS' "$T/auto.log" &&
   grep -q ' GET /f 200 100000 .* tx=userspace rx=userspace$' "$T/auto.log"; then
    ok "kxfer serve --ktls auto without kTLS: says once why, access log tx=userspace rx=userspace"
else
    notok "kxfer serve --ktls auto without kTLS: says once why, access log tx=userspace rx=userspace"
    sed 's/^/#   /' "$T/auto.log" | tail -n 5
fi
finish
