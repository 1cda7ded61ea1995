"""Trusted side of the report parse: run the "paper" sandbox on the PDF's bytes, validate what
it says, and name in plain words whatever went wrong.

The bytes go to a private temporary file, bound read-only into the sandbox; the child's JSON
lines are checked one by one (papers/facts.py) and in order, so a child that PDFium's bugs
have turned against us can send nothing past the caps, and gets its parse thrown away. Every
path ends in a ParseResult: facts, or a problem a student can act on.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from grader.sandbox import Limits, Outcome, ProtocolError, run_sandboxed
from papers import extract
from papers.facts import MESSAGES, Document, Facts, Page, PageFailed, Preview, Refused, png_bytes

REEXPORT = "export the report again as a PDF from LaTeX or Word and upload that file"


@dataclass(frozen=True)
class PaperLimits:
    """What one report's parse may use: far more than an honest 1-page report needs (about
    0.3 s and 30 MB), far less than a worker can lose."""
    wall_seconds: float = 20.0
    memory_bytes: int = 1 << 30
    max_processes: int = 16  # threads count: PDFium and Python need a handful
    max_input_bytes: int = 64 << 20  # parsed at all; the upload route refuses past 10 MiB first

    def sandbox(self) -> Limits:
        return Limits(wall_seconds=self.wall_seconds, cpu_seconds=int(self.wall_seconds) + 5,
                      memory_bytes=self.memory_bytes, max_processes=self.max_processes,
                      max_file_bytes=1 << 20, disk_bytes=16 << 20, max_open_files=64, log_bytes=16 << 10,
                      message_bytes=4 << 20, total_message_bytes=16 << 20)


@dataclass(frozen=True)
class ParseResult:
    facts: Facts | None
    problem: str | None  # plain words, when there are no facts
    outcome: dict[str, Any]  # how the sandbox run ended (Outcome.summary()), for the TA


class Collector:
    """Takes the child's messages as they arrive (the sandbox's on_message): each validated,
    in the one order an honest child sends them; raises ProtocolError on anything else."""

    def __init__(self) -> None:
        self.refused: str | None = None
        self.page_count: int | None = None
        self.pages: list[Page] = []
        self.failed: list[int] = []
        self.previews: list[bytes] = []
        self._next_page = 0
        self._text = 0

    def __call__(self, raw: dict[str, Any]) -> None:
        kind = raw.get("type")
        if kind == "done":
            return
        model = MESSAGES.get(kind)  # type: ignore[arg-type]
        if model is None:
            raise ProtocolError(f"sent an unknown message ({str(kind)[:40]!r})")
        try:
            msg = model.model_validate(raw)
        except ValidationError as exc:
            raise ProtocolError(f"sent a {kind} message out of range ({exc.error_count()} errors)") from None
        started = self.refused is not None or self.page_count is not None
        if isinstance(msg, (Refused, Document)):
            if started:
                raise ProtocolError("described the document twice")
            if isinstance(msg, Refused):
                self.refused = msg.reason
            else:
                self.page_count = msg.pages
            return
        if self.page_count is None:
            raise ProtocolError("sent a page before the document")
        if isinstance(msg, (Page, PageFailed)):
            if msg.index != self._next_page or msg.index >= min(self.page_count, extract.MAX_PAGES):
                raise ProtocolError("sent pages out of order")
            self._next_page += 1
            if isinstance(msg, PageFailed):
                self.failed.append(msg.index)
                return
            self._text += len(msg.text)
            if self._text > extract.MAX_TEXT_CHARS:
                raise ProtocolError("sent more text than the parser may")
            self.pages.append(msg)
        elif isinstance(msg, Preview):
            if msg.index != len(self.previews) or msg.index >= self._next_page:
                raise ProtocolError("sent a preview out of order")
            self.previews.append(png_bytes(msg.png))

    def facts(self) -> Facts:
        assert self.page_count is not None
        return Facts(page_count=self.page_count, pages=self.pages, failed_pages=self.failed, previews=self.previews)


def _words_for(outcome: Outcome, limits: PaperLimits) -> str:
    if outcome.status == "timeout":
        return (f"Reading this PDF took longer than {limits.wall_seconds:g} s, so it was stopped; {REEXPORT} "
                "(a 1-page report reads in under a second).")
    if outcome.status == "memory_limit":
        return (f"Reading this PDF needed more than {limits.memory_bytes / (1 << 30):g} GiB of memory, so it was "
                f"stopped; {REEXPORT} (a 1-page report needs a few tens of MB).")
    return f"This file is not a readable PDF: the PDF reader stopped on it; {REEXPORT}."


def parse_pdf(data: bytes, *, limits: PaperLimits = PaperLimits(), allow_unsafe: bool = False) -> ParseResult:
    """Parse `data` in the "paper" sandbox. Never raises for anything in the bytes (the
    sandbox's SandboxUnavailable, a setup error of the server, does propagate)."""
    if len(data) > limits.max_input_bytes:
        return ParseResult(None, f"The file is {len(data) / (1 << 20):.1f} MiB; a report must be under "
                                 f"{limits.max_input_bytes >> 20} MiB to be read.", {})
    work = Path(tempfile.mkdtemp(prefix="autograder-paper-"))
    try:
        path = work / "report.pdf"
        path.write_bytes(data)
        path.chmod(0o444)
        collect = Collector()
        outcome = run_sandboxed(submission=None, job={}, inputs={"pdf": path}, limits=limits.sandbox(),
                                allow_unsafe=allow_unsafe, on_message=collect, entry="paper")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {**outcome.summary(), "isolation": outcome.isolation}
    if outcome.status != "ok":
        return ParseResult(None, _words_for(outcome, limits), summary)
    if collect.refused == "encrypted":
        return ParseResult(None, "The PDF is encrypted (it asks for a password); upload it without a password.",
                           summary)
    if collect.refused is not None or collect.page_count is None:
        return ParseResult(None, f"This file is not a readable PDF; {REEXPORT}.", summary)
    if collect.page_count == 0:
        return ParseResult(None, f"The PDF has no pages; {REEXPORT}.", summary)
    if collect.pages == [] and collect.failed:
        return ParseResult(None, f"None of the PDF's pages could be read; {REEXPORT}.", summary)
    return ParseResult(collect.facts(), None, summary)
