"""Code that never finishes gets a `timeout` verdict within the limit; the worker moves on."""
from __future__ import annotations

import time

from grader.engine import GradeConfig
from grader.rubric import SOLUTION
from tests.adversarial.conftest import attack, fresh_copy, grade, leftovers, upload
from tests.api.conftest import Service


def test_loop_at_import_times_out(config: GradeConfig) -> None:
    t0 = time.monotonic()
    report = grade(attack("import_loop"), config, wall_seconds=5)
    assert time.monotonic() - t0 < 20
    assert report.status == "rejected" and report.error.kind == "timeout"
    assert "5 s" in report.error.message
    assert leftovers() == []


def test_forward_that_sleeps_times_out_and_keeps_the_structure_grade(config: GradeConfig) -> None:
    report = grade(attack("forward_sleeps"), config, wall_seconds=20)  # room for the block exports first
    assert report.error.kind == "timeout" and report.sandbox["status"] == "timeout"
    # The blocks were checked as programs before forward ran (40); the model, whose forward
    # never finished, is judged from the child's report and self-reported (65).
    assert report.status == "graded" and (report.score, report.provisional_score) == (40, 65)
    assert not report.checks.shapes.ok
    assert leftovers() == []


def test_worker_takes_the_next_job_after_a_timeout(service: Service, client) -> None:
    looping = upload(client, "looper", attack("import_loop")).json()["id"]
    honest = upload(client, "honest", fresh_copy(SOLUTION.read_bytes(), "honest")).json()["id"]
    view = service.wait_for(client, looping, timeout=120)
    assert view["status"] == "rejected" and view["report"]["error"]["kind"] == "timeout"
    assert "5 s to import" in view["report"]["error"]["message"]  # AUTOGRADER_IMPORT_TIMEOUT_S of this service
    assert service.wait_for(client, honest, timeout=120)["score"] == 105


def test_a_sleeping_import_is_cut_at_the_import_limit(config: GradeConfig) -> None:
    """The import has its own, shorter limit: the checks after it keep the whole wall limit."""
    started = time.perf_counter()
    report = grade(attack("import_loop"), config, wall_seconds=120, import_seconds=3)
    assert report.error.kind == "timeout" and "3 s to import" in report.error.message
    assert time.perf_counter() - started < 60
