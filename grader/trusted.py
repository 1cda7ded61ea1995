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
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from grader import verify
from grader.protocol import Collector
from grader.rubric import Table
from grader.sandbox import Limits, ProtocolError, Started, start_sandbox


_WRITING = threading.Lock()  # a one-off grade asks from two threads (the verifier started ahead, the check)


@lru_cache(maxsize=4)
def _reference_file(table_json: str, folder: str) -> Path:
    table = Table.model_validate_json(table_json)
    data = json.dumps(verify.reference_data(verify.reference(table), table))
    path = Path(folder) / f"reference-programs-{hashlib.sha256(data.encode()).hexdigest()[:16]}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(data)
    tmp.replace(path)
    return path


def reference_file(table: Table, folder: Path) -> Path:
    """The reference programs as data, for the verifier: written once per table and folder in
    this process (every grade hands its path to a verifier)."""
    with _WRITING:
        return _reference_file(table.model_dump_json(by_alias=True), str(folder))


def sent_programs(found: Collector, names: list[str]) -> dict[str, Any]:
    """What the student's sandbox sent for each program: its data, or why there is none."""
    out: dict[str, Any] = {}
    for name in names:
        msg = found.programs.get(name)
        if msg is None:
            out[name] = {"problem": "the grading process stopped before exporting the model"}
        elif msg.data is None:
            out[name] = {"problem": f"torch.export could not trace it ({(msg.error or '')[:300]})"}
            if parts := found.parts(name):  # its forward fails: the programs of its parts
                out[name]["parts"] = parts
        else:
            out[name] = {"data": msg.data}
    return out


def check_programs(programs: dict[str, Any], *, seed: int, reference: Path, limits: Limits, threads: int,
                   allow_unsafe: bool, take: Callable[[], Started] | None = None
                   ) -> tuple[dict[str, verify.Verdict], dict[str, Any]]:
    """(verdict per program, the verifier sandbox's outcome as report data).

    `take` gets a started verifier (e.g. a pre-started one); default: start one now.
    """
    refused = {name: verify.Verdict(problem=p["problem"]) for name, p in programs.items()
               if "data" not in p and not p.get("parts")}
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

    started = (take or start)()
    outcome = started.run(submission=None, job={"programs": programs, "seed": seed}, on_message=on_message)
    if outcome.status != "ok":  # a partial run's verdicts are not used
        got = {}
    unfinished = verify.Verdict(problem="the trusted check of the program did not finish: it "
                                        + (outcome.reason or "stopped before it finished"))
    out = {name: got.get(name) or refused.get(name) or unfinished for name in programs}
    return out, outcome.summary()
