#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# libvirt end to end (tests/libvirt, pytest): virtqemud and virtlogd of the
# libvirt build, started as root with their own configuration, sockets and
# state under build/libvirt-root and stopped by pid, drive the patched QEMU
# through virsh: live internal snapshots of the test guest, revert, delete,
# and the refusals.  TAP on stdout; pytest's report goes to the log.
set -uo pipefail
. "$QSL_TOP/scripts/common.sh"

"$TOP/scripts/build-guest.sh" >&2 || exit 1
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
cd "$TOP/tests/libvirt" || exit 1
args=()
[ -z "${QSL_LIBVIRT_K:-}" ] || args+=(-k "$QSL_LIBVIRT_K")
PYTHONPATH=$TOP/tests/e2e QSL_TAP=$tap /usr/bin/python3 -m pytest \
    -p no:cacheprovider -rA --tb=short "${args[@]}" . >&2
rc=$?
cat "$tap"
[ $rc = 0 ] || [ $rc = 1 ] || exit $rc
