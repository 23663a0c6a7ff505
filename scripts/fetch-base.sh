#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Download the pinned Debian source package into the cache (once) and check
# every file against base.sha256.  Prints nothing when the cache is good.
set -euo pipefail
. "$(dirname "$0")/common.sh"

mkdir -p "$SRC_CACHE"
cd "$SRC_CACHE"
if ! sha256sum --quiet -c "$TOP/base.sha256" >/dev/null 2>&1; then
    echo "fetch-base: downloading $BASE_PKG=$BASE_VERSION"
    if ! apt-get source --download-only -q "$BASE_PKG=$BASE_VERSION"; then
        echo "fetch-base: apt-get source failed.  Has scripts/deps.sh added the" >&2
        echo "deb-src entries?  Is $BASE_VERSION still served (apt-cache madison $BASE_PKG)?" >&2
        echo "See README.md, 'Moving the pinned base'." >&2
        exit 1
    fi
    sha256sum -c "$TOP/base.sha256"
fi
