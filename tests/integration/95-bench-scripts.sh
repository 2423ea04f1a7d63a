#!/usr/bin/env bash
# bench/ (hyperfine): a tiny bench/run.sh (4 MiB, 1 run) into a temp dir, with BENCH_NO_DOCS=1
# so that neither bench/results/ nor docs/ change; its results must have every network/server/
# client row with numbers (loopback, and netns when root can make network namespaces here; else
# the note why not), issue 9's goal lines per network, the machine's facts and hyperfine's
# exports, and no namespace left behind.  Also: a short transfer fails the bench (exit 1), Ctrl-C
# exits 130, both removing the namespaces; a missing prerequisite exits 2 naming the package;
# --report recomputes the same results.csv from the dir, and still reads a results dir from
# before BENCH_NET (no net column: loopback).  Numbers are not judged (docs/benchmarks.md).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

missing=""
for c in hyperfine nginx wget curl; do
    command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || missing="$missing $c"
done
if [ -n "$missing" ]; then
    skip "bench scripts: missing$missing (scripts/install-deps.sh installs them)"
    exit 77
fi

RUN=$TOP/bench/run.sh
OUT=$T/res
snapshot() { (cd "$TOP" && { sha256sum docs/benchmarks.md docs/benchmarks.svg 2>/dev/null; ls -la bench/results; }); }
before=$(snapshot)

# Can this host run the netns network (what the bench does by default: root, ip netns, veth)?
nets=loopback netns_ok=0
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
    probe=kxb-t-$$
    if ip netns add "$probe-a" 2>/dev/null && ip netns add "$probe-b" 2>/dev/null &&
        ip link add "kxb-t$$" netns "$probe-a" type veth peer name "kxb-u$$" netns "$probe-b"             2>/dev/null; then
        nets="loopback netns" netns_ok=1
    fi
    ip netns delete "$probe-a" 2>/dev/null; ip netns delete "$probe-b" 2>/dev/null
fi
[ $netns_ok = 1 ] || echo "# no netns here (not root, or no ip netns / veth): loopback only"
bench_ns() { ip netns list 2>/dev/null | grep -oE '^kxb-(srv|cli)-[0-9]+' | sort; }
ns_before=$(bench_ns)

KXFER=$KXFER BENCH_SIZE_MB=4 BENCH_RUNS=1 BENCH_OUT=$OUT BENCH_NO_DOCS=1 timeout 50 bash "$RUN" \
    >"$T/bench.out" 2>"$T/bench.err"
rc=$?
is "bench/run.sh, 4 MiB x 1 run: exit 0" "$rc" 0
[ "$rc" != 0 ] && tail -n 20 "$T/bench.err" | sed 's/^/#   /'

is "bench/run.sh: no network namespace of the bench left behind" "$(bench_ns)" "$ns_before"

# results.csv: net,server,client,status,runs,mb_s_median,mb_s_min,mb_s_max,
# server_cpu_s_per_gib,client_cpu_s_per_gib,...
num='^[0-9]+(\.[0-9]+)?$'
row_ok() {   # NET SERVER CLIENT: status ok and numbers in the first numeric columns
    local line
    line=$(grep "^$1,$2,$3," "$OUT/results.csv" 2>/dev/null) || return 1
    IFS=, read -r _ _ _ st runs med lo hi scpu ccpu _ <<<"$line"
    [ "$st" = ok ] && [ "$runs" = 1 ] || return 1
    for v in "$med" "$lo" "$hi" "$scpu" "$ccpu"; do [[ $v =~ $num ]] || return 1; done
    awk -v m="$med" 'BEGIN { exit !(m > 0) }'
}
check "results.csv: the net column first" grep -q '^net,server,client,status,runs,' "$OUT/results.csv"
check "results.csv: networks $nets, nothing else" \
    test "$(tail -n +2 "$OUT/results.csv" | cut -d, -f1 | uniq | xargs)" = "$nets"
for net in $nets; do
    bad=""
    for s in kxfer-serve nginx; do
        for c in kxfer-get curl wget; do row_ok "$net" "$s" "$c" || bad="$bad $s/$c"; done
    done
    is "results.csv, $net: kxfer serve and nginx x kxfer get, curl, wget: ok with numbers" "$bad" ""
    if grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
        bad=""
        for s in kxfer-serve-ktls nginx-ktls; do
            for c in kxfer-get curl wget; do row_ok "$net" "$s" "$c" || bad="$bad $s/$c"; done
        done
        is "results.csv, $net: kernel TLS servers (this kernel has TLS) x every client: numbers" "$bad" ""
        check "results.csv, $net: kxfer serve --ktls on sent with kernel TLS (tx=ktls)" \
            grep -q "^$net,kxfer-serve-ktls,curl,ok,.*server tx=ktls" "$OUT/results.csv"
        check "results.csv, $net: nginx + KTLS row says whether nginx sent with kernel TLS" \
            grep -qE "^$net,nginx-ktls,curl,ok,.*server kTLS send on [01] of 1 connections" "$OUT/results.csv"
        grep -q "^$net,nginx-ktls,curl,ok,.*server kTLS send on 0 of" "$OUT/results.csv" &&
            echo "# note: nginx did not use kernel TLS here (its OpenSSL or nginx lacks kTLS support)"
    else
        n=$(grep -cE "^$net,(kxfer-serve-ktls|nginx-ktls),(kxfer-get|curl|wget),\"?unavailable: .*tcp_available_ulp" \
            "$OUT/results.csv" 2>/dev/null)
        is "results.csv, $net: kernel TLS rows say unavailable and why (no tls ULP here)" "$n" 6
    fi
    check "table.md, $net: the table has its rows" \
        grep -q "^| $net | kxfer serve | kxfer get | [0-9]" "$OUT/table.md"
    bad=""
    for g in "Goal, end to end: kxfer get <- kxfer serve [0-9]+ MB/s / curl <- nginx [0-9]+ MB/s = [0-9.-]+x \(goal >= 1.3x" \
             "Goal, server CPU-s/GiB: kxfer serve serving kxfer get [0-9.]+ / nginx serving curl [0-9.]+ = [0-9.-]+x \(goal <= 0.75x" \
             "Goal, client CPU-s/GiB: kxfer get from kxfer serve [0-9.]+ / curl from nginx [0-9.]+ = [0-9.-]+x \(goal <= 0.73x" \
             "kxfer serve CPU-s/GiB serving kxfer get vs serving curl: [0-9.]+ vs [0-9.]+ \(x"; do
        tr '\n' ' ' <"$OUT/table.md" | sed 's/  */ /g; s/ - /\n- /g' |
            grep -qE "^- $net: $g" || bad="$bad [$g]"
    done
    is "table.md, $net: issue 9's three goals and the serving-kxfer-get-vs-curl line" "$bad" ""
done
check "table.md: goals say met or missed" grep -qE '\*\*(met|missed)\*\*' "$OUT/table.md"
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null ||
    check "table.md: says why there are no kernel TLS rows" grep -q 'No kernel TLS rows: ' "$OUT/table.md"
if [ $netns_ok = 1 ]; then
    check "table.md: how the netns network was made (ip netns add, veth, 198.18.0.1/30)" \
        grep -q '^ip link add kxb-s-[0-9]* netns kxb-srv-[0-9]* mtu 1500 type veth' "$OUT/table.md"
    check "table.md: the netns servers ran under ip netns exec, hyperfine too" \
        test "$(grep -cE '^\S*ip netns exec kxb-(srv|cli)-[0-9]+ ' "$OUT/table.md")" -ge 4
else
    check "table.md: says why netns was not measured" grep -q 'net netns: not measured: ' "$OUT/table.md"
fi

bad=""
for k in date cpu cores kernel kTLS openssl kxfer nginx curl wget hyperfine; do
    grep -qE "^$k: +[^ ]" "$OUT/machine.txt" 2>/dev/null || bad="$bad $k"
done
is "machine.txt: date, CPU, cores, kernel, kTLS, OpenSSL and tool versions" "$bad" ""
check "machine.txt: kTLS line says available or unavailable, with the reason" \
    grep -qE '^kTLS: +(available|unavailable): .*tcp_available_ulp' "$OUT/machine.txt"

hf_ok() {   # hyperfine JSON of a server: kxfer-get, curl, wget with one timed run each
    python3 - "$1" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
assert sorted(r) == ["curl", "kxfer-get", "wget"], sorted(r)
assert all(len(x["times"]) == 1 and x["exit_codes"] == [0] for x in r.values())
EOF
}
for net in $nets; do
    for s in kxfer-serve nginx; do
        h=$OUT/hyperfine-$net-$s
        check "hyperfine-$net-$s.json: kxfer-get, curl, wget, 1 run each, exit 0" hf_ok "$h.json"
        check "hyperfine-$net-$s.md exists" grep -q 'kxfer-get' "$h.md"
    done
    check "runs.csv, $net: warm-up and run of every pair, the file's size each" \
        test "$(grep -c "^$net,.*,4194304," "$OUT/runs.csv" 2>/dev/null)" -ge 12
done
if command -v gnuplot >/dev/null; then
    check "chart.svg (gnuplot)" grep -q '<svg' "$OUT/chart.svg"
else
    skip "chart.svg: gnuplot not installed"
fi

cp "$OUT/results.csv" "$T/results.first"
BENCH_NO_DOCS=1 bash "$RUN" --report "$OUT" >"$T/report.out" 2>&1
is "bench/run.sh --report DIR: exit 0" "$?" 0
check "--report recomputes the same results.csv" cmp -s "$T/results.first" "$OUT/results.csv"

# A results dir from before BENCH_NET (hyperfine-SERVER.json, no net column): loopback.
old=$(ls -d "$TOP"/bench/results/2026-11-28-vm-2 2>/dev/null)
if [ -n "$old" ]; then
    cp -r "$old" "$T/old"
    BENCH_NO_DOCS=1 bash "$RUN" --report "$T/old" >"$T/old.out" 2>&1
    is "--report on a results dir from before BENCH_NET: exit 0" "$?" 0
    check "... its rows are loopback rows" grep -q '^loopback,kxfer-serve,kxfer-get,ok,5,' "$T/old/results.csv"
    check "... with the goals" grep -q '^- loopback: Goal, end to end: ' "$T/old/table.md"
else
    skip "--report on an old results dir: bench/results/2026-11-28-vm-2 is not there"
fi

# A client that exits 0 but got too few bytes fails the bench, and leaves no results dir.
cat >"$T/fake-kxfer" <<EOF
#!/usr/bin/env bash
if [ "\$1" = get ]; then echo '{"status":200,"exit_code":0,"bytes":1000}'; exit 0; fi
exec "$KXFER" "\$@"
EOF
chmod +x "$T/fake-kxfer"
net=loopback; [ $netns_ok = 1 ] && net=netns
KXFER=$T/fake-kxfer BENCH_SIZE_MB=1 BENCH_RUNS=1 BENCH_OUT=$T/short BENCH_NO_DOCS=1 BENCH_NET=$net \
    BENCH_SERVERS=nginx BENCH_CLIENTS=kxfer-get timeout 40 bash "$RUN" >/dev/null 2>"$T/short.err"
is "a short transfer (exit 0, 1000 bytes, $net): bench exits 1" "$?" 1
check "... and says why" grep -q "got '1000' bytes, expected 1048576" "$T/short.err"
check "... and leaves no results dir" test ! -e "$T/short"
is "... and no network namespace" "$(bench_ns)" "$ns_before"

# Ctrl-C (SIGINT) once the namespaces exist: exit 130, and they are gone.
if [ $netns_ok = 1 ]; then
    # python3 itself in the background (its pid names the namespaces; it sets its own
    # SIGINT handler, so the background's ignored SIGINT does not matter)
    BENCH_SIZE_MB=1 BENCH_RUNS=1 BENCH_OUT=$T/int BENCH_NO_DOCS=1 BENCH_NET=netns \
        python3 "$TOP/bench/bench.py" >/dev/null 2>"$T/int.err" &
    bpid=$!
    n=200
    while [ $n -gt 0 ] && ! ip netns list 2>/dev/null | grep -q "^kxb-cli-$bpid\b"; do
        sleep 0.05; n=$((n - 1))
    done
    kill -INT "$bpid"
    n=600
    while [ $n -gt 0 ] && kill -0 "$bpid" 2>/dev/null; do sleep 0.05; n=$((n - 1)); done
    kill -KILL "$bpid" 2>/dev/null
    wait "$bpid"
    is "Ctrl-C while the netns bench runs: exit 130" "$?" 130
    check "... and says so" grep -q 'interrupted (signal 2)' "$T/int.err"
    is "... its namespaces are removed" "$(bench_ns)" "$ns_before"
    check "... and it leaves no results dir" test ! -e "$T/int"
else
    skip "Ctrl-C removes the namespaces: no netns here"
fi

# A missing prerequisite: exit 2 with the Debian package names.
mkdir -p "$T/bin"
for c in bash dirname python3 openssl curl wget; do ln -sf "$(command -v "$c")" "$T/bin/$c"; done
PATH=$T/bin /bin/bash "$RUN" >/dev/null 2>"$T/missing.err"
is "hyperfine missing: exit 2" "$?" 2
check "... naming the package (apt-get install hyperfine)" grep -q 'apt-get install .*hyperfine' "$T/missing.err"

is "docs/benchmarks.md, docs/benchmarks.svg and bench/results/ unchanged" "$(snapshot)" "$before"
finish
