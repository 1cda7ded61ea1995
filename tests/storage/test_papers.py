"""Report rows on a real SQLite database: the report of record, claims by two workers, a TA's marks."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from storage import course, papers
from storage.db import session_scope
from storage.models import AuditEntry, PaperStatus

PDF = b"%PDF-1.7\n%%EOF\n"
ITEMS = papers.parse_items("content:10, format:5")


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with session_scope(url) as s:
        course.import_roster(s, rows=[{"student_id": "A1", "name": "Ann", "email": "a@x.edu"}])
    return url


def _paper(s, *, minutes_ago: float, late: bool = False, ok: bool | None = True):  # noqa: ANN001, ANN202
    a = course.default_assignment(s)
    p = papers.record_paper(s, student_id="A1", filename="report.pdf", data=PDF, assignment_id=a.id,
                            student_pk=course.get_student(s, student_id="A1").id, late_s=60.0 if late else None)
    p.created_at = dt.datetime.utcnow() - dt.timedelta(minutes=minutes_ago)
    if ok is not None:
        p.status = PaperStatus.checked
        p.verdict_json = json.dumps({"ok": ok, "problem": None if ok else "This file is not a readable PDF."})
    s.commit()
    return p


def test_the_report_of_record(db: str) -> None:
    with session_scope(db) as s:
        first = _paper(s, minutes_ago=30)
        broken = _paper(s, minutes_ago=20, ok=False)
        late = _paper(s, minutes_ago=10, late=True)
        # Readable beats unreadable, on time beats late: the first report, not the newer broken or late ones.
        assert papers.of_record([first, broken, late]).id == first.id
        assert papers.of_record([broken, late]).id == late.id  # a late readable one beats an unreadable on-time one
        assert papers.of_record([broken]).id == broken.id  # only an unreadable one: it is what the student sent
        checking = _paper(s, minutes_ago=1, ok=None)
        assert papers.of_record([first, broken, late, checking]).id == checking.id  # newest, until its verdict says otherwise
        assert papers.of_record([]) is None


def test_two_workers_never_check_the_same_report(db: str) -> None:
    with session_scope(db) as s:
        only = _paper(s, minutes_ago=1, ok=None)
    with session_scope(db) as one, session_scope(db) as two:
        got = papers.claim_next(one, worker="w1", stale_after_s=60)
        assert got is not None and got.id == only.id and got.attempts == 1
        assert papers.claim_next(two, worker="w2", stale_after_s=60) is None
        assert not papers.finish_check(two, paper_id=only.id, worker="w2", verdict_json="{}", text=None, preview_png=None)
        assert papers.finish_check(one, paper_id=only.id, worker="w1", verdict_json='{"ok": true}', text="t",
                                   preview_png=None)
    with session_scope(db) as s:  # a silent checker's report is taken again once stale
        p = _paper(s, minutes_ago=1, ok=None)
        assert papers.claim_next(s, worker="w1", stale_after_s=60).id == p.id
        assert papers.claim_next(s, worker="w2", stale_after_s=60) is None
        assert papers.claim_next(s, worker="w2", stale_after_s=0).id == p.id


def test_marks_are_checked_logged_and_make_the_points(db: str) -> None:
    with session_scope(db) as s:
        p = _paper(s, minutes_ago=1)
        with pytest.raises(ValueError, match="worth 0 to 5"):
            papers.mark(s, paper=p, item="format", points=6, comment="too many", actor="ta", items=ITEMS)
        with pytest.raises(ValueError, match="not a report item"):
            papers.mark(s, paper=p, item="style", points=1, comment="", actor="ta", items=ITEMS)
        papers.mark(s, paper=p, item="content", points=8, comment="clear", actor="ta", items=ITEMS)
        half = papers.report_points(p, papers.marks_of(s, paper_ids=[p.id])[p.id], ITEMS)
        assert (half.points, half.max_points, half.complete) == (8.0, 15.0, False)
        papers.mark(s, paper=p, item="format", points=4, comment="one column", actor="ta", items=ITEMS)
        papers.mark(s, paper=p, item="content", points=9, comment="regraded", actor="ta2", items=ITEMS)
        done = papers.report_points(p, papers.marks_of(s, paper_ids=[p.id])[p.id], ITEMS)
        assert (done.points, done.complete) == (13.0, True)
        log = [(e.item, e.old, e.new, e.actor) for e in s.query(AuditEntry).filter_by(action="report_mark").order_by(AuditEntry.id)]
        assert log == [("report:content", None, "8", "ta"), ("report:format", None, "4", "ta"),
                       ("report:content", "8", "9", "ta2")]
        assert papers.report_points(None, {}, ITEMS).points == 0 and papers.report_points(None, {}, []).complete is False


@pytest.mark.parametrize("spec", ["content", "content:0", "a:1,a:2", "bad name:3"])
def test_report_items_setting_is_checked(spec: str) -> None:
    with pytest.raises(ValueError):
        papers.parse_items(spec)
