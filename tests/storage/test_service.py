"""Job state changes on both databases we support: SQLite (default) and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text

from storage import service
from storage.db import session_scope
from storage.files import FileStore
from storage.models import Submission, now
from tests.conftest import listening

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    if not listening(5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"ag_{uuid.uuid4().hex[:10]}"  # a database of its own, dropped after
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from storage.db import get_engine

        get_engine(PG_SERVER.rsplit("/", 1)[0] + f"/{name}").dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def add(db_url: str, **kw) -> str:
    with session_scope(db_url) as s:
        sub = Submission(student_id="s1", filename="resnet50_skeleton.py", sha256="a" * 64, size_bytes=10, **kw)
        s.add(sub)
        s.flush()
        return sub.id


def test_one_claim_one_result(db_url: str) -> None:
    sid = add(db_url)
    with session_scope(db_url) as s:
        assert service.claim(s, sid, "w1", heartbeat_timeout_s=60) is not None
        assert service.claim(s, sid, "w2", heartbeat_timeout_s=60) is None  # w1 is alive
    with session_scope(db_url) as s:
        assert not service.finish(s, sid, "w2", status="graded", report_json="{}")
        assert service.finish(s, sid, "w1", status="graded", report_json='{"x": 1}', score=1.0)
        assert not service.finish(s, sid, "w1", status="graded", report_json="{}")  # once
    with session_scope(db_url) as s:
        row = s.get(Submission, sid)
        assert (row.status, row.report_json, row.attempts, row.worker) == ("graded", '{"x": 1}', 1, "w1")
        assert service.claim(s, sid, "w3", heartbeat_timeout_s=0) is None  # finished stays finished


def test_silent_worker_is_taken_over_and_resent(db_url: str) -> None:
    sid = add(db_url)
    with session_scope(db_url) as s:
        service.claim(s, sid, "w1", heartbeat_timeout_s=60)
        s.get(Submission, sid).heartbeat_at = now() - dt.timedelta(seconds=120)
    with session_scope(db_url) as s:
        assert service.stuck(s, heartbeat_timeout_s=60, resend_after_s=60) == [sid]
        assert service.claim(s, sid, "w2", heartbeat_timeout_s=60) is not None
    with session_scope(db_url) as s:
        assert s.get(Submission, sid).attempts == 2
        assert service.stuck(s, heartbeat_timeout_s=60, resend_after_s=60) == []


def test_a_silent_grade_is_resent_once_per_heartbeat_timeout_not_at_every_pass(db_url: str) -> None:
    sid = add(db_url)
    with session_scope(db_url) as s:
        service.claim(s, sid, "w1", heartbeat_timeout_s=60)
        s.get(Submission, sid).heartbeat_at = now() - dt.timedelta(seconds=120)
    with session_scope(db_url) as s:
        assert service.stuck(s, heartbeat_timeout_s=60, resend_after_s=None) == [sid]
        service.mark_sent(s, [sid])  # what recover() does after sending it again
        # No worker has claimed it yet (a busy queue): the next passes leave it alone...
        assert service.stuck(s, heartbeat_timeout_s=60, resend_after_s=None) == []
        s.get(Submission, sid).sent_at = now() - dt.timedelta(seconds=61)
        s.commit()
        # ...until that send is as old as a heartbeat timeout: then it may be lost too.
        assert service.stuck(s, heartbeat_timeout_s=60, resend_after_s=None) == [sid]


def test_unsent_queued_jobs_are_found_until_sent(db_url: str) -> None:
    sid = add(db_url)
    with session_scope(db_url) as s:
        assert sid in service.stuck(s, heartbeat_timeout_s=60, resend_after_s=60)
        service.mark_sent(s, [sid])
        assert sid not in service.stuck(s, heartbeat_timeout_s=60, resend_after_s=60)


def test_old_send_is_resent_only_when_asked(db_url: str) -> None:
    sid = add(db_url)
    with session_scope(db_url) as s:
        service.mark_sent(s, [sid])
        s.get(Submission, sid).sent_at = now() - dt.timedelta(seconds=600)
        s.commit()
        assert sid not in service.stuck(s, heartbeat_timeout_s=60, resend_after_s=None)  # the queue is long
        assert sid in service.stuck(s, heartbeat_timeout_s=60, resend_after_s=300)  # the broker lost it


def test_reusable_report_matches_content_and_config(db_url: str) -> None:
    done = add(db_url, status="graded", config_key="k1", report_json="{}", finished_at=now())
    new = add(db_url)
    with session_scope(db_url) as s:
        assert service.reusable_report(s, "a" * 64, "k1", new).id == done
        assert service.reusable_report(s, "a" * 64, "k2", new) is None
        assert service.reusable_report(s, "b" * 64, "k1", new) is None


def test_file_store_is_content_addressed(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    digest = store.put(b"x = 1\n")
    assert store.put(b"x = 1\n") == digest and store.get(digest) == b"x = 1\n"
    assert len(list(tmp_path.rglob("*.py"))) == 1
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")
