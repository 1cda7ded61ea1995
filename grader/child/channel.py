"""The one way a sandboxed process talks to the grader: JSON lines on an inherited pipe.

Used by the student's child (grader/child/main.py) and the trusted verifier
(grader/verify_main.py); imports only the standard library.
"""
from __future__ import annotations

import json
import os
from typing import Any


class Channel:
    """JSON lines to the grader on an inherited pipe (finite numbers only)."""

    def __init__(self, fd: int) -> None:
        self._file = os.fdopen(fd, "w", buffering=1, encoding="utf-8")

    def send(self, kind: str, **data: Any) -> None:
        self._file.write(json.dumps({"type": kind, **data}, allow_nan=False) + "\n")
        self._file.flush()
