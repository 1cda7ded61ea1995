"""Workers on other hosts need only the broker and database URLs: two workers with var folders
of their own (no shared file store), one PostgreSQL and one Redis, grade one TA batch."""
from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from grader.rubric import SOLUTION
from tests.api.conftest import REDIS_DB as BASE_REDIS_DB, Service, free_port, make_service
from tests.conftest import listening, service_cache_dir

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
REDIS_DB = BASE_REDIS_DB + 2


def test_two_workers_without_a_shared_folder_grade_one_batch(tmp_path: Path, test_checkpoint: Path) -> None:
    import redis

    assert listening(6379) and listening(5432), "Redis and PostgreSQL must be running"
    name = f"remote_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG + "test", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    redis.Redis(db=REDIS_DB).flushdb()
    hosts: list[Service] = []
    try:
        for host in ("api", "w1", "w2"):
            (tmp_path / host).mkdir()
            svc = make_service(tmp_path / host, test_checkpoint, broker="redis")
            # Nothing shared, caches neither: each host has a copy of what the run's services
            # computed (as a host that graded before; ~6 cpu-s a worker), not the folder itself.
            cache = tmp_path / host / "cache"
            try:
                shutil.copytree(service_cache_dir(), cache)
            except shutil.Error:  # an entry another test worker replaced or pruned meanwhile:
                pass  # this host computes what it lacks, as a new host does
            svc.env.update({"AUTOGRADER_DATABASE_URL": PG + name, "AUTOGRADER_BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
                            "AUTOGRADER_CACHE_DIR": str(cache)})
            hosts.append(svc)
        api, w1, w2 = hosts
        api.port = free_port()
        api.start_api()
        for w in (w1, w2):
            w.start_worker(w.var_dir.parent.name)
        deadline = time.monotonic() + 120
        while not all(" ready." in w.logs[-1].read_text() for w in (w1, w2)):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.5)
        files = [("files", (f"s{i}_resnet50_skeleton.py", SOLUTION.read_text() + f"\n# {i}\n")) for i in range(6)]
        with api.client(headers={"Authorization": f"Bearer {api.token()}"}) as c:
            batch = c.post("/api/batches", files=files).json()["batch_id"]
            deadline = time.monotonic() + 300
            while not (view := c.get(f"/api/batches/{batch}").json())["done"]:
                assert time.monotonic() < deadline, view
                time.sleep(0.5)
        engine = create_engine(PG + name)
        with engine.connect() as conn:
            rows = conn.execute(text("select status, score, worker from submissions")).all()
        engine.dispose()
        assert [(r.status, r.score) for r in rows] == [("graded", 105.0)] * 6
        assert {r.worker.split("@")[0][:2] for r in rows} == {"w1", "w2"}  # both hosts graded
        assert not (w1.var_dir / "files").exists() and not (w2.var_dir / "files").exists()
    finally:
        for svc in hosts:
            svc.stop()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
