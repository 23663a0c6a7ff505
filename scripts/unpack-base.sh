#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# unpack-base.sh DIR [--pristine]
# Unpack the pinned base into DIR (which must not exist) as a git repository
# whose only commit is tagged 'base'.  By default this is Debian's source
# package with Debian's patches applied (dpkg-source -x); with --pristine, and
# for a base pinned without them (libvirt), the upstream .orig tarball alone.
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=$1
mode=${2:-debian}
[ ! -e "$dir" ] || { echo "unpack-base: $dir exists" >&2; exit 1; }
"$TOP/scripts/fetch-base.sh"

tmp="$dir.tmp.$$"
rm -rf "$tmp"
mkdir -p "$(dirname "$dir")"
trap 'rm -rf "$tmp"' EXIT
if [ "$mode" = --pristine ] || [ "$BASE_DEBIAN" = 0 ]; then
    mkdir -p "$tmp"
    tar -C "$tmp" --strip-components=1 -xJf "$SRC_CACHE/${BASE_PKG}_${BASE_UPVER}.orig.tar.xz"
    msg="$BASE_PKG $BASE_UPVER: pristine upstream tarball"
else
    dpkg-source --no-check -q -x "$SRC_CACHE/${BASE_PKG}_${BASE_VERSION#*:}.dsc" "$tmp" >/dev/null
    rm -rf "$tmp/.pc"
    msg="$BASE_PKG $BASE_VERSION: Debian source package, Debian patches applied"
fi

cd "$tmp"
git init -q
git config user.name "qemu-savevm-live"
git config user.email "qemu-savevm-live@invalid"
git config core.abbrev 12
# Keep the whole tree, including files upstream's .gitignore names.
git add -A -f .
GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z" \
    git commit -q -m "$msg"
git tag base
cd - >/dev/null
mv "$tmp" "$dir"
trap - EXIT
