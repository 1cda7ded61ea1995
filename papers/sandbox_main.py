"""Sandbox entry "paper": parse one report PDF with our code (papers/extract.py), no student code.

Runs as `python -s -B sandbox_main.py PRIVATE FD` inside bubblewrap (grader/sandbox.py,
ENTRIES["paper"]), with the papers and grader packages bound read-only at /opt/autograder and
the PDF bound read-only as inputs["pdf"]. The PDF is the untrusted part: a fresh interpreter
per report under the sandbox's limits means a PDF made to exploit, stall or bloat PDFium costs
its own verdict, never the worker. Messages go out as JSON lines on FD (grader/child/channel.py);
the last one is "done".
"""
from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pypdfium2  # noqa: E402,F401  (loaded before the job: its start is not the PDF's time)

from grader.child.channel import Channel  # noqa: E402
from papers import extract  # noqa: E402


def main() -> int:
    private, fd = sys.argv[1], int(sys.argv[2])
    os.write(fd, b'{"type": "warm"}\n')  # before the job's Channel: one file object per fd
    sys.stdin.readline()  # the grader's go: the job is written
    with open(os.path.join(private, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    channel = Channel(fd)
    extract.run(job["inputs"]["pdf"], channel.send)
    channel.send("done")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
