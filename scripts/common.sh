# SPDX-License-Identifier: GPL-2.0-or-later
# Shared settings for the scripts; sourced, not run.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$TOP/base.conf"
CACHE=${QSL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-savevm-live}
SRC_CACHE=$CACHE/src
# Upstream version without epoch and Debian revision: 1:10.2.2+ds-1 -> 10.2.2+ds
BASE_UPVER=${BASE_VERSION#*:}
BASE_UPVER=${BASE_UPVER%-*}
TREE=$TOP/qemu                 # working tree: git repo, tag 'base', series applied
BUILD=$TOP/build
STOCK_SRC=$BUILD/stock-src     # the base without our series
# Each build directory sits at the same place relative to its source tree, so
# that with CCACHE_BASEDIR the stock build hits the patched build's cache.
PATCHED_BUILD=$TREE/build
STOCK_BUILD=$STOCK_SRC/build
export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
export CCACHE_BASEDIR=$TOP
export CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

# Firmware comes from Debian's seabios and ipxe-qemu packages; the option
# ROMs (linuxboot_dma.bin, kvmvapic.bin, ...) are built from pc-bios/optionrom.
# QEMU's configure names the compiler in its meson cross file, so meson does
# not add ccache by itself: name it here.
QSL_CONFIGURE_OPTS=(--cc="ccache cc" --cxx="ccache c++" --host-cc="ccache cc"
      --target-list=x86_64-softmmu --disable-docs --disable-rust
      --python=/usr/bin/python3 --disable-install-blobs --disable-download
      --enable-seccomp --enable-slirp --enable-linux-aio
      --firmwarepath=/usr/share/seabios:/usr/lib/ipxe/qemu
      --disable-gtk --disable-sdl --disable-vnc --disable-opengl
      --disable-spice --disable-xen --disable-bpf --disable-guest-agent)
