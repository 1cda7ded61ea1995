"""`autograder serve`: the README's one-machine start, with no Redis and no database server."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from fastapi.testclient import TestClient

from api.main import create_app
from bench._service import free_port, running_service, start_serve
from grader.rubric import SOLUTION
from service.cli import startup_line
from service.settings import ServiceSettings


def test_serve_runs_page_api_and_worker_without_services(test_checkpoint: Path) -> None:
    # The check timeout is generous here: this test is about serve, not about a slow shared CPU.
    env = {"AUTOGRADER_CHECKPOINT": str(test_checkpoint), "AUTOGRADER_ACCESS_CODE": "cnn-2026",
           "AUTOGRADER_CHECK_TIMEOUT_S": "60",
           "AUTOGRADER_THREADS": "1", "AUTOGRADER_STUDENT_RATE_PER_HOUR": "30"}
    with running_service(broker=None, extra_env=env) as (url, var), httpx.Client(base_url=url, timeout=30) as c:
        page = c.get("/").text
        assert 'name="access_code"' in page  # the page asks for the code
        # No data set: the page and serve's first lines say accuracy is not measured, and why.
        assert 'id="no-accuracy"' in page and "no CIFAR-10 data" in page and "AUTOGRADER_" not in page
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


@pytest.mark.parametrize("case", ["no data", "missing folder", "skip training", "data"])
def test_the_page_and_the_startup_line_say_when_accuracy_is_not_measured_and_why(tmp_path: Path, case: str) -> None:
    data = tmp_path / "cifar"
    if case != "missing folder":
        data.mkdir()
    settings = ServiceSettings(var_dir=tmp_path / "var", database_url=None, broker_url=None, access_code=None,
                               data_dir=None if case == "no data" else data, skip_training=case == "skip training")
    why = {"no data": "AUTOGRADER_DATA_DIR is not set", "missing folder": f"{data} (AUTOGRADER_DATA_DIR) does not exist",
           "skip training": "AUTOGRADER_SKIP_TRAINING is set", "data": None}[case]
    line = startup_line(settings, 1).splitlines()[1]
    with TestClient(create_app(settings)) as c:
        page = c.get("/").text
    if why is None:
        assert f"scores out of 115, accuracy measured on {data}" in line and 'id="no-accuracy"' not in page
    else:  # the operator reads the setting; a student reads words, never a variable name
        assert "scores out of 105: accuracy NOT measured" in line and why in line, line
        assert 'id="no-accuracy"' in page and "Accuracy is not measured on this server" in page
        assert "AUTOGRADER_" not in page and why not in page


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_its_workers_on_a_signal(tmp_path: Path, test_checkpoint: Path, sig: int) -> None:
    """`kill -TERM` (or Ctrl-C) on serve alone, not on its group, leaves no grading worker behind."""
    proc = start_serve(tmp_path, port=free_port(), extra_env={"AUTOGRADER_CHECKPOINT": str(test_checkpoint)})
    try:
        deadline = time.monotonic() + 60
        while not (workers := [p for p in psutil.Process(proc.pid).children(recursive=True)
                               if "celery" in " ".join(p.cmdline())]):
            assert time.monotonic() < deadline, "serve started no worker"
            time.sleep(0.2)
        log = tmp_path / "serve.log"
        while " ready." not in log.read_text():  # the pool's children are up: the case that logged an ERROR
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        family = [w for top in workers for w in (top, *top.children(recursive=True))]
        tops = [w for w in workers if w.ppid() == proc.pid]
        assert tops, "serve's own children are not its workers"
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=60)
        # serve itself stops and reaps the workers it started before it exits (not PR_SET_PDEATHSIG after it died)
        left = [w.pid for w in tops if w.is_running()]
        assert not left and code == 0, (code, left, (tmp_path / "serve.log").read_text()[-2000:])
        gone, alive = psutil.wait_procs(family, timeout=15)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], (tmp_path / "serve.log").read_text()[-2000:]
        # A clean stop: Celery ends its own pool (warm shutdown), nothing kills the pool's children under it.
        text = log.read_text()
        assert "exited with 'signal" not in text and "ERROR" not in text, text[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_serve_puts_the_grading_worker_in_a_cpu_group_of_lower_weight(tmp_path: Path, test_checkpoint: Path) -> None:
    """The whole worker (main process and pool child) runs in serve's CPU group with
    AUTOGRADER_WORKER_CPU_WEIGHT (v1: cpu.shares = weight * 1024 / 100); the API stays outside."""
    proc = start_serve(tmp_path, port=free_port(), extra_env={"AUTOGRADER_CHECKPOINT": str(test_checkpoint),
                                                              "AUTOGRADER_WORKER_CPU_WEIGHT": "7"})
    try:
        root = Path("/sys/fs/cgroup")
        v2 = (root / "cgroup.controllers").exists()
        group = root / f"autograder-worker-{proc.pid}" if v2 else root / "cpu" / f"autograder-worker-{proc.pid}"
        if not group.parent.is_dir() or not os.access(group.parent, os.W_OK):
            assert "nice 10 only" in (tmp_path / "serve.log").read_text()  # said so, and nice is what is left
            pytest.skip("no writable cgroup on this machine")
        deadline = time.monotonic() + 60
        log = tmp_path / "serve.log"
        while " ready." not in log.read_text():  # the pool's child is up too
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        weight = (group / ("cpu.weight" if v2 else "cpu.shares")).read_text().strip()
        assert weight == ("7" if v2 else str(7 * 1024 // 100))
        members = {int(p) for p in (group / "cgroup.procs").read_text().split()}
        family = [p for p in psutil.Process(proc.pid).children(recursive=True) if "celery" in " ".join(p.cmdline())]
        assert len(family) >= 2 and {p.pid for p in family} <= members, (family, members)
        assert proc.pid not in members  # the API keeps the machine's default weight
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
