#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build.sh patched|stock [ninja targets...]
# Configure (once, or again when the options change) and build one of the two
# QEMU builds.  'patched' builds the working tree ./qemu, 'stock' an unpatched
# copy of the same base.  Both share one ccache.
set -euo pipefail
. "$(dirname "$0")/common.sh"

which=$1; shift
case "$which" in
patched)
    src=$TREE; bld=$PATCHED_BUILD
    [ -d "$src/.git" ] || "$TOP/scripts/mktree.sh"
    ;;
stock)
    src=$STOCK_SRC; bld=$STOCK_BUILD
    [ -d "$src/.git" ] || "$TOP/scripts/unpack-base.sh" "$src"
    ;;
*) echo "usage: build.sh patched|stock [targets]" >&2; exit 2 ;;
esac

targets=("$@")
if [ ${#targets[@]} = 0 ]; then
    targets=(qemu-system-x86_64 qemu-img qemu-io qemu-nbd
             storage-daemon/qemu-storage-daemon)
    if [ "$which" = patched ]; then
        # The QEMU-tree tests that tests/suites/ run.
        targets+=(tests/qtest/migration-test)
        while read -r t; do
            case "$t" in ''|'#'*) continue ;; esac
            [ ! -f "$src/$t.c" ] || targets+=("$t")
        done < "$TOP/tests/unit-tests.txt"
    fi
fi

opts=("${QSL_CONFIGURE_OPTS[@]}")
stamp="$bld/.qsl-configure"
# Reconfigure when the options or the installed dependencies change.
want="${opts[*]} src=$src deps=$(cat "$TOP"/deps/backports.txt "$TOP"/deps/packages.txt | sha256sum | cut -c1-16)"
mkdir -p "$CCACHE_DIR"
if [ ! -f "$bld/build.ninja" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$bld"
    mkdir -p "$bld"
    echo "build: configuring $which QEMU in $bld"
    (cd "$bld" && "$src/configure" "${opts[@]}" > configure.log 2>&1) || {
        tail -n 30 "$bld/configure.log" >&2
        echo "build: configure failed, see $bld/configure.log" >&2
        exit 1
    }
    if [ ! -f "$bld/pc-bios/optionrom/config.mak" ]; then
        echo "build: configure found no compiler for the x86 option ROMs (gcc-multilib?)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi

# qemu-version.h is always regenerated (then left alone when unchanged), so
# ask ninja to do the work and report only real compiling or linking.
start=$(date +%s)
if ! ninja -C "$bld" "${targets[@]}" > "$bld/ninja.log" 2>&1; then
    grep -E -B2 -A20 'FAILED|error:' "$bld/ninja.log" | head -n 60 >&2
    echo "build: $which build failed, see ${bld#$TOP/}/ninja.log" >&2
    exit 1
fi
steps=$(grep -cE '^\[[0-9]+/[0-9]+\] (Compiling|Linking)' "$bld/ninja.log" || true)
if [ "$steps" -gt 0 ]; then
    echo "build: $which QEMU: $steps compile/link steps in" \
         "$(( $(date +%s) - start ))s (log: ${bld#$TOP/}/ninja.log)"
fi
# x86 option ROMs, built by the Makefile of pc-bios/optionrom.
if [ -f "$bld/pc-bios/optionrom/Makefile" ]; then
    make -s -C "$bld/pc-bios/optionrom" > "$bld/pc-bios/optionrom/build.log" 2>&1 || {
        cat "$bld/pc-bios/optionrom/build.log" >&2; exit 1; }
fi

# Run from the build tree, QEMU looks for firmware under qemu-bundle/ (the
# would-be install tree): link Debian's firmware directories and the option
# ROMs there, so the binaries work uninstalled.
bundle=$bld/qemu-bundle
datadir=$(sed -n 's/^#define CONFIG_QEMU_DATADIR "\(.*\)"$/\1/p' "$bld/config-host.h")
for fw in /usr/share/seabios /usr/lib/ipxe/qemu; do
    mkdir -p "$(dirname "$bundle$fw")"
    ln -sfn "$fw" "$bundle$fw"
done
mkdir -p "$bundle$datadir"
for rom in "$bld"/pc-bios/optionrom/*.bin; do
    [ -e "$rom" ] || continue
    ln -sfn "$rom" "$bundle$datadir/$(basename "$rom")"
done
