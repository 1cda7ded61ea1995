"""Report PDFs: record, claim for checking, store the verdict, the report of record, a TA's marks.

The report is the assignment's second deliverable (README "Reports"). It follows the code's
record rules: a roster student's own upload (or a TA's on-behalf batch entry) counts for them,
on time or late per the assignment's policy; of a student's reports the newest on-time one is
of record, a late one only when there is no on-time one, and a readable report is never
replaced by an unreadable one (as a graded file beats a rejected one). A TA's points belong to
one report row: a newer report of record needs grading again, which the dashboard counts.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, defer

from storage.models import AuditEntry, Paper, PaperMark, PaperStatus, Submission, now
from storage.service import recent_uploads_query

MARK_PREFIX = "report:"  # how a report item is named in the audit log, apart from the code's items
# Percentage points between the stated and the measured accuracy from which the TA is told to look.
CLAIM_GAP_FLAG = 5.0


@dataclass(frozen=True)
class ReportItem:
    """One manual rubric item for the report: a name and its points (a TA gives 0..points)."""

    name: str
    points: float


def parse_items(spec: str) -> list[ReportItem]:
    """`content:10,format:5` (AUTOGRADER_REPORT_ITEMS) → items; empty: the report is feedback only."""
    items = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, points = part.partition(":")
        name = name.strip()
        if not sep or not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"report item {part!r}: write NAME:POINTS, e.g. content:10")
        value = float(points)
        if not 0 < value <= 1000:
            raise ValueError(f"report item {name}: points must be above 0")
        items.append(ReportItem(name, value))
    if len({i.name for i in items}) != len(items):
        raise ValueError("report items: each name once")
    return items


def record_paper(session: Session, *, student_id: str, filename: str, data: bytes,
                 student_pk: int | None, assignment_id: int | None, submission_id: str | None = None,
                 batch_id: str | None = None, submitted_by: str | None = None,
                 late_s: float | None = None) -> Paper:
    """Commit the report row, queued for its check; the bytes live in the row (workers on other hosts)."""
    paper = Paper(
        student_id=student_id, filename=filename[:255], sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data), content=data, student_pk=student_pk, assignment_id=assignment_id,
        submission_id=submission_id, batch_id=batch_id, submitted_by=submitted_by, late_s=late_s)
    session.add(paper)
    session.commit()
    return paper


def claim_next(session: Session, *, worker: str, stale_after_s: float) -> Paper | None:
    """Take the oldest report waiting for its check, or one whose checker went silent; None if none.

    A conditional UPDATE on one row: of two workers after the same report, one gets it.
    """
    stale = now() - dt.timedelta(seconds=stale_after_s)
    waiting = (select(Paper.id).where(or_(Paper.status == PaperStatus.queued,
                                          (Paper.status == PaperStatus.running) & (Paper.started_at < stale)))
               .order_by(Paper.created_at).limit(5))
    for pid in session.scalars(waiting).all():
        stmt = (update(Paper)
                .where(Paper.id == pid, or_(Paper.status == PaperStatus.queued,
                                            (Paper.status == PaperStatus.running) & (Paper.started_at < stale)))
                .values(status=PaperStatus.running, worker=worker, started_at=now(), attempts=Paper.attempts + 1)
                .execution_options(synchronize_session=False))
        if session.execute(stmt).rowcount == 1:
            session.commit()
            return session.get(Paper, pid)
        session.rollback()
    return None


def finish_check(session: Session, *, paper_id: str, worker: str, verdict_json: str | None, text: str | None,
                 preview_png: bytes | None, failure: str | None = None) -> bool:
    """Store the verdict once: only the worker holding the claim can."""
    stmt = (update(Paper).where(Paper.id == paper_id, Paper.worker == worker, Paper.status == PaperStatus.running)
            .values(status=PaperStatus.failed if failure else PaperStatus.checked, verdict_json=verdict_json,
                    text=text, preview_png=preview_png, failure=failure, checked_at=now()))
    stored = session.execute(stmt).rowcount == 1
    session.commit()
    return stored


def give_up_after(session: Session, *, paper_id: str, attempts: int) -> None:
    """A report whose check killed its worker `attempts` times is not tried again: it is failed, with words."""
    session.execute(update(Paper).where(Paper.id == paper_id, Paper.attempts >= attempts,
                                        Paper.status == PaperStatus.running)
                    .values(status=PaperStatus.failed, checked_at=now(),
                            failure=f"the check stopped {attempts} times without an answer"))
    session.commit()


def readable(paper: Paper) -> bool:
    """Parsed at all (its checks may still fail); an unreadable PDF or a failed check is not."""
    if paper.status != PaperStatus.checked:
        return False
    return bool((verdict(paper) or {}).get("ok"))


def of_record(papers: list[Paper]) -> Paper | None:
    """The student's report of record among theirs (module doc): readable beats unreadable; then
    the newest on-time one, a late one only when none is on time. A report still being checked
    counts as readable until its verdict says otherwise, so the page shows the newest upload."""
    if not papers:
        return None
    usable = [p for p in papers if readable(p) or p.status in (PaperStatus.queued, PaperStatus.running)]
    pool = usable or papers
    on_time = [p for p in pool if p.late_s is None]
    return max(on_time or pool, key=lambda p: p.created_at)


def papers_of(session: Session, *, assignment_id: int, student_pk: int) -> list[Paper]:
    return list(session.scalars(select(Paper).where(Paper.assignment_id == assignment_id,
                                                    Paper.student_pk == student_pk)
                                .order_by(Paper.created_at.desc())))


def record_papers(session: Session, *, assignment_id: int, with_text: bool = False) -> dict[int, Paper]:
    """Each roster student's report of record for the assignment (student pk → paper).

    Every gradebook read calls this, so the PDF bytes and the preview (up to megabytes a row)
    are not loaded; `with_text` loads the extracted text at once (the similarity report reads it)."""
    by_student: dict[int, list[Paper]] = {}
    heavy = [defer(Paper.content), defer(Paper.preview_png)] + ([] if with_text else [defer(Paper.text)])
    rows = session.scalars(select(Paper).options(*heavy)
                           .where(Paper.assignment_id == assignment_id, Paper.student_pk.is_not(None)))
    for p in rows:
        by_student.setdefault(p.student_pk, []).append(p)
    out = {}
    for pk, mine in by_student.items():
        chosen = of_record(mine)
        if chosen is not None:
            out[pk] = chosen
    return out


def marks_of(session: Session, *, paper_ids: list[str]) -> dict[str, dict[str, PaperMark]]:
    out: dict[str, dict[str, PaperMark]] = {}
    if paper_ids:
        for m in session.scalars(select(PaperMark).where(PaperMark.paper_id.in_(paper_ids)).order_by(PaperMark.at)):
            out.setdefault(m.paper_id, {})[m.item] = m
    return out


@dataclass(frozen=True)
class ReportPoints:
    """A report's points as everyone sees them: a TA's marks per item; complete when every item has one."""

    paper_id: str | None
    marks: dict[str, float] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    max_points: float = 0.0
    complete: bool = False

    @property
    def points(self) -> float:
        return round(sum(self.marks.values()), 4)


def report_points(paper: Paper | None, marks: dict[str, PaperMark], items: list[ReportItem]) -> ReportPoints:
    """The one function that turns a report's marks into points (gradebook, pages, exports, LMS)."""
    top = sum(i.points for i in items)
    if paper is None:
        return ReportPoints(None, max_points=top, complete=bool(items))  # no report: 0 of the report's points
    names = {i.name for i in items}
    got = {k: m.points for k, m in marks.items() if k in names}
    return ReportPoints(paper.id, got, {k: m.comment for k, m in marks.items() if k in names}, top,
                        complete=bool(items) and names <= set(got))


def mark(session: Session, *, paper: Paper, item: str, points: float, comment: str, actor: str,
         items: list[ReportItem]) -> PaperMark:
    """Set a TA's points for one report item, and log who, when, old and new (like an override)."""
    spec = {i.name: i for i in items}
    if item not in spec:
        raise ValueError(f"{item!r} is not a report item; items: {', '.join(spec) or 'none (AUTOGRADER_REPORT_ITEMS is empty)'}.")
    if not 0 <= points <= spec[item].points:
        raise ValueError(f"{item} is worth 0 to {spec[item].points:g} points.")
    current = marks_of(session, paper_ids=[paper.id]).get(paper.id, {}).get(item)
    old = None if current is None else current.points
    if current is None:
        current = PaperMark(paper_id=paper.id, item=item, points=points, comment=comment, by=actor, at=now())
        session.add(current)
    else:
        current.points, current.comment, current.by, current.at = points, comment, actor, now()
    session.add(AuditEntry(actor=actor, action="report_mark", submission_id=paper.submission_id,
                           student_pk=paper.student_pk, item=MARK_PREFIX + item,
                           old=None if old is None else f"{old:g}", new=f"{points:g}", comment=comment))
    session.flush()
    return current


def verdict(paper: Paper) -> dict[str, Any] | None:
    """The stored verdict, or None; one the checker wrote badly reads as None, never raises on a page."""
    if not paper.verdict_json:
        return None
    try:
        out = json.loads(paper.verdict_json)
    except ValueError:
        return None
    return out if isinstance(out, dict) else None


def stated_claim(paper: Paper | None) -> float | None:
    """The accuracy (percent) the report states: its chosen claim, or None."""
    found = verdict(paper) if paper is not None else None
    if not found or found.get("chosen_claim") is None:
        return None
    try:
        return float(found["claims"][found["chosen_claim"]]["value"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ClaimGap:
    """The report's stated accuracy beside the code's measured one and the reference's, in percent."""

    stated: float | None
    measured: float | None
    reference: float | None
    gap: float | None  # stated - measured, in points
    flagged: bool  # |gap| above CLAIM_GAP_FLAG: the TA looks; never deducted


def claim_gap(paper: Paper | None, sub: Submission | None) -> ClaimGap:
    """The one comparison of a report's claim with our measurement (pages and gradebook read it)."""
    stated = stated_claim(paper)
    measured = sub.accuracy * 100 if sub is not None and sub.accuracy is not None else None
    reference = None
    if sub is not None and sub.report_json:
        try:
            ref = json.loads(sub.report_json).get("reference_accuracy")
        except (ValueError, AttributeError):
            ref = None
        reference = ref * 100 if isinstance(ref, (int, float)) else None
    gap = round(stated - measured, 2) if stated is not None and measured is not None else None
    return ClaimGap(stated, measured, reference, gap, flagged=gap is not None and abs(gap) > CLAIM_GAP_FLAG)


def standing_status(paper: Paper | None) -> str:
    """missing, queued (waiting or being checked), checked (readable), unreadable, failed (our checker broke)."""
    if paper is None:
        return "missing"
    if paper.status in (PaperStatus.queued, PaperStatus.running):
        return "queued"
    if paper.status == PaperStatus.failed:
        return "failed"
    return "checked" if readable(paper) else "unreadable"


def failed_checks(paper: Paper | None) -> list[str]:
    """The names of the format checks the report failed (a warning is not a failure)."""
    found = (verdict(paper) or {}) if paper is not None else {}
    return [str(c.get("name", "?")) for c in found.get("checks") or []
            if isinstance(c, dict) and c.get("status") == "fail"]


@dataclass(frozen=True)
class ReportStanding:
    """A student's report of record as the gradebook, pages, exports and the LMS see it.

    `counted` is the points the report adds to the grade: None until a TA has marked every
    item of a report of record (a missing or unmarked report adds nothing yet, so the LMS grade
    stays the code's until then, README "Reports — for TAs").
    """

    status: str
    paper: Paper | None
    points: ReportPoints
    claim: ClaimGap
    failed_checks: list[str]

    @property
    def counted(self) -> float | None:
        return self.points.points if self.paper is not None and self.points.complete else None

    @property
    def unmarked(self) -> bool:
        """A report a TA could mark that is not fully marked yet."""
        return self.paper is not None and self.status in ("checked", "unreadable") and not self.points.complete


def report_standing(paper: Paper | None, marks: dict[str, PaperMark], items: list[ReportItem],
                    code: Submission | None) -> ReportStanding:
    """The one place a report's standing is made: `report_points` for the points, `claim_gap` against `code`."""
    return ReportStanding(standing_status(paper), paper, report_points(paper, marks, items), claim_gap(paper, code),
                          failed_checks(paper))


def standings(session: Session, *, assignment_id: int, items: list[ReportItem],
              code: dict[int, Submission | None]) -> dict[int, ReportStanding]:
    """Each student's standing (student pk → standing) for the students in `code` (pk → code of record)."""
    chosen = record_papers(session, assignment_id=assignment_id)
    marks = marks_of(session, paper_ids=[p.id for p in chosen.values()])
    return {pk: report_standing(chosen.get(pk), marks.get(chosen[pk].id, {}) if pk in chosen else {}, items, sub)
            for pk, sub in code.items()}


def sent_with(session: Session, *, submission_id: str) -> Paper | None:
    """The newest report uploaded with this submission (a self-check or batch row has no record to pick from)."""
    return session.scalars(select(Paper).where(Paper.submission_id == submission_id)
                           .order_by(Paper.created_at.desc()).limit(1)).first()


def mark_log(session: Session, *, paper: Paper, limit: int = 200) -> list[AuditEntry]:
    """The audit entries of report marks for this report's student (or, for a check, its submission)."""
    q = select(AuditEntry).where(AuditEntry.action == "report_mark").order_by(AuditEntry.at.desc(),
                                                                               AuditEntry.id.desc()).limit(limit)
    if paper.student_pk is not None:
        q = q.where(AuditEntry.student_pk == paper.student_pk)
    elif paper.submission_id is not None:
        q = q.where(AuditEntry.submission_id == paper.submission_id)
    else:
        return []
    return list(session.scalars(q))


def recent_reports_query(*, since: dt.datetime, student_pk: int | None = None, student_id: str | None = None) -> Select:
    """The count of a student's own reports sent on their own (one sent with the code counts as that upload)."""
    q = select(func.count()).select_from(Paper).where(Paper.created_at >= since, Paper.batch_id.is_(None),
                                                      Paper.submission_id.is_(None))
    return q.where(Paper.student_pk == student_pk) if student_pk is not None else \
        q.where(Paper.student_id == student_id, Paper.student_pk.is_(None))


def recent_reports(session: Session, *, since: dt.datetime, student_pk: int | None = None,
                   student_id: str | None = None) -> int:
    """A student's own reports sent on their own (one sent with the code counts as that upload)."""
    return session.scalar(recent_reports_query(since=since, student_pk=student_pk, student_id=student_id)) or 0


def _uploads_and_reports(by_pk: bool) -> Select:
    who = ({"student_pk": bindparam("student_pk")} if by_pk else
           {"student_pk": None, "student_id": bindparam("student_id")})
    since = bindparam("since")
    return select(recent_uploads_query(since=since, **who).scalar_subquery()
                  + recent_reports_query(since=since, **who).scalar_subquery())  # type: ignore[arg-type]


# Built once (by roster entry, by typed ID): building the statement cost more CPU than running it.
_UPLOADS_AND_REPORTS = {True: _uploads_and_reports(True), False: _uploads_and_reports(False)}


def recent_uploads_and_reports(session: Session, *, since: dt.datetime, student_pk: int | None = None,
                               student_id: str | None = None) -> int:
    """What the per-student upload limit counts (own uploads and reports sent alone), in one statement:
    it runs twice per upload (before the body is used and again under the write lock)."""
    by_pk = student_pk is not None
    params = {"since": since, **({"student_pk": student_pk} if by_pk else {"student_id": student_id})}
    return session.scalar(_UPLOADS_AND_REPORTS[by_pk], params) or 0


def self_check_papers(session: Session, *, ids: list[str], submission_ids: list[str]) -> list[Paper]:
    """An open self-check browser's reports: those it sent alone (ids in its session) and those
    sent with its uploads; a roster student's are never among them (student_pk is NULL here)."""
    if not ids and not submission_ids:
        return []
    q = select(Paper).where(Paper.student_pk.is_(None),
                            or_(Paper.id.in_(ids or [""]), Paper.submission_id.in_(submission_ids or [""])))
    return list(session.scalars(q.order_by(Paper.created_at.desc())))


def sent_with(session: Session, *, submission_id: str) -> Paper | None:
    """The report uploaded together with this submission, if any."""
    return session.scalars(select(Paper).where(Paper.submission_id == submission_id)
                           .order_by(Paper.created_at.desc()).limit(1)).first()
