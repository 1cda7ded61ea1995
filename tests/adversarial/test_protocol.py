"""Output that is not what the protocol expects is `crashed`: nothing is unpickled, nothing
forged is believed, and the grader grades the next file as usual.

The attacks run in sandboxes started whole (`config`: they read /proc/self/fd, which a fork of
a fork server cannot); the next file is graded as a worker grades it (`warm`), by the same
grading process."""
from __future__ import annotations

from pathlib import Path

import pytest

from grader.engine import GradeConfig
from grader.rubric import SOLUTION
from tests.adversarial.conftest import attack, grade

MARKER = Path("/tmp/autograder-unpickled")  # what the pickle payload would create if loaded


@pytest.mark.parametrize("name, words", [
    ("forged_lines", "malformed 'progress' message"),
    ("huge_result", "more result data than the grader accepts"),
    ("pickle_result", "not a grader message"),
])
def test_bad_protocol_output_is_rejected_unread(config: GradeConfig, warm: GradeConfig, name: str, words: str) -> None:
    MARKER.unlink(missing_ok=True)
    report = grade(attack(name), config)
    assert report.status == "rejected" and report.error.kind == "crashed"
    assert report.sandbox["status"] == "crashed" and words in report.error.message
    assert "results were discarded" in report.error.message
    assert not MARKER.exists()
    assert grade(SOLUTION.read_bytes(), warm).score == 105


def test_non_finite_numbers_are_refused_at_parse_time(config: GradeConfig, warm: GradeConfig) -> None:
    """NaN in a well-formed message is a forged line: refused by the parser, before any handler."""
    report = grade(attack("nan_results"), config)
    assert report.status == "rejected" and report.error.kind == "crashed" and not report.items
    assert report.sandbox["status"] == "crashed"
    assert "non-finite number (NaN)" in report.error.message and "results were discarded" in report.error.message
    assert grade(SOLUTION.read_bytes(), warm).score == 105
