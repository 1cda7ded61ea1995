"""Trusted sandbox entry: check the programs a student's sandbox wrote, with our code only.

Runs as `python -s -B verify_main.py PRIVATE FD [--warm-up]` inside bubblewrap, with the
grader package and the reference programs (inputs["reference"], written by the grader) bound
read-only and no student file anywhere. The programs are untrusted data: a fresh interpreter
per grade, under the sandbox's time and memory limits, means a program made to be slow or
large to check costs that grade its verdict, never the grader's process. Before its job it
checks the reference programs (which also loads torch's shape functions), so a pre-started
one answers in a fraction of a second. Sends one "verdict" message per program.
"""
from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from typing import Any  # noqa: E402

import torch  # noqa: E402

from grader import verify  # noqa: E402
from grader.child import forkserver  # noqa: E402
from grader.child.channel import Channel  # noqa: E402


def main() -> int:
    private, fd = sys.argv[1], int(sys.argv[2])
    with open(os.path.join(private, "start.json"), encoding="utf-8") as f:
        start = json.load(f)
    threads = int(start.get("threads", 1))
    # A fork server warms up on one thread: a fork can't use an OpenMP pool its server started
    # (the pool's threads are not in the fork), so each job sets its own thread count.
    torch.set_num_threads(1 if "--fork-server" in sys.argv[3:] else threads)
    with open(start["inputs"]["reference"], encoding="utf-8") as f:
        reference = json.load(f)
    ref, table = verify.reference_from_data(reference)
    if "--warm-up" in sys.argv[3:] or "--fork-server" in sys.argv[3:]:  # every path of a grade's checks once, on our own programs
        verify.verdicts({name: {"data": data} for name, data in
                         {verify.MODEL: reference["model"], **reference["blocks"]}.items()}, ref, table, 0)

    def run_job(job: dict[str, Any], fd: int) -> int:
        channel = Channel(fd)
        torch.set_num_threads(int(job.get("threads", threads)))  # a fork's job says (grader/forkserver.py)
        channel.send("ready")
        found = verify.verdicts(job["programs"], ref, table, int(job["seed"]))  # grad on: op signatures
        for name, verdict in found.items():
            channel.send("verdict", **verify.verdict_message(name, verdict))
        channel.send("done")
        return 0

    if "--fork-server" in sys.argv[3:]:  # one isolated fork per job (grader/child/forkserver.py)
        forkserver.serve(fd, run_job)
    os.write(fd, b'{"type": "warm"}\n')  # before the job's Channel: one file object per fd
    sys.stdin.readline()  # the grader's go: the job is written
    with open(os.path.join(private, "job.json"), encoding="utf-8") as f:
        return run_job(json.load(f), fd)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
