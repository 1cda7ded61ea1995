"""Deadline rush: many students upload at once against the real service.

`autograder serve` (uvicorn + Redis + workers, structure-only grading so the queue moves),
N distinct uploads from C concurrent clients. Prints accepted/s and the upload request's
p50/p99 latency, then waits until every submission has a stored report.

    .venv/bin/python -m bench.rush                 # 200 uploads, 50 clients
    .venv/bin/python -m bench.rush --smoke         # 20 uploads, 10 clients
"""
from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from bench._common import emit
from bench._service import percentile, running_service
from grader.rubric import SOLUTION


async def upload_all(url: str, n: int, clients: int) -> tuple[list[float], list[str], int, float]:
    source = SOLUTION.read_text()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    latencies: list[float] = []
    ids: list[str] = []
    refused = 0

    async def client_loop() -> None:
        nonlocal refused
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while not queue.empty():
                i = queue.get_nowait()
                data = f"{source}\n# student {i}\n".encode()
                started = time.perf_counter()
                r = await client.post("/api/submissions", data={"student_id": f"2026{i:06d}"},
                                      files={"file": ("resnet50_skeleton.py", data)})
                latencies.append(time.perf_counter() - started)
                if r.status_code == 202:
                    ids.append(r.json()["id"])
                else:
                    refused += 1

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return latencies, ids, refused, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--wait-s", type=float, default=1800)
    args = parser.parse_args()
    n, clients = (20, 10) if args.smoke else (args.n, args.clients)
    with running_service(workers=args.workers) as (url, _):
        latencies, ids, refused, upload_s = asyncio.run(upload_all(url, n, clients))
        print(f"{len(ids)} accepted, {refused} refused in {upload_s:.1f} s: {len(ids) / upload_s:.1f} accepted/s; "
              f"upload p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms",
              flush=True)
        started = time.perf_counter()
        with httpx.Client(base_url=url, timeout=60) as client:
            pending = set(ids)
            while pending and time.perf_counter() - started < args.wait_s:
                for sid in list(pending):
                    view = client.get(f"/api/submissions/{sid}").json()
                    if view["status"] in ("graded", "rejected", "failed") and view["report"] is not None:
                        pending.discard(sid)
                time.sleep(2)
        drained = time.perf_counter() - started
    print(f"stored reports: {len(ids) - len(pending)} of {len(ids)} after {drained:.0f} s "
          f"({(len(ids) - len(pending)) / max(drained, 1e-9) * 60:.1f} grades/min); lost: {len(pending)}")
    emit("rush", {"uploads": n, "clients": clients, "accepted": len(ids), "refused": refused,
                  "accepted_per_s": len(ids) / upload_s, "p50_ms": percentile(latencies, 50) * 1000,
                  "p99_ms": percentile(latencies, 99) * 1000, "stored": len(ids) - len(pending),
                  "lost": len(pending), "drain_s": drained})


if __name__ == "__main__":
    main()
