#!/usr/bin/env bash
# In the guest: openssl s_server sends a KeyUpdate mid-body (see tests/ktls/50-keyupdate.sh).
. "$(dirname "$0")/lib.sh"
mkdir -p "$W/out"
# The body: digit lines only, so that no read s_server makes of its stdin can start with one
# of its command letters (q Q k K r R c B P S).
seq 1000000 1001999 >"$W/ku1"
seq 2000000 2001999 >"$W/ku2"
cat "$W/ku1" "$W/ku2" >"$W/ku.body"
total=$(size_of "$W/ku.body")

# fifo_drained FD: until (at most 10 s) nothing is left unread in the pipe open on FD
fifo_drained() {
    "$PY" -c 'import fcntl, struct, sys, termios, time
fd, end = int(sys.argv[1]), time.time() + 10
while struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"0000"))[0] > 0:
    if time.time() > end:
        sys.exit(1)
    time.sleep(0.01)
time.sleep(0.05)' "$1"
}

# ku_case CIPHER k|K on|off
ku_case() {
    local c=$1 cmd=$2 mode=$3 n rc o=$W/out/ku name
    n=$(short "$c")
    name="$n: KeyUpdate ('$cmd') from s_server after $(size_of "$W/ku1") of $total body bytes, kxfer get --ktls $mode"
    rm -f "$W/ss.fifo" "$o"
    mkfifo "$W/ss.fifo"
    exec {SSW}<>"$W/ss.fifo"   # s_server's stdin; we are its only writer
    if ! SS_STDIN=$W/ss.fifo start_s_server "s_server-$n-$cmd-$mode" -naccept 1 -ciphersuites "$c"; then
        exec {SSW}>&-; return
    fi
    stat_mark
    "$KXFER" get "https://127.0.0.1:$SS_PORT/ku" -o "$o" --ca "$SRV_CERT" --ktls "$mode" \
        --timeout 20 --json >"$W/get.json" 2>"$W/get.err" &
    local gp=$!
    # s_server copies what it receives to its stdout: the request has arrived.
    wait_for 10 file_has "$SS_LOG" '^GET /ku HTTP/1\.1' || echo "# no request seen by s_server"
    { printf 'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n' "$total"; cat "$W/ku1"; } >&"$SSW"
    # The command line must be alone in one of s_server's reads: write it, and what follows,
    # only once s_server has read everything before.
    fifo_drained "$SSW" || echo "# s_server did not read its stdin"
    echo "$cmd" >&"$SSW"   # SSL_key_update + SSL_do_handshake
    fifo_drained "$SSW" || echo "# s_server did not read its stdin"
    cat "$W/ku2" >&"$SSW"
    timeout 30 tail --pid="$gp" -f /dev/null   # (bounded wait for kxfer get)
    wait "$gp"; rc=$?
    exec {SSW}>&-          # EOF on stdin: s_server closes the connection and exits (-naccept 1)
    timeout 10 tail --pid="$SS_PID" -f /dev/null
    stop_s_server
    if file_has "$SS_LOG" '^SSL_do_handshake -> 1'; then
        ok "$name: s_server sent the KeyUpdate"
    else
        notok "$name: s_server sent the KeyUpdate"; diag "$SS_LOG"
    fi
    if [ "$mode" = on ]; then
        if [ "$rc" != 0 ] && file_has "$W/get.err" 'key update' && absent "$o" &&
           json_has "$W/get.json" rx_path ktls; then
            ok "$name: fails (exit $rc) naming the key update, no output or part file"
        else
            notok "$name: fails naming the key update, no output or part file (exit $rc)"
            ls -la "$W/out" | sed 's/^/#   /'; diag "$W/get.err" "$W/get.json"
        fi
        # kxfer get alone uses kTLS; it must stop before the kernel fails to decrypt.
        stat_expect "$name" 1 1
    else
        if [ "$rc" = 0 ] && same_file "$W/ku.body" "$o" && json_has "$W/get.json" rx_path userspace; then
            ok "$name: exit 0, body identical (userspace TLS followed the KeyUpdate)"
        else
            notok "$name: exit 0, body identical (userspace TLS followed the KeyUpdate) (exit $rc)"
            diag "$W/get.err" "$W/get.json" "$SS_LOG"
        fi
        stat_expect "$name (no kTLS)" 0 0
    fi
    rm -f "$o"
}
for c in $CIPHERS; do
    ku_case "$c" k on
    ku_case "$c" k off
done
ku_case TLS_AES_128_GCM_SHA256 K on
ku_case TLS_AES_128_GCM_SHA256 K off
finish
