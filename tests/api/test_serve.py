"""`autograder serve`: the README's one-machine start, with no Redis and no database server."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from grader.rubric import SOLUTION
from tests.api.conftest import REPO, free_port


def test_serve_runs_page_api_and_worker_without_services(tmp_path: Path, test_checkpoint: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER_")}
    env.update({"PYTHONPATH": str(REPO), "AUTOGRADER_VAR_DIR": str(tmp_path / "var"),
                "AUTOGRADER_CHECKPOINT": str(test_checkpoint), "AUTOGRADER_ACCESS_CODE": "cnn-2026",
                "AUTOGRADER_THREADS": "1"})
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", "serve", "--port", str(port)], cwd=REPO,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-2000:]
                time.sleep(0.3)
        with httpx.Client(base_url=url, timeout=30) as c:
            assert 'name="access_code"' in c.get("/").text  # the page asks for the code
            files = {"file": ("resnet50_skeleton.py", SOLUTION.read_bytes(), "text/x-python")}
            wrong = c.post("/api/submissions", data={"student_id": "s1", "access_code": "nope"}, files=files)
            assert wrong.status_code == 403 and "access code" in wrong.json()["detail"]
            sid = c.post("/api/submissions", data={"student_id": "s1", "access_code": "cnn-2026"},
                         files=files).json()["id"]
            deadline = time.monotonic() + 120
            while (view := c.get(f"/api/submissions/{sid}").json())["status"] not in ("graded", "rejected", "failed"):
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
                time.sleep(0.3)
        # No data set configured: structure-only by default, full marks for the reference.
        assert view["status"] == "graded" and view["score"] == view["max_score"] == 105
        assert (tmp_path / "var" / "broker.sqlite").exists() and (tmp_path / "var" / "autograder.sqlite").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
