# SPDX-License-Identifier: GPL-2.0-or-later
"""
The fault and bad-input matrix of live savevm on a real Linux guest.

Every case checks: a clear error (where a command fails), the VM still
running (or cleanly gone), no snapshot that could be loaded as if it were
complete, `qemu-img check` clean, and a retry with the same tag that works.
Cases that hold a save in progress stop the forked saving process with
SIGSTOP, which gives every test the same window, whatever the disk speed.
"""

import os
import signal
import subprocess
import time

import pytest

from qsl import (LIBVIRT_SANDBOX, MiB, Guest, VMLaunchFailure, image_check,
                 image_create, image_snapshots, parse, verify_restored)

MEM = 256
WL = 160


def error_desc(r):
    assert "error" in r, f"expected an error, got {r}"
    return r["error"]["desc"]


def assert_refused(r, *words):
    desc = error_desc(r)
    for w in words:
        assert w in desc, f"'{w}' not in error: {desc}"
    return desc


def snapshots_now(vm):
    """Snapshot names as the running VM's image shows them."""
    return set(image_snapshots(vm.image, force_share=True))


def save_ok(vm, tag, job="retry"):
    r, _ = vm.savevm_live(tag, job_id=job)
    assert "return" in r, r
    data = vm.wait_completed()
    assert "error" not in data, data
    vm.dismiss(job)
    return data


def start_held(vm, tag, job="live0"):
    """Start a save and stop its process: the save stays in progress."""
    r, _ = vm.savevm_live(tag, job_id=job)
    assert "return" in r, r
    child = vm.save_child()
    os.kill(child, signal.SIGSTOP)
    return child


def boot(workdir, accel, name="vm", img=None, **kw):
    if img is None:
        img = image_create(workdir / f"{name}.qcow2", "1G")
    vm = Guest(workdir, name, img, mem_mib=MEM, wl_mib=WL, accel=accel,
               **kw)
    vm.start()
    return vm


def assert_failed_cleanly(vm, tag, job, *words):
    data = vm.wait_completed()
    assert data["job-id"] == job
    assert "error" in data, data
    for w in words:
        assert w in data["error"], data["error"]
    assert vm.running()
    vm.dismiss(job)
    assert not any(tag in s for s in snapshots_now(vm)), snapshots_now(vm)


def test_kill_child(accel, workdir):
    vm = boot(workdir, accel)
    child = start_held(vm, "snap")
    os.kill(child, signal.SIGKILL)
    assert_failed_cleanly(vm, "snap", "live0", "killed")
    save_ok(vm, "snap")
    assert snapshots_now(vm) == {"snap"}
    vm.shutdown()
    image_check(vm.image)


def test_cancel(accel, workdir):
    vm = boot(workdir, accel)
    start_held(vm, "snap")
    vm.cmd("job-cancel", id="live0")
    assert_failed_cleanly(vm, "snap", "live0", "Cancelled")
    save_ok(vm, "snap")
    vm.shutdown()
    image_check(vm.image)
    assert set(image_snapshots(vm.image)) == {"snap"}


def test_quit(accel, workdir):
    vm = boot(workdir, accel)
    child = start_held(vm, "snap")
    vm.cmd("quit")
    vm.wait(timeout=60)
    assert vm.exitcode() == 0, vm.get_log()
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(child, 0)
            time.sleep(0.05)
    image_check(vm.image)
    assert not image_snapshots(vm.image)
    vm2 = boot(workdir, accel, "retry", img=vm.image)
    save_ok(vm2, "snap")
    vm2.shutdown()
    image_check(vm.image)
    assert set(image_snapshots(vm.image)) == {"snap"}


def test_kill_qemu(accel, workdir):
    vm = boot(workdir, accel)
    child = start_held(vm, "snap")
    os.kill(vm.get_pid(), signal.SIGKILL)
    vm.wait(timeout=60)
    vm.shutdown()
    # The saving process dies with QEMU
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(child, 0)
            time.sleep(0.05)
    image_check(vm.image)
    snaps = image_snapshots(vm.image)
    # At most the incomplete snapshot, without VM state: nothing loadable
    assert set(snaps) <= {"incomplete:snap"}, snaps
    assert all(size == 0 for size in snaps.values())
    # Neither name loads: QEMU refuses to start
    for tag in ("snap", "incomplete:snap"):
        bad = Guest(workdir, "load-" + tag.replace(":", "-"), vm.image,
                    mem_mib=MEM, wl_mib=WL, accel=accel, loadvm=tag)
        with pytest.raises(VMLaunchFailure) as e:
            bad.launch()
        assert "snap" in e.value.output, e.value.output
        assert bad.exitcode() != 0
    image_check(vm.image)
    # Retry with the same tag in a new QEMU: works, and drops the leftover
    vm2 = boot(workdir, accel, "retry", img=vm.image)
    save_ok(vm2, "snap")
    vm2.shutdown()
    image_check(vm.image)
    assert set(image_snapshots(vm.image)) == {"snap"}


def wait_dd_checked(vm, writes=16, timeout=180):
    """The guest's disk load (wl.ddload) goes on for @writes more writes,
    each after reading its slot back: after a restore, every slot of the
    snapshot's disk is checked against the restored guest's memory."""
    deadline = time.monotonic() + timeout
    while True:
        lines = vm.console.lines(kind="DD")
        bad = [ln for ln in lines if not ln.startswith("DD n=")]
        assert not bad, bad
        ns = [parse(ln)["n"] for ln in lines]
        if ns and ns[-1] >= ns[0] + writes:
            return
        assert time.monotonic() < deadline, \
            f"the disk load did not progress: {lines[-3:]}"
        time.sleep(0.5)


def test_while_saving(accel, workdir):
    """Everything that must wait for a save in progress is refused."""
    extra = image_create(workdir / "extra.qcow2", "64M")
    vm = boot(workdir, accel, wl_extra="wl.ddload=1", extra_args=[
        "-blockdev", f"file,filename={extra},node-name=extrafile",
        "-blockdev", "qcow2,file=extrafile,node-name=extra0"])
    vm.console.wait("DD", start=0, timeout=60, fail_on=("DD ERROR",))
    r, _ = vm.savevm_live("snap", devices=("disk0", "extra0"))
    assert "return" in r, r
    child = vm.save_child()
    os.kill(child, signal.SIGSTOP)
    try:
        # The guest keeps writing its disk while the save is in progress
        mark = vm.console.mark()
        vm.console.wait("DD", start=mark, timeout=60, fail_on=("DD ERROR",))
        vm.console.wait("DD", start=vm.console.mark(), timeout=60,
                        fail_on=("DD ERROR",))
        r, _ = vm.savevm_live("snap2", job_id="second")
        assert_refused(r, "live savevm")
        for cmd in ("savevm x", "loadvm snap", "delvm snap"):
            out = vm.hmp(cmd)
            assert "live savevm" in out, f"{cmd}: {out}"
        r = vm.qmp("snapshot-delete", **{"job-id": "del", "tag": "snap",
                                         "devices": ["disk0"]})
        if "return" in r:
            ev = vm.event_wait("JOB_STATUS_CHANGE", timeout=60, match={
                "data": {"id": "del", "status": "concluded"}})
            assert ev
            assert "live savevm" in vm.job("del").get("error", ""), \
                vm.job("del")
            vm.dismiss("del")
        else:
            assert_refused(r, "live savevm")
        assert_refused(vm.qmp("block_resize", **{"node-name": "disk0",
                                                  "size": 2 << 30}),
                       "Node 'disk0' is busy: A live savevm (job 'live0') "
                       "is running")
        # The save holds the node (a permission), besides blocking it
        assert_refused(vm.qmp("blockdev-del", **{"node-name": "extra0"}),
                       "Node extra0 is in use")
        assert_refused(vm.qmp("migrate", uri=f"file:{workdir}/mig"),
                       "live savevm")
        assert vm.running()
    finally:
        os.kill(child, signal.SIGCONT)
    data = vm.wait_completed()
    assert "error" not in data, data
    vm.dismiss("live0")
    vm.shutdown()
    image_check(vm.image)
    image_check(extra)
    assert set(image_snapshots(vm.image)) == {"snap"}
    assert set(image_snapshots(extra)) == {"snap"}
    # The snapshot restores both memory and the heavily written disk at
    # one instant
    vm2 = Guest(workdir, "restore", vm.image, mem_mib=MEM, wl_mib=WL,
                accel=accel, loadvm="snap", wl_extra="wl.ddload=1",
                extra_args=[
                    "-blockdev", f"file,filename={extra},node-name=extrafile",
                    "-blockdev", "qcow2,file=extrafile,node-name=extra0"])
    vm2.start(wait_ready=False)
    verify_restored(vm2, vm.boot_id())
    wait_dd_checked(vm2)
    vm2.shutdown()
    image_check(vm.image)


def test_bad_input(accel, workdir):
    raw = workdir / "raw.img"
    raw.write_bytes(b"")
    os.truncate(raw, 64 * MiB)
    ro = image_create(workdir / "ro.qcow2", "64M")
    vm = boot(workdir, accel, extra_args=[
        "-blockdev", f"file,filename={raw},node-name=rawfile",
        "-blockdev", "raw,file=rawfile,node-name=raw0",
        "-blockdev", f"file,filename={ro},node-name=rofile,read-only=on",
        "-blockdev", "qcow2,file=rofile,node-name=ro0,read-only=on"])
    save_ok(vm, "exists", job="first")

    def refused(tag, *words, **kw):
        r, _ = vm.savevm_live(tag, job_id="bad", **kw)
        desc = assert_refused(r, *words)
        assert vm.running()
        return desc

    refused("exists", "Snapshot 'exists' already exists on 'disk0'")
    refused("", "The snapshot needs a name")
    refused("x" * 300, f"Snapshot name '{'x' * 300}' is too long")
    refused("incomplete:x", "Snapshot names starting with 'incomplete:' are "
            "reserved for incomplete snapshots")
    refused("t", "No block device node 'nosuch'", vmstate="nosuch",
            devices=("nosuch",))
    raw_refused = "Device 'raw0' is writable but does not support snapshots"
    refused("t", raw_refused, vmstate="raw0", devices=("raw0",))
    refused("t", "Node 'ro0' is read-only: it cannot take a snapshot",
            vmstate="ro0", devices=("ro0",))
    refused("t", raw_refused, vmstate="disk0", devices=("disk0", "raw0"))
    # Nothing was created by any of these; the same tag works now
    assert snapshots_now(vm) == {"exists"}
    save_ok(vm, "t")
    vm.shutdown()
    image_check(vm.image)
    image_check(ro)
    assert set(image_snapshots(vm.image)) == {"exists", "t"}
    assert not image_snapshots(ro)


def test_shared_memory(workdir):
    vm = boot(workdir, "tcg", memdev=f"memory-backend-memfd,id=mem,"
              f"size={MEM}M")
    r, _ = vm.savevm_live("snap")
    assert_refused(r, "shared memory", "share=off")
    assert vm.running()
    vm.shutdown()
    image_check(vm.image)
    assert not image_snapshots(vm.image)


@pytest.mark.parametrize("sandbox", ["on,spawn=deny", LIBVIRT_SANDBOX],
                         ids=["spawn-deny", "libvirt"])
def test_sandbox_denies_fork(workdir, sandbox):
    vm = boot(workdir, "tcg", sandbox=sandbox)
    r, _ = vm.savevm_live("snap")
    assert_refused(r, "spawn=deny", "fork=allow")
    assert vm.running()
    vm.shutdown()
    image_check(vm.image)
    assert not image_snapshots(vm.image)


def test_sandbox_fork_allowed(workdir):
    sandbox = LIBVIRT_SANDBOX + ",fork=allow"
    vm = boot(workdir, "tcg", sandbox=sandbox)
    save_ok(vm, "snap", job="live0")
    vm.shutdown()
    image_check(vm.image)
    vm2 = Guest(workdir, "restore", vm.image, mem_mib=MEM, wl_mib=WL,
                sandbox=sandbox, loadvm="snap")
    vm2.start(wait_ready=False)
    verify_restored(vm2, vm.boot_id())
    vm2.shutdown()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs: root only")
def test_nearly_full_filesystem(workdir):
    mnt = workdir / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=80m", "qsl-e2e",
                    str(mnt)], check=True)
    try:
        img = image_create(mnt / "disk.qcow2", "1G")
        vm = boot(workdir, "tcg", img=img)
        used = os.stat(img).st_blocks
        r, _ = vm.savevm_live("snap")
        assert_refused(r, "space")
        assert vm.running()
        assert not snapshots_now(vm)
        # Nothing written: the image did not grow (beyond the guest's own
        # writes of a few blocks)
        assert os.stat(img).st_blocks - used < 2 * MiB // 512
        # With room, the same tag works
        subprocess.run(["mount", "-o", "remount,size=1g", str(mnt)],
                       check=True)
        save_ok(vm, "snap")
        vm.shutdown()
        image_check(img)
        assert set(image_snapshots(img)) == {"snap"}
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
