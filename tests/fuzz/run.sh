#!/usr/bin/env bash
# The libFuzzer targets (tests/fuzz/fuzz_*.c): builds them into $FUZZ_BUILD (build-fuzz/),
# with clang-14, ASan and UBSan, then runs each.
#
#   tests/fuzz/run.sh [SECONDS [TARGET...]]   each target for SECONDS (60), FUZZ_JOBS (1) at a
#                                             time; new inputs and crashes go to
#                                             $FUZZ_BUILD/out/TARGET/, never into the repo
#   tests/fuzz/run.sh --test                  the suite tests/run.sh fuzz runs: every target for
#                                             FUZZ_TEST_SECONDS (12) over its corpus, one
#                                             "ok"/"not ok" line each (nothing kept); exit 77
#                                             without clang-14
#
# Each run starts from tests/fuzz/corpus/TARGET/, with http.dict for the HTTP targets, and
# fails on the first crash, leak, sanitizer report or broken invariant (crash-* in the out
# directory; rerun with: $FUZZ_BUILD/fuzz/TARGET crash-FILE).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
fb=${FUZZ_BUILD:-build-fuzz}
cc=${FUZZ_CC:-clang-14}
test_mode=false
[ "${1:-}" = --test ] && { test_mode=true; shift; set -- "${FUZZ_TEST_SECONDS:-12}"; }
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=($(ls tests/fuzz/fuzz_*.c | sed 's|.*/||; s|\.c$||'))

# Can this host build libFuzzer targets at all?
probe=$(mktemp -d /tmp/kxfer-fuzz.XXXXXX)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$probe/p.c"
if ! command -v "$cc" >/dev/null; then
	why="no $cc (apt-get install clang-14 libfuzzer-14-dev)"
elif ! why=$("$cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" 2>&1); then
	why="$cc cannot link libFuzzer (apt-get install libfuzzer-14-dev): $(echo "$why" | head -n 1)"
else
	why=
fi
if [ -n "$why" ]; then
	$test_mode && { echo "skip - fuzz: $why"; exit 77; }
	echo "$why" >&2
	exit 1
fi

log="$probe/build.log"
if ! make -s -j"$(nproc)" BUILD="$fb" CC="$cc" \
	CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -Wno-unknown-warning-option" \
	fuzz-targets >"$log" 2>&1; then
	$test_mode && echo "not ok - fuzz: building the targets" || echo "building the fuzz targets failed:" >&2
	tail -n 30 "$log"
	exit 1
fi
$test_mode && echo "ok - fuzz: the targets build with $cc, ASan and UBSan"

# One target: libFuzzer's final stats (execs, coverage) on one line; 0 when nothing broke.
fuzz_one() { # target seconds outdir
	local t=$1 s=$2 out=$3 dict=() rc
	rm -rf "$out"
	mkdir -p "$out/corpus"
	case $t in fuzz_http_*|fuzz_range|fuzz_url|fuzz_path) dict=(-dict=tests/fuzz/http.dict) ;; esac
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"$fb/fuzz/$t" -max_total_time="$s" -print_final_stats=1 -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$out/" "${dict[@]}" "$out/corpus" "tests/fuzz/corpus/${t#fuzz_}" \
		>"$out/log" 2>&1
	rc=$?
	local execs cov ft
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+' "$out/log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -oE 'ft: [0-9]+' "$out/log" | tail -n 1 | cut -d' ' -f2)
	echo "$t: ${execs:-?} executions in ${s}s, cov ${cov:-?}, ft ${ft:-?}, corpus $(ls "$out/corpus" | wc -l) new + $(ls "tests/fuzz/corpus/${t#fuzz_}" | wc -l) seeds" >"$out/summary"
	return $rc
}

# The suite's short runs leave nothing behind; make fuzz keeps its corpora and crashes.
outroot=$fb/out
$test_mode && outroot=$probe/out
failed=0
run_target() { # target
	local t=$1 out="$outroot/$1"
	if fuzz_one "$t" "$seconds" "$out"; then
		echo "ok - $(cat "$out/summary")"
	else
		echo "not ok - $t: crashed: $(ls "$out" | grep -E '^(crash|leak|timeout|oom)-' | head -n 3 | tr '\n' ' ')"
		grep -E 'ERROR|SUMMARY|broken invariant|runtime error' "$out/log" | head -n 5 | sed 's/^/#   /'
		return 1
	fi
}

jobs=${FUZZ_JOBS:-1}
$test_mode && jobs=1
if [ "$jobs" -le 1 ]; then
	for t in "${targets[@]}"; do run_target "$t" || failed=1; done
else
	# Several at a time (make fuzz FUZZ_JOBS=2): lines come as targets finish.
	running=0
	for t in "${targets[@]}"; do
		run_target "$t" &
		running=$((running + 1))
		if [ "$running" -ge "$jobs" ]; then wait -n || failed=1; running=$((running - 1)); fi
	done
	while [ "$running" -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
fi
exit $failed
