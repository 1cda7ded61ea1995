"""Tens of GB asked for at import or in forward: a `memory_limit` verdict; all else survives."""
from __future__ import annotations

import psutil

from grader.engine import GradeConfig
from grader.rubric import SOLUTION
from tests.adversarial.conftest import attack, fresh_copy, grade, leftovers, upload
from tests.api.conftest import Service


def test_memory_at_import_is_memory_limit(config: GradeConfig) -> None:
    report = grade(attack("import_memory"), config, memory_bytes=2 << 30)
    assert report.status == "rejected" and report.error.kind == "memory_limit"
    assert "2 GiB" in report.error.message
    assert leftovers() == []


def test_memory_in_forward_keeps_the_structure_grade(config: GradeConfig) -> None:
    report = grade(attack("forward_memory"), config, memory_bytes=2 << 30)
    assert report.error.kind == "memory_limit" and "2 GiB" in report.error.message
    # The blocks were checked as programs before forward ran (40); the model's items, judged
    # from the child's report since its export never came, are self-reported (65).
    assert report.status == "graded" and (report.score, report.provisional_score) == (40, 65)
    assert report.checks.shapes.error is not None and not report.checks.shapes.ok


def test_worker_survives_a_memory_hog(service: Service, client) -> None:
    hog = upload(client, "hog", attack("import_memory")).json()["id"]
    view = service.wait_for(client, hog, timeout=120)
    assert view["status"] == "rejected" and view["report"]["error"]["kind"] == "memory_limit"
    assert "2 GiB" in view["report"]["error"]["message"]  # AUTOGRADER_MEMORY_LIMIT_MB of this service
    worker = psutil.Process(service.workers[0].pid)
    assert worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE
    after = upload(client, "after-hog", fresh_copy(SOLUTION.read_bytes(), "after-hog")).json()["id"]
    assert service.wait_for(client, after, timeout=120)["score"] == 105
