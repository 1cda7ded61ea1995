"""The trusted checks of one grade's programs, run in a fresh sandbox of their own.

The student's sandbox sends the model and the two probe blocks as program data; this module
hands that data to grader/verify_main.py in another sandbox (no student file there, our code
only, its own time and memory limits) and reads back one verdict per program. If that sandbox
does not finish, every program is refused with the reason, so the grade falls back to the
self-reported path (nothing counts before a TA's review): a program crafted to be slow or
huge to check cannot stall or bloat the grader's process, nor escape review.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

from grader import verify
from grader.protocol import Collector
from grader.sandbox import Limits, ProtocolError, Started, start_sandbox


def reference_file(ref: verify.Reference, table: Any, folder: Path) -> Path:
    """The reference programs as data, written once per table in this process's work folder."""
    data = json.dumps(verify.reference_data(ref, table))
    path = folder / f"reference-programs-{hashlib.sha256(data.encode()).hexdigest()[:16]}.json"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(data)
        tmp.replace(path)
    return path


def sent_programs(found: Collector, names: list[str]) -> dict[str, Any]:
    """What the student's sandbox sent for each program: its data, or why there is none."""
    out: dict[str, Any] = {}
    for name in names:
        msg = found.programs.get(name)
        if msg is None:
            out[name] = {"problem": "the grading process stopped before exporting the model"}
        elif msg.data is None:
            out[name] = {"problem": f"torch.export could not trace it ({(msg.error or '')[:300]})"}
        else:
            out[name] = {"data": msg.data}
    return out


def check_programs(programs: dict[str, Any], *, seed: int, reference: Path, limits: Limits, threads: int,
                   allow_unsafe: bool, take: Callable[[Callable[[], Started]], Started] | None = None
                   ) -> tuple[dict[str, verify.Verdict], dict[str, Any]]:
    """(verdict per program, the verifier sandbox's outcome as report data).

    `take` gets a started verifier (e.g. a pre-started one); default: start one now.
    """
    refused = {name: verify.Verdict(problem=p["problem"]) for name, p in programs.items() if "data" not in p}
    if len(refused) == len(programs):
        return refused, {"status": "not run", "reason": "no program to check"}

    def start() -> Started:
        return start_sandbox(inputs={"reference": reference}, limits=limits, threads=threads,
                             allow_unsafe=allow_unsafe, entry="verify")

    got: dict[str, verify.Verdict] = {}

    def on_message(msg: dict[str, Any]) -> None:
        if msg["type"] in ("ready", "done"):
            return
        if msg["type"] != "verdict" or msg.get("name") not in programs or msg["name"] in got:
            raise ProtocolError("the trusted check sent a message it should not")
        try:
            got[msg["name"]] = verify.verdict_from_message(msg)
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"the trusted check sent a malformed verdict ({type(exc).__name__})") from None

    started = take(start) if take is not None else start()
    outcome = started.run(submission=None, job={"programs": programs, "seed": seed}, on_message=on_message)
    why = outcome.reason or "it stopped before it finished"
    out = {name: got.get(name) or refused.get(name) or verify.Verdict(
        problem=f"the trusted check of the program did not finish: it {why}") for name in programs}
    if outcome.status != "ok":  # a partial run's verdicts are not used
        out = {name: refused.get(name) or verify.Verdict(
            problem=f"the trusted check of the program did not finish: it {why}") for name in programs}
    return out, {"status": outcome.status, "reason": outcome.reason, "wall_seconds": outcome.wall_seconds,
                 "peak_memory_bytes": outcome.peak_memory_bytes, "exit_code": outcome.exit_code}
