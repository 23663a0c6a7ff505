#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# End-to-end tests (tests/e2e, pytest): live snapshots of a real Linux
# guest running our workload, restored in the patched and the stock build,
# and the fault matrix.  Needs the guest (make guest).  TAP on stdout;
# pytest's own report goes to the log.  Work directories of the tests are
# under build/e2e/.
set -uo pipefail
. "$QSL_TOP/scripts/common.sh"

"$TOP/scripts/build-guest.sh" >&2 || exit 1
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
cd "$TOP/tests/e2e" || exit 1
# QSL_E2E_K: a pytest -k expression, to run some of the tests only
args=()
[ -z "${QSL_E2E_K:-}" ] || args+=(-k "$QSL_E2E_K")
QSL_TAP=$tap /usr/bin/python3 -m pytest -p no:cacheprovider -rA \
    --tb=short "${args[@]}" . >&2
rc=$?
cat "$tap"
# pytest: 0 all passed, 1 some failed (already in the TAP), 5 none ran
[ $rc = 0 ] || [ $rc = 1 ] || exit $rc
