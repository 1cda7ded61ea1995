"""The real GPU path (issue 16): run where a CUDA device is present (`pytest -m gpu`); skipped elsewhere."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grader import sandbox

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
              pytest.mark.skipif(sandbox.bubblewrap() is None, reason="needs bubblewrap")]


def test_cuda_works_inside_the_sandbox_and_the_cap_stops_a_child_that_allocates_without_end(tmp_path: Path) -> None:
    sub = tmp_path / "resnet50_skeleton.py"
    sub.write_text("import torch\nprint('SEES', torch.cuda.is_available(), torch.cuda.device_count())\n"
                   "import gpu_limit\ngpu_limit.apply('cuda')\nhog = []\n"
                   "while True:\n    hog.append(torch.empty(1 << 28, device='cuda'))\n")
    outcome = sandbox.run_sandboxed(submission=sub, job={}, inputs={}, gpu=True,
                                    limits=sandbox.Limits(wall_seconds=120, gpu_memory_bytes=2 << 30))
    assert "SEES True" in outcome.log, outcome.log[-2000:]
    assert outcome.status == "memory_limit" and "GPU memory limit" in outcome.reason, outcome.log[-2000:]


def test_no_gpu_inside_the_sandbox_when_the_grade_is_on_the_cpu(tmp_path: Path) -> None:
    sub = tmp_path / "resnet50_skeleton.py"
    sub.write_text("import torch\nprint('SEES', torch.cuda.is_available())\n")
    outcome = sandbox.run_sandboxed(submission=sub, job={}, inputs={}, gpu=False, limits=sandbox.Limits(wall_seconds=60))
    assert "SEES False" in outcome.log


def test_doctor_sees_the_gpu_and_its_free_memory() -> None:
    from click.testing import CliRunner

    from grader.cli import main

    result = CliRunner().invoke(main, ["doctor", "--json"], env={"AUTOGRADER_DEVICE": "cuda"})
    checks = {c["name"]: c for c in json.loads(result.output)}
    assert checks["cuda"]["level"] == "ok" and "GiB free" in checks["gpu memory"]["detail"]


def test_gpu_bench_smoke() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "bench.gpu", "--smoke"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["bench"] == "gpu" and out["full_grade_s"] > 0
    assert all(v["equal_to_k1"] for v in out["k"].values()), out["k"]  # deterministic on one GPU
    assert out["memory_cap"]["hog"]["status"] == "memory_limit" and out["memory_cap"]["neighbour_equal_to_k1"]
