# Helpers shared by tests/integration/[0-9]*.sh.  Source it after ../lib.sh:
#     . "$(dirname "$0")/../lib.sh"; . "$(dirname "$0")/common.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RAWTLS=$HERE/rawtls.py

if [ ! -x "$KXFER" ]; then
    echo "not ok - kxfer binary exists and is executable ($KXFER)"
    exit 1
fi

# is NAME GOT WANT: ok when GOT = WANT, else not ok with both values shown.
is() {
    if [ "$2" = "$3" ]; then ok "$1"; else
        notok "$1"; printf '%s\n' "got:  '$2'" "want: '$3'" | head -n 20 | sed 's/^/#   /'; fi
}
# is_in NAME GOT WANT1 WANT2...: ok when GOT is one of the WANTs.
is_in() {
    local n=$1 g=$2 w; shift 2
    for w in "$@"; do [ "$g" = "$w" ] && { ok "$n"; return; }; done
    notok "$n"; echo "#   got: '$g'  want one of: $*"
}

# st CURL-ARGS...: the HTTP status of one curl request verified with $CERT ("000" on failure).
st() { curl -s -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$CERT" "$@"; }

# req NAME CURL-ARGS...: curl request, headers to $T/NAME.h and body to $T/NAME.b; prints
# the status.
req() {
    local n=$1; shift
    rm -f "$T/$n.h"; : >"$T/$n.b"     # curl does not create -o files for empty bodies
    curl -s -D "$T/$n.h" -o "$T/$n.b" -w '%{http_code}' --max-time 30 --cacert "$CERT" "$@"
}

# hdr FILE NAME: value of the last header NAME in a header dump (CR stripped).
hdr() {
    [ -f "$1" ] || return 0
    tr -d '\r' <"$1" | grep -i "^$2:" | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//; s/[[:space:]]*$//'
}

# raw [RAWTLS-OPTIONS...]: send stdin as raw bytes over TLS to $PORT (see rawtls.py).
raw() { timeout 30 python3 "$RAWTLS" "$PORT" "$@"; }

# status_line FILE: the status code of a raw response saved in FILE.
status_line() { head -n 1 "$1" | tr -d '\r' | cut -d' ' -f2; }

# body_of FILE: the body of a raw HTTP response (everything after the first CRLFCRLF).
body_of() {
    python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); i=d.find(b"\r\n\r\n"); sys.stdout.buffer.write(d[i+4:] if i>=0 else b"")' "$1"
}

# kx ARGS...: run kxfer with a hard time limit so that a hang is a failure, not a stall.
kx() { timeout 90 "$KXFER" "$@"; }

# alive: the last started server is still running.
alive() { kill -0 "$SERVE_PID" 2>/dev/null; }

# newcert DIR NAME SAN [CN]: self-signed ECDSA P-256 cert DIR/NAME.pem, key DIR/NAME.key.
newcert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=${4:-localhost}" -addext "subjectAltName=$3" \
        -keyout "$1/$2.key" -out "$1/$2.pem" 2>/dev/null
}

# rawbg REQUEST [RAWTLS-OPTIONS...]: rawtls.py in the background, REQUEST given as a printf
# format; sets RAWPID (the python process itself, so that kill works) and adds it to PIDS.
rawbg() {
    local f; f=$(mktemp "$T/rawreq.XXXXXX")
    printf "$1" >"$f"; shift
    python3 "$RAWTLS" "$PORT" "$@" <"$f" &
    RAWPID=$!; PIDS+=("$RAWPID")
}

# tcphold SECONDS: open a plain TCP connection to $PORT and keep it silent (background,
# sets RAWPID, adds to PIDS).
tcphold() {
    python3 -c 'import socket,sys,time; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); time.sleep(float(sys.argv[2]))' "$PORT" "$1" 2>/dev/null &
    RAWPID=$!; PIDS+=("$RAWPID")
}

# nginx_conf DIR PORT CERT KEY LOCATION-DIRECTIVES: writes DIR/nginx.conf for a test nginx on
# 127.0.0.1:PORT (TLS 1.3 only, root DIR/root, every path and log under DIR, daemon off, one
# worker) with LOCATION-DIRECTIVES inside "location /".
nginx_conf() {
    local d=$1 port=$2 cert=$3 key=$4 loc=$5 user=""
    [ "$(id -u)" = 0 ] && user="user root;"
    mkdir -p "$d/root" "$d/body" "$d/proxy" "$d/fastcgi" "$d/uwsgi" "$d/scgi"
    cat >"$d/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
$user
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 128; }
http {
    access_log $d/access.log;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $cert;
        ssl_certificate_key $key;
        ssl_protocols TLSv1.3;
        root $d/root;
        client_max_body_size 0;
        location / {
            $loc
        }
    }
}
EOF
}
