# SPDX-License-Identifier: GPL-2.0-or-later
"""
pytest setup for the libvirt end-to-end tests: the daemons of the libvirt
build, started once for the session and stopped by pid; a work directory
per test under build/libvirt-e2e/; TAP output for tests/run.sh (to the file
named by $QSL_TAP, as in tests/e2e).
"""

import os
import shutil

import pytest

import qsl
from qsl import lvd

pytest_plugins = ["qsl.tap"]


@pytest.fixture(scope="session", autouse=True)
def built():
    for f in ("vmlinuz", "initrd.gz"):
        if not (qsl.GUEST / f).exists():
            pytest.exit(f"{qsl.GUEST / f} is missing: run scripts/build-guest.sh",
                        returncode=2)
    for b in (qsl.PATCHED, qsl.QEMU_IMG, lvd.BUILD / "src" / "virtqemud",
              lvd.BUILD / "tools" / "virsh"):
        if not os.access(b, os.X_OK):
            pytest.exit(f"{b} is missing: run make build", returncode=2)


@pytest.fixture(scope="session")
def daemons():
    results = qsl.TOP / "build" / "libvirt-e2e" / "pauses.md"
    if results.exists():
        results.unlink()
    d = lvd.Daemons()
    d.start()
    yield d
    d.stop()


@pytest.fixture
def workdir(request, daemons):
    """A directory per test under build/libvirt-e2e/, kept when it fails;
    the test's domains are undefined at the end."""
    d = qsl.TOP / "build" / "libvirt-e2e" / request.node.name.replace("/", "_")
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    yield d
    out, _ = lvd.virsh("list", "--all", "--name")
    for name in out.split():
        lvd.virsh("destroy", name, check=False)
        lvd.virsh("undefine", name, "--snapshots-metadata", check=False)
