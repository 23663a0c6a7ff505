#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make demo: build the guest, then run tests/e2e/demo.py (see there).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
"$top/scripts/build-guest.sh"
export PYTHONPATH=$top${PYTHONPATH:+:$PYTHONPATH}
exec /usr/bin/python3 "$top/tests/e2e/demo.py" "$@"
