#!/usr/bin/env bash
# In the guest: kxfer put to kxfer serve --allow-upload, both --ktls on, per cipher
# (see tests/ktls/40-put.sh).
. "$(dirname "$0")/lib.sh"
for c in $CIPHERS; do
    n=$(short "$c")
    up=$W/up-$n
    mkdir -p "$up"
    start_serve "serve-$n" --root "$up" --allow-upload --ciphers "$c" || continue
    stat_mark
    for f in $FILES; do
        kx put "$W/src/$f" "$URL/" --ca "$CERT" --ktls on --json >"$W/put.json" 2>"$W/put.err"
        rc=$?
        if [ "$rc" = 0 ] && same_src "$f" "$up/$f"; then
            ok "$n: kxfer put $f ($(size_of "$W/src/$f") B): exit 0, SHA-256 identical on the server"
        else
            notok "$n: kxfer put $f ($(size_of "$W/src/$f") B): exit 0, SHA-256 identical on the server (exit $rc)"
            diag "$W/put.err" "$W/put.json"
        fi
        if json_has "$W/put.json" status 201 && json_has "$W/put.json" tx_path ktls &&
           json_has "$W/put.json" rx_path ktls && json_has "$W/put.json" cipher "$c"; then
            ok "$n: kxfer put $f: --json says 201, $c, tx_path ktls rx_path ktls"
        else
            notok "$n: kxfer put $f: --json says 201, $c, tx_path ktls rx_path ktls"
            diag "$W/put.json"
        fi
    done
    check "$n: kxfer serve still running after 7 uploads" serve_alive
    stop_serve
    left=$(cd "$up" && ls -A | grep -c '^\.kxfer-upload-')
    is "$n: no temporary upload files left on the server" "$left" 0
    bad=""
    for f in $FILES; do
        grep -q " PUT /$f 201 [0-9]* .* TLSv1\.3 $c tx=ktls rx=ktls\$" "$SLOG" || bad="$bad $f"
    done
    is "$n: access log: each PUT 201, TLSv1.3 $c, tx=ktls rx=ktls" "${bad:-none}" none
    [ -n "$bad" ] && diag "$SLOG"
    # kxfer put: TX and RX in the kernel; kxfer serve: RX (the upload) and TX (the answer).
    stat_expect "$n: 7 kxfer put uploads" 14 14
    rm -rf "$up"
done
finish
