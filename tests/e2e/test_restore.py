# SPDX-License-Identifier: GPL-2.0-or-later
"""
Loading internal snapshots through the patched QEMU's load path, which
reads the VM state ahead of the decoder (-loadvm, HMP loadvm and
snapshot-load all go through it): a snapshot written by stock QEMU's
savevm comes back as the guest was, and so does one of savevm-live; a VM
state cut short or corrupted fails with a clear error, and leaves the
snapshots and their VM states as they were and the image clean (the disk
itself is reverted to the snapshot before the VM state is read, as with
stock QEMU).
"""

import hashlib

import pytest
from qemu.machine.machine import VMLaunchFailure

from qsl import (PATCHED, STOCK, Guest, image_check, image_create,
                 image_snapshots, qcow2_vmstate, qcow2_vmstate_layout,
                 verify_restored)
from test_live import last_progress, restore_and_verify

MEM = 384
WL = 256


def take_snapshots(workdir, img, tags, binary):
    """Snapshots @tags of one running guest: savevm-live with the patched
    QEMU, HMP savevm with stock QEMU.  Returns the guest's boot id and
    {tag: range of workload generations the snapshot may hold}."""
    vm = Guest(workdir, "src", img, mem_mib=MEM, wl_mib=WL, binary=binary)
    vm.start()
    boot = vm.boot_id()
    gens = {}
    for tag in tags:
        vm.console.wait("MATCH", start=vm.console.mark())
        before = last_progress(vm)
        if binary == STOCK:
            out = vm.hmp(f"savevm {tag}")
            assert out == "", out
        else:
            r, _ = vm.savevm_live(tag, job_id=tag)
            assert "return" in r, r
        p = vm.console.wait("PROGRESS", start=vm.console.mark())
        if binary != STOCK:
            ev = vm.wait_completed()
            assert "error" not in ev, ev
            vm.dismiss(tag)
        gens[tag] = (before["gen"], p["gen"] + 1)
    vm.shutdown()
    image_check(img)
    return boot, gens


def loadvm_error(workdir, name, img, tag):
    """-loadvm @tag in the patched QEMU, which must fail: its output."""
    vm = Guest(workdir, name, img, mem_mib=MEM, wl_mib=WL, loadvm=tag)
    try:
        vm.launch()
    except VMLaunchFailure as e:
        return e.output
    vm.shutdown(hard=True)
    raise AssertionError(f"-loadvm {tag} of a damaged VM state succeeded")


def digest(img, tag):
    return hashlib.sha256(qcow2_vmstate(img, tag)).hexdigest()


def test_stock_snapshot(workdir):
    """A snapshot stock QEMU's savevm wrote loads as the guest was."""
    img = image_create(workdir / "disk.qcow2", "2G")
    boot, gens = take_snapshots(workdir, img, ["st0"], STOCK)
    restore_and_verify(workdir, "loadvm", img, "st0", MEM, "tcg", PATCHED,
                       gens["st0"], boot)


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_damaged_vmstate(workdir, damage):
    """
    A VM state that ends before its stream does (its size in the snapshot
    table cut in half), or whose middle is overwritten: -loadvm fails with
    a clear error; the damaged snapshot, the other snapshot and the image
    are as they were, and the other snapshot still loads.
    """
    img = image_create(workdir / "disk.qcow2", "2G")
    boot, gens = take_snapshots(workdir, img, ["bad", "good"], PATCHED)
    layout = qcow2_vmstate_layout(img, "bad")
    size = layout["size"]
    with open(img, "r+b") as f:
        if damage == "truncated":
            for off, width in layout["size_fields"]:
                f.seek(off)
                f.write((size // 2).to_bytes(width, "big"))
        else:
            # 64 KiB of 0xff in the RAM pages: page headers among them
            pos, host, n = next(p for p in layout["pieces"]
                                if p[0] >= size // 2 and p[1] is not None)
            assert n >= 64 * 1024
            f.seek(host)
            f.write(b"\xff" * 64 * 1024)
    snaps = image_snapshots(img)
    before = {tag: digest(img, tag) for tag in snaps}
    image_check(img)

    out = loadvm_error(workdir, damage, img, "bad")
    if damage == "truncated":
        assert ("The VM state of snapshot 'bad' is truncated: its stream "
                f"goes on past its {size // 2} bytes") in out, out
    else:
        # A page header of 0xff bytes: its offset is past the RAM block
        assert "Illegal RAM offset fffffffffffff000" in out, out
        assert "Failed to load vmstate version_id: 4, ret: -22" in out, out

    # Nothing was written: the snapshots and their VM states are intact
    assert image_snapshots(img) == snaps
    assert {tag: digest(img, tag) for tag in snaps} == before
    image_check(img)
    restore_and_verify(workdir, "good", img, "good", MEM, "tcg", PATCHED,
                       gens["good"], boot)


def overlay_args(img, overlay, n):
    """@img read-only (shared lock) under its own qcow2 overlay 'disk0'."""
    return ["-blockdev", f"file,filename={img},node-name=base-file{n},"
            "read-only=on",
            "-blockdev", f"qcow2,file=base-file{n},node-name=base{n},"
            "read-only=on",
            "-blockdev", f"file,filename={overlay},node-name=file0",
            "-blockdev", f"qcow2,file=file0,backing=base{n},node-name=disk0"]


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def test_read_only_image(workdir):
    """
    An image opened read-only is restored without a byte of it changing:
    with -snapshot (its temporary overlay is emptied when the snapshot is
    loaded again), and shared read-only by two VMs at once, each with its
    own overlay.  An overlay with data of its own is refused, as is making
    the image writable while it shows the snapshot.
    """
    img = image_create(workdir / "disk.qcow2", "2G")
    boot, gens = take_snapshots(workdir, img, ["live"], PATCHED)
    whole = file_digest(img)

    # -snapshot: -loadvm, then HMP loadvm once the guest wrote its disk
    vm = Guest(workdir, "ro-snapshot", img, mem_mib=MEM, wl_mib=WL,
               loadvm="live", disk_args=[
                   "-drive", f"file={img},format=qcow2,if=none,id=disk0,"
                   "snapshot=on"])
    lo, hi = gens["live"]
    vm.start(wait_ready=False)
    try:
        c, _ = verify_restored(vm, boot)
        assert lo <= c["gen"] <= hi, (c["gen"], gens["live"])
        # The guest writes its disk (into the overlay) on every round
        vm.console.wait("MATCH", start=vm.console.mark())
        out = vm.hmp("loadvm live")
        assert out == "", out
        c, _ = verify_restored(vm, boot, start=vm.console.mark())
        assert lo <= c["gen"] <= hi, (c["gen"], gens["live"])
    finally:
        vm.shutdown()
    assert file_digest(img) == whole

    # Shared: two VMs restore the image at once
    vms = []
    for n in range(2):
        overlay = image_create(workdir / f"overlay{n}.qcow2", "2G",
                               backing=img)
        vms.append(Guest(workdir, f"ro-shared{n}", img, mem_mib=MEM,
                         wl_mib=WL, loadvm="live",
                         disk_args=overlay_args(img, overlay, n)))
    try:
        for vm in vms:
            vm.start(wait_ready=False)
        for vm in vms:
            c, _ = verify_restored(vm, boot)
            assert lo <= c["gen"] <= hi, (c["gen"], gens["live"])
        r = vms[0].qmp("blockdev-reopen", options=[{
            "driver": "qcow2", "node-name": "base0", "file": "base-file0",
            "read-only": False}])
        assert r["error"]["desc"] == (
            "Image 'base0' shows one of its internal snapshots read-only, "
            "it cannot be made writable"), r
    finally:
        for vm in vms:
            vm.shutdown()
    assert file_digest(img) == whole

    # An overlay with data of its own: refused, nothing written
    overlay = workdir / "overlay0.qcow2"
    before = file_digest(overlay)
    vm = Guest(workdir, "ro-own-data", img, mem_mib=MEM, wl_mib=WL,
               loadvm="live", disk_args=overlay_args(img, overlay, 0))
    try:
        vm.launch()
    except VMLaunchFailure as e:
        out = e.output
    else:
        vm.shutdown(hard=True)
        raise AssertionError("-loadvm through an overlay with data worked")
    assert ("Snapshot 'live' is on read-only node 'base0', but its overlay "
            "'disk0' has data of its own that loading the snapshot would "
            "have to discard") in out, out
    assert file_digest(overlay) == before
    assert file_digest(img) == whole
    image_check(img)
