# SPDX-License-Identifier: GPL-2.0-or-later
"""
make demo-libvirt: virtqemud and virtlogd of the libvirt build drive the
patched QEMU; 'virsh snapshot-create-as --live' snapshots the running test
guest, whose workload keeps writing its RAM and disk, then
'virsh snapshot-revert' brings the guest back to that instant and the
restored workload checks its memory and disk (CONSISTENT, MATCH).
"""

import shutil

import qsl
from qsl import lvd


def say(msg):
    print(f"demo-libvirt: {msg}", flush=True)


def main():
    work = qsl.TOP / "build" / "libvirt-demo"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    daemons = lvd.Daemons()
    say("starting virtlogd and virtqemud (state under build/libvirt-root)")
    daemons.start()
    try:
        img = qsl.image_create(work / "disk.qcow2", "2G")
        dom = lvd.Domain(work, "demo", img, mem_mib=1024, wl_mib=768)
        say("virsh start demo (1 GiB TCG guest; its workload rewrites 768 "
            "MiB of RAM and a disk block, checking both)")
        dom.start()
        boot = dom.boot_id()
        dom.console.wait("MATCH", start=0, proc=dom)
        events = lvd.Events(dom.name, work / "events.log")
        say("virsh snapshot-create-as demo live1 --live")
        out, secs = lvd.virsh("snapshot-create-as", dom.name, "live1",
                              "--live")
        events.stop()
        print(out.strip())
        for _, ms in events.pause_ms():
            say(f"the guest was paused {ms:.0f} ms; virsh took {secs:.2f} s "
                "(the guest ran while its RAM was written)")
        out, _ = lvd.virsh("snapshot-list", dom.name)
        print(out.rstrip())
        say("virsh snapshot-revert demo live1")
        # paused first, the guest being replaced prints nothing after the mark
        lvd.virsh("suspend", dom.name)
        mark = dom.console.mark()
        _, secs = lvd.virsh("snapshot-revert", dom.name, "live1")
        c, m = qsl.verify_restored(dom, boot, start=mark)
        say(f"reverted in {secs:.1f} s; the restored guest reports:")
        print(f"  {c['line']}\n  {m['line']}")
        lvd.virsh("snapshot-delete", dom.name, "live1")
        dom.undefine()
        qsl.image_check(img)
        say("snapshot deleted, domain undefined, qemu-img check clean")
    finally:
        lvd.virsh("destroy", "demo", check=False)
        lvd.virsh("undefine", "demo", "--snapshots-metadata", check=False)
        daemons.stop()
        say("daemons stopped")


if __name__ == "__main__":
    main()
