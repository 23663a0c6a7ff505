#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# export.sh [OUTDIR]: write base..HEAD of the working tree as the series.
# Output is stable: zero commit ids, no version signature, unnumbered subjects
# (adding a patch does not rewrite the others), fixed abbreviation length.
# The cover letter keeps its hand-written subject and text; only its shortlog
# and diffstat are regenerated, and its date is the newest patch's.
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=${1:-$SERIES}
[ -d "$TREE/.git" ] || { echo "export: no working tree at $TREE" >&2; exit 1; }
if [ -n "$(git -C "$TREE" status --porcelain --untracked-files=no)" ]; then
    echo "export: warning: $TREE has uncommitted changes; they are not exported" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g() {
    git -C "$TREE" -c core.abbrev=12 -c diff.renames=true -c diff.noprefix=false \
        -c diff.mnemonicPrefix=false -c diff.algorithm=myers -c format.signature= "$@"
}
n=$(g rev-list --count base..HEAD)
if [ "$n" -gt 0 ]; then
    g format-patch -q --zero-commit --no-signature -N --cover-letter \
        --stat=80 --summary -o "$tmp" base..HEAD
else
    : > "$tmp/0000-cover-letter.patch"
fi

# Cover letter: hand-written subject and blurb from the existing one.
cover=$out/0000-cover-letter.patch
case $QSL_PROJECT in
qemu) subject="migration: fork-based live savevm (savevm-live)" ;;
libvirt) subject="qemu: live internal snapshots with savevm-live" ;;
esac
blurb="$tmp/blurb"
: > "$blurb"
if [ -f "$cover" ]; then
    s=$(sed -n 's/^Subject: \[PATCH[^]]*\] //p' "$cover" | head -n 1)
    [ -z "$s" ] || subject=$s
    # The blurb: from the first blank line after the headers up to the shortlog
    # ("Author (N):"), or to the end when there is no shortlog.
    awk 'body && /^[^ ].* \([0-9]+\):$/ {exit}
         body {print}
         !body && /^$/ {body=1}' "$cover" > "$blurb"
fi
if [ "$n" -gt 0 ]; then
    date=$(g log -1 --format='%aD' HEAD)
    awk -v subj="$subject" -v date="$date" -v blurbf="$blurb" -v n="$n" '
        /^Date: / && !hdr_done {print "Date: " date; next}
        /^Subject: / && !hdr_done {print "Subject: [PATCH 0/" n "] " subj; next}
        /^$/ && !hdr_done {hdr_done=1; print; next}
        /^\*\*\* BLURB HERE \*\*\*$/ {
            while ((getline l < blurbf) > 0) { print l; any=1 }
            next
        }
        {print}' "$tmp/0000-cover-letter.patch" > "$tmp/cover.new"
    # drop the blank line format-patch leaves after the blurb placeholder
    cat -s "$tmp/cover.new" > "$tmp/0000-cover-letter.patch"
    rm -f "$tmp/cover.new"
else
    { echo "Subject: [PATCH 0/0] $subject"; echo; cat "$blurb"; } > "$tmp/0000-cover-letter.patch"
fi
rm -f "$blurb"

mkdir -p "$out"
# Replace the series: remove patches that are gone, copy only changed files.
for f in "$out"/[0-9][0-9][0-9][0-9]-*.patch; do
    [ -e "$f" ] || continue
    [ -e "$tmp/$(basename "$f")" ] || { rm -f "$f"; echo "export: removed $(basename "$f")"; }
done
for f in "$tmp"/*.patch; do
    b=$(basename "$f")
    if ! cmp -s "$f" "$out/$b"; then
        cp "$f" "$out/$b"
        echo "export: wrote $b"
    fi
done
echo "export: $n patch(es) in $out"
