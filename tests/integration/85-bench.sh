#!/usr/bin/env bash
# kxfer bench on this host: --quick moves the right bytes on every path the host can run
# (plain and userspace: numbers; kTLS rows "unavailable: REASON" when the kernel has no tls
# ULP, numbers when it has), in the table, --json and --csv; --plot draws a chart; --netns
# runs across two namespaces and removes them; --peers adds nginx and curl and the ratios;
# bad options exit 2; nothing is left behind.
. "$(dirname "$0")/../lib.sh"
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
has_ulp=0
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null && has_ulp=1

# --- --quick --json: every row, every available one with numbers and the right paths
t0=$EPOCHREALTIME
"$KXFER" bench --quick --json >"$T/b.json" 2>"$T/b.err"
rc=$?
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
check "bench --quick --json: exit 0 (${secs}s)" [ "$rc" = 0 ]
check "bench --quick finishes in under a minute (${secs}s)" awk -v s="$secs" 'BEGIN { exit !(s < 60) }'
python3 - "$T/b.json" "$has_ulp" >"$T/check.out" 2>&1 <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
has_ulp = sys.argv[2] == "1"
suites = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
rows = {(r["path"], r["cipher"]): r for r in doc["rows"]}
def check(name, cond):
    print(("ok - " if cond else "not ok - ") + name)
check("json: 10 rows (plain + 3 paths x 3 ciphers)", len(doc["rows"]) == 10)
check("json: verified downloads, 8 MiB, 3 runs", doc["verified"] and doc["size"] == 8 << 20 and doc["runs"] == 3)
h = doc["host"]
check("json: host facts (cpu, cpus, kernel, openssl, ktls)",
      h["cpu"] and h["cpus"] >= 1 and h["kernel"] and h["openssl"].startswith("OpenSSL") and isinstance(h["ktls"], bool))
def numbers(r, send, recv):
    return (r.get("ok") and r["available"] and r["mbps"] > 0 and r["gbps"] > 0
            and r["send_cpu_s_per_gib"] > 0 and r["recv_cpu_s_per_gib"] > 0
            and r["mbps_min"] <= r["mbps"] <= r["mbps_max"] and len(r["samples"]) == 3
            and r["send_path"] == send and r["recv_path"] == recv)
check("json: plain row has numbers, sender and receiver plain", numbers(rows.get(("plain", None), {}), "plain", "plain"))
for s in suites:
    check(f"json: userspace {s} has numbers, both sides userspace", numbers(rows.get(("userspace", s), {}), "userspace", "userspace"))
for s in suites:
    for p, recv in (("ktls-tx", "userspace"), ("ktls", "ktls")):
        r = rows.get((p, s), {"available": None, "reason": ""})
        if has_ulp:
            check(f"json: {p} {s} has numbers (this kernel has the tls ULP)", numbers(r, "ktls", recv))
        else:
            check(f"json: {p} {s} unavailable, naming the missing tls ULP, no numbers",
                  not r["available"] and "tls ULP" in r["reason"] and "mbps" not in r)
check("json: host ktls flag matches the kernel", h["ktls"] == has_ulp)
import os
stat = os.path.exists("/proc/net/tls_stat")
check("json: kernel_tls_sessions present exactly when /proc/net/tls_stat is (%s)" % stat,
      all(("kernel_tls_sessions" in r) == stat for r in doc["rows"] if r.get("ok")))
PY
pyrc=$?
cat "$T/check.out"
[ "$pyrc" = 0 ] || notok "json checks ran to the end (python exit $pyrc)"
grep -q '^not ok' "$T/check.out" && { FAILS=$((FAILS + 1)); sed 's/^/# /' "$T/b.json" | head -c 3000; }
grep -q '^ok' "$T/check.out" || notok "json checks ran"

# --- the table
"$KXFER" bench --quick --paths plain,userspace,ktls --ciphers aes128gcm >"$T/t.out" 2>"$T/t.err"
rc=$?
check "bench table: exit 0" [ "$rc" = 0 ]
check "bench table: host line with kernel and OpenSSL" grep -q "^host: .*Linux $(uname -r), OpenSSL" "$T/t.out"
check "bench table: a plain row with numbers" grep -Eq '^plain +- +1 +[0-9.]+ +[0-9.]+ ' "$T/t.out"
check "bench table: a userspace row with numbers" grep -Eq '^userspace +TLS_AES_128_GCM_SHA256 +1 +[0-9.]+ ' "$T/t.out"
if [ "$has_ulp" = 0 ]; then
    check "bench table: ktls row says unavailable and why" \
        grep -Eq '^ktls +TLS_AES_128_GCM_SHA256 +1 unavailable: .*tls ULP' "$T/t.out"
else
    check "bench table: ktls row has numbers" grep -Eq '^ktls +TLS_AES_128_GCM_SHA256 +1 +[0-9.]+ ' "$T/t.out"
fi
check "bench table: no ktls-tx row (not asked for)" bash -c "! grep -q '^ktls-tx' '$T/t.out'"

# --- CSV
"$KXFER" bench --quick --csv --conns 1,2 --paths plain,userspace --ciphers chacha20 >"$T/c.csv" 2>"$T/c.err"
rc=$?
check "bench --csv --conns 1,2: exit 0" [ "$rc" = 0 ]
check "bench --csv: header" grep -q '^path,cipher,conns,available,gbps,mbps,' "$T/c.csv"
check "bench --csv: 4 rows (2 paths x conns 1,2)" [ "$(tail -n +2 "$T/c.csv" | wc -l)" = 4 ]
check "bench --csv: userspace chacha20 with 2 connections has numbers" \
    grep -Eq '^userspace,TLS_CHACHA20_POLY1305_SHA256,2,yes,[0-9.]+,[0-9.]+,' "$T/c.csv"

# --- --seconds: runs repeat until the time is spent (at least 3)
t0=$EPOCHREALTIME
"$KXFER" bench --quick --size 128M --paths plain --seconds 1 --json >"$T/sec.json" 2>/dev/null
rc=$?
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
check "bench --seconds 1: exit 0, 3 to 64 runs, at least 1 s spent (${secs}s), seconds in the JSON" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
r = d["rows"][0]
assert sys.argv[3] == "0" and d["seconds"] == 1 and d["runs"] is None
assert r["ok"] and 3 <= len(r["samples"]) <= 64 and float(sys.argv[2]) >= 1.0' "$T/sec.json" "$secs" "$rc"

# --- --plot
if command -v gnuplot >/dev/null; then
    "$KXFER" bench --quick --paths plain,userspace --ciphers aes128gcm --plot "$T/chart.svg" \
        >/dev/null 2>"$T/p.err"
    rc=$?
    check "bench --plot chart.svg: exit 0, an SVG with the rows" \
        bash -c "[ $rc = 0 ] && grep -q '<svg' '$T/chart.svg' && grep -q 'userspace AES_128_GCM' '$T/chart.svg'"
    "$KXFER" bench --quick --paths plain --plot "$T/chart.png" >/dev/null 2>&1
    check "bench --plot chart.png: a PNG" bash -c "file '$T/chart.png' | grep -q 'PNG image'"
else
    skip "bench --plot: gnuplot is not installed (apt-get install gnuplot-nox)"
fi

# --- --netns: two namespaces and a veth pair, removed afterwards
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && ip netns add "kxfer-probe-$$" 2>/dev/null; then
    ip netns delete "kxfer-probe-$$"
    "$KXFER" bench --quick --netns --paths plain,userspace --ciphers aes128gcm --json >"$T/n.json" 2>"$T/n.err"
    rc=$?
    check "bench --netns: exit 0" [ "$rc" = 0 ]
    check "bench --netns: network netns, both rows with numbers" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["network"] == "netns"
assert all(r["ok"] and r["mbps"] > 0 for r in d["rows"]) and len(d["rows"]) == 2' "$T/n.json"
    check "bench --netns: the namespaces are gone afterwards" bash -c "! ip netns list | grep -q kxfer-bench"
    check "bench --netns: the veth pair is gone afterwards" bash -c "! ip -o link | grep -q ' kxb[sc][0-9]'"
else
    skip "bench --netns: needs root and 'ip netns' (iproute2)"
fi

# --- --peers: curl <- nginx, kxfer get <- nginx and curl <- kxfer serve beside kxfer's own pair
# on the userspace path, and the three ratios against their goals
NGINX=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
if [ -n "$NGINX" ] && command -v curl >/dev/null; then
    "$KXFER" bench --quick --peers --paths plain,userspace --ciphers aes128gcm --json >"$T/pj.json" 2>"$T/pj.err"
    rc=$?
    check "bench --quick --peers --json: exit 0" [ "$rc" = 0 ]
    python3 - "$T/pj.json" >"$T/pcheck.out" 2>&1 <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
def check(name, cond):
    print(("ok - " if cond else "not ok - ") + name)
rows = doc["rows"]
pairs = [(r["path"], r["client"], r["server"]) for r in rows]
check("peers json: plain, then the userspace row and its three peers, in that order",
      pairs == [("plain", "kxfer get", "kxfer serve"), ("userspace", "kxfer get", "kxfer serve"),
                ("userspace", "curl", "nginx"), ("userspace", "kxfer get", "nginx"),
                ("userspace", "curl", "kxfer serve")])
check("peers json: verified downloads (every row compared byte for byte)", doc["verified"])
for r in rows[1:]:
    check(f"peers json: {r['client']} <- {r['server']}: numbers, 3 runs, userspace both sides",
          r["ok"] and r["cipher"] == "TLS_AES_128_GCM_SHA256" and r["mbps"] > 0
          and r["send_cpu_s_per_gib"] > 0 and r["recv_cpu_s_per_gib"] > 0 and len(r["samples"]) == 3
          and r["send_path"] == "userspace" and r["recv_path"] == "userspace")
pr = doc.get("peer_ratios", [])
check("peers json: one set of ratios, for the one cipher", len(pr) == 1 and pr[0]["cipher"] == "TLS_AES_128_GCM_SHA256")
q = {x["name"]: x for x in (pr[0]["ratios"] if pr else [])}
want = {"end_to_end_mbps": (1.30, "min", "mbps", "mbps"),
        "server_cpu_per_gib": (0.75, "max", "send_cpu_s_per_gib", "send_cpu_s_per_gib"),
        "client_cpu_per_gib": (0.73, "max", "recv_cpu_s_per_gib", "recv_cpu_s_per_gib")}
for name, (goal, kind, key, _) in want.items():
    x = q.get(name, {})
    v = rows[1][key] / rows[2][key]
    check(f"peers json: {name} = kxfer/kxfer over curl/nginx ({x.get('value')}), goal {kind} {goal}, met agrees",
          x.get("goal") == goal and x.get("goal_is") == kind and abs(x["value"] - v) <= 0.01 * v
          and x["met"] == (x["value"] <= goal if kind == "max" else x["value"] >= goal))
PY
    pyrc=$?
    cat "$T/pcheck.out"
    [ "$pyrc" = 0 ] || notok "peers json checks ran to the end (python exit $pyrc)"
    grep -q '^not ok' "$T/pcheck.out" && { FAILS=$((FAILS + 1)); sed 's/^/# /' "$T/pj.err" | tail -n 5; }
    "$KXFER" bench --quick --peers --paths userspace --ciphers aes128gcm >"$T/pt.out" 2>"$T/pt.err"
    rc=$?
    check "bench --quick --peers table: exit 0" [ "$rc" = 0 ]
    for pair in 'kxfer get <- kxfer serve' 'curl <- nginx' 'kxfer get <- nginx' 'curl <- kxfer serve'; do
        check "bench --peers table: a '$pair' row with numbers" \
            grep -Eq "^userspace +TLS_AES_128_GCM_SHA256 +$pair +1 +[0-9.]+ +[0-9.]+ " "$T/pt.out"
    done
    check "bench --peers table: the three ratio lines, each met or missed" bash -c "
        grep -Eq '^  end to end, MB/s: .* [0-9.]+  goal >= 1.30  (met|missed)\$' '$T/pt.out' &&
        grep -Eq '^  server CPU/GiB: .* [0-9.]+  goal <= 0.75  (met|missed)\$' '$T/pt.out' &&
        grep -Eq '^  client CPU/GiB: .* [0-9.]+  goal <= 0.73  (met|missed)\$' '$T/pt.out'"
    "$KXFER" bench --quick --peers --paths userspace --ciphers aes128gcm --csv >"$T/pc.csv" 2>/dev/null
    check "bench --peers --csv: client,server columns, 4 rows with numbers, 3 ratio lines" bash -c "
        grep -q ',reason,client,server,ratio,value,goal,verdict\$' '$T/pc.csv' &&
        [ \$(grep -c '^userspace,TLS_AES_128_GCM_SHA256,1,yes,[0-9]' '$T/pc.csv') = 4 ] &&
        [ \$(grep -Ec '^ratio,TLS_AES_128_GCM_SHA256,1,yes,.*,(met|missed)\$' '$T/pc.csv') = 3 ]"
    if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && ip netns add "kxfer-probe-$$" 2>/dev/null; then
        ip netns delete "kxfer-probe-$$"
        "$KXFER" bench --quick --peers --netns --paths userspace --ciphers aes128gcm --json >"$T/pn.json" 2>"$T/pn.err"
        rc=$?
        check "bench --peers --netns: exit 0, four rows with numbers, ratios measured" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert sys.argv[2] == "0" and d["network"] == "netns" and len(d["rows"]) == 4
assert all(r["ok"] and r["mbps"] > 0 for r in d["rows"])
assert all(q["value"] > 0 for q in d["peer_ratios"][0]["ratios"])' "$T/pn.json" "$rc"
        check "bench --peers --netns: no nginx left running" bash -c "! pgrep -f '[n]ginx -p $TMPDIR/kxfer-bench' >/dev/null"
    else
        skip "bench --peers --netns: needs root and 'ip netns' (iproute2)"
    fi
else
    skip "bench --peers: nginx or curl is not installed (apt-get install nginx-light curl)"
fi
# Without nginx (hidden in a mount namespace of its own, as root): the rows say why, and the
# ratios are not measured.
if [ -n "$NGINX" ] && [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    unshare -m sh -c 'mount --bind /dev/null "$1" && exec "$2" bench --quick --peers --paths userspace --ciphers aes128gcm' \
        sh "$(readlink -f "$NGINX")" "$KXFER" >"$T/pu.out" 2>"$T/pu.err"
    rc=$?
    check "bench --peers without nginx: exit 0, its rows 'unavailable: nginx not installed (apt-get install nginx-light)'" \
        bash -c "[ $rc = 0 ] && [ \$(grep -Ec ' <- nginx +1 unavailable: nginx not installed \\(apt-get install nginx-light\\)\$' '$T/pu.out') = 2 ]"
    check "bench --peers without nginx: the three ratios 'not measured'" \
        [ "$(grep -c '^  .* not measured (curl <- nginx: unavailable: nginx' "$T/pu.out")" = 3 ]
else
    skip "bench --peers without nginx: needs nginx, root and unshare -m to hide it"
fi

# --- bad options: exit 2 with a reason, nothing run
bad() { # NAME ARGS...
    local name=$1; shift
    "$KXFER" bench "$@" >"$T/bad.out" 2>"$T/bad.err"
    local rc=$?
    if [ "$rc" = 2 ] && [ -s "$T/bad.err" ] && [ ! -s "$T/bad.out" ]; then ok "bench $name: exit 2 ($(head -n 1 "$T/bad.err"))"
    else notok "bench $name: exit 2 with a reason (exit $rc)"; diag_file "$T/bad.err"; fi
}
diag_file() { head -n 5 "$1" | sed 's/^/#   /'; }
bad "--paths bogus" --paths plain,bogus
bad "--ciphers rc4" --ciphers rc4
bad "--conns 0" --conns 0
bad "--conns 300" --conns 300
bad "--runs 0" --runs 0
bad "--runs 65" --runs 65
bad "--size 0" --size 0
bad "--size lots" --size lots
bad "--json --csv" --json --csv
bad "stray argument" extra
bad "--plot chart.txt (not .png or .svg)" --plot "$T/chart.txt"
"$KXFER" bench --quick --paths plain --dir "$T/no/such/dir" >"$T/d.out" 2>"$T/d.err"
rc=$?
check "bench --dir that does not exist: exit 1, says where" \
    bash -c "[ $rc = 1 ] && grep -q 'cannot make a directory in $T/no/such/dir' '$T/d.err'"
"$KXFER" bench --help >"$T/h.out"
check "bench --help: exit 0, names every option" bash -c "grep -q -- '--paths' '$T/h.out' && grep -q -- '--netns' '$T/h.out' && grep -q -- '--plot' '$T/h.out' && grep -q -- '--quick' '$T/h.out' && grep -q -- '--peers' '$T/h.out'"

bad "--plot with a quote in the name" --plot "$T/it's.svg"

# --- a failed setup (the disk fills up) leaves nothing behind
mkdir -p "$T/small"
if mount -t tmpfs -o size=2m tmpfs "$T/small" 2>/dev/null; then
    "$KXFER" bench --quick --size 8M --paths plain --dir "$T/small" >/dev/null 2>"$T/s.err"
    rc=$?
    check "bench on a full disk: exit 1, says the test file could not be written" \
        bash -c "[ $rc = 1 ] && grep -q 'cannot write the 8388608-byte test file' '$T/s.err'"
    check "bench on a full disk: leaves nothing in --dir" [ -z "$(ls -A "$T/small")" ]
    umount "$T/small"
else
    skip "bench on a full disk: cannot mount a small tmpfs here (needs root)"
fi

# --- bench killed outright (SIGKILL, no chance to clean up): its servers die with it
"$KXFER" bench --size 64M --runs 50 --paths userspace --ciphers aes128gcm >/dev/null 2>&1 &
bpid=$!
for _ in $(seq 100); do pgrep -f "serve .*$TMPDIR/kxfer-bench" >/dev/null && break; sleep 0.05; done
started=$(pgrep -f "serve .*$TMPDIR/kxfer-bench")
kill -9 "$bpid"; wait "$bpid" 2>/dev/null
for _ in $(seq 40); do pgrep -f "$TMPDIR/kxfer-bench" >/dev/null || break; sleep 0.05; done
if [ -n "$started" ] && ! pgrep -f "$TMPDIR/kxfer-bench" >/dev/null; then
    ok "bench killed with SIGKILL: its kxfer serve (pid $started) died with it"
else
    notok "bench killed with SIGKILL: its kxfer serve died with it (started: '$started')"
    pkill -9 -f "$TMPDIR/kxfer-bench"
fi
rm -rf "$TMPDIR"/kxfer-bench.*   # SIGKILL leaves the directory: nothing could remove it

# --- nothing left behind in TMPDIR
check "bench leaves nothing in \$TMPDIR" [ -z "$(ls -A "$TMPDIR")" ]
finish
