"""storage/lti.py on SQLite: one-use nonces, the passback claim and its backoff, the roster match order."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from storage import course, lti
from storage.db import session_scope
from storage.models import Assignment, LtiContext, LtiPassback, Student, now


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


def test_a_nonce_is_used_once_and_not_after_it_expires(db: str) -> None:
    with session_scope(db) as s:
        lti.save_nonce(s, nonce="n1", lifetime_s=60)
        lti.save_nonce(s, nonce="old", lifetime_s=-1)
        assert lti.nonce_is_live(s, nonce="n1") and not lti.nonce_is_live(s, nonce="old")
        assert lti.use_nonce(s, nonce="n1") and not lti.use_nonce(s, nonce="n1")
        assert not lti.use_nonce(s, nonce="old") and not lti.use_nonce(s, nonce="never-issued")


def _passback(s) -> LtiPassback:  # noqa: ANN001
    platform = lti.add_platform(s, issuer="https://lms.example", client_id="c", deployment_ids=["d"],
                                auth_login_url="https://lms.example/auth", auth_token_url="https://lms.example/token",
                                key_set_url="https://lms.example/jwks")
    ctx = lti.save_context(s, platform=platform, context_id="course", lineitems_url="https://lms.example/li",
                           ags_scopes=["https://purl.imsglobal.org/spec/lti-ags/scope/score"])
    student = Student(student_id="A1", name="Ann", email="a@x", link_generation=0)
    s.add(student)
    s.flush()
    row = LtiPassback(context_pk=ctx.id, assignment_id=course.default_assignment(s).id, student_pk=student.id,
                      lms_sub="u1", score_given=1.0, score_maximum=2.0, next_attempt_at=now())
    s.add(row)
    s.flush()
    return row


def test_a_failed_post_stays_pending_with_a_doubling_capped_backoff(db: str) -> None:
    with session_scope(db) as s:
        row = _passback(s)
        t0 = now()
        (claimed,) = lti.claim_due_passbacks(s, lease_s=300, at=t0)
        assert lti.claim_due_passbacks(s, lease_s=300, at=t0) == []  # claimed: another pass does not post it too
        waits = []
        for _ in range(9):
            lti.passback_failed(s, passback=claimed, error="503", backoff_s=30, backoff_max_s=3600, at=t0)
            waits.append((claimed.next_attempt_at - t0).total_seconds())
        assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
        assert claimed.status == "pending" and claimed.attempts == 9 and claimed.last_error == "503"
        (again,) = lti.claim_due_passbacks(s, lease_s=300, at=t0 + dt.timedelta(seconds=3601))
        lti.passback_sent(s, passback=again)
        assert row.status == "sent" and row.last_error is None


def test_email_match_does_not_take_over_a_student_linked_to_another_lms_user(db: str) -> None:
    with session_scope(db) as s:
        course.import_roster(s, rows=[{"student_id": "A1", "name": "Ann", "email": "ann@x.edu"}])
        first = lti.student_for_launch(s, user=lti.LmsUser(issuer="i", sub="u1", email="ANN@x.edu"), create=False)
        assert first.student_id == "A1"
        with pytest.raises(lti.LtiError, match="another LMS account"):
            lti.student_for_launch(s, user=lti.LmsUser(issuer="i", sub="u2", email="ann@x.edu"), create=False)
        with pytest.raises(lti.LtiError, match="TA must import the roster"):
            lti.student_for_launch(s, user=lti.LmsUser(issuer="i", sub="u3", email="new@x.edu"), create=False)
        made = lti.student_for_launch(s, user=lti.LmsUser(issuer="i", sub="u3", name="Neo", email="new@x.edu",
                                                          sourcedid="S9"), create=True)
        assert (made.student_id, made.name) == ("S9", "Neo")
        # Nor can a user of another registered LMS with Ann's email (or her SIS id) take her entry.
        with pytest.raises(lti.LtiError, match="another LMS account"):
            lti.student_for_launch(s, user=lti.LmsUser(issuer="j", sub="u1", email="ann@x.edu"), create=False)
        with pytest.raises(lti.LtiError, match="another LMS account"):
            lti.student_for_launch(s, user=lti.LmsUser(issuer="j", sub="u9", sourcedid="A1"), create=False)


def test_an_instructor_launch_never_links_an_existing_ta_account_by_email(db: str) -> None:
    from storage.ta_accounts import create_ta_account

    with session_scope(db) as s:
        real = create_ta_account(s, name="ta1@uni.edu", password="a long password 1")
        account = lti.ta_for_launch(s, user=lti.LmsUser(issuer="i", sub="x1", email="ta1@uni.edu"))
        assert account.id != real.id and account.name.startswith("lms-")
        again = lti.ta_for_launch(s, user=lti.LmsUser(issuer="i", sub="x1", email="ta1@uni.edu"))
        assert again.id == account.id  # the link, not the email, finds it next time
        fresh = lti.ta_for_launch(s, user=lti.LmsUser(issuer="i", sub="x2", email="ines@uni.edu"))
        assert fresh.name == "ines@uni.edu"  # a free name: the account is named after the LMS email


def test_an_immediate_release_queues_each_grade_and_no_zero_before_a_deadline(db: str) -> None:
    from storage.models import LtiUser, Submission

    with session_scope(db) as s:
        row = _passback(s)
        ctx = s.get(LtiContext, row.context_pk)
        s.delete(row)
        course.import_roster(s, rows=[{"student_id": "B2", "name": "Bo", "email": "bo@x"}])
        for student_id, sub in (("A1", "u1"), ("B2", "u2")):
            lti.student_for_launch(s, user=lti.LmsUser(issuer="https://lms.example", sub=sub,
                                                       sourcedid=student_id), create=False)
            lti.add_member(s, context=ctx, issuer="https://lms.example", sub=sub)
        a = course.default_assignment(s)  # immediate release, no deadline
        ann = course.get_student(s, student_id="A1")
        s.add(Submission(student_id="A1", filename="f.py", sha256="0" * 64, size_bytes=1, status="graded", score=90.0,
                         max_score=105.0, student_pk=ann.id, assignment_id=a.id, created_at=now()))
        s.flush()
        assert lti.queue_passbacks(s, max_score=105.0) == 0  # the LMS course is not approved: nothing goes there
        lti.approve_context(s, issuer="https://lms.example", context_id="course", by="tara")
        assert lti.queue_passbacks(s, max_score=105.0) == 1  # Ann's grade; Bo may still submit: no 0 yet
        (pb,) = s.query(LtiPassback).all()
        assert (pb.lms_sub, pb.score_given, pb.score_maximum, pb.status) == ("u1", 90.0, 105.0, "pending")
        assert lti.queue_passbacks(s, max_score=105.0) == 0  # unchanged: nothing new
        assert s.query(LtiUser).count() == 2 and isinstance(a, Assignment)
