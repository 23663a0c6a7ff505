# SPDX-License-Identifier: GPL-2.0-or-later
"""
The measuring half of the benchmark harness (bench/run.py is the command and
defines the figures; bench/reporting.py makes the tables and plots): the
scenarios, the host and its reference limits, the guest with its observers
(console, QMP poller, memory sampler), one measurement of a snapshot method
with its restore, and the disk and consecutive-save scenarios.
"""

import json
import logging
import os
import platform
import re
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import qsl
from qemu.qmp.legacy import QEMUMonitorProtocol  # qsl put it on the path

from bench.reporting import stats

TOP = qsl.TOP
MiB = qsl.MiB
GiB = qsl.GiB
WORK = TOP / "build" / "bench"
THP_SYSFS = Path("/sys/kernel/mm/transparent_hugepage/enabled")
THP_VALUE = {"on": "madvise", "off": "never"}

METHODS = ("savevm", "snapshot-save", "bg-snapshot", "savevm-live")
# Only when asked for (--methods): savevm-live with a memory budget
EXTRA_METHODS = ("savevm-live-budget",)
METHOD_BINARY = {"savevm": qsl.STOCK, "snapshot-save": qsl.STOCK,
                 "bg-snapshot": qsl.STOCK, "savevm-live": qsl.PATCHED,
                 "savevm-live-budget": qsl.PATCHED}
# savevm-live-budget's memory-budget, in MiB (--budget)
BUDGET_MIB = 256
MODES = ("idle", "moderate", "full", "syncwrite")
# syncwrite: the full-speed workload that also waits, like a database, for a
# synchronous O_DIRECT|O_DSYNC disk write every SYNCWRITE_MS in its main
# loop; the write's time is part of the guest's stall (wl.disk-stall=1)
SYNCWRITE_MS = 50
# The guest disk's cache mode (--disk-cache): QEMU's default (host page
# cache) or none (O_DIRECT, what libvirt's cache='none' gives)
DISK_OPTS = {"writeback": "", "none": ",cache.direct=on"}
DISK_CACHE = ["writeback"]
MODERATE_RATE = 64              # MiB/s, wl.rate in moderate mode
BASELINE_S = 5.0                # workload baseline before the save
TAIL_S = 2.0                    # window extends this far past the save
QMP_POLL_S = 0.015
MEM_POLL_S = 0.05
TAIL_POLL_S = 0.02

LOG = logging.getLogger("bench")


def say(msg="", end="\n"):
    print(msg, end=end, flush=True)


# ---------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True)
class Scenario:
    mem_mib: int
    mode: str
    thp: str                    # on | off | default
    reps: int

    @property
    def wl_mib(self):
        """The workload's area: all but max(256 MiB, 1/8) of guest RAM."""
        return self.mem_mib - max(256, self.mem_mib // 8)

    @property
    def key(self):
        return f"{self.mem_mib // 1024}G-{self.mode}-thp{self.thp}"

    def label(self):
        return (f"{self.mem_mib // 1024} GiB, {self.mode}"
                + (f" {MODERATE_RATE} MiB/s" if self.mode == "moderate"
                   else "") + f", THP {self.thp}")


# ---------------------------------------------------------------------------
# Host: description, THP, memory, reference limits


def sh(*args):
    p = subprocess.run(args, capture_output=True, text=True, check=False)
    return p.stdout.strip()


def meminfo():
    out = {}
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0])      # kB
    return out


def machine_description(accel, accel_reason):
    cpu = "?"
    with open("/proc/cpuinfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mi = meminfo()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mi["MemTotal"] / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": sh("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"),
        "filesystem": sh("findmnt", "-no", "FSTYPE,SOURCE", "-T", str(WORK)),
        "accel": accel,
        "accel_reason": accel_reason,
        "thp_original": thp_get(),
        "thp_defrag": thp_read(THP_SYSFS.parent / "defrag"),
        "disk_cache": DISK_CACHE[0],
        "qemu_stock": sh(qsl.STOCK, "--version").splitlines()[0],
        "qemu_patched": sh(qsl.PATCHED, "--version").splitlines()[0],
        "series": sh("git", "-C", str(TOP), "describe", "--always",
                     "--dirty"),
        "load_at_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def thp_read(path):
    try:
        text = Path(path).read_text(encoding="ascii")
    except OSError:
        return None
    m = re.search(r"\[(\w[\w+]*)\]", text)
    return m.group(1) if m else text.strip()


def thp_get():
    return thp_read(THP_SYSFS)


class Thp:
    """Host THP setting; the original is put back at exit."""

    def __init__(self):
        self.original = thp_get()
        self.changed = False

    def can_set(self):
        return self.original is not None and os.access(THP_SYSFS, os.W_OK)

    def set(self, thp):
        if thp == "default":
            value = self.original
        else:
            value = THP_VALUE[thp]
        if value is None or thp_get() == value:
            return
        if not self.can_set():
            raise qsl.GuestError(f"cannot set {THP_SYSFS} (need root)")
        THP_SYSFS.write_text(value, encoding="ascii")
        self.changed = True
        LOG.info("THP enabled=%s", value)

    def restore(self):
        if self.changed and self.original and thp_get() != self.original:
            THP_SYSFS.write_text(self.original, encoding="ascii")
            LOG.info("THP enabled restored to %s", self.original)


def forkref_binary():
    out = WORK / "forkref"
    src = TOP / "bench" / "forkref.c"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        subprocess.run([os.environ.get("CC", "gcc"), "-O2", "-Wall",
                        "-o", str(out), str(src)], check=True)
    return out


def fork_reference(mem_mib, thp, reps=5):
    """Median ms of a bare fork() of a process with mem_mib touched."""
    p = subprocess.run([str(forkref_binary()), str(mem_mib),
                        "0" if thp == "off" else "1", str(reps)],
                       capture_output=True, text=True, check=True)
    r = json.loads(p.stdout)
    r["median_ms"] = statistics.median(r["fork_ms"])
    r["thp_setting"] = thp_get()
    return r


def drop_caches():
    """Drop the host page cache; False if this process may not."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n", encoding="ascii")
    except OSError:
        return False
    return True


def timed_dd(args, mib, cmd):
    """Run dd with @args over @mib MiB; its bandwidth, described as @cmd."""
    t0 = time.monotonic()
    p = subprocess.run(["dd", *args], capture_output=True, text=True,
                       check=False)
    secs = time.monotonic() - t0
    if p.returncode:
        raise qsl.GuestError(f"dd: {p.stderr.strip()}")
    return {"mib": mib, "seconds": round(secs, 3),
            "mib_s": round(mib / secs, 1), "cmd": cmd}


def disk_bandwidth(mib):
    """Sequential write and cold read bandwidth (MiB/s) of the work
    directory's file system; the read is None if the page cache cannot be
    dropped."""
    path = WORK / "ddtest.bin"
    try:
        write = timed_dd(["if=/dev/zero", f"of={path}", "bs=8M",
                          f"count={mib // 8}", "oflag=direct",
                          "conv=fdatasync"], mib,
                         "dd if=/dev/zero bs=8M oflag=direct conv=fdatasync")
        if not drop_caches():
            return write, None
        read = timed_dd([f"if={path}", "of=/dev/null", "bs=8M"], mib,
                        "dd bs=8M of=/dev/null, page cache dropped")
        return write, read
    finally:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# Watching a running VM


def mono_from_wall(wall):
    """Convert a CLOCK_REALTIME stamp (QMP events) to time.monotonic()."""
    return wall - (time.time() - time.monotonic())


def event_wall(ev):
    ts = ev["timestamp"]
    return ts["seconds"] + ts["microseconds"] / 1e6


class ConsoleTail(threading.Thread):
    """Host-time stamps of the guest's 'WL ' lines: [(monotonic, line)]."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = Path(path)
        self.lines = []
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def run(self):
        pos = 0
        partial = b""
        while not self.halt.is_set():
            try:
                with open(self.path, "rb") as f:
                    f.seek(pos)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            now = time.monotonic()
            if data:
                pos += len(data)
                data = partial + data
                *full, partial = data.split(b"\n")
                with self.lock:
                    for raw in full:
                        line = raw.decode(errors="replace")
                        i = line.find("WL ")
                        if i >= 0:
                            self.lines.append((now, line[i + 3:].strip()))
            self.halt.wait(TAIL_POLL_S)

    def stop(self):
        self.halt.set()
        self.join()

    def get(self, kind=None, since=None):
        with self.lock:
            out = list(self.lines)
        if since is not None:
            out = [x for x in out if x[0] >= since]
        if kind:
            out = [x for x in out if x[1].split(" ")[0] == kind]
        return out

    def wait(self, pred, timeout, what, vm=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, line in self.get():
                if pred(t, line):
                    return t, line
            if vm is not None and not vm.is_running():
                raise qsl.GuestError(f"QEMU exited waiting for {what}: "
                                     f"{vm.get_log()}")
            time.sleep(0.05)
        raise qsl.GuestError(f"no {what} within {timeout} s")


class QmpPoller(threading.Thread):
    """query-status round trips on a second QMP monitor."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = str(path)
        self.samples = []           # (monotonic send time, round trip s)
        self.halt = threading.Event()
        self.error = None
        self.inflight = None

    def run(self):
        try:
            mon = QEMUMonitorProtocol(self.path)
            mon.connect()
        except Exception as e:  # pylint: disable=broad-except
            self.error = f"connect: {e}"
            return
        try:
            while not self.halt.is_set():
                t0 = time.monotonic()
                self.inflight = t0
                mon.cmd("query-status")
                rtt = time.monotonic() - t0
                self.inflight = None
                self.samples.append((t0, rtt))
                mon.clear_events()
                self.halt.wait(max(0.0, QMP_POLL_S - rtt))
        except Exception as e:  # pylint: disable=broad-except
            if not self.halt.is_set():
                self.error = str(e)
        finally:
            try:
                mon.close()
            except Exception:  # pylint: disable=broad-except
                pass

    def stop(self):
        self.halt.set()
        self.join(timeout=30)

    def max_rtt(self, t0, t1, sent_after=None):
        """Longest round trip of the queries overlapping [t0, t1] (and sent
        after @sent_after, if given), and when it was sent relative to t0:
        (ms, s)."""
        worst, at = 0.0, None
        for ts, rtt in list(self.samples):
            if sent_after is not None and ts < sent_after:
                continue
            if ts <= t1 and ts + rtt >= t0 and rtt > worst:
                worst, at = rtt, ts - t0
        if self.inflight is not None and self.inflight <= t1 and \
                (sent_after is None or self.inflight >= sent_after) and \
                t1 - self.inflight > worst:
            worst, at = t1 - self.inflight, self.inflight - t0
        return worst * 1000, at


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rollup(pid, key):
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children(pid):
    kids = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children",
                      encoding="ascii") as f:
                kids += [int(k) for k in f.read().split()]
        except OSError:
            pass            # a thread that has just exited
    return kids


class MemSampler(threading.Thread):
    """Summed Pss of a process and its children, every 50 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.max_children = 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            kids = children(self.pid)
            total = pss_kib(self.pid) + sum(pss_kib(k) for k in kids)
            self.peak_kib = max(self.peak_kib, total)
            self.max_children = max(self.max_children, len(kids))
            self.halt.wait(MEM_POLL_S)

    def stop(self):
        self.halt.set()
        self.join()


class BenchGuest(qsl.Guest):
    """The test guest plus a second QMP monitor and an event log."""

    def __init__(self, workdir, name, image, scenario, binary, accel,
                 loadvm=None, extra_args=()):
        # Not under workdir: its path may be too long for a socket
        self.qmp2_path = qsl.sock_dir() / f"{name}.qmp"
        self.qmp2_path.unlink(missing_ok=True)
        extra = ["-qmp", f"unix:{self.qmp2_path},server=on,wait=off"]
        extra += list(extra_args)
        wl_extra = {"moderate": f"wl.rate={MODERATE_RATE}",
                    "syncwrite": f"wl.disk-ms={SYNCWRITE_MS} "
                                 "wl.disk-stall=1"}.get(scenario.mode, "")
        mode = "full" if scenario.mode == "syncwrite" else scenario.mode
        super().__init__(workdir, name, image, mem_mib=scenario.mem_mib,
                         disk_opts=DISK_OPTS[DISK_CACHE[0]],
                         wl_mib=scenario.wl_mib, mode=mode,
                         accel=accel, binary=binary, loadvm=loadvm,
                         extra_args=extra, wl_extra=wl_extra)
        self.events = []

    def pump(self):
        """Move the queued QMP events into self.events; return the new."""
        new = self.get_qmp_events(wait=False)
        self.events += new
        return new

    def wait_event(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while True:
            self.pump()
            for ev in self.events[seen:]:
                if pred(ev):
                    return ev
            seen = len(self.events)
            if not self.is_running():
                raise qsl.GuestError(f"QEMU exited waiting for {what}: "
                                     f"{self.get_log()}")
            if time.monotonic() > deadline:
                raise qsl.GuestError(f"no {what} within {timeout} s")
            time.sleep(0.02)

    def pause_s(self, wall0, wall1):
        """Summed STOP->RESUME intervals between two wall-clock times."""
        total, stop, count = 0.0, None, 0
        for ev in self.events:
            t = event_wall(ev)
            if t < wall0 - 0.5 or t > wall1 + 0.5:
                continue
            if ev["event"] == "STOP":
                stop = t
            elif ev["event"] == "RESUME" and stop is not None:
                total += t - stop
                stop = None
                count += 1
        if stop is not None:
            total += wall1 - stop
        return total, count


# ---------------------------------------------------------------------------
# The four methods.  Each returns (end time (monotonic), figures dict).


def do_savevm(vm, tag, _img, _mig, _started):
    out = vm.hmp(f"savevm {tag}")
    t_end = time.monotonic()
    if out.strip():
        raise qsl.GuestError(f"savevm: {out.strip()}")
    return t_end, {"_returned": t_end}


def do_snapshot_save(vm, tag, _img, _mig, _started):
    r = vm.qmp("snapshot-save", **{"job-id": "snap0", "tag": tag,
                                   "vmstate": "disk0",
                                   "devices": ["disk0"]})
    returned = time.monotonic()
    if "error" in r:
        raise qsl.GuestError(f"snapshot-save: {r['error']['desc']}")
    ev = vm.wait_event(lambda e: e["event"] == "JOB_STATUS_CHANGE"
                       and e["data"]["id"] == "snap0"
                       and e["data"]["status"] == "concluded",
                       3600, "snapshot-save concluded")
    t_end = mono_from_wall(event_wall(ev))
    job = vm.job("snap0")
    if job and job.get("error"):
        raise qsl.GuestError(f"snapshot-save: {job['error']}")
    vm.cmd("job-dismiss", id="snap0")
    return t_end, {"_returned": returned}


def do_bg_snapshot(vm, _tag, _img, mig, _started):
    vm.cmd("migrate-set-capabilities", capabilities=[
        {"capability": "background-snapshot", "state": True},
        {"capability": "events", "state": True}])
    vm.cmd("migrate", uri=f"file:{mig}")
    returned = time.monotonic()
    ev = vm.wait_event(lambda e: e["event"] == "MIGRATION"
                       and e["data"]["status"] in ("completed", "failed",
                                                   "cancelled"),
                       3600, "migration end")
    t_end = mono_from_wall(event_wall(ev))
    info = vm.cmd("query-migrate")
    if ev["data"]["status"] != "completed":
        raise qsl.GuestError(f"background snapshot {ev['data']['status']}: "
                             f"{info.get('error-desc', '')}")
    ram = info.get("ram", {})
    page = ram.get("page-size", 4096)
    return t_end, {
        "vmstate_bytes": mig.stat().st_size,
        "nonzero_bytes": ram.get("normal", 0) * page,
        "migrate_total_ms": info.get("total-time"),
        "migrate_downtime_ms": info.get("downtime"),
        "_returned": returned,
    }


def do_savevm_live(vm, tag, _img, _mig, started, **extra):
    r, _ = vm.savevm_live(tag, **extra)
    returned = time.monotonic()
    if "error" in r:
        raise qsl.GuestError(f"savevm-live: {r['error']['desc']}")
    started()
    ev = vm.wait_event(lambda e: e["event"] == "SAVEVM_LIVE_COMPLETED",
                       3600, "SAVEVM_LIVE_COMPLETED")
    t_end = mono_from_wall(event_wall(ev))
    d = ev["data"]
    if "error" in d:
        raise qsl.GuestError(f"savevm-live: {d['error']}")
    vm.dismiss("live0")
    res = {"vmstate_bytes": d.get("vmstate-size"),
           "live_pause_ms": d["pause-us"] / 1000,
           "live_duration_s": d["duration-us"] / 1e6,
           "_returned": returned}
    if "budget-pause-us" in d:
        res["budget_pause_ms"] = d["budget-pause-us"] / 1000
        res["budget_extra_peak_mib"] = d["extra-memory-peak"] / MiB
    return t_end, res


def do_savevm_live_budget(vm, tag, img, mig, started):
    return do_savevm_live(vm, tag, img, mig, started,
                          **{"memory-budget": BUDGET_MIB * MiB})


DO = {"savevm": do_savevm, "snapshot-save": do_snapshot_save,
      "bg-snapshot": do_bg_snapshot, "savevm-live": do_savevm_live,
      "savevm-live-budget": do_savevm_live_budget}


# ---------------------------------------------------------------------------
# Workload figures from the host-stamped console lines


def interp(points, t):
    """Linear interpolation in [(t, value)] (sorted), clamped."""
    if not points:
        return None
    if t <= points[0][0]:
        return points[0][1]
    for (ta, va), (tb, vb) in zip(points, points[1:]):
        if ta <= t <= tb:
            return va + (vb - va) * (t - ta) / (tb - ta) if tb > ta else vb
    return points[-1][1]


def workload_figures(tail, t_ready, t0, t_end, mode):
    w1 = t_end + TAIL_S
    prog = [(t, qsl.parse(line)) for t, line in tail.get("PROGRESS")
            if t >= t_ready]
    pages = [(t, p["pages_written"]) for t, p in prog]
    gclock = [(t, p["t"]) for t, p in prog]
    b0 = t0 - BASELINE_S
    out = {}
    rate = (interp(pages, t0) - interp(pages, b0)) / BASELINE_S
    out["baseline_mib_s"] = round(rate * 4096 / MiB, 1)
    window = w1 - t0
    if mode != "idle" and rate <= 0:
        out["work_lost_s"] = None
        out["work_lost_basis"] = "no baseline progress"
    elif mode != "idle":
        done = interp(pages, w1) - interp(pages, t0)
        out["work_lost_s"] = window - done / rate
        out["work_lost_basis"] = "pages"
    else:
        done = interp(gclock, w1) - interp(gclock, t0)
        out["work_lost_s"] = window - done
        out["work_lost_basis"] = "guest clock"
    out["window_s"] = window
    # STATS lines that arrive in (t0, w1] cover the save (each covers the
    # guest second before it); the baseline ones for comparison.
    stats = [qsl.parse(line) for t, line in tail.get("STATS")
             if t0 < t <= w1]
    base = [qsl.parse(line) for t, line in tail.get("STATS")
            if b0 < t <= t0]
    out["guest_maxstall_ms"] = max((s["maxstall_ms"] for s in stats),
                                   default=0.0)
    # The longest of the guest's own synchronous disk writes (older guests
    # do not report it)
    out["diskw_max_ms"] = max((s.get("diskw_max_ms", 0.0) for s in stats),
                              default=0.0)
    out["base_diskw_max_ms"] = max((s.get("diskw_max_ms", 0.0)
                                    for s in base), default=0.0)
    out["stalls1"] = int(sum(s["stalls1"] for s in stats))
    out["stalls10"] = int(sum(s["stalls10"] for s in stats))
    out["base_maxstall_ms"] = max((s["maxstall_ms"] for s in base),
                                  default=0.0)
    out["base_stalls1_per_s"] = (sum(s["stalls1"] for s in base)
                                 / BASELINE_S)
    bad = [line for t, line in tail.get() if t >= t_ready and
           line.split(" ")[0] in ("INCONSISTENT", "MISMATCH", "BADPAGES",
                                  "ERROR")]
    out["guest_errors"] = bad[:5]
    return out


# ---------------------------------------------------------------------------
# One measurement


def vm_name(sc, method, rep):
    return f"{sc.key}-{method}-r{rep}"


def measure(sc, method, rep, accel, thp):
    name = vm_name(sc, method, rep)
    # Write back what earlier measurements left dirty in the page cache, so
    # that it does not slow this one's flushes
    os.sync()
    img = qsl.image_create(WORK / f"{name}.qcow2", "1G")
    mig = WORK / f"{name}.mig"
    mig.unlink(missing_ok=True)
    tag = "bench"
    binary = METHOD_BINARY[method]
    thp.set(sc.thp)
    res = {"scenario": sc.key, "method": method, "rep": rep,
           "mem_mib": sc.mem_mib, "mode": sc.mode, "thp": sc.thp,
           "thp_setting": thp_get(), "wl_mib": sc.wl_mib,
           "binary": "patched" if binary == qsl.PATCHED else "stock"}
    vm = BenchGuest(WORK, name, img, sc, binary, accel)
    tail = ConsoleTail(vm.console.path)
    tail.start()
    poller = sampler = None
    try:
        t_launch = time.monotonic()
        vm.launch()
        t_ready, line = tail.wait(
            lambda t, ln: ln.startswith(("READY", "ERROR")) or
            " ERROR " in ln, 600, "READY", vm)
        if not line.startswith("READY"):
            raise qsl.GuestError(f"guest: {line}")
        res["boot_fill_s"] = round(t_ready - t_launch, 2)
        pid = vm.get_pid()
        res["qemu_anon_huge_mib"] = (rollup(pid, "AnonHugePages") or 0) / 1024
        poller = QmpPoller(vm.qmp2_path)
        poller.start()
        # Steady state first: in moderate mode the workload counts its
        # fill against the rate and sleeps that long (wl_mib / rate s)
        # before it writes at the rate.  Then BASELINE_S s of baseline.
        min_rate = {"idle": -1, "moderate": MODERATE_RATE / 2,
                    "full": 1, "syncwrite": 1}[sc.mode]
        t_steady, _ = tail.wait(
            lambda t, ln: t > t_ready and ln.startswith("PROGRESS") and
            qsl.parse(ln)["rate"] > min_rate,
            120 + sc.wl_mib / MODERATE_RATE, "steady-state PROGRESS", vm)
        tail.wait(lambda t, ln: t > t_steady + BASELINE_S + 0.5 and
                  ln.startswith("PROGRESS"), 120, "baseline PROGRESS", vm)
        if poller.error:
            raise qsl.GuestError(f"second QMP monitor: {poller.error}")
        vm.pump()
        base_pss = pss_kib(pid)
        sampler = MemSampler(pid)
        if not method.startswith("savevm-live"):
            sampler.start()
        wall0 = time.time()
        t0 = time.monotonic()
        # savevm-live: the sampler starts once the command returned, so
        # that reading the page tables does not delay its fork() (the peak
        # comes later, while the child writes)
        t_end, extra = DO[method](vm, tag, img, mig, sampler.start)
        t_ret = extra.pop("_returned")
        res["cmd_return_ms"] = (t_ret - t0) * 1000
        t_done = time.monotonic()
        wall1 = time.time()
        # the window's tail, and a PROGRESS line beyond it
        tail.wait(lambda t, ln: t > t_end + TAIL_S and
                  ln.startswith("PROGRESS"), 60, "PROGRESS after the save",
                  vm)
        sampler.stop()
        poller.stop()
        vm.pump()
        res.update(extra)
        pause, nstops = vm.pause_s(wall0, wall1 - (t_done - t_end))
        res["event_pause_ms"] = pause * 1000
        res["stops"] = nstops
        res["pause_ms"] = res.get("live_pause_ms", pause * 1000)
        res["duration_s"] = t_end - t0
        res["qmp_max_ms"], res["qmp_max_at_s"] = poller.max_rtt(t0, t_end)
        # Once the command has returned: the monitor during the rest of the
        # save (the command itself holds QMP's dispatcher until it returns,
        # so queries sent before wait for it: they count in cmd_return_ms)
        res["qmp_after_ms"], _ = poller.max_rtt(t_ret, t_end,
                                                sent_after=t_ret)
        res["qmp_base_max_ms"], _ = poller.max_rtt(t0 - BASELINE_S,
                                                   t0 - 0.05)
        res["qmp_samples"] = len(poller.samples)
        res["mem_extra_mib"] = max(0, sampler.peak_kib - base_pss) / 1024
        res["mem_children"] = sampler.max_children
        res.update(workload_figures(tail, t_ready, t0, t_end, sc.mode))
        res["stall_ms"] = max(res["guest_maxstall_ms"], res["pause_ms"])
        if "vmstate_bytes" not in res or res["vmstate_bytes"] is None:
            res["vmstate_bytes"] = qsl.image_snapshots(
                img, force_share=True)[tag]
    finally:
        for th in (sampler, poller):
            if th is not None and th.is_alive():
                th.stop()
        vm.shutdown(hard=True)
        vm.qmp2_path.unlink(missing_ok=True)
        tail.stop()
    res.update(restore(sc, method, rep, img, mig, tag, accel))
    if method == "savevm-live":
        st = restore(sc, method, rep, img, mig, tag, accel, qsl.STOCK)
        res["stock_load_s"] = st["load_s"]
        res["stock_restore_note"] = st["restore_note"]
    res["vmstate_mib"] = res["vmstate_bytes"] / MiB
    res["load_mib_s"] = res["vmstate_mib"] / res["load_s"]
    if res.get("nonzero_bytes"):
        res["nonzero_mib"] = res["nonzero_bytes"] / MiB
    res["throughput_mib_s"] = res["vmstate_mib"] / res["duration_s"]
    img.unlink(missing_ok=True)
    mig.unlink(missing_ok=True)
    for k, v in list(res.items()):
        if isinstance(v, float):
            res[k] = round(v, 4)
    return res


def restore(sc, method, rep, img, mig, tag, accel, binary=None):
    """Seconds from a new QEMU's start to the end of the load and to the
    first workload line, with a cold page cache."""
    name = vm_name(sc, method, rep) + "-restore"
    binary = binary or METHOD_BINARY[method]
    if method == "bg-snapshot":
        vm = BenchGuest(WORK, name, img, sc, binary, accel,
                        extra_args=["-incoming", f"file:{mig}"])
    else:
        vm = BenchGuest(WORK, name, img, sc, binary, accel, loadvm=tag)
    tail = ConsoleTail(vm.console.path)
    tail.start()
    cold = drop_caches()
    try:
        t0 = time.monotonic()
        vm.launch()
        t_load = time.monotonic()
        if method == "bg-snapshot":
            while vm.cmd("query-migrate").get("status") not in (
                    "completed", "failed"):
                time.sleep(0.01)
            t_load = time.monotonic()
        t1, line = tail.wait(lambda t, ln: True, 600, "a workload line",
                             vm)
        note = (f"{'cold' if cold else 'warm'} page cache; loaded after "
                f"{t_load - t0:.2f} s; first line: {line[:40]}")
        if method == "bg-snapshot":
            st = vm.cmd("query-migrate").get("status")
            note += f"; incoming {st}"
        return {"restore_s": round(t1 - t0, 3),
                "load_s": round(t_load - t0, 3), "restore_note": note,
                "restore_cold": cold}
    finally:
        vm.shutdown(hard=True)
        vm.qmp2_path.unlink(missing_ok=True)
        tail.stop()


# ---------------------------------------------------------------------------
# The pause against the size of the disks


DISK_GIB = 16


def disk_measure(accel, rep):
    """
    A 1 GiB idle guest with a second disk of DISK_GIB GiB whose clusters are
    all allocated (qcow2 preallocation=metadata): savevm-live's pause with
    and without that disk in the snapshot, against the time stock QEMU
    takes for a disk-only internal snapshot of it
    (blockdev-snapshot-internal-sync), which is what taking the snapshot of
    a disk costs whatever the method.
    """
    sc = Scenario(1024, "idle", "default", 1)
    out = {}
    for what, binary in (("live", qsl.PATCHED), ("stock", qsl.STOCK)):
        name = f"disk{DISK_GIB}-{what}-r{rep}"
        img = qsl.image_create(WORK / f"{name}.qcow2", "1G")
        data = WORK / f"{name}-data.qcow2"
        qsl.qemu_img("create", "-q", "-f", "qcow2", "-o",
                     "preallocation=metadata", str(data), f"{DISK_GIB}G")
        vm = BenchGuest(WORK, name, img, sc, binary, accel, extra_args=[
            "-blockdev", f"file,filename={data},node-name=datafile",
            "-blockdev", "qcow2,file=datafile,node-name=data0",
            "-device", "virtio-blk-pci,drive=data0"])
        try:
            vm.launch()
            vm.console.wait("READY", timeout=600, proc=vm)
            if what == "live":
                for devs, key in ((["disk0"], "live_pause_ms_disk0"),
                                  (["disk0", "data0"],
                                   "live_pause_ms_disk0_data0")):
                    r, _ = vm.savevm_live(f"t{len(devs)}", devices=devs)
                    if "error" in r:
                        raise qsl.GuestError(r["error"]["desc"])
                    d = vm.wait_completed()
                    if "error" in d:
                        raise qsl.GuestError(d["error"])
                    vm.dismiss("live0")
                    out[key] = d["pause-us"] / 1000
            else:
                t = time.monotonic()
                vm.cmd("blockdev-snapshot-internal-sync", device="data0",
                       name="x")
                out["stock_disk_snapshot_ms"] = (time.monotonic() - t) * 1000
        finally:
            vm.shutdown(hard=True)
            vm.qmp2_path.unlink(missing_ok=True)
            img.unlink(missing_ok=True)
            data.unlink(missing_ok=True)
    return out


def disk_scenario(accel, reps):
    runs = []
    for rep in range(reps):
        say(f"[disk {DISK_GIB} GiB] rep {rep + 1}: ", end="")
        try:
            r = disk_measure(accel, rep + 1)
            say(", ".join(f"{k} {v:.1f}" for k, v in r.items()))
        except Exception as e:  # pylint: disable=broad-except
            LOG.exception("disk measurement failed")
            r = {"error": str(e).splitlines()[0]}
            say(f"FAILED: {r['error']}")
        runs.append(r)
    keys = ("live_pause_ms_disk0", "live_pause_ms_disk0_data0",
            "stock_disk_snapshot_ms")
    return {"disk_gib": DISK_GIB, "runs": runs,
            "summary": {k: stats([r.get(k) for r in runs]) for k in keys}}


CONSECUTIVE_GAP_S = 5


def consecutive_measure(accel, mem_mib, saves):
    """
    One guest rewriting its RAM at full speed (THP as the host has it),
    @saves savevm-live saves one after the other, CONSECUTIVE_GAP_S s
    apart: the pause of each, and the guest RAM the host maps with huge
    pages just before it.  The copy-on-write faults of a save split the
    huge pages the guest writes before the child has saved them (the kernel
    copies 4 KiB on a write to a shared huge page), so the next fork() has
    more page table entries to copy.
    """
    sc = Scenario(mem_mib, "full", "default", 1)
    name = f"consecutive-{mem_mib // 1024}G"
    img = qsl.image_create(WORK / f"{name}.qcow2", "1G")
    vm = BenchGuest(WORK, name, img, sc, qsl.PATCHED, accel)
    out = {"mem_mib": mem_mib, "saves": []}
    try:
        vm.launch()
        vm.console.wait("READY", timeout=900, proc=vm)
        time.sleep(BASELINE_S)
        for i in range(saves):
            huge = (rollup(vm.get_pid(), "AnonHugePages") or 0) / 1024
            r, _ = vm.savevm_live(f"c{i}", job_id=f"c{i}")
            if "error" in r:
                raise qsl.GuestError(r["error"]["desc"])
            d = vm.wait_completed()
            if "error" in d:
                raise qsl.GuestError(d["error"])
            vm.dismiss(f"c{i}")
            out["saves"].append({"pause_ms": d["pause-us"] / 1000,
                                 "huge_mib_before": huge,
                                 "duration_s": d["duration-us"] / 1e6})
            vm.hmp(f"delvm c{i}")
            time.sleep(CONSECUTIVE_GAP_S)
    except Exception as e:  # pylint: disable=broad-except
        LOG.exception("consecutive measurement failed")
        out["error"] = str(e).splitlines()[0]
    finally:
        vm.shutdown(hard=True)
        vm.qmp2_path.unlink(missing_ok=True)
        img.unlink(missing_ok=True)
    return out


def consecutive_scenario(accel, rams, saves):
    runs = []
    for mem in rams:
        sc = Scenario(mem, "full", "default", 1)
        why = fits(sc)
        if why:
            runs.append({"mem_mib": mem, "error": f"skipped: {why}"})
            continue
        say(f"[consecutive {mem // 1024} GiB] {saves} saves: ", end="")
        r = consecutive_measure(accel, mem, saves)
        say(", ".join(f"{x['pause_ms']:.0f} ms" for x in r["saves"])
            + (f" FAILED: {r['error']}" if "error" in r else ""))
        runs.append(r)
    return {"saves": saves, "gap_s": CONSECUTIVE_GAP_S, "runs": runs}


# ---------------------------------------------------------------------------
# Planning


def estimate_s(sc, method):
    """Rough seconds for one measurement under TCG on 2 cores, from the
    smoke runs: boot, fill (~300 MiB/s), baseline, save, tail, restore."""
    state = sc.wl_mib + 80
    rate = {"savevm": 650, "snapshot-save": 650, "bg-snapshot": 220,
            "savevm-live": 500, "savevm-live-budget": 400}[method]
    if sc.mode not in ("full", "syncwrite"):
        rate *= 1.5
    steady = sc.wl_mib / MODERATE_RATE if sc.mode == "moderate" else 0
    return (3 + sc.wl_mib / 300 + steady + BASELINE_S + 1 + state / rate
            + TAIL_S + 1 + 1 + state / 700 + 2)


def fits(sc, skipped=None):
    """Whether the host can hold this guest plus a copy of its RAM (the
    worst case of savevm-live's copy-on-write) and some slack."""
    need = sc.mem_mib * 2 + 1024
    avail = meminfo()["MemAvailable"] // 1024
    if need > avail:
        why = (f"{sc.label()}: needs ~{need} MiB, the host has {avail} MiB "
               f"available")
        if skipped is not None:
            skipped.append(why)
        return why
    return None
