"""One signed-in upload through the page's form, profiled in-process: SQL, stages, CPU.

Why: bench.uploads times the whole service from outside (open loop, a worker grading); this
says where one upload's time goes inside the API process, so a change to the path can be
judged by its own figures. The app is api.main's, on a temporary var folder with a roster;
S students sign in by their links and send N uploads in turn (`POST /submit` with the
session and CSRF cookies and the form's token) through httpx's ASGI transport, so the HTTP
server itself (uvicorn's parser) is not in these figures.

    .venv/bin/python -m bench.upload_profile                 # 300 uploads, the stage table
    .venv/bin/python -m bench.upload_profile --sql           # and each SQL statement of one upload
    .venv/bin/python -m bench.upload_profile --spy out.txt   # and py-spy's collapsed stacks (all threads)

Prints, per upload: wall time, the process's CPU time (all threads), the SQL statements, the
threadpool hops, and each stage's mean time (stages are timed by wrapping the functions
named in the table; a stage inside another is counted in both). Broker: AUTOGRADER_BROKER_URL,
else redis://127.0.0.1:6379/<AUTOGRADER_TEST_REDIS_DB or 15>.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import inspect
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
from sqlalchemy import event

from bench._common import emit
from grader.rubric import SOLUTION

# The stages: (label, module or class, attribute). Wrapped where the upload path looks them up.
STAGES: list[tuple[str, str, str]] = [
    ("signed cookies: unsign (session, CSRF)", "itsdangerous.timed:TimestampSigner", "unsign"),
    ("session cookie: sign (the answer)", "itsdangerous.timed:TimestampSigner", "sign"),
    ("form parse (multipart)", "starlette.requests:Request", "_get_form"),
    ("CSRF check", "api.auth", "validate_csrf"),
    ("per-address limit (limits)", "api.auth:ClientLimiter", "hit"),
    ("admit: who, deadline, rate (thread)", "api.submit", "admit"),
    ("  per-student rate count (x2)", "api.submit", "check_rate"),
    ("source check", "api.submit", "check_source"),
    ("write lock wait", "api.submit", "write_lock"),
    ("record: store + row (thread)", "api.submit", "accept"),
    ("  file store put", "storage.files:FileStore", "put"),
    ("  row insert + supersede + commit", "storage.service", "record_submission"),
    ("enqueue to the broker (background)", "api.submit", "enqueue"),
]


def _target(spec: str) -> Any:
    module, _, cls = spec.partition(":")
    obj = __import__(module, fromlist=["_"])
    return getattr(obj, cls) if cls else obj


class Stages:
    """Wall time per stage, from wrappers put around the functions named in STAGES."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self._undo: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        for label, spec, attr in STAGES:
            owner = _target(spec)
            original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
            self._undo.append((owner, attr, original))
            setattr(owner, attr, self._wrap(label, original))

    def uninstall(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)

    def _wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        times = self.times[label]
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def timed_async(*a: Any, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await fn(*a, **k)
                finally:
                    times.append(time.perf_counter() - t)
            return timed_async
        if label == "write lock wait":  # a context manager: time until it is held
            @contextmanager
            def timed_lock(*a: Any, **k: Any) -> Iterator[None]:
                t = time.perf_counter()
                with fn(*a, **k):
                    times.append(time.perf_counter() - t)
                    yield
            return timed_lock

        @functools.wraps(fn)
        def timed(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times.append(time.perf_counter() - t)
        return timed


class Hops:
    """Calls handed to the threadpool (anyio.to_thread.run_sync), and how long each waited to start."""

    def __init__(self) -> None:
        self.count = 0
        self.waits: list[float] = []

    def install(self) -> None:
        import anyio.to_thread

        original = anyio.to_thread.run_sync
        self._original = original

        async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            sent = time.perf_counter()

            def started(*a: Any) -> Any:
                self.waits.append(time.perf_counter() - sent)
                return func(*a)
            return await original(started, *args, **kwargs)

        anyio.to_thread.run_sync = run_sync


def broker_url() -> str:
    return os.environ.get("AUTOGRADER_BROKER_URL") or \
        f"redis://127.0.0.1:6379/{os.environ.get('AUTOGRADER_TEST_REDIS_DB', '15')}"


def build(var: Path, students: int) -> tuple[Any, list[str]]:
    """The app on a fresh var folder with a roster; each student's sign-in path."""
    from api.main import create_app
    from service.settings import ServiceSettings
    from storage import course
    from storage.db import session_scope

    settings = ServiceSettings(var_dir=var, broker_url=broker_url(), skip_training=True, public_url="",
                               client_rate_per_minute=100_000_000, student_rate_per_hour=100_000)
    app = create_app(settings)
    with session_scope(settings.resolved_database_url()) as s:
        links = course.import_roster(s, rows=[{"student_id": f"2026{i:05d}", "name": f"S{i}", "email": f"s{i}@x.edu"}
                                              for i in range(students)])
    return app, [f"/signin/{link.token}" for link in links]


async def run(n: int, students: int, show_sql: bool, spy: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="upload-profile-") as tmp:
        app, signins = build(Path(tmp), students)
        from service.settings import ServiceSettings
        from storage.db import get_engine

        settings: ServiceSettings = app.state.settings
        engine = get_engine(settings.resolved_database_url())
        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda c, cur, stmt, *a: statements.append(stmt))
        transport = httpx.ASGITransport(app=app)
        clients: list[tuple[httpx.AsyncClient, str]] = []
        for signin in signins:  # each student's own cookies: session, then the page's CSRF cookie and token
            c = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")
            assert (await c.get(signin)).status_code == 303
            page = (await c.get("/")).text
            clients.append((c, re.search(r'name="csrftoken" value="([^"]+)"', page).group(1)))  # type: ignore[union-attr]
        source = SOLUTION.read_bytes()

        async def upload(k: int) -> None:
            c, token = clients[k % len(clients)]
            r = await c.post("/submit", data={"csrftoken": token}, headers={"Accept": "text/html"},
                             files={"file": ("resnet50_skeleton.py", source + f"\n# upload {k}\n".encode())})
            assert r.status_code == 303, (r.status_code, r.text[:300])

        for k in range(2 * students):  # warm: imports, the broker connection, SQLAlchemy's statement cache
            await upload(-k - 1)
        stages, hops = Stages(), Hops()
        stages.install()
        hops.install()
        statements.clear()
        profiler = None
        if spy:
            profiler = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw",
                                         "-o", spy, "--pid", str(os.getpid()), "--rate", "500", "--threads", "--gil",
                                         "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(1.0)
        wall, cpu = time.perf_counter(), time.process_time()
        for k in range(n):
            await upload(k)
        wall, cpu = (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(timeout=60)
        stages.uninstall()
        for c, _ in clients:
            await c.aclose()
        per_upload = len(statements) / n
        distinct: dict[str, int] = defaultdict(int)
        for s in statements:
            distinct[" ".join(s.split())[:160]] += 1
        print(f"{n} uploads in turn by {students} students, in-process (httpx ASGI transport), broker {broker_url()}")
        print(f"wall {wall * 1000:.2f} ms per upload, CPU {cpu * 1000:.2f} ms per upload (all threads, the client's too)")
        print(f"SQL statements per upload: {per_upload:.1f}; threadpool hops per upload: {hops.count / n:.1f} "
              f"(mean wait to start {1000 * sum(hops.waits) / max(1, len(hops.waits)):.3f} ms)")
        print(f"{'stage':40s} {'calls/upload':>12s} {'mean ms':>9s} {'ms/upload':>10s}")
        table = {}
        for label, _, _ in STAGES:
            t = stages.times.get(label, [])
            mean = 1000 * sum(t) / len(t) if t else 0.0
            print(f"{label:40s} {len(t) / n:12.1f} {mean:9.3f} {1000 * sum(t) / n:10.3f}")
            table[label.strip()] = round(1000 * sum(t) / n, 3)
        if show_sql:
            print("SQL statements over the run (per upload, statement):")
            for s, count in sorted(distinct.items(), key=lambda kv: -kv[1]):
                print(f"  {count / n:5.1f}×  {s}")
        return {"n": n, "students": students, "wall_ms": wall * 1000, "cpu_ms": cpu * 1000,
                "sql_per_upload": per_upload, "hops_per_upload": hops.count / n, "stages_ms_per_upload": table}


def top_of(spy: str, limit: int = 25) -> None:
    """Self and inclusive shares per function in py-spy's raw (collapsed) stacks, sampled with
    --gil: only the thread holding the GIL is sampled, so the shares are of CPU, not of waits."""
    own: dict[str, int] = defaultdict(int)
    inclusive: dict[str, int] = defaultdict(int)
    total = 0
    for line in Path(spy).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for f in set(frames):
            inclusive[f] += int(count)
    print(f"py-spy --gil: {total} samples")
    for title, table in (("self", own), ("inclusive", inclusive)):
        print(f"top {limit} by {title} share:")
        for f, c in sorted(table.items(), key=lambda kv: -kv[1])[:limit]:
            print(f"  {100 * c / max(1, total):5.1f} %  {f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="uploads timed")
    parser.add_argument("--students", type=int, default=20, help="signed-in students, uploading in turn")
    parser.add_argument("--sql", action="store_true", help="list the SQL statements")
    parser.add_argument("--spy", help="py-spy's raw stacks into this file, and the top functions")
    args = parser.parse_args()
    figures = asyncio.run(run(args.n, args.students, args.sql, args.spy))
    if args.spy:
        top_of(args.spy)
    emit("upload_profile", figures)


if __name__ == "__main__":
    main()
