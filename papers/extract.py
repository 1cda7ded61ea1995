"""Read a report PDF with PDFium: the code that touches untrusted bytes, run only in the sandbox.

PDFium is a large C++ parser, and a PDF made to exploit it would own the process that opens it;
so this module runs in the "paper" sandbox (papers/sandbox_main.py: no network, no host files,
1 GiB, seconds of wall time) and reports plain facts as JSON messages through `send`. It
decides nothing about the report: the trusted side validates every message (papers/facts.py)
and judges (papers/checks.py). Its own caps (pages, characters, lines, objects) keep an
honest answer small; the trusted side refuses an answer past them, since only a subverted
child would send one.

Imports only the standard library, pypdfium2 and (to encode the previews) Pillow.
"""
from __future__ import annotations

import base64
import io
import math
from typing import Any, Callable

MAX_PAGES = 20  # parsed; a longer PDF still reports its page count
MAX_PAGE_CHARS = 20_000  # a dense 1-page two-column paper has about 6 000
MAX_TEXT_CHARS = 200_000  # all pages together
MAX_LINES = 2_000  # text boxes per page sent for the layout check
MAX_OBJECTS = 5_000  # page objects looked at for images
PREVIEW_PAGES = 2
PREVIEW_DPI = 100
PREVIEW_MAX = (900, 1400)  # pixels: width, height
COORD_LIMIT = 100_000.0  # points; PDFium allows pages up to 14 400 pt (a user unit can scale that)

Send = Callable[..., None]


def _refusal(err_code: int | None) -> str:
    """PDFium's load error as one of the words the trusted side knows (papers/facts.py)."""
    import pypdfium2.raw as raw

    return {raw.FPDF_ERR_PASSWORD: "encrypted", raw.FPDF_ERR_SECURITY: "encrypted",
            raw.FPDF_ERR_FORMAT: "malformed", raw.FPDF_ERR_FILE: "malformed"}.get(err_code or -1, "malformed")


def _num(value: float) -> float:
    """A coordinate rounded for the wire, finite and bounded (json refuses NaN, so must we)."""
    if not math.isfinite(value):
        return 0.0
    return round(max(-COORD_LIMIT, min(COORD_LIMIT, value)), 1)


def _lines(textpage: Any) -> list[list[float]]:
    """Each text box PDFium finds (a run of text on one line) as [x0, y0, x1, y1, font size]:
    the trusted side judges columns from where boxes start and end, and finds a title by size."""
    import pypdfium2.raw as raw

    lines = []
    for i in range(min(textpage.count_rects(), MAX_LINES)):
        left, bottom, right, top = textpage.get_rect(i)
        middle = (bottom + top) / 2
        # the box's first glyph: its font size (a line's own height depends on its letters)
        index = textpage.get_index(left + min(2.0, (right - left) / 2), middle, 2.0, max(1.0, (top - bottom) / 2))
        size = raw.FPDFText_GetFontSize(textpage, index) if index is not None and index >= 0 else 0.0
        lines.append([_num(left), _num(bottom), _num(right), _num(top), _num(size)])
    return lines


def _graphics(page: Any) -> tuple[int, int]:
    """How many of the page's first MAX_OBJECTS objects are images, and are forms (which a
    scanner's PDF often wraps its image in)."""
    import pypdfium2.raw as raw

    images = forms = 0
    for i in range(min(raw.FPDFPage_CountObjects(page), MAX_OBJECTS)):
        kind = raw.FPDFPageObj_GetType(raw.FPDFPage_GetObject(page, i))
        images += kind == raw.FPDF_PAGEOBJ_IMAGE
        forms += kind == raw.FPDF_PAGEOBJ_FORM
    return images, forms


def page_facts(page: Any, room: int) -> dict[str, Any]:
    """What one page holds: size, text (at most `room` characters), text boxes, graphics."""
    width, height = page.get_size()
    textpage = page.get_textpage()
    try:
        chars = textpage.count_chars()
        take = max(0, min(chars, MAX_PAGE_CHARS, room))
        text = textpage.get_text_range(0, take) if take else ""
        lines = _lines(textpage)
    finally:
        textpage.close()
    images, forms = _graphics(page)
    return {"width": _num(width), "height": _num(height), "chars": chars, "text": text[:take],
            "lines": lines, "images": images, "forms": forms}


def preview_png(page: Any) -> str:
    """Page as a PNG of at most PREVIEW_MAX pixels at about PREVIEW_DPI, base64 for the wire."""
    width, height = page.get_size()
    scale = min(PREVIEW_DPI / 72, PREVIEW_MAX[0] / max(width, 1.0), PREVIEW_MAX[1] / max(height, 1.0))
    # 64 colours: a third of the bytes of full colour (about 100 KB for a page of text), and
    # figures keep their colours, which greyscale would not
    image = page.render(scale=scale).to_pil().convert("RGB").quantize(colors=64)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return base64.b64encode(out.getvalue()).decode("ascii")


def run(path: str, send: Send) -> None:
    """Parse the PDF at `path`, sending "refused" (why it cannot be opened) or "document",
    then one "page" (or "page_failed") per page up to MAX_PAGES, then up to two "preview"s."""
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        send("refused", reason=_refusal(getattr(exc, "err_code", None)))
        return
    try:
        count = len(doc)
        send("document", pages=count)
        room = MAX_TEXT_CHARS
        for index in range(min(count, MAX_PAGES)):
            try:
                page = doc[index]
            except pdfium.PdfiumError:
                send("page_failed", index=index)
                continue
            try:
                facts = page_facts(page, room)
                room -= len(facts["text"])
                send("page", index=index, **facts)
                if index < PREVIEW_PAGES:
                    send("preview", index=index, png=preview_png(page))
            except pdfium.PdfiumError:
                send("page_failed", index=index)
            finally:
                page.close()
    finally:
        doc.close()
