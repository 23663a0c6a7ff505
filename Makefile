# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu-savevm-live: a QEMU patch series kept out of tree.
# 'make help' lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := build

.PHONY: help deps tree build build-patched build-stock check demo bench \
        guest export pristine-check bisect-check checkpatch clean distclean \
        libvirt-tree build-libvirt demo-libvirt bench-libvirt

help:
	@echo "make demo            build everything and show a live snapshot of a real guest"
	@echo "make check           build everything and run all tests (ends with 'N passed, N failed')"
	@echo "make build           build the patched and the stock QEMU and the patched libvirt (the default)"
	@echo "make demo-libvirt    build everything and show virsh snapshot-create-as --live of a real guest"
	@echo "make deps            install the Debian packages (root or sudo)"
	@echo "make guest           build the end-to-end test guest (kernel, initramfs) in build/guest"
	@echo "make tree            create ./qemu: the pinned base + patches/ as git commits"
	@echo "make libvirt-tree    create ./libvirt: the pinned libvirt base + patches-libvirt/"
	@echo "make export          write ./qemu's and ./libvirt's base..HEAD back to patches/, patches-libvirt/"
	@echo "make pristine-check  check that patches/ applies to the pristine upstream tarball"
	@echo "make checkpatch      run scripts/checkpatch.pl --no-signoff over patches/"
	@echo "make bisect-check    build every patch of both series on its own, run its unit tests"
	@echo "make bench           run the benchmark harness (BENCH_ARGS=--quick: smoke run)"
	@echo "make bench-libvirt   virsh snapshot-create-as --live against libvirt's stock path"
	@echo "make clean           remove build/ and the build directories"
	@echo "make distclean       also remove ./qemu (after checking it is exported)"

deps:
	@scripts/deps.sh

tree: deps
	@if [ -d qemu/.git ] && [ "$(FORCE)" != 1 ]; then scripts/tree-status.sh; else FORCE=$(FORCE) scripts/mktree.sh; fi

build-patched: tree
	@scripts/build.sh patched

build-stock: deps
	@scripts/build.sh stock

libvirt-tree: deps
	@if [ -d libvirt/.git ] && [ "$(FORCE)" != 1 ]; then QSL_PROJECT=libvirt scripts/tree-status.sh; \
	 else QSL_PROJECT=libvirt FORCE=$(FORCE) scripts/mktree.sh; fi

build-libvirt: libvirt-tree
	@scripts/build-libvirt.sh

build: build-patched build-stock build-libvirt

guest: deps
	@scripts/build-guest.sh

check: build guest
	@tests/run.sh $(SUITES)

demo: build guest
	@tests/e2e/demo.sh

demo-libvirt: build guest
	@tests/libvirt/demo.sh

bench: build guest
	@if [ -x bench/run.sh ]; then bench/run.sh $(BENCH_ARGS); else \
	  echo "make bench: the benchmark harness does not exist yet." >&2; exit 1; fi

bench-libvirt: build guest
	@PYTHONPATH=$(CURDIR) /usr/bin/python3 -m bench.libvirt $(BENCH_ARGS)

export:
	@scripts/export.sh
	@if [ -d libvirt/.git ]; then QSL_PROJECT=libvirt scripts/export.sh; fi

pristine-check: deps
	@scripts/check-pristine.sh

bisect-check: tree libvirt-tree
	@scripts/check-bisect.sh
	@scripts/check-bisect-libvirt.sh

checkpatch: tree
	@rc=0; for p in patches/[0-9][0-9][0-9][0-9]-*.patch; do \
	  [ -e "$$p" ] || continue; \
	  case "$$p" in */0000-*) continue;; esac; \
	  echo "== $$p"; qemu/scripts/checkpatch.pl --no-signoff "$$p" || rc=1; \
	done; exit $$rc

clean:
	rm -rf build qemu/build libvirt/build

distclean:
	@scripts/tree-status.sh --strict
	@if [ -d libvirt/.git ]; then QSL_PROJECT=libvirt scripts/tree-status.sh --strict; fi
	rm -rf build qemu libvirt
