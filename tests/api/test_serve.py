"""`autograder serve`: the README's one-machine start, with no Redis and no database server."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from bench._service import free_port, running_service, start_serve
from grader.rubric import SOLUTION


def test_serve_runs_page_api_and_worker_without_services(test_checkpoint: Path) -> None:
    # The check timeout is generous here: this test is about serve, not about a slow shared CPU.
    env = {"AUTOGRADER_CHECKPOINT": str(test_checkpoint), "AUTOGRADER_ACCESS_CODE": "cnn-2026",
           "AUTOGRADER_CHECK_TIMEOUT_S": "60",
           "AUTOGRADER_THREADS": "1", "AUTOGRADER_STUDENT_RATE_PER_HOUR": "30"}
    with running_service(broker=None, extra_env=env) as (url, var), httpx.Client(base_url=url, timeout=30) as c:
        page = c.get("/").text
        assert 'name="access_code"' in page  # the page asks for the code
        # No data set: the page and serve's first lines say accuracy is not measured, and why.
        assert 'id="no-accuracy"' in page and "AUTOGRADER_DATA_DIR" in page
        assert "accuracy NOT measured" in (var / "serve.log").read_text()
        files = {"file": ("resnet50_skeleton.py", SOLUTION.read_bytes(), "text/x-python")}
        wrong = c.post("/api/submissions", data={"student_id": "s1", "access_code": "nope"}, files=files)
        assert wrong.status_code == 403 and "access code" in wrong.json()["detail"]
        sid = c.post("/api/submissions", data={"student_id": "s1", "access_code": "cnn-2026"}, files=files).json()["id"]
        deadline = time.monotonic() + 120
        while (view := c.get(f"/api/submissions/{sid}").json())["status"] not in ("graded", "rejected", "failed"):
            assert time.monotonic() < deadline, (var / "serve.log").read_text()[-3000:]
            time.sleep(0.3)
        # No data set configured: structure-only by default, full marks for the reference.
        assert view["status"] == "graded" and view["score"] == view["max_score"] == 105, (view["report"] or {}).get("error")
        assert (var / "broker.sqlite").exists() and (var / "autograder.sqlite").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_its_workers_on_a_signal(tmp_path: Path, test_checkpoint: Path, sig: int) -> None:
    """`kill -TERM` (or Ctrl-C) on serve alone, not on its group, leaves no grading worker behind."""
    proc = start_serve(tmp_path, port=free_port(), extra_env={"AUTOGRADER_CHECKPOINT": str(test_checkpoint)})
    try:
        deadline = time.monotonic() + 60
        while not (workers := [p for p in psutil.Process(proc.pid).children(recursive=True)
                               if "celery" in " ".join(p.cmdline())]):
            assert time.monotonic() < deadline, "serve started no worker"
            time.sleep(0.2)
        family = [w for top in workers for w in (top, *top.children(recursive=True))]
        os.kill(proc.pid, sig)
        assert proc.wait(timeout=60) == 0
        gone, alive = psutil.wait_procs(family, timeout=15)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], (tmp_path / "serve.log").read_text()[-2000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
