"""Database tables (SQLAlchemy 2). The database is the source of truth for every submission."""
from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STATUSES = ("queued", "running", "graded", "rejected", "failed")


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


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_public_id)
    student_id: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"), index=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now, index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    skip_training: Mapped[bool] = mapped_column(Boolean, default=False)
    regrade: Mapped[bool] = mapped_column(Boolean, default=False)
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


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
