"""The gradebook of record: one row per roster student, from the final submission by the
assignment's rule, with TA overrides applied and the late penalty shown apart.

Computed on read from the submissions, so a regrade (e.g. after a rubric change) or an
override shows at once; nothing is cached that could go stale.

`scored` is the one place a submission's score is computed as its student sees it (TA
overrides applied, late penalty applied): the gradebook, every page, table, CSV, JSON
view and LTI grade read it (through `scores_as_seen` or `report_as_seen`), so an override
can never show on one page and not on another.

The record rules (README "Record rules"):
- a graded submission always beats a rejected or failed one, whatever the final rule, so a
  bad file (a TA's batch entry, a student's own broken upload) never replaces a graded final;
- under last-on-time a late submission counts only when the student has no on-time one.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import papers
from storage.course import show_time
from storage.models import (SCORED, Assignment, AuditEntry, FinalRule, Override, Status, Student, Submission,
                            now)

LATE_PENALTY_ITEM = "late_penalty"  # an override of this item sets the penalty fraction (e.g. 0 to waive it)


@dataclass
class GradebookRow:
    student_id: str
    name: str
    email: str
    status: str  # the final submission's status, or "missing"
    submission_id: str | None = None
    submitted_at: dt.datetime | None = None
    submitted_by: str | None = None  # a TA's token name for a batch upload
    late: bool = False
    score: float = 0.0  # before the late penalty, overrides applied
    late_penalty: float = 0.0  # points taken off for lateness
    final_score: float = 0.0
    max_score: float | None = None
    accuracy: float | None = None
    items: dict[str, float] = field(default_factory=dict)
    overridden: list[str] = field(default_factory=list)
    pending: int = 0  # uploads not graded yet, which may still change the row
    # Self-reported items (the model could not be checked as a program): item -> the points the
    # student's own process claimed. They count only once a TA overrides (accepts) them.
    needs_review: dict[str, float] = field(default_factory=dict)
    # The report of record (storage.papers.report_standing, README "Reports — for TAs"). The code's
    # fields above keep their meaning; `total` adds the report's points once a TA marked every item.
    report_status: str = "missing"  # missing, queued, checked, unreadable, failed
    report_id: str | None = None
    report_points: float | None = None  # None until every report item of a report of record is marked
    report_max: float = 0.0
    report_flag: bool = False  # its stated accuracy is far from the measured one: a TA looks
    report_failed_checks: list[str] = field(default_factory=list)
    total: float = 0.0  # final_score + report_points (when counted)


@dataclass(frozen=True)
class Scored:
    """A submission's points after overrides; what the final rule compares."""

    sub: Submission
    score: float
    items: dict[str, float]
    penalty_fraction: float
    overridden: list[str]
    needs_review: dict[str, float] = field(default_factory=dict)
    # Items the grade did not judge (e.g. accuracy without fine-tuning) and no TA has set: every
    # export leaves their cells empty ("not run"), never 0 (README "Record rules").
    skipped: frozenset[str] = frozenset()

    @property
    def penalty_points(self) -> float:
        return round(min(self.score, self.penalty_fraction * (self.sub.max_score or 0.0)), 4)

    @property
    def final(self) -> float:
        return round(self.score - self.penalty_points, 4)


def scored(sub: Submission, overrides: list[Override]) -> Scored:
    """The submission's points as its student sees them: the one score function (see the module doc)."""
    items: dict[str, float] = {}
    review: dict[str, float] = {}
    skipped: set[str] = set()
    if sub.report_json:
        for item in json.loads(sub.report_json).get("items", []):
            if item.get("verified") is False:  # not in the report's score: waits for a TA
                review[item["id"]] = float(item["points"])
                items[item["id"]] = 0.0
            else:
                items[item["id"]] = 0.0 if item.get("skipped") else float(item["points"])
            if item.get("skipped"):
                skipped.add(item["id"])
    score = float(sub.score or 0.0)
    penalty = sub.late_penalty or 0.0
    done = []
    for o in overrides:
        if o.item == LATE_PENALTY_ITEM:
            penalty = o.points
        else:
            score += o.points - items.get(o.item, 0.0)
            items[o.item] = o.points
            review.pop(o.item, None)  # a TA's points settle a self-reported item
            skipped.discard(o.item)
        done.append(o.item)
    return Scored(sub, round(score, 4), items, penalty, done, review, frozenset(skipped))


def final_submission(candidates: list[Scored], rule: str) -> Scored | None:
    """last_on_time: the newest on-time grade, else the newest late one; best: the highest after penalty.

    Under either rule a graded submission beats a rejected one: a file that could not be graded
    (a TA's bad batch entry, a student's broken upload) never replaces a graded final, or one
    unreadable file would take a student's 100 to 0. A rejected row is the final only when the
    student has nothing graded (it then says why the score is 0).
    """
    graded = [c for c in candidates if c.sub.status == Status.graded]
    candidates = graded or candidates
    if not candidates:
        return None
    if rule == FinalRule.best:
        return max(candidates, key=lambda c: (c.final, c.sub.created_at))
    on_time = [c for c in candidates if c.sub.late_s is None]
    return max(on_time or candidates, key=lambda c: c.sub.created_at)


def scores_as_seen(session: Session, *, subs: list[Submission]) -> dict[str, Scored]:
    """`scored` for each of these submissions that has a score (graded or rejected), overrides
    read in one query: what every page, table and JSON view shows as the submission's score."""
    mine = [s for s in subs if s.status in SCORED]
    overrides = overrides_of(session, submission_ids=[s.id for s in mine])
    return {s.id: scored(s, overrides.get(s.id, [])) for s in mine}


def score_as_seen(session: Session, *, sub: Submission) -> Scored | None:
    return scores_as_seen(session, subs=[sub]).get(sub.id)


def report_as_seen(report: dict[str, Any], points: Scored) -> dict[str, Any]:
    """The report with a TA's overrides written into its items and its score, as the student sees it.

    Without this the result page showed the grader's 15/20 in red beside a "changed by your TAs
    15 → 20" row. `score` becomes the score as seen (overrides and late penalty applied, the
    gradebook's final_score for this submission); `score_before_penalty` keeps the part before.
    """
    out = dict(report)
    items = []
    for item in report.get("items", []):
        item = dict(item)
        iid = item.get("id")
        if iid in points.overridden:
            item["points"] = points.items[iid]
            item["overridden"] = True
            item["skipped"] = False
            item["verified"] = True  # a TA's points settle a self-reported item
            top = item.get("max_points")
            item["passed"] = top is not None and points.items[iid] >= float(top)
        items.append(item)
    out["items"] = items
    out["score"] = points.final
    out["score_before_penalty"] = points.score
    out["late_penalty_points"] = points.penalty_points
    if points.overridden and "provisional_score" in out:
        out["provisional_score"] = round(sum(points.needs_review.values()), 4)
    return out


def late_note(session: Session, *, sub: Submission, assignment: Assignment | None) -> str | None:
    """What lateness does to this submission under the assignment's final rule, for its student.

    Under last-on-time a late file is not counted at all once the student has a graded on-time
    one, so "10 % is taken off" would be untrue there; `final_submission` is the rule this follows.
    """
    if sub.late_s is None:
        return None
    off = f"{(sub.late_penalty or 0.0):.0%} of the maximum score is taken off"
    if assignment is None or sub.student_pk is None:
        return f"Late: {off}."
    if assignment.final_rule == FinalRule.best:
        return f"Late: {off}; your best score after late penalties counts."
    on_time = session.scalars(select(Submission).where(
        Submission.student_pk == sub.student_pk, Submission.assignment_id == assignment.id,
        Submission.late_s.is_(None), Submission.status == Status.graded)
        .order_by(Submission.created_at.desc()).limit(1)).first()
    if on_time is not None:
        return (f"Late: not counted. Your last on-time submission ({show_time(on_time.created_at, assignment.timezone)}) "
                "counts; a late one counts only when there is no graded on-time submission.")
    return f"Late: {off}. It counts only while you have no graded on-time submission."


def overrides_of(session: Session, *, submission_ids: list[str]) -> dict[str, list[Override]]:
    out: dict[str, list[Override]] = {}
    if submission_ids:
        for o in session.scalars(select(Override).where(Override.submission_id.in_(submission_ids))
                                 .order_by(Override.at)):
            out.setdefault(o.submission_id, []).append(o)
    return out


def record_of(session: Session, *, assignment: Assignment, student_pk: int) -> Scored | None:
    """One student's submission of record (the gradebook's rule), for a page about that student."""
    subs = [s for s in session.scalars(select(Submission).where(Submission.assignment_id == assignment.id,
                                                                 Submission.student_pk == student_pk))
            if s.status in SCORED]
    overrides = overrides_of(session, submission_ids=[s.id for s in subs])
    return final_submission([scored(s, overrides.get(s.id, [])) for s in subs], assignment.final_rule)


def gradebook(session: Session, *, assignment: Assignment, max_score: float | None = None,
              report_items: list[papers.ReportItem] | None = None) -> list[GradebookRow]:
    """One row per roster student. `max_score`, the assignment's one maximum (the service's scale),
    fills the rows of students with nothing graded, so a missing student's row reads 0 out of it.
    `report_items` (the settings' report_item_list()) price the report; None: the report has no
    points (its status, checks and flag are still filled)."""
    students = list(session.scalars(select(Student).order_by(Student.student_id)))
    subs = list(session.scalars(select(Submission).where(Submission.assignment_id == assignment.id,
                                                         Submission.student_pk.is_not(None))))
    overrides = overrides_of(session, submission_ids=[s.id for s in subs if s.status in SCORED])
    by_student: dict[int, list[Submission]] = {}
    for s in subs:
        by_student.setdefault(s.student_pk, []).append(s)
    rows = []
    code: dict[int, Submission | None] = {}
    for st in students:
        mine = by_student.get(st.id, [])
        row = GradebookRow(student_id=st.student_id, name=st.name, email=st.email, status="missing", max_score=max_score,
                           pending=sum(1 for s in mine if s.status in (Status.queued, Status.running)))
        best = final_submission([scored(s, overrides.get(s.id, [])) for s in mine if s.status in SCORED],
                                assignment.final_rule)
        if best is not None:
            s = best.sub
            row.status, row.submission_id, row.submitted_at, row.submitted_by = s.status, s.id, s.created_at, s.submitted_by
            row.late, row.score, row.late_penalty, row.final_score = s.late_s is not None, best.score, best.penalty_points, best.final
            row.max_score, row.accuracy, row.overridden = s.max_score or max_score, s.accuracy, best.overridden
            row.items = {k: v for k, v in best.items.items() if k not in best.skipped}  # not run: no number
            row.needs_review = best.needs_review
        rows.append(row)
        code[st.id] = best.sub if best is not None else None
    reports = papers.standings(session, assignment_id=assignment.id, items=report_items or [], code=code)
    for st, row in zip(students, rows):
        _with_report(row, reports[st.id])
    return rows


def _with_report(row: GradebookRow, report: papers.ReportStanding) -> None:
    row.report_status, row.report_id = report.status, report.paper.id if report.paper is not None else None
    row.report_points, row.report_max = report.counted, report.points.max_points
    row.report_flag, row.report_failed_checks = report.claim.flagged, report.failed_checks
    row.total = round(row.final_score + (report.counted or 0.0), 4)


def override_item(session: Session, *, submission: Submission, item: str, points: float, comment: str,
                  actor: str) -> Override:
    """Set a TA's points for one item (or the late penalty fraction), and log who, when, old and new."""
    current = {o.item: o for o in overrides_of(session, submission_ids=[submission.id]).get(submission.id, [])}
    before = scored(submission, list(current.values()))
    if item == LATE_PENALTY_ITEM:
        if not 0 <= points <= 1:
            raise ValueError("The late penalty is a fraction of the maximum score, 0 to 1.")
        old = before.penalty_fraction
    else:
        if item not in before.items:
            raise ValueError(f"{item!r} is not an item of this submission's report; items: "
                             f"{', '.join(before.items) or 'none (not graded yet)'}, or {LATE_PENALTY_ITEM}.")
        old = before.items[item]
        top = _max_points(submission, item)
        if top is not None and not 0 <= points <= top:
            raise ValueError(f"{item} is worth 0 to {top:g} points.")
    o = current.get(item)
    if o is None:
        o = Override(submission_id=submission.id, item=item, points=points, comment=comment, by=actor, at=now())
        session.add(o)
    else:
        o.points, o.comment, o.by, o.at = points, comment, actor, now()
    session.add(AuditEntry(actor=actor, action="override", submission_id=submission.id, student_pk=submission.student_pk,
                           item=item, old=f"{old:g}", new=f"{points:g}", comment=comment))
    session.flush()
    return o


def audit_log(session: Session, *, student_pk: int | None = None, submission_id: str | None = None,
              limit: int = 500) -> list[AuditEntry]:
    q = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if student_pk is not None:
        q = q.where(AuditEntry.student_pk == student_pk)
    if submission_id is not None:
        q = q.where(AuditEntry.submission_id == submission_id)
    return list(session.scalars(q))


def _max_points(sub: Submission, item: str) -> float | None:
    if not sub.report_json:
        return None
    for i in json.loads(sub.report_json).get("items", []):
        if i.get("id") == item and i.get("max_points") is not None:
            return float(i["max_points"])
    return None
