"""A TA's batch: whom its rows count for (the record rule), and its progress as a script polls it."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Batch, Student, Submission


def of_record_for(student: Student | None, *, on_behalf: bool) -> int | None:
    """The roster entry a batch row counts for: only when the TA said "on the student's behalf".

    Otherwise the row is a TA's check: graded and in the batch's own exports, but recorded for no
    roster student (student_pk NULL), so it never enters a student's history, gradebook, final or
    LMS grade. A batch that could silently replace a student's own file turned one stray
    `s003/notes.txt` into her final (README "Record rules").
    """
    return student.id if student is not None and on_behalf else None


@dataclass(frozen=True)
class BatchEntry:
    id: str
    student_id: str
    status: str


@dataclass(frozen=True)
class BatchProgress:
    counts: dict[str, int]  # submissions per status, over the whole batch
    entries: list[BatchEntry]  # one page, by student ID

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def batch_progress(session: Session, *, batch_id: str, offset: int, limit: int) -> BatchProgress | None:
    """Two small queries (a GROUP BY and three columns of one page); None when there is no such batch."""
    if session.get(Batch, batch_id) is None:
        return None
    counts = dict(session.execute(select(Submission.status, func.count()).where(Submission.batch_id == batch_id)
                                  .group_by(Submission.status)).tuples().all())
    page = session.execute(select(Submission.id, Submission.student_id, Submission.status)
                           .where(Submission.batch_id == batch_id)
                           .order_by(Submission.student_id, Submission.id).offset(offset).limit(limit)).tuples()
    return BatchProgress(counts={str(k): v for k, v in counts.items()},
                         entries=[BatchEntry(i, s, str(st)) for i, s, st in page])


def batch_page(session: Session, *, batch_id: str, offset: int, limit: int) -> list[Submission]:
    """Full rows of one page, for a caller that asked for the details."""
    return list(session.scalars(select(Submission).where(Submission.batch_id == batch_id)
                                .order_by(Submission.student_id, Submission.id).offset(offset).limit(limit)))
