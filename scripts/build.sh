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

# Firmware comes from Debian's seabios and ipxe-qemu packages; the option
# ROMs (linuxboot_dma.bin, kvmvapic.bin, ...) are built from pc-bios/optionrom.
# QEMU's configure names the compiler in its meson cross file, so meson does
# not add ccache by itself: name it here.
opts=(--cc="ccache cc" --cxx="ccache c++" --host-cc="ccache cc"
      --target-list=x86_64-softmmu --disable-docs --disable-rust
      --python=/usr/bin/python3 --disable-install-blobs --disable-download
      --enable-seccomp --enable-slirp --enable-linux-aio
      --firmwarepath=/usr/share/seabios:/usr/lib/ipxe/qemu
      --disable-gtk --disable-sdl --disable-vnc --disable-opengl
      --disable-spice --disable-xen --disable-bpf --disable-guest-agent)
stamp="$bld/.qsl-configure"
# Reconfigure when the options or the installed dependencies change.
want="${opts[*]} src=$src deps=$(cat "$TOP"/deps/*.txt | sha256sum | cut -c1-16)"
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

if ! ninja -C "$bld" -n "${targets[@]}" | grep -q '^ninja: no work to do'; then
    echo "build: building $which QEMU (log: ${bld#$TOP/}/ninja.log)"
    start=$(date +%s)
    if ! ninja -C "$bld" "${targets[@]}" > "$bld/ninja.log" 2>&1; then
        grep -E -B2 -A20 'FAILED|error:' "$bld/ninja.log" | head -n 60 >&2
        echo "build: $which build failed, see $bld/ninja.log" >&2
        exit 1
    fi
    echo "build: $which QEMU built in $(( $(date +%s) - start ))s"
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
