"""Code that never finishes gets a `timeout` verdict within the limit; the worker moves on."""
from __future__ import annotations

import time

from grader.engine import GradeConfig
from grader.rubric import SOLUTION
from tests.adversarial.conftest import attack, grade, leftovers, upload
from tests.api.conftest import Service


def test_loop_at_import_times_out(config: GradeConfig) -> None:
    t0 = time.monotonic()
    report = grade(attack("import_loop"), config, wall_seconds=5)
    assert time.monotonic() - t0 < 20
    assert report.status == "rejected" and report.error.kind == "timeout"
    assert "5 s" in report.error.message
    assert leftovers() == []


def test_forward_that_sleeps_times_out_and_keeps_the_structure_grade(config: GradeConfig) -> None:
    report = grade(attack("forward_sleeps"), config, wall_seconds=8)
    assert report.error.kind == "timeout" and report.sandbox["status"] == "timeout"
    assert report.status == "graded" and report.score == 105  # blocks and tree were judged before forward
    assert not report.checks.shapes.ok
    assert leftovers() == []


def test_worker_takes_the_next_job_after_a_timeout(service: Service, client) -> None:
    looping = upload(client, "looper", attack("import_loop")).json()["id"]
    honest = upload(client, "honest", SOLUTION.read_bytes()).json()["id"]
    view = service.wait_for(client, looping, timeout=120)
    assert view["status"] == "rejected" and view["report"]["error"]["kind"] == "timeout"
    assert "10 s" in view["report"]["error"]["message"]  # AUTOGRADER_CHECK_TIMEOUT_S of this service
    assert service.wait_for(client, honest, timeout=120)["score"] == 105
