"""Faults of our own side, through the service: a worker killed mid-grade, Redis restarted
while jobs wait, the API restarted, two workers handed the same submission."""
from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis

from grader.rubric import SOLUTION
from storage.queue import enqueue
from tests.adversarial.conftest import upload
from tests.api.conftest import Service, free_port, make_service
from tests.conftest import listening, spawn_for_run

REFERENCE = SOLUTION.read_bytes()
SLOW = REFERENCE + b"\nimport time as _t\n_t.sleep(6)\n"  # long enough to be caught running


def attempts(svc: Service, sid: str) -> tuple[int, str]:
    with sqlite3.connect(svc.var_dir / "autograder.sqlite") as db:
        return db.execute("select attempts, worker from submissions where id=?", (sid,)).fetchone()


@pytest.fixture
def fresh(tmp_path: Path, test_checkpoint: Path) -> Iterator[Service]:
    svc = make_service(tmp_path, test_checkpoint, broker="redis")
    try:
        yield svc
    finally:
        svc.stop()


def test_killed_worker_job_is_graded_again_once(fresh: Service) -> None:
    fresh.start_api()
    fresh.start_worker()
    with fresh.client() as c:
        sid = upload(c, "victim", SLOW).json()["id"]
        fresh.wait_for(c, sid, statuses=("running",), timeout=60)
        fresh.kill(fresh.workers[0])  # mid-grade: the worker and its sandbox die
        assert c.get(f"/api/submissions/{sid}").json()["status"] == "running"
        fresh.start_worker("second")
        view = fresh.wait_for(c, sid, timeout=240)
    assert view["status"] == "graded" and view["score"] == 105
    n, worker = attempts(fresh, sid)
    assert n == 2 and worker.startswith("second")


def test_api_restart_keeps_results(fresh: Service) -> None:
    fresh.start_api()
    fresh.start_worker()
    with fresh.client() as c:
        sid = upload(c, "persist", REFERENCE).json()["id"]
        fresh.wait_for(c, sid)
    fresh.kill(fresh.api)
    fresh.start_api()
    with fresh.client() as c:
        assert c.get(f"/api/submissions/{sid}").json()["score"] == 105


def test_two_workers_handed_the_same_id_store_one_result(fresh: Service) -> None:
    fresh.start_api()
    fresh.start_worker("a")
    fresh.start_worker("b")
    with fresh.client() as c:
        sid = upload(c, "twice", SLOW).json()["id"]
        fresh.wait_for(c, sid, statuses=("running",), timeout=60)
        enqueue(fresh.env["AUTOGRADER_BROKER_URL"], sid)  # a duplicate delivery to the idle worker
        view = fresh.wait_for(c, sid, timeout=120)
    assert view["status"] == "graded" and view["score"] == 105
    assert attempts(fresh, sid)[0] == 1  # the second delivery found the claim taken and stopped
    logs = " ".join(p.read_text() for p in fresh.logs)
    assert "skipped: finished or held by a live worker" in logs


def start_redis(port: int, workdir: Path, *, appendonly: bool) -> subprocess.Popen:
    proc = spawn_for_run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "yes" if appendonly else "no", "--dir", str(workdir)],
                         stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not listening(port, timeout=0.5):
        if time.monotonic() > deadline:
            raise RuntimeError("redis-server did not start")
        time.sleep(0.1)
    return proc


@pytest.mark.parametrize("appendonly", [True, False], ids=["append-only", "no-persistence"])
def test_redis_restart_while_jobs_wait_loses_none(fresh: Service, tmp_path: Path, appendonly: bool) -> None:
    port = free_port()
    broker = start_redis(port, tmp_path, appendonly=appendonly)
    fresh.env.update(AUTOGRADER_BROKER_URL=f"redis://127.0.0.1:{port}/0", AUTOGRADER_RESEND_AFTER_S="3")
    try:
        fresh.start_api()  # no worker yet: the jobs wait in Redis
        with fresh.client() as c:
            ids = [upload(c, f"wait{i}", REFERENCE + f"\n# {i}\n".encode()).json()["id"] for i in range(3)]
            r = redis.Redis(port=port)
            deadline = time.monotonic() + 10
            while r.llen("grading") < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert r.llen("grading") == 3
            if appendonly:
                time.sleep(1.5)  # appendfsync everysec
            broker.kill()
            broker.wait()
            broker = start_redis(port, tmp_path, appendonly=appendonly)
            assert r.llen("grading") == (3 if appendonly else 0)
            fresh.start_worker()
            views = [fresh.wait_for(c, sid, timeout=180) for sid in ids]
        assert [v["score"] for v in views] == [105, 105, 105]
        assert [attempts(fresh, sid)[0] for sid in ids] == [1, 1, 1]  # each graded once
        if not appendonly:  # Redis forgot them: the recovery loop sent them again
            assert "re-sent" in " ".join(p.read_text() for p in fresh.logs)
    finally:
        broker.kill()
        broker.wait()
