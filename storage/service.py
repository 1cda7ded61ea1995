"""Submission records: create, claim, progress, finish, recover. Used by API and worker.

Every state change is a conditional UPDATE, so two workers handed the same id store one
result, and a job whose worker died is found by its stale heartbeat and sent again.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Select, Update, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import FINAL, SCORED, Batch, Status, Submission, now

__all__ = ["FINAL", "Status"]  # FINAL is re-exported for the routes that import it from here


def claim(session: Session, submission_id: str, worker: str, heartbeat_timeout_s: float) -> Submission | None:
    """Take the job unless it is finished or another live worker holds it."""
    stale = now() - dt.timedelta(seconds=heartbeat_timeout_s)
    stmt = (update(Submission)
            .where(Submission.id == submission_id,
                   or_(Submission.status == Status.queued,
                       (Submission.status == Status.running) & (Submission.heartbeat_at < stale)))
            .values(status=Status.running, worker=worker, started_at=now(), heartbeat_at=now(),
                    attempts=Submission.attempts + 1)
            .execution_options(synchronize_session=False))
    if session.execute(stmt).rowcount != 1:
        return None
    session.commit()
    return session.get(Submission, submission_id)


def heartbeat(session: Session, submission_id: str, worker: str, progress: dict[str, Any] | None = None) -> None:
    values: dict[str, Any] = {"heartbeat_at": now()}
    if progress is not None:
        values["progress_json"] = json.dumps(progress)
    session.execute(update(Submission).where(Submission.id == submission_id, Submission.worker == worker,
                                             Submission.status == Status.running).values(**values))
    session.commit()


def finish(session: Session, submission_id: str, worker: str, *, status: str, report_json: str | None,
           score: float | None = None, max_score: float | None = None, accuracy: float | None = None,
           config_key: str | None = None, failure: str | None = None) -> bool:
    """Store the result once: only the worker that holds the claim can."""
    stmt = (update(Submission)
            .where(Submission.id == submission_id, Submission.worker == worker, Submission.status == Status.running)
            .values(status=status, report_json=report_json, score=score, max_score=max_score, accuracy=accuracy,
                    config_key=config_key, failure=failure, finished_at=now(), regrade=False,
                    progress_json=json.dumps({"event": "done", "status": status})))
    stored = session.execute(stmt).rowcount == 1
    session.commit()
    return stored


def reusable_report(session: Session, sha256: str, config_key: str, exclude_id: str) -> Submission | None:
    """An earlier grade of the same bytes with the same rubric, checkpoint and mode."""
    return session.scalars(
        select(Submission).where(Submission.sha256 == sha256, Submission.config_key == config_key,
                                 Submission.status.in_(SCORED), Submission.id != exclude_id)
        .order_by(Submission.finished_at.desc()).limit(1)).first()


def stuck(session: Session, *, heartbeat_timeout_s: float, resend_after_s: float | None) -> list[str]:
    """Jobs to send again: queued and never sent (or, given resend_after_s, sent that long ago),
    or running with a silent worker."""
    t = now()
    unsent = Submission.sent_at.is_(None)
    if resend_after_s is not None:
        unsent = or_(unsent, Submission.sent_at < t - dt.timedelta(seconds=resend_after_s))
    silent_since = t - dt.timedelta(seconds=heartbeat_timeout_s)
    # A silent grade stays `running` with its old heartbeat until a worker claims the job sent
    # again, so it is re-sent at most once per heartbeat timeout: bench.deadline_day's worker,
    # killed mid-rush, had its job re-sent at every recovery pass (30 copies a minute) while
    # the new worker was busy.
    not_resent_lately = or_(Submission.sent_at.is_(None), Submission.sent_at < silent_since)
    rows = session.scalars(select(Submission.id).where(or_(
        (Submission.status == Status.queued) & unsent,
        (Submission.status == Status.running) & (Submission.heartbeat_at < silent_since) & not_resent_lately,
    )).limit(500)).all()
    return list(rows)


def mark_sent(session: Session, ids: list[str]) -> None:
    if ids:
        session.execute(update(Submission).where(Submission.id.in_(ids)).values(sent_at=now()))
        session.commit()


def mark_unsent(session: Session, ids: list[str]) -> None:
    session.execute(update(Submission).where(Submission.id.in_(ids), Submission.status == Status.queued)
                    .values(sent_at=None))
    session.commit()


# ---------------------------------------------------------------- the upload side (keyword-only)

def _supersede(by_pk: bool) -> Update:
    """The student's earlier upload still queued for this assignment becomes superseded: the student
    is the roster entry (by_pk), or, in self-check mode, the typed ID outside any batch. A Core
    statement on the table (no identity map to keep in step: the caller's session holds no rows)."""
    t = Submission.__table__.c
    same = (t.student_pk == bindparam("b_student_pk") if by_pk else
            t.student_pk.is_(None) & (t.student_id == bindparam("b_student_id")) & t.batch_id.is_(None))
    return (update(Submission.__table__)
            .where(same, t.assignment_id.is_not_distinct_from(bindparam("b_assignment_id")), t.status == Status.queued)
            .values(status=Status.superseded, finished_at=bindparam("b_at"),
                    progress_json=json.dumps({"event": "done", "status": Status.superseded})))


# Built once (by roster entry, by typed ID): building it cost an upload more CPU than running it.
_SUPERSEDE = {True: _supersede(True), False: _supersede(False)}


def record_submission(session: Session, *, student_id: str, filename: str, data: bytes, sha256: str,
                      skip_training: bool, assignment_id: int | None, student_pk: int | None = None,
                      batch_id: str | None = None, submitted_by: str | None = None, late_s: float | None = None,
                      late_penalty: float = 0.0) -> Submission:
    """Commit a new queued submission with its bytes (so a worker on any host can grade it).

    A student's earlier upload that is still queued is superseded: at most one grade per
    student waits in the queue, so one student's burst cannot hold up the others. The student
    is the roster entry; in self-check mode, the typed ID (a TA batch supersedes nothing there).
    """
    if student_pk is not None or batch_id is None:
        who = {"b_student_pk": student_pk} if student_pk is not None else {"b_student_id": student_id}
        session.execute(_SUPERSEDE[student_pk is not None], {**who, "b_assignment_id": assignment_id, "b_at": now()})
    sub = Submission(student_id=student_id, filename=filename, sha256=sha256, size_bytes=len(data), content=data,
                     batch_id=batch_id, skip_training=skip_training, sent_at=now(), assignment_id=assignment_id,
                     student_pk=student_pk, submitted_by=submitted_by, late_s=late_s, late_penalty=late_penalty,
                     status=Status.queued)
    session.add(sub)
    session.commit()
    return sub


def recent_uploads_query(*, since: dt.datetime, student_pk: int | None = None, student_id: str | None = None) -> Select:
    """The count of a student's own uploads (not a TA's batch for them) since a time: by roster entry, or by typed ID."""
    q = select(func.count()).select_from(Submission).where(Submission.created_at >= since,
                                                           Submission.batch_id.is_(None))
    return q.where(Submission.student_pk == student_pk) if student_pk is not None else \
        q.where(Submission.student_id == student_id, Submission.student_pk.is_(None))


def recent_uploads(session: Session, *, since: dt.datetime, student_pk: int | None = None,
                   student_id: str | None = None) -> int:
    """A student's own uploads (not a TA's batch for them) since a time: by roster entry, or by typed ID."""
    return session.scalar(recent_uploads_query(since=since, student_pk=student_pk, student_id=student_id)) or 0


def get_submission(session: Session, *, submission_id: str) -> Submission | None:
    return session.get(Submission, submission_id)


def submissions_by_ids(session: Session, *, ids: list[str]) -> list[Submission]:
    if not ids:
        return []
    return list(session.scalars(select(Submission).where(Submission.id.in_(ids))
                                .order_by(Submission.created_at.desc())))


def requeue(session: Session, *, ids: list[str], skip_training: bool) -> None:
    """Grade again (e.g. after a rubric change); a running grade is left to finish."""
    session.execute(update(Submission).where(Submission.id.in_(ids), Submission.status != Status.running)
                    .values(status=Status.queued, regrade=True, worker=None, structure_json=None, progress_json=None,
                            skip_training=skip_training, sent_at=now())
                    .execution_options(synchronize_session=False))
    session.commit()


def create_batch(session: Session, *, name: str, token_name: str) -> Batch:
    batch = Batch(name=name[:200], token_name=token_name)
    session.add(batch)
    session.commit()
    return batch


def batch_submissions(session: Session, *, batch_id: str) -> list[Submission] | None:
    """The batch's submissions by student ID, or None when there is no such batch."""
    if session.get(Batch, batch_id) is None:
        return None
    return list(session.scalars(select(Submission).where(Submission.batch_id == batch_id)
                                .order_by(Submission.student_id)))


def store_structure(session: Session, *, submission_id: str, worker: str, structure_json: str) -> None:
    """The structure verdict, shown before fine-tuning ends; only the worker holding the claim writes it."""
    session.execute(update(Submission).where(Submission.id == submission_id, Submission.worker == worker,
                                             Submission.status == Status.running)
                    .values(structure_json=structure_json))
    session.commit()


def queue_position(session: Session, *, submission: Submission, window: int = 20) -> tuple[int, float | None]:
    """Where a queued grade stands: how many queued grades go before it (FIFO; at most one per
    roster student, so the order is round-robin across students) and an estimate of the wait
    in seconds from the recent grade times and the workers seen lately (None: no grade yet)."""
    ahead = session.scalar(select(func.count()).select_from(Submission)
                           .where(Submission.status == Status.queued, Submission.created_at < submission.created_at)) or 0
    recent = session.execute(select(Submission.started_at, Submission.finished_at, Submission.worker)
                             .where(Submission.status.in_(SCORED), Submission.started_at.is_not(None),
                                    Submission.finished_at.is_not(None))
                             .order_by(Submission.finished_at.desc()).limit(window)).all()
    if not recent:
        return ahead + 1, None
    mean = sum((f - s).total_seconds() for s, f, _ in recent) / len(recent)
    since = now() - dt.timedelta(minutes=10)
    workers = session.scalar(select(func.count(func.distinct(Submission.worker)))
                             .where(Submission.heartbeat_at >= since)) or 1
    running = session.scalar(select(func.count()).select_from(Submission).where(Submission.status == Status.running)) or 0
    return ahead + 1, mean * (ahead + min(running, workers)) / workers + mean
