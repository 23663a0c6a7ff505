#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The series itself: checkpatch on every patch, applies to the pristine
# upstream tree, and re-exporting the working tree reproduces patches/.
set -uo pipefail
. "$QSL_TOP/scripts/common.sh"

shopt -s nullglob
series=("$TOP"/patches/[0-9][0-9][0-9][0-9]-*.patch)
for p in "${series[@]}"; do
    b=$(basename "$p")
    [ "$b" != 0000-cover-letter.patch ] || continue
    if "$TREE/scripts/checkpatch.pl" --no-signoff -q "$p" >&2; then
        echo "ok - checkpatch $b"
    else
        echo "not ok - checkpatch $b"
    fi
done

if "$TOP/scripts/check-pristine.sh" >&2; then
    echo "ok - series applies to the pristine upstream tree"
else
    echo "not ok - series applies to the pristine upstream tree"
fi

# The working tree must hold exactly the series, and exporting it again must
# not change a byte of patches/.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$TOP"/patches/*.patch "$tmp/" 2>/dev/null
"$TOP/scripts/export.sh" "$tmp" >&2
if diff -r "$TOP/patches" "$tmp" >&2; then
    echo "ok - re-exporting the working tree reproduces patches/"
else
    echo "not ok - re-exporting the working tree reproduces patches/ (run 'make export'?)"
fi

# The libvirt series: applies to the pristine libvirt tarball, and
# re-exporting ./libvirt reproduces patches-libvirt/.
if QSL_PROJECT=libvirt "$TOP/scripts/check-pristine.sh" >&2; then
    echo "ok - libvirt series applies to the pristine upstream tree"
else
    echo "not ok - libvirt series applies to the pristine upstream tree"
fi
lvtmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$lvtmp"' EXIT
cp "$TOP"/patches-libvirt/*.patch "$lvtmp/" 2>/dev/null
QSL_PROJECT=libvirt "$TOP/scripts/export.sh" "$lvtmp" >&2
if diff -r "$TOP/patches-libvirt" "$lvtmp" >&2; then
    echo "ok - re-exporting ./libvirt reproduces patches-libvirt/"
else
    echo "not ok - re-exporting ./libvirt reproduces patches-libvirt/ (run 'make export'?)"
fi
