"""The report's format checks: pure functions from validated facts (papers/facts.py) to a list
of Check, each a name, pass/warn/fail and one sentence a student can act on.

What the assignment asks: "a 1 page report in CVPR format, written in English", stating its
results. CVPR's template is US Letter, two columns, a title across the top and an "Abstract"
heading. Each check below says in its message what it counted, so a student who disagrees
can see why.
"""
from __future__ import annotations

import re
import statistics
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict

from papers.claims import Claim
from papers.facts import Facts, Page

Status = Literal["pass", "warn", "fail"]
LETTER = (612.0, 792.0)  # points: 8.5 × 11 in, the CVPR template's paper
A4 = (595.3, 841.9)  # points: 210 × 297 mm
SIZE_TOLERANCE = 3.0  # points
MIN_TEXT = 20  # non-space characters: a page with fewer holds no text to speak of
REFERENCES = re.compile(r"^[ \t#*]*(?:\d+\.?\s*)?(?:references|bibliography)[ \t*]*$", re.IGNORECASE | re.MULTILINE)
CITATION = re.compile(r"^\s*\[\d+\]")
ABSTRACT = re.compile(r"^[ \t#*]*abstract\b", re.IGNORECASE | re.MULTILINE)
NO_TEXT = "Not checked: no text could be read from the PDF."


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    status: Status
    message: str


def _solid(text: str) -> int:
    return sum(not ch.isspace() for ch in text)


def has_text(page: Page) -> bool:
    return _solid(page.text) >= MIN_TEXT


def is_scan(page: Page) -> bool:
    """An image (or a form wrapping one) and no text: what a scanner or a photo gives."""
    return not has_text(page) and (page.images > 0 or page.forms > 0)


def _starts_with_references(page: Page) -> bool:
    found = REFERENCES.search(page.text)
    return found is not None and _solid(page.text[:found.start()]) < 300


def _mostly_citations(page: Page) -> bool:
    lines = [ln for ln in page.text.splitlines() if ln.strip()]
    return bool(lines) and sum(bool(CITATION.match(ln)) for ln in lines) * 2 >= len(lines)


def content_pages(facts: Facts) -> list[int]:
    """Indices of the pages that count as content. Not counted: a blank page (under MIN_TEXT
    characters and no image); a page that starts with the "References" heading (under 300
    characters before it); after a references page, one whose lines are mostly "[n]" entries.
    A page PDFium could not read counts (it cannot be shown to be blank)."""
    counted, in_references = [], False
    for page in facts.pages:
        if not has_text(page) and not is_scan(page):
            continue
        if _starts_with_references(page) or (in_references and _mostly_citations(page)):
            in_references = True
            continue
        in_references = in_references or REFERENCES.search(page.text) is not None
        counted.append(page.index)
    return sorted(counted + facts.failed_pages)


def columns(pages: list[Page]) -> int | None:
    """1 or 2: how the body text on `pages` is set, from where its lines start and end; None
    when there is too little text to tell. A line counts if it is at least 15 % of the page
    wide (headings and page numbers are not); each counts by its width. Two columns: lines in
    the left half and lines in the right half each carry at least 20 % of the text and lines
    across the middle at most 35 %. One column: lines across the middle carry half or more."""
    left = right = across = 0.0
    count = 0
    for page in pages:
        middle, slack = page.width / 2, page.width * 0.03
        for x0, _y0, x1, _y1, _size in page.lines:
            width = x1 - x0
            if width < 0.15 * page.width:
                continue
            count += 1
            if x1 <= middle + slack:
                left += width
            elif x0 >= middle - slack:
                right += width
            else:
                across += width
    total = left + right + across
    if count < 8 or total <= 0:
        return None
    if left >= 0.2 * total and right >= 0.2 * total and across <= 0.35 * total:
        return 2
    if across >= 0.5 * total:
        return 1
    return None


def body_size(page: Page) -> float | None:
    """The font size most of the page's text is set in (by line width), or None."""
    sizes = [round(size * 2) / 2 for x0, _y0, x1, _y1, size in page.lines for _ in range(max(1, int((x1 - x0) // 20)))
             if size > 0]
    return statistics.mode(sizes) if sizes else None


def has_title(page: Page) -> bool:
    """A line in the top third of the page set at least 1.2 times larger than the body text."""
    body = body_size(page)
    if body is None:
        return False
    return any(size >= 1.2 * body and y1 >= page.height * 2 / 3 for _x0, _y0, _x1, y1, size in page.lines)


def has_abstract(text: str) -> bool:
    """An "Abstract" heading (a line that starts with the word) in the first 5 000 characters."""
    return ABSTRACT.search(text[:5000]) is not None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def check_pages(facts: Facts) -> Check:
    counted = len(content_pages(facts))
    rule = "blank pages and pages that hold only references do not count"
    more = f"at least {counted}" if facts.page_count > len(facts.pages) + len(facts.failed_pages) else str(counted)
    if counted == 1 and more == "1":
        return Check(name="pages", status="pass", message=f"The report has 1 page of content ({rule}).")
    if counted == 0:
        return Check(name="pages", status="fail", message=f"The report has no page of content ({rule}).")
    return Check(name="pages", status="fail",
                 message=f"The report has {more} pages of content; the assignment asks for 1 page ({rule}).")


def _mm(points: float) -> int:
    return round(points / 72 * 25.4)


def check_paper_size(page: Page) -> Check:
    short, long = sorted((page.width, page.height))
    if abs(short - LETTER[0]) <= SIZE_TOLERANCE and abs(long - LETTER[1]) <= SIZE_TOLERANCE:
        return Check(name="paper size", status="pass", message="The pages are US Letter (8.5 × 11 in), as in the CVPR template.")
    if abs(short - A4[0]) <= SIZE_TOLERANCE and abs(long - A4[1]) <= SIZE_TOLERANCE:
        named = "A4 (210 × 297 mm)"
    else:
        named = f"{_mm(page.width)} × {_mm(page.height)} mm ({page.width:g} × {page.height:g} pt)"
    return Check(name="paper size", status="warn",
                 message=f"The pages are {named}; the CVPR template is US Letter (8.5 × 11 in).")


def check_columns(pages: list[Page]) -> Check:
    found = columns(pages)
    if found == 2:
        return Check(name="two columns", status="pass", message="The body text is set in two columns, as in the CVPR template.")
    if found == 1:
        return Check(name="two columns", status="fail",
                     message="The body text is set in one column across the page; the CVPR template has two columns.")
    return Check(name="two columns", status="warn",
                 message="Could not tell whether the text is in two columns (too little text, or an unusual layout).")


def check_language(detected: tuple[str, float] | None) -> Check:
    if detected is None:
        return Check(name="English", status="warn", message="Too little text to tell which language the report is written in.")
    language, _confidence = detected
    if language == "English":
        return Check(name="English", status="pass", message="The report is written in English.")
    return Check(name="English", status="fail",
                 message=f"The report appears to be written in {language}; the assignment asks for English.")


def check_text(facts: Facts) -> Check:
    scans = [p.index + 1 for p in facts.pages if is_scan(p)]
    chars = sum(len(p.text) for p in facts.pages)
    if not any(has_text(p) for p in facts.pages):
        return Check(name="text", status="fail",
                     message="No text could be read from the PDF: is it a scan? Export the PDF from LaTeX or Word.")
    if scans:
        which = ", ".join(map(str, scans))
        return Check(name="text", status="warn",
                     message=f"Page {which} holds an image but no text (a scan?); export the PDF from LaTeX or Word.")
    return Check(name="text", status="pass", message=f"The text can be read ({chars} characters).")


def check_title(page: Page | None) -> Check:
    if page is not None and has_title(page):
        return Check(name="title", status="pass", message="The first page has a title set larger than the text.")
    return Check(name="title", status="fail",
                 message="No title found: the first page should start with a title set larger than the text.")


def check_abstract(text: str) -> Check:
    if has_abstract(text):
        return Check(name="abstract", status="pass", message="The report has an abstract.")
    return Check(name="abstract", status="fail", message='No abstract found: CVPR papers start with an "Abstract" heading.')


def check_accuracy(claims: list[Claim], chosen: int | None) -> Check:
    if chosen is None:
        return Check(name="test accuracy", status="fail",
                     message='No test accuracy found in the text: state it, e.g. "our final model achieved a '
                             'test accuracy of 81.18%".')
    claim = claims[chosen]
    return Check(name="test accuracy", status="pass",
                 message=f'The report states a test accuracy of {claim.value:g}% ("{claim.context}").')


def run_checks(facts: Facts, claims: list[Claim], chosen: int | None,
               detect: Callable[[str], tuple[str, float] | None]) -> list[Check]:
    """Every check, in the order a student reads them. `detect` is the language detector
    (papers.language.detect; a test may pass its own)."""
    counted = set(content_pages(facts))
    content = [p for p in facts.pages if p.index in counted] or facts.pages
    first = content[0] if content else None
    text = "\n\n".join(p.text for p in content)
    found = [check_pages(facts), check_text(facts)]
    if first is not None:
        found.append(check_paper_size(first))
    if not any(has_text(p) for p in facts.pages):
        return found + [Check(name=name, status="warn", message=NO_TEXT)
                        for name in ("two columns", "English", "title", "abstract", "test accuracy")]
    return found + [check_columns(content), check_language(detect(text)), check_title(first),
                    check_abstract(text), check_accuracy(claims, chosen)]
