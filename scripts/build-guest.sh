#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-guest.sh [--force]
# Build the end-to-end test guest into build/guest/, from Debian packages
# and our own code only:
#   vmlinuz     Debian's kernel (the one linux-image-amd64 depends on)
#   vmlinux     the same kernel uncompressed (ELF with a PVH entry point):
#               QEMU boots it directly with -kernel, without SeaBIOS' option
#               ROM and the in-guest decompression, which under TCG saves
#               about 5 s per boot
#   initrd.gz   busybox-static, tests/guest/init as /init, the workload
#               (tests/guest/workload.c, static), a minimal guest agent
#               (tests/guest/agent.c, static) and the virtio modules
#   workload    the workload binary, also runnable on the host
# The .deb files are downloaded once into $CACHE/debs.  A rerun with nothing
# changed does nothing; the kernel part (4 s of unpacking) is redone only
# when the kernel package or the module list changes.  Details go to
# build/guest/build.log.
#
# Boot it:
#   qemu-system-x86_64 -m 512 -nographic -no-reboot -nic none \
#     -kernel build/guest/vmlinux -initrd build/guest/initrd.gz \
#     -append "console=ttyS0 quiet wl.mib=256 wl.mode=full" \
#     -drive file=disk.qcow2,if=virtio,format=qcow2
#
# QSL_GUEST_KERNEL=linux-image-X-amd64 picks a kernel package by name.
set -euo pipefail
. "$(dirname "$0")/common.sh"

OUT=$BUILD/guest
DEBS=$CACHE/debs
LOG=$OUT/build.log
GSRC=$TOP/tests/guest
# Modules to load at boot, in this order after their dependencies; those
# built into the kernel are skipped.
MODULES=(virtio_pci virtio_blk virtio_console)
KERNEL_META=linux-image-amd64

force=0
[ "${1:-}" != --force ] || force=1

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

want="inputs=$(cat "$0" "$GSRC/init" "$GSRC/workload.c" "$GSRC/agent.c" | sha256sum | cut -c1-16)"
want+=" kernel=${QSL_GUEST_KERNEL:-auto}"
if [ "$force" = 0 ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.gz" ] &&
   [ "$(head -n1 "$OUT/.stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi

: > "$LOG"
log() { echo "$*" >> "$LOG"; }
die() {
    echo "build-guest: $*" >&2
    [ ! -s "$LOG" ] || { tail -n 20 "$LOG" >&2; echo "build-guest: log: $LOG" >&2; }
    exit 1
}
for tool in apt-get dpkg-deb cpio gzip xz objcopy "${CC:-gcc}"; do
    command -v "$tool" >/dev/null || die "$tool missing: run scripts/deps.sh"
done

# Print the newest cached .deb of package $1, if any.
cached_deb() {
    ls "$DEBS/$1"_*.deb 2>/dev/null | sort -V | tail -n1
}

# Print the path of package $1's .deb, downloading it once.
fetch_deb() {
    local pkg=$1 deb tmp
    deb=$(cached_deb "$pkg")
    if [ -z "$deb" ]; then
        tmp=$(mktemp -d "$DEBS/.dl.XXXXXX")
        log "downloading $pkg"
        (cd "$tmp" && apt-get download -q "$pkg") >> "$LOG" 2>&1 ||
            { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
        mv "$tmp"/*.deb "$DEBS/"
        rm -rf "$tmp"
        deb=$(cached_deb "$pkg")
    fi
    [ -n "$deb" ] || die "no .deb for $pkg"
    echo "$deb"
}

# The kernel package: what the linux-image-amd64 metapackage depends on in
# this machine's archive (bookworm: the signed linux-image-6.1.0-N-amd64),
# else the newest one already cached.
resolve_kernel() {
    local pkg deb
    if [ -n "${QSL_GUEST_KERNEL:-}" ]; then
        echo "$QSL_GUEST_KERNEL"
        return
    fi
    pkg=$(apt-cache depends "$KERNEL_META" 2>/dev/null |
          sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
    if [ -z "$pkg" ]; then
        deb=$(ls "$DEBS"/linux-image-*-amd64_*.deb 2>/dev/null | sort -V | tail -n1)
        [ -n "$deb" ] || die "apt-cache knows no $KERNEL_META (apt-get update?)"
        pkg=$(basename "$deb")
        pkg=${pkg%%_*}
        log "apt-cache knows no $KERNEL_META: using the cached $pkg"
    fi
    echo "$pkg"
}

# Uncompress bzImage $1 into ELF $2 if it is one with a PVH entry point
# (Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY), which QEMU's -kernel boots.
extract_vmlinux() {
    python3 - "$1" "$2" <<'PY'
import struct, sys, zlib, lzma


def unxz(d):
    return lzma.LZMADecompressor().decompress(d)


def ungz(d):
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(d)


data = open(sys.argv[1], "rb").read()
elf = None
for magic, unpack in ((b"\xfd7zXZ\x00", unxz), (b"\x1f\x8b\x08", ungz)):
    i = data.find(magic)
    while i >= 0 and elf is None:
        try:
            out = unpack(data[i:])
            if out[:4] == b"\x7fELF":
                elf = out
        except (lzma.LZMAError, zlib.error):
            pass
        i = data.find(magic, i + 1)
if not elf or elf[4] != 2:
    sys.exit("no 64-bit ELF kernel inside " + sys.argv[1])
phoff, = struct.unpack_from("<Q", elf, 0x20)
phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
pvh = False
for k in range(phnum):
    ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", elf,
                                                     phoff + k * phentsize)
    if ptype != 4:  # PT_NOTE
        continue
    p, end = off, off + filesz
    while p + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from("<III", elf, p)
        name = elf[p + 12:p + 12 + namesz].rstrip(b"\0")
        if name == b"Xen" and ntype == 18:
            pvh = True
        p += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
if not pvh:
    sys.exit("no PVH entry point in the kernel")
open(sys.argv[2], "wb").write(elf)
PY
}

# Print the modules module file $1 depends on, space-separated.
module_depends() {
    local tmp
    tmp=$(mktemp)
    objcopy -O binary --only-section=.modinfo "$1" "$tmp"
    tr '\0' '\n' < "$tmp" | sed -n 's/^depends=//p' | tr ',' ' '
    rm -f "$tmp"
}

# Unpack the kernel package, copy vmlinuz and the modules (with their
# dependencies, decompressed, in load order) to $OUT/kernel.
build_kernel_part() {
    local deb=$1 kstamp=$2 tmp kver mdir f name
    local -A path_of=() seen=() is_builtin=()
    local order=()

    tmp=$(mktemp -d "$OUT/.kernel.XXXXXX")
    log "unpacking $deb"
    dpkg-deb -x "$deb" "$tmp" >> "$LOG" 2>&1 || die "dpkg-deb -x $deb failed"
    kver=$(ls "$tmp/lib/modules" | head -n1)
    mdir=$tmp/lib/modules/$kver
    [ -n "$kver" ] && [ -f "$tmp/boot/vmlinuz-$kver" ] ||
        die "no vmlinuz or modules in $deb"

    while read -r f; do
        name=$(basename "$f")
        name=${name%%.ko*}
        is_builtin[${name//-/_}]=1
    done < <(cat "$mdir/modules.builtin" 2>/dev/null)
    while read -r f; do
        name=$(basename "$f")
        name=${name%%.ko*}
        path_of[${name//-/_}]=$f
    done < <(find "$mdir/kernel" -name '*.ko*')

    visit() {
        local m=${1//-/_} p d
        [ -z "${seen[$m]:-}" ] || return 0
        seen[$m]=1
        if [ -n "${is_builtin[$m]:-}" ]; then
            log "module $m: built in"
            return 0
        fi
        p=${path_of[$m]:-}
        [ -n "$p" ] || die "module $m not in $deb"
        case "$p" in
        *.ko) cp "$p" "$tmp/$m.ko" ;;
        *.ko.xz) xz -dc "$p" > "$tmp/$m.ko" ;;
        *.ko.gz) gzip -dc "$p" > "$tmp/$m.ko" ;;
        *.ko.zst) zstd -qdc "$p" > "$tmp/$m.ko" || die "cannot unpack $p (zstd?)" ;;
        *) die "unknown module file $p" ;;
        esac
        for d in $(module_depends "$tmp/$m.ko"); do
            visit "$d"
        done
        order+=("$m")
        log "module $m: ${p#$mdir/}"
    }
    for name in "${MODULES[@]}"; do
        visit "$name"
    done

    rm -rf "$OUT/kernel"
    mkdir -p "$OUT/kernel/modules"
    cp "$tmp/boot/vmlinuz-$kver" "$OUT/kernel/vmlinuz"
    if extract_vmlinux "$OUT/kernel/vmlinuz" "$OUT/kernel/vmlinux" >> "$LOG" 2>&1; then
        log "vmlinux: uncompressed, PVH entry point"
    else
        log "no vmlinux: boot vmlinuz"
        rm -f "$OUT/kernel/vmlinux"
    fi
    for name in "${order[@]}"; do
        mv "$tmp/$name.ko" "$OUT/kernel/modules/"
    done
    printf '%s\n' "${order[@]}" > "$OUT/kernel/modules/load"
    echo "$kver" > "$OUT/kernel/version"
    rm -rf "$tmp"
    echo "$kstamp" > "$OUT/kernel/.stamp"
}

mkdir -p "$DEBS"
rm -rf "$OUT"/.kernel.* "$OUT"/.bb.*

kpkg=$(resolve_kernel)
log "kernel package: $kpkg"
kdeb=$(fetch_deb "$kpkg")
bbdeb=$(fetch_deb busybox-static)

# Bump "layout" when build_kernel_part() changes what it makes.
kstamp="layout=2 deb=$(basename "$kdeb") modules=${MODULES[*]}"
if [ "$force" = 1 ] || [ "$(cat "$OUT/kernel/.stamp" 2>/dev/null)" != "$kstamp" ]; then
    build_kernel_part "$kdeb" "$kstamp"
fi
kver=$(cat "$OUT/kernel/version")

log "compiling the workload"
${CC:-gcc} -static -O2 -Wall -Wextra -Werror -o "$OUT/workload.tmp" \
    "$GSRC/workload.c" >> "$LOG" 2>&1 || die "compiling workload.c failed"
mv "$OUT/workload.tmp" "$OUT/workload"
log "compiling the guest agent"
${CC:-gcc} -static -O2 -Wall -Wextra -Werror -o "$OUT/agent.tmp" \
    "$GSRC/agent.c" >> "$LOG" 2>&1 || die "compiling agent.c failed"
mv "$OUT/agent.tmp" "$OUT/agent"

log "assembling the initramfs"
root=$OUT/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,lib/modules}
tmp=$(mktemp -d "$OUT/.bb.XXXXXX")
dpkg-deb -x "$bbdeb" "$tmp" >> "$LOG" 2>&1 || die "dpkg-deb -x $bbdeb failed"
cp "$tmp/bin/busybox" "$root/bin/busybox"
rm -rf "$tmp"
ln -s busybox "$root/bin/sh"
install -m 755 "$GSRC/init" "$root/init"
install -m 755 "$OUT/workload" "$root/workload"
install -m 755 "$OUT/agent" "$root/agent"
cp "$OUT/kernel/modules/"* "$root/lib/modules/"
# Same inputs, same bytes.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
 cpio --null -o -H newc -R 0:0 --reproducible --quiet) 2>> "$LOG" |
    gzip -9n > "$OUT/initrd.gz.tmp" || die "cpio failed"
mv "$OUT/initrd.gz.tmp" "$OUT/initrd.gz"
ln -f "$OUT/kernel/vmlinuz" "$OUT/vmlinuz"
rm -f "$OUT/vmlinux"
[ ! -f "$OUT/kernel/vmlinux" ] || ln "$OUT/kernel/vmlinux" "$OUT/vmlinux"

printf '%s\n%s\n%s\n' "$want" "kernel=$kver deb=$(basename "$kdeb")" \
    "busybox=$(basename "$bbdeb")" > "$OUT/.stamp"
echo "build-guest: built build/guest: kernel $kver," \
     "modules $(paste -sd' ' "$OUT/kernel/modules/load")"
