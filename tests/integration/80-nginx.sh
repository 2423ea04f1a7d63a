#!/usr/bin/env bash
# kxfer get / put against other servers: nginx (TLS 1.3 only, WebDAV PUT) and
# openssl s_server -WWW (HTTP/1.0, no Content-Length, body ends at connection close).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

make_tree "$T/src"
S=$T/src
N=$T/nginx
mkdir -p "$N/root/up/sub" "$N/body" "$N/proxy" "$N/fastcgi" "$N/uwsgi" "$N/scgi"
cp -a "$S/." "$N/root/"
newcert "$T" srv "DNS:localhost,IP:127.0.0.1" || { notok "openssl req: server certificate"; finish; }
CA=$T/srv.pem
FILES="empty one r16383 r16384 r16385 r1m r64m sub/hello.txt"

# --- nginx -----------------------------------------------------------------------------------
if ! command -v nginx >/dev/null; then
    skip "nginx interop: nginx not installed"
else
    PORT=$(free_port)
    dav=""
    nginx -V 2>&1 | grep -q http_dav_module && dav="dav_methods PUT;"
    nginx_conf "$N" "$PORT" "$T/srv.pem" "$T/srv.key" "$dav
            dav_access user:rw group:r all:r;"
    if ! nginx -t -p "$N" -c "$N/nginx.conf" >"$N/t.log" 2>&1; then
        notok "nginx -t accepts the test config"; sed 's/^/#   /' "$N/t.log"
    else
        nginx -p "$N" -c "$N/nginx.conf" 2>>"$N/error.log" &
        NGINX_PID=$!; PIDS+=("$NGINX_PID")
        if ! wait_port "$PORT" 10; then
            notok "nginx starts"; sed 's/^/#   /' "$N/error.log"
        else
            ok "nginx starts (TLS 1.3 only, port $PORT)"
            U="https://127.0.0.1:$PORT"
            is "curl sanity against nginx" "$(curl -s --max-time 10 --cacert "$CA" "$U/one")" x
            mkdir -p "$T/ng/sub"; rc=0
            for f in $FILES; do
                kx get "$U/$f" -o "$T/ng/$f" --ca "$CA" --quiet || rc=$?
            done
            is "nginx: kxfer get --ca of every file: exit 0" "$rc" 0
            bad=""; for f in $FILES; do same_file "$S/$f" "$T/ng/$f" || bad="$bad $f"; done
            is "nginx: kxfer get: every file identical (sha256)" "$bad" ""
            kx get "$U/r1m" -o "$T/ng/pin.bin" --pin "$(pin_of "$CA")" --quiet
            check "nginx: kxfer get --pin: identical" same_file "$S/r1m" "$T/ng/pin.bin"
            head -c 123457 "$S/r64m" >"$T/ng/cont.bin"
            kx get "$U/r64m" -o "$T/ng/cont.bin" --ca "$CA" --continue --quiet
            check "nginx: kxfer get --continue (nginx 206): identical" same_file "$S/r64m" "$T/ng/cont.bin"
            kx get "$U/nope" -o "$T/ng/nope" --ca "$CA" --quiet 2>/dev/null
            is "nginx: kxfer get of a 404: exit 6" "$?" 6
            check "nginx: 404 leaves no file" test ! -e "$T/ng/nope"
            kx get "$U/r1m" -o - --ca "$CA" --json 2>"$T/ng/json.err" >"$T/ng/json.bin"
            check "nginx: kxfer get -o - --json: body identical" same_file "$S/r1m" "$T/ng/json.bin"
            if [ -n "$dav" ]; then
                for f in r16385 r1m r64m; do
                    kx put "$S/$f" "$U/up/$f" --ca "$CA" --quiet
                    is "nginx: kxfer put $f (WebDAV PUT): exit 0" "$?" 0
                    check "nginx: kxfer put $f: identical on disk" same_file "$S/$f" "$N/root/up/$f"
                done
                kx put "$S/r16384" "$U/up/r16385" --ca "$CA" --quiet
                is "nginx: kxfer put replacing a file (204): exit 0" "$?" 0
                check "nginx: replaced file identical on disk" same_file "$S/r16384" "$N/root/up/r16385"
                kx put "$S/r1m" "$U/up/sub/" --ca "$CA" --quiet
                is "nginx: kxfer put to URL ending in '/': exit 0" "$?" 0
                check "nginx: URL/up/sub/ + basename" same_file "$S/r1m" "$N/root/up/sub/r1m"
                kx put "$S/empty" "$U/up/empty" --ca "$CA" --quiet
                is "nginx: kxfer put of an empty file: exit 0" "$?/$(stat -c %s "$N/root/up/empty" 2>/dev/null)" "0/0"
                kx put "$S/one" "$U/missing-dir/one" --ca "$CA" --quiet 2>/dev/null
                is "nginx: kxfer put into a missing directory (nginx 409): exit 6" "$?" 6
            else
                skip "nginx: kxfer put: nginx built without http_dav_module"
            fi
            kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null
        fi
    fi
fi

# --- openssl s_server -WWW ---------------------------------------------------------------------
W=$T/www
mkdir -p "$W"
cp "$S/one" "$S/r16385" "$S/r1m" "$S/r64m" "$W/"
PORT=$(free_port)
(cd "$W" && exec openssl s_server -WWW -quiet -accept "127.0.0.1:$PORT" -cert "$T/srv.pem" \
    -key "$T/srv.key" -tls1_3 </dev/null >"$T/s_server.log" 2>&1) &
SPID=$!; PIDS+=("$SPID")
if ! wait_port "$PORT" 10; then
    notok "openssl s_server -WWW starts"; sed 's/^/#   /' "$T/s_server.log"
else
    ok "openssl s_server -WWW starts"
    U="https://127.0.0.1:$PORT"
    out=$(curl -s --max-time 10 --cacert "$CA" -D "$T/ss.h" "$U/one")
    is "s_server sanity (curl): body x, HTTP/1.0 without Content-Length" \
        "$out/$(head -n 1 "$T/ss.h" | cut -d' ' -f1)/$(hdr "$T/ss.h" Content-Length)" "x/HTTP/1.0/"
    mkdir -p "$T/ss"
    for f in one r16385 r1m r64m; do
        kx get "$U/$f" -o "$T/ss/$f" --ca "$CA" --quiet 2>"$T/ss/$f.err"
        rc=$?
        is "s_server -WWW: kxfer get $f (body until EOF): exit 0" "$rc" 0
        [ "$rc" = 0 ] || sed 's/^/#   /' "$T/ss/$f.err" | head -n 3
        check "s_server -WWW: kxfer get $f: sha256 identical" same_file "$S/$f" "$T/ss/$f"
    done
    kx get "$U/r1m" -o - --ca "$CA" --quiet >"$T/ss/stdout.bin"
    check "s_server -WWW: kxfer get -o -: identical" same_file "$S/r1m" "$T/ss/stdout.bin"
fi
finish
