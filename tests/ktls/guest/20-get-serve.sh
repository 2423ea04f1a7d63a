#!/usr/bin/env bash
# In the guest: kxfer get from kxfer serve, both --ktls on, per cipher
# (see tests/ktls/20-get-serve.sh).
. "$(dirname "$0")/lib.sh"
mkdir -p "$W/out"
for c in $CIPHERS; do
    n=$(short "$c")
    start_serve "serve-$n" --root "$W/src" --ciphers "$c" || continue
    stat_mark
    for f in $FILES; do
        o=$W/out/$n.$f
        kx get "$URL/$f" -o "$o" --ca "$CERT" --ktls on --json >"$W/get.json" 2>"$W/get.err"
        rc=$?
        if [ "$rc" = 0 ] && same_src "$f" "$o"; then
            ok "$n: kxfer get $f ($(size_of "$W/src/$f") B): exit 0, SHA-256 identical"
        else
            notok "$n: kxfer get $f ($(size_of "$W/src/$f") B): exit 0, SHA-256 identical (exit $rc)"
            diag "$W/get.err" "$W/get.json"
        fi
        if json_has "$W/get.json" tx_path ktls && json_has "$W/get.json" rx_path ktls &&
           json_has "$W/get.json" cipher "$c" && json_has "$W/get.json" tls_version TLSv1.3; then
            ok "$n: kxfer get $f: --json says TLSv1.3 $c tx_path ktls rx_path ktls"
        else
            notok "$n: kxfer get $f: --json says TLSv1.3 $c tx_path ktls rx_path ktls"
            diag "$W/get.json"
        fi
        rm -f "$o"
    done
    # To stdout (a pipe: written in order, no part file; the summary goes to stderr).  64 MiB
    # once, 1 MiB for the other ciphers: the guest's kernel crypto is slow.
    sf=r1m; [ "$c" = TLS_AES_128_GCM_SHA256 ] && sf=r64m
    got=$(set -o pipefail; kx get "$URL/$sf" -o - --ca "$CERT" --ktls on --json 2>"$W/get.err" |
          sha256sum | cut -d' ' -f1)
    rc=$?
    same_src "$sf" "$W/src/$sf"   # fills SRC_SHA[$sf]
    if [ "$rc" = 0 ] && [ "$got" = "${SRC_SHA[$sf]}" ] &&
       grep -q '"tx_path":"ktls","rx_path":"ktls"' "$W/get.err"; then
        ok "$n: kxfer get $sf -o - (a pipe): exit 0, SHA-256 identical, tx_path/rx_path ktls"
    else
        notok "$n: kxfer get $sf -o - (a pipe): exit 0, SHA-256 identical, tx_path/rx_path ktls (exit $rc)"
        diag "$W/get.err"
    fi
    check "$n: kxfer serve still running after 8 downloads" serve_alive
    stop_serve
    bad=""
    for f in $FILES; do
        [ "$(grep -c " GET /$f 200 $(size_of "$W/src/$f") .* TLSv1\.3 $c tx=ktls rx=ktls\$" "$SLOG")" -ge 1 ] ||
            bad="$bad $f"
    done
    [ "$(grep -c " GET /$sf 200 $(size_of "$W/src/$sf") .* tx=ktls rx=ktls\$" "$SLOG")" = 2 ] ||
        bad="$bad $sf(stdout)"
    is "$n: access log: each GET 200 with its size, TLSv1.3 $c, tx=ktls rx=ktls" "${bad:-none}" none
    [ -n "$bad" ] && diag "$SLOG"
    # Both ends in the kernel, both directions: two TX and two RX contexts per download.
    stat_expect "$n: 8 kxfer get downloads" 16 16
done
finish
