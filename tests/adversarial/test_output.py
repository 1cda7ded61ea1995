"""100 MB on stdout and stderr: the log is cut to its head and tail, the grade goes on."""
from __future__ import annotations

from grader.engine import GradeConfig
from tests.adversarial.conftest import attack, grade


def test_output_flood_is_truncated(config: GradeConfig) -> None:
    report = grade(attack("output_flood"), config)
    assert report.status == "graded" and report.score == 105 and report.error is None
    assert len(report.log) < 100_000 and "bytes of output dropped" in report.log
