"""The read behind live progress: every submission that open result pages follow, in one query."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Submission


def submissions_by_id(session: Session, *, ids: list[str]) -> list[Submission]:
    """The rows with these ids (missing ones are left out), read in one statement."""
    if not ids:
        return []
    return list(session.scalars(select(Submission).where(Submission.id.in_(ids))).all())
