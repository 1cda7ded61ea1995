"""A fork bomb and thousands of threads hit the process cap: a verdict, and nothing left running."""
from __future__ import annotations

from grader.engine import GradeConfig
from grader.rubric import SOLUTION
from tests.adversarial.conftest import attack, fresh_copy, grade, leftovers, upload
from tests.api.conftest import Service


def test_fork_bomb_is_contained(config: GradeConfig) -> None:
    # 4 s: its 64 processes, all ready to run, wait for one another's CPU, which the busy-host
    # allowance (grader/sandbox.py BUSY_HOST_FACTOR) adds to the limit: 12 s of both cores, not 30.
    report = grade(attack("fork_bomb"), config, wall_seconds=4, max_processes=64)
    assert report.status == "rejected" and report.error.kind in ("timeout", "crashed")
    assert leftovers() == []


def test_thousands_of_threads_get_a_verdict(config: GradeConfig) -> None:
    report = grade(attack("threads"), config, max_processes=128)
    assert report.status == "rejected" and report.error.kind == "runtime_error"
    assert "thread" in report.error.message.lower()
    assert leftovers() == []


def test_fork_bomb_through_the_service(service: Service, client) -> None:
    bomb = upload(client, "bomber", attack("fork_bomb")).json()["id"]
    view = service.wait_for(client, bomb, timeout=120)
    assert view["status"] == "rejected" and view["report"]["error"]["kind"] in ("timeout", "crashed")
    assert leftovers() == []
    after = upload(client, "after-bomb", fresh_copy(SOLUTION.read_bytes(), "after-bomb")).json()["id"]
    assert service.wait_for(client, after, timeout=120)["score"] == 105
