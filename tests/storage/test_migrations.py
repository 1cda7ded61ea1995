"""Alembic migrations on SQLite and the real PostgreSQL: fresh, from the pre-migration schema, and
in step with storage/models.py."""
from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from storage.migrate import head, upgrade
from storage.models import Base
from tests.conftest import listening

REPO = Path(__file__).resolve().parents[2]
LEGACY = Path(__file__).resolve().parent / "legacy"  # what create_all made at b8c7a32, per dialect
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind; PostgreSQL gets a throwaway database, dropped after."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    if not listening(5432):
        pytest.fail("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"mig_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG + "test", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG + name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def schema_diff(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    return diff


def test_alembic_upgrade_head_makes_the_models_schema(db_url: str) -> None:
    out = subprocess.run([sys.executable, "-m", "alembic", "-c", str(REPO / "alembic.ini"), "-x", f"url={db_url}",
                          "upgrade", "head"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert schema_diff(db_url) == []
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head()
        assert conn.execute(text("select name from assignments where is_default")).scalar() == "resnet50"
    engine.dispose()


def test_pre_migration_database_is_upgraded_with_its_rows(db_url: str) -> None:
    engine = create_engine(db_url)
    ddl = (LEGACY / f"{engine.dialect.name}.sql").read_text()
    with engine.begin() as conn:
        for stmt in filter(str.strip, ddl.split(";")):
            conn.execute(text(stmt))
        conn.execute(text("insert into submissions (id, student_id, filename, sha256, size_bytes, created_at, status, "
                          "skip_training, regrade, attempts, score) values ('old1', '2021320322', "
                          "'resnet50_skeleton.py', :h, 10, '2026-01-01 00:00:00', 'graded', false, false, 1, 105)"),
                     {"h": "a" * 64})
        conn.execute(text("insert into api_tokens (name, token_sha256, created_at) values "
                          "('ta', :h, '2026-01-01 00:00:00')"), {"h": "b" * 64})
    upgrade(engine)
    upgrade(engine)  # a second process finds nothing to do
    with engine.connect() as conn:
        row = conn.execute(text("select student_id, score, status, assignment_id, student_pk from submissions")).one()
        assert tuple(row) == ("2021320322", 105, "graded", 1, None)
        assert conn.execute(text("select name from api_tokens")).scalar() == "ta"
    assert "students" in inspect(engine).get_table_names()
    engine.dispose()
    assert schema_diff(db_url) == []


def test_the_baseline_is_what_create_all_made(db_url: str) -> None:
    """Revision 0001 alone gives the same tables, columns and indexes as the pre-migration DDL."""
    from alembic import command

    from storage.migrate import alembic_config

    def describe(url: str) -> dict:
        eng = create_engine(url)
        insp = inspect(eng)
        out = {t: (sorted((c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)),
                   sorted((i["name"], tuple(i["column_names"])) for i in insp.get_indexes(t)))
               for t in insp.get_table_names() if t != "alembic_version"}
        eng.dispose()
        return out

    command.upgrade(alembic_config(db_url), "0001")
    migrated = describe(db_url)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for t in ("submissions", "batches", "api_tokens", "alembic_version"):
            conn.execute(text(f"drop table {t}"))
        for stmt in filter(str.strip, (LEGACY / f"{engine.dialect.name}.sql").read_text().split(";")):
            conn.execute(text(stmt))
    engine.dispose()
    assert describe(db_url) == migrated
