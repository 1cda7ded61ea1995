"""The upload route's header check: empty, too big, not a PDF, and a PDF it lets through."""
from __future__ import annotations

from papers.intake import MAX_BYTES, check_upload
from tests.papers.pdfs import padded_pdf, report_pdf


def test_a_report_passes() -> None:
    assert check_upload(report_pdf(), "report.pdf") is None


def test_empty_is_refused() -> None:
    assert check_upload(b"", "report.pdf") == "The file is empty."


def test_not_a_pdf_is_refused_in_words() -> None:
    problem = check_upload(b"PK\x03\x04 a zip of a word document", "report.docx")
    assert problem is not None and '"report.docx" is not a PDF' in problem and "%PDF-" in problem


def test_50_mib_is_refused_before_anything_reads_it() -> None:
    data = padded_pdf(50 << 20)
    assert len(data) == 50 << 20
    problem = check_upload(data, "report.pdf")
    assert problem is not None and "50.0 MiB" in problem and f"{MAX_BYTES >> 20:g} MiB" in problem
    assert check_upload(data, "report.pdf", max_bytes=64 << 20) is None
