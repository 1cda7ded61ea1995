"""Pre-started sandboxes (grader/prestart.py): as fresh as a new one, one job each, their
limits counted from the job."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from grader import prestart
from grader.engine import GradeConfig, grade_bytes
from grader.rubric import SOLUTION
from grader.sandbox import Limits, start_sandbox

PROBE = b"import os\nprint('NICE', os.nice(0))\nSEEN = sorted(os.listdir('/submission'))\nprint('SEEN', SEEN)\n"


@pytest.fixture
def pool() -> Iterator[prestart.Prestarter]:
    own = prestart.Prestarter()
    yield own
    own.close()


def _start(limits: Limits = Limits(wall_seconds=60)):  # noqa: B008
    return lambda nice=0: start_sandbox(inputs={}, limits=limits, nice=nice)


def _run(started, tmp_path: Path, source: bytes = PROBE):
    path = tmp_path / "resnet50_skeleton.py"
    path.write_bytes(source)
    return started.run(submission=path, job={"blocks": []})


def test_each_sandbox_runs_one_job_and_the_next_is_another_process(pool: prestart.Prestarter, tmp_path: Path) -> None:
    first = pool.take("k", _start(), refill=True)
    outcome = _run(first, tmp_path)
    assert outcome.status == "ok", outcome.reason
    with pytest.raises(AssertionError):
        _run(first, tmp_path)  # used: it is gone, not handed out again
    waiting = pool._waiting["k"].result()
    assert psutil.Process(waiting.proc.pid).nice() == prestart.BACKGROUND_NICE  # idle CPU only, while it waits
    # nice alone does not rank it below other sessions' work (autogroup): its CPU group is idle too.
    if waiting.cgroup is not None and waiting.cgroup.cpu is not None:  # a cpu controller here
        assert waiting.cgroup.is_idle() is True
    second = pool.take("k", _start())
    assert second is waiting and second.proc.pid != first.proc.pid
    during: list[bool | None] = []  # the CPU group's state while the job runs
    path = tmp_path / "resnet50_skeleton.py"
    path.write_bytes(PROBE)
    again = second.run(submission=path, job={"blocks": []},
                       on_message=lambda m: during.append(second.cgroup.is_idle() if second.cgroup else None))
    assert again.status == "ok"
    assert "NICE 0" in again.log  # its job runs at the grader's priority
    assert during and not any(during)  # ... and with a normal share of the CPU
    # The job's folder holds this job's file only: nothing of the earlier run is visible.
    assert "SEEN ['job.json', 'resnet50_skeleton.py', 'start.json']" in again.log


def test_a_waiting_sandbox_that_died_is_replaced(pool: prestart.Prestarter, tmp_path: Path) -> None:
    pool.refill("k", _start())
    waiting = pool._waiting["k"].result()
    for proc in psutil.Process(waiting.proc.pid).children(recursive=True) + [psutil.Process(waiting.proc.pid)]:
        proc.kill()
    waiting.proc.wait(timeout=10)
    started = pool.take("k", _start())
    assert started is not waiting
    assert _run(started, tmp_path).status == "ok"


def test_the_time_limit_counts_from_the_job_not_from_the_start(pool: prestart.Prestarter, tmp_path: Path) -> None:
    started = pool.take("k", _start(Limits(wall_seconds=4)))
    time.sleep(5)  # waited longer than the limit before its job
    outcome = _run(started, tmp_path)
    assert outcome.status == "ok", outcome.reason


def test_a_prestarted_grade_equals_one_started_on_demand(config: GradeConfig) -> None:
    data = SOLUTION.read_bytes()
    fixed = dataclasses.replace(config, draw_seed=11)
    try:
        warm = dataclasses.replace(fixed, prestart=True)
        reports = [grade_bytes(data, filename="resnet50_skeleton.py", config=warm) for _ in range(2)]
    finally:
        prestart.pool().close()
    cold = grade_bytes(data, filename="resnet50_skeleton.py", config=fixed)
    for report in reports:
        assert report.score == cold.score == 105
        assert [i.model_dump() for i in report.items] == [i.model_dump() for i in cold.items]
        assert report.trust.programs == {"model": None, "downsample": None, "no_downsample": None}
