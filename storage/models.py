"""Database tables (SQLAlchemy 2). The database is the source of truth for every submission.

The schema is made and changed by the Alembic migrations in storage/migrations; a change
here needs a migration there (tests/storage/test_migrations.py compares the two).
Times are stored as naive UTC; an assignment keeps the time zone its deadline is shown in.
"""
from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum

from sqlalchemy import (Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Status(StrEnum):
    """A submission's state; the only place its values are spelled."""

    queued = "queued"
    running = "running"
    graded = "graded"
    rejected = "rejected"
    failed = "failed"
    superseded = "superseded"  # the student uploaded again before this one was graded

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({Status.graded, Status.rejected, Status.failed, Status.superseded})
SCORED = (Status.graded, Status.rejected)  # what a gradebook may take a score from


class LatePolicy(StrEnum):
    none = "none"  # after the deadline (plus extension) an upload is refused
    per_hour = "per_hour"  # accepted until the cutoff, penalty per started hour late
    per_day = "per_day"


class FinalRule(StrEnum):
    last_on_time = "last_on_time"  # the latest on-time grade; a late one only if none was on time
    best = "best"  # the highest score after late penalty


class Release(StrEnum):
    immediate = "immediate"
    after_deadline = "after_deadline"  # structure feedback at once, score and accuracy after the deadline


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def new_public_id() -> str:
    """Unguessable: the result URL is the only key a student has."""
    return secrets.token_urlsafe(18)


class Base(DeclarativeBase):
    pass


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    token_name: Mapped[str] = mapped_column(String(100), default="")


class Assignment(Base):
    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    deadline: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)  # UTC
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # how the deadline is shown
    late_policy: Mapped[str] = mapped_column(String(16), default=LatePolicy.none)
    late_penalty: Mapped[float] = mapped_column(Float, default=0.0)  # fraction of max score per hour/day
    late_cutoff: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)  # UTC, hard
    final_rule: Mapped[str] = mapped_column(String(16), default=FinalRule.last_on_time)
    release: Mapped[str] = mapped_column(String(16), default=Release.immediate)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class Student(Base):
    """A roster entry. The sign-in link's token is stored as its sha256 only."""

    __tablename__ = "students"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    link_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    # Bumped on revoke and re-issue: sessions signed in with an older link stop working.
    link_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class Extension(Base):
    __tablename__ = "extensions"
    __table_args__ = (UniqueConstraint("assignment_id", "student_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    student_pk: Mapped[int] = mapped_column(ForeignKey("students.id"))
    until: Mapped[dt.datetime] = mapped_column(DateTime)  # UTC


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    student_id: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"), index=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now, index=True)
    status: Mapped[str] = mapped_column(String(16), default=Status.queued, index=True)
    skip_training: Mapped[bool] = mapped_column(Boolean, default=False)
    regrade: Mapped[bool] = mapped_column(Boolean, default=False)
    # Course of record: NULL student_pk means an open self-check upload that feeds no gradebook.
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"), index=True, default=None)
    student_pk: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True, default=None)
    submitted_by: Mapped[str | None] = mapped_column(String(100), default=None)  # a TA's token name
    late_s: Mapped[float | None] = mapped_column(Float, default=None)  # seconds past the deadline
    late_penalty: Mapped[float] = mapped_column(Float, default=0.0)  # fraction of max score
    # The file itself, so that a worker on another host needs only the database.
    content: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # Progress and liveness, written by the worker while it grades.
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200), default=None)
    progress_json: Mapped[str | None] = mapped_column(Text, default=None)
    # The result; `config_key` names the rubric + checkpoint + mode it was graded with.
    score: Mapped[float | None] = mapped_column(Float, default=None)
    max_score: Mapped[float | None] = mapped_column(Float, default=None)
    accuracy: Mapped[float | None] = mapped_column(Float, default=None)
    structure_json: Mapped[str | None] = mapped_column(Text, default=None)
    report_json: Mapped[str | None] = mapped_column(Text, default=None)
    config_key: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    failure: Mapped[str | None] = mapped_column(Text, default=None)


class Override(Base):
    """A TA's points for one item of one submission; the audit log keeps every change."""

    __tablename__ = "overrides"
    __table_args__ = (UniqueConstraint("submission_id", "item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    item: Mapped[str] = mapped_column(String(64))
    points: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=now, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    submission_id: Mapped[str | None] = mapped_column(ForeignKey("submissions.id"), index=True, default=None)
    student_pk: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True, default=None)
    item: Mapped[str | None] = mapped_column(String(64), default=None)
    old: Mapped[str | None] = mapped_column(Text, default=None)
    new: Mapped[str | None] = mapped_column(Text, default=None)
    comment: Mapped[str] = mapped_column(Text, default="")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class TaAccount(Base):
    """A TA who signs in to the web pages with a name and password (hashed with argon2, pwdlib).

    `generation` is bumped when the password changes or the account is disabled: a session
    carries the generation it signed in with, so those sessions end at once.
    """

    __tablename__ = "ta_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    generation: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
