#!/usr/bin/env bash
# kxfer get -r / put -r / get --parallel against nginx: autoindex_format json listings (sent
# chunked), byte ranges with If-Range, and WebDAV PUT with create_full_put_path.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

command -v nginx >/dev/null || { skip "tree transfers with nginx: nginx not installed"; exit 77; }
nginx -V 2>&1 | grep -q http_dav_module || { skip "tree transfers with nginx: nginx has no dav module"; exit 77; }
N=$T/nginx
mkdir -p "$N/root/tree/d1/d2" "$N/root/up"
R=$N/root/tree
for i in $(seq 1 20); do head -c $((i * 997)) /dev/urandom >"$R/f$i"; done
head -c $((3 * 1048576 + 5)) /dev/urandom >"$R/d1/mid.bin"
head -c $((9 * 1048576 + 1)) /dev/urandom >"$R/d1/d2/big.bin"
: >"$R/d1/empty"
echo "space" >"$R/d1/with space & ü.txt"
newcert "$T" srv "DNS:localhost,IP:127.0.0.1" || { notok "openssl req: server certificate"; finish; }
CA=$T/srv.pem
PORT=$(free_port)
nginx_conf "$N" "$PORT" "$T/srv.pem" "$T/srv.key" "autoindex on;
            autoindex_format json;
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;"
nginx -p "$N" -c "$N/nginx.conf" 2>>"$N/error.log" &
PIDS+=("$!")
wait_port "$PORT" 10 || { notok "nginx starts"; sed 's/^/#   /' "$N/error.log"; finish; }
URL="https://127.0.0.1:$PORT"
manifest() { (cd "$1" && find . -type f ! -name '.*kxfer-*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }
mtimes() { (cd "$1" && find . -type f ! -name '.*kxfer-*' -printf '%p %T@\n' | sed 's/\.[0-9]*$//' | LC_ALL=C sort); }

# --- get -r from nginx ---------------------------------------------------------------------
kx get -r "$URL/tree/" -o "$T/got" --ca "$CA" --parallel 3 --split-size 1M --json >"$T/get.json" 2>"$T/get.err"
is "get -r from nginx: exit 0" "$?" 0
is "get -r from nginx: every file, identical" "$(manifest "$T/got")" "$(manifest "$R")"
is "get -r from nginx: mtimes from Last-Modified" "$(mtimes "$T/got")" "$(mtimes "$R")"
is "get -r from nginx: --json counts the files" \
   "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["files"], j["files_total"], j["skipped"], len(j["failed"]))' "$T/get.json")" "24 24 0 0"
check "get -r from nginx: no part or state files left" test -z "$(find "$T/got" -name '.*kxfer-*')"
kx get -r "$URL/tree/" -o "$T/got" --ca "$CA" --json >"$T/get2.json" 2>/dev/null
is "get -r again: everything skipped (size and mtime match)" \
   "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["files"], j["skipped"])' "$T/get2.json")" "0 24"
kx get -r "$URL/tree/" -o "$T/got" --ca "$CA" --verify --quiet
is "get -r --verify with nothing to fetch: exit 0 (skipped files are not fetched, so not verified)" "$?" 0
kx get -r "$URL/tree/" -o "$T/got" --ca "$CA" --verify --force 2>"$T/verify.err"
is "get -r --verify --force from nginx (no Repr-Digest there): exit 8" "$?" 8
check "get -r --verify from nginx: says the server sent no digest" grep -q "sent no Repr-Digest" "$T/verify.err"
kx get -r "$URL/tree" -o "$T/got-noslash" --ca "$CA" --quiet
is "get -r with a URL without the trailing slash: exit 0" "$?" 0
is "get -r without the slash: identical" "$(manifest "$T/got-noslash")" "$(manifest "$R")"
(cd "$T" && kx get -r "$URL/tree/" --ca "$CA" --quiet)
is "get -r without -o: into the URL's last directory name" "$(manifest "$T/tree")" "$(manifest "$R")"

# --- get --parallel of one file ----------------------------------------------------------
before=$(grep -c '"GET /tree/d1/d2/big.bin HTTP/1.1" 206' "$N/access.log")
kx get --parallel 4 "$URL/tree/d1/d2/big.bin" -o "$T/big.bin" --ca "$CA" --quiet
is "get --parallel 4 from nginx: exit 0" "$?" 0
check "get --parallel 4 from nginx: identical" same_file "$R/d1/d2/big.bin" "$T/big.bin"
is "get --parallel 4 asked nginx for ranges (206 in its log)" \
   "$(( $(grep -c '"GET /tree/d1/d2/big.bin HTTP/1.1" 206' "$N/access.log") - before ))" 4

# --- put -r to nginx -----------------------------------------------------------------------
kx put -r "$R" "$URL/up/new/" --ca "$CA" --parallel 3 --quiet
is "put -r to nginx (create_full_put_path): exit 0" "$?" 0
is "put -r to nginx: every file, identical" "$(manifest "$N/root/up/new")" "$(manifest "$R")"
kx put -r "$R" "$URL/up/new/" --ca "$CA" --json >"$T/put2.json" 2>/dev/null
is "put -r again: everything skipped? (nginx ignores X-OC-Mtime, so mtimes differ: all uploaded)" \
   "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["exit_code"], j["files"] + j["skipped"])' "$T/put2.json")" "0 24"
finish
