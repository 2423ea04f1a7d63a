#!/usr/bin/env bash
# bench/tree.sh: a tiny run (30 files, 4 MiB, 1 run) into a temp dir must exit 0 and write
# tree.md with a table row, with numbers, for every tool of every scenario (rclone's upload
# may instead say why it was skipped: nginx without dav-ext), the machine's facts and the
# hyperfine exports, and leave no server or temp dir behind.  Also: a transfer that loses a
# file fails the bench (exit 1, the row says WRONG), and a missing tool exits 2 naming the
# Debian package.  Numbers are not judged.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

missing=""
for c in hyperfine rsync ssh ssh-keygen sshd rclone aria2c nginx curl python3 openssl; do
    command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || missing="$missing $c"
done
if [ -n "$missing" ]; then
    skip "bench/tree.sh: missing$missing (apt-get install hyperfine rsync openssh-client openssh-server rclone aria2 nginx-light curl)"
    exit 77
fi
if ! "$KXFER" get --help 2>&1 | grep -q -- '--recursive'; then
    notok "kxfer get --help mentions -r/--recursive (bench/tree.sh needs tree transfers)"
    finish
fi

RUN=$TOP/bench/tree.sh
OUT=$T/res
# gone TREE.ERR: the temp dir that run named ("building the test tree: ... in TMP/src/tree")
# is removed, and no process still has it in its command line (the servers are stopped)
gone() {
    local d
    d=$(sed -n 's|^tree: building the test tree: .* in \(/.*\)/src/tree$|\1|p' "$1" | head -n 1)
    [ -n "$d" ] && [ ! -e "$d" ] && ! pgrep -f -- "$d/" >/dev/null
}
results_before=$(ls "$TOP/bench/results" 2>/dev/null)

t0=$EPOCHREALTIME
KXFER=$KXFER TREE_FILES=30 TREE_MB=4 RUNS=1 OUT=$OUT timeout 100 bash "$RUN" \
    >"$T/tree.out" 2>"$T/tree.err"
rc=$?
secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
is "bench/tree.sh, 30 files, 4 MiB, 1 run: exit 0 (${secs}s)" "$rc" 0
[ "$rc" != 0 ] && tail -n 20 "$T/tree.err" | sed 's/^/#   /'

MD=$OUT/tree.md
check "tree.md written" test -s "$MD"
# row SECTION LABEL: the table row of LABEL in the section whose title starts with SECTION
row() {
    awk -v s="## $1" -v l="| $2 |" 'index($0, "## ") == 1 { on = index($0, s) == 1 }
        on && index($0, l) == 1 { print; exit }' "$MD"
}
num_row() {   # SECTION LABEL: the row has a median, a min-max, MB/s, a ratio and requests
    row "$1" "$2" | grep -qE '^\| [^|]+ \| [^|]+ \| [0-9]+\.[0-9]+ \| [0-9.]+-[0-9.]+ \| ([0-9]+|–) \| [0-9]+\.[0-9]+ \| [^|]+ \|$'
}
bad=""
for r in "Download|rsync -a (ssh)" "Download|rclone copy --transfers 4 (http)" \
         "Download|kxfer get -r --parallel 2" "Download|kxfer get -r --parallel 4" \
         "Download|kxfer get -r --verify" \
         "Upload|rsync -a (ssh)" "Upload|kxfer put -r --parallel 2" "Upload|kxfer put -r --parallel 4" \
         "One big file|aria2c -x 4 -s 4 -k 1M" "One big file|curl" \
         "One big file|kxfer get --parallel 4" \
         "Incremental|rsync -a (ssh)" "Incremental|kxfer get -r --parallel 4"; do
    num_row "${r%%|*}" "${r#*|}" || bad="$bad [${r/|/: }]"
done
is "tree.md: every scenario's tools have numbers" "$bad" ""
if num_row Upload "rclone copy --transfers 4 (webdav)"; then
    ok "tree.md: rclone upload (webdav) has numbers (nginx has dav-ext here)"
else
    check "tree.md: rclone upload (webdav) says why it was skipped" \
        sh -c "grep -F '| rclone copy --transfers 4 (webdav) |' '$MD' | grep -q 'skipped: .*dav'"
fi
check "tree.md: requests per run counted from nginx's log (rclone: GET 200)" \
    sh -c "grep -F '| rclone copy --transfers 4 (http) |' '$MD' | grep -qE '[0-9]+ GET 200'"
check "tree.md: ... and from kxfer serve's (kxfer get -r: GET 200)" \
    sh -c "grep -F '| kxfer get -r --parallel 2 |' '$MD' | grep -qE '[0-9]+ GET 200'"
check "tree.md: the exact commands (rsync -a -e 'ssh -c aes128-gcm@openssh.com ...)" \
    grep -q "^rsync -a -e 'ssh -c aes128-gcm@openssh.com -p [0-9]* -i " "$MD"
check "tree.md: the commands name the temp dir as \$TMP" grep -q 'kxfer get -r https://127.0.0.1:[0-9]*/tree/ -o \$TMP/' "$MD"
check "tree.md: no transfer WRONG or FAILED" sh -c "! grep -qE 'WRONG|FAILED' '$MD'"
bad=""
for k in nproc kernel cpu rsync ssh rclone aria2c nginx curl kxfer hyperfine; do
    grep -qE "^- $k: +[^ ]" "$MD" || bad="$bad $k"
done
is "tree.md: machine facts and versions" "$bad" ""
check "tree.md: the background load before the runs, in percent" grep -qE '^- background load: [0-9]+% ' "$MD"
check "tree.txt: the tree has 30 files, 4 MiB" \
    sh -c "grep -qx 'files: 30' '$OUT/tree.txt' && grep -qx 'bytes: 4194304' '$OUT/tree.txt'"
hf_ok() {   # hyperfine JSON: one command, one timed run, exit 0
    python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
assert len(r) == 1 and len(r[0]["times"]) == 1 and r[0]["exit_codes"] == [0], r
EOF
}
bad=""
for s in download-rsync download-rclone download-kxfer-p2 download-kxfer-p4 download-kxfer-verify \
         upload-rsync upload-kxfer-p2 upload-kxfer-p4 bigfile-aria2c bigfile-curl bigfile-kxfer incremental-rsync incremental-kxfer; do
    hf_ok "$OUT/hyperfine-$s.json" 2>/dev/null || bad="$bad $s"
done
is "hyperfine-*.json: one run each, exit 0" "$bad" ""
check "no server process or temp dir left behind" gone "$T/tree.err"
is "bench/results/ unchanged (OUT was given)" "$(ls "$TOP/bench/results" 2>/dev/null)" "$results_before"

# A client that exits 0 but leaves a file out fails the bench: exit 1, WRONG in the table.
cat >"$T/lossy-kxfer" <<EOF
#!/usr/bin/env bash
[ "\$1 \$2" = "get -r" ] || exec "$KXFER" "\$@"
"$KXFER" "\$@"; rc=\$?
while [ \$# -gt 0 ]; do [ "\$1" = -o ] && out=\$2; shift; done
f=\$(find "\$out" -type f | sort | head -n 1); [ -n "\$f" ] && rm -f "\$f"
exit \$rc
EOF
chmod +x "$T/lossy-kxfer"
KXFER=$T/lossy-kxfer TREE_FILES=10 TREE_MB=1 RUNS=1 OUT=$T/lossy TREE_TOOLS=kxfer \
    TREE_SCENARIOS=download timeout 60 bash "$RUN" >/dev/null 2>"$T/lossy.err"
is "a tree download missing a file: bench exits 1" "$?" 1
check "... the row says WRONG and what is missing" \
    grep -qE '^\| kxfer get -r --parallel 2 \| kxfer serve \| WRONG: .* 1 missing' "$T/lossy/tree.md"
check "... and stderr says so" grep -q 'WRONG' "$T/lossy.err"

# A missing tool: exit 2, naming the Debian packages.
mkdir -p "$T/bin"
for c in bash dirname; do ln -sf "$(command -v "$c")" "$T/bin/$c"; done
PATH=$T/bin /bin/bash "$RUN" >/dev/null 2>"$T/missing.err"
is "tools missing: exit 2" "$?" 2
check "... naming the packages (apt-get install ... rclone aria2 ...)" \
    grep -qE 'apt-get install .*hyperfine.*rclone aria2' "$T/missing.err"
check "... and no server process or temp dir left behind" gone "$T/lossy.err"
finish
