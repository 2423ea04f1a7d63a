#!/usr/bin/env bash
# Directory-tree benchmark: kxfer get -r / put -r against the tools users have today (rsync
# over ssh, rclone and aria2c/curl over HTTPS from nginx), with hyperfine, on 127.0.0.1.
#
#   bench/tree.sh          build a test tree, start the servers, measure, write OUT/tree.md
#   bench/tree.sh --help
#
# The tree (bench/tree-util.py make): about TREE_FILES files and exactly TREE_MB MiB of random
# content, many small files (1-64 KiB), some medium (1-8 MiB), a few large (64-128 MiB; the
# medium and large sizes scale with TREE_MB/446), in nested directories, made once per run in
# a temp dir on disk (TREE_TMP, not tmpfs), fsync'ed, and read once so that the page cache is
# warm.  Servers, each on a free 127.0.0.1 port with its own config in the temp dir, stopped
# on exit:
#   - sshd (openssh-server) with its own host key, root login with a generated key, for rsync;
#   - nginx (worker_processes auto = one worker per CPU), a self-signed certificate, TLS 1.3
#     TLS_AES_128_GCM_SHA256, autoindex (HTML for rclone's http backend; the nginx JSON
#     format to requests with Accept: application/json), and a /up/ location with
#     `dav_methods PUT MKCOL DELETE; create_full_put_path on;` (plus PROPFIND from
#     libnginx-mod-http-dav-ext when installed: rclone's webdav backend needs it);
#   - kxfer serve --threads $(nproc) --ciphers TLS_AES_128_GCM_SHA256 (downloads), and a
#     second one with --allow-upload (uploads).
# ssh uses aes128-gcm@openssh.com, so every transfer is AES-128-GCM.
#
# Scenarios (hyperfine -N --warmup 1 --runs RUNS --export-json, one hyperfine per tool; every
# run is a full transfer into a destination that does not exist (uploads: an empty one):
# --prepare moves the last one into $TMP/grave, remakes it where the tool needs it (uploads),
# and syncs; afterwards the destination of every run is compared with the source's manifest:
# names, sizes and SHA-256 of every file).  Deleting 2,000 files right before a run would
# slow the next runs' file creates on ext4 (recently_deleted()), so nothing is deleted until
# the end: the bench needs about (7 x (RUNS + 1) + 4) x TREE_MB MiB free on disk.
#   download   rsync -a over ssh; rclone copy --transfers 4 (:http: from nginx);
#              kxfer get -r --parallel 2 and --parallel 4, and get -r --verify (the default
#              --parallel, SHA-256 end to end) (from kxfer serve)
#   upload     rsync -a push over ssh; rclone copy --transfers 4 (:webdav: to nginx; skipped,
#              saying why, without dav-ext); kxfer put -r --parallel 2 and 4 (to kxfer serve)
#   bigfile    the largest file: aria2c -x 4 -s 4 -k 1M and curl from nginx; kxfer get
#              --parallel 4 from kxfer serve
#   incremental  nothing changed, the destination complete: rsync -a, kxfer get -r (both must
#              skip every file: no file may get a new inode or mtime)
#
# Writes OUT/tree.md (a table per scenario: median s, min-max, MB/s (10^6 bytes/s), time as a
# multiple of the fastest non-kxfer tool's; the exact commands; machine facts), and beside it
# the raw data: hyperfine-SCENARIO-TOOL.json, rows.tsv, tree.txt, machine.txt.
#
# Environment:
#   KXFER          kxfer binary (default: <repo>/build/kxfer)
#   TREE_FILES     number of files (default 2000)
#   TREE_MB        total size in MiB (default 446)
#   RUNS           hyperfine --runs per tool (default 5; plus one --warmup run)
#   OUT            results directory (default bench/results/<YYYY-MM-DD>-<host>-tree, with -2,
#                  -3, ... appended when it exists: results are never overwritten; an OUT that
#                  exists and is not empty is refused)
#   TREE_TMP       where the temp dir goes (default /var/tmp; must not be tmpfs)
#   TREE_TOOLS     subset of rsync,rclone,kxfer,aria2c,curl (default: all)
#   TREE_SCENARIOS subset of download,upload,bigfile,incremental (default: all)
#
# Exit status: 0 every transfer complete and identical, 1 a transfer was wrong or failed (the
# table says which; OUT is kept) or the bench could not run, 2 a tool is missing (the Debian
# package is named), 130 interrupted.
#
# Internal: nothing below is a user interface.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
UTIL=$HERE/tree-util.py
KXFER=${KXFER:-$TOP/build/kxfer}
case $KXFER in /*) ;; *) KXFER=$PWD/$KXFER ;; esac

case ${1:-} in
-h|--help)
    sed -n '2,/^# Internal:/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0 ;;
"") ;;
*)
    echo "tree: unknown argument '$1' (see bench/tree.sh --help)" >&2
    exit 2 ;;
esac

log() { echo "tree: $*" >&2; }
die() { log "$*"; exit 1; }

posint() {   # NAME VALUE DEFAULT
    local v=${2:-$3}
    [[ $v =~ ^[1-9][0-9]*$ ]] || { log "$1='$2' is not a positive integer"; exit 2; }
    echo "$v"
}
FILES=$(posint TREE_FILES "${TREE_FILES:-}" 2000) || exit 2
MB=$(posint TREE_MB "${TREE_MB:-}" 446) || exit 2
RUNS=$(posint RUNS "${RUNS:-}" 5) || exit 2
WARMUP=1
ALL_TOOLS=(rsync rclone kxfer aria2c curl)
ALL_SCEN=(download upload bigfile incremental)
subset() {   # NAME VALUE KNOWN...: the known ones named in VALUE (comma-separated), in order
    local name=$1 v=$2 k w out=() ok; shift 2
    if [ -z "${v// /}" ]; then echo "$*"; return; fi
    for w in ${v//,/ }; do
        ok=0; for k in "$@"; do [ "$w" = "$k" ] && ok=1; done
        [ $ok = 1 ] || { log "$name: unknown '$w'; known: $*"; return 1; }
    done
    for k in "$@"; do for w in ${v//,/ }; do [ "$w" = "$k" ] && out+=("$k"); done; done
    echo "${out[*]}"
}
TOOLS=" $(subset TREE_TOOLS "${TREE_TOOLS:-}" "${ALL_TOOLS[@]}") " || exit 2
SCEN=" $(subset TREE_SCENARIOS "${TREE_SCENARIOS:-}" "${ALL_SCEN[@]}") " || exit 2
want() { [[ $TOOLS == *" $1 "* ]]; }
scen() { [[ $SCEN == *" $1 "* ]]; }

# --- prerequisites: command -> Debian package ------------------------------------------------
missing=() pkgs=()
need() {
    if ! command -v "$1" >/dev/null && [ ! -x "/usr/sbin/$1" ]; then
        missing+=("$1")
        [[ " ${pkgs[*]} " == *" $2 "* ]] || pkgs+=("$2")
    fi
}
need python3 python3
need hyperfine hyperfine
need openssl openssl
need sha256sum coreutils
need curl curl           # also the servers' smoke test
if want rsync; then
    need rsync rsync; need ssh openssh-client; need ssh-keygen openssh-client
    need sshd openssh-server
fi
if want rclone || want aria2c || want curl; then need nginx nginx-light; fi
want rclone && need rclone rclone
want aria2c && need aria2c aria2
if [ ${#missing[@]} -gt 0 ]; then
    log "missing: ${missing[*]}"
    log "install the Debian packages: apt-get install ${pkgs[*]}"
    exit 2
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
if want kxfer; then
    if [ ! -x "$KXFER" ]; then
        log "$KXFER not found or not executable (run 'make' first, or set KXFER=...)"
        exit 2
    fi
    if ! "$KXFER" get --help 2>&1 | grep -qE '(^|[ ,])-r([ ,]|$)|--recursive'; then
        log "$KXFER has no tree transfers ('kxfer get --help' does not mention -r);" \
            "TREE_TOOLS=rsync,rclone,aria2c,curl measures the others"
        exit 2
    fi
fi

# --- results dir ----------------------------------------------------------------------------
if [ -n "${OUT:-}" ]; then
    if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
        die "OUT=$OUT exists and is not empty: results are never overwritten"
    fi
else
    base=$HERE/results/$(date +%F)-$(hostname -s 2>/dev/null || hostname)-tree
    OUT=$base n=2
    while [ -e "$OUT" ]; do OUT=$base-$n; n=$((n + 1)); done
fi
made_out=0
[ -d "$OUT" ] || { mkdir -p "$OUT" || die "cannot create $OUT"; made_out=1; }
OUT=$(cd "$OUT" && pwd)

# --- temp dir, servers, cleanup -------------------------------------------------------------
TT=${TREE_TMP:-/var/tmp}
fstype=$(stat -f -c %T "$TT" 2>/dev/null) || die "TREE_TMP=$TT: not a directory"
[ "$fstype" = tmpfs ] || [ "$fstype" = ramfs ] &&
    die "TREE_TMP=$TT is $fstype: the tree must be on a disk (set TREE_TMP to a directory on one)"
TMP=$(mktemp -d "$TT/kxfer-tree.XXXXXX") || die "cannot make a temp dir in $TT"
chmod 755 "$TMP"
SPIDS=()           # servers we started
HFPID=""           # the running hyperfine
made_run_sshd=0
reported=0
cleanup() {
    local p i
    [ -n "$HFPID" ] && kill -KILL -- "-$HFPID" 2>/dev/null   # hyperfine and the client
    # each server leads its own process group (setsid): the group goes, workers and all
    for p in "${SPIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
    for i in $(seq 30); do      # 3 s for all of them together, then SIGKILL
        local alive=0
        for p in "${SPIDS[@]}"; do kill -0 -- "-$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${SPIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
    [ $made_run_sshd = 1 ] && rmdir /run/sshd 2>/dev/null
    if [ $made_out = 1 ] && [ $reported = 0 ]; then
        rm -rf "$OUT"    # nothing measured: leave nothing behind
    fi
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM HUP

# Every run's destination is kept (renamed into $TMP/grave) until the end: deleting the
# 2,000 files of the previous run right before a run makes ext4's inode allocator skip each
# recently deleted inode (recently_deleted(), for 30 s after they reach the disk) on every
# create, which measured up to twice as slow and grew with each run: the order of the tools
# would decide their numbers.  So the bench needs about (RUNS + 1) trees per tool of disk.
need_mib=$(( MB * (7 * (RUNS + WARMUP) + 4) + 256 ))
avail=$(df -Pm "$TMP" | awk 'NR == 2 { print $4 }')
[ "${avail:-0}" -ge "$need_mib" ] ||
    die "$TMP: ${avail} MiB free, need about $need_mib (every run's destination is kept until the end; set TREE_TMP, or fewer RUNS or TREE_MB)"
GRAVE=$TMP/grave
mkdir -p "$GRAVE"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {   # PORT PID LOG
    local n=200
    while [ $n -gt 0 ]; do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05; n=$((n - 1))
    done
    log "server (pid $2) did not start listening on 127.0.0.1:$1; its log $3:"
    tail -n 20 "$3" >&2
    exit 1
}
# q ARGS...: one command line, quoted for hyperfine -N (POSIX shell words)
q() {
    local a out=""
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+="$a "
        else out+="'${a//\'/\'\\\'\'}' "; fi
    done
    printf '%s' "${out% }"
}
urlpath() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

# --- the tree -------------------------------------------------------------------------------
SRC=$TMP/src            # served root (nginx, kxfer serve); the tree is SRC/tree
TREE=$SRC/tree
mkdir -p "$SRC"
log "building the test tree: $FILES files, $MB MiB, in $TREE"
read -r NFILES NDIRS BYTES BIGREL BIGBYTES < <(python3 "$UTIL" make "$TREE" "$FILES" "$MB") ||
    die "tree-util.py make failed"
[ -n "${BIGBYTES:-}" ] || die "tree-util.py make failed"
python3 "$UTIL" manifest "$TREE" "$TMP/tree.manifest" || die "manifest failed"   # reads it all: warm
BIG=$TREE/$BIGREL
BIGSHA=$(sha256sum "$BIG" | cut -d' ' -f1)
echo "f $BIGBYTES $BIGSHA bigfile" >"$TMP/big.manifest"
{
    echo "files: $NFILES"
    echo "directories: $NDIRS"
    echo "bytes: $BYTES"
    echo "largest: $BIGREL ($BIGBYTES bytes)"
    python3 - "$TREE" <<'EOF'
import os, sys
b = {"small (<= 64 KiB)": [0, 0], "medium (64 KiB - 16 MiB)": [0, 0], "large (> 16 MiB)": [0, 0]}
depth = 0
for root, ds, fs in os.walk(sys.argv[1]):
    depth = max(depth, os.path.relpath(root, sys.argv[1]).count("/") + (root != sys.argv[1]))
    for f in fs:
        s = os.path.getsize(os.path.join(root, f))
        k = list(b)[0 if s <= 65536 else 1 if s <= 16 << 20 else 2]
        b[k][0] += 1; b[k][1] += s
for k, (n, s) in b.items():
    print("%s: %d files, %.1f MiB" % (k, n, s / 1048576))
print("deepest directory: %d levels" % depth)
EOF
} >"$OUT/tree.txt"
sed 's/^/tree:   /' "$OUT/tree.txt" >&2

NCPU=$(nproc)
SUITE=TLS_AES_128_GCM_SHA256

# nginx certificate
mkdir -p "$TMP/pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$TMP/pki/key.pem" -out "$TMP/pki/cert.pem" 2>"$TMP/pki/openssl.log" ||
    die "openssl req failed: $(cat "$TMP/pki/openssl.log")"

NGINX_DAV_EXT=""
start_nginx() {
    local d=$TMP/nginx user="" dav_load="" dav_ext=""
    mkdir -p "$d" "$TMP/up-nginx"
    NG_PORT=$(free_port)
    [ "$(id -u)" = 0 ] && user="user root root;"
    for m in /usr/lib/nginx/modules/ngx_http_dav_ext_module.so \
             /usr/share/nginx/modules/ngx_http_dav_ext_module.so; do
        if [ -f "$m" ]; then
            NGINX_DAV_EXT=$m
            dav_load="load_module $m;"
            dav_ext="dav_ext_methods PROPFIND OPTIONS;"
            break
        fi
    done
    cat >"$d/nginx.conf" <<EOF
# bench/tree.sh: nginx for rclone (http and webdav), aria2c and curl
$dav_load
$user
worker_processes auto;      # one worker per CPU ($NCPU here), like kxfer serve --threads $NCPU
master_process on;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    # one line per request, like kxfer serve's: the bench counts the requests of each run
    log_format bench '\$remote_addr:\$remote_port \$request_method \$request_uri \$status \$bytes_sent \$request_time';
    access_log $d/access.log bench;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 60;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path $d/client_body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    server {
        listen 127.0.0.1:$NG_PORT ssl;
        server_name localhost;
        ssl_certificate $TMP/pki/cert.pem;
        ssl_certificate_key $TMP/pki/key.pem;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites $SUITE;
        root $SRC;
        location / {
            autoindex on;           # HTML listings (rclone's http backend parses those)
            if (\$http_accept ~* "application/json") { rewrite ^(.*)\$ /.json\$1 last; }
        }
        location /.json/ {          # the same directories in nginx's JSON format
            internal;
            alias $SRC/;
            autoindex on;
            autoindex_format json;
        }
        location /up/ {             # uploads: \$TMP/up-nginx/up/...
            root $TMP/up-nginx;
            dav_methods PUT MKCOL DELETE;
            $dav_ext
            create_full_put_path on;
            dav_access user:rw group:r all:r;
            client_max_body_size 0;
        }
    }
}
EOF
    "$NGINX" -t -q -p "$d/" -e "$d/error.log" -c "$d/nginx.conf" 2>"$d/test.log" ||
        die "nginx -t: $(cat "$d/test.log")"
    setsid "$NGINX" -p "$d/" -e "$d/error.log" -c "$d/nginx.conf" </dev/null >"$d/stderr.log" 2>&1 &
    NG_PID=$!
    SPIDS+=("$NG_PID")
    wait_port "$NG_PORT" "$NG_PID" "$d/stderr.log"
    NG_URL=https://127.0.0.1:$NG_PORT
    NG_CERT=$TMP/pki/cert.pem
}

start_sshd() {
    local d=$TMP/ssh
    mkdir -p "$d"
    ssh-keygen -q -t ed25519 -N '' -C kxfer-tree-host -f "$d/host_key" || die "ssh-keygen failed"
    ssh-keygen -q -t ed25519 -N '' -C kxfer-tree-client -f "$d/client_key" || die "ssh-keygen failed"
    cp "$d/client_key.pub" "$d/authorized_keys"
    SSH_PORT=$(free_port)
    cat >"$d/sshd_config" <<EOF
# bench/tree.sh: sshd for rsync over ssh, 127.0.0.1 only
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitUserEnvironment no
Ciphers aes128-gcm@openssh.com
LogLevel ERROR
EOF
    if [ ! -d /run/sshd ]; then    # sshd's compiled-in privilege separation directory
        mkdir -m 0755 /run/sshd 2>/dev/null && made_run_sshd=1
    fi
    "$SSHD" -t -f "$d/sshd_config" 2>"$d/test.log" || die "sshd -t: $(cat "$d/test.log")"
    setsid "$SSHD" -D -e -f "$d/sshd_config" -p "$SSH_PORT" </dev/null >"$d/sshd.log" 2>&1 &
    SSH_PID=$!
    SPIDS+=("$SSH_PID")
    wait_port "$SSH_PORT" "$SSH_PID" "$d/sshd.log"
    SSH_E="ssh -c aes128-gcm@openssh.com -p $SSH_PORT -i $d/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
    $SSH_E root@127.0.0.1 true </dev/null 2>"$d/login.log" ||
        die "ssh root@127.0.0.1 -p $SSH_PORT with the generated key failed: $(cat "$d/login.log"; tail -n 5 "$d/sshd.log")"
}

start_kxfer() {   # NAME ROOT [ARGS...]: sets KX_PORT KX_CERT KX_PID
    local name=$1 root=$2 d=$TMP/$1; shift 2
    mkdir -p "$d" "$root"
    KX_PORT=$(free_port)
    setsid "$KXFER" serve --root "$root" --listen "127.0.0.1:$KX_PORT" --state-dir "$d/state" \
        --threads "$NCPU" --ciphers "$SUITE" "$@" </dev/null >"$d/serve.log" 2>&1 &
    KX_PID=$!
    SPIDS+=("$KX_PID")
    wait_port "$KX_PORT" "$KX_PID" "$d/serve.log"
    KX_CERT=$d/state/cert.pem
    [ -f "$KX_CERT" ] || die "kxfer serve $name: no $KX_CERT; its log: $(tail -n 5 "$d/serve.log")"
}

smoke() {   # NAME URL CERT: one listing request, or die
    local code
    code=$(curl -sS -o "$TMP/smoke.out" -w '%{http_code}' --max-time 20 --cacert "$3" "$2" 2>&1)
    [ "$code" = 200 ] || die "$1: GET $2 answered '$code' (not 200)"
}

if want rsync && { scen download || scen upload || scen incremental; }; then
    start_sshd; log "sshd: pid $SSH_PID, 127.0.0.1:$SSH_PORT"
fi
if { want rclone && { scen download || scen upload; }; } ||
   { { want aria2c || want curl; } && scen bigfile; }; then
    start_nginx; smoke nginx "$NG_URL/tree/" "$NG_CERT"
    log "nginx: pid $NG_PID, $NG_URL${NGINX_DAV_EXT:+ (with dav-ext)}"
fi
if want kxfer; then   # both, whatever the scenarios: the second one costs nothing
    start_kxfer kxfer-serve "$SRC"
    KXD_PORT=$KX_PORT KXD_CERT=$KX_CERT KXD_PID=$KX_PID KXD_URL=https://127.0.0.1:$KX_PORT
    start_kxfer kxfer-serve-up "$TMP/up-kxfer" --allow-upload
    KXU_PORT=$KX_PORT KXU_CERT=$KX_CERT KXU_PID=$KX_PID KXU_URL=https://127.0.0.1:$KX_PORT
    smoke "kxfer serve" "$KXD_URL/tree/" "$KXD_CERT"
    log "kxfer serve: pid $KXD_PID, $KXD_URL; kxfer serve --allow-upload: pid $KXU_PID, $KXU_URL"
fi

# --- machine facts --------------------------------------------------------------------------
ver() { "$@" 2>&1 </dev/null | head -n 1; }
busy_pct() {   # percent of all CPUs busy (not idle, not iowait) over one second
    local a b
    a=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        t = (y[1] - x[1]) + (y[2] - x[2]); printf "%d", (t > 0 ? 100 * (y[1] - x[1]) / t : 0) }'
}
{
    echo "date: $(date -Iseconds)"
    echo "host: $(hostname)"
    echo "cpu: $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//')"
    echo "nproc: $NCPU"
    echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel: $(uname -srm)"
    echo "os: $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-?}")"
    echo "disk: $(df -PT "$TMP" | awk 'NR == 2 { print $2 " on " $1 }') ($TMP)"
    echo "openssl: $(ver openssl version)"
    want rsync && echo "rsync: $(ver rsync --version)"
    want rsync && echo "ssh: $(ver ssh -V)"
    want rsync && echo "sshd: $(dpkg-query -W -f '${Package} ${Version}' openssh-server 2>/dev/null || echo '?')"
    want rclone && echo "rclone: $(ver rclone version)"
    want aria2c && echo "aria2c: $(ver aria2c --version) ($(aria2c --version 2>/dev/null | grep -o 'GnuTLS/[^ ]*\|OpenSSL/[^ ]*' | head -n 1))"
    want curl && echo "curl: $(ver curl --version)"
    [ -n "${NG_PID:-}" ] && echo "nginx: $(ver "$NGINX" -v)$(dpkg-query -W -f ' (${Package} ${Version})' nginx-light 2>/dev/null)${NGINX_DAV_EXT:+, dav-ext: $NGINX_DAV_EXT}"
    want kxfer && echo "kxfer: $(ver "$KXFER" --version) ($KXFER)"
    echo "hyperfine: $(ver hyperfine --version)"
    echo "git: $(git -C "$TOP" describe --tags --always --dirty 2>/dev/null || echo '(no commit)')"
    echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "background load: $(busy_pct)% of all CPUs busy over 1 s before the runs (servers idle)"
} >"$OUT/machine.txt"
bg=$(sed -n 's/^background load: \([0-9]*\)%.*/\1/p' "$OUT/machine.txt")
[ "${bg:-0}" -le 10 ] || log "warning: the machine is ${bg}% busy with other work; the numbers will be noisy"

# --- measuring ------------------------------------------------------------------------------
ROWS=$OUT/rows.tsv
printf 'scenario\ttool\tlabel\tserver\tstatus\tjson\tbytes\tcommand\tprepare\trequests\n' >"$ROWS"
FAILED=0
mkdir -p "$TMP/prep" "$TMP/out"

row() {   # SCENARIO TOOL LABEL SERVER STATUS JSON BYTES COMMAND PREPARE [REQUESTS]
    local IFS=$'\t' a=("$@")
    a=("${a[@]//"$TMP"/\$TMP}")        # the temp dir's name changes every run
    a=("${a[@]//"$TOP/"/}")             # build/kxfer, relative to the repository
    a=("${a[@]//$'\t'/ }")
    echo "${a[*]}" >>"$ROWS"
}
skip() {   # SCENARIO TOOL LABEL SERVER WHY
    log "$1/$2: skipped: $5"
    row "$1" "$2" "$3" "$4" "skipped: $5" "" "" "" ""
}

# requests LOG FROMLINE RUNS: the HTTP requests logged after line FROMLINE, per run, by method
# and status ("2000 HEAD 200, 2134 GET 200"): nginx's log_format bench and kxfer serve's
# access log both start "ADDR:PORT METHOD PATH STATUS"
requests() {
    tail -n +"$(($2 + 1))" "$1" | awk -v runs="$3" '
        $2 ~ /^[A-Z]+$/ && $4 ~ /^[0-9][0-9][0-9]$/ { n[$2 " " $4]++ }
        END { for (k in n) printf "%d %s\n", (n[k] + runs / 2) / runs, k }' |
        sort -k1,1nr -k2 | paste -sd, - | sed 's/,/, /g'
}

# measure SCENARIO TOOL LABEL SERVER BYTES DEST MANIFEST MODE -- COMMAND...
#   MODE fresh: DEST moved away (into $GRAVE, never deleted while measuring) before every
#     run: a full transfer into a DEST that does not exist
#   MODE fresh-mkdir: the same, and DEST made again, empty, before every run (uploads)
#   MODE keep: DEST complete before the first run, never removed; afterwards every file must
#     still have its inode and mtime (it was skipped, not transferred again)
measure() {
    local sc=$1 tool=$2 label=$3 server=$4 bytes=$5 dest=$6 man=$7 mode=$8
    shift 9
    local name=$sc-$tool cmd prep pf json rc why limit slog="" sline=0 reqs=""
    cmd=$(q "$@")
    json=$OUT/hyperfine-$name.json
    pf=$TMP/prep/$name.sh
    case $mode in
    fresh)       printf 'if [ -e %q ]; then mv -- %q "$(mktemp -u %q)"; fi && sync\n' \
                     "$dest" "$dest" "$GRAVE/$name.XXXXXX" >"$pf" ;;
    fresh-mkdir) printf 'if [ -e %q ]; then mv -- %q "$(mktemp -u %q)"; fi && mkdir -p -- %q && sync\n' \
                     "$dest" "$dest" "$GRAVE/$name.XXXXXX" "$dest" >"$pf" ;;
    keep)        : >"$pf" ;;
    esac
    prep=$(cat "$pf")
    local hf=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --time-unit second
              --export-json "$json" --output "$TMP/out/$name.log" -n "$label")
    if [ "$mode" != keep ]; then
        hf+=(--prepare "bash $pf")
    else
        prep=""
        # the first, untimed transfer fills DEST; it must be right before anything is timed
        [ -e "$dest" ] && mv -- "$dest" "$(mktemp -u "$GRAVE/$name.XXXXXX")"
        if ! "$@" </dev/null >"$TMP/out/$name.first" 2>&1; then
            why="the first (untimed) transfer exited $?: $(tail -c 600 "$TMP/out/$name.first" | tr '\n\t' '  ')"
            log "$name: FAILED: $why"; FAILED=1
            row "$sc" "$tool" "$label" "$server" "FAILED: $why" "" "$bytes" "$cmd" "$prep"
            return
        fi
        if ! why=$(python3 "$UTIL" verify "$man" "$dest" 2>&1); then
            log "$name: WRONG after the first (untimed) transfer: $why"; FAILED=1
            row "$sc" "$tool" "$label" "$server" "WRONG: first transfer: $(head -n 1 <<<"$why")" "" "$bytes" "$cmd" "$prep"
            return
        fi
        python3 "$UTIL" inodes "$dest" "$TMP/$name.inodes0"
    fi
    case $server in
    nginx) slog=$TMP/nginx/access.log ;;
    "kxfer serve") [ "$sc" = upload ] && slog=$TMP/kxfer-serve-up/serve.log || slog=$TMP/kxfer-serve/serve.log ;;
    esac
    [ -n "$slog" ] && sline=$(wc -l <"$slog")
    limit=$(( (RUNS + WARMUP) * (180 + bytes / 5000000) + 60 ))
    log "$name: hyperfine, warm-up $WARMUP + $RUNS runs: $cmd"
    setsid timeout -k 10 "$limit" "${hf[@]}" "$cmd" </dev/null >&2 &
    HFPID=$!
    wait "$HFPID"; rc=$?
    HFPID=""
    [ -n "$slog" ] && reqs=$(requests "$slog" "$sline" $((RUNS + WARMUP)))
    if [ "$rc" != 0 ]; then
        why="hyperfine exited $rc"
        [ "$rc" = 124 ] && why="hyperfine ran longer than $limit s; killed"
        # hyperfine keeps no exit status; run it once more, alone, for the status and output
        [ -s "$pf" ] && bash "$pf"
        timeout 600 "$@" </dev/null >"$TMP/out/$name.again" 2>&1
        why="$why; run again alone: exit status $?, output (tail): $(tail -c 800 "$TMP/out/$name.again" 2>/dev/null | tr '\n\t' '  ')"
        log "$name: FAILED: $why"; FAILED=1
        row "$sc" "$tool" "$label" "$server" "FAILED: $why" "" "$bytes" "$cmd" "$prep"
        rm -f "$json"
        return
    fi
    # every run's destination: the last one, and those the prepare command moved away
    local d k=0 nbad=0 first="" dests=("$dest")
    [ "$mode" = keep ] || dests+=("$GRAVE/$name".*)
    for d in "${dests[@]}"; do
        [ -e "$d" ] || [ "$d" = "$dest" ] || continue
        k=$((k + 1))
        if ! why=$(python3 "$UTIL" verify "$man" "$d" 2>&1); then
            nbad=$((nbad + 1))
            log "$name: WRONG: a destination is not the source:"
            echo "$why" | sed 's/^/tree:   /' >&2
            [ -n "$first" ] || first=$(head -n 1 <<<"$why")
        fi
    done
    if [ "$mode" != keep ] && [ "$k" != $((RUNS + WARMUP)) ]; then
        nbad=$((nbad + 1)); first="${first:+$first; }$k destinations for $((RUNS + WARMUP)) runs"
    fi
    if [ "$nbad" != 0 ]; then
        FAILED=1
        row "$sc" "$tool" "$label" "$server" "WRONG: $nbad of $k runs: $first" "$(basename "$json")" "$bytes" "$cmd" "$prep"
        return
    fi
    if [ "$mode" = keep ]; then
        python3 "$UTIL" inodes "$dest" "$TMP/$name.inodes1"
        if ! cmp -s "$TMP/$name.inodes0" "$TMP/$name.inodes1"; then
            local n
            n=$(diff "$TMP/$name.inodes0" "$TMP/$name.inodes1" | grep -c '^>')
            why="did not skip: $n of $NFILES files got a new inode or mtime"
            log "$name: WRONG: $why"; FAILED=1
            row "$sc" "$tool" "$label" "$server" "WRONG: $why" "$(basename "$json")" "$bytes" "$cmd" "$prep"
            return
        fi
    fi
    if [ "$mode" = keep ]; then log "$name: ok (the destination still identical to the source, every file skipped)"
    else log "$name: ok (the destination of each of the $k runs identical to the source)"; fi
    row "$sc" "$tool" "$label" "$server" ok "$(basename "$json")" "$bytes" "$cmd" "$prep" "$reqs"
    [ "$mode" = keep ] || mv -- "$dest" "$(mktemp -u "$GRAVE/$name.XXXXXX")"
}

DL=$TMP/dl
mkdir -p "$DL" "$TMP/up-rsync"
BIGURL=tree/$(urlpath "$BIGREL")

if scen download; then
    want rsync && measure download rsync "rsync -a (ssh)" sshd "$BYTES" "$DL/rsync" "$TMP/tree.manifest" fresh -- \
        rsync -a -e "$SSH_E" "root@127.0.0.1:$TREE/" "$DL/rsync/"
    want rclone && measure download rclone "rclone copy --transfers 4 (http)" nginx "$BYTES" "$DL/rclone" "$TMP/tree.manifest" fresh -- \
        rclone copy --config /dev/null --transfers 4 --ca-cert "$NG_CERT" --http-url "$NG_URL/tree/" :http: "$DL/rclone"
    if want kxfer; then
        for p in 2 4; do
            measure download "kxfer-p$p" "kxfer get -r --parallel $p" "kxfer serve" "$BYTES" "$DL/kxfer-p$p" "$TMP/tree.manifest" fresh -- \
                "$KXFER" get -r "$KXD_URL/tree/" -o "$DL/kxfer-p$p" --ca "$KXD_CERT" --parallel "$p" --quiet
        done
        # --verify: SHA-256 of every file on both sides, as rsync checks every file it moves
        measure download kxfer-verify "kxfer get -r --verify" "kxfer serve" "$BYTES" "$DL/kxfer-verify" "$TMP/tree.manifest" fresh -- \
            "$KXFER" get -r "$KXD_URL/tree/" -o "$DL/kxfer-verify" --ca "$KXD_CERT" --verify --quiet
    fi
fi

if scen upload; then
    want rsync && measure upload rsync "rsync -a (ssh)" sshd "$BYTES" "$TMP/up-rsync/up" "$TMP/tree.manifest" fresh-mkdir -- \
        rsync -a -e "$SSH_E" "$TREE/" "root@127.0.0.1:$TMP/up-rsync/up/"
    if want rclone; then
        if [ -n "$NGINX_DAV_EXT" ]; then
            measure upload rclone "rclone copy --transfers 4 (webdav)" nginx "$BYTES" "$TMP/up-nginx/up" "$TMP/tree.manifest" fresh-mkdir -- \
                rclone copy --config /dev/null --transfers 4 --ca-cert "$NG_CERT" --webdav-url "$NG_URL/up/" "$TREE" :webdav:
        else
            skip upload rclone "rclone copy --transfers 4 (webdav)" nginx \
                "nginx has no PROPFIND (libnginx-mod-http-dav-ext is not installed; nginx-light lacks dav_ext): rclone's webdav backend lists the destination and reads every uploaded file back with PROPFIND, gets 405, counts each upload failed and retries; install libnginx-mod-http-dav-ext for this row"
        fi
    fi
    if want kxfer; then
        for p in 2 4; do
            measure upload "kxfer-p$p" "kxfer put -r --parallel $p" "kxfer serve" "$BYTES" "$TMP/up-kxfer/up-p$p/up" "$TMP/tree.manifest" fresh-mkdir -- \
                "$KXFER" put -r "$TREE" "$KXU_URL/up-p$p/up/" --ca "$KXU_CERT" --parallel "$p" --quiet
        done
    fi
fi

if scen bigfile; then
    want aria2c && measure bigfile aria2c "aria2c -x 4 -s 4 -k 1M" nginx "$BIGBYTES" "$DL/aria2c" "$TMP/big.manifest" fresh -- \
        aria2c -q -x 4 -s 4 -k 1M --ca-certificate="$NG_CERT" -d "$DL/aria2c" -o bigfile "$NG_URL/$BIGURL"
    want curl && measure bigfile curl "curl" nginx "$BIGBYTES" "$DL/curl" "$TMP/big.manifest" fresh -- \
        curl -sS --cacert "$NG_CERT" --create-dirs -o "$DL/curl/bigfile" "$NG_URL/$BIGURL"
    # fresh-mkdir: kxfer get -o FILE, like wget -O, does not make FILE's directory
    want kxfer && measure bigfile kxfer "kxfer get --parallel 4" "kxfer serve" "$BIGBYTES" "$DL/kxfer-big" "$TMP/big.manifest" fresh-mkdir -- \
        "$KXFER" get --parallel 4 "$KXD_URL/$BIGURL" -o "$DL/kxfer-big/bigfile" --ca "$KXD_CERT" --quiet
fi

if scen incremental; then
    want rsync && measure incremental rsync "rsync -a (ssh)" sshd "$BYTES" "$DL/inc-rsync" "$TMP/tree.manifest" keep -- \
        rsync -a -e "$SSH_E" "root@127.0.0.1:$TREE/" "$DL/inc-rsync/"
    want kxfer && measure incremental kxfer "kxfer get -r --parallel 4" "kxfer serve" "$BYTES" "$DL/inc-kxfer" "$TMP/tree.manifest" keep -- \
        "$KXFER" get -r "$KXD_URL/tree/" -o "$DL/inc-kxfer" --ca "$KXD_CERT" --parallel 4 --quiet
fi

# --- servers still up? report ---------------------------------------------------------------
for p in "${SPIDS[@]}"; do
    kill -0 "$p" 2>/dev/null || { log "a server (pid $p) exited during the runs"; FAILED=1; }
done
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
{
    echo "runs: hyperfine -N --warmup $WARMUP --runs $RUNS per tool"
    echo "tmp: $TMP"
    echo "command: TREE_FILES=$FILES TREE_MB=$MB RUNS=$RUNS bench/tree.sh"
    [ -n "${NG_PID:-}" ] && echo "nginx config: worker_processes auto ($NCPU workers), TLSv1.3 $SUITE, sendfile on, access log on"
    want kxfer && echo "kxfer serve: --threads $NCPU --ciphers $SUITE (access log on)"
    [ -n "${SSH_PID:-}" ] && echo "sshd config: Ciphers aes128-gcm@openssh.com, UsePAM no, LogLevel ERROR"
} >>"$OUT/machine.txt"
reported=1
python3 "$UTIL" report "$OUT" || { log "tree-util.py report failed"; exit 1; }
log "results: $OUT/tree.md"
cat "$OUT/tree.md"
[ $FAILED = 0 ] || { log "FAILED: a transfer was wrong or failed (see above and $OUT/tree.md)"; exit 1; }
exit 0
