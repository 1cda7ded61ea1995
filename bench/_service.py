"""Start `autograder serve` (API + worker) in a temp folder for a benchmark, and stop it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

from bench._common import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(var: Path, *, port: int, workers: int = 1, api_processes: int = 1, broker: str | None = None,
                extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """`autograder serve` in its own session (so a test can signal it alone or its whole group),
    logging to var/serve.log; returns once /healthz answers."""
    # The caller's AUTOGRADER_ settings do not leak in, but for the grading threads: a test run gives
    # each of its workers its share of the cores (tests/conftest.py).
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER_") or k == "AUTOGRADER_THREADS"}
    env.update({"PYTHONPATH": str(REPO), "AUTOGRADER_VAR_DIR": str(var), "AUTOGRADER_STUDENT_RATE_PER_HOUR": "100000",
                **({"AUTOGRADER_BROKER_URL": broker} if broker else {}), **(extra_env or {})})
    log = open(var / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port),
                             "--workers", str(workers), "--api-processes", str(api_processes)], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                os.killpg(proc.pid, signal.SIGKILL)
                raise RuntimeError((var / "serve.log").read_text()[-2000:])
            time.sleep(0.2)


@contextmanager
def running_service(*, workers: int = 1, api_processes: int = 1, broker: str | None = "default",
                    extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, Path]]:
    """Yields the base URL and the var folder. broker="default": the local Redis's database
    AUTOGRADER_BENCH_REDIS_DB (8 unless set; the test suite gives each of its workers one), flushed
    first; broker=None embeds one."""
    if broker == "default":
        broker = default_broker()
    if broker and broker.startswith("redis://"):
        import redis

        redis.Redis.from_url(broker).flushdb()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        proc = start_serve(Path(tmp), port=port, workers=workers, api_processes=api_processes, broker=broker,
                           extra_env=extra_env)
        try:
            yield f"http://127.0.0.1:{port}", Path(tmp)
        finally:
            stop_serve(proc)


def default_broker() -> str:
    return f"redis://127.0.0.1:6379/{int(os.environ.get('AUTOGRADER_BENCH_REDIS_DB', '8'))}"


def stop_serve(proc: subprocess.Popen) -> None:
    """SIGTERM serve's process group (it stops its workers), SIGKILL it after 40 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
