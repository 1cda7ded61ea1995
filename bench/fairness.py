"""Fairness at the deadline: honest students' time to their structure verdict, with and
without a few uploads that sleep at import.

Starts `autograder serve` twice (Redis broker, structure-only, the service's default
import limit, AUTOGRADER_IMPORT_TIMEOUT_S, 10 s), uploads all files at once, and
polls each honest upload until its structure verdict is readable. The goal (issue 13): the
honest p95 with sleepers at most 2 × the p95 without.

    .venv/bin/python -m bench.fairness [--honest 20] [--sleepers 3] [--workers 2]
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from bench._common import emit
from bench._service import percentile, running_service
from grader.rubric import SOLUTION

SLEEPER = "import time\ntime.sleep(58)  # holds whatever runs the import\n"


def run(n_honest: int, n_sleepers: int, workers: int, import_timeout_s: float | None = None) -> tuple[list[float], int]:
    """Seconds from the burst to each honest structure verdict, and how many honest files the
    time limit cut short (on a loaded host an honest check can exceed it: then raise the limit)."""
    source = SOLUTION.read_text()
    env = {"AUTOGRADER_IMPORT_TIMEOUT_S": str(import_timeout_s)} if import_timeout_s else None
    with running_service(workers=workers, extra_env=env) as (url, _), httpx.Client(base_url=url, timeout=120) as client:
        warm = client.post("/api/submissions", data={"student_id": "warm"},
                           files={"file": ("resnet50_skeleton.py", source.encode())}).json()["id"]
        while client.get(f"/api/submissions/{warm}").json()["status"] not in ("graded", "rejected", "failed"):
            time.sleep(0.2)  # every worker process has imported torch and built the reference side
        files = [(f"sleeper{i}", SLEEPER + source + f"\n# {i}\n") for i in range(n_sleepers)]
        files += [(f"honest{i}", source + f"\n# honest {i}\n") for i in range(n_honest)]
        started = time.perf_counter()

        def upload(item: tuple[str, str]) -> tuple[str, str]:
            student, text = item
            r = client.post("/api/submissions", data={"student_id": student},
                            files={"file": ("resnet50_skeleton.py", text.encode())})
            return student, r.json()["id"]

        with ThreadPoolExecutor(8) as pool:  # the sleepers first: the worst case for a FIFO queue
            ids = list(pool.map(upload, files))
        pending = {sid: student for student, sid in ids if student.startswith("honest")}
        times: list[float] = []
        timed_out = 0
        while pending:
            for sid in list(pending):
                view = client.get(f"/api/submissions/{sid}").json()
                verdict = view["report"] or view["structure"]
                if verdict or view["status"] in ("graded", "rejected", "failed"):
                    times.append(time.perf_counter() - started)
                    timed_out += bool(verdict and (verdict.get("error") or {}).get("kind") == "timeout")
                    del pending[sid]
            time.sleep(0.1)
    return times, timed_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--honest", type=int, default=20)
    parser.add_argument("--sleepers", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--import-timeout", type=float,
                        help="import limit, s (default: the service's, 10 s); raise it on a loaded host")
    args = parser.parse_args()
    figures = {}
    for label, sleepers in (("without sleepers", 0), ("with sleepers", args.sleepers)):
        times, timed_out = run(args.honest, sleepers, args.workers, args.import_timeout)
        figures[label] = percentile(times, 95)
        print(f"{label:>17}: honest time to structure verdict p50 {percentile(times, 50):.1f} s, "
              f"p95 {figures[label]:.1f} s, max {max(times):.1f} s ({len(times)} uploads, {args.workers} workers, "
              f"{timed_out} honest cut by the time limit)", flush=True)
    ratio = figures["with sleepers"] / figures["without sleepers"]
    print(f"\np95 with {args.sleepers} sleepers / without: {ratio:.2f} (goal ≤ 2)")
    emit("fairness", {"honest": args.honest, "sleepers": args.sleepers, "workers": args.workers,
                      "p95_without_s": figures["without sleepers"], "p95_with_s": figures["with sleepers"],
                      "ratio": ratio})


if __name__ == "__main__":
    main()
