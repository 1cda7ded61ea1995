"""Leaving early (`os._exit`, `sys.exit`) is `crashed` with words a student understands;
killing the parent reaches nobody outside the sandbox."""
from __future__ import annotations

import os

from grader.engine import GradeConfig
from grader.rubric import SOLUTION
from tests.adversarial.conftest import attack, grade, upload
from tests.api.conftest import Service


def test_os_exit_at_import_is_crashed(config: GradeConfig) -> None:
    report = grade(attack("exit_at_import"), config)
    assert report.status == "rejected" and report.error.kind == "crashed"
    assert "exited with code 0 before it finished" in report.error.message
    assert "os._exit" in report.error.message


def test_sys_exit_at_import_is_crashed(config: GradeConfig) -> None:
    report = grade(attack("sys_exit"), config)
    assert report.status == "rejected" and report.error.kind == "crashed"
    assert report.error.message.startswith("Your file called sys.exit() while being imported")


def test_killing_the_parent_harms_nobody(config: GradeConfig, warm: GradeConfig) -> None:
    pid = os.getpid()
    report = grade(attack("kill_parent"), config)
    # Inside its own PID namespace the child's parent is the namespace's init, which the
    # kernel shields from its own children: the signal reaches no one and the grade goes on.
    assert os.getpid() == pid and report.status == "graded" and report.score == 105
    assert grade(SOLUTION.read_bytes(), warm).score == 105  # the next grade (as a worker grades) is unharmed


def test_killing_the_parent_through_the_service(service: Service, client) -> None:
    killer = upload(client, "killer", attack("kill_parent")).json()["id"]
    assert service.wait_for(client, killer, timeout=120)["score"] == 105
    assert service.workers[0].poll() is None and service.api.poll() is None
