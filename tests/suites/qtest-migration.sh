#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Upstream migration qtests in their quick (default) set, on the patched
# build, as TAP.  migration-test picks KVM when /dev/kvm is usable and falls
# back to TCG; the savevm-live KVM variants run only where a short probe
# boot of the guest under KVM works (tests/qtest/migration/savevm-live-tests.c).
set -uo pipefail
. "$QSL_TOP/scripts/common.sh"

cd "$PATCHED_BUILD" || exit 1
export QTEST_QEMU_BINARY=./qemu-system-x86_64
export QTEST_QEMU_IMG=./qemu-img
export PYTHON=$PATCHED_BUILD/pyvenv/bin/python3
# The savevm-live tests also load their snapshot in the unpatched build
export QTEST_QEMU_BINARY_STOCK=$STOCK_BUILD/qemu-system-x86_64
# /migration/savevm-live/hugetlb needs 64 MiB of free huge pages: reserve
# them for the run when we may, and give them back afterwards.
hp=/proc/sys/vm/nr_hugepages
if [ -w "$hp" ]; then
    hp_saved=$(cat "$hp")
    trap 'echo "$hp_saved" > "$hp"' EXIT
    echo $((hp_saved + 40)) > "$hp" 2>/dev/null || true
fi
tests/qtest/migration-test --tap -k 2>&1 | sed -E '/^(not ok|ok) /!s/^/# /'
