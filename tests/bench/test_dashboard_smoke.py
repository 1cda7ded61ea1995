"""bench.dashboard --smoke: a class stored and graded for real, the TA pages served, figures printed."""
from __future__ import annotations

import json

import pytest

from bench.dashboard import main


def test_smoke_serves_the_pages_and_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    figures = main(["--smoke"])
    out = capsys.readouterr().out
    line = json.loads(out.strip().splitlines()[-1])
    assert line["bench"] == "dashboard" and line["students"] == 30
    assert figures["distinct_graded"] == 3 and figures["uploads"] > 30  # every fifth has an earlier upload
    for page in ("overview", "table", "table_filtered"):
        assert figures["pages"][page]["bytes"] > 1000 and figures["pages"][page]["median_ms"] > 0
    assert "overview" in out and "similarity" in out
