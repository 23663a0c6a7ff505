#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Unit tests of the QEMU tree listed in tests/unit-tests.txt, as TAP.
set -uo pipefail
. "$QSL_TOP/scripts/common.sh"

rc=0
while read -r t; do
    case "$t" in ''|'#'*) continue ;; esac
    if [ ! -f "$TREE/$t.c" ]; then
        # Listed, so the series has it: a missing test is a failure
        echo "not ok - $t: listed in tests/unit-tests.txt, but $t.c is not in the tree"
        continue
    fi
    echo "# $t" >&2
    # Prefix the test paths with the binary name so the summary says where
    # a failure came from; drop the per-binary plan lines.
    "$PATCHED_BUILD/$t" --tap -k 2>&1 | sed -n -E \
        -e "s|^(not ok\|ok) [0-9]+ (.*)|\1 - $(basename "$t") \2|p" \
        -e '/^(not ok|ok) /!s/^/# /p' || rc=1
done < "$TOP/tests/unit-tests.txt"
exit $rc
