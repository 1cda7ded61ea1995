"""Accepting a submission: store the file, record it, send the job. Shared by all upload routes."""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fastapi import UploadFile
from fastapi.concurrency import run_in_threadpool

from api.uploads import UploadError, check_source, check_student_id
from grader.settings import Settings
from storage import service
from storage.db import session_scope, write_lock
from storage.files import FileStore
from storage.models import Submission, now
from storage.queue import enqueue

log = logging.getLogger(__name__)


async def submit_upload(settings: Settings, store: FileStore, *, student_id: str, file: UploadFile,
                        access_code: str) -> Submission:
    """Check, store and record a student's upload, or raise UploadError saying why not.

    All blocking work (rate count, file, row) is one trip to the threadpool with its own
    session: each trip costs the event loop a wake-up, and an upload rush is made of them.
    """
    if settings.access_code and access_code != settings.access_code:
        raise UploadError("The course access code is not right.", 403)
    sid = check_student_id(student_id)
    data = await file.read(settings.max_upload_kb * 1024 + 1)
    check_source(data, file.filename or "upload", settings.max_upload_kb * 1024)
    filename = file.filename or "resnet50_skeleton.py"

    def record() -> Submission:
        url = settings.resolved_database_url()
        with write_lock(url), session_scope(url) as session:
            check_rate(session, settings, sid)
            return accept(session, store, settings, student_id=sid, filename=filename, data=data)

    return await run_in_threadpool(record)


def check_rate(session: Session, settings: Settings, student_id: str) -> None:
    since = now() - dt.timedelta(hours=1)
    count = session.scalar(select(func.count()).select_from(Submission)
                           .where(Submission.student_id == student_id, Submission.created_at >= since,
                                  Submission.batch_id.is_(None)))
    if count >= settings.student_rate_per_hour:
        raise UploadError(f"{count} uploads in the last hour for {student_id}; the limit is "
                          f"{settings.student_rate_per_hour}. Try again later.", 429)


def accept(session: Session, store: FileStore, settings: Settings, *, student_id: str, filename: str,
           data: bytes, batch_id: str | None = None) -> Submission:
    """Store the file and commit the row; the caller sends the job (after the response).

    The row is committed first, so a broker outage or an API crash before the send only
    delays the grade: the workers' recovery loop sends queued jobs whose send is overdue.
    """
    sha256 = store.put(data)
    sub = Submission(student_id=student_id, filename=filename, sha256=sha256, size_bytes=len(data),
                     batch_id=batch_id, skip_training=settings.skip_training, sent_at=now())
    session.add(sub)
    session.commit()
    return sub


def send(settings: Settings, ids: list[str]) -> None:
    """Send jobs by name; one that fails to send is marked unsent for the recovery loop."""
    failed = []
    for sid in ids:
        try:
            enqueue(settings.resolved_broker_url(), sid)
        except Exception:  # the worker's recovery loop sends it when the broker is back
            log.exception("could not send %s now; it stays queued", sid)
            failed.append(sid)
    if failed:
        with session_scope(settings.resolved_database_url()) as session:
            service.mark_unsent(session, failed)
