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
    """Busy loops pinned to one CPU, started and asleep until a byte on their stdin: a deadline
    rush, on one core, that begins the moment the test says so."""
    import subprocess
    import sys

    code = f"import os, sys; os.sched_setaffinity(0, {{{cpu}}}); sys.stdin.buffer.read(1)\nwhile True: pass"
    return [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE) for _ in range(n)]


def test_time_waiting_for_a_busy_cpu_does_not_count(tmp_path: Path) -> None:
    """4 CPU-seconds of work under a 7 s limit, sharing one core with two busy loops (8-14 s of
    wall time: the sandbox's own CPU group gets a half or a third of the core): the run-queue
    wait is not the job's, so it finishes past its limit; a job that sleeps on the same busy
    core waits for no CPU while asleep and is still cut near its limit (were sleep counted as
    waiting, it would run to the 3 x 7 s cap). The busy loops start when the child says torch is
    loaded ("ready"), so the slowed work is the file's: torch's import before it took 0.6 s of
    own CPU on the Intel host and up to 1.6 s on the AMD one, and the margins hold for both."""
    import os

    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 4.0:\n    pass\n"
    before = os.sched_getaffinity(0)

    def run_among_hogs(source: str) -> sandbox.Outcome:
        path = tmp_path / "resnet50_skeleton.py"
        path.write_text(source)
        hogs = _hogs(2, 0)

        def wake_hogs_at_ready(msg: dict) -> None:
            if msg.get("type") == "ready":
                for h in hogs:
                    h.stdin.write(b"x")
                    h.stdin.flush()

        try:
            return run_sandboxed(submission=path, job={"blocks": []}, inputs={}, limits=Limits(wall_seconds=7),
                                 on_message=wake_hogs_at_ready)
        finally:
            for h in hogs:
                h.kill()
                h.wait()

    try:
        os.sched_setaffinity(0, {0})  # the sandbox started from here runs on the hogs' core
        busy = run_among_hogs(burn)
        asleep = run_among_hogs("import time\ntime.sleep(20)\n")
    finally:
        os.sched_setaffinity(0, before)
    assert busy.status == "ok", (busy.reason, busy.wall_seconds)
    assert busy.wall_seconds > 7  # it ran past its limit: the waiting was not counted
    assert asleep.status == "timeout" and asleep.wall_seconds < 12, (asleep.reason, asleep.wall_seconds)


def test_our_own_process_dying_is_not_put_on_the_student() -> None:
    """A trusted run (our verifier on data, no student file) that dies says so; only a run of the
    student's file asks whether the file called os._exit (issue 25: never blame the student)."""
    ours = run_sandboxed(submission=None, job={"programs": "not a list"}, inputs={}, limits=Limits(wall_seconds=30),
                         entry="verify")
    assert ours.status == "crashed" and "grader's own checking process" in ours.reason
    assert "your file call" not in ours.reason


def test_a_sandbox_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    """bubblewrap's --die-with-parent follows the thread that started it: a verifier started
    ahead in a helper thread was killed when that thread ended, and its grade lost every
    verification (a reference file scored 0 in CI). A sandbox lives until its job is done or
    the grader process ends, whichever thread started it."""
    import threading
    import time

    import psutil

    started: list[sandbox.Started] = []

    def start_then_end() -> None:
        box = sandbox.start_sandbox(inputs={}, limits=Limits(wall_seconds=30))
        started.append(box)
        deadline = time.monotonic() + 30  # until bwrap has set itself up (and its death signal) and runs Python
        while time.monotonic() < deadline and not any(
                "python" in " ".join(p.cmdline()) for p in psutil.Process(box.proc.pid).children(recursive=True)):
            time.sleep(0.05)

    helper = threading.Thread(target=start_then_end)
    helper.start()
    helper.join()
    time.sleep(0.5)
    box = started[0]
    try:
        assert box.alive(), f"the sandbox died with the thread that started it (exit {box.proc.poll()})"
        path = tmp_path / "resnet50_skeleton.py"
        path.write_text("x = 1\n")
        out = box.run(submission=path, job={"blocks": []})
        assert out.status == "ok" and out.exit_code == 0, (out.status, out.reason)
    finally:
        box.close()
