#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make bench: build the test guest, then run the benchmark harness
# (python3 -m bench.run, see bench/run.py; 'bench/run.sh --help' lists its
# options).  Without options
# it runs the committed table set into bench/results/latest.*; --quick is
# the smoke run (1 GiB guest, one repetition, a few minutes).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build-guest.sh"
export PYTHONPATH=$top${PYTHONPATH:+:$PYTHONPATH}
exec /usr/bin/python3 -m bench.run "$@"
