# SPDX-License-Identifier: GPL-2.0-or-later
"""
qsl: the helpers that the end-to-end tests (tests/e2e, tests/libvirt), the
demos and the benchmark (bench/) share, imported as the package ``qsl``
from the top of the checkout (pytest.ini's pythonpath; the scripts' wrappers
set PYTHONPATH).  This module: the test
guest (a Debian kernel, a busybox initramfs and our workload, made by
scripts/build-guest.sh) run by the patched or the stock QEMU build through
the tree's own python/qemu.machine and qemu.qmp.

The workload prints "WL ..." lines on the serial console, which goes to a
file; see tests/guest/workload.c for what they mean.
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
TREE = TOP / "qemu"
PATCHED_BUILD = TREE / "build"
STOCK_BUILD = TOP / "build" / "stock-src" / "build"
GUEST = TOP / "build" / "guest"

sys.path.insert(0, str(TREE / "python"))
# pylint: disable=wrong-import-position
from qemu.machine import QEMUMachine  # noqa: E402
from qemu.machine.machine import VMLaunchFailure  # noqa: E402,F401

PATCHED = str(PATCHED_BUILD / "qemu-system-x86_64")
STOCK = str(STOCK_BUILD / "qemu-system-x86_64")
QEMU_IMG = str(PATCHED_BUILD / "qemu-img")

MiB = 1024 * 1024
GiB = 1024 * MiB

# What libvirt gives QEMU
LIBVIRT_SANDBOX = ("on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                   "resourcecontrol=deny")


class GuestError(Exception):
    pass


_SOCK_DIR = None


def sock_dir():
    """
    A directory for UNIX sockets, whose path is short whatever the path of
    the checkout: a socket path must fit in sun_path (107 bytes), so
    sockets never go under build/.  QEMU's own python tests do the same
    (iotests' SOCK_DIR).  Removed when the process exits.
    """
    global _SOCK_DIR  # pylint: disable=global-statement
    if _SOCK_DIR is None:
        base = tempfile.gettempdir()
        if len(base) > 32:
            base = "/tmp"
        _SOCK_DIR = tempfile.mkdtemp(prefix="qsl-", dir=base)
        atexit.register(shutil.rmtree, _SOCK_DIR, ignore_errors=True)
    return Path(_SOCK_DIR)


def qemu_img(*args, check=True):
    """Run qemu-img; return its stdout."""
    p = subprocess.run([QEMU_IMG, *args], capture_output=True, text=True,
                       check=False)
    if check and p.returncode:
        raise GuestError(f"qemu-img {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout


def image_create(path, size="1G", backing=None):
    """A qcow2 image; an overlay of qcow2 image @backing if given."""
    extra = ["-b", str(backing), "-F", "qcow2"] if backing else []
    qemu_img("create", "-q", "-f", "qcow2", *extra, str(path), size)
    return path


def image_check(path):
    """qemu-img check; raises unless the image is clean."""
    p = subprocess.run([QEMU_IMG, "check", "--output=json", str(path)],
                       capture_output=True, text=True, check=False)
    if p.returncode:
        raise GuestError(f"qemu-img check {path}: rc={p.returncode}\n"
                         f"{p.stdout}{p.stderr}")
    return json.loads(p.stdout)


def image_snapshots(path, force_share=False):
    """{name: vm-state-size} of the image's internal snapshots."""
    args = ["info", "--output=json"]
    if force_share:
        args.append("-U")
    info = json.loads(qemu_img(*args, str(path)))
    return {s["name"]: s["vm-state-size"] for s in info.get("snapshots", [])}


def qcow2_vmstate_layout(path, tag):
    """
    Where the VM state of internal snapshot @tag of qcow2 image @path is:
    {"size": its size, "size_fields": [(file offset, width)] of the
    snapshot table fields holding the size, "pieces": [(VM state offset,
    file offset or None for a hole, length)]}.  Read through the
    snapshot's own L1 table, where qcow2 keeps the VM state (after the
    guest disk, from the next L1 entry on).  Plain qcow2 only (no extended
    L2, compression or external data file), as the tests make.
    """
    # pylint: disable=too-many-locals
    with open(path, "rb") as f:
        def read(off, n):
            f.seek(off)
            return f.read(n)

        hdr = read(0, 72)
        assert hdr[:4] == b"QFI\xfb", f"{path}: not qcow2"
        cluster_bits = int.from_bytes(hdr[20:24], "big")
        disk_size = int.from_bytes(hdr[24:32], "big")
        nb_snapshots = int.from_bytes(hdr[60:64], "big")
        off = int.from_bytes(hdr[64:72], "big")
        for _ in range(nb_snapshots):
            e = read(off, 40)
            l1_offset = int.from_bytes(e[0:8], "big")
            l1_size = int.from_bytes(e[8:12], "big")
            id_len = int.from_bytes(e[12:14], "big")
            name_len = int.from_bytes(e[14:16], "big")
            vm_size = int.from_bytes(e[32:36], "big")
            fields = [(off + 32, 4)]
            extra_len = int.from_bytes(e[36:40], "big")
            extra = read(off + 40, extra_len)
            if extra_len >= 8:
                vm_size = int.from_bytes(extra[0:8], "big")
                fields.append((off + 40, 8))
            size = (int.from_bytes(extra[8:16], "big") if extra_len >= 16
                    else disk_size)
            name = read(off + 40 + extra_len + id_len, name_len).decode()
            off += 40 + extra_len + id_len + name_len
            off += -off % 8
            if name == tag:
                break
        else:
            raise GuestError(f"{path}: no snapshot '{tag}'")

        csize = 1 << cluster_bits
        l2_entries = csize // 8
        l1_index = -(-size // (csize * l2_entries))
        l1 = read(l1_offset, l1_size * 8)
        mask = 0x00fffffffffffe00
        pieces = []
        for pos in range(0, vm_size, csize):
            i = l1_index + pos // (csize * l2_entries)
            l2 = int.from_bytes(l1[i * 8:i * 8 + 8], "big") & mask
            entry = 0
            if l2:
                j = pos // csize % l2_entries
                entry = int.from_bytes(read(l2 + j * 8, 8), "big")
            assert not entry & (1 << 62), "compressed VM state"
            n = min(csize, vm_size - pos)
            host = entry & mask if entry & mask and not entry & 1 else None
            pieces.append((pos, host, n))
        return {"size": vm_size, "size_fields": fields, "pieces": pieces}


def qcow2_vmstate(path, tag):
    """The VM state of internal snapshot @tag of qcow2 image @path."""
    layout = qcow2_vmstate_layout(path, tag)
    data = bytearray()
    with open(path, "rb") as f:
        for _, host, n in layout["pieces"]:
            if host is None:
                data += bytes(n)
            else:
                f.seek(host)
                data += f.read(n)
    return bytes(data)


class Console:
    """The guest's serial console, written by QEMU to a file."""

    def __init__(self, path):
        self.path = Path(path)
        self.pos = 0

    def text(self):
        """What the guest printed, up to the end of its last complete line:
        a line QEMU is still writing must not be read as a whole one."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return ""
        return data[:data.rfind(b"\n") + 1].decode(errors="replace")

    def mark(self):
        """An offset: wait()/lines() can start from it."""
        return len(self.text())

    def lines(self, start=0, end=None, kind=None):
        out = []
        for line in self.text()[start:end].splitlines():
            i = line.find("WL ")
            if i < 0:
                continue
            line = line[i + 3:]
            if kind is None or line.startswith(kind + " ") or line == kind:
                out.append(line)
        return out

    def wait(self, kind, start=0, timeout=120, fail_on=None, proc=None):
        """Wait for a 'WL <kind>' line after @start; return it parsed.
        A line that starts with one of @fail_on (words) raises GuestError."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            for line in text[start:].splitlines():
                i = line.find("WL ")
                if i < 0:
                    continue
                line = line[i + 3:]
                if fail_on and any(line == f or line.startswith(f + " ")
                                   for f in fail_on):
                    raise GuestError(f"guest: {line}")
                if line.split(" ")[0] == kind:
                    return parse(line)
            if proc is not None and not proc.is_running():
                raise GuestError(f"QEMU exited while waiting for {kind}: "
                                 f"{proc.get_log()}")
            if time.monotonic() > deadline:
                tail = "\n".join(text.splitlines()[-15:])
                raise GuestError(f"no '{kind}' line within {timeout} s\n"
                                 f"console ends with:\n{tail}")
            time.sleep(0.1)


def parse(line):
    """'KIND a=1 b=x' -> {'kind': 'KIND', 'a': 1.0, 'b': 'x'}"""
    parts = line.split()
    d = {"kind": parts[0], "line": line}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
    return d


def kernel():
    """The uncompressed kernel boots faster under TCG, when there is one."""
    vmlinux = GUEST / "vmlinux"
    return vmlinux if vmlinux.exists() else GUEST / "vmlinuz"


def kernel_args(wl_mib, mode="full", extra=""):
    return (f"console=ttyS0 quiet panic=-1 wl.mib={wl_mib} wl.mode={mode} "
            f"wl.disk-ms=200 {extra}").strip()


# Every Guest made, so that a test's teardown can stop what it left running
ALL_GUESTS = []


def stop_all_guests():
    while ALL_GUESTS:
        vm = ALL_GUESTS.pop()
        try:
            if vm.is_running():
                vm.shutdown(hard=True)
        except Exception:  # pylint: disable=broad-except
            pass


class Guest(QEMUMachine):
    """
    The test guest: Linux + workload, guest RAM in a private RAM backend,
    one qcow2 disk 'disk0' (virtio) holding both the workload's disk block
    and the snapshots.  A restore needs the same options, plus loadvm=TAG.
    @disk_args replaces the options that open the image as 'disk0'.
    """

    def __init__(self, workdir, name, image, mem_mib=512, wl_mib=None,
                 mode="full", accel="tcg", binary=PATCHED, loadvm=None,
                 memdev=None, sandbox=None, extra_args=(), wl_extra="",
                 disk_opts="", disk_args=None):
        self.workdir = Path(workdir)
        self.console = Console(self.workdir / f"{name}.console")
        if self.console.path.exists():
            self.console.path.unlink()
        if wl_mib is None:
            wl_mib = mem_mib * 3 // 4
        if memdev is None:
            memdev = f"memory-backend-ram,id=mem,size={mem_mib}M,share=off"
        args = [
            "-accel", accel, "-machine", "q35,memory-backend=mem",
            "-m", f"{mem_mib}M", "-smp", "1", "-object", memdev,
            "-kernel", str(kernel()),
            "-initrd", str(GUEST / "initrd.gz"),
            "-append", kernel_args(wl_mib, mode, wl_extra),
            "-serial", f"file:{self.console.path}",
            *(disk_args or [
                "-blockdev", f"file,filename={image},node-name=file0{disk_opts}",
                "-blockdev", f"qcow2,file=file0,node-name=disk0{disk_opts}",
            ]),
            "-device", "virtio-blk-pci,drive=disk0",
            "-no-reboot", "-nodefaults", "-nic", "none",
        ]
        if sandbox:
            args += ["-sandbox", sandbox]
        if loadvm:
            args += ["-loadvm", loadvm]
        args += list(extra_args)
        log_dir = self.workdir / "logs"
        log_dir.mkdir(exist_ok=True)
        super().__init__(binary, args=args, name=name,
                         base_temp_dir=str(self.workdir), log_dir=str(log_dir))
        self.image = Path(image)
        ALL_GUESTS.append(self)

    def start(self, wait_ready=True, timeout=300):
        self.launch()
        if wait_ready:
            return self.console.wait("READY", timeout=timeout, proc=self,
                                     fail_on=("ERROR", "INCONSISTENT"))
        return None

    def boot_id(self):
        """The boot id of the workload this guest booted (its START line)."""
        return boot_id(self.console.wait("START", timeout=1))

    # QMP helpers
    def hmp(self, cmd):
        return self.cmd("human-monitor-command", command_line=cmd)

    def running(self):
        return self.cmd("query-status")["running"]

    def savevm_live(self, tag, job_id="live0", vmstate="disk0",
                    devices=("disk0",), **extra):
        """Start a live savevm; returns (QMP response, seconds it took)."""
        t0 = time.monotonic()
        r = self.qmp("savevm-live", **{"job-id": job_id, "tag": tag,
                                       "vmstate": vmstate,
                                       "devices": list(devices)}, **extra)
        return r, time.monotonic() - t0

    def wait_completed(self, timeout=600):
        ev = self.event_wait("SAVEVM_LIVE_COMPLETED", timeout=timeout)
        if ev is None:
            raise GuestError("no SAVEVM_LIVE_COMPLETED event")
        return ev["data"]

    def job(self, job_id):
        for j in self.cmd("query-jobs"):
            if j["id"] == job_id:
                return j
        return None

    def dismiss(self, job_id):
        deadline = time.monotonic() + 60
        while True:
            j = self.job(job_id)
            if j is None:
                return
            if j["status"] == "concluded":
                self.cmd("job-dismiss", id=job_id)
                return
            if time.monotonic() > deadline:
                raise GuestError(f"job {job_id} stays {j['status']}")
            time.sleep(0.05)

    def save_child(self, timeout=30):
        """The pid of the live savevm process QEMU forked."""
        return child_of(self.get_pid(), timeout)


def child_of(pid, timeout=30):
    """The pid of the first child of process @pid, once it has one (QEMU's
    live savevm process); GuestError if none shows up within @timeout."""
    path = f"/proc/{pid}/task/{pid}/children"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, encoding="ascii") as f:
            kids = f.read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.002)
    raise GuestError(f"process {pid} has no child process")


def wait_no_child(vm, timeout=30):
    pid = vm.get_pid()
    path = f"/proc/{pid}/task/{pid}/children"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, encoding="ascii") as f:
            if not f.read().split():
                return
        time.sleep(0.02)
    raise GuestError("the live savevm process is still there")


def stop_process(pid):
    os.kill(pid, signal.SIGSTOP)


def cont_process(pid):
    os.kill(pid, signal.SIGCONT)


def boot_id(d):
    """The workload's boot id in a parsed START/CONSISTENT/MATCH line."""
    m = re.search(r"\bboot=([0-9a-f]{16})\b", d["line"])
    assert m, f"no boot id in: {d['line']}"
    return m.group(1)


def verify_restored(vm, boot, start=0, timeout=300):
    """
    The restored workload must go on and prove the snapshot: its next full
    check prints CONSISTENT, its next disk check MATCH, and nothing
    INCONSISTENT or MISMATCH on the way.  Both carry @boot, the boot id of
    the guest the snapshot was taken of, and the guest printed no boot line
    (INIT, START, READY) after @start: a freshly booted guest fails this.
    """
    bad = ("INCONSISTENT", "MISMATCH", "BADPAGES", "ERROR", "INIT", "START",
           "READY", "DD MISMATCH", "DD ERROR")
    c = vm.console.wait("CONSISTENT", start=start, timeout=timeout,
                        fail_on=bad, proc=vm)
    m = vm.console.wait("MATCH", start=start, timeout=timeout,
                        fail_on=bad, proc=vm)
    for d in (c, m):
        assert boot_id(d) == boot, \
            f"restored guest has boot id {boot_id(d)}, snapshot {boot}: " \
            f"{d['line']}"
    return c, m


def kvm_works(workdir, timeout=30):
    """A short probe boot: does KVM run the test guest here?"""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "no usable /dev/kvm"
    img = image_create(Path(workdir) / "kvm-probe.qcow2", "64M")
    vm = Guest(workdir, "kvm-probe", img, mem_mib=128, wl_mib=16,
               accel="kvm")
    try:
        vm.start(timeout=timeout)
        return True, "KVM runs the guest"
    except Exception as e:  # pylint: disable=broad-except
        return False, f"KVM probe boot failed: {str(e).splitlines()[0]}"
    finally:
        vm.shutdown(hard=True)
