"""The report on the TA side (issue 27) through the real app in-process (TestClient, SQLite on
disk): the detail page's report section (preview, checks, claims beside our measurement, the
flag), marks that reach the audit log, the gradebook JSON/CSV and refuse out-of-range points,
the PDF and preview routes (TA only, sandboxed), and the overview's report counts.

Report rows are made through storage (record_paper) with a verdict set by hand: the sandboxed
PDF parser (papers/) is not needed to show what a TA sees of its verdict.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient

from storage import course, papers
from storage.db import session_scope
from storage.models import PaperStatus
from storage.service import claim, finish
from storage.ta_accounts import create_ta_account
from tests.api.conftest import small_course

PASSWORD = "reports page password 1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32  # the bytes are served as they are stored
ITEMS = "content:10,format:5"


def token_of(html: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', html).group(1)


def code_report(accuracy: float) -> str:
    """A graded report's JSON, as the engine stores it (enough for the pages and the gradebook)."""
    return json.dumps({"score": 100.0, "max_score": 105.0, "accuracy": accuracy, "reference_accuracy": 0.80,
                       "items": [{"id": "q1_downsample", "title": "Q1 downsample", "points": 20.0, "max_points": 20.0,
                                  "deductions": [], "feedback": []},
                                 {"id": "q2_blanks", "title": "Q2 blanks", "points": 80.0, "max_points": 85.0,
                                  "deductions": [], "feedback": []}]})


def add_report(s: Any, student_id: str, *, claims: list[float] | None = None, chosen: int | None = 0, ok: bool = True,
               fail: str | None = None, text: str = "", submission_id: str | None = None,
               filename: str = "report.pdf", data: bytes = b"%PDF-1.4 a report") -> str:
    """A report of `student_id` (a roster student: it counts for them), checked, with this verdict."""
    student = course.get_student(s, student_id=student_id)
    a = course.default_assignment(s)
    paper = papers.record_paper(s, student_id=student_id, filename=filename, data=data,
                                student_pk=student.id if student else None, assignment_id=a.id,
                                submission_id=submission_id)
    checks = [{"name": "one_page", "status": "pass", "message": "1 page"},
              {"name": "cvpr_format", "status": "fail" if fail == "cvpr_format" else "pass",
               "message": "two columns, 10 pt" if fail != "cvpr_format" else "one column: not the CVPR template"}]
    paper.status, paper.text, paper.preview_png = PaperStatus.checked, text, PNG if ok else None
    paper.verdict_json = json.dumps({
        "ok": ok, "problem": None if ok else "the file is not a PDF we can read", "pages": 1 if ok else 0,
        "checks": checks if ok else [],
        "claims": [{"value": v, "context": f"our ResNet-50 reaches {v} % on the test set", "score": 1.0}
                   for v in claims or []],
        "chosen_claim": chosen if claims else None, "seconds": 0.4})
    s.commit()
    return paper.id


@pytest.fixture
def course_app(tmp_path: Path) -> Iterator[tuple[TestClient, Any, dict[str, Any]]]:
    """A1 graded (61 % measured, the reference 80 %) with a report claiming 81.18 %; B2 has no code, a report
    that fails the format check; a TA signed in."""
    app, settings, links, sid = small_course(tmp_path, report_items=ITEMS)
    db = settings.resolved_database_url()
    with session_scope(db) as s:
        claim(s, sid, "w", 60.0)
        finish(s, sid, "w", status="graded", report_json=code_report(0.61), score=100.0, max_score=105.0,
               accuracy=0.61)
        a1 = add_report(s, "A1", claims=[50.0, 81.18], chosen=1, submission_id=sid,
                        filename='my "report";\r\nX-Evil: 1.pdf')
        b2 = add_report(s, "B2", claims=[79.0], fail="cvpr_format")
        create_ta_account(s, name="tara", password=PASSWORD)
    with TestClient(app) as c:
        r = c.post("/ta/signin", data={"csrftoken": token_of(c.get("/ta/signin").text), "name": "tara",
                                       "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303
        yield c, settings, {"sid": sid, "a1": a1, "b2": b2, "links": links, "db": db, "app": app}


def test_detail_shows_the_report_its_claims_beside_our_measurement_and_the_flag(course_app) -> None:
    c, _, ids = course_app
    page = c.get(f"/ta/s/{ids['sid']}").text
    section = page[page.index('id="report"'):page.index('id="override-form"')]
    assert f'src="/ta/papers/{ids["a1"]}/page1.png"' in section and f'href="/ta/papers/{ids["a1"]}.pdf"' in section
    assert "cvpr_format" in section and "two columns, 10 pt" in section  # the format checks, with their words
    claims = re.search(r'<ul id="claims">(.*?)</ul>', section, re.S).group(1)
    assert "50.00 %" in claims and "<strong>81.18 %</strong> (the one compared)" in claims  # every candidate, chosen marked
    words = re.search(r'<p id="claim-words"[^>]*>(.*?)</p>', section, re.S).group(1)
    assert 'id="claim-flag"' in words and "states 81.18 %; we measured 61.00 %" in words and "+20.18" in words
    assert "reference solution reaches 80.00 %" in words and "never deducted" in words
    assert 'id="mark-content"' in section and 'id="mark-format"' in section

    # B2's report alone (no code): its own page, the failed check, no flag without a measurement.
    other = c.get(f"/ta/papers/{ids['b2']}").text
    assert "one column: not the CVPR template" in other and 'class="check-fail"' in other
    assert 'id="claim-flag"' not in other and "no accuracy was measured" in other
    assert c.get("/ta/papers/nope").status_code == 404


def test_a_mark_sets_points_shows_in_the_audit_log_and_the_gradebook_total(course_app) -> None:
    c, _, ids = course_app
    detail = f"/ta/s/{ids['sid']}"

    def mark(**fields: str):  # noqa: ANN202 - the form on the detail page, with its fresh CSRF token
        form = {"csrftoken": token_of(c.get(detail).text), "back": ids["sid"], "comment": ""} | fields
        return c.post(f"/ta/papers/{ids['a1']}/marks", data=form, follow_redirects=False)

    too_many = mark(item="format", points="6")
    assert too_many.status_code == 422 and "format is worth 0 to 5 points." in too_many.text
    assert 'id="report-box"' in too_many.text  # the page comes back with the form, as an override's does
    unknown = mark(item="style", points="1")
    assert unknown.status_code == 422 and "&#39;style&#39; is not a report item; items: content, format." in unknown.text
    assert mark(item="format", points="1", csrftoken="forged").status_code == 403

    r = mark(item="content", points="8", comment="clear method")
    assert r.status_code == 303 and r.headers["location"] == f"{detail}?done=mark#report"
    rows = {row["student_id"]: row for row in c.get("/api/assignments/resnet50/gradebook.json").json()}
    assert rows["A1"]["report_points"] is None and rows["A1"]["total"] == 100.0  # one item of two: not counted
    assert mark(item="format", points="4.5", comment="tight margins").status_code == 303
    page = c.get(detail).text
    audit = page[page.index('id="audit-table"'):]
    assert "report_mark" in audit and "report:content" in audit and "clear method" in audit and "report:format" in audit
    assert "12.5 / 15 points, counted" in page

    rows = {row["student_id"]: row for row in c.get("/api/assignments/resnet50/gradebook.json").json()}
    a1, b2 = rows["A1"], rows["B2"]
    assert (a1["final_score"], a1["report_points"], a1["report_max"], a1["total"]) == (100.0, 12.5, 15.0, 112.5)
    assert a1["report_status"] == "checked" and a1["report_flag"] and a1["report_id"] == ids["a1"]
    assert b2["status"] == "missing" and b2["report_failed_checks"] == ["cvpr_format"] and b2["report_points"] is None
    table = list(csv.DictReader(io.StringIO(c.get("/api/assignments/resnet50/gradebook.csv").text)))
    got = {row["student_id"]: row for row in table}
    assert (got["A1"]["final_score"], got["A1"]["report_points"], got["A1"]["total"]) == ("100", "12.5", "112.5")
    assert got["A1"]["report_flag"] == "yes" and got["B2"]["report_points"] == "" and got["B2"]["report_status"] == "checked"
    assert list(table[0])[:5] == ["student_id", "name", "email", "status", "final_score"]  # old columns in place
    canvas = c.get("/api/assignments/resnet50/canvas.csv").text.splitlines()
    assert canvas[0].endswith(",ResNet-50 / CIFAR-10,ResNet-50 / CIFAR-10 (report)") and canvas[1].endswith(",15")
    assert next(line for line in canvas if ",A1," in line).endswith(",100,12.5")


def test_the_pdf_is_sandboxed_and_only_for_a_ta(course_app) -> None:
    c, _, ids = course_app
    r = c.get(f"/ta/papers/{ids['a1']}.pdf")
    assert r.status_code == 200 and r.content == b"%PDF-1.4 a report"
    assert r.headers["content-type"] == "application/pdf" and r.headers["content-security-policy"] == "sandbox"
    assert r.headers["x-content-type-options"] == "nosniff" and "no-store" in r.headers["cache-control"]
    # The student's own name for the file cannot end the header or add one.
    assert r.headers["content-disposition"] == 'inline; filename="my__report____X-Evil__1.pdf"'
    assert "x-evil" not in r.headers
    assert c.get(f"/ta/papers/{ids['a1']}.pdf?download=1").headers["content-disposition"].startswith("attachment;")
    png = c.get(f"/ta/papers/{ids['a1']}/page1.png")
    assert png.status_code == 200 and png.content == PNG and png.headers["content-type"] == "image/png"
    assert png.headers["x-content-type-options"] == "nosniff"
    assert c.get("/ta/papers/nope.pdf").status_code == 404

    # Privacy: signed out, or signed in as a student (even the report's own), no report.
    with TestClient(ids["app"]) as student:
        for url in (f"/ta/papers/{ids['a1']}.pdf", f"/ta/papers/{ids['a1']}/page1.png", f"/ta/papers/{ids['a1']}"):
            out = student.get(url, follow_redirects=False)
            assert out.status_code == 303 and out.headers["location"].startswith("/ta/signin"), url
        assert student.get(ids["links"]["A1"]).status_code == 200  # now a signed-in student
        for url in (f"/ta/papers/{ids['a1']}.pdf", f"/ta/papers/{ids['b2']}.pdf", f"/ta/papers/{ids['a1']}/page1.png"):
            out = student.get(url, follow_redirects=False)
            assert out.status_code == 303 and b"%PDF" not in out.content and out.content != PNG, url
        mark = student.post(f"/ta/papers/{ids['a1']}/marks", data={"item": "content", "points": "10"},
                            follow_redirects=False)
        assert mark.status_code in (303, 403)
    with session_scope(ids["db"]) as s:
        assert papers.marks_of(s, paper_ids=[ids["a1"]]) == {}


def test_overview_counts_reports_and_each_card_links_to_its_students(course_app) -> None:
    c, _, ids = course_app
    with session_scope(ids["db"]) as s:
        course.import_roster(s, rows=[{"student_id": "C3", "name": "Cy", "email": "c@x.edu"},
                                      {"student_id": "D4", "name": "Di", "email": "d@x.edu"}])
        s.commit()
        add_report(s, "C3", ok=False)
    page = c.get("/ta").text

    def card(key: str) -> tuple[int, str]:
        m = re.search(rf'id="report-count-{key}"><span class="n">(\d+)</span><a href="([^"]+)"', page)
        return int(m.group(1)), m.group(2).replace("&amp;", "&")

    counts = {key: card(key)[0] for key in ("missing", "failing", "unreadable", "flagged", "unmarked")}
    assert counts == {"missing": 1, "failing": 1, "unreadable": 1, "flagged": 1, "unmarked": 3}
    for key, who in {"missing": {"D4"}, "failing": {"B2"}, "unreadable": {"C3"}, "flagged": {"A1"},
                     "unmarked": {"A1", "B2", "C3"}}.items():
        listed = c.get(card(key)[1]).text
        assert set(re.findall(r'<tr id="student-(\w+)">', listed)) == who, key


def test_similarity_page_flags_two_copied_reports_with_their_shared_passages(course_app) -> None:
    from storage.models import Paper
    from tests.similarity.test_text import SLIDES, prose, reworded

    c, _, ids = course_app
    with session_scope(ids["db"]) as s:
        course.import_roster(s, rows=[{"student_id": "C3", "name": "Cy", "email": "c@x.edu"}])
        s.commit()
        s.get(Paper, ids["a1"]).text = prose(1)
        s.get(Paper, ids["b2"]).text = reworded(prose(1), 7)
        s.commit()
        add_report(s, "C3", text="\n".join(SLIDES) + "\n" + prose(3, sentences=6))  # quotes the slides, writes its own
    page = c.get("/ta/similarity").text
    section = page[page.index('id="reports"'):]
    assert re.findall(r'<tr class="pair" data-a="(\w+)" data-b="(\w+)">', section) == [("A1", "B2")]
    assert f'href="/ta/papers/{ids["a1"]}"' in section
    pair = c.get("/ta/similarity/pair", params={"kind": "report", "left": "A1", "right": "B2"})
    assert pair.status_code == 200 and "reports" in pair.text and 'class="l shared"' in pair.text
    assert f'href="/ta/papers/{ids["b2"]}"' in pair.text
    assert c.get("/ta/similarity/pair", params={"kind": "report", "left": "A1", "right": "C3"}).status_code == 404
