# SPDX-License-Identifier: GPL-2.0-or-later
"""
The stream savevm-live writes is the stream stock savevm writes.

Both snapshots are taken of one paused VM (the test guest, with a virtio-mem
device whose memory is unplugged, i.e. discarded), one with savevm-live and
one with HMP savevm; both VM states are read back from the image and
decoded by QEMU's scripts/analyze-migration.py, which must find the same
device description, the same sections in the same order with the same
contents, and the same RAM.  Stock savevm spreads the pages over several
RAM sections and savevm-live writes them in one, so the sizes differ by a
few section headers only: pages of the discarded memory, read and saved,
would show up there.
"""

import json
import subprocess
import sys

import pytest

from qsl import (MiB, TREE, Guest, image_check, image_create,
                 qcow2_vmstate)

MEM = 384
VIRTIO_MEM = 1024
ANALYZE = TREE / "scripts" / "analyze-migration.py"


def analyze(workdir, name, stream):
    """Extract @stream with analyze-migration.py -x; return the directory."""
    d = workdir / name
    d.mkdir()
    (d / "stream").write_bytes(stream)
    p = subprocess.run([sys.executable, str(ANALYZE), "-x", "-f", "stream"],
                       cwd=d, capture_output=True, text=True, check=False)
    assert p.returncode == 0, f"analyze-migration.py on {name}: {p.stderr}"
    (d / "stream").unlink()
    return d


def extracted(d):
    """{relative path: bytes} of everything analyze-migration.py wrote."""
    return {str(f.relative_to(d)): f.read_bytes()
            for f in sorted(d.rglob("*")) if f.is_file()}


def save_both(vm, live_tag, stock_tag):
    r, _ = vm.savevm_live(live_tag, job_id=live_tag)
    assert "return" in r, r
    ev = vm.wait_completed()
    assert "error" not in ev, ev
    vm.dismiss(live_tag)
    out = vm.hmp(f"savevm {stock_tag}")
    assert out == "", out
    assert not vm.running()
    return ev["vmstate-size"]


@pytest.mark.parametrize("zero_detection", ["legacy", "none"])
def test_same_stream_as_savevm(workdir, zero_detection):
    img = image_create(workdir / "disk.qcow2", "2G")
    vm = Guest(workdir, "vm", img, mem_mib=MEM, wl_mib=128,
               extra_args=[
                   # The RTC then stands still while the VM is paused
                   "-rtc", "clock=vm",
                   "-m", f"{MEM}M,maxmem={MEM + VIRTIO_MEM}M",
                   "-object", f"memory-backend-ram,id=vmem,"
                   f"size={VIRTIO_MEM}M,share=off",
                   "-device", "virtio-mem-pci,id=vm0,memdev=vmem,"
                   "requested-size=0,block-size=2M"])
    vm.start()
    vm.cmd("migrate-set-parameters", **{"zero-page-detection": zero_detection})
    vm.cmd("stop")
    live_size = save_both(vm, "live", "stock")
    vm.shutdown()
    image_check(img)

    live = qcow2_vmstate(img, "live")
    stock = qcow2_vmstate(img, "stock")
    assert len(live) == live_size
    # A few section headers; a page record of each GiB discarded is 2.3 MiB
    assert abs(len(live) - len(stock)) < 64 * 1024, (len(live), len(stock))
    if zero_detection == "none":
        # Every page of guest RAM whole, zero or not
        assert len(live) > MEM * MiB
    else:
        assert len(live) < MEM * MiB

    a = extracted(analyze(workdir, "live", live))
    b = extracted(analyze(workdir, "stock", stock))
    assert sorted(a) == sorted(b)
    desc_a, desc_b = json.loads(a.pop("desc.json")), json.loads(b.pop("desc.json"))
    assert desc_a == desc_b
    state_a = json.loads(a.pop("state.json"))
    state_b = json.loads(b.pop("state.json"))
    # Sections in the same order, with the same contents
    assert list(state_a) == list(state_b)
    assert state_a == state_b
    assert any(k.startswith("ram ") for k in state_a)
    # The RAM blocks, page by page
    for name, data in a.items():
        assert data == b[name], f"RAM block {name} differs"
