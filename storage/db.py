"""Engine and sessions: SQLite (WAL) by default, PostgreSQL by URL."""
from __future__ import annotations

import fcntl
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage.migrate import upgrade


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record) -> None:  # WAL: readers never block the writer
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    upgrade(engine)  # Alembic migrations, not create_all: existing databases keep their rows
    return engine


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    session = _factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_sqlite_writers = threading.Lock()


@contextmanager
def write_lock(url: str) -> Iterator[None]:
    """One writer at a time on SQLite, across this host's processes, handed over at once.

    SQLite lets one writer in and makes the others back off with sleeps of up to 100 ms;
    under an upload rush, requests that kept losing that race made the p99. A thread lock
    plus an flock beside the database file queue them instead. PostgreSQL needs neither.
    """
    if not url.startswith("sqlite:///"):
        yield
        return
    with _sqlite_writers, open(url.removeprefix("sqlite:///") + ".write-lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield
