#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tests/run.sh [SUITE...]: run the test suites (all by default) against the
# builds made by 'make build', log each to build/test-logs/SUITE.log, and end
# with one line "N passed, N failed, N skipped".  Exits non-zero on any failure.
#
# Every suite prints TAP ("ok", "not ok", "ok ... # SKIP") on stdout; a suite
# that exits non-zero without reporting a failure counts as one failure.
# The summary repeats each failure with the TAP diagnostics that follow it,
# so that a log showing only this output still says what failed.
set -uo pipefail
. "$(dirname "$0")/../scripts/common.sh"

LOGS=$BUILD/test-logs
mkdir -p "$LOGS"
export QSL_TOP=$TOP QSL_PATCHED=$PATCHED_BUILD QSL_STOCK=$STOCK_BUILD QSL_TREE=$TREE

all_suites=(series unit iotests qtest-migration e2e libvirt-unit libvirt bench)
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=("${all_suites[@]}")

passed=0 failed=0 skipped=0
failures=()
for s in "${suites[@]}"; do
    script="$TOP/tests/suites/$s.sh"
    [ -x "$script" ] || { echo "run: no suite $s" >&2; exit 2; }
    log="$LOGS/$s.log"
    start=$(date +%s)
    printf '%-20s ' "$s"
    bash "$script" > "$log.tap" 2> "$log"
    rc=$?
    p=$(grep -cE '^ok ' "$log.tap" | head -1)
    sk=$(grep -cE '^ok .*# *(SKIP|skip)' "$log.tap")
    f=$(grep -cE '^not ok ' "$log.tap")
    p=$((p - sk))
    if [ $rc != 0 ] && [ "$f" = 0 ]; then
        f=1
        echo "not ok - suite $s exited with status $rc" >> "$log.tap"
    fi
    cat "$log.tap" >> "$log"
    # each failure with the diagnostics ("# ...") that follow it, at most 15
    while IFS= read -r l; do failures+=("$l"); done < <(awk -v s="$s" '
        /^not ok / { print s ": " $0; n = 0; diag = 1; next }
        diag && /^#/ { if (n++ < 15) print "    " $0; next }
        { diag = 0 }' "$log.tap")
    rm -f "$log.tap"
    printf '%3d passed, %d failed, %d skipped (%ds, log: %s)\n' \
        "$p" "$f" "$sk" $(( $(date +%s) - start )) "${log#$TOP/}"
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + sk))
done

if [ ${#failures[@]} -gt 0 ]; then
    echo
    echo "Failures:"
    printf '  %s\n' "${failures[@]}"
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
