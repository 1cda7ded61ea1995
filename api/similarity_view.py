"""The similarity report on the TA pages: which final submissions share what students wrote,
and which reports of record (their extracted text, by words: similarity.text) share prose.

Input: each roster student's final submission (the gradebook's rule), compared with
`similarity.compare`; the reference solution (the skeleton's text plus every blank's
correct answer) and the course's skeleton, when configured, are excluded so that two correct
files are not alike for being correct. The report is kept per API process until a final
submission changes, since a class of 500 takes seconds to compare; the reports' likewise, until
a report of record (or its text) changes.
"""
from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from grader.rubric import SOLUTION
from service.settings import ServiceSettings
from similarity import SimilarityReport, compare, scan_known_folder
from similarity.text import TEXT_SETTINGS, common_text, words
from storage import dashboard, gradebook, papers
from storage.models import SCORED, Assignment

MAX_CACHED = 4


@dataclass(frozen=True)
class Computed:
    report: SimilarityReport
    sources: dict[str, str]  # name -> text: a student id, or "known:<path>" for a known source
    submission_of: dict[str, str]  # student id -> submission id
    skipped_known: list[str]


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _excluded(settings: ServiceSettings) -> list[str]:
    out = [SOLUTION.read_text(encoding="utf-8")]
    if settings.similarity_skeleton is not None and Path(settings.similarity_skeleton).is_file():
        out.append(Path(settings.similarity_skeleton).read_text(encoding="utf-8", errors="replace"))
    return out


def computed(state: Any, session: Session, settings: ServiceSettings, assignment: Assignment) -> Computed:
    """The report for the assignment's final submissions, from the per-process cache when nothing changed."""
    rows = [r for r in gradebook.gradebook(session, assignment=assignment) if r.status in SCORED and r.submission_id]
    contents = dashboard.final_contents(session, ids=[r.submission_id for r in rows])
    files = {student: _text(data) for student, data in contents.values()}
    submission_of = {student: sid for sid, (student, _) in contents.items()}
    known = scan_known_folder(settings.similarity_known_dir) if settings.similarity_known_dir else None
    known_sources = {f"known:{name}": text for name, text in (known.sources if known else {}).items()}
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name].encode()).digest())
    for name in sorted(known_sources):
        digest.update(name.encode() + b"\0" + hashlib.sha256(known_sources[name].encode()).digest())
    key = (assignment.id, digest.hexdigest(), settings.similarity_threshold, str(settings.similarity_skeleton))
    cache: dict = getattr(state, "similarity_cache", None) or {}
    state.similarity_cache = cache
    if key not in cache:
        report = compare(files, exclude=_excluded(settings), known=known_sources,
                         threshold=settings.similarity_threshold)
        while len(cache) >= MAX_CACHED:
            cache.pop(next(iter(cache)))
        cache[key] = Computed(report=report, sources=files | known_sources, submission_of=submission_of,
                              skipped_known=[f"{s.name}: {s.reason}" for s in (known.skipped if known else [])])
    return cache[key]


def computed_reports(state: Any, session: Session, settings: ServiceSettings, assignment: Assignment) -> Computed:
    """The same engine on the reports of record's text (words), the course's own text excluded;
    `submission_of` maps a student to their report's id. Cached like `computed`."""
    chosen = papers.record_papers(session, assignment_id=assignment.id, with_text=True)
    texts = {p.student_id: p.text for p in chosen.values() if p.text and papers.readable(p)}
    paper_of = {p.student_id: p.id for p in chosen.values() if p.student_id in texts}
    common = common_text(settings.report_common_text)
    digest = hashlib.sha256(common.encode())
    for name in sorted(texts):
        digest.update(name.encode() + b"\0" + hashlib.sha256(texts[name].encode()).digest())
    key = ("reports", assignment.id, digest.hexdigest())
    cache: dict = getattr(state, "report_similarity_cache", None) or {}
    state.report_similarity_cache = cache
    if key not in cache:
        report = compare(texts, exclude=[common], settings=TEXT_SETTINGS, tokenizer=words)  # its own threshold
        while len(cache) >= MAX_CACHED:
            cache.pop(next(iter(cache)))
        cache[key] = Computed(report=report, sources=texts, submission_of=paper_of, skipped_known=[])
    return cache[key]


def similarity_context(state: Any, session: Session, settings: ServiceSettings, assignment: Assignment) -> dict[str, Any]:
    c = computed(state, session, settings, assignment)
    r = computed_reports(state, session, settings, assignment)
    return {"report": c.report, "submission_of": c.submission_of, "skipped_known": c.skipped_known,
            "here": "similarity", "known_dir": settings.similarity_known_dir,
            "compared": sum(1 for f in c.report.files if not f.known),
            "known_count": sum(1 for f in c.report.files if f.known),
            "papers": r.report, "paper_of": r.submission_of}


@dataclass(frozen=True)
class SideLine:
    number: int
    html: str
    shared: bool


def _side(text: str, ranges: list) -> list[SideLine]:
    marked = set()
    for r in ranges:
        marked.update(range(r.start, r.end + 1))
    return [SideLine(number=i, html=html.escape(line), shared=i in marked)
            for i, line in enumerate(text.splitlines()[:5000], start=1)]


def pair_context(state: Any, session: Session, settings: ServiceSettings, assignment: Assignment,
                 left: str, right: str, *, kind: str = "code") -> dict[str, Any] | None:
    """Two flagged files side by side; `kind` "report": two reports' text (links go to the reports)."""
    reports = kind == "report"
    c = (computed_reports if reports else computed)(state, session, settings, assignment)
    pair = next((p for p in c.report.pairs if p.a == left and p.b == right), None)
    if pair is None:
        return None
    return {"pair": pair, "submission_of": c.submission_of, "here": "similarity", "kind": "report" if reports else "code",
            "link_base": "/ta/papers/" if reports else "/ta/s/",
            "left": _side(c.sources[pair.a], pair.a_ranges), "right": _side(c.sources[pair.b], pair.b_ranges)}
