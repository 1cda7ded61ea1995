"""A route's database writes are committed before its response leaves (api/deps.py `SessionDep`).

Through real HTTP (uvicorn in a thread; FastAPI's TestClient waits for the whole request, so it
cannot see the order): the test holds SQLite's write lock while a route that adds a row runs. With
the commit inside the request the response cannot arrive before the lock is let go; with
FastAPI's default (a yield dependency's exit after the response) it arrived at once, which let a
TA's override answer "done" while the page it led to still read the old score.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from api.deps import SessionDep
from service.settings import ServiceSettings
from storage.db import get_engine
from storage.models import Batch
from tests.api.conftest import free_port


def test_the_write_is_committed_before_the_response(tmp_path: Path) -> None:
    settings = ServiceSettings(var_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    get_engine(settings.resolved_database_url())  # the tables
    app = FastAPI()
    app.state.settings = settings

    @app.post("/add")
    def add(session: SessionDep) -> dict[str, str]:
        session.add(Batch(name="written by the route"))  # no flush: the write happens at commit
        return {"said": "done"}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    lock = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    answered: list[float] = []
    try:
        lock.execute("BEGIN EXCLUSIVE")  # a writer elsewhere: the route's commit must wait for it
        held_at = time.monotonic()
        caller = threading.Thread(target=lambda: answered.append(
            (httpx.post(f"http://127.0.0.1:{port}/add", timeout=60).raise_for_status(), time.monotonic())[1]))
        caller.start()
        time.sleep(2.0)
        early = list(answered)
        released_at = time.monotonic()
        lock.execute("COMMIT")
        caller.join(timeout=60)
    finally:
        lock.close()
        server.should_exit = True
    assert early == [], f"the response came {early[0] - held_at:.2f} s in, before the commit could happen"
    assert answered and answered[0] >= released_at
    check = sqlite3.connect(tmp_path / "db.sqlite")
    assert check.execute("select count(*) from batches where name = 'written by the route'").fetchone()[0] == 1
