"""Signed-in students upload through the page's form, open loop, while a worker grades.

Why open loop: a closed-loop client (send, wait, send) slows down with the server and hides
its queueing; students at a deadline do not wait for each other. Here each rate's uploads
leave on a fixed schedule (the k-th at t0 + k/rate), whatever the answers, and each latency
is timed from the upload's scheduled time, so a server that falls behind shows it.

What runs: the bench's own redis-server (a free port: nothing shared with other runs),
`autograder serve` with one grading worker on it (structure only, so the worker is always
busy with the queue the uploads make), a roster of S students signed in by their personal
links, each with the page's CSRF token. Each upload is `POST /submit` with the student's
session and CSRF cookies and the form's `csrftoken`: the real route, the real checks (the
per-address and per-student limits are raised, not off: every student comes from
127.0.0.1 here). Requests are prebuilt bytes over keep-alive connections (bench/rush.py's
RawClient: httpx cost more CPU per upload than the server does).

    .venv/bin/python -m bench.uploads                          # 20, 50, 100/s, 20 s each
    .venv/bin/python -m bench.uploads --rates 100 --seconds 30
    .venv/bin/python -m bench.uploads --smoke                  # 5/s for 2 s

Prints, per rate, p50/p95/p99 of the upload's latency, the errors, the API process's CPU time
per upload (a figure the machine's other load moves much less than the latency) and the load
average; then checks that every accepted upload was stored (a row and its file), and one JSON line.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import psutil

from bench._common import REPO, emit
from bench._service import free_port, percentile, start_serve, stop_serve
from bench.rush import RawClient, form_request
from grader.rubric import SOLUTION


@dataclass
class Student:
    student_id: str
    cookie: str  # the Cookie header: session and CSRF cookies
    csrftoken: str


@dataclass
class RateResult:
    rate: float
    seconds: float
    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # of the accepted uploads, from their scheduled time
    errors: dict[str, int] = field(default_factory=dict)  # status (or exception name) -> count
    ok: int = 0
    late_start_ms: float = 0.0  # worst lag of the client's own schedule (its figures are doubtful when large)
    api_cpu_ms: float = 0.0  # the API process's CPU time (user + system) per upload sent: the load does not move it much
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def figures(self) -> dict[str, float]:
        lat = self.latencies or [float("nan")]
        return {"rate": self.rate, "seconds": self.seconds, "sent": self.sent, "ok": self.ok,
                "errors": sum(self.errors.values()), "p50_ms": percentile(lat, 50) * 1000,
                "p95_ms": percentile(lat, 95) * 1000, "p99_ms": percentile(lat, 99) * 1000,
                "max_ms": max(lat) * 1000, "client_lag_ms": self.late_start_ms, "load1": self.load[0],
                "api_cpu_ms_per_upload": self.api_cpu_ms}

    def line(self) -> str:
        f = self.figures()
        errors = ", ".join(f"{k}×{v}" for k, v in sorted(self.errors.items())) or "none"
        return (f"{self.rate:g}/s for {self.seconds:g} s: sent {self.sent}, ok {self.ok}, errors "
                f"{int(f['errors'])} ({errors}); p50 {f['p50_ms']:.1f} ms, p95 {f['p95_ms']:.1f} ms, "
                f"p99 {f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms; API CPU {self.api_cpu_ms:.2f} ms per upload; "
                f"client lag {self.late_start_ms:.1f} ms; "
                f"load average {self.load[0]:.2f} {self.load[1]:.2f} {self.load[2]:.2f}")


class OwnRedis:
    """A redis-server of the bench's own on a free port (no database shared with tests or other runs)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(folder)],
                                     stdout=(folder / "redis.log").open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() != b"PONG":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("redis-server did not start: " + (folder / "redis.log").read_text()[-1000:])
            time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def service_env(var: Path, broker: str) -> dict[str, str]:
    return {"AUTOGRADER_BROKER_URL": broker, "AUTOGRADER_SKIP_TRAINING": "true", "AUTOGRADER_THREADS": "1",
            # Every student comes from 127.0.0.1: the per-address limit would count a class as one client.
            "AUTOGRADER_CLIENT_RATE_PER_MINUTE": "100000000", "AUTOGRADER_STUDENT_RATE_PER_HOUR": "100000",
            "AUTOGRADER_PUBLIC_URL": ""}


@contextmanager
def service(tmp: Path, extra_env: dict[str, str]) -> Iterator[tuple[str, Path, dict[str, str], int]]:
    """serve (API + one worker) on the bench's Redis; yields the URL, var folder, CLI env and serve's pid."""

    redis = OwnRedis(tmp)
    var = tmp / "var"
    var.mkdir()
    env_extra = service_env(var, redis.url) | extra_env
    port = free_port()
    proc = start_serve(var, port=port, workers=1, broker=redis.url, extra_env=env_extra)
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER_")}
    cli_env.update({"PYTHONPATH": str(REPO), "AUTOGRADER_VAR_DIR": str(var), **env_extra})
    try:
        yield f"http://127.0.0.1:{port}", var, cli_env, proc.pid
    finally:
        stop_serve(proc)
        redis.stop()


def cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=REPO, env=env, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError(f"autograder {' '.join(args)}: {out.stderr[-2000:]}")
    return out.stdout


def sign_in(url: str, links: dict[str, str]) -> list[Student]:
    """Each student opens their link (session cookie), then the page (CSRF cookie and the form's token)."""
    students = []
    for sid, link in links.items():
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as c:
            if c.get(link.removeprefix(url)).status_code != 200:
                raise RuntimeError(f"{sid}: the sign-in link did not sign in")
            page = c.get("/").text
            token = re.search(r'name="csrftoken" value="([^"]+)"', page)
            if token is None:
                raise RuntimeError(f"{sid}: the page has no upload form with a CSRF token")
            cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
            students.append(Student(sid, cookie, token.group(1)))
    return students


def requests_for(url: str, students: list[Student], n: int, tag: str) -> list[bytes]:
    """n prebuilt uploads, students in turn, each file distinct (a comment names the upload)."""
    host = url.removeprefix("http://")
    source = SOLUTION.read_text()
    out = []
    for k in range(n):
        s = students[k % len(students)]
        out.append(form_request(host, "/submit", {"csrftoken": s.csrftoken}, "resnet50_skeleton.py",
                                f"{source}\n# {tag} upload {k} by {s.student_id}\n".encode(),
                                {"Cookie": s.cookie, "Accept": "text/html"}))
    return out


# uvicorn closes a keep-alive connection idle for 5 s (its default); a connection idle longer
# than this is not reused, or the upload would meet a closed socket (IncompleteReadError) and
# count as the service's error: the idle connections are taken last-in first, so the ones a
# burst opened sit at the bottom for seconds (2-11 such errors a rate before this).
IDLE_REUSE_S = 4.0


async def open_loop(url: str, requests: list[bytes], rate: float) -> RateResult:
    """Send request k at t0 + k/rate on an idle keep-alive connection (a new one if none is idle,
    or if the idle ones have waited longer than the server keeps them)."""
    result = RateResult(rate, len(requests) / rate)
    idle: list[tuple[RawClient, float]] = []  # (connection, when it went idle)
    everyone: list[RawClient] = []

    async def one(request: bytes, scheduled: float) -> None:
        client = None
        while idle and client is None:
            client, since = idle.pop()
            if time.perf_counter() - since > IDLE_REUSE_S:
                await client.close()
                client = None
        if client is None:
            client = RawClient(url)
            everyone.append(client)
        try:
            status, _ = await client.send(request)
        except (OSError, asyncio.IncompleteReadError) as exc:
            result.errors[type(exc).__name__] = result.errors.get(type(exc).__name__, 0) + 1
            await client.close()
            return
        elapsed = time.perf_counter() - scheduled
        idle.append((client, time.perf_counter()))
        if status == 303:
            result.latencies.append(elapsed)
            result.ok += 1
        else:
            result.errors[str(status)] = result.errors.get(str(status), 0) + 1

    tasks = []
    t0 = time.perf_counter() + 0.05
    for k, request in enumerate(requests):
        scheduled = t0 + k / rate
        if (wait := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        result.late_start_ms = max(result.late_start_ms, (time.perf_counter() - scheduled) * 1000)
        tasks.append(asyncio.create_task(one(request, scheduled)))
        result.sent += 1
    await asyncio.gather(*tasks)
    for c in everyone:
        await c.close()
    result.load = os.getloadavg()
    return result


def stored(var: Path) -> tuple[int, int]:
    """(rows, files) for the course's submissions, read from the service's SQLite and file store."""
    import sqlite3

    with sqlite3.connect(var / "autograder.sqlite") as db:
        rows = db.execute("SELECT sha256 FROM submissions WHERE student_pk IS NOT NULL").fetchall()
    files = sum(1 for (sha,) in rows if (var / "files" / sha[:2] / f"{sha}.py").is_file())
    return len(rows), files


def warm_up(url: str, students: list[Student], timeout: float = 120.0) -> None:
    """One upload graded to the end (the worker's sandboxes are warm when the timing starts, as
    on a service that has run for hours), then a few untimed uploads for the API's first paths."""
    with httpx.Client(base_url=url, timeout=60, follow_redirects=False) as c:
        s = students[0]
        for k in range(5):
            r = c.post("/submit", data={"csrftoken": s.csrftoken}, headers={"Cookie": s.cookie},
                       files={"file": ("resnet50_skeleton.py", SOLUTION.read_bytes() + f"\n# warm {k}\n".encode())})
            if r.status_code != 303:
                raise RuntimeError(f"warm-up upload answered {r.status_code}: {r.text[:500]}")
            if k == 0:
                first = r.headers["location"]
        end = time.monotonic() + timeout
        sid = first.removeprefix("/s/")
        while (status := c.get(f"/api/submissions/{sid}", headers={"Cookie": s.cookie}).json()["status"]) == "queued":
            if time.monotonic() > end:  # the timing goes on: the queue the rates make keeps the worker busy
                print(f"warm-up: the worker had not started a grade after {timeout:.0f} s", file=sys.stderr)
                return
            time.sleep(0.5)
        print(f"warm-up: the worker is grading ({status})", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,50,100", help="uploads per second, comma separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long each rate lasts")
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between two rates")
    parser.add_argument("--smoke", action="store_true", help="5/s for 2 s, 10 students")
    parser.add_argument("--profile", help="py-spy record the API process into this file during the rates "
                                          "(SVG flame graph; .txt: collapsed stacks, CPU only)")
    args = parser.parse_args()
    rates = [5.0] if args.smoke else [float(r) for r in args.rates.split(",")]
    seconds, n_students = (2.0, 10) if args.smoke else (args.seconds, args.students)
    with tempfile.TemporaryDirectory(prefix="bench-uploads-") as tmp, \
            service(Path(tmp), {}) as (url, var, env, serve_pid):
        roster = Path(tmp) / "roster.csv"
        roster.write_text("student_id,name,email\n" + "".join(f"2026{i:05d},Student {i},s{i}@example.edu\n"
                                                              for i in range(n_students)))
        out = cli(env, "roster", "import", str(roster), "--base-url", url)
        links = {r["student_id"]: r["link"] for r in csv.DictReader(io.StringIO(out[out.index("student_id"):]))}
        students = sign_in(url, links)
        print(f"{len(students)} students signed in", file=sys.stderr, flush=True)
        warm_up(url, students)
        profiler = None
        if args.profile:  # one API process: uvicorn runs inside serve's own process
            # A .txt file: py-spy's collapsed stacks of the thread holding the GIL (CPU, not waits),
            # for bench.upload_profile.top_of; any other name: py-spy's flame graph (SVG).
            raw = ["--format", "raw", "--gil", "--threads"] if args.profile.endswith(".txt") else []
            profiler = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-o", args.profile,
                                         "--pid", str(serve_pid), "--rate", "200", "--nonblocking", *raw])
        results = []
        for rate in rates:
            requests = requests_for(url, students, max(1, int(rate * seconds)), f"rate {rate:g}")
            api = psutil.Process(serve_pid)  # uvicorn serves inside serve's own process (one API process)
            before = sum(api.cpu_times()[:2])
            result = asyncio.run(open_loop(url, requests, rate))
            result.api_cpu_ms = (sum(api.cpu_times()[:2]) - before) * 1000 / max(1, result.sent)
            print(result.line(), flush=True)
            results.append(result)
            time.sleep(0 if args.smoke else args.pause)
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(timeout=60)
        accepted = sum(r.ok for r in results) + 5  # the warm-up's five too
        rows, files = stored(var)
        print(f"stored: {rows} rows with {files} files for {accepted} accepted uploads", flush=True)
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
                     "?")
        emit("uploads", {"cpu": model, "cpus": os.cpu_count(), "students": n_students, "accepted": accepted,
                         "stored_rows": rows, "stored_files": files,
                         "rates": [r.figures() for r in results]})


if __name__ == "__main__":
    main()
