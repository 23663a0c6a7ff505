#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# check-bisect-libvirt.sh: build every commit of the libvirt series on its
# own (in a separate worktree and build directory, sharing the ccache) and
# run libvirt's tests for what the series touches.  Slow: not part of
# 'make check'.
set -euo pipefail
export QSL_PROJECT=libvirt
. "$(dirname "$0")/common.sh"

wt=$BUILD/bisect-libvirt-src
if [ ! -d "$wt/.git" ] && [ ! -f "$wt/.git" ]; then
    git -C "$TREE" worktree add -f --detach "$wt" base >/dev/null 2>&1
fi
bld=$wt/build
tests=(qemumonitorjsontest qemucapabilitiestest qemuxmlconftest
       virschematest domaincapstest check-augeas-libvirtd_qemu)
rc=0
for c in $(git -C "$TREE" rev-list --reverse base..HEAD); do
    subject=$(git -C "$TREE" log -1 --format=%s "$c")
    git -C "$wt" checkout -q -f --detach "$c"
    if [ ! -f "$bld/build.ninja" ]; then
        (cd "$wt" && CC="ccache cc" meson setup build "${LIBVIRT_MESON_OPTS[@]}" \
            > "$BUILD/bisect-libvirt-configure.log" 2>&1)
    fi
    if ninja -C "$bld" > "$bld/ninja-$c.log" 2>&1; then
        if meson test -C "$bld" --no-rebuild "${tests[@]}" > "$bld/test-$c.log" 2>&1; then
            echo "ok - $subject"
        else
            echo "not ok - $subject (tests, see $bld/test-$c.log)"; rc=1
        fi
    else
        echo "not ok - $subject (build, see $bld/ninja-$c.log)"; rc=1
    fi
done
exit $rc
