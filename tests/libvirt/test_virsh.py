# SPDX-License-Identifier: GPL-2.0-or-later
"""
libvirt with the patched QEMU, through virsh and the daemons of the libvirt
build: 'snapshot-create-as --live' takes an internal snapshot of the running
guest with a pause of an instant while the workload keeps going, and the
snapshot reverts (running and shut off) to the guest as it was, is listed,
and deletes; the stock path (no --live) does the same with the guest paused
for the whole save.  The pauses and virsh's wall times go to
build/libvirt-e2e/pauses.md.
"""

import os
import re
import signal
import time

import pytest

import qsl
from qsl import lvd

RESULTS = qsl.TOP / "build" / "libvirt-e2e" / "pauses.md"


def record(method, pauses, secs):
    first = not RESULTS.exists()
    with open(RESULTS, "a", encoding="utf-8") as f:
        if first:
            f.write("| method | guest paused (ms) | virsh wall (s) |\n"
                    "|---|---|---|\n")
        ms = ", ".join(f"{p:.0f}" for _, p in pauses)
        f.write(f"| {method} | {ms} | {secs:.2f} |\n")


# virDomainJobOperation
JOB_OPERATION_SNAPSHOT = 6


def jobinfo(dom):
    """virsh domjobinfo --rawstats: the job's typed parameters, as
    {field: value} (memory_total, ...), numbers as int"""
    out, _ = lvd.virsh("domjobinfo", dom.name, "--rawstats")
    info = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = (x.strip() for x in line.split(":", 1))
            info[k] = int(v) if v.isdigit() else v
    return info


def revert_and_verify(dom, tag, boot, gens, flags=()):
    # The guest the revert replaces prints nothing more once paused: what
    # follows the mark is the restored guest's
    if dom.state().startswith("running"):
        lvd.virsh("suspend", dom.name)
    mark = dom.console.mark()
    lvd.virsh("snapshot-revert", dom.name, tag, *flags)
    assert dom.state() == "running (from snapshot)"
    c, _ = qsl.verify_restored(dom, boot, start=mark)
    lo, hi = gens
    assert lo <= c["gen"] <= hi, f"restored generation {c['gen']} not in " \
        f"[{lo}, {hi}]"


@pytest.mark.parametrize("live", [True, False], ids=["live", "stock"])
def test_snapshot_revert_delete(daemons, workdir, live):
    log_mark = len(daemons.log())
    img = qsl.image_create(workdir / "disk.qcow2", "2G")
    dom = lvd.Domain(workdir, "guest", img)
    dom.start()
    boot = dom.boot_id()
    dom.console.wait("MATCH", start=0, proc=dom)
    events = lvd.Events(dom.name, workdir / "events.log")
    try:
        before = qsl.parse(dom.console.lines(kind="PROGRESS")[-1])
        args = ["--live"] if live else []
        t = time.monotonic()
        proc = lvd.virsh_start("snapshot-create-as", dom.name, "s1", *args)
        if live:
            # Hold the process that writes guest RAM: the guest runs on
            child = dom.save_child()
            os.kill(child, signal.SIGSTOP)
            try:
                mark = dom.console.mark()
                p1 = dom.console.wait("PROGRESS", start=mark, proc=dom)
                after = mark + dom.console.text()[mark:].index(p1["line"])
                p2 = dom.console.wait("PROGRESS", start=after + 1, proc=dom)
                assert p2["pages_written"] > p1["pages_written"]
                assert dom.state() == "running (unpaused)"
                assert proc.poll() is None, "virsh returned before the save"
                # domjobinfo shows the RAM write
                info = jobinfo(dom)
                assert info["operation"] == JOB_OPERATION_SNAPSHOT, info
                # guest RAM and the small RAM blocks (ROMs, ACPI tables)
                assert 384 * 2**20 <= info["memory_total"] <= 400 * 2**20, \
                    info
                assert info["memory_processed"] < info["memory_total"], info
            finally:
                os.kill(child, signal.SIGCONT)
        out, err = proc.communicate(timeout=600)
        secs = time.monotonic() - t
        assert proc.returncode == 0, err
        assert out.strip() == "Domain snapshot s1 created", out
        p = dom.console.wait("PROGRESS", start=dom.console.mark(), proc=dom)
    finally:
        events.stop()
    gens = (before["gen"], p["gen"] + 1)
    assert dom.state() == "running (unpaused)"

    # One pause, which libvirt accounts for: the domain was paused for
    # reason 'snapshot' (live) or 'save' (stock: libvirt stops the vCPUs),
    # never for an unknown reason
    pauses = events.pause_ms()
    assert len(pauses) == 1, events.events()
    reasons = re.findall(r"Transitioned guest guest to paused state, "
                         r"reason (\w+)", daemons.log()[log_mark:])
    assert reasons == ["snapshot" if live else "save"], reasons
    record("snapshot-create-as --live" if live else "snapshot-create-as",
           pauses, secs)

    out, _ = lvd.virsh("snapshot-list", dom.name, "--name")
    assert out.split() == ["s1"]
    out, _ = lvd.virsh("snapshot-info", dom.name, "s1")
    assert "State:          running" in out, out
    assert "Location:       internal" in out, out
    # The job was dismissed: nothing left in QEMU
    out, _ = lvd.virsh("qemu-monitor-command", dom.name,
                       '{"execute": "query-jobs"}')
    assert '"return":[]' in out.replace(" ", ""), out

    # Revert the running domain, then the shut-off one
    revert_and_verify(dom, "s1", boot, gens)
    lvd.virsh("destroy", dom.name)
    revert_and_verify(dom, "s1", boot, gens)

    lvd.virsh("snapshot-delete", dom.name, "s1")
    out, _ = lvd.virsh("snapshot-list", dom.name, "--name")
    assert out.split() == []
    lvd.virsh("destroy", dom.name)
    assert qsl.image_snapshots(img) == {}
    qsl.image_check(img)


def test_abort(daemons, workdir):
    """virsh domjobabort while the RAM is written: the snapshot fails as
    canceled, the guest runs on, nothing is left in libvirt or the image."""
    img = qsl.image_create(workdir / "disk.qcow2", "2G")
    dom = lvd.Domain(workdir, "guest", img)
    dom.start()
    dom.console.wait("MATCH", start=0, proc=dom)
    proc = lvd.virsh_start("snapshot-create-as", dom.name, "s1", "--live")
    child = dom.save_child()
    os.kill(child, signal.SIGSTOP)
    try:
        lvd.virsh("domjobabort", dom.name)
        _, err = proc.communicate(timeout=120)
    finally:
        try:
            os.kill(child, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert proc.returncode != 0
    assert "operation aborted: snapshot: canceled by client" in err, err
    assert dom.state() == "running (unpaused)"
    mark = dom.console.mark()
    dom.console.wait("PROGRESS", start=mark, proc=dom)
    out, _ = lvd.virsh("snapshot-list", dom.name, "--name")
    assert out.split() == []
    assert qsl.image_snapshots(img, force_share=True) == {}
    lvd.virsh("destroy", dom.name)
    qsl.image_check(img)


def refused(dom, img, *args):
    """snapshot-create-as --live ARGS must fail: its error; the guest runs
    on and no snapshot is left in libvirt or in the image."""
    mark = dom.console.mark()
    p, _ = lvd.virsh("snapshot-create-as", dom.name, "bad", "--live", *args,
                     check=False)
    assert p.returncode != 0, p.stdout
    assert dom.state().startswith("running ("), dom.state()
    dom.console.wait("PROGRESS", start=mark, proc=dom)
    out, _ = lvd.virsh("snapshot-list", dom.name, "--name")
    assert out.split() == []
    assert qsl.image_snapshots(img, force_share=True) == {}
    return p.stderr.strip()


BAD_DISKS = {
    "raw": ("<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            "<source file='{path}'/><target dev='vdb' bus='virtio'/></disk>",
            "error: unsupported configuration: internal snapshot for disk "
            "vdb unsupported for storage type raw"),
    "snapshot-no": ("<disk type='file' device='disk' snapshot='no'>"
                    "<driver name='qemu' type='qcow2'/><source file='{path}'/>"
                    "<target dev='vdb' bus='virtio'/></disk>",
                    "error: unsupported configuration: internal and full "
                    "system snapshots require all disks to be selected for "
                    "snapshot"),
    # asked for explicitly: a read-only disk is otherwise left out
    "read-only": ("<disk type='file' device='disk'>"
                  "<driver name='qemu' type='qcow2'/><source file='{path}'/>"
                  "<target dev='vdb' bus='virtio'/><readonly/></disk>",
                  "error: unsupported configuration: disk 'vdb' is "
                  "read-only: it cannot take part in an internal snapshot "
                  "of a running domain"),
}


@pytest.mark.parametrize("kind", BAD_DISKS)
def test_bad_disk(daemons, workdir, kind):
    """A second disk that cannot take part in an internal snapshot"""
    img = qsl.image_create(workdir / "disk.qcow2", "2G")
    other = workdir / "other.img"
    if kind == "raw":
        other.write_bytes(b"\0" * (1 << 20))
    else:
        qsl.image_create(other, "64M")
    xml, error = BAD_DISKS[kind]
    dom = lvd.Domain(workdir, "guest", img,
                     disks_xml=xml.format(path=other))
    dom.start()
    dom.console.wait("MATCH", start=0, proc=dom)
    args = ["--diskspec", "vda,snapshot=internal", "--diskspec",
            "vdb,snapshot=internal"] if kind == "read-only" else []
    assert refused(dom, img, *args) == error
    if kind != "raw":
        assert qsl.image_snapshots(other, force_share=True) == {}
    lvd.virsh("destroy", dom.name)
    qsl.image_check(img)


@pytest.mark.parametrize("backing", ["memfd", "shared"])
def test_shared_memory(daemons, workdir, backing):
    """Guest RAM shared with other processes: refused, as the forked QEMU
    would not see a frozen copy of it (memfd is shared unless private)"""
    source = "<source type='memfd'/>" if backing == "memfd" else \
        "<source type='anonymous'/><access mode='shared'/>"
    img = qsl.image_create(workdir / "disk.qcow2", "2G")
    dom = lvd.Domain(workdir, "guest", img, memory_backing_xml=(
        f"<memoryBacking>{source}</memoryBacking>"))
    dom.start()
    dom.console.wait("MATCH", start=0, proc=dom)
    assert refused(dom, img) == (
        "error: unsupported configuration: live internal snapshots need "
        "private guest memory: use memoryBacking access mode 'private'")
    lvd.virsh("destroy", dom.name)
    qsl.image_check(img)


def test_concurrent_jobs(daemons, workdir):
    """While a live snapshot writes guest RAM, a second snapshot waits for
    it and gives up with libvirt's job error; while QEMU migrates, a live
    snapshot is refused: each leaves nothing behind."""
    img = qsl.image_create(workdir / "disk.qcow2", "2G")
    dom = lvd.Domain(workdir, "guest", img)
    dom.start()
    dom.console.wait("MATCH", start=0, proc=dom)

    proc = lvd.virsh_start("snapshot-create-as", dom.name, "s1", "--live")
    child = dom.save_child()
    os.kill(child, signal.SIGSTOP)
    try:
        p, _ = lvd.virsh("snapshot-create-as", dom.name, "s2", "--live",
                         check=False)
    finally:
        os.kill(child, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert p.returncode != 0
    assert "cannot acquire state change lock (held by monitor=" \
        "remoteDispatchDomainSnapshotCreateXML)" in p.stderr, p.stderr
    out, _ = lvd.virsh("snapshot-list", dom.name, "--name")
    assert out.split() == ["s1"]
    lvd.virsh("snapshot-delete", dom.name, "s1")

    # A migration QEMU runs (to a file, slowed down to last)
    lvd.virsh("qemu-monitor-command", dom.name, "--hmp",
              "migrate_set_parameter max-bandwidth 1M")
    lvd.virsh("qemu-monitor-command", dom.name, "--hmp",
              f"migrate -d file:{workdir / 'migration'}")
    try:
        out, _ = lvd.virsh("qemu-monitor-command", dom.name, "--hmp",
                           "info migrate")
        assert "Status: \t\tactive" in out, out
        assert refused(dom, img) == (
            "error: internal error: unable to execute QEMU command "
            "'savevm-live': A migration is in progress")
    finally:
        lvd.virsh("qemu-monitor-command", dom.name, "--hmp", "migrate_cancel")
    lvd.virsh("destroy", dom.name)
    qsl.image_check(img)


def test_quiesce_without_agent(daemons, workdir):
    """--live --quiesce goes to the guest agent first (the test guest has
    none: a clear error, nothing left); --quiesce without --live or
    --disk-only is refused as before."""
    img = qsl.image_create(workdir / "disk.qcow2", "2G")
    dom = lvd.Domain(workdir, "guest", img)
    dom.start()
    dom.console.wait("MATCH", start=0, proc=dom)
    assert refused(dom, img, "--quiesce") == (
        "error: argument unsupported: QEMU guest agent is not configured")
    p, _ = lvd.virsh("snapshot-create-as", dom.name, "bad", "--quiesce",
                     check=False)
    assert p.stderr.strip() == (
        "error: invalid argument: quiesce requires a disk-only or a live "
        "internal snapshot"), p.stderr
    lvd.virsh("destroy", dom.name)
    qsl.image_check(img)


def test_qemu_without_savevm_live(daemons, workdir):
    """With a QEMU lacking savevm-live (the stock build), --live keeps
    libvirt's refusal, and the stock path still works."""
    img = qsl.image_create(workdir / "disk.qcow2", "2G")
    dom = lvd.Domain(workdir, "guest", img, emulator=qsl.STOCK)
    dom.start()
    dom.console.wait("MATCH", start=0, proc=dom)
    assert refused(dom, img) == (
        "error: Operation not supported: live snapshot creation is "
        "supported only during full system snapshots")
    out, _ = lvd.virsh("snapshot-create-as", dom.name, "s1")
    assert out.strip() == "Domain snapshot s1 created", out
    lvd.virsh("destroy", dom.name)
    assert list(qsl.image_snapshots(img)) == ["s1"]
    qsl.image_check(img)


def test_quiesce(daemons, workdir):
    """--live --quiesce: the guest agent freezes the file systems before
    the snapshot instant and thaws them as soon as savevm-live returns,
    while guest RAM is still being written (the writer is held)."""
    img = qsl.image_create(workdir / "disk.qcow2", "2G")
    dom = lvd.Domain(workdir, "guest", img, agent=True)
    dom.start()
    dom.console.wait("MATCH", start=0, proc=dom)
    mark = dom.console.mark()
    proc = lvd.virsh_start("snapshot-create-as", dom.name, "s1", "--live",
                           "--quiesce")
    child = dom.save_child()
    os.kill(child, signal.SIGSTOP)
    try:
        freeze = dom.console.wait("FREEZE", start=mark, proc=dom)
        thaw = dom.console.wait("THAW", start=mark, proc=dom)
        assert freeze["t"] <= thaw["t"]
        assert proc.poll() is None, "virsh returned before the save"
    finally:
        os.kill(child, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert out.strip() == "Domain snapshot s1 created", out
    assert len(dom.console.lines(mark, kind="THAW")) == 1
    lvd.virsh("destroy", dom.name)
    assert list(qsl.image_snapshots(img)) == ["s1"]
    qsl.image_check(img)
