# SPDX-License-Identifier: GPL-2.0-or-later
"""
The reporting half of the benchmark harness (bench/run.py is the command and
defines the figures; bench/measuring.py measures): statistics over the
repetitions, the targets, the Markdown table, the plots and the JSON data
of a run.  A run in which every measurement failed still gets its report.
"""

import statistics
import sys
import time
from dataclasses import asdict

# ---------------------------------------------------------------------------
# Summaries


FIGURES = [
    # key, header, format
    ("pause_ms", "pause ms", "{:.0f}"),
    ("stall_ms", "max stall incl. pause ms", "{:.0f}"),
    ("stalls1", "stalls >1ms", "{:.0f}"),
    ("stalls10", "stalls >10ms", "{:.0f}"),
    ("diskw_max_ms", "guest disk write max ms", "{:.0f}"),
    ("work_lost_s", "work lost s", "{:.2f}"),
    ("qmp_max_ms", "QMP unresponsive ms", "{:.0f}"),
    ("cmd_return_ms", "command returns ms", "{:.0f}"),
    ("qmp_after_ms", "QMP after return ms", "{:.0f}"),
    ("duration_s", "save s", "{:.1f}"),
    ("vmstate_mib", "vmstate MiB", "{:.0f}"),
    ("mem_extra_mib", "peak extra mem MiB", "{:.0f}"),
    ("budget_pause_ms", "budget pause ms", "{:.0f}"),
    ("restore_s", "restore s", "{:.1f}"),
    ("load_s", "load s", "{:.1f}"),
    ("load_mib_s", "load MiB/s", "{:.0f}"),
    ("stock_load_s", "stock -loadvm load s", "{:.1f}"),
]


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values)}


def fmt_stat(st, fmt):
    if st is None:
        return "-"
    s = fmt.format(st["median"])
    if st["n"] > 1:
        s += f" [{fmt.format(st['min'])}–{fmt.format(st['max'])}]"
    return s


def summarise(runs):
    """{scenario: {method: {figure: stats}}}"""
    out = {}
    for r in runs:
        if "error" in r:
            continue
        m = out.setdefault(r["scenario"], {}).setdefault(r["method"], {})
        for key, _, _ in FIGURES + [("throughput_mib_s", "", ""),
                                    ("nonzero_mib", "", ""),
                                    ("event_pause_ms", "", "")]:
            m.setdefault(key, []).append(r.get(key))
    for sc in out.values():
        for m in sc.values():
            for key in list(m):
                m[key] = stats(m[key])
    return out


def med(summary, sc, method, key):
    try:
        return summary[sc][method][key]["median"]
    except (KeyError, TypeError):
        return None


def evaluate_targets(summary, refs, scenarios):
    """The issue's six targets, for the 4 GiB full scenario if run."""
    full = [s for s in scenarios if s.mode == "full"]
    target = next((s for s in full if s.mem_mib == 4096 and s.thp == "on"),
                  None)
    note = ""
    if target is None and full:
        target = max(full, key=lambda s: s.mem_mib)
        note = (f"the target scenario (4 GiB, full, THP on) was not run; "
                f"evaluated on {target.label()} instead")
    if target is None:
        return {"scenario": None, "note": "no full-speed scenario run",
                "targets": []}
    k = target.key

    def m(method, key):
        return med(summary, k, method, key)

    fork = refs.get("fork", {}).get(f"{target.mem_mib}-{target.thp}", {})
    fork_ms = fork.get("median_ms")
    rows = []

    def add(name, value, limit, unit, how):
        if value is None or limit is None:
            rows.append({"target": name, "value": value, "limit": limit,
                         "unit": unit, "met": None, "how": how})
        else:
            rows.append({"target": name, "value": round(value, 3),
                         "limit": round(limit, 3), "unit": unit,
                         "met": value <= limit, "how": how})

    add("guest max stall over the whole operation, pause included",
        m("savevm-live", "stall_ms"), 100, "ms", "≤ 100 ms")
    wl_ss, wl_bg = m("snapshot-save", "work_lost_s"), m("bg-snapshot",
                                                        "work_lost_s")
    lim = (min(wl_ss, wl_bg) / 5 if wl_ss is not None and wl_bg is not None
           else None)
    add("guest work lost", m("savevm-live", "work_lost_s"), lim, "s",
        f"≤ 1/5 of min(snapshot-save {fnum(wl_ss)} s, "
        f"bg-snapshot {fnum(wl_bg)} s)")
    add("QMP/main loop unresponsive", m("savevm-live", "qmp_max_ms"), 100,
        "ms", "≤ 100 ms")
    # Issue 10: the monitor once the command returned, every full-speed
    # scenario; the pause must not grow with guest RAM
    after = [med(summary, s.key, "savevm-live", "qmp_after_ms")
             for s in full]
    after = [a for a in after if a is not None]
    add("QMP unresponsive once the command returned (worst full-speed "
        "scenario)", max(after) if after else None, 20, "ms", "≤ 20 ms")
    p1 = med(summary, "1G-full-thpon", "savevm-live", "pause_ms")
    p8 = med(summary, "8G-full-thpon", "savevm-live", "pause_ms")
    add("VM pause at 8 GiB minus at 1 GiB",
        p8 - p1 if p1 is not None and p8 is not None else None, 5, "ms",
        f"≤ 5 ms (1 GiB {fnum(p1)} ms, 8 GiB {fnum(p8)} ms)")
    add("VM pause", m("savevm-live", "pause_ms"),
        fork_ms + 10 if fork_ms is not None else None, "ms",
        f"≤ bare fork() {fnum(fork_ms)} ms + 10 ms")
    ss = m("snapshot-save", "duration_s")
    add("save duration", m("savevm-live", "duration_s"),
        ss * 1.2 if ss is not None else None, "s",
        f"≤ 1.2 × snapshot-save {fnum(ss)} s")
    add("vmstate size", m("savevm-live", "vmstate_mib"),
        m("snapshot-save", "vmstate_mib"), "MiB", "≤ snapshot-save's")
    # Issue 13: cold restores
    bg = m("bg-snapshot", "restore_s")
    add("cold restore (start to first workload line)",
        m("savevm-live", "restore_s"), bg * 1.25 if bg else None, "s",
        f"≤ 1.25 × bg-snapshot's -incoming file: {fnum(bg)} s")
    st = m("savevm-live", "stock_load_s")
    add("cold load of the VM state", m("savevm-live", "load_s"),
        st / 3 if st else None, "s",
        f"≤ 1/3 of stock -loadvm's load of the same snapshot {fnum(st)} s")
    return {"scenario": k, "label": target.label(), "note": note,
            "targets": rows}


def markdown(data):
    mach = data["machine"]
    lines = [f"# savevm-live benchmark: {data['name']}", ""]
    lines += ["## Machine", ""]
    for key in ("cpu", "cores", "ram_gib", "kernel", "os", "filesystem",
                "accel", "accel_reason", "thp_original", "thp_defrag",
                "disk_cache", "qemu_stock", "qemu_patched", "series", "date"):
        lines.append(f"- {key}: {mach.get(key)}")
    lines += ["", f"Command: `{data['command']}`; "
              f"{data['elapsed_s'] / 60:.1f} min.", ""]
    if data.get("skipped"):
        lines += ["Skipped: " + "; ".join(data["skipped"]), ""]
    lines += ["## Reference limits", ""]
    refs = data["refs"]
    if refs.get("write"):
        w = refs["write"]
        lines.append(f"- sequential write bandwidth: {w['mib_s']:.0f} MiB/s "
                     f"({w['mib']} MiB, `{w['cmd']}`)")
    if refs.get("read"):
        r = refs["read"]
        lines.append(f"- sequential read bandwidth: {r['mib_s']:.0f} MiB/s "
                     f"({r['mib']} MiB, `{r['cmd']}`)")
    cold = [r.get("restore_cold") for r in data["runs"] if "error" not in r]
    if cold:
        lines.append("- restores: " + (
            "host page cache dropped before every restore" if all(cold)
            else "**warm** page cache (could not drop it: not root?)"))
    for key, f in sorted(refs.get("fork", {}).items()):
        lines.append(f"- bare fork() of {f['size_mib']} MiB touched, THP "
                     f"{key.split('-', 1)[1]} ({f['thp_setting']}, "
                     f"{f['anon_huge_kib'] // 1024} MiB huge): median "
                     f"{f['median_ms']:.2f} ms of {f['fork_ms']}")
    lines += ["", "## Results", "",
              "median [min–max] over the repetitions; n = repetitions.", ""]
    if data.get("budget_mib"):
        lines += [f"savevm-live-budget: savevm-live with memory-budget "
                  f"{data['budget_mib']} MiB; its budget pause is the time "
                  "its vCPUs were paused to stay within the budget (the "
                  "guest's own clock stops then: it shows in work lost, "
                  "not in the guest's stalls).", ""]
    hdr = ["scenario", "method", "n"] + [h for _, h, _ in FIGURES]
    lines.append("| " + " | ".join(hdr) + " |")
    lines.append("|" + "---|" * len(hdr))
    summary = data["summary"]
    for sc in data["scenarios"]:
        for method in data["methods"]:
            fig = summary.get(sc["key"], {}).get(method)
            if not fig:
                continue
            n = max((v["n"] for v in fig.values() if v), default=0)
            row = [sc["label"], method, str(n)]
            row += [fmt_stat(fig.get(k), f) for k, _, f in FIGURES]
            lines.append("| " + " | ".join(row) + " |")
    nz = [(sc["label"], med(summary, sc["key"], "bg-snapshot",
                            "nonzero_mib")) for sc in data["scenarios"]]
    nz = [x for x in nz if x[1]]
    if nz:
        lines += ["", "Non-zero guest RAM (bg-snapshot's non-zero pages): "
                  + "; ".join(f"{lab}: {v:.0f} MiB" for lab, v in nz)]
    errs = [r for r in data["runs"] if "error" in r]
    if errs:
        lines += ["", "Failed measurements:", ""]
        lines += [f"- {r['scenario']} {r['method']} r{r['rep']}: "
                  f"{r['error']}" for r in errs]
    disk = data.get("disk")
    if disk:
        sm = disk["summary"]
        lines += ["", "## The pause against the size of the disks", "",
                  f"1 GiB idle guest plus a {disk['disk_gib']} GiB data disk "
                  "whose clusters are all allocated (qcow2 "
                  "preallocation=metadata); median [min–max] of "
                  f"{len(disk['runs'])}:", "",
                  "| | ms |", "|---|---|",
                  f"| savevm-live pause, snapshot of disk0 only | "
                  f"{fmt_stat(sm['live_pause_ms_disk0'], '{:.1f}')} |",
                  f"| savevm-live pause, snapshot of disk0 and the data "
                  f"disk | {fmt_stat(sm['live_pause_ms_disk0_data0'], '{:.1f}')} |",
                  f"| stock QEMU: disk-only internal snapshot of the data "
                  f"disk (blockdev-snapshot-internal-sync) | "
                  f"{fmt_stat(sm['stock_disk_snapshot_ms'], '{:.1f}')} |"]
        errs = [r["error"] for r in disk["runs"] if "error" in r]
        if errs:
            lines += ["", "Failed: " + "; ".join(errs)]
    cons = data.get("consecutive")
    if cons:
        lines += ["", "## Consecutive saves of one running guest", "",
                  "Workload rewriting RAM at full speed; savevm-live "
                  f"{cons['saves']} times, {cons['gap_s']} s apart; pause "
                  "ms (guest RAM in huge pages before the save, MiB):", "",
                  "| guest | " + " | ".join(
                      f"save {i + 1}" for i in range(cons["saves"])) + " |",
                  "|---|" + "---|" * cons["saves"]]
        for r in cons["runs"]:
            cells = [f"{x['pause_ms']:.1f} ({x['huge_mib_before']:.0f})"
                     for x in r.get("saves", [])]
            cells += [r.get("error", "-")] * (cons["saves"] - len(cells))
            lines.append(f"| {r['mem_mib'] // 1024} GiB | "
                         + " | ".join(cells) + " |")
    t = data["targets"]
    lines += ["", "## Targets", ""]
    if t.get("note"):
        lines += [f"Note: {t['note']}.", ""]
    if t.get("scenario"):
        lines += [f"Scenario: {t['label']}, savevm-live medians.", "",
                  "| target | savevm-live | limit | met |",
                  "|---|---|---|---|"]
        for row in t["targets"]:
            met = {True: "met", False: "**missed**", None: "n/a"}[row["met"]]
            val = "-" if row["value"] is None else \
                f"{row['value']:.3g} {row['unit']}"
            lines.append(f"| {row['target']} | {val} | {row['how']} | "
                         f"{met} |")
    lines += ["", "Definitions: see the docstring of bench/run.py and "
              "bench/README.md.", ""]
    return "\n".join(lines)


def plots(data, out, name):
    import matplotlib                       # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt         # pylint: disable=import-outside-toplevel

    summary = data["summary"]
    methods = data["methods"]
    files = []
    # 1. pause and max stall by method and RAM size (full mode)
    full = [s for s in data["scenarios"] if s["mode"] == "full"]
    full.sort(key=lambda s: (s["mem_mib"], s["thp"]))
    if full:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        width = 0.8 / len(methods)
        for ax, key, title in ((axes[0], "pause_ms", "VM pause"),
                               (axes[1], "stall_ms",
                                "guest max stall incl. pause")):
            plotted = 0
            for i, method in enumerate(methods):
                xs, ys, lo, hi = [], [], [], []
                for j, sc in enumerate(full):
                    st = (summary.get(sc["key"], {}).get(method) or {}).get(
                        key)
                    if not st:
                        continue
                    xs.append(j + (i - (len(methods) - 1) / 2) * width)
                    ys.append(max(st["median"], 0.01))
                    lo.append(max(st["median"] - st["min"], 0))
                    hi.append(max(st["max"] - st["median"], 0))
                ax.bar(xs, ys, width, yerr=[lo, hi], label=method,
                       capsize=2)
                plotted += len(ys)
            ax.set_xticks(range(len(full)))
            ax.set_xticklabels([f"{s['mem_mib'] // 1024} GiB\nTHP {s['thp']}"
                                for s in full])
            if plotted:
                # A log scale needs positive values: not when all failed
                ax.set_yscale("log")
                ax.set_ylabel("ms (log)")
            else:
                ax.text(0.5, 0.5, "no measurement", ha="center",
                        transform=ax.transAxes)
            ax.set_title(f"{title} (full-speed workload)")
            ax.grid(axis="y", alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{data['machine']['accel'].upper()}, "
                     f"{data['machine']['cpu']}", fontsize=9)
        fig.tight_layout()
        p = out / f"{name}-pause-stall.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        files.append(p)
    # 2. save throughput vs the write bandwidth
    scs = data["scenarios"]
    if scs:
        fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(scs) + 3), 4.5))
        width = 0.8 / len(methods)
        for i, method in enumerate(methods):
            xs, ys = [], []
            for j, sc in enumerate(scs):
                st = (summary.get(sc["key"], {}).get(method) or {}).get(
                    "throughput_mib_s")
                if st:
                    xs.append(j + (i - (len(methods) - 1) / 2) * width)
                    ys.append(st["median"])
            ax.bar(xs, ys, width, label=method)
        w = data["refs"].get("write")
        if w:
            ax.axhline(w["mib_s"], color="k", ls="--",
                       label=f"dd write {w['mib_s']:.0f} MiB/s")
        ax.set_xticks(range(len(scs)))
        ax.set_xticklabels([s["label"].replace(", ", "\n") for s in scs],
                           fontsize=7)
        ax.set_ylabel("vmstate MiB / save duration s")
        ax.set_title("save throughput vs sequential write bandwidth")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        p = out / f"{name}-throughput.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        files.append(p)
    return files


def fnum(v, fmt="{:.2f}"):
    return "-" if v is None else fmt.format(v)


def result_data(name, machine, refs, scenarios, methods, runs, skipped,
                t_start, argv, budget_mib):
    summary = summarise(runs)
    return {
        "name": name,
        "command": "bench/run.sh " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "elapsed_s": time.monotonic() - t_start,
        "machine": machine,
        "refs": refs,
        "scenarios": [dict(asdict(s), key=s.key, label=s.label(),
                           wl_mib=s.wl_mib) for s in scenarios],
        "methods": list(methods),
        "budget_mib": budget_mib if "savevm-live-budget" in methods else None,
        "skipped": skipped,
        "runs": runs,
        "summary": summary,
        "targets": evaluate_targets(summary, refs, scenarios),
    }
