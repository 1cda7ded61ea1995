"""The accuracy item's rules, as a pure function: no training, no sandbox."""
from __future__ import annotations

import pytest
import torch

from grader.rubric import AccuracyItem
from grader.sandbox import Outcome
from grader.training import TrainingResult, accuracy_item

OK = Outcome(status="ok", reason=None, exit_code=0, log="", wall_seconds=1.0, peak_memory_bytes=None,
             isolation="bubblewrap")


def rule(compare: str = "reference", scale: str = "threshold", target: float = 0.8,
         tolerance: float = 0.01) -> AccuracyItem:
    return AccuracyItem(title="accuracy", points=10, target=target, scale=scale, compare=compare,  # type: ignore[arg-type]
                        tolerance=tolerance)


def counted(right: int, of: int) -> float:
    """An accuracy as the grader computes it: a float32 mean of correct predictions."""
    return (torch.arange(of) < right).float().mean().item()


def points(item: AccuracyItem, accuracy: float | None, reference: float | None = None) -> float:
    return accuracy_item(item, TrainingResult(accuracy, None, None, OK), reference=reference).points


def test_full_points_within_tolerance_of_the_reference_and_linear_below() -> None:
    item, ref = rule(), 0.40
    assert points(item, 0.40, ref) == 10 and points(item, 0.45, ref) == 10  # at or above
    assert points(item, 0.395, ref) == 10  # within 1 point
    assert points(item, 0.195, ref) == pytest.approx(10 * 0.195 / 0.39, abs=1e-4)  # linear below the floor
    assert points(item, 0.0, ref) == 0
    result = accuracy_item(item, TrainingResult(0.3, None, None, OK), reference=ref)
    assert not result.passed and "40.00%" in result.feedback[0] and "within 1 points" in result.feedback[0]
    assert points(rule(tolerance=0.05), 0.36, ref) == 10  # the rubric's tolerance, not a constant


@pytest.mark.parametrize("reference", [16, 50, 197, 700])
def test_exactly_at_the_tolerance_is_full_points(reference: int) -> None:
    """`reference - tolerance` and a float32 count are both rounded: 10 fewer right of 1000 than
    the reference (exactly 1 point below) is within the tolerance."""
    result = accuracy_item(rule(), TrainingResult(counted(reference - 10, 1000), None, None, OK),
                           reference=counted(reference, 1000))
    assert result.points == 10 and result.passed


def test_target_threshold_scale() -> None:
    item = rule(compare="target", scale="threshold", target=0.7)
    assert points(item, counted(700, 1000)) == 10  # 70 % in float32 is 0.69999999
    assert points(item, 0.95, reference=0.2) == 10 and points(item, 0.69, reference=0.69) == 0  # reference ignored
    result = accuracy_item(item, TrainingResult(0.5, None, None, OK))
    assert result.points == 0 and not result.passed and "the target is 70%" in result.feedback[0]


def test_target_linear_scale() -> None:
    item = rule(compare="target", scale="linear", target=0.8)
    assert points(item, 0.4) == 5 and points(item, 0.2) == 2.5
    assert points(item, 0.8) == 10 and points(item, 0.99) == 10  # capped at full points
    assert points(item, counted(800, 1000)) == 10 and accuracy_item(
        item, TrainingResult(counted(800, 1000), None, None, OK)).passed
    assert points(item, 0.0) == 0


def test_reference_comparison_without_a_reference_falls_back_to_the_target() -> None:
    assert points(rule(target=0.8), 0.5, reference=None) == 0
    assert points(rule(scale="linear", target=0.8), 0.4, reference=None) == 5


def test_no_accuracy_is_no_points_with_the_reason() -> None:
    item = accuracy_item(rule(), None, "Not trained: the forward fails.", reference=0.4)
    assert item.points == 0 and not item.passed and item.feedback == ["Not trained: the forward fails."]
