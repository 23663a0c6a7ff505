# SPDX-License-Identifier: GPL-2.0-or-later
"""
A pytest plugin for tests/run.sh: one TAP line per test, written to the file
named by $QSL_TAP when the session ends (tests/e2e and tests/libvirt load
it: pytest_plugins = ["qsl.tap"]).
"""

import os
from pathlib import Path


_tap = []
_index = {}
_why = {}


def _reason(report, lines=12):
    """The end of a failure's report (pytest's "E" lines and the place),
    as TAP diagnostics: tests/run.sh prints them with the failure, so that
    a CI log that shows only run.sh's summary still says what failed."""
    text = getattr(report, "longreprtext", "") or str(report.longrepr)
    tail = [l for l in text.splitlines() if l.strip()][-lines:]
    return [f"#   {l}" for l in tail]


def pytest_runtest_logreport(report):
    """One TAP line per test: its call's outcome, or its setup's when the
    setup failed or skipped; a failed teardown turns it into "not ok"."""
    name = report.nodeid.split("::", 1)[-1]
    if report.when == "teardown":
        if report.failed:
            i = _index.get(report.nodeid)
            line = f"not ok {len(_tap) + 1} - {name} # teardown failed"
            if i is None:
                i = len(_tap)
                _tap.append(line)
            else:
                _tap[i] = f"not ok {i + 1} - {name} # teardown failed"
            _why.setdefault(i, []).extend(_reason(report))
        return
    if report.when == "call" or not report.passed:
        _index[report.nodeid] = len(_tap)
        if report.passed:
            _tap.append(f"ok {len(_tap) + 1} - {name}")
        elif report.skipped:
            why = report.longrepr[2] if isinstance(report.longrepr, tuple) \
                else str(report.longrepr)
            _tap.append(f"ok {len(_tap) + 1} - {name} # SKIP {why}")
        else:
            _why[len(_tap)] = _reason(report)
            _tap.append(f"not ok {len(_tap) + 1} - {name}")


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("QSL_TAP")
    if path:
        out = []
        for i, line in enumerate(_tap):
            out += [line] + _why.get(i, [])
        Path(path).write_text("\n".join(out + [f"1..{len(_tap)}"]) + "\n")
