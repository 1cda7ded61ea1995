"""Claim extraction on the four real student reports and on each way a figure is written."""
from __future__ import annotations

from pathlib import Path

import pytest

from papers.claims import extract_claims, find_claims

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"
# Each report's final test accuracy, as read from its text (the figure after "Accuracy of the
# model on the test images" / "final test accuracy" / "achieved an accuracy of ... on the test").
STATED = {"000": 81.18, "001": 82.72, "002": 83.41, "003": 82.37}


@pytest.mark.parametrize("prefix", sorted(STATED))
def test_real_reports_choose_their_final_test_accuracy(prefix: str) -> None:
    files = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    if not files:
        pytest.skip(f"no seed report {prefix} in {SEEDS}")
    text = files[0].read_text(encoding="utf-8")
    claims, chosen = extract_claims(text)
    assert chosen is not None
    assert claims[chosen].value == STATED[prefix]
    assert f"{STATED[prefix]:.2f}" in claims[chosen].context


def test_the_target_and_a_baseline_are_candidates_but_never_chosen() -> None:
    text = ("The goal was at least 80% accuracy. The practice model VGG-16 reached 86.18% on the test set. "
            "Our final model achieved a test accuracy of 82.72 %.")
    claims, chosen = extract_claims(text)
    assert [c.value for c in claims] == [80.0, 86.18, 82.72]
    assert chosen == 2
    assert claims[0].score < claims[2].score and claims[1].score < claims[2].score


@pytest.mark.parametrize("written, value", [
    ("a test accuracy of 81.18%", 81.18), ("a test accuracy of 81.18 %", 81.18), ("test accuracy 81,18 %", 81.18),
    ("an accuracy of 81.18 percent on the test set", 81.18), ("test accuracy of 0.8118", 81.18),
    ("Test accuracy: 81.18", 81.18), ("테스트 정확도는 81.18%였다", 81.18),
])
def test_each_way_of_writing_the_figure_is_read_in_percent(written: str, value: float) -> None:
    claims, chosen = extract_claims(f"We trained one epoch. The model reached {written}.")
    assert chosen is not None and claims[chosen].value == value


def test_a_loss_next_to_the_word_accuracy_is_not_an_accuracy() -> None:
    text = "Epoch [1/1], Step [500/500] Loss: 0.7256\nAccuracy of the model on the test images: 81.18 %"
    claims, chosen = extract_claims(text)
    assert [c.value for c in claims] == [81.18]
    assert chosen == 0


def test_no_accuracy_figure_chooses_nothing() -> None:
    claims, chosen = extract_claims("We cut the learning rate by 50% after 20 epochs and doubled the batch.")
    assert [c.value for c in claims] == [50.0]
    assert chosen is None
    assert extract_claims("No numbers here at all.") == ([], None)


def test_figures_past_100_percent_are_not_candidates() -> None:
    assert [c.value for c in find_claims("accuracy of 181.18% and 0.5% and 100%")] == [0.5, 100.0]


@pytest.mark.timeout(20)
def test_hostile_text_costs_a_scan_not_a_backtracking_search() -> None:
    text = ("accuracy" + " " * 100_000 + "x ") * 2 + "1 " * 50_000 + "0." + "\n" * 50_000
    claims, chosen = extract_claims(text)
    assert chosen is None and all(c.value <= 100 for c in claims)
