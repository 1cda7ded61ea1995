"""The report PDF is taken with the code or on its own, by the code's rules (issue 27, intake),
through the real app in-process on SQLite: who may send it, the deadline, refusals before
anything is stored, privacy of the report page, and batch zips with `ID/report.pdf`.

The PDFs here are only headers: intake reads no further (parsing is the worker's, sandboxed;
tests/papers and tests/worker/test_papers.py check real ones).
"""
from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.submit import accept_batch
from api.uploads import read_zip
from grader.rubric import SOLUTION
from storage import course, papers
from storage.db import session_scope
from storage.files import FileStore
from storage.models import Paper, PaperStatus, Submission
from tests.api.conftest import small_course

PDF = b"%PDF-1.7\n% a report\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
CODE = SOLUTION.read_bytes()


@pytest.fixture
def course_app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], str, object]]:
    app, settings, links, _ = small_course(tmp_path)
    with TestClient(app) as c:
        yield c, links, settings.resolved_database_url(), settings


def _csrf(c: TestClient) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', c.get("/").text).group(1)


def _count(url: str, table: type) -> int:
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(table))


def test_code_and_report_together_make_one_record_and_the_pages_show_it(course_app) -> None:
    c, links, url, _ = course_app
    c.get(links["A1"])
    papers_before, subs_before = _count(url, Paper), _count(url, Submission)
    r = c.post("/submit", data={"csrftoken": _csrf(c)},
               files={"file": ("resnet50_skeleton.py", CODE), "report": ("report.pdf", PDF, "application/pdf")})
    assert r.status_code == 200 and "/s/" in str(r.url), r.text[-500:]
    assert (_count(url, Paper), _count(url, Submission)) == (papers_before + 1, subs_before + 1)
    with session_scope(url) as s:
        paper = s.scalars(select(Paper)).one()
        sub = s.get(Submission, str(r.url).rsplit("/", 1)[1])
        assert paper.submission_id == sub.id and paper.student_pk == sub.student_pk and paper.content == PDF
        assert paper.status == PaperStatus.queued and paper.late_s is None
        pid = paper.id
    assert f'href="/r/{pid}"' in r.text and "format check running" in r.text  # the result page links it
    page = c.get(f"/r/{pid}")
    assert page.status_code == 200 and "checking" in page.text and 'http-equiv="refresh"' in page.text
    home = c.get("/").text
    assert 'id="reports"' in home and f'/r/{pid}' in home and "of record" in home
    assert c.get(f"/api/reports/{pid}").json()["status"] == "queued"


def test_a_report_on_its_own_and_another_students_cannot_see_it(course_app) -> None:
    c, links, url, _ = course_app
    c.get(links["A1"])
    r = c.post("/api/reports", data={}, files={"report": ("my report.pdf", PDF)}, headers={"X-CSRF-Token": _csrf(c)})
    assert r.status_code == 202, r.text
    view = r.json()
    assert view["submission_id"] is None and view["student_id"] == "A1" and view["self_check"] is False
    c.get(links["B2"])  # another student's browser: as if it did not exist
    assert c.get(f"/api/reports/{view['id']}").status_code == 404
    assert c.get(f"/r/{view['id']}", headers={"Accept": "text/html"}).status_code == 404
    assert f"/r/{view['id']}" not in c.get("/").text


@pytest.mark.parametrize("name,data,status,words", [
    ("report.docx", PDF, 415, "is not a PDF"),
    ("report.pdf", b"PK\x03\x04 a zip in disguise", 415, "does not start with %PDF-"),
    ("report.pdf", b"", 422, "file is empty"),
])
def test_a_bad_report_is_refused_with_words_and_nothing_is_stored(course_app, name, data, status, words) -> None:
    c, links, url, _ = course_app
    c.get(links["A1"])
    before = (_count(url, Paper), _count(url, Submission))
    r = c.post("/submit", data={"csrftoken": _csrf(c)},
               files={"file": ("resnet50_skeleton.py", CODE), "report": (name, data)})
    assert r.status_code == status and words in r.text and "Nothing was stored" in r.text
    assert (_count(url, Paper), _count(url, Submission)) == before  # the code was not kept either


def test_a_report_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    app, settings, links, _ = small_course(tmp_path, max_report_mb=1)
    with TestClient(app) as c:
        c.get(links["A1"])
        big = PDF + b"0" * (1 << 20)
        r = c.post("/api/reports", files={"report": ("report.pdf", big)}, headers={"X-CSRF-Token": _csrf(c)})
        assert r.status_code == 413 and "1 MiB" in r.json()["detail"]
        assert _count(settings.resolved_database_url(), Paper) == 0


def test_after_the_deadline_a_report_is_refused_like_the_code(course_app) -> None:
    c, links, url, _ = course_app
    with session_scope(url) as s:
        a = course.default_assignment(s)
        course.configure_assignment(s, name=a.name, late_policy="none",
                                    deadline=(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).isoformat())
    c.get(links["A1"])
    r = c.post("/api/reports", files={"report": ("report.pdf", PDF)}, headers={"X-CSRF-Token": _csrf(c)})
    assert r.status_code == 403 and "Nothing was stored" in r.json()["detail"]
    assert _count(url, Paper) == 0


def test_signed_out_nobody_sends_a_report_for_a_roster_course(course_app) -> None:
    c, _, url, _ = course_app
    r = c.post("/api/reports", files={"report": ("report.pdf", PDF)})
    assert r.status_code == 401 and _count(url, Paper) == 0


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_course_zip_carries_reports_beside_the_code_and_on_their_own() -> None:
    data = _zip({"A1/resnet50_skeleton.py": CODE, "A1/report.pdf": PDF, "A1/draft.pdf": PDF,
                 "B2/report.pdf": PDF, "C3/resnet50_skeleton.py": CODE, "C3/report.pdf": b"not a pdf at all"})
    got = read_zip(data, max_entries=50, max_total=50 << 20, max_file=256 << 10, max_report=1 << 20)
    assert sorted(e.student_id for e in got.entries) == ["A1", "C3"]  # C3's bad report sinks nothing
    assert sorted((e.student_id, e.filename) for e in got.reports) == [("A1", "report.pdf"), ("B2", "report.pdf")]
    text = " ".join(got.warnings)
    assert "'A1/draft.pdf'" in text and "Student C3's report was not stored" in text and "not a PDF" in text


def test_a_batch_report_counts_for_the_student_only_on_behalf(course_app) -> None:
    _, _, url, settings = course_app
    contents = read_zip(_zip({"A1/resnet50_skeleton.py": CODE, "A1/report.pdf": PDF, "B2/report.pdf": PDF}),
                        max_entries=50, max_total=50 << 20, max_file=256 << 10)
    store = FileStore(Path(settings.var_dir) / "files")
    with session_scope(url) as s:
        check = accept_batch(s, store, settings, contents=contents, name="check", ta="ta1", on_behalf=False,
                             max_score=105.0)
        assert all(p.student_pk is None for p in check.papers) and len(check.papers) == 2
        mine = accept_batch(s, store, settings, contents=contents, name="for them", ta="ta1", on_behalf=True,
                            max_score=105.0)
        by_id = {p.student_id: p for p in mine.papers}
        assert by_id["A1"].student_pk is not None and by_id["A1"].submission_id == mine.accepted[0].id
        assert by_id["B2"].student_pk is not None and by_id["B2"].submission_id is None
        assert by_id["A1"].submitted_by == "ta1"
        a = course.default_assignment(s)
        of_record = papers.record_papers(s, assignment_id=a.id)
        assert {p.id for p in of_record.values()} == {by_id["A1"].id, by_id["B2"].id}


def test_a_sentence_said_twice_is_one_claim_and_keeps_the_choice() -> None:
    import json as _json

    from api.paper_views import paper_view
    from storage.models import Paper as _Paper

    said = {"value": 81.18, "context": "our final model achieved a test accuracy of 81.18 %"}
    verdict = {"ok": True, "claims": [said, {"value": 80.0, "context": "above the target of 80%"}, dict(said)],
               "chosen_claim": 2}
    p = _Paper(id="x", student_id="s", filename="r.pdf", size_bytes=1, status="checked", late_s=None,
               verdict_json=_json.dumps(verdict), created_at=dt.datetime(2026, 12, 1))
    claims = paper_view(p, zone="UTC").claims
    assert [(c.value, c.chosen) for c in claims] == [(81.18, True), (80.0, False)]
