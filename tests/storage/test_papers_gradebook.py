"""The report of record in the gradebook (issue 27): its status, a TA's marks turning into points
only once every item is marked, the claim flag against the code of record, and `total`."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from storage import course, gradebook, papers
from storage.db import session_scope
from storage.models import PaperStatus
from tests.storage.test_course import T0, _graded
from tests.storage.test_service import db_url  # noqa: F401 - the fixture

ITEMS = papers.parse_items("content:10,format:5")


def checked(s, student, *, stated: float | None = 81.0, ok: bool = True, fail: str | None = None,  # noqa: ANN001, ANN201
            created: dt.datetime = T0 - dt.timedelta(hours=1), late_s: float | None = None):
    """A report stored through storage and given a verdict by hand (the parser is not needed here)."""
    paper = papers.record_paper(s, student_id=student.student_id, filename="report.pdf", data=b"%PDF-1.4 x",
                                student_pk=student.id, assignment_id=1, late_s=late_s)
    checks = [{"name": "one_page", "status": "pass", "message": "1 page"}]
    if fail:
        checks.append({"name": fail, "status": "fail", "message": f"{fail} failed"})
    claims = [{"value": stated, "context": f"we reach {stated} % test accuracy"}] if stated is not None else []
    paper.status, paper.created_at = PaperStatus.checked, created
    paper.verdict_json = json.dumps({"ok": ok, "problem": None if ok else "not a PDF we can read", "pages": 1,
                                     "checks": checks, "claims": claims, "chosen_claim": 0 if claims else None})
    s.flush()
    return paper


def test_gradebook_counts_the_report_once_every_item_is_marked(db_url: str) -> None:  # noqa: F811
    with session_scope(db_url) as s:
        course.import_roster(s, rows=[{"student_id": i, "name": i, "email": ""} for i in ("A", "B", "C", "D")])
        st = {i: course.get_student(s, student_id=i) for i in "ABCD"}
        a_code = _graded(s, st["A"], score=90, created=T0 - dt.timedelta(hours=2))
        a_code.accuracy = 0.80
        b_code = _graded(s, st["B"], score=70, created=T0 - dt.timedelta(hours=2))
        b_code.accuracy = 0.60
        a_paper = checked(s, st["A"], stated=81.0)
        checked(s, st["B"], stated=91.0, fail="cvpr_format")  # 31 points above what we measured
        checked(s, st["C"], ok=False, stated=None)
        a = course.default_assignment(s)

        rows = {r.student_id: r for r in gradebook.gradebook(s, assignment=a, report_items=ITEMS)}
        assert [rows[i].report_status for i in "ABCD"] == ["checked", "checked", "unreadable", "missing"]
        assert rows["A"].report_id == a_paper.id and rows["A"].report_max == 15
        assert rows["A"].report_points is None and rows["A"].total == 90  # nothing marked yet: code only
        assert not rows["A"].report_flag and rows["B"].report_flag  # 1 point apart vs 31 apart
        assert rows["B"].report_failed_checks == ["cvpr_format"] and rows["A"].report_failed_checks == []

        papers.mark(s, paper=a_paper, item="content", points=8, comment="clear", actor="ta", items=ITEMS)
        row = {r.student_id: r for r in gradebook.gradebook(s, assignment=a, report_items=ITEMS)}["A"]
        assert row.report_points is None and row.total == 90  # one item of two: not counted yet
        papers.mark(s, paper=a_paper, item="format", points=4.5, comment="", actor="ta", items=ITEMS)
        row = {r.student_id: r for r in gradebook.gradebook(s, assignment=a, report_items=ITEMS)}["A"]
        assert row.report_points == 12.5 and row.total == 102.5 and row.final_score == 90  # the code's score unchanged
        with pytest.raises(ValueError, match="0 to 5 points"):
            papers.mark(s, paper=a_paper, item="format", points=6, comment="", actor="ta", items=ITEMS)
        entry = papers.mark_log(s, paper=a_paper)[0]
        assert (entry.action, entry.item, entry.old, entry.new) == ("report_mark", "report:format", None, "4.5")

        # A newer report of record needs marking again: its marks are its own.
        newer = checked(s, st["A"], created=T0 - dt.timedelta(minutes=5))
        row = {r.student_id: r for r in gradebook.gradebook(s, assignment=a, report_items=ITEMS)}["A"]
        assert row.report_id == newer.id and row.report_points is None and row.total == 90
        # ... but an unreadable newer one does not replace a readable one.
        checked(s, st["A"], ok=False, created=T0 - dt.timedelta(minutes=1))
        assert {r.student_id: r for r in gradebook.gradebook(s, assignment=a)}["A"].report_id == newer.id
