"""The service as real processes: uvicorn, Celery workers, Redis or the embedded broker, SQLite on disk."""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.conftest import TEST_REDIS_DB, listening, service_cache_dir, spawn_for_run

REPO = Path(__file__).resolve().parents[2]
# Databases of the local Redis that only these tests use (this one, +1 for the course tests,
# +2 for the remote workers'); several checkouts testing on one machine at once each set their
# own base (their workers would otherwise take each other's jobs).
REDIS_DB = TEST_REDIS_DB  # tests/conftest.py: this worker's own, under pytest-xdist


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    var_dir: Path
    env: dict[str, str]
    port: int
    api: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": 30, **kw})

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.var_dir / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        return spawn_for_run([sys.executable, *args], cwd=REPO, env=self.env, stdout=log.open("wb"),
                             stderr=subprocess.STDOUT)

    def start_api(self) -> None:
        self.api = self._spawn("api", ["-m", "uvicorn", "api.main:app_from_env", "--factory", "--no-proxy-headers",
                                       "--port", str(self.port), "--log-level", "warning"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the API did not start: " + self.logs[-1].read_text()[-2000:])

    def start_worker(self, name: str = "w") -> subprocess.Popen:
        proc = self._spawn("worker", ["-m", "celery", "-A", "worker.app", "worker", "-Q", "grading",
                                      "--concurrency", "1", "--loglevel", "INFO", "-n", f"{name}{len(self.workers)}@%h",
                                      "--without-gossip", "--without-mingle"])
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the process and everything it started (pool children, sandboxes); not once it
        has been reaped, when its number may be a new process group's (another test's sandbox)."""
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)

    @contextmanager
    def running(self) -> Iterator["Service"]:
        """The API and one worker, stopped (killed) on the way out."""
        try:
            self.start_api()
            self.start_worker()
            yield self
        finally:
            self.stop()

    def stop(self) -> None:
        for proc in [*self.workers, *([self.api] if self.api else [])]:
            if proc.poll() is None:
                self.kill(proc)

    def wait_for(self, client: httpx.Client, sid: str, statuses=("graded", "rejected", "failed"),
                 timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = client.get(f"/api/submissions/{sid}").json()
            if view["status"] in statuses:
                return view
            time.sleep(0.3)
        raise AssertionError(f"{sid} still {view['status']} after {timeout} s; logs: "
                             + " | ".join(p.read_text()[-1500:] for p in self.logs))

    def token(self) -> str:
        out = subprocess.run([sys.executable, "-m", "service.cli", "token", "create", f"ta-{time.time_ns()}"],
                             cwd=REPO, env=self.env, capture_output=True, text=True, check=True)
        return out.stdout.strip()


def make_service(tmp_path: Path, test_checkpoint: Path, *, broker: str) -> Service:
    var = tmp_path / "var"
    var.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "AUTOGRADER_VAR_DIR": str(var),
           # The run's, not the user's ~/.cache: the reference's expectations computed once a run.
           "AUTOGRADER_CACHE_DIR": str(service_cache_dir()),
           "AUTOGRADER_SKIP_TRAINING": "true", "AUTOGRADER_CHECKPOINT": str(test_checkpoint),
           "AUTOGRADER_THREADS": "1", "AUTOGRADER_HEARTBEAT_TIMEOUT_S": "6",
           "AUTOGRADER_RECOVERY_INTERVAL_S": "1", "AUTOGRADER_STUDENT_RATE_PER_HOUR": "5",
           # The service's 10 s structure limit assumes a host of its own; test machines run
           # several suites at once, where an honest check took 25 s.
           "AUTOGRADER_CHECK_TIMEOUT_S": "60", "AUTOGRADER_IMPORT_TIMEOUT_S": "60"}
    if broker == "redis":
        import redis

        redis.Redis(db=REDIS_DB).flushdb()
        env["AUTOGRADER_BROKER_URL"] = f"redis://127.0.0.1:6379/{REDIS_DB}"
    else:
        env.pop("AUTOGRADER_BROKER_URL", None)
    return Service(var_dir=var, env=env, port=free_port())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, test_checkpoint: Path) -> Iterator[Service]:
    """API + one worker on the local Redis, one per module (a start is an API, a worker and its
    warm fork servers: seconds of CPU). Its tests upload as students of their own and count
    what they add, so they do not depend on one another's order."""
    if not listening(6379):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    with make_service(tmp_path_factory.mktemp("service"), test_checkpoint, broker="redis").running() as svc:
        yield svc


def small_course(tmp_path: Path, **settings: Any) -> tuple[Any, Any, dict[str, str], str]:
    """An in-process app with a two-student roster (A1, B2) and one upload of A1's: (app, its
    settings, each student's sign-in path, the upload's id). `settings` override the defaults."""
    from api.main import create_app
    from grader.rubric import SOLUTION
    from service.settings import ServiceSettings
    from storage import course
    from storage.db import session_scope
    from storage.service import record_submission

    config = ServiceSettings(**{"var_dir": tmp_path / "var", "database_url": None, "broker_url": None,
                                "access_code": None, "data_dir": None, "skip_training": True, **settings})
    app = create_app(config)
    data = SOLUTION.read_bytes()
    with session_scope(config.resolved_database_url()) as s:
        issued = course.import_roster(s, rows=[{"student_id": "A1", "name": "Ann", "email": "a@x.edu"},
                                               {"student_id": "B2", "name": "Bo", "email": "b@x.edu"}])
        a = course.default_assignment(s, name=None)
        sid = record_submission(s, student_id="A1", filename="resnet50_skeleton.py", data=data,
                                sha256=hashlib.sha256(data).hexdigest(), skip_training=True, assignment_id=a.id,
                                student_pk=course.get_student(s, student_id="A1").id).id
    return app, config, {i.student_id: f"/signin/{i.token}" for i in issued}, sid
