# SPDX-License-Identifier: GPL-2.0-or-later
"""
make bench: the benchmark harness of qemu-savevm-live, its command line
(python3 -m bench.run, from the top of the checkout with PYTHONPATH=.;
bench/run.sh does that).  bench/measuring.py measures, bench/reporting.py
writes the report; this docstring defines the figures.

Compares four ways to take a snapshot of a running VM, on the end-to-end
test guest (Linux + tests/guest/workload.c) and the same machine:

  savevm         stock QEMU, HMP 'savevm TAG'
  snapshot-save  stock QEMU, QMP 'snapshot-save' job
  bg-snapshot    stock QEMU, 'migrate' with capability background-snapshot
                 to a file: URI on the same file system as the images
  savevm-live    the patched QEMU, QMP 'savevm-live' job

Every measurement boots a fresh VM, lets the workload fill its memory and
run for a few seconds (the baseline), takes the snapshot, watches the guest
a little longer, shuts the VM down, then restores the snapshot in a new QEMU
(-loadvm TAG, or -incoming file:PATH for bg-snapshot) and times it.  The
methods are interleaved (their order rotates with every repetition).

Figures of a measurement (all in the JSON; the Markdown table has the main
ones, median [min-max] over the repetitions):

  pause_ms        VM pause: the sum of the STOP->RESUME intervals (QMP event
                  timestamps) during the save; for savevm-live the time its
                  vCPUs were stopped (the event's pause-us)
  stall_ms        guest-observed max stall, incl. the pause:
                  max(max of the workload's STATS maxstall_ms over the
                  window, pause_ms).  Under TCG the guest clock stands still
                  while the VM is stopped, so the guest alone does not see a
                  pause; with KVM it does, and max() does not count it twice
  stalls1/10      the workload's count of stalls > 1 ms / > 10 ms over the
                  window (sum of its STATS lines)
  diskw_max_ms    the longest of the workload's synchronous 4 KiB
                  O_DIRECT|O_DSYNC disk writes over the window (one every
                  200 ms; every 50 ms in syncwrite mode, where the write's
                  time also counts in stall_ms, as for a database that waits
                  for its log write in its main loop)
  work_lost_s     guest work lost: W - P / R, where W is the window (from
                  the command's start to the end of the save + 2 s, host
                  time), P the pages the workload wrote in it and R its
                  pages per second over the 5 s before the command (pages
                  are interpolated between the host-stamped PROGRESS lines).
                  In idle mode (no pages written) the guest clock stands in
                  for the pages: W - (guest seconds elapsed in W)
  qmp_max_ms      QMP unresponsive: the longest round trip of the
                  'query-status' sent every 15 ms on a second QMP monitor,
                  among those overlapping the save
  cmd_return_ms   how long the snapshot command took to return (the HMP
                  savevm: the whole save; savevm-live: until the instant
                  is captured, reservation included; QMP's dispatcher,
                  shared by all monitors, runs nothing else meanwhile)
  qmp_after_ms    QMP unresponsive once the command returned: as
                  qmp_max_ms, among the queries sent after the command
                  returned, until the end of the save
  duration_s      save duration: command start to the end of the save (the
                  completion event / the HMP command's return)
  vmstate_mib     size of the saved VM state (qcow2 vm-state-size, the
                  migration file for bg-snapshot)
  nonzero_mib     non-zero guest RAM: bg-snapshot's 'normal' pages (the
                  migration stream's non-zero pages); other methods: "-"
  mem_extra_mib   peak extra host memory: max over the save of the summed
                  Pss (/proc/PID/smaps_rollup, sampled every 50 ms) of QEMU
                  and its child processes, minus QEMU's Pss just before
  restore_s       restore time: from the start of a new QEMU (-loadvm TAG or
                  -incoming file:PATH) until the restored guest prints its
                  first workload line; the host page cache is dropped
                  before every restore (when the harness may: root)
  load_s          of which loading the VM state: -loadvm until QMP answers
                  (QEMU loads it before its main loop runs), -incoming
                  until query-migrate says "completed"
  load_mib_s      vmstate_mib / load_s
  stock_load_s    savevm-live only: load_s of stock QEMU's -loadvm of the
                  same snapshot (cold as well)

Reference limits measured in the same run: a bare fork() of a process with
as much RAM as the guest, touched page by page (bench/forkref.c, same THP
setting), and the sequential write bandwidth to the file system of the work
directory (dd bs=8M oflag=direct conv=fdatasync) and, with the page cache
dropped, the sequential read bandwidth of the file it wrote (dd bs=8M).

THP: QEMU advises MADV_HUGEPAGE on guest RAM, so the host's
/sys/kernel/mm/transparent_hugepage/enabled decides: THP "on" sets it to
"madvise", "off" to "never", "default" leaves it alone.  The harness puts
the original value back when it exits.  (This is host-wide.)
"""

import argparse
import atexit
import json
import logging
import signal
import sys
import time
from pathlib import Path

import qsl
from bench import measuring
from bench.measuring import (BUDGET_MIB, DISK_GIB, DISK_OPTS, EXTRA_METHODS,
                             LOG, METHODS, MODES, Scenario, THP_SYSFS, TOP,
                             Thp, WORK, consecutive_scenario, disk_bandwidth,
                             disk_scenario, estimate_s, fits, fork_reference,
                             machine_description, measure, say)
from bench.reporting import fnum, markdown, plots, result_data


def default_set():
    """The committed table set (see README: Benchmark)."""
    s = [Scenario(4096, "full", "on", 3)]
    for mode in ("idle", "moderate", "full"):
        for thp in ("on", "off"):
            s.append(Scenario(1024, mode, thp, 1))
    s.append(Scenario(8192, "full", "on", 1))
    return s


def quick_set():
    return [Scenario(1024, "full", "default", 1)]


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Benchmark savevm-live against stock QEMU's snapshots.")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 GiB, full, THP as is, 1 repetition")
    ap.add_argument("--ram", help="guest RAM sizes in GiB, e.g. 1,4")
    ap.add_argument("--mode", help="workloads: idle,moderate,full")
    ap.add_argument("--thp", help="THP: on,off,default")
    ap.add_argument("--methods", help=",".join(METHODS + EXTRA_METHODS))
    ap.add_argument("--budget", type=int, default=BUDGET_MIB,
                    help="savevm-live-budget's memory-budget in MiB "
                    f"(default {BUDGET_MIB})")
    ap.add_argument("--reps", type=int, help="repetitions per scenario")
    ap.add_argument("--accel", default="auto", choices=("auto", "tcg", "kvm"))
    ap.add_argument("--out", help="output directory (default bench/results)")
    ap.add_argument("--name", help="result file name (default: latest, or "
                    "quick for --quick)")
    ap.add_argument("--write-mib", type=int, default=2048,
                    help="MiB the write-bandwidth reference writes")
    ap.add_argument("--disk-reps", type=int,
                    help=f"repetitions of the {DISK_GIB} GiB data disk "
                    "scenario (default: 3 in the committed set, 0 otherwise)")
    ap.add_argument("--consecutive", type=int,
                    help="savevm-live saves in a row on one guest per RAM "
                    "size (--ram, default 1,4,8; default: 4 in the committed "
                    "set, 0 otherwise)")
    ap.add_argument("--no-table", action="store_true",
                    help="skip the scenario × method table (run only the "
                    "data disk or consecutive sections)")
    ap.add_argument("--disk-cache", choices=tuple(DISK_OPTS),
                    default="writeback",
                    help="the guest disk's cache mode (default: writeback, "
                    "QEMU's default; none: O_DIRECT)")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the plan and the estimate, then stop")
    return ap.parse_args(argv)


def plan(args):
    if args.quick:
        scs = quick_set()
    elif args.ram or args.mode or args.thp:
        rams = [int(float(x) * 1024) for x in (args.ram or "1").split(",")]
        modes = (args.mode or "full").split(",")
        thps = (args.thp or "on").split(",")
        scs = [Scenario(r, m, t, args.reps or 1)
               for r in rams for m in modes for t in thps]
    else:
        scs = default_set()
    if args.reps:
        scs = [Scenario(s.mem_mib, s.mode, s.thp, args.reps) for s in scs]
    for s in scs:
        if s.mode not in MODES or s.thp not in ("on", "off", "default"):
            raise SystemExit(f"bad scenario {s}")
    methods = tuple(args.methods.split(",")) if args.methods else METHODS
    for m in methods:
        if m not in METHODS + EXTRA_METHODS:
            raise SystemExit(f"unknown method {m}; known: "
                             f"{METHODS + EXTRA_METHODS}")
    return scs, methods


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    scenarios, methods = plan(args)
    measuring.DISK_CACHE[0] = args.disk_cache
    measuring.BUDGET_MIB = args.budget
    if args.no_table:
        scenarios = []
    name = args.name or ("quick" if args.quick else "latest")
    out = Path(args.out) if args.out else TOP / "bench" / "results"
    WORK.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    log = WORK / f"{name}.log"
    logging.basicConfig(filename=log, filemode="w", level=logging.DEBUG,
                        format="%(asctime)s %(name)s %(message)s")

    skipped = []
    scenarios = [s for s in scenarios if not fits(s, skipped)]
    thp = Thp()
    if any(s.thp != "default" for s in scenarios) and not thp.can_set():
        for s in scenarios:
            if s.thp != "default":
                skipped.append(f"{s.label()}: cannot change {THP_SYSFS}")
        scenarios = [s for s in scenarios if s.thp == "default"]
    est = sum(estimate_s(s, m) * s.reps for s in scenarios for m in methods)
    est += 25 + sum(2 + s.mem_mib / 1024 for s in scenarios)     # refs
    say(f"bench: {len(scenarios)} scenario(s) × {len(methods)} method(s), "
        f"{sum(s.reps for s in scenarios) * len(methods)} measurements; "
        f"expected ~{est / 60:.0f} min (TCG estimate)")
    for s in scenarios:
        say(f"  {s.label()}, {s.reps} rep(s), workload {s.wl_mib} MiB")
    for s in skipped:
        say(f"  skipped: {s}")
    say(f"  log: {log.relative_to(TOP)}; results: {out}/{name}.*")
    if args.dry_run:
        return 0

    atexit.register(thp.restore)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(128 + 15))

    t_start = time.monotonic()
    if args.accel == "auto":
        ok, why = qsl.kvm_works(WORK, timeout=20)
        accel = "kvm" if ok else "tcg"
    else:
        accel, why = args.accel, "chosen with --accel"
    say(f"accelerator: {accel} ({why})")
    machine = machine_description(accel, why)

    refs = {"fork": {}}
    say("reference limits: ", end="")
    w, rd = disk_bandwidth(min(args.write_mib, 1024) if args.quick
                           else args.write_mib)
    refs["write"] = w
    say(f"write {w['mib_s']:.0f} MiB/s", end="")
    if rd:
        refs["read"] = rd
        say(f"; cold read {rd['mib_s']:.0f} MiB/s", end="")
    for mem, t in sorted({(s.mem_mib, s.thp) for s in scenarios}):
        thp.set(t)
        f = fork_reference(mem, t)
        refs["fork"][f"{mem}-{t}"] = f
        say(f"; fork {mem // 1024} GiB THP {t}: {f['median_ms']:.2f} ms",
            end="")
    say()

    runs = []
    nrep = max(s.reps for s in scenarios) if scenarios else 0
    total = sum(s.reps for s in scenarios) * len(methods)
    done = 0
    for rep in range(nrep):
        for sc in scenarios:
            if rep >= sc.reps:
                continue
            k = rep % len(methods)
            for method in methods[k:] + methods[:k]:
                done += 1
                say(f"[{done}/{total}] {sc.label()} {method} rep {rep + 1}: ",
                    end="")
                t = time.monotonic()
                try:
                    why = fits(sc)
                    if why:
                        raise qsl.GuestError(f"skipped: {why}")
                    r = measure(sc, method, rep + 1, accel, thp)
                    say(f"pause {r['pause_ms']:.0f} ms, stall "
                        f"{r['stall_ms']:.0f} ms, lost "
                        f"{fnum(r['work_lost_s'])} s, QMP "
                        f"{r['qmp_max_ms']:.0f} ms, save "
                        f"{r['duration_s']:.1f} s, vmstate "
                        f"{r['vmstate_mib']:.0f} MiB, mem +"
                        f"{r['mem_extra_mib']:.0f} MiB, restore "
                        f"{r['restore_s']:.1f} s (load "
                        f"{r['load_s']:.1f} s"
                        + (f", stock {r['stock_load_s']:.1f} s"
                           if "stock_load_s" in r else "") +
                        f") ({time.monotonic() - t:.0f} s)")
                    if r["guest_errors"]:
                        say(f"    guest reported: {r['guest_errors']}")
                except Exception as e:  # pylint: disable=broad-except
                    LOG.exception("measurement failed")
                    r = {"scenario": sc.key, "method": method,
                         "rep": rep + 1, "error": str(e).splitlines()[0]}
                    say(f"FAILED: {r['error']}")
                runs.append(r)
                data = result_data(name, machine, refs, scenarios, methods,
                                   runs, skipped, t_start, argv,
                                   measuring.BUDGET_MIB)
                (out / f"{name}.json").write_text(
                    json.dumps(data, indent=1) + "\n", encoding="utf-8")
    thp.restore()
    disk_reps = args.disk_reps
    if disk_reps is None:
        disk_reps = 3 if not (args.quick or args.ram or args.mode or
                              args.thp or args.methods) else 0
    disk = disk_scenario(accel, disk_reps) if disk_reps else None
    cons = None
    if args.consecutive is None and not (args.quick or args.ram or args.mode
                                         or args.thp or args.methods):
        args.consecutive = 4
    if args.consecutive:
        thp.set("on")
        rams = ([int(float(x) * 1024) for x in args.ram.split(",")]
                if args.ram else [1024, 4096, 8192])
        cons = consecutive_scenario(accel, rams, args.consecutive)
        thp.restore()
    data = result_data(name, machine, refs, scenarios, methods, runs,
                       skipped, t_start, argv, measuring.BUDGET_MIB)
    if disk:
        data["disk"] = disk
    if cons:
        data["consecutive"] = cons
    (out / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n",
                                      encoding="utf-8")
    md = markdown(data)
    (out / f"{name}.md").write_text(md, encoding="utf-8")
    try:
        files = plots(data, out, name)
    except Exception:  # pylint: disable=broad-except
        # The figures are in the JSON and the table: a plot must not cost them
        LOG.exception("plotting failed")
        say("bench: plotting failed, see the log")
        files = []
    say()
    say(md)
    say("wrote " + ", ".join(str(p.relative_to(TOP) if p.is_relative_to(TOP)
                                 else p)
                             for p in [out / f"{name}.json",
                                       out / f"{name}.md", *files]))
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
