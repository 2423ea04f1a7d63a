#!/usr/bin/env bash
# make demo: serve a 1 GiB file with kxfer serve, download it with kxfer get --pin,
# verify its SHA-256, print the transfer summary, clean up; then a kxfer bench --quick table
# of every data path on this host.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
kxfer=${KXFER:-$top/build/kxfer}
size_mb=${DEMO_SIZE_MB:-1024}
work=$(mktemp -d "${TMPDIR:-/tmp}/kxfer-demo.XXXXXX")
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/root" "$work/state" "$work/out"
echo "demo: writing a ${size_mb} MiB random file"
head -c $((size_mb * 1048576)) /dev/urandom >"$work/root/demo.bin"
want=$(sha256sum "$work/root/demo.bin" | cut -d' ' -f1)

"$kxfer" serve --listen 127.0.0.1:0 --root "$work/root" --state-dir "$work/state" \
    2>"$work/serve.log" &
server=$!
url=
for _ in $(seq 100); do
    url=$(sed -n 's/^kxfer serve: listening on \(https:[^ ]*\)$/\1/p' "$work/serve.log")
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
    sleep 0.05
done
[ -n "$url" ] || { echo "demo: the server did not start"; cat "$work/serve.log"; exit 1; }
sed 's/^/  | /' "$work/serve.log"
pin=$(sed -n 's/^kxfer serve: certificate \(sha256:[0-9a-f]*\) .*/\1/p' "$work/serve.log")

echo "demo: kxfer get --pin $pin ${url}demo.bin"
"$kxfer" get --pin "$pin" -o "$work/out/demo.bin" "${url}demo.bin"
got=$(sha256sum "$work/out/demo.bin" | cut -d' ' -f1)
kill "$server"; wait "$server" 2>/dev/null || true; server=
echo "demo: server access log:"
grep ' GET ' "$work/serve.log" | sed 's/^/  | /'
if [ "$got" = "$want" ]; then
    echo "demo: SHA-256 verified: $got"
else
    echo "demo: SHA-256 MISMATCH: sent $want, received $got"
    exit 1
fi

# What this host gets on each data path, and why a path is unavailable: kxfer bench --quick
# (3 verified runs per row) on 256 MiB, so that start-up costs do not swamp the figures; a few
# seconds.  `kxfer bench` measures for real, `kxfer doctor` says what to tune.
echo "demo: kxfer bench --quick --size 256M"
"$kxfer" bench --quick --size 256M 2>/dev/null | sed 's/^/  | /'
echo "demo: more: kxfer bench (1 GiB, 5 runs per row), kxfer doctor (what this host supports, what to tune)"

