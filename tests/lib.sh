# Shared helpers for integration and kTLS tests.  Source it: . "$(dirname "$0")/../lib.sh"
# Every check prints "ok - NAME" / "not ok - NAME" / "skip - NAME: WHY" (see tests/run.sh).
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KXFER=${KXFER:-$TOP/build/kxfer}
T=$(mktemp -d /tmp/kxfer-t.XXXXXX)
FAILS=0
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

ok()    { echo "ok - $*"; }
notok() { echo "not ok - $*"; FAILS=$((FAILS + 1)); }
skip()  { echo "skip - $*"; }
# check NAME COMMAND...: ok when the command succeeds.
check() { local n=$1; shift; if "$@"; then ok "$n"; else notok "$n"; fi; }
finish() { [ "$FAILS" -eq 0 ]; exit $?; }

sha() { sha256sum "$1" | cut -d' ' -f1; }
same_file() { [ -f "$1" ] && [ -f "$2" ] && [ "$(sha "$1")" = "$(sha "$2")" ]; }

# A free TCP port on loopback (the kernel picks one; a tiny race is acceptable in tests).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
    local port=$1 n=$(( ${2:-10} * 20 ))
    while [ $n -gt 0 ]; do
        (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
        sleep 0.05; n=$((n - 1))
    done
    return 1
}

# make_tree DIR: the standard test files.
make_tree() {
    local d=$1
    mkdir -p "$d/sub"
    : >"$d/empty"
    printf 'x' >"$d/one"
    head -c 16383 /dev/urandom >"$d/r16383"
    head -c 16384 /dev/urandom >"$d/r16384"
    head -c 16385 /dev/urandom >"$d/r16385"
    head -c 1048576 /dev/urandom >"$d/r1m"
    head -c $((64 * 1048576)) /dev/urandom >"$d/r64m"
    echo "hello from sub" >"$d/sub/hello.txt"
}

# start_serve NAME [ARGS...]: start build/kxfer serve on a free port with its own state dir
# ($T/state) and log ($T/NAME.log); sets PORT, URL, CERT, SERVE_PID.
start_serve() {
    local name=$1; shift
    PORT=$(free_port)
    mkdir -p "$T/state"
    "$KXFER" serve --listen "127.0.0.1:$PORT" --state-dir "$T/state" --threads 1 "$@" \
        2>"$T/$name.log" &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    URL="https://127.0.0.1:$PORT"
    CERT="$T/state/cert.pem"
    if ! wait_port "$PORT" 10; then
        echo "# server $name did not start:"; sed 's/^/# /' "$T/$name.log"
        return 1
    fi
}

stop_serve() {
    kill "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
}

# pin_of CERT.pem: the sha256:HEX pin of a certificate.
pin_of() {
    echo "sha256:$(openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1)"
}
