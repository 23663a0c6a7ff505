#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Download the pinned Debian source package into the cache (once) and check
# every file against the pin ($BASE_SHA256).  Prints nothing when the cache is good.
set -euo pipefail
. "$(dirname "$0")/common.sh"

mkdir -p "$SRC_CACHE"
cd "$SRC_CACHE"
if ! sha256sum --quiet -c "$BASE_SHA256" >/dev/null 2>&1; then
    echo "fetch-base: downloading $BASE_PKG=$BASE_VERSION"
    # Without Debian's patches only the .orig tarball is pinned: the archive
    # may no longer serve the rest of the source package.
    if ! apt-get source --download-only -q "$BASE_PKG=$BASE_VERSION" &&
       [ "$BASE_DEBIAN" = 1 ]; then
        echo "fetch-base: apt-get source failed.  Has scripts/deps.sh added the" >&2
        echo "deb-src entries?  Is $BASE_VERSION still served (apt-cache madison $BASE_PKG)?" >&2
        echo "See README.md, 'Moving the pinned base'." >&2
        exit 1
    fi
    sha256sum -c "$BASE_SHA256"
fi
