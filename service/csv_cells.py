"""Free text on its way into a CSV that a TA opens in a spreadsheet.

The gradebook exports (api/) and the roster's links (`autograder roster import`, the TA's
roster page) both write names and messages that students typed; one rule for all of them.
"""
from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """Neutralise a free-text cell before it reaches a spreadsheet."""
    # Excel/Sheets run a cell starting with = + - @ as a formula (CSV injection); an apostrophe keeps it text.
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text
