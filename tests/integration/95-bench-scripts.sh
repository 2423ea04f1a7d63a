#!/usr/bin/env bash
# bench/ (hyperfine): a tiny bench/run.sh (4 MiB, 1 run) into a temp dir, with BENCH_NO_DOCS=1
# so that neither bench/results/ nor docs/ change; its results must have every server/client
# row with numbers, the machine's facts and hyperfine's exports.  Also: a short transfer fails
# the bench (exit 1), a missing prerequisite exits 2 naming the package, and --report
# recomputes the same results.csv from the dir.  Numbers are not judged (docs/benchmarks.md).
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

KXFER=$KXFER BENCH_SIZE_MB=4 BENCH_RUNS=1 BENCH_OUT=$OUT BENCH_NO_DOCS=1 timeout 50 bash "$RUN" \
    >"$T/bench.out" 2>"$T/bench.err"
rc=$?
is "bench/run.sh, 4 MiB x 1 run: exit 0" "$rc" 0
[ "$rc" != 0 ] && tail -n 20 "$T/bench.err" | sed 's/^/#   /'

# results.csv: server,client,status,runs,mb_s_median,mb_s_min,mb_s_max,server_cpu_s_per_gib,
# client_cpu_s_per_gib,...
num='^[0-9]+(\.[0-9]+)?$'
row_ok() {   # SERVER CLIENT: status ok and numbers in the first numeric columns
    local line
    line=$(grep "^$1,$2," "$OUT/results.csv" 2>/dev/null) || return 1
    IFS=, read -r _ _ st runs med lo hi scpu ccpu _ <<<"$line"
    [ "$st" = ok ] && [ "$runs" = 1 ] || return 1
    for v in "$med" "$lo" "$hi" "$scpu" "$ccpu"; do [[ $v =~ $num ]] || return 1; done
    awk -v m="$med" 'BEGIN { exit !(m > 0) }'
}
bad=""
for s in kxfer-serve nginx; do
    for c in kxfer-get curl wget; do row_ok "$s" "$c" || bad="$bad $s/$c"; done
done
is "results.csv: kxfer serve and nginx x kxfer get, curl, wget: ok with numbers" "$bad" ""
if grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
    bad=""
    for s in kxfer-serve-ktls nginx-ktls; do
        for c in kxfer-get curl wget; do row_ok "$s" "$c" || bad="$bad $s/$c"; done
    done
    is "results.csv: kernel TLS servers (this kernel has TLS) x every client: numbers" "$bad" ""
    check "results.csv: kxfer serve --ktls on sent with kernel TLS (tx=ktls)" \
        grep -q '^kxfer-serve-ktls,curl,ok,.*server tx=ktls' "$OUT/results.csv"
    check "results.csv: nginx + KTLS row says whether nginx sent with kernel TLS" \
        grep -qE '^nginx-ktls,curl,ok,.*server kTLS send on [01] of 1 connections' "$OUT/results.csv"
    grep -q '^nginx-ktls,curl,ok,.*server kTLS send on 0 of' "$OUT/results.csv" &&
        echo "# note: nginx did not use kernel TLS here (its OpenSSL or nginx lacks kTLS support)"
else
    n=$(grep -cE '^(kxfer-serve-ktls|nginx-ktls),(kxfer-get|curl|wget),"?unavailable: .*tcp_available_ulp' \
        "$OUT/results.csv" 2>/dev/null)
    is "results.csv: kernel TLS rows say unavailable and why (no tls ULP here)" "$n" 6
    check "table.md: says why there are no kernel TLS rows" \
        grep -q 'No kernel TLS rows: ' "$OUT/table.md"
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
for s in kxfer-serve nginx; do
    check "hyperfine-$s.json: kxfer-get, curl, wget, 1 run each, exit 0" hf_ok "$OUT/hyperfine-$s.json"
    check "hyperfine-$s.md exists" grep -q 'kxfer-get' "$OUT/hyperfine-$s.md"
done
check "runs.csv: warm-up and run of every pair, the file's size each" \
    test "$(grep -c ',4194304,' "$OUT/runs.csv" 2>/dev/null)" -ge 12
check "table.md has the table" grep -q '^| kxfer serve | kxfer get | [0-9]' "$OUT/table.md"
if command -v gnuplot >/dev/null; then
    check "chart.svg (gnuplot)" grep -q '<svg' "$OUT/chart.svg"
else
    skip "chart.svg: gnuplot not installed"
fi

cp "$OUT/results.csv" "$T/results.first"
BENCH_NO_DOCS=1 bash "$RUN" --report "$OUT" >"$T/report.out" 2>&1
is "bench/run.sh --report DIR: exit 0" "$?" 0
check "--report recomputes the same results.csv" cmp -s "$T/results.first" "$OUT/results.csv"

# A client that exits 0 but got too few bytes fails the bench, and leaves no results dir.
cat >"$T/fake-kxfer" <<EOF
#!/usr/bin/env bash
if [ "\$1" = get ]; then echo '{"status":200,"exit_code":0,"bytes":1000}'; exit 0; fi
exec "$KXFER" "\$@"
EOF
chmod +x "$T/fake-kxfer"
KXFER=$T/fake-kxfer BENCH_SIZE_MB=1 BENCH_RUNS=1 BENCH_OUT=$T/short BENCH_NO_DOCS=1 \
    BENCH_SERVERS=nginx BENCH_CLIENTS=kxfer-get timeout 40 bash "$RUN" >/dev/null 2>"$T/short.err"
is "a short transfer (exit 0, 1000 bytes): bench exits 1" "$?" 1
check "... and says why" grep -q "got '1000' bytes, expected 1048576" "$T/short.err"
check "... and leaves no results dir" test ! -e "$T/short"

# A missing prerequisite: exit 2 with the Debian package names.
mkdir -p "$T/bin"
for c in bash dirname python3 openssl curl wget; do ln -sf "$(command -v "$c")" "$T/bin/$c"; done
PATH=$T/bin /bin/bash "$RUN" >/dev/null 2>"$T/missing.err"
is "hyperfine missing: exit 2" "$?" 2
check "... naming the package (apt-get install hyperfine)" grep -q 'apt-get install .*hyperfine' "$T/missing.err"

is "docs/benchmarks.md, docs/benchmarks.svg and bench/results/ unchanged" "$(snapshot)" "$before"
finish
