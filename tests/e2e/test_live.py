# SPDX-License-Identifier: GPL-2.0-or-later
"""
Live snapshots of a real Linux guest whose workload keeps rewriting its
memory and its disk; restored in the same VM, in a new process and in the
stock QEMU build, where the workload must find one consistent instant.
"""

import os
import signal
import time

from qsl import (MiB, PATCHED, STOCK, Guest, image_check, image_create,
                 image_snapshots, parse, qemu_img, verify_restored)

# Device state on top of guest RAM, generously
DEV_STATE = 16 * MiB


def last_progress(vm, start=0, end=None):
    lines = vm.console.lines(start, end, "PROGRESS")
    return parse(lines[-1]) if lines else None


def assert_child_priority(pid, oom_score_adj, nice, timeout=10):
    """The savevm child sets them first thing: poll until it has."""
    deadline = time.monotonic() + timeout
    seen = None
    while True:
        try:
            with open(f"/proc/{pid}/oom_score_adj", encoding="ascii") as f:
                oom = int(f.read())
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                # after "pid (comm) ": state is field 3, nice field 19
                n = int(f.read().rsplit(")", 1)[1].split()[16])
        except FileNotFoundError:
            raise AssertionError(f"savevm child {pid} ended with "
                                 f"(oom_score_adj, nice) = {seen}; "
                                 f"expected {(oom_score_adj, nice)}") from None
        seen = (oom, n)
        if seen == (oom_score_adj, nice):
            return
        assert time.monotonic() < deadline, \
            f"savevm child {pid}: (oom_score_adj, nice) = {seen}; " \
            f"expected {(oom_score_adj, nice)}"
        time.sleep(0.01)


def restore_and_verify(workdir, name, img, tag, mem_mib, accel, binary,
                       gen_range, boot):
    vm = Guest(workdir, name, img, mem_mib=mem_mib, accel=accel,
               binary=binary, loadvm=tag)
    vm.start(wait_ready=False)
    try:
        c, _ = verify_restored(vm, boot)
        lo, hi = gen_range
        assert lo <= c["gen"] <= hi, \
            f"restored generation {c['gen']} not in [{lo}, {hi}]"
    finally:
        vm.shutdown()
    image_check(img)


def test_live_snapshot_restore(accel, workdir):
    mem = 512
    img = image_create(workdir / "disk.qcow2", "2G")
    vm = Guest(workdir, "src", img, mem_mib=mem, accel=accel)
    vm.start()
    vm.console.wait("MATCH", start=0)
    boot = vm.boot_id()
    before = last_progress(vm)

    r, secs = vm.savevm_live("snap0")
    assert "return" in r, r
    mark = vm.console.mark()
    # The instant is captured and the VM runs again
    assert vm.running()
    # Hold the saving process: the guest keeps working meanwhile
    child = vm.save_child()
    # The OOM killer takes it first, and it runs below the guest
    assert_child_priority(child, oom_score_adj=1000, nice=19)
    os.kill(child, signal.SIGSTOP)
    try:
        p1 = vm.console.wait("PROGRESS", start=mark)
        time.sleep(2.5)
        p2 = last_progress(vm, mark)
        assert p2["pages_written"] > p1["pages_written"], \
            "the guest did not progress during the save"
        assert vm.job("live0")["status"] == "running"
    finally:
        os.kill(child, signal.SIGCONT)
    data = vm.wait_completed()
    assert "error" not in data, data
    after = last_progress(vm)
    vm.dismiss("live0")
    size = data["vmstate-size"]
    assert 0 < size <= mem * MiB + DEV_STATE
    snaps = image_snapshots(img, force_share=True)
    assert snaps == {"snap0": size}, snaps
    gen_range = (before["gen"], p1["gen"] + 1)

    # snapshot-load into the running VM: the workload goes back in time.
    # Wait until it is past the snapshot's generations, so that a guest the
    # load left alone cannot pass for a restored one.
    deadline = time.monotonic() + 300
    while last_progress(vm)["gen"] <= gen_range[1]:
        assert time.monotonic() < deadline, "the workload does not progress"
        time.sleep(0.5)
    load_mark = vm.console.mark()
    now_gen = last_progress(vm)["gen"]
    vm.cmd("snapshot-load", **{"job-id": "load0", "tag": "snap0",
                               "vmstate": "disk0", "devices": ["disk0"]})
    vm.event_wait("JOB_STATUS_CHANGE", timeout=300,
                  match={"data": {"id": "load0", "status": "concluded"}})
    job = vm.job("load0")
    assert "error" not in job, job
    vm.dismiss("load0")
    c, _ = verify_restored(vm, boot, start=load_mark)
    assert gen_range[0] <= c["gen"] <= gen_range[1] < now_gen
    assert after["pages_written"] > before["pages_written"]
    vm.shutdown()
    image_check(img)

    # -loadvm in a new process, patched and stock
    restore_and_verify(workdir, "loadvm", img, "snap0", mem, accel,
                       PATCHED, gen_range, boot)
    restore_and_verify(workdir, "stock", img, "snap0", mem, accel,
                       STOCK, gen_range, boot)
    # qemu-img sees the same snapshot, with its VM state
    listing = qemu_img("snapshot", "-l", str(img))
    assert "snap0" in listing
    assert image_snapshots(img) == {"snap0": size}


def test_consecutive_2g(workdir):
    """2 GiB guest: three live snapshots, restore the oldest, delete all."""
    mem = 2048
    img = image_create(workdir / "disk.qcow2", "4G")
    vm = Guest(workdir, "src", img, mem_mib=mem, wl_mib=1536)
    vm.start(timeout=600)
    boot = vm.boot_id()
    ranges = {}
    sizes = {}
    for i in range(3):
        tag = f"s{i}"
        vm.console.wait("MATCH", start=vm.console.mark())
        before = last_progress(vm)
        r, _ = vm.savevm_live(tag, job_id=f"j{i}")
        assert "return" in r, r
        mark = vm.console.mark()
        p = vm.console.wait("PROGRESS", start=mark)
        data = vm.wait_completed()
        assert "error" not in data, data
        vm.dismiss(f"j{i}")
        ranges[tag] = (before["gen"], p["gen"] + 1)
        sizes[tag] = data["vmstate-size"]
        assert sizes[tag] <= mem * MiB + DEV_STATE
    vm.shutdown()
    image_check(img)
    assert image_snapshots(img) == sizes

    # The oldest, after newer ones were taken; then the newest in stock
    restore_and_verify(workdir, "s0", img, "s0", mem, "tcg", PATCHED,
                       ranges["s0"], boot)
    restore_and_verify(workdir, "s2", img, "s2", mem, "tcg", STOCK,
                       ranges["s2"], boot)
    for tag in sizes:
        qemu_img("snapshot", "-d", tag, str(img))
    assert not image_snapshots(img)
    image_check(img)


def test_memory_budget(workdir):
    """
    With a memory budget, the save costs at most about that much host
    memory: the vCPUs are paused while the saving process catches up.  The
    process is held (SIGSTOP) for a while, during which the guest's writes
    pile up copies until the budget pauses the guest; the snapshot is then
    completed and restored as any other.  Once let go, the process saves
    first the chunks the guest wrote meanwhile.
    """
    mem, budget = 512, 64 * MiB
    img = image_create(workdir / "disk.qcow2", "2G")
    vm = Guest(workdir, "src", img, mem_mib=mem, wl_mib=384)
    vm.start()
    vm.console.wait("MATCH", start=0)
    boot = vm.boot_id()
    before = last_progress(vm)

    r, _ = vm.savevm_live("snap0", job_id="small", **{"memory-budget": MiB})
    assert r["error"]["desc"] == \
        "Parameter 'memory-budget' must be at least 64 MiB", r
    r, _ = vm.savevm_live("snap0", **{"memory-budget": budget})
    assert "return" in r, r
    child = vm.save_child()
    os.kill(child, signal.SIGSTOP)
    try:
        mark = vm.console.mark()
        deadline = time.monotonic() + 120
        while True:
            info = vm.job("live0")
            assert info["memory-budget"] == budget, info
            if info["budget-pause-us"] > 0:
                break
            assert time.monotonic() < deadline, \
                f"the budget never paused the guest: {info}"
            time.sleep(0.05)
        # Paused: the guest makes no progress while the save is held
        time.sleep(1)
        p1 = last_progress(vm, mark)
        time.sleep(2)
        assert last_progress(vm, mark) == p1, "the guest ran on"
        assert vm.running(), "the VM left the running state"
        info = vm.job("live0")
        # Paused above 7/8 of the budget, sampled every 10 ms: what the
        # guest wrote between two samples overshoots it by what a fast host
        # writes in that time.  Unbounded, the copies would grow towards
        # the guest's 384 MiB working set.
        assert budget / 2 < info["extra-memory"] <= 2 * budget, info
    finally:
        os.kill(child, signal.SIGCONT)
    data = vm.wait_completed()
    assert "error" not in data, data
    assert data["budget-pause-us"] >= 3 * 10**6, data
    assert budget / 2 < data["extra-memory-peak"] <= 2 * budget, data
    # The chunks the guest wrote while the process was held went first
    info = vm.job("live0")
    assert info["ram-saved-early"] >= budget / 4, info
    vm.dismiss("live0")
    gen_range = (before["gen"], last_progress(vm)["gen"])
    # The guest runs again
    mark = vm.console.mark()
    vm.console.wait("PROGRESS", start=mark)
    vm.shutdown()
    image_check(img)
    restore_and_verify(workdir, "loadvm", img, "snap0", mem, "tcg",
                       PATCHED, gen_range, boot)

