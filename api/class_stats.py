"""The class at a glance, computed from the gradebook's final rows and their reports.

Pure: no database, no web. The TA overview (api/routes/ta.py) and bench/dashboard.py call
`class_stats`; the figures are derived from the same final submissions the gradebook of
record uses, so the overview never disagrees with the exported grades.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, Field

from storage.gradebook import GradebookRow

BLANKS_ITEM = "q2_blanks"
SCORED_STATUSES = ("graded", "rejected")


class Bin(BaseModel):
    low: float
    high: float
    count: int


class ItemStat(BaseModel):
    id: str
    title: str
    max_points: float
    mean: float
    full_marks_rate: float  # fraction of scored students with every point of the item
    n: int


class BlankStat(BaseModel):
    blank: str
    wrong: int
    n: int

    @property
    def rate(self) -> float:
        return self.wrong / self.n if self.n else 0.0


class DeductionGroup(BaseModel):
    """One identical deduction (same item, place and words) and who got it."""

    item: str
    where: str
    message: str
    points: float
    students: list[str]

    @property
    def count(self) -> int:
        return len(self.students)


class Counts(BaseModel):
    students: int = 0
    submitted: int = 0  # students with at least one upload
    missing: int = 0
    late: int = 0  # students whose final submission is late
    graded: int = 0  # students whose final submission is graded
    rejected: int = 0
    self_reported: int = 0  # final submission has points waiting for a TA's review
    queued: int = 0  # uploads (not students) waiting for a worker
    running: int = 0
    failed: int = 0  # uploads the grader could not finish (a regrade may fix them)


class ClassStats(BaseModel):
    counts: Counts
    max_score: float | None
    score_bins: list[Bin]
    accuracy_bins: list[Bin]
    items: list[ItemStat]
    blanks: list[BlankStat]  # sorted: most often wrong first
    deductions: list[DeductionGroup]  # sorted: most common first
    mean_score: float | None = None
    median_score: float | None = None
    mean_accuracy: float | None = None
    scored: int = 0
    notes: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Upload:
    """What the overview needs of every upload (final or not): its student and status."""

    student_id: str
    status: str


@dataclass
class _ItemAcc:
    title: str
    max_points: float
    total: float = 0.0
    full: int = 0
    n: int = 0
    seen: set[str] = field(default_factory=set)


def histogram(values: Iterable[float], *, low: float, high: float, bins: int) -> list[Bin]:
    """Equal-width bins over [low, high]; the top value falls in the last bin."""
    width = (high - low) / bins if high > low else 1.0
    counts = [0] * bins
    for v in values:
        i = int((v - low) / width) if width else 0
        counts[min(max(i, 0), bins - 1)] += 1
    return [Bin(low=round(low + i * width, 6), high=round(low + (i + 1) * width, 6), count=c)
            for i, c in enumerate(counts)]


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def class_stats(rows: list[GradebookRow], reports: Mapping[str, dict[str, Any]], uploads: list[Upload], *,
                blank_ids: list[str] | None = None, score_bins: int = 10, accuracy_bins: int = 10,
                max_score: float | None = None) -> ClassStats:
    """Counts, histograms, per-item and per-blank figures and grouped deductions.

    `rows` are the gradebook's (one per roster student), `reports` the parsed report of each
    row's final submission by id, `uploads` every upload of the assignment. Points per item
    are the row's (TA overrides applied); deductions come from the report, so an item a TA
    overrode to full marks no longer counts its deductions as errors.
    """
    counts = Counts(students=len(rows))
    uploaded = {u.student_id for u in uploads}
    status_counts = Counter(u.status for u in uploads)
    counts.queued, counts.running, counts.failed = (status_counts["queued"], status_counts["running"],
                                                    status_counts["failed"])
    scored_rows = [r for r in rows if r.status in SCORED_STATUSES]
    for r in rows:
        counts.submitted += r.student_id in uploaded or r.status != "missing"
        counts.late += r.late
        counts.graded += r.status == "graded"
        counts.rejected += r.status == "rejected"
        counts.self_reported += bool(r.needs_review)
    counts.missing = counts.students - counts.submitted

    max_scores = [r.max_score for r in scored_rows if r.max_score]
    top = max(max_scores) if max_scores else None
    finals = [r.final_score for r in scored_rows]
    accuracies = [r.accuracy for r in scored_rows if r.accuracy is not None]
    notes = []
    if len(set(max_scores)) > 1:
        notes.append(f"Final submissions were graded out of different maxima ({', '.join(f'{m:g}' for m in sorted(set(max_scores)))}): "
                     "regrade the class to put everyone on one rubric.")

    items: dict[str, _ItemAcc] = {}
    blank_wrong: Counter[str] = Counter()
    blank_n = 0
    groups: dict[tuple[str, str, str], DeductionGroup] = {}
    for r in scored_rows:
        report = reports.get(r.submission_id or "", {})
        for it in report.get("items", []):
            iid = it.get("id")
            if not isinstance(iid, str) or it.get("skipped"):
                continue
            acc = items.setdefault(iid, _ItemAcc(title=str(it.get("title", iid)), max_points=float(it.get("max_points", 0))))
            points = float(r.items.get(iid, it.get("points", 0.0)))
            acc.total += points
            acc.n += 1
            acc.full += points >= acc.max_points > 0 or (acc.max_points == 0 and points == 0)
            overridden_full = iid in r.overridden and points >= acc.max_points
            if iid == BLANKS_ITEM:
                blank_n += 1
            if overridden_full:
                continue  # a TA settled this item: its deductions are no longer errors
            for d in it.get("deductions", []):
                where, message = str(d.get("where", "")), str(d.get("message", ""))
                if iid == BLANKS_ITEM:
                    blank_wrong[where] += 1
                key = (iid, where, message)
                g = groups.get(key)
                if g is None:
                    g = groups[key] = DeductionGroup(item=iid, where=where, message=message,
                                                     points=float(d.get("points", 0.0)), students=[])
                g.students.append(r.student_id)

    ids = list(blank_ids or []) + sorted(set(blank_wrong) - set(blank_ids or []))
    blanks = sorted((BlankStat(blank=b, wrong=blank_wrong[b], n=blank_n) for b in ids),
                    key=lambda b: (-b.wrong, ids.index(b.blank)))
    return ClassStats(
        counts=counts, max_score=top, scored=len(scored_rows),
        # No grade yet: the axis still runs to the assignment's maximum (`max_score`), not 0..1 in tenths.
        score_bins=histogram(finals, low=0.0, high=top or max_score or 1.0, bins=score_bins),
        accuracy_bins=histogram(accuracies, low=0.0, high=1.0, bins=accuracy_bins),
        items=[ItemStat(id=k, title=a.title, max_points=a.max_points, mean=round(a.total / a.n, 4) if a.n else 0.0,
                        full_marks_rate=round(a.full / a.n, 4) if a.n else 0.0, n=a.n) for k, a in items.items()],
        blanks=blanks,
        deductions=sorted(groups.values(), key=lambda g: (-g.count, g.item, g.where, g.message)),
        mean_score=round(sum(finals) / len(finals), 4) if finals else None,
        median_score=_median(finals),
        mean_accuracy=round(sum(accuracies) / len(accuracies), 6) if accuracies else None,
        notes=notes,
    )
