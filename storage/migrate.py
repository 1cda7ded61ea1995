"""Bring a database to the newest schema with Alembic, once, however many processes start at once.

Every API and worker process calls `upgrade` as it opens its engine; a lock (an advisory
lock on PostgreSQL, an flock beside the file on SQLite) lets one of them migrate while the
others wait and then find nothing to do. A database the service made before migrations
existed (tables, no alembic_version) is stamped at the baseline and upgraded, rows kept.
"""
from __future__ import annotations

import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
_PG_LOCK = 0x6167_7261_6465  # any constant shared by every process of the service


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection, cfg: Config) -> None:
    cfg.attributes["connection"] = conn
    tables = set(inspect(conn).get_table_names())
    if current(conn) == head():
        return
    if "submissions" in tables and "alembic_version" not in tables:
        command.stamp(cfg, BASELINE)  # made by create_all before migrations: that is the baseline
    command.upgrade(cfg, "head")


def upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    if engine.dialect.name == "sqlite":
        lock = f"{engine.url.database}.migrate-lock" if engine.url.database not in (None, "", ":memory:") else None
        with open(lock or "/dev/null", "a") as f:
            if lock:
                fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
            with engine.begin() as conn:
                _upgrade(conn, cfg)
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        _upgrade(conn, cfg)
