#!/usr/bin/env bash
# Uploads (PUT, --allow-upload): curl -T and kxfer put, 201/204, 100-continue, 405 without
# --allow-upload, 411, 413, 400, missing parent directories made, uploads that try to leave
# the root (made nothing inside or outside), aborted uploads leave nothing behind, the
# hidden temp file during an upload.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

make_tree "$T/src"
S=$T/src
U=$T/up
mkdir -p "$U/sub" "$T/outside"
echo "OUTSIDE-ORIGINAL" >"$T/outside/file.txt"
ln -s ../outside "$U/outdir"              # directory symlink leaving the root
ln -s ../outside/file.txt "$U/outlink"    # file symlink leaving the root
ln -s ../../outside "$U/sub/esc"          # directory symlink leaving the root, mid-path

start_serve serve --root "$U" --allow-upload || { notok "kxfer serve --allow-upload starts"; finish; }
# snapshot: every entry under the upload root (including hidden ones) and outside/.
snapshot() { (cd "$T" && find up outside -printf '%p %y %s\n' | LC_ALL=C sort); }
# wait_same SNAPSHOT: until the tree is back to SNAPSHOT (5 s at most).
wait_same() {
    local i
    for i in $(seq 50); do [ "$(snapshot)" = "$1" ] && return 0; sleep 0.1; done
    echo "# tree now:"; diff <(echo "$1") <(snapshot) | sed 's/^/#   /'
    return 1
}

# --- curl -T -----------------------------------------------------------------------------
is "curl -T new file: 201" "$(st -T "$S/r16385" "$URL/new.bin")" 201
check "curl -T new file: content on disk" same_file "$S/r16385" "$U/new.bin"
is "curl -T same name again: 204" "$(st -T "$S/r1m" "$URL/new.bin")" 204
check "curl -T replace: content on disk" same_file "$S/r1m" "$U/new.bin"
is "GET of the uploaded file: 200" "$(req back "$URL/new.bin")" 200
check "GET of the uploaded file: identical" same_file "$S/r1m" "$T/back.b"
is "curl -T empty file: 201" "$(st -T "$S/empty" "$URL/empty.bin")" 201
check "empty upload: empty file on disk" test -f "$U/empty.bin" -a ! -s "$U/empty.bin"
code=$(curl -sv --max-time 30 --cacert "$CERT" -H 'Expect: 100-continue' --expect100-timeout 20 \
       -o /dev/null -w '%{http_code}' -T "$S/r1m" "$URL/sub/expect.bin" 2>"$T/expect.err")
is "PUT with Expect: 100-continue: 201" "$code" 201
check "Expect: 100-continue answered with 'HTTP/1.1 100 Continue'" grep -q '^< HTTP/1.1 100' "$T/expect.err"
check "Expect: 100-continue upload: content on disk" same_file "$S/r1m" "$U/sub/expect.bin"

# --- kxfer put ---------------------------------------------------------------------------
for f in r16385 r1m r64m; do
    kx put "$S/$f" "$URL/k$f" --ca "$CERT" --quiet
    is "kxfer put $f (new): exit 0" "$?" 0
    check "kxfer put $f: sha256 on disk matches" same_file "$S/$f" "$U/k$f"
done
kx put "$S/r16384" "$URL/kr16385" --ca "$CERT" --quiet
is "kxfer put replacing a file: exit 0" "$?" 0
check "kxfer put replace: content on disk" same_file "$S/r16384" "$U/kr16385"
kx put "$S/r1m" "$URL/sub/" --ca "$CERT" --quiet
is "kxfer put to a URL ending in '/': exit 0" "$?" 0
check "kxfer put URL/sub/: basename appended (sub/r1m)" same_file "$S/r1m" "$U/sub/r1m"
kx put "$S/empty" "$URL/" --pin "$(pin_of "$CERT")" --quiet
is "kxfer put empty file with --pin to URL/: exit 0" "$?" 0
check "kxfer put empty file: on disk" test -f "$U/empty" -a ! -s "$U/empty"
kx put "$S/one" "$URL/nodir/deeper/x" --ca "$CERT" --quiet
is "kxfer put into missing directories: exit 0 (they are made)" "$?" 0
check "PUT into missing directories: the file under the new directories" same_file "$S/one" "$U/nodir/deeper/x"
check "the new directories are real directories" test -d "$U/nodir/deeper" -a ! -L "$U/nodir"
kx put "$T/does-not-exist" "$URL/x" --ca "$CERT" --quiet 2>/dev/null
is "kxfer put of a missing local file: exit 3" "$?" 3

# --- Refusals ----------------------------------------------------------------------------
is "DELETE with --allow-upload: 405" "$(req del -X DELETE "$URL/new.bin")" 405
is "405 with --allow-upload: Allow: GET, HEAD, PUT" "$(hdr "$T/del.h" Allow)" "GET, HEAD, PUT"
before=$(snapshot)
is "PUT without Content-Length (chunked, curl -T -): 411" \
    "$(st -T - "$URL/chunked.bin" <"$S/r16385")" 411
printf 'PUT /huge.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1152921504606846976\r\n\r\n' |
    raw --ca "$CERT" --timeout 5 >"$T/huge"
is "PUT with Content-Length 2^60 (more than the free space): 413" "$(status_line "$T/huge")" 413
printf 'PUT /bad.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 12abc\r\n\r\n' |
    raw --ca "$CERT" --timeout 5 >"$T/badcl"
is "PUT with Content-Length '12abc': 400" "$(status_line "$T/badcl")" 400
code=$(st --path-as-is -T "$S/one" "$URL/../escaped.bin")
is_in "PUT /../escaped.bin: refused (400/403/404)" "$code" 400 403 404
code=$(st --path-as-is -T "$S/one" "$URL/%2e%2e/escaped2.bin")
is_in "PUT /%2e%2e/escaped2.bin: refused (400/403/404)" "$code" 400 403 404
check "nothing written outside the root by ../ uploads" test ! -e "$T/escaped.bin" -a ! -e "$T/escaped2.bin"
code=$(st -T "$S/one" "$URL/outdir/planted.bin")
is_in "PUT through a directory symlink leaving the root: refused (403/404)" "$code" 403 404
check "nothing planted outside through the symlink" test ! -e "$T/outside/planted.bin"
code=$(st -T "$S/one" "$URL/outdir/new1/new2/planted.bin")
is "PUT through a directory symlink leaving the root, then missing dirs: 403" "$code" 403
code=$(st -T "$S/one" "$URL/sub/esc/new1/new2/planted.bin")
is "PUT through a symlink leaving the root in the middle of the path: 403" "$code" 403
check "nothing made outside the root by the mid-path symlink" test ! -e "$T/outside/new1"
code=$(st -T "$S/one" "$URL/outlink")
is "outside file unchanged after PUT onto a symlink leaving the root (status $code)" \
    "$(cat "$T/outside/file.txt")" "OUTSIDE-ORIGINAL"
rm -f "$U/outlink"; ln -s ../outside/file.txt "$U/outlink"   # restore if replaced
code=$(st -T "$S/one" "$URL/sub")
case $code in 2*) notok "PUT onto a directory must fail (got $code)" ;; *) ok "PUT onto a directory fails ($code)" ;; esac
check "directory still a directory after PUT onto it" test -d "$U/sub" -a -f "$U/sub/r1m"
is "PUT with %00 in the path: 400" "$(st --path-as-is -T "$S/one" "$URL/nul%00.bin")" 400
check "refused uploads left no file (neither final nor temp)" wait_same "$before"

# --- Aborted uploads ---------------------------------------------------------------------
before=$(snapshot)
printf 'PUT /aborted1.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000\r\n\r\n' |
    raw --ca "$CERT" --body-bytes 102400 --abort
check "upload aborted by TCP reset after 100 KB of 10 MB: no file left" wait_same "$before"
printf 'PUT /aborted2.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000\r\n\r\n' |
    raw --ca "$CERT" --body-bytes 102400 --shutdown
check "upload ended by TLS close_notify after 100 KB of 10 MB: no file left" wait_same "$before"
printf 'PUT /new.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000\r\n\r\n' |
    raw --ca "$CERT" --body-bytes 102400 --abort
check "aborted upload replacing new.bin: old content kept" same_file "$S/r1m" "$U/new.bin"
check "aborted replacement: no temp file left" wait_same "$before"

# A slow upload killed mid-way; look at the directory while it is in progress.
curl -s --max-time 30 --cacert "$CERT" --limit-rate 512k -T "$S/r64m" "$URL/sub/slow.bin" -o /dev/null &
cpid=$!; PIDS+=("$cpid")
sleep 1.5
during=$(ls -A "$U/sub")
check "during an upload the final name does not exist yet" test ! -e "$U/sub/slow.bin"
if echo "$during" | grep -q '^\.'; then ok "during an upload a hidden temp file is in the target directory"
else notok "during an upload a hidden temp file is in the target directory (ls -A: $(echo $during))"; fi
kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
check "upload killed mid-way (curl --limit-rate, SIGTERM): no file left" wait_same "$before"

check "server alive after the aborted uploads" alive
is "server still serves after the aborted uploads" "$(st "$URL/new.bin")" 200
is "server still accepts uploads after the aborted ones" "$(st -T "$S/r16383" "$URL/after.bin")" 201
check "upload after the aborted ones: content" same_file "$S/r16383" "$U/after.bin"

# --- Without --allow-upload --------------------------------------------------------------
stop_serve
start_serve noup --root "$U" || { notok "kxfer serve (no upload) starts"; finish; }
before=$(snapshot)
is "PUT without --allow-upload: 405" "$(req noup -T "$S/one" "$URL/nope.bin")" 405
is "PUT without --allow-upload: Allow: GET, HEAD" "$(hdr "$T/noup.h" Allow)" "GET, HEAD"
kx put "$S/r16385" "$URL/nope2.bin" --ca "$CERT" --quiet 2>/dev/null
is "kxfer put to a server without --allow-upload: exit 6" "$?" 6
sleep 0.2
is "PUT without --allow-upload created nothing" "$(snapshot)" "$before"
finish
