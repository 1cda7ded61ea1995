"""check_pdf end to end: PDFs made with reportlab (tests/papers/pdfs.py), parsed in the sandbox.

Each case asserts the verdict and the words a student reads. About 0.3 s each (a sandbox start).
"""
from __future__ import annotations

import base64

import pytest

from papers.check import PaperLimits, PaperVerdict, check_pdf
from papers.facts import PNG_SIGNATURE
from papers.intake import check_upload
from tests.papers import pdfs


def statuses(verdict: PaperVerdict) -> dict[str, str]:
    return {c.name: c.status for c in verdict.checks}


def message(verdict: PaperVerdict, name: str) -> str:
    return next(c.message for c in verdict.checks if c.name == name)


def test_a_one_page_two_column_english_report_passes_every_check() -> None:
    verdict = check_pdf(pdfs.report_pdf())
    assert verdict.ok and verdict.problem is None and verdict.pages == 1
    assert set(statuses(verdict).values()) == {"pass"}, verdict.checks
    assert verdict.accuracy == float(pdfs.ACCURACY)
    assert float(pdfs.BASELINE) in [c.value for c in verdict.claims]  # seen, and not chosen
    assert verdict.language == "English"
    assert pdfs.TITLE in verdict.text and f"test accuracy of {pdfs.ACCURACY}" in verdict.text
    assert len(verdict.preview_png) == 1 and base64.b64decode(verdict.preview_png[0]).startswith(PNG_SIGNATURE)
    assert verdict.parse["isolation"] == "bubblewrap" and verdict.parse["status"] == "ok"


def test_three_pages_fail_the_page_check() -> None:
    verdict = check_pdf(pdfs.report_pdf(pages=3))
    assert verdict.ok and verdict.pages == 3 and statuses(verdict)["pages"] == "fail"
    assert "3 pages of content" in message(verdict, "pages")
    assert len(verdict.preview_png) == 2  # pages 1 and 2


def test_a_references_page_and_a_blank_page_do_not_count_and_a4_is_named() -> None:
    verdict = check_pdf(pdfs.report_pdf(pagesize=pdfs.A4, references_page=True, blank_page=True))
    assert verdict.pages == 3 and statuses(verdict)["pages"] == "pass"
    assert statuses(verdict)["paper size"] == "warn" and "A4 (210 × 297 mm)" in message(verdict, "paper size")


def test_one_column_fails_the_layout_check() -> None:
    verdict = check_pdf(pdfs.report_pdf(columns=1))
    assert statuses(verdict)["two columns"] == "fail"
    assert "one column" in message(verdict, "two columns")
    assert statuses(verdict)["pages"] == "pass" and statuses(verdict)["English"] == "pass"


def test_a_korean_report_is_read_and_fails_the_language_check() -> None:
    verdict = check_pdf(pdfs.report_pdf(language="ko"))
    assert verdict.ok and pdfs.KOREAN[0][1][:20] in verdict.text  # the CID font's text comes back as Unicode
    assert verdict.language == "Korean"
    assert statuses(verdict)["English"] == "fail" and "Korean" in message(verdict, "English")
    assert statuses(verdict)["abstract"] == "fail"


def test_a_scan_fails_the_text_check_in_words() -> None:
    verdict = check_pdf(pdfs.scanned_pdf())
    assert verdict.ok and verdict.text.strip() == ""
    assert statuses(verdict)["text"] == "fail"
    assert "no text could be read from the pdf: is it a scan?" in message(verdict, "text").lower()
    assert "Export the PDF from LaTeX or Word" in message(verdict, "text")


@pytest.mark.parametrize("data, words", [
    (pdfs.report_pdf(password="secret"), "The PDF is encrypted (it asks for a password); upload it without a password."),
    (pdfs.malformed_pdf(), "This file is not a readable PDF;"),
    (b"%PDF-1.7\n" + bytes(range(256)) * 40, "This file is not a readable PDF;"),
    (pdfs.empty_pdf(), "This file is not a readable PDF;"),  # PDFium refuses a page tree of no pages
], ids=["encrypted", "truncated", "garbage", "no pages"])
def test_unreadable_files_get_words_not_exceptions(data: bytes, words: str) -> None:
    assert check_upload(data, "report.pdf") is None  # the header looks right: only the parse can tell
    verdict = check_pdf(data)
    assert not verdict.ok and verdict.problem is not None and verdict.problem.startswith(words)
    assert verdict.checks == [] and verdict.text == ""


def test_a_50_mib_pdf_is_refused_at_upload_and_still_gets_a_verdict_from_the_parser() -> None:
    data = pdfs.padded_pdf(50 << 20)
    assert "50.0 MiB" in (check_upload(data, "report.pdf") or "")
    verdict = check_pdf(data)
    assert verdict.ok and verdict.pages == 1 and "large attachment" in verdict.text
    assert verdict.seconds < 20
    small = check_pdf(data, limits=PaperLimits(max_input_bytes=10 << 20))
    assert not small.ok and small.problem is not None and "50.0 MiB" in small.problem


def test_without_bubblewrap_the_parse_is_refused_unless_unsafe_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import grader.sandbox

    monkeypatch.setattr(grader.sandbox, "bubblewrap", lambda: None)
    with pytest.raises(grader.sandbox.SandboxUnavailable):
        check_pdf(pdfs.report_pdf())
    verdict = check_pdf(pdfs.report_pdf(), allow_unsafe=True)
    assert verdict.ok and verdict.accuracy == float(pdfs.ACCURACY)
    assert verdict.parse["isolation"] == "none (unsafe)"
