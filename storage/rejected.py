"""A submission refused before grading (a bad entry in a TA's zip): stored as a final, rejected row.

So the student has a row in the batch and the gradebook that says why, and the rest of the
zip is still graded.
"""
from __future__ import annotations

import json

from sqlalchemy.orm import Session

from storage.models import Status, Submission, now


def record_rejected(session: Session, *, student_id: str, filename: str, sha256: str, size_bytes: int,
                    report_json: str, max_score: float, batch_id: str | None, assignment_id: int | None,
                    student_pk: int | None, submitted_by: str | None) -> Submission:
    """Commit the row already finished: status rejected, score 0, the report saying why."""
    sub = Submission(student_id=student_id, filename=filename, sha256=sha256, size_bytes=size_bytes,
                     batch_id=batch_id, assignment_id=assignment_id, student_pk=student_pk,
                     submitted_by=submitted_by, status=Status.rejected, score=0.0, max_score=max_score,
                     report_json=report_json, finished_at=now(),
                     progress_json=json.dumps({"event": "done", "status": Status.rejected}))
    session.add(sub)
    session.commit()
    return sub
