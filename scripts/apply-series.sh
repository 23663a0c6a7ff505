#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# apply-series.sh DIR: git am every patch of the series ($SERIES, the cover
# letter excluded) onto the git repository DIR.
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=$1
shopt -s nullglob
series=()
for p in "$SERIES"/[0-9][0-9][0-9][0-9]-*.patch; do
    case "$(basename "$p")" in 0000-*) continue ;; esac
    series+=("$p")
done
if [ ${#series[@]} = 0 ]; then
    echo "apply-series: empty series"
    exit 0
fi
if ! git -C "$dir" am -q --keep-cr --committer-date-is-author-date "${series[@]}"; then
    git -C "$dir" am --abort || true
    echo "apply-series: the series does not apply to $dir" >&2
    exit 1
fi
echo "apply-series: applied ${#series[@]} patch(es) to $dir"
