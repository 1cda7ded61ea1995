"""Broken files get a clear verdict in a student's words and never disturb the next grade.

What a broken file scores is graded through the fork servers (`warm`, as a worker grades); the
next grade after a bad file is graded in fresh sandboxes (`config`), as a single grade is."""
from __future__ import annotations

from grader.engine import GradeConfig, grade_bytes
from grader.rubric import SOLUTION


def grade(source: str | bytes, config: GradeConfig):
    data = source.encode() if isinstance(source, str) else source
    return grade_bytes(data, filename="resnet50_skeleton.py", config=config)


def test_syntax_error_reports_the_line(warm: GradeConfig) -> None:
    source = SOLUTION.read_text().replace("self.downsample = downsample", "self.downsample = = downsample")
    report = grade(source, warm)
    line = source.splitlines().index("        self.downsample = = downsample") + 1
    assert report.status == "rejected" and report.error.kind == "syntax_error"
    assert report.error.line == line and f"line {line}" in report.error.message
    assert report.score == 0


def test_missing_class_is_named(warm: GradeConfig) -> None:
    source = SOLUTION.read_text().replace("class ResNet50_layer4(", "class ResNet50(")
    report = grade(source, warm)
    assert report.error.kind == "missing_definition" and "ResNet50_layer4" in report.error.message
    assert report.status == "graded"
    q1 = {i.id: i.points for i in report.items}
    assert q1["q1_downsample"] == 20 and q1["q1_no_downsample"] == 20  # still graded
    assert q1["q2_blanks"] == 0 and q1["q2_layer3"] == 0


def test_unknown_module_is_named(warm: GradeConfig) -> None:
    report = grade("import torchvision.models\n" + SOLUTION.read_text(), warm)
    assert report.status == "rejected" and report.error.kind == "import_error"
    assert "'torchvision'" in report.error.message


def test_exception_in_init_shows_only_student_frames(warm: GradeConfig) -> None:
    source = SOLUTION.read_text().replace(
        "        self.fc = nn.Linear(1024, num_classes)",
        "        self.fc = nn.Linear(1024, num_classes)\n        raise ValueError('oops in init')")
    report = grade(source, warm)
    assert report.status == "graded" and report.error.kind == "runtime_error"
    assert "oops in init" in report.error.message
    assert report.error.traceback and all("resnet50_skeleton" not in t and "grader" not in t
                                          for t in report.error.traceback)
    assert any("raise ValueError" in t for t in report.error.traceback)
    assert {i.id: i.points for i in report.items}["q1_downsample"] == 20


def test_exception_in_forward_keeps_structure_items(warm: GradeConfig) -> None:
    source = SOLUTION.read_text().replace(
        "        out = self.avgpool(out)", "        out = self.avgpool(out)\n        raise RuntimeError('boom')")
    report = grade(source, warm)
    # A forward that raises cannot be exported, and the skeleton's forward over its module
    # tree runs: the blocks are checked programs (40), the model's items self-reported (65).
    assert report.status == "graded" and (report.score, report.provisional_score) == (40, 65)
    shapes = report.checks.shapes
    assert shapes.error == "RuntimeError: boom" and shapes.first_mismatch == "flatten"
    assert [r.ok for r in shapes.rows[:5]] == [True] * 5


def test_empty_binary_and_non_utf8_are_refused_before_the_sandbox(config: GradeConfig) -> None:
    for data, words in ((b"", "empty"), (b"\x00\x01\x02import torch", "binary"),
                        ("x = 'é'\n".encode("latin-1"), "UTF-8"), (b"#" * (300 << 10), "KiB")):
        report = grade(data, config)
        assert report.status == "rejected" and report.error.kind == "invalid_file", data[:20]
        assert words in report.error.message
        assert report.sandbox == {}  # never reached the sandbox


def test_bad_file_does_not_affect_the_next(config: GradeConfig) -> None:
    grade("import os\nos._exit(0)\n", config)
    report = grade(SOLUTION.read_text(), config)
    assert report.score == 105 and report.error is None
