"""What a submission, a gradebook row and an audit entry look like from outside: typed models,
so that /docs shows them."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel

from grader.report import without_other_grades
from storage.gradebook import GradebookRow
from storage.models import AuditEntry, Status, Submission

TIME = "%Y-%m-%d %H:%M:%S UTC"


class SubmissionView(BaseModel):
    id: str
    student_id: str
    filename: str
    sha256: str
    status: str
    score: float | None
    max_score: float | None
    accuracy: float | None
    created_at: str
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


def submission_view(sub: Submission, *, with_report: bool = True, released: bool = True) -> SubmissionView:
    report = without_other_grades(json.loads(sub.report_json)) if sub.report_json else None
    structure = json.loads(sub.structure_json) if sub.structure_json and report is None else None
    if not released:  # structure feedback at once; score, points and accuracy after the deadline
        full = report or structure
        report, structure = None, ({"checks": full.get("checks"), "error": full.get("error"), "held": True}
                                   if full else None)
    return SubmissionView(
        id=sub.id, student_id=sub.student_id, filename=sub.filename, sha256=sub.sha256, status=sub.status,
        score=sub.score if released else None, max_score=sub.max_score if released else None,
        accuracy=sub.accuracy if released else None, created_at=sub.created_at.strftime(TIME),
        batch_id=sub.batch_id, progress=json.loads(sub.progress_json) if sub.progress_json else None,
        url=f"/s/{sub.id}", self_check=sub.student_pk is None, submitted_by=sub.submitted_by,
        late=sub.late_s is not None, late_penalty=sub.late_penalty or 0.0, released=released,
        failure=("The grader itself failed on this file; the TAs have been told. " + (sub.failure or ""))
        if sub.status == Status.failed else None,
        report=report if with_report else None, structure=structure if with_report else None)


class GradebookRowView(BaseModel):
    student_id: str
    name: str
    email: str
    status: str
    submission_id: str | None
    submitted_at: str | None
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


def gradebook_row_view(row: GradebookRow) -> GradebookRowView:
    data = dict(row.__dict__)
    data["submitted_at"] = row.submitted_at.strftime(TIME) if row.submitted_at else None
    return GradebookRowView(**data)


class AuditView(BaseModel):
    at: str
    actor: str
    action: str
    submission_id: str | None
    item: str | None
    old: str | None
    new: str | None
    comment: str


def audit_view(entry: AuditEntry) -> AuditView:
    return AuditView(at=entry.at.strftime(TIME), actor=entry.actor, action=entry.action,
                     submission_id=entry.submission_id, item=entry.item, old=entry.old, new=entry.new,
                     comment=entry.comment)


def utc(t: dt.datetime | None) -> str | None:
    return t.strftime(TIME) if t else None
