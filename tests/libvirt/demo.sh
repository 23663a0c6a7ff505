#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make demo-libvirt: see demo.py.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH=$top${PYTHONPATH:+:$PYTHONPATH}
exec /usr/bin/python3 "$top/tests/libvirt/demo.py"
