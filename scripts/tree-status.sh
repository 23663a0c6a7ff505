#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tree-status.sh [--strict]: compare the working tree with patches/.
# Warns (or, with --strict, fails) when ./qemu has uncommitted changes or
# commits that differ from patches/: the tree is never overwritten here.
set -euo pipefail
. "$(dirname "$0")/common.sh"

ids() { git patch-id --stable | awk '{print $1}' | sort; }
tree_ids=$(git -C "$TREE" log --reverse --format=%H base..HEAD |
           while read -r c; do git -C "$TREE" show "$c" | ids; done)
series_ids=$(for p in "$SERIES"/[0-9][0-9][0-9][0-9]-*.patch; do
                 [ -e "$p" ] || continue
                 case "$p" in */0000-*) continue ;; esac
                 ids < "$p"; done)
bad=0
if [ -n "$(git -C "$TREE" status --porcelain --untracked-files=no)" ]; then
    echo "tree: $TREE has uncommitted changes (commit them, then 'make export')" >&2
    bad=1
fi
if [ "$tree_ids" != "$series_ids" ]; then
    echo "tree: $TREE (base..HEAD) and $SERIES differ: 'make export' to save the tree," >&2
    echo "      or 'make tree FORCE=1' to recreate the tree from patches/" >&2
    bad=1
fi
if [ "$bad" = 1 ] && [ "${1:-}" = --strict ]; then
    exit 1
fi
exit 0
