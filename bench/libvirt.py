# SPDX-License-Identifier: GPL-2.0-or-later
"""
make bench-libvirt: libvirt's internal snapshots side by side, through
virsh and the daemons of the libvirt build (qsl/lvd.py):
'snapshot-create-as --live' (savevm-live) against 'snapshot-create-as'
(libvirt stops the vCPUs, snapshot-save, cont), on the test guest whose
workload rewrites 3/4 of its RAM at full speed and writes its disk.  For
each: how long the guest was paused (libvirt's Suspended -> Resumed
lifecycle events), virsh's wall time, and the reverts (running, shut off)
to the first line the restored workload prints.  Writes
bench/results/libvirt.md and .json.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import qsl
from qsl import lvd

HERE = Path(__file__).resolve().parent


def one(work, mem, live, rep):
    name = f"b{mem}{'l' if live else 's'}{rep}"
    img = qsl.image_create(work / f"{name}.qcow2", "2G")
    dom = lvd.Domain(work, name, img, mem_mib=mem, wl_mib=mem * 3 // 4)
    try:
        dom.start()
        boot = dom.boot_id()
        # a full pass: all of the workload's RAM is written
        dom.console.wait("CONSISTENT", start=0, timeout=600, proc=dom)
        events = lvd.Events(name, work / f"{name}.events")
        args = ["--live"] if live else []
        _, secs = lvd.virsh("snapshot-create-as", name, "s", *args)
        events.stop()
        pauses = [ms for _, ms in events.pause_ms()]
        reverts = []
        for running in (True, False):
            if running:
                lvd.virsh("suspend", name)
            else:
                lvd.virsh("destroy", name)
            mark = dom.console.mark()
            t = time.monotonic()
            lvd.virsh("snapshot-revert", name, "s")
            line = dom.console.wait("PROGRESS", start=mark, timeout=600,
                                    proc=dom)
            reverts.append(time.monotonic() - t)
            qsl.verify_restored(dom, boot, start=mark)
            del line
        lvd.virsh("snapshot-delete", name, "s")
        return {"mem_mib": mem, "live": live, "pause_ms": sum(pauses),
                "pauses": len(pauses), "virsh_s": secs,
                "revert_running_s": reverts[0],
                "revert_shutoff_s": reverts[1]}
    finally:
        dom.undefine()
        img.unlink()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mem", type=int, nargs="+", default=[1024, 4096],
                    help="guest RAM sizes in MiB")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "libvirt"))
    opts = ap.parse_args()
    work = qsl.TOP / "build" / "bench-libvirt"
    work.mkdir(parents=True, exist_ok=True)
    daemons = lvd.Daemons()
    daemons.start()
    runs = []
    try:
        for mem in opts.mem:
            for rep in range(opts.reps):
                for live in (True, False):
                    r = one(work, mem, live, rep)
                    print(json.dumps(r), flush=True)
                    runs.append(r)
    finally:
        daemons.stop()

    rows = ["| guest RAM | method | guest paused (ms) | virsh (s) | "
            "revert running (s) | revert shut off (s) |",
            "|---|---|---|---|---|---|"]
    med = {}
    for mem in opts.mem:
        for live in (True, False):
            rs = [r for r in runs if r["mem_mib"] == mem and r["live"] == live]
            m = {k: statistics.median(r[k] for r in rs)
                 for k in ("pause_ms", "virsh_s", "revert_running_s",
                           "revert_shutoff_s")}
            med[(mem, live)] = m
            method = "snapshot-create-as --live" if live else \
                "snapshot-create-as"
            rows.append(f"| {mem // 1024} GiB | {method} | "
                        f"{m['pause_ms']:.0f} | {m['virsh_s']:.2f} | "
                        f"{m['revert_running_s']:.1f} | "
                        f"{m['revert_shutoff_s']:.1f} |")
    ratios = [f"- {mem // 1024} GiB: pause {med[(mem, True)]['pause_ms']:.0f}"
              f" ms vs {med[(mem, False)]['pause_ms']:.0f} ms "
              f"({med[(mem, True)]['pause_ms'] / med[(mem, False)]['pause_ms']:.4f}x)"
              for mem in opts.mem]
    text = (f"# libvirt: live vs stock internal snapshots\n\n"
            f"virsh and virtqemud/virtlogd of the libvirt build, patched QEMU,"
            f" TCG, 2-core host, test guest rewriting 3/4 of its RAM; median"
            f" of {opts.reps} (bench/libvirt.py, {time.strftime('%Y-%m-%d')}"
            f").  Revert: virsh snapshot-revert until the restored workload's"
            f" first line, checked CONSISTENT + MATCH.\n\n"
            + "\n".join(rows) + "\n\n" + "\n".join(ratios) + "\n")
    Path(opts.out + ".md").write_text(text)
    Path(opts.out + ".json").write_text(json.dumps(runs, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
