#!/usr/bin/env bash
# In the guest: trees and parallel ranges over kTLS (see tests/ktls/75-tree.sh).
. "$(dirname "$0")/lib.sh"
TR=$W/root/tree
mkdir -p "$TR/sub/deeper" "$W/root/up"
for f in empty one r16383 r16384 r16385 r1m; do cp "$W/src/$f" "$TR/$f"; cp "$W/src/$f" "$TR/sub/deeper/$f"; done
cat "$W/src/r1m" "$W/src/r1m" "$W/src/r1m" "$W/src/r16385" >"$TR/sub/r3m"
manifest() { (cd "$1" && find . -type f ! -name '.*kxfer-*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }
mtimes() { (cd "$1" && find . -type f ! -name '.*kxfer-*' -printf '%p %T@\n' | sed 's/\.[0-9]*$//' | LC_ALL=C sort); }
NFILES=$(find "$TR" -type f | wc -l)

for c in TLS_AES_128_GCM_SHA256 TLS_CHACHA20_POLY1305_SHA256; do
    n=$(short "$c")
    start_serve "tree-$n" --root "$W/root" --ciphers "$c" --allow-upload || continue
    stat_mark
    kx get -r "$URL/tree/" -o "$W/got-$n" --ca "$CERT" --ktls on --parallel 3 --split-size 1M \
        --verify --json >"$W/g.json" 2>"$W/g.err"
    rc=$?
    is "$n: get -r --ktls on --parallel 3 --verify: exit 0" "$rc" 0
    [ "$rc" = 0 ] || diag "$W/g.err" "$W/g.json"
    is "$n: get -r over kTLS: every file identical" "$(manifest "$W/got-$n")" "$(manifest "$TR")"
    is "$n: get -r over kTLS: mtimes are the server's" "$(mtimes "$W/got-$n")" "$(mtimes "$TR")"
    check "$n: get -r --json: 3 connections, all ktls" json_has "$W/g.json" connections '{"ktls":3,"userspace":0,"plain":0}'
    check "$n: get -r --json: $NFILES files" json_has "$W/g.json" files "$NFILES"
    kx get --parallel 3 "$URL/tree/sub/r3m" -o "$W/r3m-$n" --ca "$CERT" --ktls on --quiet
    is "$n: get --parallel 3 of one file over kTLS: exit 0" "$?" 0
    check "$n: get --parallel 3 over kTLS: identical" same_file "$TR/sub/r3m" "$W/r3m-$n"
    kx put -r "$TR" "$URL/up/$n/" --ca "$CERT" --ktls on --parallel 2 --verify --json >"$W/p.json" 2>"$W/p.err"
    rc=$?
    is "$n: put -r --ktls on --parallel 2 --verify: exit 0" "$rc" 0
    [ "$rc" = 0 ] || diag "$W/p.err" "$W/p.json"
    is "$n: put -r over kTLS: every file identical" "$(manifest "$W/root/up/$n")" "$(manifest "$TR")"
    is "$n: put -r over kTLS: mtimes kept (X-OC-Mtime)" "$(mtimes "$W/root/up/$n")" "$(mtimes "$TR")"
    check "$n: put -r --json: 2 connections, all ktls" json_has "$W/p.json" connections '{"ktls":2,"userspace":0,"plain":0}'
    check "$n: kxfer serve still running" serve_alive
    stop_serve
    # client connections: listing + 3, HEAD + 3, listing + 2; each has kTLS both ways on
    # both ends
    stat_expect "$n: trees over kTLS" 22 22
done

# kernel TLS cannot update its key: at --key-limit the server ends a response early with
# close_notify, and the tree client asks again for the rest on a new connection
start_serve tree-keylimit --root "$W/root" --key-limit 64 || finish
kx get -r "$URL/tree/sub/" -o "$W/got-kl" --ca "$CERT" --ktls on --parallel 2 --split-size 1M --json \
    >"$W/kl.json" 2>"$W/kl.err"
rc=$?
is "get -r from serve --key-limit 64 over kTLS: exit 0" "$rc" 0
[ "$rc" = 0 ] || diag "$W/kl.err" "$W/kl.json"
is "get -r from serve --key-limit 64: identical (resumed at each limit)" "$(manifest "$W/got-kl")" "$(manifest "$TR/sub")"
check "the server ended responses early at its key limit" file_has "$SLOG" ' 20[06] [0-9]+ .* tx=ktls'
stop_serve
finish
