"""`autograder worker`: refuses to start on a device it cannot use; K grades at a time otherwise."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def autograder(*args: str, env: dict[str, str], **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from service.cli import main; main()", *args]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
    if kw.pop("background", False):
        return subprocess.Popen(cmd, env=full_env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, env=full_env, cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a host without CUDA")
def test_a_cuda_worker_on_a_host_without_cuda_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    proc = autograder("worker", env={"AUTOGRADER_DEVICE": "cuda", "AUTOGRADER_VAR_DIR": str(tmp_path)})
    assert proc.returncode == 1
    err = " ".join(proc.stderr.split())
    assert "cannot grade, so it does not start" in err and "AUTOGRADER_DEVICE=cpu" in err
    assert "celery" not in proc.stdout.lower() and not (tmp_path / "broker.sqlite").exists()  # nothing started


@pytest.mark.skipif(torch.cuda.is_available(), reason="a host without CUDA")
def test_celery_started_directly_for_cuda_on_a_host_without_it_also_refuses(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-Q", "grading",
                           "--concurrency", "1", "-n", "t@%h"], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), "AUTOGRADER_DEVICE": "cuda",
                               "AUTOGRADER_VAR_DIR": str(tmp_path)})
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0 and "cannot grade, so it does not start" in out and "AUTOGRADER_DEVICE=cpu" in out


@pytest.mark.parametrize("given,expected", [(None, "1"), ("3", "3")])
def test_concurrency_is_passed_to_celery(tmp_path: Path, given: str | None, expected: str) -> None:
    args = ["worker", "--dry-run", "--queue", "grading", "--name", "gpu@%h"] + (["--concurrency", given] if given else [])
    proc = autograder(*args, env={"AUTOGRADER_DEVICE": "cpu", "AUTOGRADER_VAR_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    cmd = proc.stdout.split()
    assert cmd[cmd.index("--concurrency") + 1] == expected
    assert cmd[cmd.index("-A") + 1] == "worker.app" and cmd[cmd.index("-Q") + 1] == "grading"
    assert cmd[cmd.index("-n") + 1] == "gpu@%h"


def test_a_cpu_worker_starts_celery(tmp_path: Path) -> None:
    worker = autograder("worker", "--concurrency", "1", "--name", "t@%h", background=True,
                        env={"AUTOGRADER_DEVICE": "cpu", "AUTOGRADER_VAR_DIR": str(tmp_path)})
    try:
        seen, deadline = "", time.time() + 90
        while time.time() < deadline and "ready" not in seen:
            line = worker.stdout.readline()
            if not line:
                break
            seen += line
        assert "ready" in seen, seen[-2000:]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
