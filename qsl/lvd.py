# SPDX-License-Identifier: GPL-2.0-or-later
"""
libvirt's daemons from the libvirt build (virtqemud, virtlogd), started with
their own configuration, sockets, state and logs under build/libvirt-root,
and stopped by pid; virsh driving them; domains of the repository's test
guest (kernel and initrd from the domain XML, the workload on the serial
console, one qcow2 disk).
"""

import os
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import qsl

TOP = qsl.TOP
BUILD = Path(os.environ.get("QSL_LIBVIRT_BUILD", TOP / "libvirt" / "build"))
ROOT = TOP / "build" / "libvirt-root"
URI = "qemu:///system"


class LibvirtError(Exception):
    pass


def run_tool(*args, check=True, timeout=600):
    """A program of the libvirt build, through its 'run' script (the build's
    libraries, driver modules and helpers, not the host's)."""
    p = subprocess.run([str(BUILD / "run"), str(BUILD / args[0]),
                        *map(str, args[1:])],
                       capture_output=True, text=True, timeout=timeout,
                       check=False)
    if check and p.returncode:
        raise LibvirtError(f"{' '.join(map(str, args))}: rc={p.returncode}\n"
                           f"{p.stdout}{p.stderr}")
    return p


class Daemons:
    """virtlogd and virtqemud, configured under ROOT, as root."""

    def __init__(self):
        self.etc = ROOT / "etc" / "libvirt"
        self.run_dir = ROOT / "var" / "run"
        self.log_dir = ROOT / "var" / "log" / "libvirt"
        self.pids = {}

    def configure(self, qemu_conf=""):
        # Fresh state, and no domain definitions of an earlier run
        shutil.rmtree(ROOT / "var", ignore_errors=True)
        shutil.rmtree(self.etc / "qemu", ignore_errors=True)
        for d in (self.etc, self.run_dir, self.log_dir,
                  ROOT / "var" / "lib" / "libvirt",
                  ROOT / "var" / "cache" / "libvirt"):
            d.mkdir(parents=True, exist_ok=True)
        (self.etc / "virtqemud.conf").write_text(
            'log_filters = "1:qemu 1:conf.domain_conf 3:*"\n'
            f'log_outputs = "1:file:{self.log_dir}/virtqemud.log"\n'
            'auth_unix_rw = "none"\n')
        (self.etc / "virtlogd.conf").write_text(
            f'log_outputs = "3:file:{self.log_dir}/virtlogd.log"\n')
        # No systemd, no cgroups delegation, no security labels here: QEMU
        # runs as root with the default seccomp sandbox
        (self.etc / "qemu.conf").write_text(
            'user = "root"\ngroup = "root"\n'
            'dynamic_ownership = 0\nremember_owner = 0\n'
            'security_driver = "none"\n'
            'cgroup_controllers = [ ]\nnamespaces = [ ]\n' + qemu_conf)

    def start(self, qemu_conf=""):
        try:
            self._start(qemu_conf)
        except BaseException:
            self.stop()
            raise

    def _start(self, qemu_conf):
        self.configure(qemu_conf)
        for name in ("virtlogd", "virtqemud"):
            pidfile = self.run_dir / f"{name}.pid"
            run_tool(f"src/{name}", "-d", "-p", pidfile,
                     "-f", self.etc / f"{name}.conf")
            deadline = time.monotonic() + 30
            while not pidfile.exists() or not pidfile.read_text().strip():
                if time.monotonic() > deadline:
                    raise LibvirtError(f"{name} did not start")
                time.sleep(0.1)
            self.pids[name] = int(pidfile.read_text())
        deadline = time.monotonic() + 30
        while run_tool("tools/virsh", "-c", URI, "uri",
                       check=False).returncode:
            if time.monotonic() > deadline:
                raise LibvirtError("virtqemud does not answer")
            time.sleep(0.2)

    def stop(self):
        for name in ("virtqemud", "virtlogd"):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)

    def log(self):
        return (self.log_dir / "virtqemud.log").read_text(errors="replace")


def virsh_start(*args):
    """virsh ARGS in the background: a Popen (text stdout, stderr)."""
    # pylint: disable=consider-using-with
    return subprocess.Popen([str(BUILD / "run"),
                             str(BUILD / "tools" / "virsh"), "-c", URI,
                             *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def virsh(*args, check=True, timeout=600):
    """virsh ARGS against the test daemons: (stdout, seconds)."""
    t = time.monotonic()
    p = run_tool("tools/virsh", "-c", URI, *args, check=False,
                 timeout=timeout)
    secs = time.monotonic() - t
    if check and p.returncode:
        raise LibvirtError(f"virsh {' '.join(map(str, args))}: "
                           f"{p.stderr.strip()}")
    return (p.stdout if check else p), secs


class Events:
    """'virsh event --loop --timestamp' for one domain's lifecycle events."""

    LINE = re.compile(r"^(\S+ \S+): event 'lifecycle' for domain '?([^:']+)'?"
                      r": (\S+) (\S+)")

    def __init__(self, dom, path):
        self.path = Path(path)
        self.out = open(self.path, "w", encoding="utf-8")
        # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(
            [str(BUILD / "run"), str(BUILD / "tools" / "virsh"), "-c", URI,
             "event",
             "--domain", dom, "--event", "lifecycle", "--loop",
             "--timestamp"], stdout=self.out, stderr=subprocess.STDOUT)
        time.sleep(1)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.out.close()

    def events(self):
        """[(datetime, event, detail)]"""
        out = []
        for line in self.path.read_text().splitlines():
            m = self.LINE.match(line)
            if m:
                when = datetime.strptime(m.group(1)[:23],
                                         "%Y-%m-%d %H:%M:%S.%f")
                out.append((when, m.group(3), m.group(4)))
        return out

    def pause_ms(self):
        """Suspended -> Resumed: [(detail, milliseconds)]"""
        out, since = [], None
        for when, ev, detail in self.events():
            if ev == "Suspended":
                since = (when, detail)
            elif ev == "Resumed" and since:
                out.append((since[1],
                            (when - since[0]).total_seconds() * 1000))
                since = None
        return out


# The guest agent's port: the test guest runs a minimal agent on it
# (tests/guest/agent.c), which prints WL FREEZE / WL THAW
AGENT_XML = ("<channel type='unix'><target type='virtio' "
             "name='org.qemu.guest_agent.0'/></channel>")


class Domain:
    """A persistent domain of the test guest, defined through virsh."""

    def __init__(self, workdir, name, image, mem_mib=384, wl_mib=256,
                 disks_xml="", memory_backing_xml="", emulator=qsl.PATCHED,
                 agent=False):
        self.name = name
        self.workdir = Path(workdir)
        self.image = Path(image)
        self.console = qsl.Console(self.workdir / f"{name}.console")
        # appended to across the domain's QEMU processes, not across domains
        if self.console.path.exists():
            self.console.path.unlink()
        self.xml = f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{mem_mib}</memory>
  <vcpu>1</vcpu>
  {memory_backing_xml}
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{qsl.kernel()}</kernel>
    <initrd>{qsl.GUEST / 'initrd.gz'}</initrd>
    <cmdline>{qsl.kernel_args(wl_mib)}</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>{emulator}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{image}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    {disks_xml}
    {AGENT_XML if agent else ""}
    <serial type='file'>
      <source path='{self.console.path}' append='on'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""
        path = self.workdir / f"{name}.xml"
        path.write_text(self.xml)
        virsh("define", path)

    def start(self):
        virsh("start", self.name)
        self.console.wait("READY", start=0, timeout=300, proc=self)

    def state(self):
        out, _ = virsh("domstate", "--reason", self.name)
        return out.strip()

    def is_running(self):
        return self.state().startswith(("running", "paused"))

    def get_log(self):
        return (ROOT / "var" / "log" / "libvirt" / "qemu" /
                f"{self.name}.log").read_text(errors="replace")[-3000:]

    def boot_id(self):
        return qsl.boot_id(self.console.wait("START", start=0, proc=self))

    def pid(self):
        return int((ROOT / "var" / "run" / "libvirt" / "qemu" /
                    f"{self.name}.pid").read_text())

    def save_child(self, timeout=30):
        """The pid of the process QEMU forks to write guest RAM."""
        return qsl.child_of(self.pid(), timeout)

    def destroy(self):
        virsh("destroy", self.name, check=False)

    def undefine(self):
        self.destroy()
        virsh("undefine", self.name, "--snapshots-metadata", check=False)
