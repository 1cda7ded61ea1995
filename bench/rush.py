"""Deadline rush: many students upload at once against the real service.

`autograder serve` (uvicorn + Redis + workers, structure-only grading so the queue moves),
N distinct uploads from C concurrent clients, after an untimed warm-up. Prints accepted/s
and the upload request's p50/p99 latency, then waits until every submission (warm-up
included) has a stored report.

    .venv/bin/python -m bench.rush                     # 200 uploads, 50 clients, 1 worker
    .venv/bin/python -m bench.rush --workers 0 --wait-s 1   # the API alone
    .venv/bin/python -m bench.rush --api-processes 2   # two uvicorn processes
    .venv/bin/python -m bench.rush --smoke             # 10 uploads, 5 clients
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from urllib.parse import urlsplit

import httpx

from bench._common import emit
from bench._service import percentile, running_service
from grader.rubric import SOLUTION


class RawClient:
    """One keep-alive HTTP/1.1 connection sending prebuilt multipart bytes.

    Written by hand because httpx cost this load generator ~11 ms of CPU per upload, more
    than the server's own ~9 ms, on the same two cores: the figure measured the client.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_form(self, path: str, fields: dict[str, str], filename: str, data: bytes,
                        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return await self.send(form_request(f"{self.host}:{self.port}", path, fields, filename, data, headers))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """One prebuilt request (`form_request`); the status and the body of its answer."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(request)
        status_line, *header_lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
        payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
            self.reader = self.writer = None


def form_request(host: str, path: str, fields: dict[str, str], filename: str, data: bytes,
                 headers: dict[str, str] | None = None) -> bytes:
    """A multipart POST's bytes, headers and body: built ahead, so a benchmark's timing holds no client work."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
         for k, v in fields.items()]
        + [f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
           f"Content-Type: text/x-python\r\n\r\n".encode(), data, f"\r\n--{boundary}--\r\n".encode()])
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def upload_all(url: str, n: int, clients: int, first: int = 0) -> tuple[list[float], list[str], int, float]:
    source = SOLUTION.read_text()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(first, first + n):
        queue.put_nowait(i)
    latencies: list[float] = []
    ids: list[str] = []
    refused = 0

    async def client_loop() -> None:
        nonlocal refused
        client = RawClient(url)
        try:
            while not queue.empty():
                i = queue.get_nowait()
                data = f"{source}\n# student {i}\n".encode()
                started = time.perf_counter()  # the connection, on a client's first upload, is timed too
                status, body = await client.post_form("/api/submissions", {"student_id": f"2026{i:06d}"},
                                                      "resnet50_skeleton.py", data)
                latencies.append(time.perf_counter() - started)
                if status == 202:
                    ids.append(json.loads(body)["id"])
                else:
                    refused += 1
        finally:
            await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return latencies, ids, refused, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--api-processes", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=50,
                        help="uploads sent first and not timed: a rush meets a server that has been up for hours")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--wait-s", type=float, default=1800)
    args = parser.parse_args()
    n, clients = (10, 5) if args.smoke else (args.n, args.clients)
    with running_service(workers=args.workers, api_processes=args.api_processes) as (url, _):
        warmup = 2 if args.smoke else args.warmup
        _, warm_ids, _, _ = asyncio.run(upload_all(url, warmup, clients)) if warmup else ([], [], 0, 0.0)
        latencies, ids, refused, upload_s = asyncio.run(upload_all(url, n, clients, first=warmup))
        print(f"{len(ids)} accepted, {refused} refused in {upload_s:.1f} s: {len(ids) / upload_s:.1f} accepted/s; "
              f"upload p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms",
              flush=True)
        started = time.perf_counter()
        with httpx.Client(base_url=url, timeout=60) as client:
            everyone = set(warm_ids) | set(ids)  # the warm-up's uploads must be stored too
            pending = set(everyone)
            while pending and time.perf_counter() - started < args.wait_s:
                for sid in list(pending):
                    view = client.get(f"/api/submissions/{sid}").json()
                    if view["status"] in ("graded", "rejected", "failed") and view["report"] is not None:
                        pending.discard(sid)
                time.sleep(2)
        drained = time.perf_counter() - started
    print(f"stored reports: {len(everyone) - len(pending)} of {len(everyone)} after {drained:.0f} s "
          f"({(len(everyone) - len(pending)) / max(drained, 1e-9) * 60:.1f} grades/min); lost: {len(pending)}")
    emit("rush", {"uploads": n, "warmup": warmup, "clients": clients, "api_processes": args.api_processes,
                  "workers": args.workers, "accepted": len(ids), "refused": refused,
                  "accepted_per_s": len(ids) / upload_s, "p50_ms": percentile(latencies, 50) * 1000,
                  "p99_ms": percentile(latencies, 99) * 1000, "stored": len(everyone) - len(pending),
                  "lost": len(pending), "drain_s": drained})


if __name__ == "__main__":
    main()
