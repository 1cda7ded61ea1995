"""Live progress (SSE): capped per submission and per client, fed by one watcher per process."""
from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from sqlalchemy import event

from api.live import Notifier
from grader.rubric import SOLUTION
from storage.db import get_engine, session_scope
from storage.models import Submission
from tests.api.conftest import Service, make_service


@pytest.fixture
def api(tmp_path: Path, test_checkpoint: Path) -> Iterator[Service]:
    """The API alone: with no worker, uploads stay queued and their streams stay open."""
    svc = make_service(tmp_path, test_checkpoint, broker="redis")
    svc.env.update({"AUTOGRADER_LIVE_STREAMS_PER_SUBMISSION": "2", "AUTOGRADER_LIVE_STREAMS_PER_CLIENT": "3",
                    "AUTOGRADER_STUDENT_RATE_PER_HOUR": "100"})
    try:
        svc.start_api()
        yield svc
    finally:
        svc.stop()


def _uploads(svc: Service, n: int) -> list[str]:
    with svc.client() as c:
        ids = []
        for i in range(n):
            r = c.post("/api/submissions", data={"student_id": f"live{i}"},
                       files={"file": ("resnet50_skeleton.py", SOLUTION.read_bytes() + f"\n# {i}\n".encode())})
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    return ids


async def _open(stack: AsyncExitStack, svc: Service, sid: str, address: str = "127.0.0.1") -> httpx.Response:
    """Open one stream from `address` (any 127.x.y.z reaches the server) and keep it open."""
    client = await stack.enter_async_context(httpx.AsyncClient(
        base_url=svc.url, timeout=10, transport=httpx.AsyncHTTPTransport(local_address=address)))
    response = await stack.enter_async_context(client.stream("GET", f"/s/{sid}/events"))
    if response.status_code == 200:
        # Keep the line iterator: dropping it would close the connection.
        response.extensions["lines"] = lines = response.aiter_lines()
        first = await anext(lines)
        assert first.startswith("data: ") and json.loads(first[6:])["id"] == sid
    else:
        await response.aread()
    return response


def test_streams_are_capped_per_client_and_per_submission(api: Service) -> None:
    ids = _uploads(api, 4)

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            assert [(await _open(stack, api, sid)).status_code for sid in ids[:3]] == [200] * 3
            over = await _open(stack, api, ids[3])
            assert over.status_code == 429 and "address" in over.json()["detail"]
            # Another address may still follow ids[3] (two per submission) ...
            assert (await _open(stack, api, ids[3], "127.0.0.2")).status_code == 200
            assert (await _open(stack, api, ids[3], "127.0.0.3")).status_code == 200
            # ... but a third stream on that one submission is refused, whoever asks.
            third = await _open(stack, api, ids[3], "127.0.0.4")
            assert third.status_code == 429 and "submission" in third.json()["detail"]
        # Closed streams give their places back.
        async with AsyncExitStack() as stack:
            for _ in range(50):
                if (await _open(stack, api, ids[3], "127.0.0.4")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("closed streams kept their places")

    asyncio.run(scenario())


def test_every_stream_hears_the_change_and_ends_when_final(api: Service) -> None:
    sid = _uploads(api, 1)[0]

    async def follow(stack: AsyncExitStack, address: str) -> list[dict]:
        response = await _open(stack, api, sid, address)
        assert response.status_code == 200
        seen = []
        async for line in response.extensions["lines"]:  # ends when the server closes the stream
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
        return seen

    async def scenario() -> list[list[dict]]:
        async with AsyncExitStack() as stack:
            tasks = [asyncio.create_task(follow(stack, f"127.0.1.{i}")) for i in range(1, 3)]
            await asyncio.sleep(1.0)
            with sqlite3.connect(api.var_dir / "autograder.sqlite") as db:  # what a worker's finish writes
                db.execute("update submissions set status='failed', failure='x' where id=?", (sid,))
            return await asyncio.wait_for(asyncio.gather(*tasks), 15)

    for seen in asyncio.run(scenario()):
        assert seen and seen[-1]["status"] == "failed"


def test_one_query_per_tick_whatever_the_number_of_streams(tmp_path: Path) -> None:
    """100 streams on 5 submissions: the watcher reads them all in one statement per tick."""
    url = f"sqlite:///{tmp_path / 'live.sqlite'}"
    with session_scope(url) as s:
        subs = [Submission(student_id=f"s{i}", filename="resnet50_skeleton.py", sha256="0" * 64, size_bytes=1)
                for i in range(5)]
        s.add_all(subs)
        s.flush()
        ids = [sub.id for sub in subs]
    selects: list[str] = []
    event.listen(get_engine(url), "before_cursor_execute",
                 lambda conn, cur, statement, *a: selects.append(statement) if "FROM submissions" in statement else None)
    notifier = Notifier(url, lambda sub: {"id": sub.id, "status": sub.status}, per_submission=100,
                        per_client=1000, interval_s=0.25)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        began = loop.time()
        streams = [notifier.open(ids[i % 5], f"10.0.0.{i}", {"id": ids[i % 5], "status": "queued"})
                   for i in range(100)]
        # Two ticks at least (~0.5 s; longer where a loaded machine starves the loop or its threads).
        while notifier.polls < 2 and loop.time() - began < 30:
            await asyncio.sleep(0.05)
        assert notifier.open_streams() == 100
        for stream in streams:
            notifier.close(stream)
        await asyncio.sleep(0.5)
        return loop.time() - began

    elapsed = asyncio.run(scenario())
    assert 2 <= notifier.polls <= elapsed / 0.25 + 2 and len(selects) == notifier.polls, (
        notifier.polls, len(selects), elapsed)
    assert notifier.open_streams() == 0
