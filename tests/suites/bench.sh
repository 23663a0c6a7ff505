#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The benchmark harness' smoke run (bench/run.sh --quick: a 1 GiB guest,
# each of the four snapshot methods once, THP left as it is), into
# build/bench/smoke/ so that the committed results stay untouched.  One TAP
# line per method: measured, and the figures it got.  Numbers are not
# judged here: the full benchmark (make bench) is not part of make check.
set -uo pipefail
. "$QSL_TOP/scripts/common.sh"

out=$BUILD/bench/smoke
rm -rf "$out"
"$TOP/bench/run.sh" --quick --out "$out" --name smoke >&2
rc=$?
json=$out/smoke.json
if [ ! -s "$json" ]; then
    echo "not ok 1 - bench --quick wrote no results (exit $rc)"
    exit 0
fi
/usr/bin/python3 - "$json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = 0
for m in d["methods"]:
    n += 1
    runs = [r for r in d["runs"] if r["method"] == m]
    bad = [r for r in runs if "error" in r]
    if not runs or bad:
        why = bad[0]["error"] if bad else "not run"
        print(f"not ok {n} - bench smoke: {m}: {why}")
        continue
    r = runs[0]
    print(f"ok {n} - bench smoke: {m}: pause {r['pause_ms']:.0f} ms, "
          f"save {r['duration_s']:.1f} s, vmstate {r['vmstate_mib']:.0f} MiB, "
          f"restore {r['restore_s']:.1f} s")
PY
