#!/usr/bin/env bash
# dist/kxfer-alerts.yml, the alerting rules docs/operations.md offers: promtool accepts them,
# their unit tests (kxfer-alerts.test.yml) pass, and every kxfer_* metric they name is one a
# real kxfer serve --metrics exports, so that a renamed metric cannot leave an alert that
# never fires.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"

command -v promtool >/dev/null || { skip "promtool: not installed (package prometheus, from scripts/install-deps.sh)"; exit 77; }
cp "$TOP/dist/kxfer-alerts.yml" "$HERE/kxfer-alerts.test.yml" "$T/"
(cd "$T" && promtool check rules kxfer-alerts.yml) >"$T/check.out" 2>&1
is "promtool check rules dist/kxfer-alerts.yml" "$?" 0
sed 's/^/# /' "$T/check.out"
(cd "$T" && promtool test rules kxfer-alerts.test.yml) >"$T/test.out" 2>&1
is "promtool test rules: every alert fires when it should, and only then" "$?" 0
sed 's/^/# /' "$T/test.out"

mkdir -p "$T/root"; echo x >"$T/root/x"
MPORT=$(free_port)
start_serve m --root "$T/root" --metrics "127.0.0.1:$MPORT" || { notok "serve --metrics starts"; finish; }
st "$URL/x" >/dev/null
curl -s --max-time 10 "http://127.0.0.1:$MPORT/metrics" >"$T/scrape"
grep -o '^# TYPE kxfer_[a-z_]*' "$T/scrape" | cut -d' ' -f3 | sort -u >"$T/exported"
grep -o 'kxfer_[a-z_]*' "$T/kxfer-alerts.yml" | sort -u >"$T/named"
missing=$(comm -23 "$T/named" "$T/exported" | tr '\n' ' ')
is "every metric the rules name is exported by kxfer serve" "$missing" ""
check "the rules name at least 7 of them" test "$(wc -l <"$T/named")" -ge 7
stop_serve
finish
