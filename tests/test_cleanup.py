"""A test run that dies leaves nothing running: what it started in sessions of its own (API,
Celery workers, a Redis) goes with it, even when the run is SIGKILLed (tests/conftest.py)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
RUN = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.conftest import spawn_for_run
proc = spawn_for_run([sys.executable, "-c", "import time; time.sleep(120)"])
print(proc.pid, flush=True)
time.sleep(120)
"""


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_what_a_run_started_dies_with_it(how: signal.Signals) -> None:
    run = subprocess.Popen([sys.executable, "-c", RUN.format(repo=str(REPO))], stdout=subprocess.PIPE, text=True)
    try:
        started = int(run.stdout.readline())  # type: ignore[union-attr]
        assert psutil.pid_exists(started)
        run.send_signal(how)
        run.wait(timeout=10)
        assert _gone(started), f"a process the run started outlived it ({how.name})"
    finally:
        run.kill()


def test_sigterm_still_ends_the_run() -> None:
    """The run's SIGTERM handler cleans up and then dies of SIGTERM, as without it."""
    run = subprocess.Popen([sys.executable, "-c", RUN.format(repo=str(REPO))], stdout=subprocess.PIPE, text=True)
    try:
        run.stdout.readline()  # type: ignore[union-attr]
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=10) == -signal.SIGTERM
    finally:
        run.kill()


def test_a_process_started_from_another_thread_outlives_that_thread() -> None:
    """PR_SET_PDEATHSIG fires when the starting *thread* ends: a worker a bench restarts from a
    helper thread must not be stopped when that thread returns."""
    import threading

    sys.path.insert(0, str(REPO))
    from tests.conftest import spawn_for_run

    started: list[subprocess.Popen] = []
    helper = threading.Thread(target=lambda: started.append(
        spawn_for_run([sys.executable, "-c", "import time; time.sleep(30)"])))
    helper.start()
    helper.join()
    try:
        time.sleep(1)
        assert started[0].poll() is None, "the process died with the thread that started it"
    finally:
        started[0].kill()
        started[0].wait()
