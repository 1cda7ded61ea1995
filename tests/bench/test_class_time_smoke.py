"""bench.class_time's class: its mix, without grading it (a graded smoke run takes ~20 min on
the 2-core machine, so the run itself is a benchmark only, figures in bench/RESULTS.md)."""
from __future__ import annotations

import ast
from collections import Counter

from bench.class_time import BROKEN, COSMETIC, MISTAKE_COPIES, make_class
from grader.rubric import SOLUTION
from tests.grader.mutations import MUTATIONS


def test_the_class_has_40_files_mostly_correct_each_mistake_several_times_a_few_broken() -> None:
    students = make_class(40)
    kinds = Counter(s.kind for s in students)
    whats = Counter(s.what for s in students)
    accepted = whats["avgpool_stride_1"]  # the rubric accepts AvgPool2d(2, 1) on the 2×2 map
    assert len(students) == 40 and kinds["correct"] + accepted > 20 and kinds["broken"] == len(BROKEN) == 3
    assert set(MISTAKE_COPIES) == set(MUTATIONS) and all(whats[m] >= 2 for m in MUTATIONS)
    assert all(whats[c] == 1 for c in COSMETIC) and whats["reference"] == 10
    assert len({s.name for s in students}) == 40


def test_cosmetic_copies_are_other_files_that_still_parse_and_broken_ones_break() -> None:
    reference = SOLUTION.read_text()
    students = make_class(40)
    for s in students:
        if s.kind == "correct" and s.what != "reference":
            assert s.source != reference and ast.parse(s.source)
    syntax = next(s for s in students if s.what == "syntax_error")
    try:
        ast.parse(syntax.source)
    except SyntaxError:
        pass
    else:
        raise AssertionError("the syntax-error file parses")
    missing = next(s for s in students if s.what == "no_ResNet50_layer4")
    assert "class ResNet50_layer4" not in missing.source


def test_a_smaller_class_is_a_prefix_that_keeps_the_mix() -> None:
    small, full = make_class(7), make_class(40)
    assert small == full[:7]
    assert {s.kind for s in small} == {"correct", "mistake", "broken"}
    assert len(make_class(45)) == 45
