#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Check that the series applies with 'git am' to the pristine upstream tree
# (the .orig tarball, without Debian's patches), so it stays submittable.
set -euo pipefail
. "$(dirname "$0")/common.sh"

pristine=$BUILD/pristine
[ "$QSL_PROJECT" = qemu ] || pristine=$BUILD/pristine-$QSL_PROJECT
if [ ! -d "$pristine/.git" ]; then
    "$TOP/scripts/unpack-base.sh" "$pristine" --pristine
fi
git -C "$pristine" am --abort >/dev/null 2>&1 || true
git -C "$pristine" checkout -q -f --detach base
git -C "$pristine" clean -q -fdx
"$TOP/scripts/apply-series.sh" "$pristine"
