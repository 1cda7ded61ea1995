"""bench.uploads, tiny: signed-in students upload through the form (CSRF, sessions) open loop
while a worker grades. Checks the figures it prints parse and every accepted upload was
stored; no timing is asserted (speed is the bench's figure, not a test's)."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_uploads_smoke() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.uploads", "--smoke"], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    out = json.loads(lines[-1])
    assert out["bench"] == "uploads" and len(out["rates"]) == 1
    rate = out["rates"][0]
    # Every upload of the schedule answered 303 (the form's redirect): sessions and CSRF held.
    assert rate["sent"] == 10 and rate["ok"] == 10 and rate["errors"] == 0, proc.stdout
    assert all(math.isfinite(rate[k]) and rate[k] > 0 for k in ("p50_ms", "p95_ms", "p99_ms"))
    assert rate["p50_ms"] <= rate["p95_ms"] <= rate["p99_ms"]
    # The printed line carries the same figures, and the load average.
    line = next(x for x in lines if x.startswith("5/s for 2 s"))
    assert re.search(r"p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms", line) and "load average" in line, line
    # Every accepted upload (the warm-up's 5 and the timed 10) is a stored row with its file.
    assert out["accepted"] == 15 and out["stored_rows"] == 15 and out["stored_files"] == 15, out
