"""The course model's rules on both databases: lateness by policy, the final-submission rule,
overrides, superseding a queued upload, and a queued grade's place in line."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from storage import course, gradebook, service
from storage.db import session_scope
from storage.models import Assignment, LatePolicy, Status, now
from tests.storage.test_service import db_url  # noqa: F401 - the fixture

T0 = dt.datetime(2026, 12, 1, 14, 59)  # the deadline, naive UTC (23:59 in Seoul)


def assignment(**kw) -> Assignment:
    return Assignment(name="a", title="a", deadline=T0, timezone="Asia/Seoul", late_policy=LatePolicy.none,
                      late_penalty=0.0, late_cutoff=None, final_rule="last_on_time", release="immediate", **kw)


def test_lateness_follows_the_policy() -> None:
    a = assignment()
    assert course.lateness(a, extension=None, at=T0).accepted
    refused = course.lateness(a, extension=None, at=T0 + dt.timedelta(seconds=1))
    assert not refused.accepted and "2026-12-01 23:59 Asia/Seoul" in refused.message
    assert course.lateness(a, extension=T0 + dt.timedelta(days=2), at=T0 + dt.timedelta(days=1)).late_s is None
    a.late_policy, a.late_penalty, a.late_cutoff = LatePolicy.per_day, 0.1, T0 + dt.timedelta(days=3)
    two_days = course.lateness(a, extension=None, at=T0 + dt.timedelta(days=1, minutes=1))
    assert two_days.accepted and two_days.penalty == pytest.approx(0.2)  # a started day counts
    assert not course.lateness(a, extension=None, at=T0 + dt.timedelta(days=3, seconds=1)).accepted
    a.late_policy = LatePolicy.per_hour
    assert course.lateness(a, extension=None, at=T0 + dt.timedelta(minutes=30)).penalty == pytest.approx(0.1)
    assert course.lateness(a, extension=None, at=T0 + dt.timedelta(hours=30)).penalty == 1.0  # capped


def test_deadline_without_offset_is_read_in_the_assignment_zone() -> None:
    assert course.parse_time("2026-12-01T23:59", timezone="Asia/Seoul") == T0
    assert course.parse_time("2026-12-01T14:59:00+00:00", timezone="Asia/Seoul") == T0
    with pytest.raises(course.CourseError):
        course.parse_time("tomorrow", timezone="UTC")


def _graded(s, student, *, score: float, created: dt.datetime, late_s: float | None = None, penalty: float = 0.0):
    sub = service.record_submission(s, student_id=student.student_id, filename="f.py", data=b"x", sha256="a" * 64,
                                    skip_training=True, assignment_id=1, student_pk=student.id, late_s=late_s,
                                    late_penalty=penalty)
    sub.status, sub.score, sub.max_score, sub.created_at = Status.graded, score, 105.0, created
    sub.report_json = json.dumps({"items": [{"id": "q1_downsample", "points": min(score, 20.0), "max_points": 20},
                                            {"id": "q2_blanks", "points": score - min(score, 20.0), "max_points": 85}]})
    s.flush()
    return sub


def test_gradebook_final_rule_penalty_and_override(db_url: str) -> None:  # noqa: F811
    with session_scope(db_url) as s:
        course.import_roster(s, rows=[{"student_id": i, "name": i, "email": ""} for i in ("A", "B", "C")])
        a_, b_ = course.get_student(s, student_id="A"), course.get_student(s, student_id="B")
        _graded(s, a_, score=100, created=T0 - dt.timedelta(hours=2))
        last = _graded(s, a_, score=90, created=T0 - dt.timedelta(hours=1))
        _graded(s, a_, score=105, created=T0 + dt.timedelta(hours=1), late_s=3600, penalty=0.1)
        _graded(s, b_, score=80, created=T0 + dt.timedelta(hours=1), late_s=3600, penalty=0.1)
        a = course.default_assignment(s)
        rows = {r.student_id: r for r in gradebook.gradebook(s, assignment=a)}
        assert rows["A"].submission_id == last.id and rows["A"].final_score == 90  # last on time
        assert rows["B"].late and rows["B"].late_penalty == pytest.approx(10.5) and rows["B"].final_score == 69.5
        assert rows["C"].status == "missing" and rows["C"].final_score == 0
        a.final_rule = "best"
        assert {r.student_id: r for r in gradebook.gradebook(s, assignment=a)}["A"].final_score == 100
        gradebook.override_item(s, submission=last, item="q2_blanks", points=85, comment="regraded by hand", actor="ta")
        a.final_rule = "last_on_time"
        row = {r.student_id: r for r in gradebook.gradebook(s, assignment=a)}["A"]
        assert row.final_score == 105 and row.items["q2_blanks"] == 85 and row.overridden == ["q2_blanks"]
        entry = gradebook.audit_log(s, submission_id=last.id)[0]
        assert (entry.actor, entry.item, entry.old, entry.new) == ("ta", "q2_blanks", "70", "85")
        with pytest.raises(ValueError):
            gradebook.override_item(s, submission=last, item="nope", points=1, comment="x", actor="ta")
        with pytest.raises(ValueError, match="0 to 20 points"):
            gradebook.override_item(s, submission=last, item="q1_downsample", points=25, comment="x", actor="ta")


def test_a_new_upload_supersedes_the_queued_one_and_queue_order(db_url: str) -> None:  # noqa: F811
    with session_scope(db_url) as s:
        course.import_roster(s, rows=[{"student_id": i, "name": i, "email": ""} for i in ("A", "B")])
        a_, b_ = course.get_student(s, student_id="A"), course.get_student(s, student_id="B")

        def up(st):  # noqa: ANN001, ANN202
            return service.record_submission(s, student_id=st.student_id, filename="f.py", data=b"x" * 7,
                                             sha256="b" * 64, skip_training=True, assignment_id=1, student_pk=st.id)

        first_a, first_b = up(a_), up(b_)
        second_a = up(a_)
        s.refresh(first_a)
        assert first_a.status == Status.superseded and second_a.content == b"x" * 7
        assert service.queue_position(s, submission=first_b) == (1, None)  # no grade yet: no estimate
        assert service.queue_position(s, submission=second_a)[0] == 2
        first_b.status, first_b.started_at, first_b.finished_at = Status.graded, now() - dt.timedelta(seconds=30), now()
        first_b.worker, first_b.heartbeat_at = "w1", now()
        s.flush()
        position, wait = service.queue_position(s, submission=second_a)
        assert position == 1 and wait == pytest.approx(30, abs=2)


def test_release_after_the_deadline_holds_score_and_accuracy_back() -> None:
    from api.views import submission_view
    from storage.models import Release, Submission

    a = assignment()
    a.release = Release.after_deadline
    assert not course.released(a, extension=None, at=T0 - dt.timedelta(minutes=1))
    assert course.released(a, extension=None, at=T0 + dt.timedelta(minutes=1))
    assert not course.released(a, extension=T0 + dt.timedelta(days=1), at=T0 + dt.timedelta(minutes=1))
    report = {"score": 90, "max_score": 105, "accuracy": 0.8, "items": [{"id": "q1_downsample", "points": 20}],
              "checks": {"shapes": {"rows": []}}, "error": None}
    sub = Submission(id="x", student_id="A", filename="f.py", sha256="a" * 64, size_bytes=1, status="graded",
                     score=90, max_score=105, accuracy=0.8, report_json=json.dumps(report), created_at=T0,
                     late_penalty=0.0)
    points = gradebook.scored(sub, [])
    held = submission_view(sub, points=points, zone="Asia/Seoul", released=False)
    assert held.score is None and held.accuracy is None and held.report is None
    assert held.structure == {"checks": report["checks"], "error": None, "held": True}
    shown = submission_view(sub, points=points, zone="Asia/Seoul")
    assert shown.score == 90 and shown.created_at == "2026-12-01T23:59:00+09:00"


def test_self_reported_items_wait_for_a_ta(db_url: str) -> None:  # noqa: F811
    """Points the student's own process claimed are shown apart and count once a TA accepts them."""
    with session_scope(db_url) as s:
        course.import_roster(s, rows=[{"student_id": "A", "name": "A", "email": ""}])
        a_ = course.get_student(s, student_id="A")
        sub = _graded(s, a_, score=20, created=T0 - dt.timedelta(hours=1))  # the verified score
        sub.report_json = json.dumps({"items": [
            {"id": "q1_downsample", "points": 20.0, "max_points": 20},
            {"id": "q2_blanks", "points": 25.0, "max_points": 25, "verified": False}]})
        s.flush()
        a = course.default_assignment(s)
        row = gradebook.gradebook(s, assignment=a)[0]
        assert row.final_score == 20 and row.items["q2_blanks"] == 0 and row.needs_review == {"q2_blanks": 25.0}
        gradebook.override_item(s, submission=sub, item="q2_blanks", points=25, comment="checked by hand", actor="ta")
        row = gradebook.gradebook(s, assignment=a)[0]
        assert row.final_score == 45 and row.needs_review == {}


def test_self_check_uploads_supersede_by_typed_id_but_batches_do_not(db_url: str) -> None:  # noqa: F811
    with session_scope(db_url) as s:
        def up(student_id: str, batch_id: str | None = None):  # noqa: ANN202
            return service.record_submission(s, student_id=student_id, filename="f.py", data=b"y", sha256="c" * 64,
                                             skip_training=True, assignment_id=1, batch_id=batch_id)

        first, other = up("s1"), up("s2")
        batch = service.create_batch(s, name="b", token_name="ta")
        in_batch = up("s1", batch.id)
        second = up("s1")
        for sub in (first, other, in_batch):
            s.refresh(sub)
        assert (first.status, other.status, in_batch.status, second.status) == (
            Status.superseded, Status.queued, Status.queued, Status.queued)
