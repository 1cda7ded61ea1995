"""Queries behind the TA dashboard: an assignment's uploads, the live queue, one table page.

Keyword-only functions, as in the rest of storage/; the routes in api/routes/ta.py only do HTTP.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from storage.gradebook import scores_as_seen
from storage.models import SCORED, Assignment, Status, Student, Submission, now

SortKey = Literal["time", "student", "score", "accuracy", "status"]


@dataclass(frozen=True)
class UploadRow:
    """One upload as the submissions table shows it (its report summarised, not shipped)."""

    id: str
    student_id: str
    name: str
    created_at: dt.datetime
    status: str
    score: float | None
    max_score: float | None
    accuracy: float | None
    late: bool
    submitted_by: str | None
    failed_items: tuple[str, ...] = ()
    self_reported: bool = False


@dataclass(frozen=True)
class QueueEntry:
    id: str
    student_id: str
    status: str
    position: int | None  # 1 = next; None while running
    created_at: dt.datetime
    started_at: dt.datetime | None
    worker: str | None
    progress: dict[str, Any] | None
    eta_s: float | None  # seconds until it is graded (estimate)


@dataclass
class QueueSnapshot:
    entries: list[QueueEntry] = field(default_factory=list)
    queued: int = 0
    running: int = 0
    mean_grade_s: float | None = None
    workers: int = 0
    drain_s: float | None = None  # estimated time until the queue is empty


def assignment_uploads(session: Session, *, assignment: Assignment) -> list[tuple[str, str]]:
    """(student_id, status) of every roster upload to the assignment; cheap (two columns)."""
    return [(s, st) for s, st in session.execute(
        select(Submission.student_id, Submission.status)
        .where(Submission.assignment_id == assignment.id, Submission.student_pk.is_not(None)))]


def reports_by_id(session: Session, *, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The parsed reports of these submissions (those that have one)."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for sid, text in session.execute(select(Submission.id, Submission.report_json)
                                         .where(Submission.id.in_(chunk), Submission.report_json.is_not(None))):
            try:
                out[sid] = json.loads(text)
            except ValueError:
                continue  # a damaged report shows as no report, never as a crash of the page
    return out


def _summary(report_json: str | None) -> tuple[tuple[str, ...], bool]:
    if not report_json:
        return (), False
    try:
        items = json.loads(report_json).get("items", [])
    except (ValueError, AttributeError):
        return (), False
    failed = tuple(i["id"] for i in items if isinstance(i, dict) and not i.get("passed") and not i.get("skipped")
                   and "id" in i)
    review = any(isinstance(i, dict) and i.get("verified") is False for i in items)
    return failed, review


def upload_rows(session: Session, *, assignment: Assignment) -> list[UploadRow]:
    """Every roster upload to the assignment, newest first, with its report summarised and its score
    as the student sees it (storage.gradebook.scored), so the table agrees with the gradebook."""
    q = (select(Submission, Student.name).join(Student, Student.id == Submission.student_pk)
         .where(Submission.assignment_id == assignment.id)
         .options(defer(Submission.content), defer(Submission.structure_json), defer(Submission.progress_json))
         .order_by(Submission.created_at.desc(), Submission.id))
    found = list(session.execute(q).all())
    seen = scores_as_seen(session, subs=[sub for sub, _ in found])  # overrides and late penalty applied
    rows = []
    for sub, name in found:
        failed, review = _summary(sub.report_json)
        score = seen[sub.id].final if sub.id in seen else sub.score
        rows.append(UploadRow(id=sub.id, student_id=sub.student_id, name=name, created_at=sub.created_at,
                              status=sub.status, score=score, max_score=sub.max_score, accuracy=sub.accuracy,
                              late=sub.late_s is not None, submitted_by=sub.submitted_by,
                              failed_items=failed, self_reported=review))
    return rows


def filter_rows(rows: list[UploadRow], *, status: str = "", item: str = "", late: bool = False,
                self_reported: bool = False, query: str = "", final_ids: set[str] | None = None) -> list[UploadRow]:
    """The table's filters; `final_ids` keeps only the gradebook's final submissions."""
    q = query.strip().lower()
    out = []
    for r in rows:
        if status and r.status != status:
            continue
        if item and item not in r.failed_items:
            continue
        if late and not r.late:
            continue
        if self_reported and not r.self_reported:
            continue
        if final_ids is not None and r.id not in final_ids:
            continue
        if q and q not in r.student_id.lower() and q not in r.name.lower():
            continue
        out.append(r)
    return out


def sort_rows(rows: list[UploadRow], *, key: SortKey = "time", descending: bool = True) -> list[UploadRow]:
    """Missing numbers sort last either way."""
    def value(r: UploadRow) -> Any:
        return {"time": r.created_at, "student": r.student_id.lower(), "score": r.score,
                "accuracy": r.accuracy, "status": r.status}[key]

    present = [r for r in rows if value(r) is not None]
    absent = [r for r in rows if value(r) is None]
    return sorted(present, key=lambda r: (value(r), r.id), reverse=descending) + absent


def student_history(session: Session, *, student_pk: int, assignment: Assignment) -> list[Submission]:
    return list(session.scalars(select(Submission).where(Submission.student_pk == student_pk,
                                                         Submission.assignment_id == assignment.id)
                                .options(defer(Submission.content), defer(Submission.report_json))
                                .order_by(Submission.created_at.desc())))


def final_contents(session: Session, *, ids: list[str]) -> dict[str, tuple[str, bytes]]:
    """id -> (student_id, file bytes) of these submissions: the similarity report's input."""
    out: dict[str, tuple[str, bytes]] = {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for sid, student, content in session.execute(
                select(Submission.id, Submission.student_id, Submission.content).where(Submission.id.in_(chunk))):
            if content is not None:
                out[sid] = (student, content)
    return out


def queue_snapshot(session: Session, *, window: int = 20, limit: int = 50) -> QueueSnapshot:
    """Running and queued grades with an ETA each, from the recent grade times and live workers.

    The same estimate as a student's page (storage.service.queue_position), for the whole queue
    at once: one query for the queue, one for the recent grade times, one for the workers.
    """
    recent = session.execute(select(Submission.started_at, Submission.finished_at)
                             .where(Submission.status.in_(SCORED), Submission.started_at.is_not(None),
                                    Submission.finished_at.is_not(None))
                             .order_by(Submission.finished_at.desc()).limit(window)).all()
    mean = sum((f - s).total_seconds() for s, f in recent) / len(recent) if recent else None
    since = now() - dt.timedelta(minutes=10)
    workers = session.scalar(select(func.count(func.distinct(Submission.worker)))
                             .where(Submission.heartbeat_at >= since)) or 0
    running = list(session.execute(
        select(Submission.id, Submission.student_id, Submission.created_at, Submission.started_at,
               Submission.worker, Submission.progress_json).where(Submission.status == Status.running)
        .order_by(Submission.started_at)))
    queued_n = session.scalar(select(func.count()).select_from(Submission)
                              .where(Submission.status == Status.queued)) or 0
    queued = list(session.execute(
        select(Submission.id, Submission.student_id, Submission.created_at)
        .where(Submission.status == Status.queued).order_by(Submission.created_at).limit(limit)))
    # A worker grading now counts even when its grade's heartbeat is older than the window (a long fine-tune
    # between two beats, a clock step): never "0 worker(s)" beside a running grade.
    workers = max(workers, len({r.worker for r in running}))
    snap = QueueSnapshot(queued=queued_n, running=len(running), mean_grade_s=mean, workers=workers)
    slots = max(workers, 1)
    clock = now()
    for sid, student, created, started, worker, progress in running:
        left = None
        if mean is not None and started is not None:
            left = max(mean - (clock - started).total_seconds(), 0.0)
        snap.entries.append(QueueEntry(id=sid, student_id=student, status=Status.running, position=None,
                                       created_at=created, started_at=started, worker=worker,
                                       progress=_progress(progress), eta_s=left))
    for i, (sid, student, created) in enumerate(queued):
        eta = mean * (i + min(len(running), slots)) / slots + mean if mean is not None else None
        snap.entries.append(QueueEntry(id=sid, student_id=student, status=Status.queued, position=i + 1,
                                       created_at=created, started_at=None, worker=None, progress=None, eta_s=eta))
    if mean is not None:
        snap.drain_s = mean * (queued_n + min(len(running), slots)) / slots if (queued_n or running) else 0.0
    return snap


def _progress(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
