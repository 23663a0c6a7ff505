#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Create the working tree (./qemu, or ./libvirt with QSL_PROJECT=libvirt):
# the pinned base as a git repository (tag 'base') with every patch of the
# series (patches/, patches-libvirt/) applied by 'git am', one commit each.
# Refuses to touch an existing tree that has work not in patches/ unless
# FORCE=1.
set -euo pipefail
. "$(dirname "$0")/common.sh"

if [ -d "$TREE/.git" ]; then
    if [ "${FORCE:-0}" != 1 ]; then
        echo "mktree: $TREE exists; 'make export' your work, then 'make tree FORCE=1' to recreate it" >&2
        exit 1
    fi
    rm -rf "$TREE"
fi
"$TOP/scripts/unpack-base.sh" "$TREE"
"$TOP/scripts/apply-series.sh" "$TREE"
