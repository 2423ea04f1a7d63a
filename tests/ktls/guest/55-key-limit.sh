#!/usr/bin/env bash
# In the guest: --key-limit 64 with kTLS (see tests/ktls/55-key-limit.sh).
. "$(dirname "$0")/lib.sh"
mkdir -p "$W/out"
F=r4m
SIZE=$(size_of "$W/src/$F")
o=$W/out/$F
count() { local n=0 l; while IFS= read -r l; do [[ $l =~ $2 ]] && n=$((n + 1)); done <"$1"; echo "$n"; }

# ---- kTLS TX server: stops at the limit, kxfer get resumes, curl gets a short body
for c in $CIPHERS; do
    n=$(short "$c")
    start_serve "serve-$n" --root "$W/src" --ciphers "$c" --key-limit 64 --metrics 127.0.0.1:19443 || continue
    stat_mark
    rm -f "$o"
    kx get "$URL/$F" -o "$o" --ca "$CERT" --ktls on >"$W/get.out" 2>"$W/get.err"
    rc=$?
    resumes=$(sed -n 's/.*resumed \([0-9]*\) times\{0,1\} with a Range request.*/\1/p' "$W/get.err")
    # 64 records carry at most 1 MiB: 4 MiB need at least 3 resumes.
    if [ "$rc" = 0 ] && same_src "$F" "$o" && [ "${resumes:-0}" -ge 3 ]; then
        ok "$n: --key-limit 64: kxfer get $F (4 MiB) exit 0, SHA-256 identical, resumed $resumes times"
    else
        notok "$n: --key-limit 64: kxfer get $F (4 MiB) exit 0, SHA-256 identical, resumed >= 3 times (exit $rc, resumed '${resumes:-}')"
        diag "$W/get.err" "$SLOG"
    fi
    code=$(curl -sS --max-time 60 --cacert "$CERT" -o "$W/out/curl" -w '%{http_code} %{size_download}' \
                "$URL/$F" 2>"$W/curl.err")
    rc=$?
    got=${code#* }
    if [ "$rc" = 18 ] && [ "${code% *}" = 200 ] && [ "$got" -gt 0 ] && [ "$got" -lt "$SIZE" ] &&
       cmp -s -n "$got" "$W/src/$F" "$W/out/curl"; then
        ok "$n: --key-limit 64: curl (no resume) gets a short body, as expected: exit 18 (partial file), $got of $SIZE bytes, all of them right"
    else
        notok "$n: --key-limit 64: curl (no resume) gets a short body: exit 18 (partial file), the bytes it got right (exit $rc, $code)"
        diag "$W/curl.err"
    fi
    rm -f "$W/out/curl"
    check "$n: kxfer serve still running" serve_alive
    closes=$(curl -s --max-time 10 http://127.0.0.1:19443/metrics | awk '$1 == "kxfer_key_limit_closes_total" { print $2 }')
    stop_serve
    stops=$(count "$SLOG" "/$F: stopped at the key-usage limit \\(64 records\\); the client resumes")
    is "$n: metrics: kxfer_key_limit_closes_total counts each stop" "${closes:-none}" "$stops"
    ranges=$(count "$SLOG" " GET /$F 206 [0-9]+ .* TLSv1\\.3 $c tx=ktls rx=ktls\$")
    firsts=$(count "$SLOG" " GET /$F 200 [0-9]+ .* TLSv1\\.3 $c tx=ktls rx=ktls\$")
    # kxfer get: one 200 then a 206 per resume; curl: one 200; a stop before each resume and curl's.
    is "$n: access log: 2 GET 200 and $resumes GET 206 with tx=ktls rx=ktls, $((resumes + 1)) stops at the key-usage limit" \
        "$firsts/$ranges/$stops" "2/$resumes/$((resumes + 1))"
    # kxfer get: both ends in the kernel on each of its resumes+1 connections; curl: the server only.
    stat_expect "$n: key-limit downloads" $((2 * (resumes + 1) + 1)) $((2 * (resumes + 1) + 1))
    rm -f "$o"
done

# ---- userspace TX server: KeyUpdates every 64 records
if start_serve serve-user --root "$W/src" --ktls off --key-limit 64; then
    stat_mark
    kx get "$URL/$F" -o "$o" --ca "$CERT" --ktls on --json >"$W/get.json" 2>"$W/get.err"
    rc=$?
    if [ "$rc" != 0 ] && file_has "$W/get.err" 'key update' && absent "$o"; then
        ok "serve --ktls off --key-limit 64 (KeyUpdates): kxfer get --ktls on fails (exit $rc) naming the key update (Linux 6.1), no output or part file"
    else
        notok "serve --ktls off --key-limit 64 (KeyUpdates): kxfer get --ktls on fails naming the key update, no output or part file (exit $rc)"
        diag "$W/get.err" "$W/get.json"
    fi
    stat_expect "kxfer get --ktls on vs KeyUpdates" 1 1
    stat_mark
    kx get "$URL/$F" -o "$o" --ca "$CERT" --ktls off --json >"$W/get.json" 2>"$W/get.err"
    rc=$?
    if [ "$rc" = 0 ] && same_src "$F" "$o"; then
        ok "serve --ktls off --key-limit 64 (KeyUpdates): kxfer get --ktls off exit 0, SHA-256 identical"
    else
        notok "serve --ktls off --key-limit 64 (KeyUpdates): kxfer get --ktls off exit 0, SHA-256 identical (exit $rc)"
        diag "$W/get.err"
    fi
    rm -f "$o"
    curl -sS --max-time 60 --cacert "$CERT" -o "$W/out/curl" "$URL/$F" 2>"$W/curl.err"
    rc=$?
    if [ "$rc" = 0 ] && same_src "$F" "$W/out/curl"; then
        ok "serve --ktls off --key-limit 64 (KeyUpdates): curl exit 0, SHA-256 identical"
    else
        notok "serve --ktls off --key-limit 64 (KeyUpdates): curl exit 0, SHA-256 identical (exit $rc)"
        diag "$W/curl.err"
    fi
    rm -f "$W/out/curl"
    stop_serve
    stat_expect "userspace both ends" 0 0
fi

# ---- kxfer put --key-limit 64
up=$W/up
mkdir -p "$up"
stat_mark
kx put "$W/src/$F" "https://127.0.0.1:1/$F" -k --ktls on --key-limit 64 >/dev/null 2>"$W/put.err"
rc=$?
if [ "$rc" = 2 ] && file_has "$W/put.err" 'needs more TLS records than one key may carry'; then
    ok "kxfer put --ktls on --key-limit 64 of 4 MiB: refused (exit 2): more records than one key may carry"
else
    notok "kxfer put --ktls on --key-limit 64 of 4 MiB: refused (exit 2): more records than one key may carry (exit $rc)"
    diag "$W/put.err"
fi
if start_serve serve-put-user --root "$up" --allow-upload --ktls off; then
    kx put "$W/src/$F" "$URL/" --ca "$CERT" --key-limit 64 --json >"$W/put.json" 2>"$W/put.err"
    rc=$?
    if [ "$rc" = 0 ] && same_src "$F" "$up/$F" && json_has "$W/put.json" tx_path userspace; then
        ok "kxfer put --key-limit 64 (userspace TLS, KeyUpdates) to serve --ktls off: exit 0, SHA-256 identical"
    else
        notok "kxfer put --key-limit 64 (userspace TLS, KeyUpdates) to serve --ktls off: exit 0, SHA-256 identical (exit $rc)"
        diag "$W/put.err" "$W/put.json"
    fi
    stop_serve
    rm -f "$up/$F"
fi
stat_expect "kxfer put --key-limit: refused, then userspace both ends" 0 0
if start_serve serve-put --root "$up" --allow-upload --verbose; then
    stat_mark
    kx put "$W/src/$F" "$URL/" --ca "$CERT" --key-limit 64 --json >"$W/put.json" 2>"$W/put.err"
    rc=$?
    if [ "$rc" != 0 ] && json_has "$W/put.json" tx_path userspace; then
        ok "kxfer put --key-limit 64 (userspace TLS, KeyUpdates) to kxfer serve with kTLS RX (Linux 6.1 cannot follow): fails, exit $rc"
    else
        notok "kxfer put --key-limit 64 (userspace TLS, KeyUpdates) to kxfer serve with kTLS RX (Linux 6.1 cannot follow): fails (exit $rc)"
        diag "$W/put.err" "$W/put.json"
    fi
    if wait_for 10 eval '[ -z "$(ls -A "$up")" ]'; then
        ok "kxfer serve (kTLS RX) left no file and no temporary file of the failed upload"
    else
        notok "kxfer serve (kTLS RX) left no file and no temporary file of the failed upload"
        ls -la "$up" | sed 's/^/#   /'
    fi
    file_has "$SLOG" "key update" || diag "$SLOG"
    check "kxfer serve --verbose logs that it cannot follow the client's key update" \
        file_has "$SLOG" 'key update'
    kx put "$W/src/$F" "$URL/" --ca "$CERT" --json >"$W/put.json" 2>"$W/put.err"
    rc=$?
    if [ "$rc" = 0 ] && same_src "$F" "$up/$F" && json_has "$W/put.json" tx_path ktls; then
        ok "then kxfer put (default key limit, tx_path ktls) to the same server: exit 0, SHA-256 identical"
    else
        notok "then kxfer put (default key limit, tx_path ktls) to the same server: exit 0, SHA-256 identical (exit $rc)"
        diag "$W/put.err" "$W/put.json" "$SLOG"
    fi
    stop_serve
    # The server's contexts for both uploads; kxfer put's for the second only.
    stat_expect "kxfer put --key-limit to kTLS RX, then a normal put" 3 3
fi
finish
