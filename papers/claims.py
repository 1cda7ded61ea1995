"""Find the test accuracy a report states: every percentage or accuracy figure in its text, each
scored, and the one the report gives as its own final result chosen. Pure functions on a string.

Candidates: "81.18%", "81.18 %", "81,18 %", "81.18 percent" / "per cent"; a fraction such as
"0.8118" with the word accuracy in the 40 characters before it and no "loss" right before it
(read as 81.18 %: "Loss: 0.7256 Accuracy ..." is a loss); a bare "accuracy of 81.18" /
"accuracy: 81.18". Values outside 0–100 % are not candidates.

The rule that chooses (each part a score, summed; the highest wins, a tie goes to the later
figure, and nothing is chosen below MIN_SCORE):
  +3  "accuracy"/"acc." (or 정확도) in the figure's sentence (before it, or just after: "82.37% on the test set")
  +3  "test" (or 테스트) in that sentence (test set, test images, test accuracy)
  +1  each of "final", "achieve", "reach", "obtain", "result", "our", "got" there (at most +2)
  +1  the figure has decimals: a measured accuracy has them, a target ("80%") seldom does
  +1  per other place the report states the same value (at most +2): a report repeats its result
  -6  a baseline's or a target's words right before the figure ("target", "at least", "about",
      "benchmark", "baseline", "VGG", "must", "than", ... in the 45 characters before it, or
      within 12 characters after): the assignment's 80 % and another model's figure lose
"""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

MIN_SCORE = 3.0
MAX_CANDIDATES = 200  # a report with more figures than this is not a report; the first are kept
_NUMBER = r"(?<![\d.,])(\d{1,3}(?:[.,]\d{1,4})?)"
# Possessive quantifiers (*+) throughout: the text is the student's, and "accuracy" followed by
# 100 000 spaces must cost a scan, not a backtracking search.
PERCENT = re.compile(_NUMBER + r"\s*+(?:%|％|percent\b|per\s++cent\b)", re.IGNORECASE)
FRACTION = re.compile(r"(?<![\d.,])(0?\.\d{2,4})(?![\d%])")
BARE = re.compile(r"\baccura\w*+\s*+(?:(?:of|is|was|were|reached|reaches)\b\s*+)?(?:[=:]\s*+)?"
                  r"(\d{1,2}\.\d{1,4})(?![\d%])(?!\s*+(?:%|％|percent|per\s++cent))", re.IGNORECASE)
ACCURACY = re.compile(r"\baccura|\bacc\.|정확도", re.IGNORECASE)
TEST = re.compile(r"\btest|테스트", re.IGNORECASE)
OWN = re.compile(r"\b(?:final|achiev\w*|reach\w*|obtain\w*|result\w*|our|got)\b", re.IGNORECASE)
NOT_OURS = re.compile(r"\b(?:target\w*|goal|at\s+least|about|around|approximately|benchmark|baseline|vgg\S*|"
                      r"must|should|requir\w*|expected|aim\w*|than|practice|compared|previous|paper|reported)\b",
                      re.IGNORECASE)
LOSS = re.compile(r"\bloss", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z(\[])|\n\s*\n")


class Claim(BaseModel):
    """One figure the report states: its value in percent, as written, where, and its score."""
    model_config = ConfigDict(frozen=True)
    value: float = Field(ge=0, le=100)  # percent
    written: str  # as in the text: "81.18 %", "0.8118"
    context: str  # the words around it, whitespace collapsed
    start: int  # character offset in the text
    score: float


def _sentence(text: str, start: int, end: int) -> tuple[str, str]:
    """The figure's sentence before it (at most 160 characters) and after it (at most 80)."""
    before = text[max(0, start - 160):start]
    ends = list(_SENTENCE_END.finditer(before))
    if ends:
        before = before[ends[-1].end():]
    after = text[end:end + 80]
    cut = _SENTENCE_END.search(after)
    return before, after[:cut.start()] if cut else after


def _score(text: str, start: int, end: int, written: str, repeats: int) -> float:
    before, after = _sentence(text, start, end)
    sentence = before + " " + after
    score = 3.0 * bool(ACCURACY.search(sentence)) + 3.0 * bool(TEST.search(sentence))
    score += min(2, len({m.group(0).lower()[:5] for m in OWN.finditer(sentence)}))
    score += 1.0 * bool(re.search(r"[.,]\d", written))
    score += min(2, repeats)
    if NOT_OURS.search(before[-45:]) or NOT_OURS.search(after[:12]):
        score -= 6.0
    return score


def _value(number: str) -> float:
    return float(number.replace(",", "."))


def find_claims(text: str) -> list[Claim]:
    """Every accuracy-like figure in `text`, in text order, each scored by the module's rule."""
    found: dict[int, tuple[int, int, str, float]] = {}  # start -> (start, end, written, percent)
    for match in PERCENT.finditer(text):
        found[match.start(1)] = (match.start(1), match.end(), match.group(0), _value(match.group(1)))
    for match in FRACTION.finditer(text):
        before = text[max(0, match.start() - 40):match.start()]  # "accuracy of 0.8118", "acc.: .81"
        if match.start(1) not in found and ACCURACY.search(before) and not LOSS.search(before[-20:]):
            found[match.start(1)] = (match.start(1), match.end(1), match.group(1), _value(match.group(1)) * 100)
    for match in BARE.finditer(text):
        if match.start(1) not in found:
            found[match.start(1)] = (match.start(1), match.end(1), match.group(1), _value(match.group(1)))
    spans = sorted(v for v in found.values() if 0 < v[3] <= 100)[:MAX_CANDIDATES]
    counts: dict[float, int] = {}
    for span in spans:
        counts[round(span[3], 2)] = counts.get(round(span[3], 2), 0) + 1
    claims = []
    for start, end, written, value in spans:
        context = " ".join(text[max(0, start - 70):end + 50].split())
        score = _score(text, start, end, written, counts[round(value, 2)] - 1)
        claims.append(Claim(value=round(value, 4), written=written, context=context, start=start, score=score))
    return claims


def choose(claims: list[Claim]) -> int | None:
    """Index of the report's own test accuracy in `claims`: the highest score, the later one on a
    tie; None when no figure scores MIN_SCORE (no figure reads as an accuracy)."""
    best: int | None = None
    for i, claim in enumerate(claims):
        if claim.score >= MIN_SCORE and (best is None or claim.score >= claims[best].score):
            best = i
    return best


def extract_claims(text: str) -> tuple[list[Claim], int | None]:
    """All candidates and the chosen one's index (see the module's docstring for the rule)."""
    claims = find_claims(text)
    return claims, choose(claims)
