#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-libvirt.sh [ninja targets...]
# Configure (once, or again when the options change) and build the libvirt
# working tree ./libvirt (the pinned base with patches-libvirt/ applied) in
# libvirt/build, with ccache.  Only the QEMU driver and what it needs are
# built.  Paths (configuration, sockets, state, logs) are under
# build/libvirt-root: the daemons the tests start never touch the host's.
set -euo pipefail
export QSL_PROJECT=libvirt
. "$(dirname "$0")/common.sh"

[ -d "$TREE/.git" ] || "$TOP/scripts/mktree.sh"

opts=("${LIBVIRT_MESON_OPTS[@]}")
bld=$LIBVIRT_BUILD
stamp="$bld/.qsl-configure"
want="${opts[*]} deps=$(cat "$TOP"/deps/libvirt-packages.txt | sha256sum | cut -c1-16)"
mkdir -p "$CCACHE_DIR"
if [ ! -f "$bld/build.ninja" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$bld"
    echo "build-libvirt: configuring libvirt in ${bld#$TOP/}"
    (cd "$TREE" && CC="ccache cc" meson setup build "${opts[@]}" \
        > "$TOP/build/libvirt-configure.log" 2>&1) || {
        tail -n 30 "$TOP/build/libvirt-configure.log" >&2
        echo "build-libvirt: meson setup failed, see build/libvirt-configure.log" >&2
        exit 1
    }
    echo "$want" > "$stamp"
fi

start=$(date +%s)
if ! ninja -C "$bld" "$@" > "$bld/ninja.log" 2>&1; then
    grep -E -B2 -A20 'FAILED|error:' "$bld/ninja.log" | head -n 60 >&2
    echo "build-libvirt: build failed, see ${bld#$TOP/}/ninja.log" >&2
    exit 1
fi
steps=$(grep -cE '^\[[0-9]+/[0-9]+\] (Compiling|Linking)' "$bld/ninja.log" || true)
if [ "$steps" -gt 0 ]; then
    echo "build-libvirt: $steps compile/link steps in" \
         "$(( $(date +%s) - start ))s (log: ${bld#$TOP/}/ninja.log)"
fi
