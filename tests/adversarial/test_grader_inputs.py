"""Inputs that broke the grader's own process (issue 25, item 4): whatever the child reports,
the grade ends in a normal report, never a grader error, and costs the grader little CPU.

Each test fails with its defence switched off (tests/adversarial/switch_off.py).
"""
from __future__ import annotations

import time

import pytest

from grader.engine import GradeConfig
from grader.report import Report
from tests.adversarial.conftest import attack, grade

MAX_GRADER_CPU_S = 5.0


def points(report: Report) -> dict[str, float]:
    return {i.id: i.points for i in report.items if not i.skipped}


def test_a_reported_conv_with_zero_groups_gets_a_graded_report(warm: GradeConfig) -> None:
    """torch refuses groups=0 with a ValueError when the rebuild makes the layer: the tree is
    then not rebuilt (the model's items stay self-reported), and the grade goes on."""
    report = grade(attack("groups_zero"), warm)
    assert report.status == "graded" and len(report.items) == 6
    assert "model" not in report.trust.rebuilt
    model_items = [i for i in report.items if i.id.startswith("q2_")]
    assert model_items and not any(i.verified for i in model_items)
    assert next(i for i in report.items if i.id == "q1_downsample").points == 20  # the blocks are fine


def test_blocks_with_zero_groups_get_a_graded_report(warm: GradeConfig) -> None:
    """The same in the probe blocks: neither block is rebuilt, neither item counts before review."""
    report = grade(attack("groups_zero", BLOCKS=True), warm)
    assert report.status == "graded" and len(report.items) == 6
    assert report.trust.rebuilt == []
    blocks = [i for i in report.items if i.id.startswith("q1_")]
    assert len(blocks) == 2 and not any(i.verified and i.points for i in blocks)


def test_program_data_nested_deep_is_a_protocol_violation(config: GradeConfig) -> None:
    """In a fresh sandbox (`config`); the others here grade through the fork servers (`warm`),
    whose forks are supervised by the same code (grader/sandbox.py: _supervise)."""
    report = grade(attack("deep_program"), config)
    assert report.error is not None and report.error.kind == "crashed"
    assert "nested deeper than" in report.error.message, report.error.message
    assert report.score == 0


@pytest.fixture(scope="module")
def small_tree(warm: GradeConfig) -> Report:
    """The same file without the 20 000 rows (its forward fails at fc just the same)."""
    report = grade(attack("big_tree", EXTRA=0), warm)
    assert report.status == "graded" and "model" in report.trust.rebuilt
    return report


def test_a_20000_row_tree_costs_the_grader_little_cpu(warm: GradeConfig, small_tree: Report) -> None:
    cpu = time.process_time()  # this process's threads only: the sandboxes are other processes
    report = grade(attack("big_tree"), warm)
    cpu = time.process_time() - cpu
    print(f"grader CPU for the 20 000-row tree: {cpu:.2f} s")
    assert report.status == "graded" and "model" in report.trust.rebuilt
    assert points(report) == points(small_tree)
    assert cpu <= MAX_GRADER_CPU_S, f"the grader's own process used {cpu:.1f} s of CPU"
