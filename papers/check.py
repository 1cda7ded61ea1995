"""The one entry point the service calls with a report's bytes: check_pdf.

Parse in the sandbox (papers/parse.py), then the pure parts on the validated facts: the
format checks (papers/checks.py), the language (papers/language.py) and the accuracy the
report states (papers/claims.py). A file that cannot be read is a verdict with `ok` False and
`problem` in words, never an exception (bar a server without its sandbox: SandboxUnavailable).
"""
from __future__ import annotations

import base64
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from papers import claims as claims_
from papers import language
from papers.checks import Check, run_checks
from papers.claims import Claim
from papers.extract import MAX_TEXT_CHARS
from papers.parse import PaperLimits, parse_pdf

__all__ = ["Check", "Claim", "PaperLimits", "PaperVerdict", "check_pdf"]


class PaperVerdict(BaseModel):
    """Everything the service keeps about one report PDF (JSON-ready: previews are base64)."""
    model_config = ConfigDict(frozen=True)
    ok: bool  # the PDF was parsed at all
    problem: str | None = None  # why not, in words a student can act on
    pages: int = 0  # in the PDF (at most the first 20 were read)
    checks: list[Check] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)
    chosen_claim: int | None = None  # index in claims: the report's own test accuracy
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)  # the pages' text, for similarity
    language: str | None = None
    preview_png: list[str] = Field(default_factory=list)  # base64 PNGs of pages 1 and 2
    seconds: float = 0.0
    parse: dict[str, Any] = Field(default_factory=dict)  # how the sandbox run ended

    @property
    def accuracy(self) -> float | None:
        """The chosen claim's value in percent, if any."""
        return self.claims[self.chosen_claim].value if self.chosen_claim is not None else None


def check_pdf(data: bytes, *, allow_unsafe: bool = False, limits: PaperLimits = PaperLimits()) -> PaperVerdict:
    """Parse and check one report PDF. `allow_unsafe`: parse without bubblewrap where it is
    missing (a developer's machine; never the service)."""
    started = time.perf_counter()
    parsed = parse_pdf(data, limits=limits, allow_unsafe=allow_unsafe)
    if parsed.facts is None:
        return PaperVerdict(ok=False, problem=parsed.problem, seconds=time.perf_counter() - started,
                            parse=parsed.outcome)
    facts = parsed.facts
    text = facts.text[:MAX_TEXT_CHARS]
    found, chosen = claims_.extract_claims(text)
    detected: list[tuple[str, float] | None] = []

    def detect(sample: str) -> tuple[str, float] | None:
        detected.append(language.detect(sample))
        return detected[-1]

    checks = run_checks(facts, found, chosen, detect)
    return PaperVerdict(
        ok=True, pages=facts.page_count, checks=checks, claims=found, chosen_claim=chosen, text=text,
        language=detected[0][0] if detected and detected[0] else None,
        preview_png=[base64.b64encode(png).decode("ascii") for png in facts.previews],
        seconds=time.perf_counter() - started, parse=parsed.outcome)
