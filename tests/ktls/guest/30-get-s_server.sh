#!/usr/bin/env bash
# In the guest: kxfer get --ktls on from openssl s_server -WWW, per cipher
# (see tests/ktls/30-get-s_server.sh).
. "$(dirname "$0")/lib.sh"
mkdir -p "$W/out"
for c in $CIPHERS; do
    n=$(short "$c")
    if ! start_s_server "s_server-$n" -WWW -ciphersuites "$c"; then continue; fi
    U=https://127.0.0.1:$SS_PORT
    stat_mark
    for f in $FILES; do
        o=$W/out/$n.$f
        kx get "$U/$f" -o "$o" --ca "$SRV_CERT" --ktls on --json >"$W/get.json" 2>"$W/get.err"
        rc=$?
        if [ "$rc" = 0 ] && same_src "$f" "$o"; then
            ok "$n: kxfer get $f ($(size_of "$W/src/$f") B) from s_server -WWW (tickets, body ends with close_notify): exit 0, SHA-256 identical"
        else
            notok "$n: kxfer get $f ($(size_of "$W/src/$f") B) from s_server -WWW (tickets, body ends with close_notify): exit 0, SHA-256 identical (exit $rc)"
            diag "$W/get.err" "$W/get.json"
        fi
        if json_has "$W/get.json" rx_path ktls && json_has "$W/get.json" tx_path ktls &&
           json_has "$W/get.json" cipher "$c" && json_has "$W/get.json" status 200; then
            ok "$n: kxfer get $f from s_server: --json says 200, $c, tx_path ktls rx_path ktls"
        else
            notok "$n: kxfer get $f from s_server: --json says 200, $c, tx_path ktls rx_path ktls"
            diag "$W/get.json"
        fi
        rm -f "$o"
    done
    stop_s_server
    # s_server is userspace TLS: kxfer get alone sets up one TX and one RX context each time.
    stat_expect "$n: 7 kxfer get from s_server" 7 7
done
finish
