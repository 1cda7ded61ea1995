"""The gradebook of record: one row per roster student, from the final submission by the
assignment's rule, with TA overrides applied and the late penalty shown apart.

Computed on read from the submissions, so a regrade (e.g. after a rubric change) or an
override shows at once; nothing is cached that could go stale.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

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


@dataclass(frozen=True)
class Scored:
    """A submission's points after overrides; what the final rule compares."""

    sub: Submission
    score: float
    items: dict[str, float]
    penalty_fraction: float
    overridden: list[str]
    needs_review: dict[str, float] = field(default_factory=dict)

    @property
    def penalty_points(self) -> float:
        return round(min(self.score, self.penalty_fraction * (self.sub.max_score or 0.0)), 4)

    @property
    def final(self) -> float:
        return round(self.score - self.penalty_points, 4)


def scored(sub: Submission, overrides: list[Override]) -> Scored:
    items: dict[str, float] = {}
    review: dict[str, float] = {}
    if sub.report_json:
        for item in json.loads(sub.report_json).get("items", []):
            if item.get("verified") is False:  # not in the report's score: waits for a TA
                review[item["id"]] = float(item["points"])
                items[item["id"]] = 0.0
            else:
                items[item["id"]] = 0.0 if item.get("skipped") else float(item["points"])
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
        done.append(o.item)
    return Scored(sub, round(score, 4), items, penalty, done, review)


def final_submission(candidates: list[Scored], rule: str) -> Scored | None:
    """last_on_time: the newest on-time grade, else the newest late one; best: the highest after penalty."""
    if not candidates:
        return None
    if rule == FinalRule.best:
        return max(candidates, key=lambda c: (c.final, c.sub.created_at))
    on_time = [c for c in candidates if c.sub.late_s is None]
    return max(on_time or candidates, key=lambda c: c.sub.created_at)


def overrides_of(session: Session, *, submission_ids: list[str]) -> dict[str, list[Override]]:
    out: dict[str, list[Override]] = {}
    if submission_ids:
        for o in session.scalars(select(Override).where(Override.submission_id.in_(submission_ids))
                                 .order_by(Override.at)):
            out.setdefault(o.submission_id, []).append(o)
    return out


def gradebook(session: Session, *, assignment: Assignment) -> list[GradebookRow]:
    students = list(session.scalars(select(Student).order_by(Student.student_id)))
    subs = list(session.scalars(select(Submission).where(Submission.assignment_id == assignment.id,
                                                         Submission.student_pk.is_not(None))))
    overrides = overrides_of(session, submission_ids=[s.id for s in subs if s.status in SCORED])
    by_student: dict[int, list[Submission]] = {}
    for s in subs:
        by_student.setdefault(s.student_pk, []).append(s)
    rows = []
    for st in students:
        mine = by_student.get(st.id, [])
        row = GradebookRow(student_id=st.student_id, name=st.name, email=st.email, status="missing",
                           pending=sum(1 for s in mine if s.status in (Status.queued, Status.running)))
        best = final_submission([scored(s, overrides.get(s.id, [])) for s in mine if s.status in SCORED],
                                assignment.final_rule)
        if best is not None:
            s = best.sub
            row.status, row.submission_id, row.submitted_at, row.submitted_by = s.status, s.id, s.created_at, s.submitted_by
            row.late, row.score, row.late_penalty, row.final_score = s.late_s is not None, best.score, best.penalty_points, best.final
            row.max_score, row.accuracy, row.items, row.overridden = s.max_score, s.accuracy, best.items, best.overridden
            row.needs_review = best.needs_review
        rows.append(row)
    return rows


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
