"""Identical programs share one fine-tune.

A checked program (canonical form), the checkpoint's sha256, the training settings and
seed, the data and the torch build fix the whole computation, which is deterministic on
one machine: its accuracy is computed once and reused, and the report says so. Results
live as JSON files under the cache folder; a lock per key makes a second grader of the
same program wait for the first instead of training twice.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from grader.report import Error, Training
from grader.sandbox import Outcome
from grader.training import TrainingResult


def key(*, program_digest: str, checkpoint_sha256: str, settings: dict[str, Any], data: str) -> str:
    parts = [program_digest, checkpoint_sha256, settings, data, torch.__version__]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _dump(result: TrainingResult) -> dict[str, Any]:
    o = result.outcome
    return {"accuracy": result.accuracy, "note": result.note,
            "training": result.training.model_dump(mode="json") if result.training else None,
            "error": result.error.model_dump(mode="json") if result.error else None,
            "outcome": {"status": o.status, "exit_code": o.exit_code, "log": o.log[-4000:],
                        "wall_seconds": o.wall_seconds, "peak_memory_bytes": o.peak_memory_bytes,
                        "isolation": o.isolation}}


def _load(data: dict[str, Any]) -> TrainingResult:
    o = data["outcome"]
    outcome = Outcome(status=o["status"], reason=None, exit_code=o["exit_code"], log=o["log"],
                      wall_seconds=o["wall_seconds"], peak_memory_bytes=o["peak_memory_bytes"],
                      isolation=o["isolation"])
    return TrainingResult(accuracy=data["accuracy"],
                          training=Training.model_validate(data["training"]) if data["training"] else None,
                          error=Error.model_validate(data["error"]) if data["error"] else None,
                          outcome=outcome, note=data["note"])


def shared(folder: Path, digest: str, compute: Callable[[], TrainingResult]) -> tuple[TrainingResult, bool]:
    """The fine-tune for `digest`, computed at most once; and whether it was reused.

    Only a yes/no leaves here: how many grades reused it would tell a student how many others
    handed in the same program (issue 25)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.json"
    with open(folder / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return _load(json.loads(path.read_text())["result"]), True
        result = compute()
        if result.outcome.status == "ok":  # a timeout may depend on the machine's load: not kept
            _write(path, {"result": _dump(result)})
        return result, False


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
