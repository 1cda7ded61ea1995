"""The overview's figures from gradebook rows and reports (pure: no database, no server)."""
from __future__ import annotations

from api.charts import histogram_svg
from api.class_stats import Upload, class_stats, histogram
from storage.gradebook import GradebookRow

BLANKS = ["num_classes", "layer1.conv.stride", "layer1.maxpool.padding", "fc.in_features"]


def report(*, blanks_wrong: list[str] = (), q1_points: float = 20, verified: bool = True) -> dict:
    deductions = [{"where": b, "points": 1, "message": f"{b} is wrong"} for b in blanks_wrong]
    q1 = [] if q1_points == 20 else [{"where": "layer[1]", "points": 20 - q1_points,
                                      "message": "stride 2 is on the 3x3 conv, not the first 1x1"}]
    return {"items": [
        {"id": "q1_downsample", "title": "Q1a", "points": q1_points, "max_points": 20, "passed": q1_points == 20,
         "deductions": q1, "verified": verified},
        {"id": "q2_blanks", "title": "Q2 blanks", "points": 4 - len(blanks_wrong), "max_points": 4,
         "passed": not blanks_wrong, "deductions": deductions},
    ]}


def row(student: str, sub: str | None, rep: dict | None, *, status: str = "graded", late: bool = False,
        accuracy: float | None = 0.8, overrides: dict[str, float] | None = None) -> GradebookRow:
    if rep is None:
        return GradebookRow(student_id=student, name=student, email="", status="missing")
    items = {i["id"]: float(i["points"]) for i in rep["items"]}
    items.update(overrides or {})
    score = sum(items.values())
    return GradebookRow(student_id=student, name=student, email="", status=status, submission_id=sub, late=late,
                        score=score, final_score=score, max_score=24, accuracy=accuracy, items=items,
                        overridden=list(overrides or {}),
                        needs_review={i["id"]: i["points"] for i in rep["items"] if i.get("verified") is False})


def test_counts_items_blanks_and_grouped_deductions() -> None:
    reps = {"s1": report(), "s2": report(blanks_wrong=["layer1.conv.stride"], q1_points=16),
            "s3": report(blanks_wrong=["layer1.conv.stride", "fc.in_features"], q1_points=16, verified=False)}
    rows = [row("a", "s1", reps["s1"]), row("b", "s2", reps["s2"], late=True, accuracy=0.4),
            row("c", "s3", reps["s3"], status="rejected", accuracy=None), row("d", None, None)]
    uploads = [Upload("a", "graded"), Upload("a", "superseded"), Upload("b", "graded"), Upload("c", "rejected"),
               Upload("c", "queued"), Upload("e", "failed")]
    stats = class_stats(rows, reps, uploads, blank_ids=BLANKS)
    c = stats.counts
    assert (c.students, c.submitted, c.missing, c.late) == (4, 3, 1, 1)
    assert (c.graded, c.rejected, c.self_reported, c.queued, c.failed) == (2, 1, 1, 1, 1)
    q1 = next(i for i in stats.items if i.id == "q1_downsample")
    assert q1.n == 3 and abs(q1.mean - (20 + 16 + 16) / 3) < 1e-3 and abs(q1.full_marks_rate - 1 / 3) < 1e-3
    assert [b.blank for b in stats.blanks][:2] == ["layer1.conv.stride", "fc.in_features"]
    assert stats.blanks[0].wrong == 2 and stats.blanks[0].n == 3
    assert {b.blank for b in stats.blanks if b.wrong == 0} == {"num_classes", "layer1.maxpool.padding"}
    top = stats.deductions[0]
    assert top.count == 2 and sorted(top.students) == ["b", "c"]
    assert sum(b.count for b in stats.score_bins) == 3
    assert sum(b.count for b in stats.accuracy_bins) == 2  # c has no accuracy


def test_an_override_to_full_marks_settles_the_deductions() -> None:
    reps = {"s2": report(q1_points=16)}
    stats = class_stats([row("b", "s2", reps["s2"], overrides={"q1_downsample": 20})], reps, [Upload("b", "graded")],
                        blank_ids=BLANKS)
    q1 = next(i for i in stats.items if i.id == "q1_downsample")
    assert q1.mean == 20 and q1.full_marks_rate == 1
    assert not [g for g in stats.deductions if g.item == "q1_downsample"]


def test_histogram_edges_and_svg() -> None:
    bins = histogram([0, 0.05, 0.5, 1.0, 1.0], low=0, high=1, bins=10)
    assert [b.count for b in bins] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    svg = histogram_svg(bins, title="Scores <b>", x_label="points", element_id="h")
    assert svg.startswith("<svg") and svg.count('class="bar"') == 10 and "<b>" not in svg and "&lt;b&gt;" in svg
    assert 'data-count="2"' in svg


def test_mixed_maxima_are_named() -> None:
    reps = {"s1": report(), "s2": report()}
    r1, r2 = row("a", "s1", reps["s1"]), row("b", "s2", reps["s2"])
    r2.max_score = 14
    stats = class_stats([r1, r2], reps, [], blank_ids=BLANKS)
    assert stats.notes and "different maxima" in stats.notes[0]
