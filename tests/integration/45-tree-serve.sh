#!/usr/bin/env bash
# What a tree client needs from kxfer serve: JSON directory listings (nginx's autoindex
# format: shape, escaping, types, sizes, mtimes, symlinks, HEAD), PUT making missing parent
# directories (never through a symlink, never outside the root), X-OC-Mtime, and RFC 9530
# digests: Repr-Digest on GET/HEAD/206 with its memory and xattr cache (and when the cache
# must not be believed), PUT checked against Repr-Digest, Want-Repr-Digest on PUT.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

R=$T/root
O=$T/outside
mkdir -p "$R/sub/inner" "$R/emptydir" "$O"
echo "hello" >"$R/a.txt"
printf 'q' >"$R/q\"uote"
printf 'sp' >"$R/with space.txt"
printf 'utf' >"$R/café-€.txt"
printf 'tab' >"$R/tab	name"
printf 'bad' >"$R/bad$(printf '\377')name"
printf 'inner' >"$R/sub/inner.txt"
head -c 1048576 /dev/urandom >"$R/r1m"
: >"$R/empty"
: >"$R/.kxfer-upload-0123456789abcdef"    # an upload in progress: never listed
mkfifo "$R/fifo"
echo "OUTSIDE" >"$O/file.txt"
ln -s a.txt "$R/in"                       # file inside the root
ln -s sub "$R/insub"                      # directory inside the root
ln -s ../outside/file.txt "$R/out"        # leads outside
ln -s nowhere "$R/dang"                   # dangles
ln -s ../../outside "$R/sub/esc"          # a directory outside, in the middle of paths
ln -s newplace "$R/tomissing"             # inside, but to something missing
ln -s ../outside/nothere "$R/outmissing"  # outside, to something missing

start_serve tree --root "$R" --allow-upload || { notok "kxfer serve --allow-upload starts"; finish; }
J=(-H 'Accept: application/json')
# mtime_of FILE: its mtime as an HTTP date (of the symlink itself with -h).
mtime_of() {
    if [ "$1" = -h ]; then LC_ALL=C date -u -d "@$(stat -c %Y "$2")" '+%a, %d %b %Y %H:%M:%S GMT'
    else LC_ALL=C date -u -r "$1" '+%a, %d %b %Y %H:%M:%S GMT'; fi
}
# entries BODY: one "name<TAB>type<TAB>size-or-none<TAB>mtime" line per entry (JSON parsed
# by python; a tab in a name written as \t), or "INVALID: why".
entries() {
    PYTHONIOENCODING=utf-8 python3 - "$1" <<'EOF'
import json, sys
try:
    v = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
except Exception as e:
    print("INVALID:", e); sys.exit(0)
for e in v:
    name = e["name"].replace("\t", "\\t")
    print("\t".join([name, e["type"], str(e.get("size", "none")), e["mtime"]]))
EOF
}
# entry NAME: that entry's line from $T/list.tsv, without the name.
entry() { awk -F'\t' -v n="$1" '$1 == n { print $2 "\t" $3 "\t" $4 }' "$T/list.tsv"; }
TAB=$'\t'

# --- JSON listing ------------------------------------------------------------------------
is "GET / with Accept: application/json: 200" "$(req list "${J[@]}" "$URL/")" 200
is "JSON listing: Content-Type application/json" "$(hdr "$T/list.h" Content-Type)" "application/json"
entries "$T/list.b" >"$T/list.tsv"
check "JSON listing parses with python's json" sh -c "! grep -q '^INVALID' '$T/list.tsv'"
check "JSON listing: nginx's exact shape ([ CRLF {...}, CRLF ... CRLF ])" python3 - "$T/list.b" <<'EOF'
import re, sys
b = open(sys.argv[1], "rb").read().decode("utf-8")
assert b.startswith("[\r\n{ ") and b.endswith(" }\r\n]"), repr(b[:20] + b[-20:])
lines = b[3:-3].split("\r\n")
date = r'[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT'
pat = re.compile(r'^\{ "name":"(?:[^"\\]|\\.)*", "type":"(file|directory|other)", "mtime":"' + date +
                 r'"(, "size":\d+)? \}$')
for i, l in enumerate(lines):
    last = i == len(lines) - 1
    assert last or l.endswith(","), l
    m = pat.match(l if last else l[:-1])
    assert m, l
    assert (m.group(1) == "file") == (m.group(2) is not None), l
EOF
names=$(cut -f1 "$T/list.tsv" | tr '\n' '|')
want=$(cd "$R" && printf '%s\n' * | PYTHONIOENCODING=utf-8 python3 -c '
import sys; n = [l for l in sys.stdin.buffer.read().split(b"\n") if l]
print("|".join(l.decode("utf-8", "replace").replace("\t", "\\t") for l in sorted(n)) + "|")')
is "JSON listing: every name, sorted, no '.', '..' or upload temporaries" "$names" "$want"
check "JSON listing: no upload temporary" sh -c "! grep -q kxfer-upload '$T/list.b'"
is "a.txt: file, size, mtime" "$(entry a.txt)" "file${TAB}6${TAB}$(mtime_of "$R/a.txt")"
is "r1m: size 1048576" "$(entry r1m | cut -f2)" 1048576
is "empty: file of size 0" "$(entry empty | cut -f1,2)" "file${TAB}0"
is "sub: directory, no size, mtime" "$(entry sub)" "directory${TAB}none${TAB}$(mtime_of "$R/sub")"
is "emptydir: directory" "$(entry emptydir | cut -f1,2)" "directory${TAB}none"
is "fifo: other, no size" "$(entry fifo | cut -f1,2)" "other${TAB}none"
is "symlink to a file inside: what it resolves to" "$(entry in)" "file${TAB}6${TAB}$(mtime_of "$R/a.txt")"
is "symlink to a directory inside: directory" "$(entry insub)" "directory${TAB}none${TAB}$(mtime_of "$R/sub")"
is "symlink leading outside: other, the link's own mtime" "$(entry out)" "other${TAB}none${TAB}$(mtime_of -h "$R/out")"
is "dangling symlink: other" "$(entry dang | cut -f1,2)" "other${TAB}none"
is "symlink to something missing inside: other" "$(entry tomissing | cut -f1,2)" "other${TAB}none"
is "name with a quote: listed" "$(entry 'q"uote' | cut -f1,2)" "file${TAB}1"
check "name with a quote: escaped as \\\" in the body" grep -q '"name":"q\\"uote"' "$T/list.b"
is "name with a space: listed" "$(entry 'with space.txt' | cut -f2)" 2
is "UTF-8 name: listed as itself" "$(entry 'café-€.txt' | cut -f2)" 3
check "UTF-8 name: raw UTF-8 in the body" grep -q '"name":"café-€.txt"' "$T/list.b"
check "name with a tab: escaped as \\t" grep -q '"name":"tab\\tname"' "$T/list.b"
is "name that is not UTF-8: U+FFFD, still valid JSON" "$(entry $'bad\xef\xbf\xbdname' | cut -f2)" 3
len=$(stat -c %s "$T/list.b")
is "Content-Length: the body's length" "$(hdr "$T/list.h" Content-Length)" "$len"
is "HEAD / with Accept JSON: 200" "$(req head -I "${J[@]}" "$URL/")" 200
is "HEAD: same Content-Type" "$(hdr "$T/head.h" Content-Type)" "application/json"
is "HEAD: same Content-Length as GET" "$(hdr "$T/head.h" Content-Length)" "$len"
printf 'HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nConnection: close\r\n\r\n' |
    raw --ca "$CERT" --timeout 5 >"$T/rawhead"
is "HEAD (raw): 200 and no body after the head" "$(status_line "$T/rawhead")$(body_of "$T/rawhead" | wc -c)" 2000
is "Accept: text/html, application/json;q=0.9 -> JSON" \
    "$(req acc -H 'Accept: text/html, application/json;q=0.9' "$URL/" >/dev/null; hdr "$T/acc.h" Content-Type)" \
    "application/json"
is "GET /sub/ as JSON: 200" "$(req sublist "${J[@]}" "$URL/sub/")" 200
entries "$T/sublist.b" >"$T/list.tsv"
is "GET /sub/ as JSON: its entries" "$(cut -f1,2 "$T/list.tsv" | tr '\n' '|')" \
    "esc${TAB}other|inner${TAB}directory|inner.txt${TAB}file|"
is "GET /insub/ (a symlink inside) as JSON: 200, same entries" \
    "$(req insub "${J[@]}" "$URL/insub/")$(cmp -s "$T/insub.b" "$T/sublist.b" && echo same)" 200same
req emptyl "${J[@]}" "$URL/emptydir/" >/dev/null
is "empty directory as JSON: exactly [ CRLF ]" "$(od -An -c "$T/emptyl.b" | tr -s ' ')" " [ \r \n ]"
is "GET / without Accept: the plain-text listing" "$(req plain "$URL/")$(hdr "$T/plain.h" Content-Type)" \
    "200text/plain; charset=utf-8"
check "plain-text listing: sub/ with its slash" grep -qx 'sub/' "$T/plain.b"
is "GET /leaks/ through a symlink leaving the root, as JSON: 403" \
    "$(st "${J[@]}" "$URL/sub/esc/")" 403

# --- PUT makes missing directories -------------------------------------------------------
printf 'payload-1' >"$T/p1"
snapshot() { (cd "$T" && find root outside -printf '%p %y %s\n' | LC_ALL=C sort); }
is "PUT /n1/n2/n3/f.bin (missing directories): 201" "$(st -T "$T/p1" "$URL/n1/n2/n3/f.bin")" 201
check "the directories were made and the file is there" same_file "$T/p1" "$R/n1/n2/n3/f.bin"
check "the new directories are real directories" test -d "$R/n1" -a ! -L "$R/n1" -a -d "$R/n1/n2/n3"
is "PUT /sub/inner/x/y/f (existing, then missing): 201" "$(st -T "$T/p1" "$URL/sub/inner/x/y/f")" 201
check "PUT into existing + new directories: content" same_file "$T/p1" "$R/sub/inner/x/y/f"
is "PUT /n1/n2/g (all existing): 201" "$(st -T "$T/p1" "$URL/n1/n2/g")" 201
kx put "$T/p1" "$URL/kput/dir/p1" --ca "$CERT" --quiet
is "kxfer put into missing directories: exit 0" "$?" 0
check "kxfer put into missing directories: on disk" same_file "$T/p1" "$R/kput/dir/p1"
pids=()
for i in 1 2 3 4 5 6; do st -T "$T/p1" "$URL/race/a/b/c/f$i" >"$T/race$i" & pids+=($!); done
wait "${pids[@]}"
is "six concurrent PUTs making the same directories: all 201" "$(cat "$T"/race? | tr -d '\n')" 201201201201201201
before=$(snapshot)
is "PUT beneath a file (/a.txt/x/f): 409" "$(req nd -T "$T/p1" "$URL/a.txt/x/f")" 409
check "409 body says which component is not a directory" grep -q '/a.txt: it is not a directory' "$T/nd.b"
is "PUT /a.txt/f: 409" "$(st -T "$T/p1" "$URL/a.txt/f")" 409
is "PUT through a symlink leaving the root, mid-path (/sub/esc/n1/n2/f): 403" \
    "$(st -T "$T/p1" "$URL/sub/esc/n1/n2/f")" 403
check "nothing made outside the root through the symlink" test ! -e "$O/n1"
is "PUT through a symlink leaving the root to a missing dir (/outmissing/a/f): 403" \
    "$(st -T "$T/p1" "$URL/outmissing/a/f")" 403
check "the missing directory outside was not made" test ! -e "$O/nothere"
is "PUT through a symlink inside the root, with missing dirs (/insub/new/f): 403" \
    "$(req sl -T "$T/p1" "$URL/insub/new/f")" 403
check "403 body names the symlink" grep -q '/insub is a symlink' "$T/sl.b"
is "PUT through a symlink to a missing target (/tomissing/x/f): 403" "$(st -T "$T/p1" "$URL/tomissing/x/f")" 403
check "the symlink's missing target was not made" test ! -e "$R/newplace"
printf 'PUT /big1/big2/f HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1152921504606846976\r\n\r\n' |
    raw --ca "$CERT" --timeout 5 >"$T/huge"
is "PUT of 2^60 bytes into missing directories: 413" "$(status_line "$T/huge")" 413
is "PUT with a bad X-OC-Mtime into missing directories: 400" \
    "$(st -T "$T/p1" -H 'X-OC-Mtime: x' "$URL/bad1/bad2/f")" 400
is "refused PUTs made nothing, inside or outside the root" "$(snapshot)" "$before"
check "server alive after the mkdir cases" alive

# --- X-OC-Mtime --------------------------------------------------------------------------
is "PUT with X-OC-Mtime: 1600000000: 201" "$(req mt -T "$T/p1" -H 'X-OC-Mtime: 1600000000' "$URL/mt.bin")" 201
is "answer says X-OC-MTime: accepted" "$(hdr "$T/mt.h" X-OC-MTime)" accepted
is "the file's mtime is 1600000000" "$(stat -c %Y "$R/mt.bin")" 1600000000
check "and its content arrived" same_file "$T/p1" "$R/mt.bin"
is "GET Last-Modified says so" "$(req mtg "$URL/mt.bin" >/dev/null; hdr "$T/mtg.h" Last-Modified)" \
    "Sun, 13 Sep 2020 12:26:40 GMT"
req mtl "${J[@]}" "$URL/" >/dev/null; entries "$T/mtl.b" >"$T/list.tsv"
is "the JSON listing says so" "$(entry mt.bin | cut -f3)" "Sun, 13 Sep 2020 12:26:40 GMT"
is "X-OC-Mtime with a fraction (1600000000.25): 204 replacing" \
    "$(req mt2 -T "$T/p1" -H 'X-OC-Mtime: 1600000000.25' "$URL/mt.bin")$(hdr "$T/mt2.h" X-OC-MTime)" 204accepted
is "fraction: nanoseconds set" "$(stat -c %y "$R/mt.bin")" "2020-09-13 12:26:40.250000000 +0000"
is "X-OC-Mtime: 0 (the epoch): 201" "$(st -T "$T/p1" -H 'X-OC-Mtime: 0' "$URL/mt0.bin")$(stat -c %Y "$R/mt0.bin")" 2010
is "no X-OC-Mtime: no X-OC-MTime in the answer" "$(req nomt -T "$T/p1" "$URL/nomt.bin")$(hdr "$T/nomt.h" X-OC-MTime)" 201
before=$(snapshot)
for v in abc -5 12. .5 1e9 0x10 '12 34' 1600000000.5x 99999999999999 253402300800 '+5'; do
    is "X-OC-Mtime '$v': 400" "$(req badmt -T "$T/p1" -H "X-OC-Mtime: $v" "$URL/badmt.bin")" 400
done
check "400 body says what X-OC-Mtime must be" grep -q 'seconds since the epoch' "$T/badmt.b"
is "X-OC-Mtime empty: 400" "$(st -T "$T/p1" -H 'X-OC-Mtime;' "$URL/badmt.bin")" 400
is "invalid X-OC-Mtime wrote nothing (no file, no temporary)" "$(snapshot)" "$before"

# --- Repr-Digest on GET and HEAD ---------------------------------------------------------
b64() { openssl dgst -sha256 -binary "$1" | base64; }
W=(-H 'Want-Repr-Digest: sha-256=5')
is "GET r1m with Want-Repr-Digest: 200" "$(req dg "${W[@]}" "$URL/r1m")" 200
is "GET: Repr-Digest is the file's SHA-256" "$(hdr "$T/dg.h" Repr-Digest)" "sha-256=:$(b64 "$R/r1m"):"
check "GET with a digest: body intact" same_file "$R/r1m" "$T/dg.b"
is "HEAD: the same Repr-Digest" "$(req dgh -I "${W[@]}" "$URL/r1m" >/dev/null; hdr "$T/dgh.h" Repr-Digest)" \
    "sha-256=:$(b64 "$R/r1m"):"
is "Range bytes=100-199: 206" "$(req dgr "${W[@]}" -r 100-199 "$URL/r1m")" 206
is "206: Repr-Digest of the whole file" "$(hdr "$T/dgr.h" Repr-Digest)" "sha-256=:$(b64 "$R/r1m"):"
is "206: 100 bytes" "$(stat -c %s "$T/dgr.b")" 100
is "empty file: the SHA-256 of nothing" "$(req dge "${W[@]}" "$URL/empty" >/dev/null; hdr "$T/dge.h" Repr-Digest)" \
    "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
is "GET through a symlink inside: the target's digest" \
    "$(req dgl "${W[@]}" "$URL/in" >/dev/null; hdr "$T/dgl.h" Repr-Digest)" "sha-256=:$(b64 "$R/a.txt"):"
is "without Want-Repr-Digest: no Repr-Digest" "$(req nodg "$URL/r1m")$(hdr "$T/nodg.h" Repr-Digest)" 200
for v in 'sha-512=5' 'sha-256=0' 'sha-256=11' 'sha-256' 'sha-256=' '!!!garbage' 'sha-256=5;x' \
         'sha-256=-1' 'sha-256=99999999999999999999'; do
    is "Want-Repr-Digest '$v': 200, no Repr-Digest" \
        "$(req wg -H "Want-Repr-Digest: $v" "$URL/a.txt")$(hdr "$T/wg.h" Repr-Digest)" 200
done
is "Want-Repr-Digest 'sha-512=3, sha-256=1': the sha-256 one" \
    "$(req wm -H 'Want-Repr-Digest: sha-512=3, sha-256=1' "$URL/a.txt" >/dev/null; hdr "$T/wm.h" Repr-Digest)" \
    "sha-256=:$(b64 "$R/a.txt"):"
is "Want-Repr-Digest on a directory: the listing, no digest" \
    "$(req wd "${W[@]}" "$URL/sub/")$(hdr "$T/wd.h" Repr-Digest)" 200
check "server alive after the Want-Repr-Digest cases" alive

# Where the attribute can live: $T when its filesystem takes user xattrs, else /var/tmp.
xattr_ok() { python3 -c 'import os,sys; f=sys.argv[1]+"/.xattr-probe"; open(f,"w").close()
try: os.setxattr(f, "user.kxfer.probe", b"1")
finally: os.unlink(f)' "$1" 2>/dev/null; }
getx() { python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.kxfer.sha256").decode())' "$1" 2>/dev/null; }
XR=
if xattr_ok "$R"; then XR=$R
else
    XT=$(mktemp -d /var/tmp/kxfer-x.XXXXXX 2>/dev/null) && xattr_ok "$XT" && XR=$XT/root
    [ -n "$XR" ] || { [ -n "${XT:-}" ] && rm -rf "$XT"; }
    [ -n "$XR" ] && trap 'cleanup; rm -rf "$XT"' EXIT
fi
if [ -z "$XR" ]; then
    skip "digest xattr cases: neither $T nor /var/tmp takes user xattrs"
else
    [ "$XR" != "$R" ] && { mkdir -p "$XR"; cp "$R/r1m" "$XR/"; stop_serve
        start_serve xtree --root "$XR" --allow-upload || { notok "server on $XR starts"; finish; }; }
    req xa "${W[@]}" "$URL/r1m" >/dev/null
    x=$(getx "$XR/r1m")
    eval "$(stat -c 'dev=%d ino=%i size=%s' "$XR/r1m")"
    mt=$(python3 -c 'import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns)' "$XR/r1m")
    is "after a GET with a digest: user.kxfer.sha256 = v1 DEV INO SIZE MTIME_NS CTIME_NS B64" \
        "$(echo "$x" | cut -d' ' -f1-5,7)" "v1 $dev $ino $size $mt $(b64 "$XR/r1m")"
    is "the stored ctime is within 20 ms of the file's (so a restarted server believes it)" \
        "$(python3 -c 'import os,sys; p=sys.argv[1]; s=os.stat(p)
late = s.st_ctime_ns - int(os.getxattr(p, "user.kxfer.sha256").split()[5]); print(0 <= late <= 20000000)' "$XR/r1m")" True
    # Modify r1m keeping its size and mtime: only ctime tells.
    sleep 0.1
    python3 - "$XR/r1m" <<'EOF'
import os, sys
p = sys.argv[1]; s = os.stat(p)
with open(p, "r+b") as f:
    f.write(bytes(b ^ 0xff for b in f.read(4096)))
os.utime(p, ns=(s.st_atime_ns, s.st_mtime_ns))
EOF
    is "modified, same size and mtime restored: the new digest (memory cache not believed)" \
        "$(req xb "${W[@]}" "$URL/r1m" >/dev/null; hdr "$T/xb.h" Repr-Digest)" "sha-256=:$(b64 "$XR/r1m"):"
    is "the attribute follows: the new digest" "$(getx "$XR/r1m" | cut -d' ' -f7)" "$(b64 "$XR/r1m")"
    # A fresh server has only the attribute: plant a fake digest with the current ctime.
    stop_serve; start_serve xtree2 --root "$XR" --allow-upload || { notok "server restarts"; finish; }
    FAKE=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
    plant() { # FILE [INO]: a v1 attribute saying FAKE, for FILE's state now (or another inode's)
        python3 - "$1" "$FAKE" "${2:-}" <<'EOF'
import os, sys
p, fake, ino = sys.argv[1], sys.argv[2], sys.argv[3]
os.setxattr(p, "user.kxfer.sha256", b"x")   # setxattr sets ctime to now: then read it...
s = os.stat(p)
v = "v1 %d %d %d %d %d %s" % (s.st_dev, int(ino) if ino else s.st_ino, s.st_size, s.st_mtime_ns,
                             s.st_ctime_ns, fake)
os.setxattr(p, "user.kxfer.sha256", v.encode())  # ...and this moves it by a tick at most
EOF
    }
    plant "$XR/r1m"
    is "restarted server: the attribute is believed (ctime within 20 ms of the one stored)" \
        "$(req xc "${W[@]}" "$URL/r1m" >/dev/null; hdr "$T/xc.h" Repr-Digest)" "sha-256=:$FAKE:"
    sleep 0.1; chmod 0640 "$XR/r1m"
    is "after a chmod (ctime moved on): the attribute is not believed, real digest" \
        "$(req xd "${W[@]}" "$URL/r1m" >/dev/null; hdr "$T/xd.h" Repr-Digest)" "sha-256=:$(b64 "$XR/r1m"):"
    cp "$XR/r1m" "$XR/copy"
    plant "$XR/copy" "$(stat -c %i "$XR/r1m")"
    is "an attribute naming another inode (a copied one) is not believed" \
        "$(req xe "${W[@]}" "$URL/copy" >/dev/null; hdr "$T/xe.h" Repr-Digest)" "sha-256=:$(b64 "$XR/copy"):"
    setfattr -n user.kxfer.sha256 -v "garbage" "$XR/copy" 2>/dev/null ||
        python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.kxfer.sha256", b"garbage")' "$XR/copy"
    is "a garbage attribute: ignored, real digest" \
        "$(req xf "${W[@]}" "$URL/copy" >/dev/null; hdr "$T/xf.h" Repr-Digest)" "sha-256=:$(b64 "$XR/copy"):"
    printf 'uploaded' >"$T/up1"
    req xg -T "$T/up1" -H "Repr-Digest: sha-256=:$(b64 "$T/up1"):" "$URL/xup.bin" >/dev/null
    is "an upload with a digest leaves the attribute on the new file" \
        "$(getx "$XR/xup.bin" | cut -d' ' -f3,7)" "$(stat -c %i "$XR/xup.bin") $(b64 "$T/up1")"
    [ "$XR" != "$R" ] && { stop_serve
        start_serve tree2 --root "$R" --allow-upload || { notok "server restarts on $R"; finish; }; }
fi

# --- PUT with Repr-Digest / Want-Repr-Digest ---------------------------------------------
head -c $((5 * 1048576 + 17)) /dev/urandom >"$T/big"
D=$(b64 "$T/big")
is "PUT 5 MiB with the right Repr-Digest: 201" "$(req pd -T "$T/big" -H "Repr-Digest: sha-256=:$D:" "$URL/pd.bin")" 201
is "201 carries Repr-Digest of what was written" "$(hdr "$T/pd.h" Repr-Digest)" "sha-256=:$D:"
check "the file is on disk" same_file "$T/big" "$R/pd.bin"
is "GET it back with Want-Repr-Digest: the same digest" \
    "$(req pdg "${W[@]}" "$URL/pd.bin" >/dev/null; hdr "$T/pdg.h" Repr-Digest)" "sha-256=:$D:"
is "PUT replacing with the right digest and X-OC-Mtime: 204, both fields" \
    "$(req pd2 -T "$T/big" -H "Repr-Digest: sha-256=:$D:" -H 'X-OC-Mtime: 1500000000' "$URL/pd.bin")$(hdr "$T/pd2.h" Repr-Digest)$(hdr "$T/pd2.h" X-OC-MTime)" \
    "204sha-256=:$D:accepted"
is "and the mtime is set" "$(stat -c %Y "$R/pd.bin")" 1500000000
WRONG=$(b64 "$T/p1")
before=$(snapshot)
is "PUT with a wrong Repr-Digest: 400" "$(req bad -T "$T/big" -H "Repr-Digest: sha-256=:$WRONG:" "$URL/wrong.bin")" 400
is "400 body: what was received and what the request said" "$(cat "$T/bad.b")" \
    "Repr-Digest mismatch: received sha-256 :$D:, the request said :$WRONG:"
is "400 carries Repr-Digest of what was received" "$(hdr "$T/bad.h" Repr-Digest)" "sha-256=:$D:"
is "wrong digest: no file, no temporary left" "$(snapshot)" "$before"
is "wrong digest replacing pd.bin: 400" "$(st -T "$T/p1" -H "Repr-Digest: sha-256=:$D:" "$URL/pd.bin")" 400
check "wrong digest replacing: old content kept" same_file "$T/big" "$R/pd.bin"
is "wrong digest into missing directories: 400" \
    "$(st -T "$T/p1" -H "Repr-Digest: sha-256=:$D:" "$URL/wd1/wd2/f")" 400
check "wrong digest into missing dirs: no file (directories may stay, like nginx)" test ! -e "$R/wd1/wd2/f"
check "no upload temporary anywhere" sh -c "! find '$R' -name '.kxfer-upload-*' ! -name '.kxfer-upload-0123456789abcdef' | grep -q ."
is "keep-alive after a mismatch: the next request reuses the connection (0 new connects)" \
    "$(curl -s -o /dev/null -w '%{http_code}\n' --cacert "$CERT" -T "$T/p1" -H "Repr-Digest: sha-256=:$D:" \
        "$URL/ka.bin" --next -s -o /dev/null -w '%{http_code}%{num_connects}' --cacert "$CERT" "$URL/a.txt" | tr -d '\n')" \
    4002000
is "PUT with Want-Repr-Digest only: 201 and the digest" \
    "$(req pw -T "$T/big" "${W[@]}" "$URL/pw.bin")$(hdr "$T/pw.h" Repr-Digest)" "201sha-256=:$D:"
is "PUT with Want-Repr-Digest replacing: 204 and the digest" \
    "$(req pw2 -T "$T/p1" "${W[@]}" "$URL/pw.bin")$(hdr "$T/pw2.h" Repr-Digest)" "204sha-256=:$WRONG:"
is "empty PUT with Want-Repr-Digest: the SHA-256 of nothing" \
    "$(req pwe -T "$R/empty" "${W[@]}" "$URL/pwe.bin")$(hdr "$T/pwe.h" Repr-Digest)" \
    "201sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
is "PUT without either: no Repr-Digest" "$(req pn -T "$T/p1" "$URL/pn.bin")$(hdr "$T/pn.h" Repr-Digest)" 201
is "PUT with Repr-Digest of another algorithm only: not checked, 201" \
    "$(st -T "$T/p1" -H 'Repr-Digest: sha-512=:AAAA:' "$URL/other.bin")" 201
is "PUT with Want-Repr-Digest garbage: 201, no digest" \
    "$(req pg -T "$T/p1" -H 'Want-Repr-Digest: ;;;=' "$URL/pg.bin")$(hdr "$T/pg.h" Repr-Digest)" 201
before=$(snapshot)
for v in 'sha-256=garbage' 'sha-256=:abc:' 'sha-256=:!!!!:' 'sha-256=::' "sha-256=:${D%=}:" \
         "sha-256=:${D}AAAA:" "sha-256=$D" 'sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:'; do
    is "Repr-Digest '$v': 400 before the body" "$(req mal -T "$T/p1" -H "Repr-Digest: $v" "$URL/mal.bin")" 400
done
check "400 body says what Repr-Digest must be" grep -q 'malformed Repr-Digest' "$T/mal.b"
printf 'PUT /mal2.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nRepr-Digest: sha-256=:x:\r\nContent-Length: 10000000\r\n\r\n' |
    raw --ca "$CERT" --timeout 5 >"$T/mal2"
is "malformed Repr-Digest, no Expect, 10 MB announced: 400 at once" "$(status_line "$T/mal2")" 400
is "malformed Repr-Digest wrote nothing" "$(snapshot)" "$before"
check "server alive after the digest cases" alive

# --- The cache across threads ------------------------------------------------------------
stop_serve
start_serve threads --root "$R" --threads 4 || { notok "kxfer serve --threads 4 starts"; finish; }
pids=()
for i in 1 2 3 4 5 6 7 8; do
    curl -s -o /dev/null -D "$T/th$i.h" --max-time 30 --cacert "$CERT" "${W[@]}" "$URL/r1m" & pids+=($!)
done
wait "${pids[@]}"
is "8 concurrent GETs with digests on 4 threads: all the same, right digest" \
    "$(for i in 1 2 3 4 5 6 7 8; do hdr "$T/th$i.h" Repr-Digest; done | sort -u)" "sha-256=:$(b64 "$R/r1m"):"
check "server alive at the end" alive

# --- hashing happens off the event loop ------------------------------------------------------
# One worker thread; a 1 GiB file (sparse: no disk) hashed for the first time takes most of a
# second.  Meanwhile the same worker must answer another client at once.
stop_serve
mkdir -p "$T/hroot"
truncate -s 1G "$T/hroot/huge.bin"
echo small >"$T/hroot/small.txt"
start_serve hashing --root "$T/hroot" --threads 1 || { notok "kxfer serve --threads 1 starts"; finish; }
: >"$T/order"
( st -I -H 'Want-Repr-Digest: sha-256=10' "$URL/huge.bin" >/dev/null; echo huge >>"$T/order" ) &
hp=$!
sleep 0.1
( st "$URL/small.txt" >/dev/null; echo small >>"$T/order" ) &
sp=$!
wait "$hp" "$sp"
is "while one worker's file is hashed, it answers another request first" "$(tr '\n' ' ' <"$T/order")" "small huge "
req huge2 -I -H 'Want-Repr-Digest: sha-256=10' "$URL/huge.bin" >/dev/null
is "the 1 GiB file's digest (computed on a hashing thread)" "$(hdr "$T/huge2.h" Repr-Digest)" \
   "sha-256=:$(head -c 1073741824 /dev/zero | openssl dgst -sha256 -binary | base64):"
check "server alive after hashing" alive
finish
