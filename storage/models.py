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


class PaperStatus(StrEnum):
    """A report PDF's check: queued until a worker's paper loop takes it (worker/papers.py)."""

    queued = "queued"
    running = "running"
    checked = "checked"  # parsed, or found unreadable: either way its verdict is in `verdict_json`
    failed = "failed"  # our fault (the checker itself broke); a TA sees it, the student is told


class Paper(Base):
    """A student's report PDF, the assignment's second deliverable, stored like the code.

    It belongs to a student's record by the same rules as a submission (roster, deadline, late
    policy, on-behalf batches): `student_pk` NULL means a self-check or a TA's check batch.
    `submission_id` names the code it was uploaded with, if any. The check runs sandboxed in a
    worker (papers/, worker/papers.py); `text` is the extracted text (for similarity), capped.
    """

    __tablename__ = "papers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    student_id: Mapped[str] = mapped_column(String(64), index=True)
    student_pk: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True, default=None)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"), index=True, default=None)
    submission_id: Mapped[str | None] = mapped_column(ForeignKey("submissions.id"), index=True, default=None)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"), index=True, default=None)
    submitted_by: Mapped[str | None] = mapped_column(String(100), default=None)  # a TA's token name
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now, index=True)
    late_s: Mapped[float | None] = mapped_column(Float, default=None)  # seconds past the deadline
    status: Mapped[str] = mapped_column(String(16), default=PaperStatus.queued, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200), default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    verdict_json: Mapped[str | None] = mapped_column(Text, default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    preview_png: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # page 1, for the TA page
    failure: Mapped[str | None] = mapped_column(Text, default=None)


class PaperMark(Base):
    """A TA's points for one report item of one report (README "Reports"); the audit log keeps every change."""

    __tablename__ = "paper_marks"
    __table_args__ = (UniqueConstraint("paper_id", "item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    paper_id: Mapped[str] = mapped_column(ForeignKey("papers.id"), index=True)
    item: Mapped[str] = mapped_column(String(64))
    points: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


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


class LtiPlatform(Base):
    """An LMS registered as an LTI 1.3 platform (`autograder lti add-platform`).

    One row per (issuer, client_id): an LMS gives each tool registration its own client id, and
    one LMS may hold several registrations of this tool. `deployment_ids` is a space-separated
    list: a launch from a deployment not listed here is refused.
    """

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    deployment_ids: Mapped[str] = mapped_column(Text, default="")
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    key_set_url: Mapped[str] = mapped_column(String(1000))
    auth_audience: Mapped[str | None] = mapped_column(String(1000), default=None)  # default: the token URL
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class LtiUser(Base):
    """An LMS user (the launch's `sub`, unique per issuer) linked to a roster student or a TA account."""

    __tablename__ = "lti_users"
    __table_args__ = (UniqueConstraint("issuer", "sub"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer: Mapped[str] = mapped_column(String(255))
    sub: Mapped[str] = mapped_column(String(255))
    student_pk: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True, default=None)
    ta_account_id: Mapped[int | None] = mapped_column(ForeignKey("ta_accounts.id"), index=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    last_launch_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)


class LtiNonce(Base):
    """A nonce this tool sent with an OIDC login, until a launch uses it (once) or it expires.

    In the database, not the session cookie: the launch is the LMS's cross-site form POST, which
    a browser sends without our SameSite=Lax session, and several API processes must agree.
    """

    __tablename__ = "lti_nonces"

    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class LtiContext(Base):
    """An LMS course the tool was launched from, with the service URLs its launches gave
    (Names and Roles for the roster, Assignment and Grade Services for line items and scores)."""

    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id"))
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), default="")
    memberships_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    lineitems_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    ags_scopes: Mapped[str] = mapped_column(Text, default="")  # space-separated
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    # Anyone can be an Instructor of a sandbox course of their own: a course's Instructors become
    # TAs, its roster is synced and its grades are posted only once a TA has approved it.
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_by: Mapped[str | None] = mapped_column(String(100), default=None)


class LtiMember(Base):
    """An LMS user seen in a course (by a launch or a roster sync): whom that course's grades go to."""

    __tablename__ = "lti_members"
    __table_args__ = (UniqueConstraint("context_pk", "lti_user_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    context_pk: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id"))
    lti_user_pk: Mapped[int] = mapped_column(ForeignKey("lti_users.id"), index=True)


class LtiLineItem(Base):
    """The LMS gradebook column of one assignment in one LMS course (made by the tool through AGS)."""

    __tablename__ = "lti_line_items"
    __table_args__ = (UniqueConstraint("context_pk", "assignment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    context_pk: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    url: Mapped[str] = mapped_column(String(1000))


class PassbackStatus(StrEnum):
    pending = "pending"  # to be posted (again): new, changed, or the LMS failed last time
    sent = "sent"  # the LMS took this score


class LtiPassback(Base):
    """The score one student's LMS gradebook should show for one assignment, until the LMS has it.

    A row is never dropped: a failed post stays pending and is retried with backoff; a changed
    final grade makes a sent row pending again.
    """

    __tablename__ = "lti_passbacks"
    __table_args__ = (UniqueConstraint("context_pk", "assignment_id", "student_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    context_pk: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    student_pk: Mapped[int] = mapped_column(ForeignKey("students.id"))
    lms_sub: Mapped[str] = mapped_column(String(255))
    score_given: Mapped[float] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    scored_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)  # the score's timestamp for the LMS
    status: Mapped[str] = mapped_column(String(16), default=PassbackStatus.pending, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
