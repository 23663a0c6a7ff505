#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The libvirt series against libvirt's own tests, as TAP: the test programs
# for what the series touches (capabilities, monitor, command line, schemas,
# qemu.conf's augeas lens), and libvirt's syntax-check rules on the files
# the series adds or changes (the tree's other files include a subproject
# upstream keeps out of git, which the rules would flag).
set -uo pipefail
QSL_PROJECT=libvirt
. "$QSL_TOP/scripts/common.sh"

cd "$TREE" || exit 1
for t in qemumonitorjsontest qemucapabilitiestest qemuxmlconftest \
         virschematest domaincapstest check-augeas-libvirtd_qemu \
         check-augeas-virtqemud; do
    if meson test -C "$LIBVIRT_BUILD" --no-rebuild --print-errorlogs "$t" >&2; then
        echo "ok - libvirt $t"
    else
        echo "not ok - libvirt $t"
    fi
done

touched="cd $TREE; git diff --name-only --diff-filter=AM base HEAD"
rules=$(meson test -C "$LIBVIRT_BUILD" --list --suite syntax-check 2>/dev/null |
        sed -n 's|^libvirt:syntax-check / ||p')
[ -n "$rules" ] || echo "not ok - libvirt syntax-check: no rules found"
for r in $rules; do
    # po_check compares po/POTFILES with the whole tree
    if [ "$r" = po_check ]; then
        vc=()
    else
        vc=(VC_LIST="$touched")
    fi
    if make -s -C "$LIBVIRT_BUILD/build-aux" "sc_$r" "${vc[@]}" >&2; then
        echo "ok - libvirt syntax-check $r"
    else
        echo "not ok - libvirt syntax-check $r"
    fi
done
