"""The record rules (README "Record rules"), in process on a real SQLite database: batches go
through `api.submit.accept_batch` (the route's own workflow), grades are stored the way a worker
stores them (`storage.service.claim` + `finish`), and what a student or TA sees is built by the
same view, template and export code the service serves.

- A TA's batch is a check unless the TA says `on_behalf`; then it is the student's record.
- A rejected row never replaces a graded final, under either final rule.
- One score function: after an override every view says the same score.
- The late message follows the final rule.
- One convention for rejected and skipped items in both gradebook CSVs; a missing student's
  max_score is filled.
- Times are shown with the assignment's zone, and ISO 8601 with its offset in CSV and JSON.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest

from api.course_exports import course_gradebook_csv
from api.exports import gradebook_csv
from api.routes.course import assignment_view
from api.routes.ta import templates  # the pages' templates with the TA pages' globals (public_url_missing)
from service.scoring import Scale
from api.submit import accept, accept_batch
from api.ta_context import TableQuery
from api.uploads import read_zip
from api.views import gradebook_row_view, one_view, submission_views
from grader.report import Item, Report, Submission as ReportSubmission
from service.settings import ServiceSettings
from storage import course, dashboard, gradebook, service
from storage.db import session_scope
from storage.files import FileStore
from storage.models import Status, Submission

SOURCE = b"# a student's file\nimport torch\n"
MAX = 105.0
SCALE = Scale(structure_points=105, accuracy_points=10, why_no_accuracy="this server grades the structure only")
ROSTER = [{"student_id": s, "name": s.upper(), "email": f"{s}@example.edu"} for s in ("s001", "s002", "s003")]
ZONE = "Asia/Seoul"


@pytest.fixture
def course_db(tmp_path: Path):  # noqa: ANN201 - (url, settings, store): a course with a roster and a deadline
    url = f"sqlite:///{tmp_path / 'course.sqlite'}"
    settings = ServiceSettings(var_dir=tmp_path / "var", database_url=url, skip_training=True)
    with session_scope(url) as s:
        course.import_roster(s, rows=ROSTER)
        a = course.default_assignment(s)
        course.configure_assignment(s, name=a.name, timezone=ZONE, late_policy="per_day", late_penalty=0.1,
                                    deadline=(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat())
    return url, settings, FileStore(tmp_path / "files")


def report_json(sid: str, points: dict[str, float], *, skipped: tuple[str, ...] = ()) -> str:
    """A graded report as the engine writes it (grader.report.Report), out of 105."""
    tops = {"q1_downsample": 20, "q1_no_downsample": 20, "q2_blanks": 25, "q2_layer3": 20, "q2_layer4": 20,
            "accuracy": 10}
    items = [Item(id=i, title=i, points=0.0 if i in skipped else points.get(i, top), max_points=top,
                  passed=i not in skipped and points.get(i, top) >= top, skipped=i in skipped) for i, top in tops.items()]
    score = sum(i.points for i in items if not i.skipped)
    return Report(submission=ReportSubmission(filename="resnet50_skeleton.py", sha256="0" * 64, student_id=sid,
                                              size_bytes=len(SOURCE)),
                  status="graded", score=score, max_score=MAX, items=items).model_dump_json()


def grade(session, sub_id: str, points: dict[str, float]) -> Submission:  # noqa: ANN001
    """Store a grade as a worker does: claim the job, then finish it once."""
    sub = service.claim(session, sub_id, "w1", heartbeat_timeout_s=60)
    text = report_json(sub.student_id, points, skipped=("accuracy",))
    r = Report.model_validate_json(text)
    assert service.finish(session, sub_id, "w1", status=Status.graded, report_json=text, score=r.score,
                          max_score=r.max_score, accuracy=None)
    session.refresh(sub)
    return sub


def own_upload(session, settings, store, student_id: str, points: dict[str, float], *,  # noqa: ANN001
               late_s: float | None = None, penalty: float = 0.0) -> Submission:
    """The student's own upload (as the page records it), graded."""
    student = course.get_student(session, student_id=student_id)
    a = course.default_assignment(session)
    sub = accept(session, store, settings, student_id=student_id, filename="resnet50_skeleton.py", data=SOURCE,
                 assignment_id=a.id, student_pk=student.id, late_s=late_s, late_penalty=penalty)
    return grade(session, sub.id, points)


def course_zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def batch(session, settings, store, *, on_behalf: bool):  # noqa: ANN001, ANN201
    """The issue's batch: s003's folder holds only notes.txt (a rejected row), s001's a real file."""
    contents = read_zip(course_zip({"s003/notes.txt": b"see you\n", "s001/resnet50_skeleton.py": SOURCE + b"# v2\n"}),
                        max_entries=500, max_total=1 << 26, max_file=256 << 10)
    return accept_batch(session, store, settings, contents=contents, name="course zip", ta="ta-batch",
                        on_behalf=on_behalf, max_score=MAX)


def book(session) -> dict[str, gradebook.GradebookRow]:  # noqa: ANN001
    return {r.student_id: r for r in gradebook.gradebook(session, assignment=course.default_assignment(session),
                                                         max_score=MAX)}


HER_100 = {"q1_downsample": 15}  # 15 + 20 + 25 + 20 + 20 = 100 of 105 (structure only)


def test_a_batch_without_on_behalf_touches_no_students_record(course_db) -> None:  # noqa: ANN001
    url, settings, store = course_db
    with session_scope(url) as s:
        hers = own_upload(s, settings, store, "s003", HER_100)
        receipt = batch(s, settings, store, on_behalf=False)
        graded = grade(s, receipt.accepted[0].id, {"q2_blanks": 5})  # s001's file, graded 85
        assert [r.student_id for r in receipt.refused] == ["s003"] and graded.student_id == "s001"
        assert any("a check only" in w and "on_behalf=true" in w for w in receipt.warnings), receipt.warnings
        rows = book(s)
        assert rows["s003"].final_score == 100 and rows["s003"].submission_id == hers.id
        assert rows["s001"].status == "missing"  # her batch file, though graded, is the TA's check
        s003 = course.get_student(s, student_id="s003")
        s001 = course.get_student(s, student_id="s001")
        assert [h.id for h in course.history(s, student_pk=s003.id)] == [hers.id]
        assert course.history(s, student_pk=s001.id) == []
        # On her behalf, the same files are the students' record: s001's graded file is her final.
        receipt = batch(s, settings, store, on_behalf=True)
        graded = grade(s, receipt.accepted[0].id, {"q2_blanks": 5})
        rows = book(s)
        assert rows["s001"].final_score == 85 and rows["s001"].submitted_by == "ta-batch"
        assert graded.id in [h.id for h in course.history(s, student_pk=s001.id)]


@pytest.mark.parametrize("rule", ["last_on_time", "best"])
def test_a_rejected_row_on_her_behalf_never_replaces_her_graded_final(course_db, rule: str) -> None:  # noqa: ANN001
    url, settings, store = course_db
    with session_scope(url) as s:
        course.configure_assignment(s, name=course.default_assignment(s).name, final_rule=rule)
        hers = own_upload(s, settings, store, "s003", HER_100)
        receipt = batch(s, settings, store, on_behalf=True)
        rejected = receipt.refused[0]
        assert rejected.status == Status.rejected and rejected.student_pk is not None  # on her record
        assert rejected.created_at > hers.created_at  # the newest on-time row
        row = book(s)["s003"]
        assert (row.status, row.submission_id, row.final_score) == ("graded", hers.id, 100)
        # A student with nothing graded: the rejected row is her final, 0 out of the maximum.
        s.delete(s.get(Submission, hers.id))
        s.flush()
        row = book(s)["s003"]
        assert (row.status, row.final_score, row.max_score) == ("rejected", 0, MAX)


def test_an_override_reaches_every_view_of_the_score(course_db) -> None:  # noqa: ANN001
    url, settings, store = course_db
    with session_scope(url) as s:
        hers = own_upload(s, settings, store, "s003", HER_100)
        gradebook.override_item(s, submission=hers, item="q1_downsample", points=20, comment="Q1a read by hand",
                                actor="ta")
        assert book(s)["s003"].final_score == 105
        view = one_view(s, hers)
        assert view.score == 105 and view.overridden == ["q1_downsample"]
        q1a = next(i for i in view.report["items"] if i["id"] == "q1_downsample")
        assert q1a["points"] == 20 and q1a["passed"] and q1a["overridden"]
        assert [h.score for h in submission_views(s, [hers], with_report=False)] == [105]  # the history
        assert [r.score for r in dashboard.upload_rows(s, assignment=course.default_assignment(s))] == [105]
        html = templates.get_template("result.html").render(
            s=view, report=view.report, final=True, history=[view, view], scale=SCALE, released=True, sub_audit=[])
        assert re.findall(r"(\d+) / (\d+)", re.search(r'id="score">(.*?)</p>', html, re.S).group(1)) == [("105", "105")]
        row = re.search(r"<tr><td>q1_downsample</td>(.*?)</tr>", html, re.S).group(1)
        assert "20 / 20" in row and "set by your TA" in row and 'class="points ok' in row
        assert "95" not in re.search(r'<table id="history"[^>]*>(.*?)</table>', html, re.S).group(1)
        csv_row = next(csv.DictReader(io.StringIO(gradebook_csv(
            [(hers.student_id, hers.status, Report.model_validate(view.report))]))))
        assert csv_row["score"] == "105" and csv_row["q1_downsample"] == "20"


def test_the_late_message_follows_the_final_rule(course_db) -> None:  # noqa: ANN001
    url, settings, store = course_db
    with session_scope(url) as s:
        a = course.default_assignment(s)
        late = own_upload(s, settings, store, "s002", {}, late_s=3600, penalty=0.1)
        note = gradebook.late_note(s, sub=late, assignment=a)
        assert "10% of the maximum score is taken off" in note  # nothing on time: it counts, 10 % off
        on_time = own_upload(s, settings, store, "s002", HER_100)
        on_time.created_at = late.created_at - dt.timedelta(hours=2)
        s.flush()
        note = gradebook.late_note(s, sub=late, assignment=a)
        assert note.startswith("Late: not counted") and "taken off" not in note, note
        assert book(s)["s002"].submission_id == on_time.id  # the rule the words describe
        html = templates.get_template("result.html").render(s=one_view(s, late, notes=True), report=None, final=True,
                                                            history=[], scale=SCALE, released=True, sub_audit=[])
        assert "Late: not counted" in html and "is taken off" not in html
        a.final_rule = "best"
        assert "best score after late penalties counts" in gradebook.late_note(s, sub=late, assignment=a)
        a.final_rule = "last_on_time"
        at = a.deadline + dt.timedelta(hours=1)
        assert "not counted at all if you have a graded on-time submission" in course.lateness(a, extension=None,
                                                                                                at=at).message


def test_rejected_and_skipped_read_the_same_in_both_gradebooks(course_db) -> None:  # noqa: ANN001
    url, settings, store = course_db
    with session_scope(url) as s:
        own_upload(s, settings, store, "s001", {})  # graded, accuracy skipped (structure only)
        receipt = batch(s, settings, store, on_behalf=True)  # s003: rejected, her only row
        graded = grade(s, receipt.accepted[0].id, {})
        course_rows = {r["student_id"]: r for r in csv.DictReader(io.StringIO(course_gradebook_csv(
            gradebook.gradebook(s, assignment=course.default_assignment(s), max_score=MAX), zone=ZONE)))}
        subs = service.batch_submissions(s, batch_id=receipt.batch_id)
        batch_rows = {r["student_id"]: r for r in csv.DictReader(io.StringIO(gradebook_csv(
            [(x.student_id, x.status, Report.model_validate_json(x.report_json)) for x in subs])))}
    assert graded.student_id == "s001"
    for rows in (course_rows, batch_rows):
        rejected, ok = rows["s003"], rows["s001"]
        assert (rejected["status"], rejected["score"], rejected["max_score"]) == ("rejected", "0", "105")
        assert rejected["q1_downsample"] == "0" and rejected["accuracy_points"] == "0"  # rejected: 0 on every item
        assert ok["accuracy_points"] == "" and ok["accuracy_fraction"] == ""  # skipped: empty, never 0
        assert ok["q2_layer4"] == "20"
    missing = course_rows["s002"]
    assert (missing["status"], missing["final_score"], missing["max_score"]) == ("missing", "0", "105")


def test_times_carry_the_assignments_zone(course_db) -> None:  # noqa: ANN001
    url, settings, store = course_db
    with session_scope(url) as s:
        hers = own_upload(s, settings, store, "s003", HER_100)
        hers.created_at = dt.datetime(2026, 12, 1, 14, 30, 5)  # naive UTC: 23:30:05 in Seoul
        s.flush()
        rows = gradebook.gradebook(s, assignment=course.default_assignment(s), max_score=MAX)
        view = one_view(s, hers)
        table = dashboard.upload_rows(s, assignment=course.default_assignment(s))
        page = templates.get_template("ta_submissions.html").render(
            request=None, csrf_token=lambda _r: "t", assignment=course.default_assignment(s), assignments=[],
            query=TableQuery(), rows=table, total=1, all=1,
            page=1, pages=1, statuses=[], items=[])
    assert view.created_at == "2026-12-01T23:30:05+09:00" and view.created_at_shown == "2026-12-01 23:30:05 Asia/Seoul"
    row = next(r for r in rows if r.student_id == "s003")
    assert gradebook_row_view(row, zone=ZONE).submitted_at == "2026-12-01T23:30:05+09:00"
    exported = {r["student_id"]: r for r in csv.DictReader(io.StringIO(course_gradebook_csv(rows, zone=ZONE)))}
    assert exported["s003"]["submitted_at"] == "2026-12-01T23:30:05+09:00"
    assert "2026-12-01 23:30 Asia/Seoul" in page
    with session_scope(url) as s:
        a = course.configure_assignment(s, name=course.default_assignment(s).name, deadline="2026-12-01T23:59")
        assert assignment_view(a).deadline == "2026-12-01T23:59:00+09:00"
        course.set_extension(s, assignment=a, student=course.get_student(s, student_id="s003"),
                             until="2026-12-02T12:00", actor="ta")
        assert gradebook.audit_log(s)[0].new == "2026-12-02T12:00:00+09:00"
