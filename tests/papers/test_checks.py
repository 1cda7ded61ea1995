"""The pure format checks and the trusted side's validation, on facts built here (no sandbox)."""
from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from pydantic import ValidationError

from grader.sandbox import ProtocolError
from papers import checks, extract
from papers.checks import Check, run_checks
from papers.claims import extract_claims
from papers.facts import Facts, Page, Preview
from papers.language import detect
from papers.parse import Collector
from tests.papers.pdfs import ENGLISH, KOREAN

LETTER = (612.0, 792.0)
PROSE = " ".join(text for _, text in ENGLISH)


def body(columns: int, width: float = 612.0, lines: int = 40) -> list[list[float]]:
    """Text boxes as PDFium gives them: 10 pt lines in `columns` columns under a 14 pt title."""
    boxes = [[165.0, 721.0, 448.0, 734.0, 14.0]]
    col_w = (width - 108 - 22 * (columns - 1)) / columns
    for i in range(lines):
        col = i * columns // lines
        x0 = 54 + col * (col_w + 22)
        y = 650 - (i % (lines // columns)) * 12
        boxes.append([x0, y, x0 + col_w - (i % 3) * 10, y + 9, 10.0])
    return boxes


def page(index: int = 0, *, text: str = "Title\nAbstract\n" + PROSE, columns: int = 2, size: tuple[float, float] = LETTER,
         images: int = 0, lines: list[list[float]] | None = None) -> Page:
    return Page(index=index, width=size[0], height=size[1], chars=len(text), text=text,
                lines=body(columns, size[0]) if lines is None and text.strip() else (lines or []), images=images, forms=0)


def by_name(found: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in found}


def test_a_cvpr_page_passes_every_check() -> None:
    facts = Facts(page_count=1, pages=[page()])
    claims, chosen = extract_claims(facts.text)
    found = by_name(run_checks(facts, claims, chosen, detect))
    assert {c.status for c in found.values()} == {"pass"}, found
    assert "81.18%" in found["test accuracy"].message


def test_references_only_and_blank_pages_do_not_count() -> None:
    refs = "References\n[1] K. He et al. Deep residual learning. CVPR 2016.\n[2] A. Krizhevsky. Tiny images. 2009."
    more = "[3] " + "A. Author. A paper. 2020.\n[4] B. Author. Another. 2021.\n" * 3
    facts = Facts(page_count=4, pages=[page(0), page(1, text=refs), page(2, text=more), page(3, text=" ")])
    assert checks.content_pages(facts) == [0]
    check = checks.check_pages(facts)
    assert check.status == "pass" and "references do not count" in check.message


def test_three_pages_of_content_fail_with_the_count() -> None:
    facts = Facts(page_count=3, pages=[page(i) for i in range(3)])
    check = checks.check_pages(facts)
    assert check.status == "fail" and "3 pages of content" in check.message and "asks for 1 page" in check.message


def test_pages_past_the_parsed_ones_are_at_least() -> None:
    facts = Facts(page_count=500, pages=[page(i) for i in range(extract.MAX_PAGES)])
    assert "at least 20 pages" in checks.check_pages(facts).message


def test_paper_sizes() -> None:
    assert checks.check_paper_size(page()).status == "pass"
    a4 = checks.check_paper_size(page(size=(595.28, 841.89)))
    assert a4.status == "warn" and "A4 (210 × 297 mm)" in a4.message and "US Letter" in a4.message
    odd = checks.check_paper_size(page(size=(500.0, 700.0)))
    assert odd.status == "warn" and "176 × 247 mm" in odd.message


def test_columns_from_where_lines_start_and_end() -> None:
    assert checks.columns([page(columns=2)]) == 2
    one = checks.check_columns([page(columns=1)])
    assert one.status == "fail" and "one column" in one.message
    assert checks.columns([page(lines=body(2)[:4])]) is None  # too little text to tell
    assert checks.check_columns([page(lines=[])]).status == "warn"


def test_language_is_judged_on_the_text() -> None:
    korean = " ".join(text for _, text in KOREAN)
    assert checks.check_language(detect(PROSE)).status == "pass"
    found = checks.check_language(detect(korean))
    assert found.status == "fail" and "Korean" in found.message and "English" in found.message
    assert checks.check_language(detect("ResNet 81.18")).status == "warn"


def test_a_scan_has_no_text_and_fails_in_words() -> None:
    facts = Facts(page_count=1, pages=[page(text="", images=1)])
    found = by_name(run_checks(facts, [], None, detect))
    assert found["text"].status == "fail" and "is it a scan?" in found["text"].message
    assert found["pages"].status == "pass"  # the scanned page is content, just not text
    assert found["test accuracy"].status == "warn" and found["test accuracy"].message == checks.NO_TEXT


def test_title_needs_a_larger_line_at_the_top_and_abstract_a_heading() -> None:
    flat = [[x0, y0, x1, y1, 10.0] for x0, y0, x1, y1, _ in body(2)]
    assert checks.check_title(page(lines=flat)).status == "fail"
    assert checks.check_title(page()).status == "pass"
    assert checks.check_abstract("Title\n\nAbstract\nWe ...").status == "pass"
    assert checks.check_abstract("#### **Abstract**\nWe ...").status == "pass"
    missing = checks.check_abstract("Title\nIn this abstract we say nothing")
    assert missing.status == "fail" and '"Abstract" heading' in missing.message


def test_no_accuracy_stated_fails() -> None:
    found = checks.check_accuracy(*extract_claims("We trained it and it worked well."))
    assert found.status == "fail" and "No test accuracy found" in found.message


# The trusted side's validation of what the parser child says.

def png(width: int, height: int) -> str:
    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_page_messages_past_the_caps_are_refused() -> None:
    ok = page().model_dump()
    for bad in [{"text": "x" * (extract.MAX_PAGE_CHARS + 1)}, {"lines": [[0, 0, 1, 1, 10]] * (extract.MAX_LINES + 1)},
                {"width": 0}, {"width": 1e9}, {"index": extract.MAX_PAGES}, {"lines": [[0, 0, 1, 1]]},
                {"surprise": 1}, {"images": -1}]:
        with pytest.raises(ValidationError):
            Page.model_validate({**ok, **bad})


def test_previews_must_be_small_pngs() -> None:
    assert Preview.model_validate({"type": "preview", "index": 0, "png": png(850, 1100)})
    for bad in [png(2000, 1100), base64.b64encode(b"GIF89a" + bytes(100)).decode(), "not base64!"]:
        with pytest.raises(ValidationError):
            Preview.model_validate({"type": "preview", "index": 0, "png": bad})


def test_the_collector_takes_messages_only_in_order() -> None:
    good = page().model_dump()
    collect = Collector()
    with pytest.raises(ProtocolError):
        collect(good)  # a page before the document
    collect({"type": "document", "pages": 2})
    with pytest.raises(ProtocolError):
        collect({**good, "index": 1})  # skips page 0
    collect(good)
    with pytest.raises(ProtocolError):
        collect({"type": "document", "pages": 1})  # described twice
    with pytest.raises(ProtocolError):
        collect({"type": "shell", "cmd": "id"})
    collect({"type": "preview", "index": 0, "png": png(10, 10)})
    assert collect.facts().page_count == 2 and len(collect.facts().previews) == 1


def test_the_collector_refuses_more_text_than_the_parser_may_send() -> None:
    collect = Collector()
    collect({"type": "document", "pages": extract.MAX_PAGES})
    full = {**page().model_dump(), "text": "x" * extract.MAX_PAGE_CHARS}
    with pytest.raises(ProtocolError):
        for i in range(extract.MAX_PAGES):
            collect({**full, "index": i})
    assert sum(len(p.text) for p in collect.pages) <= extract.MAX_TEXT_CHARS
