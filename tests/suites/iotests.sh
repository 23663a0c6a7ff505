#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu-iotests the series can break (internal snapshots), plus those the
# series adds (listed in tests/iotests.txt), on qcow2, as TAP.
set -uo pipefail
. "$QSL_TOP/scripts/common.sh"

tests=()
while read -r t; do
    case "$t" in ''|'#'*) continue ;; esac
    if [ -e "$TREE/tests/qemu-iotests/$t" ] || [ -e "$TREE/tests/qemu-iotests/tests/$t" ]; then
        tests+=("$t")
    else
        # Listed, so upstream or the series has it: missing is a failure
        echo "not ok - iotest $t: listed in tests/iotests.txt, but not in the tree"
    fi
done < "$TOP/tests/iotests.txt"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/qsl-iotests.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cd "$PATCHED_BUILD/tests/qemu-iotests" || exit 1
TEST_DIR=$scratch/test SOCK_DIR=$scratch/sock \
    ./check -tap -qcow2 "${tests[@]}" 2>&1 | sed -E '/^(not ok|ok) /!s/^/# /'
