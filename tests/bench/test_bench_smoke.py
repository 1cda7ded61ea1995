"""Each benchmark runs end to end on tiny inputs and prints its JSON line (no figure is judged)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_bench(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_grade_time_smoke() -> None:
    out = run_bench("bench.grade_time", "--smoke")
    assert out["bench"] == "grade_time" and out["n_train"] == 500
    assert out["pure_compute_s"] > 0 and out["grade_warm_s"] > 0
    assert out["per_image_baseline"]["total_s"] > 0
    # Every setting but fp32 itself is printed with its saved accuracy check against fp32.
    assert (out["settings_check"] is None) == (not out["bf16"] and not out["channels_last"])


@pytest.mark.parametrize("name", ["bf16+channels_last", "fp32+channels_last"])
def test_default_settings_were_checked_against_fp32_over_five_seeds(name: str) -> None:
    from bench.grade_time import settings_check
    from grader.training import PRECISIONS, TrainSettings

    line, figures = settings_check(TrainSettings(**PRECISIONS[name]), "cpu")
    assert figures is not None and figures["setting"] == name and figures["seeds"] >= 5, line
    assert figures["within_1_point"] == (abs(figures["delta_points"]) < 1)
    assert settings_check(TrainSettings(**PRECISIONS["fp32"]), "cpu")[1] is None


def test_feedback_smoke() -> None:
    out = run_bench("bench.feedback", "--n", "2")
    assert out["bench"] == "feedback" and out["n"] == 2 and out["p95_s"] >= out["p50_s"] > 0


def test_rush_smoke() -> None:
    out = run_bench("bench.rush", "--smoke", "--api-processes", "2")  # also the multi-process API
    assert out["bench"] == "rush" and out["accepted"] == 20 and out["stored"] == 25 and out["lost"] == 0
