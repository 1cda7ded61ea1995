"""No network inside: connections fail, names do not resolve, a listener on the host hears nothing."""
from __future__ import annotations

import socket

import pytest

from grader.engine import GradeConfig
from tests.adversarial.conftest import attack, grade


def test_connections_fail_and_the_listener_hears_nothing(config: GradeConfig) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # the kernel completes connections into the backlog without accept()
        report = grade(attack("connect_out", LISTENER_PORT=server.getsockname()[1]), config)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing is waiting: no connection ever arrived
    assert "CONNECTED" not in report.log
    assert [ln.split()[:2] for ln in report.log.splitlines() if ln.startswith("BLOCKED")] == [
        ["BLOCKED", "127.0.0.1"], ["BLOCKED", "10.0.0.1"], ["BLOCKED", "1.1.1.1"]]
    assert report.status == "graded" and report.score == 105


def test_dns_lookup_fails_inside(config: GradeConfig) -> None:
    report = grade(attack("dns_lookup"), config)
    assert report.error.kind == "runtime_error" and "gaierror" in report.error.message
