# SPDX-License-Identifier: GPL-2.0-or-later
"""
pytest setup for the end-to-end tests: the accelerators to run (TCG always,
KVM where a probe boot shows it runs the guest), a work directory per test,
and TAP output for tests/run.sh (qsl/tap.py).
"""

import os
import shutil

import pytest

import qsl

pytest_plugins = ["qsl.tap"]

_kvm = None


def kvm_status(tmp_path_factory):
    global _kvm  # pylint: disable=global-statement
    if _kvm is None:
        _kvm = qsl.kvm_works(tmp_path_factory.mktemp("kvm-probe"))
    return _kvm


def pytest_generate_tests(metafunc):
    if "accel" in metafunc.fixturenames:
        metafunc.parametrize("accel", ["tcg", "kvm"], indirect=True)


@pytest.fixture
def accel(request, tmp_path_factory):
    if request.param == "kvm":
        ok, why = kvm_status(tmp_path_factory)
        if not ok:
            pytest.skip(why)
    return request.param


@pytest.fixture(scope="session", autouse=True)
def guest_built():
    for f in ("vmlinuz", "initrd.gz"):
        if not (qsl.GUEST / f).exists():
            pytest.exit(f"{qsl.GUEST / f} is missing: run scripts/build-guest.sh",
                        returncode=2)
    for b in (qsl.PATCHED, qsl.STOCK, qsl.QEMU_IMG):
        if not os.access(b, os.X_OK):
            pytest.exit(f"{b} is missing: run make build", returncode=2)


@pytest.fixture
def workdir(request):
    """A directory per test under build/e2e/, kept when the test fails."""
    d = qsl.TOP / "build" / "e2e" / request.node.name.replace("/", "_")
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    yield d
    qsl.stop_all_guests()
