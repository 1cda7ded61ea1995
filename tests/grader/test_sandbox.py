"""The sandbox's limits and isolation, each told apart by its verdict."""
from __future__ import annotations

from pathlib import Path

import pytest

from grader import sandbox
from grader.sandbox import Limits, SandboxUnavailable, run_sandboxed


def run(tmp_path: Path, source: str, seen: list | None = None, **limits) -> sandbox.Outcome:
    path = tmp_path / "resnet50_skeleton.py"
    path.write_text(source)
    return run_sandboxed(submission=path, job={"blocks": []}, inputs={},
                         limits=Limits(**{"wall_seconds": 30, **limits}),
                         on_message=None if seen is None else seen.append)


def test_clean_file_runs_ok(tmp_path: Path) -> None:
    seen: list = []
    out = run(tmp_path, "x = 1\n", seen)
    assert out.status == "ok" and out.exit_code == 0
    assert [m["type"] for m in seen][:3] == ["ready", "import", "definitions"]


def test_infinite_loop_is_a_timeout(tmp_path: Path) -> None:
    out = run(tmp_path, "while True:\n    pass\n", wall_seconds=3)
    assert out.status == "timeout" and "3 s" in out.reason
    assert out.wall_seconds < 10


def test_memory_hog_is_memory_limit(tmp_path: Path) -> None:
    out = run(tmp_path, "x = bytearray(4 << 30)\nx[::4096] = b'1' * len(x[::4096])\n",
              memory_bytes=1 << 30)
    assert out.status == "memory_limit" and "1 GiB" in out.reason


def test_exit_at_import_is_crashed(tmp_path: Path) -> None:
    out = run(tmp_path, "import os\nos._exit(0)\n")
    assert out.status == "crashed" and "os._exit" in out.reason


def test_missing_bubblewrap_refuses_without_unsafe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: None)
    path = tmp_path / "resnet50_skeleton.py"
    path.write_text("x = 1\n")
    with pytest.raises(SandboxUnavailable, match="--unsafe-no-sandbox"):
        run_sandboxed(submission=path, job={}, inputs={}, limits=Limits())
    out = run_sandboxed(submission=path, job={"blocks": []}, inputs={}, limits=Limits(), allow_unsafe=True)
    assert out.status == "ok" and out.isolation == "none (unsafe)"


def _hogs(n: int, cpu: int) -> list:
    """Busy loops pinned to one CPU: a deadline rush, on one core."""
    import subprocess
    import sys

    return [subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
            for _ in range(n)]


def test_time_waiting_for_a_busy_cpu_does_not_count(tmp_path: Path) -> None:
    """1.5 CPU-seconds of work under a 3 s limit, sharing one core with two busy loops (~5 s of
    wall time): the run-queue wait is not the job's, so it finishes; a job that sleeps on the
    same busy core waits for no CPU while asleep and is still cut near its limit. (Its start,
    Python importing on the busy core, does wait: CI saw 2 s of that credited, 5.5 s in all;
    were sleep counted as waiting, it would run to the 3 x 3 s cap.)"""
    import os

    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.5:\n    pass\n"
    before = os.sched_getaffinity(0)
    hogs = _hogs(2, 0)
    try:
        os.sched_setaffinity(0, {0})  # the sandbox started from here runs on the hogs' core
        busy = run(tmp_path, burn, wall_seconds=3)
        asleep = run(tmp_path, "import time\ntime.sleep(20)\n", wall_seconds=3)
    finally:
        os.sched_setaffinity(0, before)
        for h in hogs:
            h.kill()
            h.wait()
    assert busy.status == "ok", (busy.reason, busy.wall_seconds)
    assert busy.wall_seconds > 3.5  # it did wait: the test made the host busy
    assert asleep.status == "timeout" and asleep.wall_seconds < 7.5, (asleep.reason, asleep.wall_seconds)


def test_our_own_process_dying_is_not_put_on_the_student() -> None:
    """A trusted run (our verifier on data, no student file) that dies says so; only a run of the
    student's file asks whether the file called os._exit (issue 25: never blame the student)."""
    ours = run_sandboxed(submission=None, job={"programs": "not a list"}, inputs={}, limits=Limits(wall_seconds=30),
                         entry="verify")
    assert ours.status == "crashed" and "grader's own checking process" in ours.reason
    assert "your file call" not in ours.reason
