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
