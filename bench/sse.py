"""The page under open live-progress streams: `GET /` latency with N SSE streams open on one submission.

Starts `autograder serve` (the API alone, embedded broker, no worker: the submission stays
queued and its streams stay open), opens N streams with the caps lifted, and times `GET /`
before and while they are open. Before the shared watcher (api/live.py) each stream polled
the database twice a second: 3000 streams took `GET /` from 29 ms to ~3 s.

    .venv/bin/python -m bench.sse [--streams 1000]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from bench._common import emit
from bench._service import percentile, running_service
from grader.rubric import SOLUTION


async def _latencies(client: httpx.AsyncClient, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        assert (await client.get("/")).status_code == 200
        out.append((time.perf_counter() - started) * 1000)
    return out


async def _run(url: str, streams: int, samples: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        r = await client.post("/api/submissions", data={"student_id": "watched"},
                              files={"file": ("resnet50_skeleton.py", SOLUTION.read_bytes())})
        sid = r.json()["id"]
        idle = await _latencies(client, samples)
        opened: list[asyncio.Task] = []
        ready = asyncio.Semaphore(0)

        async def follow() -> None:
            async with client.stream("GET", f"/s/{sid}/events") as response:
                lines = response.aiter_lines()
                await anext(lines)
                ready.release()
                async for _ in lines:
                    pass

        started = time.perf_counter()
        for _ in range(streams):
            opened.append(asyncio.create_task(follow()))
        for _ in range(streams):
            await ready.acquire()
        open_s = time.perf_counter() - started
        await asyncio.sleep(3)  # a few of the watcher's ticks with every stream open
        busy = await _latencies(client, samples)
        for task in opened:
            task.cancel()
        await asyncio.gather(*opened, return_exceptions=True)
    return {"streams": streams, "open_all_s": round(open_s, 2),
            "get_index_idle_p50_ms": round(statistics.median(idle), 1),
            "get_index_idle_p95_ms": round(percentile(idle, 95), 1),
            "get_index_with_streams_p50_ms": round(statistics.median(busy), 1),
            "get_index_with_streams_p95_ms": round(percentile(busy, 95), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    caps = {"AUTOGRADER_LIVE_STREAMS_PER_SUBMISSION": str(args.streams + 10),
            "AUTOGRADER_LIVE_STREAMS_PER_CLIENT": str(args.streams + 10)}
    with running_service(workers=0, broker=None, extra_env=caps) as (url, _):
        figures = asyncio.run(_run(url, args.streams, args.samples))
    print(f"GET / p50 {figures['get_index_idle_p50_ms']} ms idle, "
          f"{figures['get_index_with_streams_p50_ms']} ms with {args.streams} streams open "
          f"(p95 {figures['get_index_idle_p95_ms']} → {figures['get_index_with_streams_p95_ms']} ms)")
    emit("sse", figures)


if __name__ == "__main__":
    main()
