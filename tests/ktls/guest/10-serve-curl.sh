#!/usr/bin/env bash
# In the guest: curl from kxfer serve --ktls on, per cipher (see tests/ktls/10-serve-curl.sh).
. "$(dirname "$0")/lib.sh"
mkdir -p "$W/out"
for c in $CIPHERS; do
    n=$(short "$c")
    start_serve "serve-$n" --root "$W/src" --ciphers "$c" --metrics 127.0.0.1:19443 || continue
    stat_mark
    for f in $FILES; do
        o=$W/out/$n.$f
        : >"$o"   # curl creates no -o file for an empty body
        code=$(curl -sS --max-time 60 --cacert "$CERT" --tls13-ciphers "$c" -o "$o" \
                    -w '%{http_code}' "$URL/$f" 2>"$W/curl.err")
        rc=$?
        if [ "$rc" = 0 ] && [ "$code" = 200 ] && same_src "$f" "$o"; then
            ok "$n: curl $f ($(size_of "$W/src/$f") B) from kxfer serve: 200, SHA-256 identical"
        else
            notok "$n: curl $f ($(size_of "$W/src/$f") B) from kxfer serve: 200, SHA-256 identical (curl exit $rc, HTTP $code)"
            diag "$W/curl.err"
        fi
        rm -f "$o"
    done
    check "$n: kxfer serve still running after 7 downloads" serve_alive
    # The metrics name the kernel path: every body byte sent through kTLS, none in userspace,
    # no fallback.
    curl -s --max-time 10 http://127.0.0.1:19443/metrics >"$W/metrics" 2>&1
    total=0; for f in $FILES; do total=$((total + $(size_of "$W/src/$f"))); done
    is "$n: metrics: bytes sent by ktls = the 7 files, by userspace 0, kTLS fallbacks 0, 7 handshakes" \
        "$(awk '$1 == "kxfer_bytes_total{direction=\"sent\",path=\"ktls\"}" { k = $2 }
                $1 == "kxfer_bytes_total{direction=\"sent\",path=\"userspace\"}" { u = $2 }
                $1 ~ /^kxfer_ktls_fallbacks_total/ { fb += $2 }
                $1 == "kxfer_handshakes_total" { h = $2 }
                END { print k + 0, u + 0, fb + 0, h + 0 }' "$W/metrics")" "$total 0 0 7"
    stop_serve
    # One access-log line per file: status, exact size, TLS 1.3 with this suite, both kTLS.
    bad=""
    for f in $FILES; do
        grep -q " GET /$f 200 $(size_of "$W/src/$f") .* TLSv1\.3 $c tx=ktls rx=ktls\$" "$SLOG" ||
            bad="$bad $f"
    done
    is "$n: access log: each GET 200 with its size, TLSv1.3 $c, tx=ktls rx=ktls" "${bad:-none}" none
    [ -n "$bad" ] && diag "$SLOG"
    # The server alone uses kTLS (curl is userspace): one TX and one RX context per request.
    stat_expect "$n: 7 curl downloads" 7 7
done
finish
