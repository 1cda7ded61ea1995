"""What a report PDF looks like from outside (pages, JSON): its check, its claim beside our measurement.

The verdict is what the worker stored (papers/ made it from a sandboxed parse); the claim
comparison is made here on read, from the report of record's chosen claim and the accuracy
we measured for the student's code (and the reference's under the same checkpoint), so a
regrade or a newer upload shows at once. A large gap is flagged for the TA, never deducted:
the student may have trained elsewhere, on other hardware.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from storage import course, papers
from storage.models import Assignment, Paper, PaperStatus, Submission

CLAIM_GAP_FLAG = papers.CLAIM_GAP_FLAG  # the TA is told to look from this many points apart


class ClaimView(BaseModel):
    value: float  # percent, as the report states it
    context: str  # the words around it
    chosen: bool = False


class ClaimCheck(BaseModel):
    """The report's stated accuracy beside ours, in percent; `flagged` when they differ by more than CLAIM_GAP_FLAG."""

    stated: float | None
    measured: float | None
    reference: float | None
    gap: float | None
    flagged: bool
    words: str


class PaperView(BaseModel):
    id: str
    student_id: str
    filename: str
    size_bytes: int
    status: str
    created_at: str  # ISO 8601 with the offset of the assignment's zone
    created_at_shown: str
    url: str
    late: bool
    self_check: bool
    submitted_by: str | None
    submission_id: str | None
    readable: bool  # parsed at all (its format checks may still fail)
    problem: str | None  # why it could not be read, in words
    pages: int | None
    checks: list[dict[str, Any]]
    claims: list[ClaimView]
    failure: str | None
    has_preview: bool


def paper_view(paper: Paper, *, zone: str) -> PaperView:
    verdict = papers.verdict(paper) or {}
    chosen = verdict.get("chosen_claim")
    claims: list[ClaimView] = []
    for i, c in enumerate(verdict.get("claims") or []):
        if not (isinstance(c, dict) and isinstance(c.get("value"), (int, float))):  # the verdict is read defensively
            continue
        view = ClaimView(value=float(c["value"]), context=str(c.get("context", ""))[:300], chosen=i == chosen)
        same = next((k for k, v in enumerate(claims) if (v.value, v.context) == (view.value, view.context)), None)
        if same is None:  # a sentence said twice (a repeated paragraph) is one candidate, not two
            claims.append(view)
        elif view.chosen:
            claims[same] = view
    return PaperView(
        id=paper.id, student_id=paper.student_id, filename=paper.filename, size_bytes=paper.size_bytes,
        status=paper.status, created_at=course.iso_time(paper.created_at, zone) or "",
        created_at_shown=course.show_time(paper.created_at, zone, seconds=True), url=f"/r/{paper.id}",
        late=paper.late_s is not None, self_check=paper.student_pk is None, submitted_by=paper.submitted_by,
        submission_id=paper.submission_id, readable=papers.readable(paper),
        problem=verdict.get("problem") if paper.status == PaperStatus.checked else None,
        pages=verdict.get("pages") if isinstance(verdict.get("pages"), int) else None,
        checks=[c for c in verdict.get("checks") or [] if isinstance(c, dict)], claims=claims,
        failure=("The report checker itself failed on this file; the TAs have been told."
                 if paper.status == PaperStatus.failed else None),
        has_preview=paper.preview_png is not None)


def zone_of(session: Session, paper: Paper) -> str:
    a = session.get(Assignment, paper.assignment_id) if paper.assignment_id else None
    return a.timezone if a is not None else "UTC"


def paper_views(session: Session, rows: list[Paper]) -> list[PaperView]:
    return [paper_view(p, zone=zone_of(session, p)) for p in rows]


def claim_check(paper: Paper | None, sub: Submission | None) -> ClaimCheck:
    """The stated accuracy against the code's measured one (the submission of record's, or the
    one sent with the report) and the reference solution's under the same checkpoint; the numbers
    are storage.papers.claim_gap's, the gradebook's flag reads the same function."""
    c = papers.claim_gap(paper, sub)
    stated, measured, reference, gap, flagged = c.stated, c.measured, c.reference, c.gap, c.flagged
    if paper is None:
        words = "No report."
    elif stated is None:
        words = "The report states no test accuracy we could find."
    elif measured is None:
        words = f"The report states {stated:.2f} %; no accuracy was measured for the code (yet)."
    else:
        words = (f"The report states {stated:.2f} %; we measured {measured:.2f} % (a gap of {gap:+.2f} points)"
                 + (f"; the reference solution reaches {reference:.2f} % under the same checkpoint" if reference is not None else "")
                 + (". The gap is large: look at the report and the code (never deducted automatically)." if flagged else "."))
    return ClaimCheck(stated=stated, measured=measured, reference=reference, gap=gap, flagged=flagged, words=words)
