# SPDX-License-Identifier: GPL-2.0-or-later
"""The benchmark harness: python3 -m bench.run (see bench/run.py)."""
