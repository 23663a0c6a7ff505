#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install everything the project needs from Debian's archive.  Idempotent.
# Needs root (or run it with sudo): it adds apt sources and installs packages.
#
# The machines run Debian 12 (bookworm) with binary sources only.  We need:
#  - deb-src entries for sid, where the pinned QEMU source package lives;
#  - bookworm-backports, for meson >= 1.5 (bookworm ships 1.0).
# Both reuse the URI and keyring of the Debian source the machine already has,
# so no mirror host name is ever written into this repository.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
stamp_dir=${XDG_CACHE_HOME:-$HOME/.cache}/qemu-savevm-live
mkdir -p "$stamp_dir"

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
fi

list=/etc/apt/sources.list.d/qemu-savevm-live.sources

find_debian_source() {
    # Print "URI KEYRING" of the apt source that serves Debian bookworm main
    # (deb822 .sources files first, then the one-line sources.list format).
    /usr/bin/python3 - "$list" <<'PY'
import glob, re, sys
skip = sys.argv[1]
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    if f == skip:
        continue
    for stanza in re.split(r"\n\s*\n", open(f).read()):
        fields = {}
        for line in stanza.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m:
                fields[m.group(1).lower()] = m.group(2).strip()
        if fields.get("enabled", "yes") == "no":
            continue
        if "bookworm" in fields.get("suites", "").split() and \
           "deb" in fields.get("types", "").split():
            uri = fields.get("uris", "").split()
            if uri:
                print(uri[0], fields.get("signed-by", ""))
                sys.exit(0)
try:
    for line in open("/etc/apt/sources.list"):
        m = re.match(r"^deb\s+(?:\[([^]]*)\]\s+)?(\S+)\s+bookworm\s", line)
        if m:
            key = ""
            for opt in (m.group(1) or "").split():
                if opt.startswith("signed-by="):
                    key = opt.split("=", 1)[1]
            print(m.group(2), key)
            sys.exit(0)
except FileNotFoundError:
    pass
PY
}

if [ ! -f "$list" ]; then
    read -r uri key < <(find_debian_source) || true
    if [ -z "${uri:-}" ]; then
        echo "deps.sh: cannot find the apt source serving Debian bookworm" >&2
        exit 1
    fi
    key=${key:-/usr/share/keyrings/debian-archive-keyring.gpg}
    echo "deps.sh: adding sid deb-src and bookworm-backports from $uri"
    $SUDO tee "$list" >/dev/null <<EOS
# Added by qemu-savevm-live scripts/deps.sh
Types: deb-src
URIs: $uri
Suites: sid
Components: main
Signed-By: $key

Types: deb deb-src
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: $key
EOS
    rm -f "$stamp_dir/apt-updated"
fi

want=$(cat "$here/../deps/packages.txt" "$here/../deps/test-packages.txt" "$here/../deps/libvirt-packages.txt" |
       grep -v '^#' | tr '\n' ' ')
bpo_want=$(grep -v '^#' "$here/../deps/backports.txt" | tr '\n' ' ')

# Fast path: everything is installed already.
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $want $bpo_want 2>/dev/null |
          awk '$NF != "installed" {print $1}'; \
          for p in $want $bpo_want; do dpkg-query -W "$p" >/dev/null 2>&1 || echo "$p"; done)
meson_ok=0
if command -v meson >/dev/null 2>&1 &&
   dpkg --compare-versions "$(meson --version)" ge 1.5; then
    meson_ok=1
fi
if [ -z "$missing" ] && [ "$meson_ok" = 1 ]; then
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if [ ! -f "$stamp_dir/apt-updated" ] || [ -n "$missing" ]; then
    $SUDO apt-get update -q
    touch "$stamp_dir/apt-updated"
fi
$SUDO apt-get install -y -q --no-install-recommends $want
$SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports $bpo_want
