"""Accepting a submission: who may upload, is it on time, store it, record it, send the job.

Identity, the deadline and the rate limit are decided before the file is checked or stored;
the server's clock decides lateness. Shared by the page and the REST route.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from fastapi import Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.auth import signed_in_student
from api.uploads import UploadError, ZipContents, check_report, check_source, check_student_id
from service.settings import ServiceSettings
from storage import batches, course, papers, service
from storage.db import session_scope, write_lock
from storage.files import FileStore
from storage.models import Paper, Submission, now
from storage.rejected import record_rejected
from storage.queue import enqueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admission:
    """Who the upload is for and what the clock said; decided before the body is read."""

    student_id: str
    student_pk: int | None  # None: open self-check mode (no roster), never in a gradebook
    assignment_id: int
    late: course.Lateness


def admit(session: Session, request: Request, settings: ServiceSettings, *, typed_student_id: str,
          access_code: str) -> Admission:
    """With a roster: the signed-in student, on time or late per policy. Without: the typed ID."""
    assignment = course.default_assignment(session, name=settings.assignment)
    # A signed-in student found means there is a roster: the roster count is asked only otherwise.
    student = signed_in_student(request, session, forget_stale=False)
    if student is not None or course.has_roster(session):
        student = student or signed_in_student(request, session)  # a stale sign-in is forgotten, as on any page
        if student is None:
            raise UploadError("Sign in first with the personal link your TA sent you; "
                              "uploads count only for signed-in students.", 401)
        at = now()
        late = course.lateness(assignment, at=at,
                               extension=course.extension_until(session, assignment=assignment, student_pk=student.id))
        if not late.accepted:
            raise UploadError(late.message + " Nothing was stored.", 403)
        admission = Admission(student.student_id, student.id, assignment.id, late)
    else:
        if settings.access_code and access_code != settings.access_code:
            raise UploadError("The course access code is not right.", 403)
        admission = Admission(check_student_id(typed_student_id), None, assignment.id, course.Lateness(True, None, 0.0, ""))
    check_rate(session, settings, admission)
    return admission


async def submit_upload(settings: ServiceSettings, store: FileStore, request: Request, *, file: UploadFile,
                        typed_student_id: str = "", access_code: str = "",
                        report: UploadFile | None = None) -> Submission:
    """Check, store and record a student's upload (and the report PDF sent with it), or raise
    UploadError saying why not; when either file is refused, neither is stored.

    The checks keep their order (who and when, the rate, the code, the report, the rate again
    under the write lock), all in one threadpool call: each hop is a thread handoff and a wake
    of the event loop, and an upload made two. The bytes are read first, from memory (a
    student's form never touches disk: api.limits.keep_in_memory), and only looked at after
    the admission.
    """
    url = settings.resolved_database_url()
    max_bytes = settings.max_upload_kb * 1024
    data = await file.read(max_bytes + 1)
    filename = file.filename or "resnet50_skeleton.py"
    pdf_data = await report.read((settings.max_report_mb << 20) + 1) if report is not None and present(report) else None

    def admit_and_record() -> Submission:
        with session_scope(url) as session:
            admission = admit(session, request, settings, typed_student_id=typed_student_id, access_code=access_code)
        check_source(data, file.filename or "upload", max_bytes, size=file.size)
        pdf = check_read_report(settings, report, pdf_data) if report is not None and pdf_data is not None else None
        with write_lock(url), session_scope(url) as session:
            check_rate(session, settings, admission)  # again under the lock: a burst cannot slip past
            sub = accept(session, store, settings, student_id=admission.student_id, filename=filename, data=data,
                         assignment_id=admission.assignment_id, student_pk=admission.student_pk,
                         late_s=admission.late.late_s, late_penalty=admission.late.penalty)
            if pdf is not None:
                papers.record_paper(session, student_id=admission.student_id, filename=pdf[0], data=pdf[1],
                                    student_pk=admission.student_pk, assignment_id=admission.assignment_id,
                                    submission_id=sub.id, late_s=admission.late.late_s)
            return sub

    return await run_in_threadpool(admit_and_record)


def present(upload: UploadFile | None) -> bool:
    """A form's optional file input sends an empty part with no name when nothing was chosen."""
    return upload is not None and bool(upload.filename)


async def read_report(settings: ServiceSettings, upload: UploadFile) -> tuple[str, bytes]:
    data = await upload.read((settings.max_report_mb << 20) + 1)
    return check_read_report(settings, upload, data)


def check_read_report(settings: ServiceSettings, upload: UploadFile, data: bytes) -> tuple[str, bytes]:
    """The report's name and bytes (read up to one byte past the limit), or UploadError."""
    name = upload.filename or "report.pdf"
    check_report(data, name, settings.max_report_mb << 20, size=upload.size)
    return name, data


async def submit_report(settings: ServiceSettings, request: Request, *, report: UploadFile,
                        typed_student_id: str = "", access_code: str = "") -> Paper:
    """A report on its own (the code came earlier, or comes later): the same admission as the
    code (who, the deadline, the late policy, the rate limit), then stored and queued for its check."""
    url = settings.resolved_database_url()

    def decide() -> Admission:
        with session_scope(url) as session:
            return admit(session, request, settings, typed_student_id=typed_student_id, access_code=access_code)

    admission = await run_in_threadpool(decide)
    name, data = await read_report(settings, report)

    def record() -> Paper:
        with write_lock(url), session_scope(url) as session:
            check_rate(session, settings, admission)
            paper = papers.record_paper(session, student_id=admission.student_id, filename=name, data=data,
                                        student_pk=admission.student_pk, assignment_id=admission.assignment_id,
                                        late_s=admission.late.late_s)
            session.refresh(paper)
            session.expunge(paper)
            return paper

    return await run_in_threadpool(record)


def check_rate(session: Session, settings: ServiceSettings, admission: Admission) -> None:
    count = papers.recent_uploads_and_reports(session, since=now() - dt.timedelta(hours=1),
                                              student_pk=admission.student_pk, student_id=admission.student_id)
    if count >= settings.student_rate_per_hour:
        raise UploadError(f"{count} uploads in the last hour for {admission.student_id}; the limit is "
                          f"{settings.student_rate_per_hour}. Try again later.", 429)


def accept(session: Session, store: FileStore, settings: ServiceSettings, *, student_id: str, filename: str,
           data: bytes, batch_id: str | None = None, assignment_id: int | None = None, student_pk: int | None = None,
           submitted_by: str | None = None, late_s: float | None = None, late_penalty: float = 0.0) -> Submission:
    """Store the file and commit the row; the caller sends the job (after the response).

    The row is committed first, so a broker outage or an API crash before the send only
    delays the grade: the workers' recovery loop sends queued jobs whose send is overdue.
    """
    sha256 = store.put(data)
    return service.record_submission(session, student_id=student_id, filename=filename, data=data, sha256=sha256,
                                     skip_training=settings.skip_training, assignment_id=assignment_id,
                                     student_pk=student_pk, batch_id=batch_id, submitted_by=submitted_by,
                                     late_s=late_s, late_penalty=late_penalty)


@dataclass(frozen=True)
class BatchReceipt:
    batch_id: str
    accepted: list[Submission]  # queued: the caller sends their jobs
    refused: list[Submission]  # rejected rows, in the order of `ZipContents.rejected`
    on_roster: set[str]  # the batch's student IDs that are on the roster
    warnings: list[str]
    papers: list[Paper]  # the reports in the batch, queued for their checks


def accept_batch(session: Session, store: FileStore, settings: ServiceSettings, *, contents: ZipContents, name: str,
                 ta: str, on_behalf: bool, max_score: float) -> BatchReceipt:
    """Record a TA's batch: each entry queued, each bad entry a rejected row.

    A row counts for its roster student only `on_behalf` (storage.batches.of_record_for);
    otherwise the batch is the TA's check and the students' own records are untouched.
    """
    batch = service.create_batch(session, name=name, token_name=ta)
    assignment = course.default_assignment(session, name=settings.assignment)
    roster = {e.student_id: course.get_student(session, student_id=e.student_id)
              for e in [*contents.entries, *contents.rejected]}
    accepted = [accept(session, store, settings, student_id=e.student_id, filename=e.filename, data=e.data,
                       batch_id=batch.id, assignment_id=assignment.id, submitted_by=ta,
                       student_pk=batches.of_record_for(roster[e.student_id], on_behalf=on_behalf))
                for e in contents.entries]
    refused = []
    for r in contents.rejected:
        report = r.report(max_score)
        refused.append(record_rejected(session, student_id=r.student_id, filename=report.submission.filename,
                                       sha256=report.submission.sha256, size_bytes=len(r.data),
                                       report_json=report.model_dump_json(), max_score=max_score, batch_id=batch.id,
                                       assignment_id=assignment.id, submitted_by=ta,
                                       student_pk=batches.of_record_for(roster[r.student_id], on_behalf=on_behalf)))
    by_student = {s.student_id: s for s in accepted}
    stored = []
    for r in contents.reports:  # beside the code, or on its own; of record by the same on_behalf rule
        student = roster.get(r.student_id) or course.get_student(session, student_id=r.student_id)
        roster[r.student_id] = student
        code = by_student.get(r.student_id)
        stored.append(papers.record_paper(session, student_id=r.student_id, filename=r.filename, data=r.data,
                                          student_pk=batches.of_record_for(student, on_behalf=on_behalf),
                                          assignment_id=assignment.id, submission_id=code.id if code else None,
                                          batch_id=batch.id, submitted_by=ta))
    on_roster = {sid for sid, st in roster.items() if st is not None}
    warnings = []
    if course.has_roster(session):  # an unknown ID is graded but counts in no gradebook: say so
        unknown = sorted(set(roster) - on_roster)
        if unknown:
            warnings.append(f"not on the roster, so graded but in no gradebook: {', '.join(unknown)}")
        if on_roster and not on_behalf:
            warnings.append("a check only: no student's record changes (on_behalf=true makes each roster "
                            "student's file their submission of record)")
    return BatchReceipt(batch.id, accepted, refused, on_roster, warnings, stored)


def send(settings: ServiceSettings, ids: list[str]) -> None:
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
