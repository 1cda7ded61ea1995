"""Prose → a word stream, so the winnowing engine (similarity.report.compare) compares reports.

A report is compared by its words, lower-cased, punctuation and layout dropped: re-wrapping,
a changed font or hyphenation by the PDF's text extraction change nothing, while a copied
paragraph keeps its run of words. Numbers stay (an identical table of results is evidence).

The k-gram is 8 words, the window 6: a shared run of 13 words (about one sentence) is always
seen, a shared run under 8 words never is, so stock phrases ("in this report we", "the test
accuracy of the model") are below the noise threshold. The slides' own sentences and the
CVPR template's boilerplate are excluded as common text (similarity/report_common.txt): every
student may quote the assignment.

A pair is flagged from 0.4 (the code's default is 0.6): one word in twelve changed leaves only
about (11/12)^8, half, of the 8-word runs intact, and a copy reworded that lightly scored 0.45
(tests/similarity/test_text.py); two independent reports share next to none once the course's
text is out, so the lower bar costs little.
"""
from __future__ import annotations

import re
from pathlib import Path

from similarity.report import SimilaritySettings
from similarity.tokens import TokenStream

MAX_TEXT_CHARS = 100_000  # a one-page report is ~5 000 characters; a stuffed PDF must not stall a class
COMMON_TEXT = Path(__file__).with_name("report_common.txt")
TEXT_SETTINGS = SimilaritySettings(k=8, w=6, threshold=0.4)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str) -> TokenStream:
    """The lower-cased words of `text`, each with its 1-based line; never raises."""
    reason = None
    if len(text) > MAX_TEXT_CHARS:
        text, reason = text[:MAX_TEXT_CHARS], f"cut to its first {MAX_TEXT_CHARS} characters"
    texts: list[str] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for w in _WORD.findall(line.lower()):
            texts.append(w)
            lines.append(number)
    return TokenStream(texts=tuple(texts), lines=tuple(lines), reason=reason, source_lines=text.count("\n") + 1)


def common_text(path: Path | None = None) -> str:
    """The course's own text no report is blamed for sharing: the file set by a TA, else ours."""
    return (path or COMMON_TEXT).read_text(encoding="utf-8", errors="replace")
