#!/usr/bin/env bash
# Test runner: tests/run.sh [unit] [integration] [ktls] [fuzz] [all]
#
# Every test is a standalone program (unit: build/tests/test_*, integration and ktls:
# tests/<suite>/*.sh).  A test prints one line per check:
#     ok - NAME            not ok - NAME            skip - NAME: WHY
# and exits 0 (pass), 1 (fail) or 77 (everything skipped).  The runner counts those lines;
# a program that exits non-zero without printing "not ok" counts as one failure of its own,
# so a crash or a timeout is never lost.  The last line is "N passed, N failed, N skipped".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${KXFER_BUILD:-build}
export KXFER=${KXFER:-$top/$build/kxfer}
case $KXFER in /*) ;; *) KXFER=$top/$KXFER ;; esac
# Guest tests get longer: under QEMU (the fallback guest, emulated with TCG) they run several
# times slower than under user-mode Linux.
timeout_for() { [ "$1" = ktls ] && echo "${KXFER_TEST_TIMEOUT:-900}" || echo "${KXFER_TEST_TIMEOUT:-300}"; }
per_test_timeout=300

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(all)
[ "${suites[0]}" = all ] && suites=(unit integration ktls fuzz)

passed=0 failed=0 skipped=0
failures=()
logdir=$(mktemp -d /tmp/kxfer-tests.XXXXXX)

run_one() { # name, command...
    local name=$1; shift
    local log="$logdir/${name//\//_}.log" rc
    timeout -k 10 "$per_test_timeout" "$@" >"$log" 2>&1 </dev/null
    rc=$?
    local p f s
    p=$(grep -c '^ok - ' "$log"); f=$(grep -c '^not ok - ' "$log"); s=$(grep -c '^skip - ' "$log")
    grep -E '^(not ok|skip) - ' "$log" | sed "s|^|  $name: |"
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$f" -eq 0 ]; then
        f=1
        [ "$rc" -eq 124 ] && echo "  $name: not ok - timed out after ${per_test_timeout}s" \
                          || echo "  $name: not ok - exited $rc without reporting a failure"
        tail -n 15 "$log" | sed 's/^/    | /'
    elif [ "$f" -gt 0 ]; then
        tail -n 15 "$log" | sed 's/^/    | /'
    fi
    if [ "$rc" -eq 77 ] && [ "$p$f$s" = 000 ]; then
        s=1; echo "  $name: skip - $(tail -n 1 "$log")"
    fi
    printf '%-40s %3d passed %3d failed %3d skipped\n' "$name" "$p" "$f" "$s"
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    [ "$f" -gt 0 ] && failures+=("$name")
}

for suite in "${suites[@]}"; do
    echo "== $suite"
    per_test_timeout=$(timeout_for "$suite")
    case $suite in
    unit)
        for t in "$build"/tests/test_*; do
            [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
        done ;;
    integration|ktls)
        for t in tests/"$suite"/[0-9]*.sh; do
            [ -f "$t" ] && run_one "$suite/$(basename "$t" .sh)" bash "$t"
        done ;;
    fuzz) # every libFuzzer target for FUZZ_TEST_SECONDS (12) over its corpus
        run_one fuzz/libfuzzer bash tests/fuzz/run.sh --test ;;
    *) echo "unknown suite: $suite" >&2; exit 2 ;;
    esac
done

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]} (logs in $logdir)"
[ ${#failures[@]} -eq 0 ] && rm -rf "$logdir"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
