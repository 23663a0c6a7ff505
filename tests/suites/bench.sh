#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The benchmark harness' smoke run (bench/run.sh --quick: a 1 GiB guest,
# each of the four snapshot methods once, THP left as it is), into
# build/bench/smoke/ so that the committed results stay untouched.  One TAP
# line per method: measured, and the figures it got.  Numbers are not
# judged here: the full benchmark (make bench) is not part of make check.
#
# The smoke run works from a copy of the checkout whose path is longer than
# a UNIX socket path may be (108 bytes): nothing may put a socket under the
# checkout.  The copy holds the repository's own files; the QEMU trees and
# the guest are linked from this checkout.
set -uo pipefail
. "$QSL_TOP/scripts/common.sh"

n=0
tap() {    # tap OK|FAIL description
    n=$((n + 1))
    if [ "$1" = OK ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

# 1. The report survives a run in which every measurement failed
if out=$(PYTHONPATH=$TOP /usr/bin/python3 - 2>&1 <<'PY'
import tempfile
from pathlib import Path
from bench.measuring import METHODS, Scenario
from bench.reporting import markdown, plots, result_data
sc = Scenario(1024, "full", "default", 1)
runs = [{"scenario": sc.key, "method": m, "rep": 1, "error": "it failed"}
        for m in METHODS]
data = result_data("allfailed", {"accel": "tcg", "cpu": "x"},
                   {"fork": {}, "write": {"mib": 64, "seconds": 1.0,
                                           "mib_s": 64.0, "cmd": "dd"}},
                   [sc], list(METHODS), runs, [], 0.0, [], None)
md = markdown(data)
assert "it failed" in md, md
with tempfile.TemporaryDirectory() as d:
    files = plots(data, Path(d), "allfailed")
    assert len(files) == 2, files
print("report and plots written")
PY
); then
    tap OK "bench report: a run in which every measurement failed is reported"
else
    printf '%s\n' "$out" >&2
    tap FAIL "bench report: a run in which every measurement failed: $(printf '%s' "$out" | tail -1)"
fi

# 2. The smoke run, from a deep copy of the checkout
deep=$BUILD/deep-checkout/$(printf 'd%.0s' {1..70})/$(printf 'e%.0s' {1..70})/qsl
rm -rf "$BUILD/deep-checkout"
mkdir -p "$deep/build"
# (what the working tree has: not files deleted but still in the index)
(cd "$TOP" && git ls-files -co --exclude-standard -z |
     while IFS= read -r -d '' f; do [ ! -e "$f" ] || printf '%s\0' "$f"; done |
     xargs -0 cp -p --parents -t "$deep") || tap FAIL "copy the checkout"
ln -s "$TREE" "$deep/qemu"
ln -s "$BUILD/guest" "$deep/build/guest"
ln -s "$STOCK_SRC" "$deep/build/stock-src"
echo "bench smoke from $deep (${#deep} bytes)" >&2

out=$deep/build/bench/smoke
"$deep/bench/run.sh" --quick --out "$out" --name smoke >&2
rc=$?
json=$out/smoke.json
if [ ! -s "$json" ]; then
    tap FAIL "bench --quick wrote no results (exit $rc)"
    exit 0
fi
mkdir -p "$BUILD/bench"
rm -rf "$BUILD/bench/smoke"
cp -r "$out" "$BUILD/bench/smoke"
res=$(/usr/bin/python3 - "$json" "$n" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
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
)
printf '%s\n' "$res"
n=$((n + $(printf '%s\n' "$res" | grep -c '^\(not \)\?ok ')))
if [ $rc = 0 ]; then
    tap OK "bench --quick exited 0"
else
    tap FAIL "bench --quick exited with status $rc"
fi
rm -rf "$BUILD/deep-checkout"
