#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make demo-libvirt: see demo.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH=$here/../e2e exec /usr/bin/python3 "$here/demo.py"
