# SPDX-License-Identifier: GPL-2.0-or-later
# Shared settings for the scripts; sourced, not run.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$TOP/base.conf"
CACHE=${QSL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-savevm-live}
SRC_CACHE=$CACHE/src
QEMU_TREE=$TOP/qemu            # working trees: git repos, tag 'base', series applied
LIBVIRT_TREE=$TOP/libvirt
LIBVIRT_BUILD=$LIBVIRT_TREE/build
LIBVIRT_ROOT=$TOP/build/libvirt-root   # libvirt's prefix: config, sockets, state
# The series the tree scripts (fetch, unpack, mktree, export, check-pristine,
# tree-status) work on: QSL_PROJECT=qemu (the default) or libvirt.
QSL_PROJECT=${QSL_PROJECT:-qemu}
case $QSL_PROJECT in
qemu)
    TREE=$QEMU_TREE
    SERIES=$TOP/patches
    BASE_SHA256=$TOP/base.sha256
    BASE_DEBIAN=1              # Debian's patches under the series
    ;;
libvirt)
    BASE_PKG=$LIBVIRT_PKG
    BASE_VERSION=$LIBVIRT_VERSION
    TREE=$LIBVIRT_TREE
    SERIES=$TOP/patches-libvirt
    BASE_SHA256=$TOP/libvirt.sha256
    BASE_DEBIAN=0              # the upstream tarball alone
    ;;
*)
    echo "QSL_PROJECT=$QSL_PROJECT: qemu or libvirt" >&2
    exit 2
    ;;
esac
# Upstream version without epoch and Debian revision: 1:10.2.2+ds-1 -> 10.2.2+ds
BASE_UPVER=${BASE_VERSION#*:}
BASE_UPVER=${BASE_UPVER%-*}
BUILD=$TOP/build
STOCK_SRC=$BUILD/stock-src     # the base without our series
# Each build directory sits at the same place relative to its source tree, so
# that with CCACHE_BASEDIR the stock build hits the patched build's cache.
PATCHED_BUILD=$QEMU_TREE/build
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
# libvirt: the QEMU driver and what it needs, installed (never) under
# build/libvirt-root, whose paths its daemons use at run time
LIBVIRT_MESON_OPTS=(--prefix="$LIBVIRT_ROOT" --sysconfdir=etc --localstatedir=var
      -Drunstatedir="$LIBVIRT_ROOT/var/run" -Dsystem=false
      -Ddocs=disabled -Dtests=enabled -Dexpensive_tests=disabled
      -Dnls=disabled -Dinit_script=none
      -Ddriver_qemu=enabled -Ddriver_libvirtd=enabled -Ddriver_remote=enabled
      -Ddriver_test=enabled
      -Ddriver_network=disabled -Ddriver_lxc=disabled -Ddriver_ch=disabled
      -Ddriver_vbox=disabled -Ddriver_esx=disabled -Ddriver_bhyve=disabled
      -Ddriver_hyperv=disabled -Ddriver_interface=disabled
      -Ddriver_libxl=disabled -Ddriver_openvz=disabled
      -Ddriver_vmware=disabled -Ddriver_vz=disabled
      -Dpolkit=disabled -Dsecdriver_apparmor=disabled -Dapparmor=disabled
      -Dselinux=disabled -Dsecdriver_selinux=disabled -Dfirewalld=disabled
      -Dqemu_user=root -Dqemu_group=root)
