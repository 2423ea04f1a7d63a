#!/usr/bin/env bash
# Files that change while they are being sent over the userspace TLS 1.3 path, which seals
# records straight from the mapped file (xfer_map.c, put.c): a file that shrinks ends that
# one transfer as a short read does (no crash: the SIGBUS of the pages past the new end is
# caught), and the server goes on serving; a file that grows sends exactly the length it
# promised.  Both for kxfer serve sending and for kxfer put sending.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

R=$T/root
mkdir -p "$R"
big() { head -c 48M /dev/urandom >"$1"; }
# until_bytes FILE N: wait (at most 10 s) until FILE holds at least N bytes.
until_bytes() {
    local i
    for i in $(seq 100); do
        [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

start_serve serve --root "$R" --allow-upload --ktls off || { notok "kxfer serve starts"; finish; }

# --- the served file shrinks mid-response ---------------------------------------------------
# The clients read slowly (kxfer get into a pipe that stalls, curl --limit-rate), so that the
# server is mid-file, blocked on a full socket, when the file shrinks.
slow_reader() { head -c 4M >/dev/null; sleep 1.5; cat >/dev/null; }

big "$R/shrink"
( kx get --ca "$CERT" --quiet -o - "$URL/shrink" 2>"$T/err"; echo $? >"$T/rc" ) | slow_reader &
pid=$!
sleep 0.7
truncate -s 1M "$R/shrink"
wait "$pid"
is "shrink: kxfer get fails with exit 7 (the body ended early)" "$(cat "$T/rc")" 7
check "shrink: kxfer get says the body ended early" grep -q "ended early" "$T/err"
check "shrink: server alive" alive
is "shrink: the server serves the file again (now 1 MiB)" \
    "$(curl -s --cacert "$CERT" -o /dev/null -w '%{http_code} %{size_download}' "$URL/shrink")" "200 1048576"

big "$R/shrink-curl"
cp "$R/shrink-curl" "$T/orig"
curl -sS --cacert "$CERT" --limit-rate 8M -o "$T/got-curl" "$URL/shrink-curl" 2>"$T/err" &
pid=$!
until_bytes "$T/got-curl" $((4 << 20)) || true
truncate -s 1M "$R/shrink-curl"
wait "$pid"; rc=$?
is "shrink: curl reports a partial transfer (exit 18)" "$rc" 18
n=$(stat -c %s "$T/got-curl" 2>/dev/null || echo 0)
check "shrink: what curl got is a prefix of the original file" cmp -s -n "$n" "$T/got-curl" "$T/orig"
check "shrink (curl): server alive" alive
is "shrink (curl): the server serves the next request" "$(st "$URL/shrink-curl")" 200

# Shrunk within its last page (49999872-50003967): no SIGBUS, the page reads as zeros past
# the new end, so only the size check after each batch can see it.
head -c 50003000 /dev/urandom >"$R/odd"
( kx get --ca "$CERT" --quiet -o - "$URL/odd" 2>"$T/err"; echo $? >"$T/rc" ) | slow_reader &
pid=$!
sleep 0.7
truncate -s 50000000 "$R/odd"
wait "$pid"
is "shrink by less than a page: kxfer get fails with exit 7" "$(cat "$T/rc")" 7
check "shrink by less than a page: server alive" alive

# --- the served file grows mid-response ------------------------------------------------------
big "$R/grow"
cp "$R/grow" "$T/grow.orig"
kx get --ca "$CERT" --limit-rate 8M --quiet -o "$T/grow" "$URL/grow" 2>"$T/err" &
pid=$!
until_bytes "$T/.grow.kxfer-part" $((4 << 20)) || true
head -c 8M /dev/urandom >>"$R/grow"
wait "$pid"; rc=$?
is "grow: kxfer get succeeds" "$rc" 0
check "grow: exactly the bytes promised (the original file)" same_file "$T/grow" "$T/grow.orig"

# --- the uploaded file shrinks or grows under kxfer put ---------------------------------------
big "$T/up"
kx put --ca "$CERT" --limit-rate 8M --quiet "$T/up" "$URL/up-shrink" 2>"$T/err" &
pid=$!
sleep 1
truncate -s 1M "$T/up"
wait "$pid"; rc=$?
is "put, file shrinks: kxfer put fails with exit 3 (local I/O)" "$rc" 3
check "put, file shrinks: the reason says it shrank" grep -q "shrank" "$T/err"
sleep 0.3
check "put, file shrinks: nothing stored under the name" test ! -e "$R/up-shrink"
is "put, file shrinks: no temporary file left in the root" \
    "$(find "$R" -name '.*' -newer "$T/up" | wc -l)" 0
check "put, file shrinks: server alive" alive

big "$T/up2"
cp "$T/up2" "$T/up2.orig"
kx put --ca "$CERT" --limit-rate 8M --quiet "$T/up2" "$URL/up-grow" 2>"$T/err" &
pid=$!
sleep 1
head -c 8M /dev/urandom >>"$T/up2"
wait "$pid"; rc=$?
is "put, file grows: kxfer put succeeds" "$rc" 0
check "put, file grows: the stored file is the size put announced" same_file "$R/up-grow" "$T/up2.orig"

finish
