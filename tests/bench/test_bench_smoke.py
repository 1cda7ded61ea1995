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
    assert out["bench"] == "grade_time" and out["n_train"] == 200
    assert out["pure_compute_s"] > 0 and out["grade_warm_s"] > 0
    assert out["per_image_baseline"]["total_s"] > 0
    # Every setting but fp32 itself is printed with its saved accuracy check against fp32.
    assert (out["settings_check"] is None) == (not out["bf16"] and not out["channels_last"])


@pytest.mark.parametrize("name", ["bf16+channels_last", "fp32+channels_last"])
def test_default_settings_were_checked_against_fp32_over_five_seeds(name: str) -> None:
    """Each default precision ships only after its saved check: mean accuracy over >= 5 seeds
    within 1 point of fp32's, recomputed here from the per-seed accuracies."""
    from bench.grade_time import PRECISION, settings_check
    from grader.training import PRECISIONS, TrainSettings

    line, figures = settings_check(TrainSettings(**PRECISIONS[name]), "cpu")
    assert figures is not None and figures["setting"] == name and figures["seeds"] >= 5, line
    assert figures["within_1_point"], line
    saved = json.loads(PRECISION.read_text())[figures["machine"]]["results"]
    per_seed = {k: saved[k]["accuracies"] for k in ("fp32", name)}
    assert all(len(v) >= 5 for v in per_seed.values())
    delta = (sum(per_seed[name]) / len(per_seed[name]) - sum(per_seed["fp32"]) / len(per_seed["fp32"])) * 100
    assert abs(delta - figures["delta_points"]) < 1e-6 and abs(delta) < 1
    assert settings_check(TrainSettings(**PRECISIONS["fp32"]), "cpu")[1] is None


def test_a_setting_more_than_1_point_off_is_reported_as_not_within(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.grade_time as grade_time
    from grader.training import PRECISIONS, TrainSettings

    runs = {"some machine": {"seeds": 5, "results": {
        "fp32": {"mean_accuracy": 0.40, "accuracies": [0.40] * 5},
        "fp32+channels_last": {"mean_accuracy": 0.385, "accuracies": [0.385] * 5}}}}
    (tmp_path / "precision.json").write_text(json.dumps(runs))
    monkeypatch.setattr(grade_time, "PRECISION", tmp_path / "precision.json")
    line, figures = grade_time.settings_check(TrainSettings(**PRECISIONS["fp32+channels_last"]), "cpu")
    assert figures is not None and not figures["within_1_point"] and "NOT within 1 point" in line


def test_feedback_smoke() -> None:
    out = run_bench("bench.feedback", "--n", "2")
    assert out["bench"] == "feedback" and out["n"] == 2 and out["p95_s"] >= out["p50_s"] > 0


def test_rush_smoke() -> None:
    out = run_bench("bench.rush", "--smoke", "--api-processes", "2")  # also the multi-process API
    assert out["bench"] == "rush" and out["accepted"] == 10 and out["stored"] == 12 and out["lost"] == 0
