# SPDX-License-Identifier: GPL-2.0-or-later
"""
make demo: a real Linux guest snapshotted live and restored.

Boots the test guest (Debian kernel, busybox, our workload rewriting most of
its memory as fast as it can and writing its disk), takes a live snapshot
with savevm-live while it runs, restores it in a new QEMU and shows the
workload's own verdict.  Then does the same with stock QEMU's savevm, for
contrast.  Details go to the log file named at the start.
"""

import argparse
import logging
import shutil
import sys
import time

import qsl
from qsl import MiB, Guest, image_check, image_create, verify_restored


def say(msg="", end="\n"):
    print(msg, end=end, flush=True)


def event_time(ev):
    ts = ev["timestamp"]
    return ts["seconds"] + ts["microseconds"] / 1e6


def pause_from_events(vm, since):
    """Seconds between the last STOP and the following RESUME."""
    stop = resume = None
    for ev in vm.get_qmp_events(wait=False):
        t = event_time(ev)
        if t < since:
            continue
        if ev["event"] == "STOP":
            stop = t
        elif ev["event"] == "RESUME" and stop is not None:
            resume = t
    if stop is None or resume is None:
        return None
    return resume - stop


def stall_during(vm, start, end):
    stats = [qsl.parse(s) for s in vm.console.lines(start, end, "STATS")]
    if not stats:
        return None
    return max(s["maxstall_ms"] for s in stats)


def progress_bar(done, total, width=40):
    frac = min(done / total, 1.0) if total else 0
    n = int(frac * width)
    return (f"[{'#' * n}{'.' * (width - n)}] "
            f"{done / MiB:6.0f} / {total / MiB:.0f} MiB")


def restore(workdir, name, img, tag, mem, binary, boot):
    vm = Guest(workdir, name, img, mem_mib=mem, binary=binary, loadvm=tag)
    t0 = time.monotonic()
    vm.start(wait_ready=False)
    try:
        c, m = verify_restored(vm, boot)
        secs = time.monotonic() - t0
    finally:
        vm.shutdown()
    image_check(img)
    return c, m, secs


def live(workdir, mem):
    img = image_create(workdir / "live.qcow2", "4G")
    vm = Guest(workdir, "live", img, mem_mib=mem)
    say(f"Booting the guest ({mem} MiB RAM, TCG) with the patched QEMU...")
    ready = vm.start()
    say(f"  workload filled {ready['mib']:.0f} MiB in "
        f"{ready['fill_ms'] / 1000:.1f} s, now rewriting it at full speed")
    vm.console.wait("MATCH", start=0)
    mark = vm.console.mark()
    say("savevm-live demo-snap")
    t0 = time.monotonic()
    boot = vm.boot_id()
    r, cmd_secs = vm.savevm_live("demo-snap")
    if "error" in r:
        raise qsl.GuestError(r["error"]["desc"])
    say(f"  returned after {cmd_secs * 1000:.0f} ms: snapshot instant "
        f"captured, guest running: {vm.running()}")
    data = None
    while data is None:
        job = vm.job("live0")
        if job and job["status"] in ("running", "ready", "waiting",
                                     "pending", "concluded"):
            say("\r  " + progress_bar(job["current-progress"],
                                      job["total-progress"] or 1), end="")
        for ev in vm.get_qmp_events(wait=False):
            if ev["event"] == "SAVEVM_LIVE_COMPLETED":
                data = ev["data"]
        time.sleep(0.1)
    duration = time.monotonic() - t0
    say("\r  " + progress_bar(data.get("vmstate-size", 0),
                              data.get("vmstate-size", 1)))
    if "error" in data:
        raise qsl.GuestError(data["error"])
    end = vm.console.mark()
    time.sleep(1.2)             # the STATS line covering the end
    stall = stall_during(vm, mark, None)
    progress = vm.console.lines(mark, end, "PROGRESS")
    vm.dismiss("live0")
    vm.shutdown()
    image_check(img)
    say(f"  done: vmstate {data['vmstate-size'] / MiB:.0f} MiB, "
        f"{len(progress)} workload progress lines printed during the save")
    say("Restoring it in a new QEMU (-loadvm demo-snap)...")
    c, m, rsecs = restore(workdir, "live-restore", img, "demo-snap", mem,
                          qsl.PATCHED, boot)
    say(f"  guest: {c['line']}")
    say(f"  guest: {m['line']}")
    _, _, ssecs = restore(workdir, "live-restore-stock", img, "demo-snap",
                          mem, qsl.STOCK, boot)
    say(f"  the stock QEMU restores it too ({ssecs:.1f} s): CONSISTENT, MATCH")
    return {
        "pause_ms": data["pause-us"] / 1000,
        "stall_ms": stall,
        "duration_s": duration,
        "vmstate_mib": data["vmstate-size"] / MiB,
        "restore": f"CONSISTENT+MATCH ({rsecs:.1f} s)",
    }


def stock(workdir, mem):
    img = image_create(workdir / "stock.qcow2", "4G")
    vm = Guest(workdir, "stock", img, mem_mib=mem, binary=qsl.STOCK)
    say("Booting the same guest with stock QEMU for contrast...")
    vm.start()
    vm.console.wait("MATCH", start=0)
    mark = vm.console.mark()
    say("savevm stock-snap (stock QEMU, HMP)")
    since = time.time()
    t0 = time.monotonic()
    boot = vm.boot_id()
    out = vm.hmp("savevm stock-snap")
    duration = time.monotonic() - t0
    if out.strip():
        raise qsl.GuestError(f"savevm: {out}")
    pause = pause_from_events(vm, since - 1)
    time.sleep(1.2)
    stall = stall_during(vm, mark, None)
    size = qsl.image_snapshots(img, force_share=True)["stock-snap"]
    vm.shutdown()
    image_check(img)
    say(f"  done: the guest was stopped for {pause * 1000:.0f} ms")
    c, _, rsecs = restore(workdir, "stock-restore", img, "stock-snap", mem,
                          qsl.STOCK, boot)
    return {
        "pause_ms": pause * 1000,
        "stall_ms": stall,
        "duration_s": duration,
        "vmstate_mib": size / MiB,
        "restore": f"{c['kind']}+MATCH ({rsecs:.1f} s)",
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mem", type=int, default=1024, help="guest RAM, MiB")
    args = ap.parse_args()

    workdir = qsl.TOP / "build" / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    log = workdir / "demo.log"
    logging.basicConfig(filename=log, level=logging.DEBUG)
    say(f"Logs: {log.relative_to(qsl.TOP)} (QEMU logs and guest consoles "
        f"in {workdir.relative_to(qsl.TOP)}/)")
    t0 = time.monotonic()
    lv = live(workdir, args.mem)
    say()
    st = stock(workdir, args.mem)
    say()
    rows = [
        ("RAM size", f"{args.mem} MiB", f"{args.mem} MiB"),
        ("VM pause", f"{lv['pause_ms']:.0f} ms", f"{st['pause_ms']:.0f} ms"),
        ("guest max stall during the save*",
         f"{lv['stall_ms']:.0f} ms", f"{st['stall_ms']:.0f} ms"),
        ("save duration", f"{lv['duration_s']:.1f} s",
         f"{st['duration_s']:.1f} s"),
        ("vmstate size", f"{lv['vmstate_mib']:.0f} MiB",
         f"{st['vmstate_mib']:.0f} MiB"),
        ("restore verdict", lv["restore"], st["restore"]),
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows + [("", "savevm-live", "")])
    say(f"{'':{w0}}  {'savevm-live':<{w1}}  stock savevm")
    for r in rows:
        say(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}")
    say("* as the guest measured it: under TCG the guest's clock stands "
        "still while the VM is paused, so a pause does not show here")
    say(f"\nDemo done in {time.monotonic() - t0:.0f} s.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except qsl.GuestError as e:
        print(f"\ndemo failed: {e}", file=sys.stderr)
        sys.exit(1)
