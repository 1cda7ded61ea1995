"""bench.suite_cpu gives each process's CPU to the test its worker ran, by descent."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.suite_cpu import HZ, Sample, attribute, busy_seconds, idle_windows, read_timeline, role_of, worker_tails

REPO = Path(__file__).resolve().parents[2]
WORKER, CONTROLLER = 100, 50


def timeline() -> dict[int, list[tuple[float, float, str]]]:
    return read_timeline([
        f"10.0 {CONTROLLER} start tests/a.py::t1@tests/a.py", f"10.0 {WORKER} start tests/a.py::t1@tests/a.py",
        f"20.0 {WORKER} end tests/a.py::t1@tests/a.py", f"20.0 {CONTROLLER} end tests/a.py::t1@tests/a.py",
        f"30.0 {WORKER} start tests/b.py::t2", f"40.0 {WORKER} end tests/b.py::t2",
    ])


def test_the_timeline_pairs_each_start_with_its_end_per_process() -> None:
    runs = timeline()
    assert runs[WORKER] == [(10.0, 20.0, "tests/a.py::t1"), (30.0, 40.0, "tests/b.py::t2")]
    assert runs[CONTROLLER] == [(10.0, 20.0, "tests/a.py::t1")]


def test_cpu_goes_to_the_test_the_ancestor_worker_ran() -> None:
    def s(t: float, pid: int, ppid: int, seconds: float, name: str = "python", started: int = 1) -> Sample:
        return Sample(t, pid, ppid, int(seconds * HZ), started, name)

    samples = [
        s(5.0, WORKER, CONTROLLER, 3.0),            # there before the first sample: only what it uses after
        s(5.0, 7, 1, 9.0, "kdamond"),               # not under a worker
        s(12.0, WORKER, CONTROLLER, 4.0),           # +1 s in t1
        s(12.0, 200, WORKER, 2.0),                  # a service started in t1: all of its 2 s
        s(15.0, 201, 200, 0.5, "bwrap"),            # the service's sandbox ...
        s(15.0, 202, 201, 1.5),                     # ... and the Python under it
        s(20.5, 200, WORKER, 3.0),                  # +1 s within the grace after t1's end
        s(25.0, 200, WORKER, 4.0),                  # +1 s between tests
        s(35.0, 202, 201, 2.0, started=9),          # a reused pid: another process, all of its 2 s
        s(36.0, 7, 1, 10.0, "kdamond"),             # +1 s, the machine's own
    ]
    server = "python -s -B /opt/autograder/child/main.py /submission 4 --fork-server"
    commands = {("200", 1): "python -m celery -A worker.app worker -Q grading", ("201", 1): "bwrap --unshare-all " + server,
                ("202", 1): server, ("202", 9): server}
    found = attribute(samples, timeline(), commands={(int(p), st): c for (p, st), c in commands.items()})
    assert found["role"] == {"pytest worker": 1, "Celery": 4, "bubblewrap": 0.5, "structure sandbox fork server": 1.5 + 2}
    assert found["test"] == {"tests/a.py::t1": 1 + 2 + 0.5 + 1.5 + 1, "(between tests)": 1, "tests/b.py::t2": 2}
    assert found["module"]["tests/a.py"] == 6 and found["module"]["tests/b.py"] == 2
    assert found["kind"] == {"pytest worker": 1, "other": 4, "sandbox": 4, "unattributed": 1}
    assert found["module and role"] == {"tests/a.py  [pytest worker]": 1, "tests/a.py  [Celery]": 2 + 1,
                                        "tests/a.py  [bubblewrap]": 0.5, "tests/a.py  [structure sandbox fork server]": 1.5,
                                        "(between tests)  [Celery]": 1, "tests/b.py  [structure sandbox fork server]": 2}


def test_idle_is_summed_per_window_and_each_workers_wait_at_the_end() -> None:
    def stat(idle_s: float, iowait_s: float = 0) -> list[int]:
        return [0, 0, 0, round(idle_s * HZ), round(iowait_s * HZ), 0, 0, 0]

    machine = [(0.0, stat(0)), (30.0, stat(10)), (60.0, stat(12, 1)), (90.0, stat(40, 1)), (100.0, stat(45, 1))]
    assert idle_windows(machine, window=60) == [(0.0, 13.0), (60.0, 33.0)]
    assert idle_windows([]) == []
    assert worker_tails(timeline()) == {WORKER: 0.0, CONTROLLER: 20.0}


def test_busy_seconds_leave_out_idle_and_iowait() -> None:
    before = [100, 0, 100, 1000, 50, 0, 0, 0]
    after = [100 + 2 * HZ, 0, 100 + HZ, 1000 + 5 * HZ, 50 + HZ, 0, 0, 0]
    assert busy_seconds(before, after) == 3


def test_a_run_on_two_quick_modules_prints_its_figures() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.suite_cpu", "--top", "5", "--", "-n", "0",
                           "-p", "no:cacheprovider", "tests/grader/test_augment.py", "tests/bench/test_suite_cpu.py::"
                           "test_the_timeline_pairs_each_start_with_its_end_per_process"],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["bench"] == "suite_cpu" and out["pytest_exit"] == 0 and out["busy_cpu_s"] > 0
    assert out["attributed_cpu_s"] > 0 and "tests/grader/test_augment.py" in out["top_modules"]
    assert out["idle_per_minute"] and all(idle >= 0 for idle in out["idle_per_minute"]) and out["tails_s"]
    assert "CPU seconds by module and role:" in proc.stdout and "Idle CPU seconds per minute" in proc.stdout


def test_roles_tell_fork_servers_from_their_forks() -> None:
    server = "python -s -B /opt/autograder/grader/verify_main.py /submission 5 --fork-server"
    assert role_of(server, "bwrap --unshare-all " + server) == "verifier fork server"
    assert role_of(server, server) == "verifier fork"
    assert role_of("python -s -B /opt/autograder/child/main.py /submission 4 --warm-up", None) == "structure sandbox"
    assert role_of("python -s -B /opt/autograder/child/main.py /s 4 --warm-up=train", "bwrap") == "training sandbox"
    assert role_of("python -m uvicorn api.main:app_from_env --factory", None) == "uvicorn"
    assert role_of("sleep 1", None) == "other"
