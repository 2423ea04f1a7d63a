#!/usr/bin/env bash
# Trees and parallel transfers between kxfer get/put and kxfer serve: get -r and put -r,
# --parallel and --split-size, the quick check (size and mtime) and --force, resuming an
# interrupted tree, a file that changes or shrinks during the transfer, --verify (RFC 9530) both
# ways, --limit-rate, --json, a full server (--max-conns), and servers that lie.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

R=$T/root
mkdir -p "$R/tree/a/b" "$R/tree/c" "$R/up"
TR=$R/tree
for i in $(seq 1 40); do head -c $(( (i * 7919) % 70000 )) /dev/urandom >"$TR/a/s$i"; done
head -c $((2 * 1048576 + 17)) /dev/urandom >"$TR/a/b/m.bin"
head -c $((12 * 1048576 + 3)) /dev/urandom >"$TR/big.bin"
: >"$TR/c/empty"
printf 'quote "and" space\n' >"$TR/c/odd name \"q\" ü.txt"
touch -d '2020-02-02 02:02:02' "$TR/a/s1"

start_serve tree --root "$R" --allow-upload --threads 2 || { notok "kxfer serve starts"; finish; }
manifest() { (cd "$1" && find . -type f ! -name '.*kxfer-*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }
mtimes() { (cd "$1" && find . -type f ! -name '.*kxfer-*' -printf '%p %T@\n' | sed 's/\.[0-9]*$//' | LC_ALL=C sort); }
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
NFILES=$(find "$TR" -type f | wc -l)
tree_bytes() { find "$TR" -type f -printf '%s\n' | awk '{s += $1} END {print s}'; }

# --- get -r ---------------------------------------------------------------------------------
kx get -r "$URL/tree/" -o "$T/got" --ca "$CERT" --parallel 4 --split-size 4M --json >"$T/g1.json" 2>"$T/g1.err"
is "get -r: exit 0" "$?" 0
is "get -r: every file, identical" "$(manifest "$T/got")" "$(manifest "$TR")"
is "get -r: mtimes are the server's" "$(mtimes "$T/got")" "$(mtimes "$TR")"
is "get -r --json: files, total, skipped, failed" "$(jget "$T/g1.json" '(j["files"], j["files_total"], j["skipped"], len(j["failed"]))')" "($NFILES, $NFILES, 0, 0)"
is "get -r --json: bytes" "$(jget "$T/g1.json" 'j["bytes"]')" "$(tree_bytes)"
is "get -r --json: connections by data path add up to 4" "$(jget "$T/g1.json" 'sum(j["connections"].values())')" 4
check "get -r: no part or state files left" test -z "$(find "$T/got" -name '.*kxfer-*')"
check "get -r --split-size 4M: big.bin was fetched as ranges" grep -q '/tree/big.bin 206' "$T/tree.log"

kx get -r "$URL/tree/" -o "$T/got" --ca "$CERT" --json >"$T/g2.json" 2>/dev/null
is "get -r again: every file skipped" "$(jget "$T/g2.json" '(j["files"], j["skipped"])')" "(0, $NFILES)"
head -c 333 /dev/urandom >>"$TR/a/s2"
kx get -r "$URL/tree/" -o "$T/got" --ca "$CERT" --json >"$T/g3.json" 2>/dev/null
is "get -r after one file grew: only it is fetched" "$(jget "$T/g3.json" '(j["files"], j["skipped"])')" "(1, $((NFILES - 1)))"
check "get -r after one file grew: identical" same_file "$TR/a/s2" "$T/got/a/s2"
kx get -r "$URL/tree/" -o "$T/got" --ca "$CERT" --force --json >"$T/g4.json" 2>/dev/null
is "get -r --force: every file fetched" "$(jget "$T/g4.json" '(j["files"], j["skipped"])')" "($NFILES, 0)"

# --- an interrupted tree resumes ---------------------------------------------------------------
timeout -s KILL 1.5 "$KXFER" get -r "$URL/tree/" -o "$T/part" --ca "$CERT" --parallel 2 --split-size 1M \
    --limit-rate 4M --quiet 2>/dev/null
check "an interrupted get -r left its part file hidden (.big.bin.kxfer-part)" test -f "$T/part/.big.bin.kxfer-part"
check "an interrupted get -r left nothing under big.bin's final name" test ! -e "$T/part/big.bin"
have=$(sed -n '2,$p' "$T/part/.big.bin.kxfer-state" 2>/dev/null | awk '{s += $1} END {print s + 0}')
kx get -r "$URL/tree/" -o "$T/part" --ca "$CERT" --json >"$T/g5.json" 2>/dev/null
is "rerun after the interruption: exit 0" "$?" 0
is "rerun after the interruption: identical" "$(manifest "$T/part")" "$(manifest "$TR")"
check "rerun after the interruption: fetched less than the whole tree again ($have bytes kept)" \
    test "$(jget "$T/g5.json" 'j["bytes"]')" -lt "$(tree_bytes)"

# --- a file that changes during the transfer is fetched again, never stitched -------------------
cp "$TR/big.bin" "$T/big.old"
kx get -r "$URL/tree/" -o "$T/chg" --ca "$CERT" --parallel 2 --split-size 1M --limit-rate 6M --quiet &
gp=$!
sleep 0.7
head -c $((12 * 1048576 + 3)) /dev/urandom >"$T/big.new"; mv "$T/big.new" "$TR/big.bin"
wait $gp
is "a file replaced during get -r: exit 0" "$?" 0
check "a file replaced during get -r: the new version, whole" same_file "$TR/big.bin" "$T/chg/big.bin"

# kxfer serve ends a response early (close_notify) when its file shrinks; the engine's resume
# is answered 200 for the new version, which is fetched again from scratch at its new size
# (planned at the old one it waited for bytes that never came: "no progress for 30 s").
mkdir -p "$R/shr"
# shrink_get NAME GET-ARGS...: kxfer get --limit-rate 8M while $R/shr/s shrinks from 48 MiB to
# 1 MiB; sets rc and secs.
shrink_get() {
    local name=$1 pid t0; shift
    head -c 48M /dev/urandom >"$R/shr/s"
    t0=$(date +%s)
    timeout 60 "$KXFER" get "$@" --ca "$CERT" --limit-rate 8M --quiet 2>"$T/$name.err" &
    pid=$!
    sleep 1
    truncate -s 1M "$R/shr/s"
    wait "$pid"; rc=$?
    secs=$(( $(date +%s) - t0 ))
}
for how in "get" "get --parallel 4" "get -r"; do
    case $how in
    "get") shrink_get shr1 "$URL/shr/s" -o "$T/shr1"; got=$T/shr1 ;;
    "get --parallel 4") shrink_get shr4 --parallel 4 "$URL/shr/s" -o "$T/shr4"; got=$T/shr4 ;;
    "get -r") shrink_get shrr -r "$URL/shr/" -o "$T/shrr"; got=$T/shrr/s ;;
    esac
    is "a file that shrinks during $how --limit-rate: exit 0" "$rc" 0
    check "a file that shrinks during $how --limit-rate: the current 1 MiB, whole" same_file "$R/shr/s" "$got"
    check "a file that shrinks during $how --limit-rate: done within 10 s (took $secs s)" test "$secs" -lt 10
    check "a file that shrinks during $how --limit-rate: no part or state file left" \
        test -z "$(find "$(dirname "$got")" -maxdepth 1 -name ".$(basename "$got").kxfer-*")"
done
rm -rf "$R/shr"

# --- --verify ----------------------------------------------------------------------------------
kx get -r "$URL/tree/" -o "$T/ver" --ca "$CERT" --verify --split-size 4M --quiet
is "get -r --verify from kxfer serve: exit 0" "$?" 0
is "get -r --verify: identical" "$(manifest "$T/ver")" "$(manifest "$TR")"
kx get --verify "$URL/tree/big.bin" -o "$T/one-ver.bin" --ca "$CERT" --quiet
is "get --verify of one file: exit 0" "$?" 0
check "get --verify of one file: identical" same_file "$TR/big.bin" "$T/one-ver.bin"
kx get --parallel 3 "$URL/tree/big.bin" -o "$T/one-par.bin" --ca "$CERT" --quiet
is "get --parallel 3 of one file: exit 0" "$?" 0
check "get --parallel 3 of one file: identical" same_file "$TR/big.bin" "$T/one-par.bin"
check "get --parallel 3 of one file: the file has the server's mtime" \
    test "$(stat -c %Y "$T/one-par.bin")" = "$(stat -c %Y "$TR/big.bin")"

# --- put -r --------------------------------------------------------------------------------------
kx put -r "$TR" "$URL/up/t1/" --ca "$CERT" --parallel 3 --json >"$T/p1.json" 2>"$T/p1.err"
is "put -r: exit 0" "$?" 0
is "put -r: every file, identical (directories made by the server)" "$(manifest "$R/up/t1")" "$(manifest "$TR")"
is "put -r: mtimes preserved through X-OC-Mtime" "$(mtimes "$R/up/t1")" "$(mtimes "$TR")"
is "put -r --json: files" "$(jget "$T/p1.json" '(j["files"], j["skipped"], len(j["failed"]))')" "($NFILES, 0, 0)"
kx put -r "$TR" "$URL/up/t1/" --ca "$CERT" --json >"$T/p2.json" 2>/dev/null
is "put -r again: every file skipped (the server's listing has the same size and mtime)" \
   "$(jget "$T/p2.json" '(j["files"], j["skipped"])')" "(0, $NFILES)"
kx put -r "$TR" "$URL/up/t1" --ca "$CERT" --force --verify --json >"$T/p3.json" 2>/dev/null
is "put -r --force --verify: every file uploaded and verified" "$(jget "$T/p3.json" '(j["exit_code"], j["files"])')" "(0, $NFILES)"
kx put --verify "$TR/a/b/m.bin" "$URL/up/single/" --ca "$CERT" --quiet
is "put --verify of one file into a new directory: exit 0" "$?" 0
check "put --verify of one file: identical" same_file "$TR/a/b/m.bin" "$R/up/single/m.bin"
check "put -r left no upload temporaries" test -z "$(find "$R/up" -name '.kxfer-upload-*')"

# --- the progress line on a terminal (script(1) gives kxfer a pty) ------------------------------
if command -v script >/dev/null; then
    script -qec "$KXFER get -r $URL/tree/ -o $T/tty --ca $CERT --limit-rate 8M --parallel 2" /dev/null \
        >"$T/tty.out" 2>&1 </dev/null
    is "get -r on a terminal: exit 0" "$?" 0
    check "get -r on a terminal: a progress line with files done of total, bytes, rate, ETA" \
        grep -qaE "[0-9]+/$NFILES files  .* / .*  [0-9.]+ MB/s  ETA [0-9]+ s" "$T/tty.out"
    check "get -r on a terminal: the progress line is cleared before the summary" \
        grep -qa $'\r\033\[K' "$T/tty.out"
else
    skip "progress line on a terminal: script(1) not installed"
fi

# --- --limit-rate --------------------------------------------------------------------------------
t0=$(date +%s.%N)
kx get --limit-rate 2M "$URL/tree/a/b/m.bin" -o "$T/slow.bin" --ca "$CERT" --quiet
t1=$(date +%s.%N)
check "get --limit-rate 2M of 2 MiB: identical" same_file "$TR/a/b/m.bin" "$T/slow.bin"
check "get --limit-rate 2M of 2 MiB took at least 0.8 s" python3 -c "import sys; sys.exit(0 if $t1 - $t0 >= 0.8 else 1)"
kx get --limit-rate 12 "$URL/tree/a/s1" -o "$T/x" --ca "$CERT" 2>"$T/lr.err"
is "get --limit-rate 12 (below 1K): usage error" "$?" 2
t0=$(date +%s.%N)
kx put --limit-rate 2M "$TR/a/b/m.bin" "$URL/up/slow/" --ca "$CERT" --quiet
t1=$(date +%s.%N)
check "put --limit-rate 2M of 2 MiB: identical" same_file "$TR/a/b/m.bin" "$R/up/slow/m.bin"
check "put --limit-rate 2M of 2 MiB took at least 0.8 s" python3 -c "import sys; sys.exit(0 if $t1 - $t0 >= 0.8 else 1)"
for bad in "--parallel 0" "--parallel 65" "--split-size 1K" "--split-size x" "--continue"; do
    kx get -r "$URL/tree/" -o "$T/never" --ca "$CERT" $bad 2>/dev/null
    is "get -r $bad: usage error (exit 2)" "$?" 2
done
check "bad options created nothing" test ! -e "$T/never"

# --- the open-file limit -------------------------------------------------------------------------
(ulimit -n 64; exec "$KXFER" get -r "$URL/tree/" -o "$T/fd64" --ca "$CERT" --parallel 16 --split-size 1M) 2>"$T/fd64.err"
is "get -r --parallel 16 under ulimit -n 64: exit 0" "$?" 0
is "get -r --parallel 16 under ulimit -n 64: identical" "$(manifest "$T/fd64")" "$(manifest "$TR")"
check "get -r under ulimit -n 64: says it uses fewer connections" grep -q "open-file limit (ulimit -n 64) allows" "$T/fd64.err"

# --- key updates: a userspace server at --key-limit sends KeyUpdates mid-response ----------------
stop_serve
start_serve keylimit --root "$R" --key-limit 64 --allow-upload || { notok "kxfer serve --key-limit 64 starts"; finish; }
kx get -r "$URL/tree/" -o "$T/kl" --ca "$CERT" --parallel 2 --split-size 4M --quiet
is "get -r from serve --key-limit 64 (KeyUpdate every 64 records): exit 0" "$?" 0
is "get -r across KeyUpdates: identical" "$(manifest "$T/kl")" "$(manifest "$TR")"
kx put -r "$TR" "$URL/up/kl/" --ca "$CERT" --parallel 2 --key-limit 64 --quiet
is "put -r --key-limit 64 (the client updates its key): exit 0" "$?" 0
is "put -r across KeyUpdates: identical" "$(manifest "$R/up/kl")" "$(manifest "$TR")"

# --- auth and pinning: every connection carries the token, every handshake checks the pin ------
stop_serve
echo "s3cret-tree-token" >"$T/token"
start_serve auth --root "$R" --token-file "$T/token" --allow-upload || { notok "kxfer serve --token-file starts"; finish; }
kx get -r "$URL/tree/" -o "$T/tok" --pin "$(pin_of "$CERT")" --token s3cret-tree-token --parallel 3 --quiet
is "get -r --pin --token against serve --token-file: exit 0" "$?" 0
is "get -r --pin --token: identical" "$(manifest "$T/tok")" "$(manifest "$TR")"
kx put -r "$TR/a" "$URL/up/tok/" --pin "$(pin_of "$CERT")" --token s3cret-tree-token --parallel 2 --quiet
is "put -r --pin --token: exit 0" "$?" 0
is "put -r --pin --token: identical" "$(manifest "$R/up/tok")" "$(manifest "$TR/a")"
kx get -r "$URL/tree/" -o "$T/notok" --ca "$CERT" --quiet 2>"$T/notok.err"
is "get -r without the token: exit 6 (the listing is refused with 401)" "$?" 6
check "get -r without the token: says 401" grep -q "401" "$T/notok.err"
kx get -r "$URL/tree/" -o "$T/badpin" --pin "sha256:$(printf '0%.0s' $(seq 64))" --token s3cret-tree-token --quiet 2>/dev/null
is "get -r with a wrong pin: exit 5" "$?" 5
check "get -r with a wrong pin: no file written" test -z "$(find "$T/badpin" -type f 2>/dev/null)"

stop_serve
newcert "$T" client "DNS:client" client || { notok "openssl req: client certificate"; finish; }
start_serve mtls --root "$R" --client-ca "$T/client.pem" || { notok "kxfer serve --client-ca starts"; finish; }
kx get -r "$URL/tree/a/b/" -o "$T/mtls" --ca "$CERT" --cert "$T/client.pem" --key "$T/client.key" --parallel 2 --quiet
is "get -r with a client certificate (mutual TLS): exit 0" "$?" 0
check "get -r with a client certificate: identical" same_file "$TR/a/b/m.bin" "$T/mtls/m.bin"
kx get -r "$URL/tree/a/b/" -o "$T/nomtls" --ca "$CERT" --quiet 2>/dev/null
is "get -r without the client certificate: exit 5" "$?" 5

# --- a full server: --parallel 16 against --max-conns 4 ---------------------------------------
stop_serve
start_serve full --root "$R" --threads 1 --max-conns 4 || { notok "kxfer serve --max-conns 4 starts"; finish; }
kx get -r "$URL/tree/" -o "$T/full" --ca "$CERT" --parallel 16 --split-size 1M --quiet
is "get -r --parallel 16 against --max-conns 4: exit 0 (backs off)" "$?" 0
is "get -r --parallel 16 against --max-conns 4: identical" "$(manifest "$T/full")" "$(manifest "$TR")"
check "the server answered some connections 503" grep -q ' 503 ' "$T/full.log"
stop_serve

# --- servers that lie ---------------------------------------------------------------------------
newcert "$T" peer "DNS:localhost,IP:127.0.0.1" || { notok "openssl req: peer certificate"; finish; }
PP=$(free_port)
python3 "$HERE/treepeer.py" "$PP" "$T/peer.pem" "$T/peer.key" "$TR/a/b/m.bin" &
PIDS+=("$!")
wait_port "$PP" 10 || { notok "treepeer.py starts"; finish; }
P="https://127.0.0.1:$PP"
kx get --verify "$P/bad-digest" -o "$T/bad.bin" --ca "$T/peer.pem" 2>"$T/bad.err"
is "get --verify, the server's digest is wrong: exit 8" "$?" 8
check "get --verify mismatch: nothing under the final name" test ! -e "$T/bad.bin"
check "get --verify mismatch: no part file kept" test -z "$(find "$T" -maxdepth 1 -name '.bad.bin.kxfer-*')"
check "get --verify mismatch: says so" grep -q "SHA-256 mismatch" "$T/bad.err"
kx get --parallel 2 "$P/no-length" -o "$T/nl.bin" --ca "$T/peer.pem" 2>"$T/nl.err"
is "get --parallel, HEAD without Content-Length: exit 7 with a reason" "$?" 7
kx get --parallel 2 "$P/wrong-range" -o "$T/wr.bin" --ca "$T/peer.pem" 2>"$T/wr.err"
is "get --parallel, a Content-Range other than asked: exit 7" "$?" 7
check "get --parallel, wrong Content-Range: nothing under the final name" test ! -e "$T/wr.bin"
check "get --parallel, wrong Content-Range: says what it asked and got" grep -q "asked for bytes" "$T/wr.err"
kx get --parallel 2 "$P/shrunk" -o "$T/shrunk.bin" --ca "$T/peer.pem" 2>"$T/shrunk.err"
is "get --parallel, the file shrank after the HEAD: exit 0 (planned again at its new size)" "$?" 0
check "get --parallel, the file shrank after the HEAD: the new 1 MiB + 5 version" \
    cmp -s "$T/shrunk.bin" <(cat "$TR/a/b/m.bin" "$TR/a/b/m.bin" | head -c 1048581)
kx get --parallel 2 "$P/changing" -o "$T/changing.bin" --ca "$T/peer.pem" 2>"$T/changing.err"
is "get --parallel, a new version at every request: exit 7" "$?" 7
check "get --parallel, a new version at every request: says it gave up after 4 transfers" \
    grep -q "the file changed on the server during 4 transfers" "$T/changing.err"
check "get --parallel, a new version at every request: no file, no part file" \
    test -z "$(find "$T" -maxdepth 1 -name '*changing.bin*')"
mkdir -p "$T/evil/inside"
(cd "$T/evil/inside" && kx get -r "$P/evil/" -o dst --ca "$T/peer.pem" --json >"$T/evil.json" 2>"$T/evil.err")
is "get -r, a listing naming ../escape: exit 7 (malformed listing)" "$?" 7
check "get -r, a listing naming ../escape: nothing written outside" test ! -e "$T/evil/escape" -a ! -e "$T/evil/inside/escape" -a ! -e "$T/b"
kx get -r "$P/notjson/" -o "$T/nj" --ca "$T/peer.pem" 2>"$T/nj.err"
is "get -r, a text listing: exit 7" "$?" 7
check "get -r, a text listing: says a JSON listing is needed" grep -q "not a JSON directory listing" "$T/nj.err"
kx get -r "$P/deep/" -o "$T/deep" --ca "$T/peer.pem" 2>"$T/deep.err"
is "get -r, an endless directory chain: exit 7" "$?" 7
check "get -r, an endless directory chain: says how deep" grep -q "deeper than" "$T/deep.err"
kx get -r "$P/missing/" -o "$T/miss" --ca "$T/peer.pem" 2>"$T/miss.err"
is "get -r of a missing directory: exit 6" "$?" 6
finish
