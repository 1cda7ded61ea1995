"""What a submission, a gradebook row and an audit entry look like from outside: typed models,
so that /docs shows them.

Scores come from storage.gradebook's one score function (overrides and late penalty applied),
never from the raw `score` column; times are ISO 8601 with the offset of the assignment's zone
(storage.course.iso_time), with a `*_shown` twin in words for the pages.
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from grader.report import without_other_grades
from storage import course
from storage.gradebook import GradebookRow, Scored, late_note, report_as_seen, scores_as_seen
from storage.models import Assignment, AuditEntry, Status, Submission


class SubmissionView(BaseModel):
    id: str
    student_id: str
    filename: str
    sha256: str
    status: str
    score: float | None  # as the student sees it: TA overrides and the late penalty applied
    max_score: float | None
    accuracy: float | None
    created_at: str  # ISO 8601 with the offset of the assignment's time zone
    batch_id: str | None
    progress: dict[str, Any] | None
    url: str
    self_check: bool  # an open self-check upload: counts in no gradebook
    submitted_by: str | None = None  # a TA's name when a TA uploaded it for the student
    late: bool = False
    late_penalty: float = 0.0  # fraction of the maximum score
    released: bool = True  # False: score and accuracy are shown after the deadline
    failure: str | None = None
    report: dict[str, Any] | None = None
    structure: dict[str, Any] | None = None
    created_at_shown: str = ""  # the same time for people: in the assignment's zone, with its name
    score_before_penalty: float | None = None  # overrides applied, late penalty not yet
    late_penalty_points: float = 0.0
    overridden: list[str] = []  # items a TA set (their points are in `report` and `score`)
    late_note: str | None = None  # what lateness does to this submission under the final rule


def submission_view(sub: Submission, *, points: Scored | None, zone: str, with_report: bool = True,
                    released: bool = True, note: str | None = None) -> SubmissionView:
    """`points` is storage.gradebook's score of this submission (None until it has one); build it
    with `submission_views`, which reads the overrides and the zone for you."""
    report = without_other_grades(json.loads(sub.report_json)) if sub.report_json else None
    if report is not None and points is not None:
        report = report_as_seen(report, points)
    structure = json.loads(sub.structure_json) if sub.structure_json and report is None else None
    if not released:  # structure feedback at once; score, points and accuracy after the deadline
        full = report or structure
        report, structure = None, ({"checks": full.get("checks"), "error": full.get("error"), "held": True}
                                   if full else None)
    return SubmissionView(
        id=sub.id, student_id=sub.student_id, filename=sub.filename, sha256=sub.sha256, status=sub.status,
        score=(points.final if points is not None else sub.score) if released else None,
        max_score=sub.max_score if released else None,
        accuracy=sub.accuracy if released else None, created_at=course.iso_time(sub.created_at, zone),
        created_at_shown=course.show_time(sub.created_at, zone, seconds=True),
        score_before_penalty=points.score if points is not None and released else None,
        late_penalty_points=points.penalty_points if points is not None and released else 0.0,
        overridden=list(points.overridden) if points is not None and released else [],
        late_note=note,
        batch_id=sub.batch_id, progress=json.loads(sub.progress_json) if sub.progress_json else None,
        url=f"/s/{sub.id}", self_check=sub.student_pk is None, submitted_by=sub.submitted_by,
        late=sub.late_s is not None, late_penalty=sub.late_penalty or 0.0, released=released,
        failure=("The grader itself failed on this file; the TAs have been told. " + (sub.failure or ""))
        if sub.status == Status.failed else None,
        report=report if with_report else None, structure=structure if with_report else None)


def submission_views(session: Session, subs: list[Submission], *, with_report: bool = True,
                     released: bool = True, notes: bool = False) -> list[SubmissionView]:
    """Views of these submissions with their scores as seen (overrides read in one query) and their
    times in their assignment's zone; `notes` adds what lateness does to each under the final rule."""
    points = scores_as_seen(session, subs=subs)
    assignments: dict[int | None, Assignment | None] = {}
    out = []
    for s in subs:
        if s.assignment_id not in assignments:
            assignments[s.assignment_id] = session.get(Assignment, s.assignment_id) if s.assignment_id else None
        a = assignments[s.assignment_id]
        out.append(submission_view(s, points=points.get(s.id), zone=a.timezone if a else "UTC",
                                   with_report=with_report, released=released,
                                   note=late_note(session, sub=s, assignment=a) if notes else None))
    return out


def one_view(session: Session, sub: Submission, *, with_report: bool = True, released: bool = True,
             notes: bool = False) -> SubmissionView:
    return submission_views(session, [sub], with_report=with_report, released=released, notes=notes)[0]


class GradebookRowView(BaseModel):
    student_id: str
    name: str
    email: str
    status: str
    submission_id: str | None
    submitted_at: str | None  # ISO 8601 with the offset of the assignment's time zone
    submitted_by: str | None
    late: bool
    score: float
    late_penalty: float
    final_score: float
    max_score: float | None
    accuracy: float | None
    items: dict[str, float]
    overridden: list[str]
    pending: int
    # The report of record (README "Reports — for TAs"); final_score stays the code's.
    report_status: str  # missing, queued, checked, unreadable, failed
    report_id: str | None
    report_points: float | None  # None until a TA has marked every report item
    report_max: float
    report_flag: bool  # the stated accuracy is far from the measured one (never deducted)
    report_failed_checks: list[str]
    total: float  # final_score + report_points once counted


def gradebook_row_view(row: GradebookRow, *, zone: str) -> GradebookRowView:
    data = dict(row.__dict__)
    data["submitted_at"] = course.iso_time(row.submitted_at, zone)
    return GradebookRowView(**data)


class AuditView(BaseModel):
    at: str  # ISO 8601 with an offset
    actor: str
    action: str
    submission_id: str | None
    item: str | None
    old: str | None
    new: str | None
    comment: str
    at_shown: str = ""  # the same time for people, with its zone's name


def audit_view(entry: AuditEntry, *, zone: str = "UTC") -> AuditView:
    return AuditView(at=course.iso_time(entry.at, zone), actor=entry.actor, action=entry.action,
                     submission_id=entry.submission_id, item=entry.item, old=entry.old, new=entry.new,
                     comment=entry.comment, at_shown=course.show_time(entry.at, zone, seconds=True))
