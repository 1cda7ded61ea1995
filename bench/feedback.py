"""Feedback latency: upload → structure verdict visible through the API, p50 and p95.

Starts `autograder serve` (API + one worker, Redis broker, structure-only since no data set
is configured), uploads N distinct files one after another, and polls each until its
report is readable. `--gap S` waits S seconds after each verdict before the next upload:
a worker that is not busy when a student uploads (its next sandboxes started and warmed
while it waited); without it the uploads come back to back, so each grade also pays the
next grade's sandbox starts on the same cores.

    .venv/bin/python -m bench.feedback [--n 20] [--gap 10]
"""
from __future__ import annotations

import argparse
import statistics
import time

import httpx

from bench._common import emit
from bench._service import percentile, running_service
from grader.rubric import SOLUTION


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--embedded", action="store_true", help="the embedded SQLite broker instead of Redis")
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between a verdict and the next upload")
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between two reads of the submission")
    args = parser.parse_args()
    source = SOLUTION.read_text()
    latencies: list[float] = []
    phases: list[tuple[float, float, float]] = []  # upload answered, worker on it, verdict (s after upload)
    with running_service(broker=None if args.embedded else "default") as (url, _), \
            httpx.Client(base_url=url, timeout=60) as client:
        for i in range(args.n + 1):  # the first warms the worker (torch import, reference side)
            if i and args.gap:
                time.sleep(args.gap)
            data = f"{source}\n# submission {i}\n".encode()
            started = time.perf_counter()
            sid = client.post("/api/submissions", data={"student_id": f"s{i}"},
                              files={"file": ("resnet50_skeleton.py", data)}).json()["id"]
            accepted = time.perf_counter() - started
            running = None  # first read that shows a worker on it (to within one poll)
            while True:
                view = client.get(f"/api/submissions/{sid}").json()
                if view["report"] or view["structure"]:
                    break
                if running is None and view["status"] == "running":
                    running = time.perf_counter() - started
                time.sleep(args.poll)
            elapsed = time.perf_counter() - started
            if i:
                latencies.append(elapsed)
                if running is not None:
                    phases.append((accepted, running, elapsed))
            print(f"{'warm-up' if i == 0 else i:>7}: {elapsed:.2f} s (upload answered {accepted:.2f} s, "
                  f"worker on it {'-' if running is None else f'{running:.2f} s'}), "
                  f"score {(view['report'] or view['structure'])['score']:g}", flush=True)
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    print(f"\nupload → structure verdict over {len(latencies)} uploads ({args.gap:g} s between): p50 {p50:.2f} s, p95 {p95:.2f} s, "
          f"mean {statistics.mean(latencies):.2f} s, max {max(latencies):.2f} s")
    if phases:
        print(f"median: upload answered {statistics.median(p[0] for p in phases):.2f} s, a worker on it "
              f"{statistics.median(p[1] for p in phases):.2f} s, its checks to the verdict "
              f"{statistics.median(p[2] - p[1] for p in phases):.2f} s ({len(phases)} uploads seen running)")
    emit("feedback", {"n": len(latencies), "gap_s": args.gap, "poll_s": args.poll, "broker": "embedded" if args.embedded else "redis",
                      "p50_s": p50, "p95_s": p95, "max_s": max(latencies)})


if __name__ == "__main__":
    main()
