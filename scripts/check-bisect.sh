#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-bisect.sh: build every commit of the series on its own (in a
# separate worktree and build directory, sharing the ccache) and run the
# unit tests of tests/unit-tests.txt that exist at that commit.  Slow: not
# part of 'make check'.
set -euo pipefail
. "$(dirname "$0")/common.sh"

wt=$BUILD/bisect-src
if [ ! -d "$wt/.git" ] && [ ! -f "$wt/.git" ]; then
    git -C "$TREE" worktree add -f --detach "$wt" base >/dev/null 2>&1
fi
bld=$wt/build
rc=0
for c in $(git -C "$TREE" rev-list --reverse base..HEAD); do
    subject=$(git -C "$TREE" log -1 --format=%s "$c")
    git -C "$wt" checkout -q -f --detach "$c"
    if [ ! -f "$bld/build.ninja" ]; then
        mkdir -p "$bld"
        (cd "$bld" && "$wt/configure" "${QSL_CONFIGURE_OPTS[@]}" > configure.log 2>&1)
    fi
    targets=(qemu-system-x86_64 qemu-img qemu-io tests/qtest/migration-test)
    while read -r t; do
        case "$t" in ''|'#'*) continue ;; esac
        [ ! -f "$wt/$t.c" ] || targets+=("$t")
    done < "$TOP/tests/unit-tests.txt"
    if ninja -C "$bld" "${targets[@]}" > "$bld/ninja-$c.log" 2>&1; then
        ok=1
        for t in "${targets[@]}"; do
            case "$t" in tests/unit/*)
                "$bld/$t" > "$bld/$(basename "$t")-$c.log" 2>&1 || ok=0 ;;
            esac
        done
        if [ $ok = 1 ]; then
            echo "ok - $subject"
        else
            echo "not ok - $subject (unit tests, see $bld)"; rc=1
        fi
    else
        echo "not ok - $subject (build, see $bld/ninja-$c.log)"; rc=1
    fi
done
exit $rc
