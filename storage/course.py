"""The course of record: assignments, the roster and its sign-in links, extensions, lateness.

Queries are keyword-only functions on a session; the routes and the CLI call them and do
nothing with the database themselves.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from storage.models import (Assignment, AuditEntry, Extension, FinalRule, LatePolicy, Release, Student,
                            Submission, now)


class CourseError(ValueError):
    """A refusal with a message for the TA or student who asked."""


class StudentIdError(CourseError):
    """A student ID that is not one: the web routes answer it as a refused upload, the CLI as its error."""


STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_student_id(value: str) -> str:
    """The ID stripped, if it is one a roster, a folder name and a URL can all hold."""
    value = value.strip()
    if not STUDENT_ID.match(value):
        raise StudentIdError("The student ID may use letters, digits, '.', '_' and '-' (at most 64), e.g. 2021320322.")
    return value


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- assignments

# Built once: every upload asks these, and building a statement (its expressions, its cache
# key) cost more CPU than running it (bench/upload_profile.py).
_ASSIGNMENT_NAMED = select(Assignment).where(Assignment.name == bindparam("name")).limit(1)
_DEFAULT_ASSIGNMENT = select(Assignment).order_by(Assignment.is_default.desc(), Assignment.id).limit(1)
_EXTENSION_UNTIL = select(Extension.until).where(Extension.assignment_id == bindparam("assignment_id"),
                                                 Extension.student_pk == bindparam("student_pk"))


def default_assignment(session: Session, *, name: str | None = None) -> Assignment:
    """The assignment the page takes uploads for: by name, else the one marked default."""
    if name:
        found = session.scalars(_ASSIGNMENT_NAMED, {"name": name}).first()
        if found is None:
            raise CourseError(f"There is no assignment named {name!r}.")
        return found
    found = session.scalars(_DEFAULT_ASSIGNMENT).first()
    if found is None:  # the migration makes one; a TA may have deleted it by hand
        found = Assignment(name="resnet50", title="ResNet-50 / CIFAR-10", is_default=True)
        session.add(found)
        session.flush()
    return found


def get_assignment(session: Session, *, name: str) -> Assignment | None:
    return session.scalars(select(Assignment).where(Assignment.name == name)).first()


def list_assignments(session: Session) -> list[Assignment]:
    return list(session.scalars(select(Assignment).order_by(Assignment.id)))


def parse_time(value: str, *, timezone: str) -> dt.datetime:
    """ISO 8601 to naive UTC; a time without an offset is read in the assignment's zone."""
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise CourseError(f"{value!r} is not an ISO 8601 time such as 2026-12-01T23:59:00+09:00.") from exc
    if t.tzinfo is None:
        t = t.replace(tzinfo=ZoneInfo(timezone))
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None)


def configure_assignment(session: Session, *, name: str, title: str | None = None, deadline: str | None = None,
                         timezone: str | None = None, late_policy: str | None = None,
                         late_penalty: float | None = None, late_cutoff: str | None = None,
                         final_rule: str | None = None, release: str | None = None,
                         make_default: bool = False, create: bool = True) -> Assignment:
    """Create the assignment or change the given fields; `deadline=""` removes the deadline."""
    a = get_assignment(session, name=name)
    if a is None:
        if not create:
            raise CourseError(f"There is no assignment named {name!r}.")
        a = Assignment(name=name, title=title or name, timezone="UTC", late_policy=LatePolicy.none,
                       late_penalty=0.0, final_rule=FinalRule.last_on_time, release=Release.immediate,
                       is_default=False)
        session.add(a)
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except Exception as exc:
            raise CourseError(f"{timezone!r} is not a time zone name such as Asia/Seoul or UTC.") from exc
        a.timezone = timezone
    if title is not None:
        a.title = title
    if deadline is not None:
        a.deadline = parse_time(deadline, timezone=a.timezone) if deadline else None
    if late_cutoff is not None:
        a.late_cutoff = parse_time(late_cutoff, timezone=a.timezone) if late_cutoff else None
    if late_policy is not None:
        a.late_policy = _choice(LatePolicy, late_policy, "late policy")
    if late_penalty is not None:
        if not 0 <= late_penalty <= 1:
            raise CourseError("The late penalty is a fraction of the maximum score per hour or day, 0 to 1.")
        a.late_penalty = late_penalty
    if final_rule is not None:
        a.final_rule = _choice(FinalRule, final_rule, "final rule")
    if release is not None:
        a.release = _choice(Release, release, "release")
    if a.late_policy != LatePolicy.none and a.deadline is not None and a.late_cutoff is not None \
            and a.late_cutoff < a.deadline:
        raise CourseError("The hard cutoff is before the deadline.")
    if make_default:
        for other in session.scalars(select(Assignment).where(Assignment.is_default)):
            other.is_default = False
        a.is_default = True
    session.flush()
    return a


def _choice(enum: type, value: str, what: str) -> str:
    try:
        return enum(value.replace("-", "_"))
    except ValueError as exc:
        raise CourseError(f"{value!r} is not a {what}; use one of: {', '.join(e.value for e in enum)}.") from exc


# ---------------------------------------------------------------- roster and links

@dataclass(frozen=True)
class IssuedLink:
    student_id: str
    name: str
    email: str
    token: str


def has_roster(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(Student)) > 0


def list_students(session: Session) -> list[Student]:
    return list(session.scalars(select(Student).order_by(Student.student_id)))


def get_student(session: Session, *, student_id: str) -> Student | None:
    return session.scalars(select(Student).where(Student.student_id == student_id)).first()


def student_by_pk(session: Session, *, pk: int) -> Student | None:
    return session.get(Student, pk)


def import_roster(session: Session, *, rows: list[dict[str, str]]) -> list[IssuedLink]:
    """Add or update students; each student without a live link gets one. Returns the new links.

    Tokens are shown once (here) and stored as sha256 only, like the TAs' bearer tokens.
    """
    issued = []
    for row in rows:
        student = get_student(session, student_id=row["student_id"])
        if student is None:
            student = Student(student_id=row["student_id"], name=row.get("name", ""), email=row.get("email", ""),
                              link_generation=0)
            session.add(student)
            session.flush()
        else:
            student.name, student.email = row.get("name", student.name), row.get("email", student.email)
        if student.link_sha256 is None:
            issued.append(issue_link(session, student=student))
    session.flush()
    return issued


def issue_link(session: Session, *, student: Student, actor: str = "roster import") -> IssuedLink:
    """A new personal sign-in token; the old link and every session signed in with it stop working."""
    token = secrets.token_urlsafe(24)
    student.link_sha256 = token_sha256(token)
    student.link_generation = (student.link_generation or 0) + 1
    session.flush()
    session.add(AuditEntry(actor=actor, action="link issued", student_pk=student.id, comment=""))
    return IssuedLink(student.student_id, student.name, student.email, token)


def revoke_link(session: Session, *, student: Student, actor: str) -> None:
    student.link_sha256 = None
    student.link_generation = (student.link_generation or 0) + 1
    session.add(AuditEntry(actor=actor, action="link revoked", student_pk=student.id, comment=""))
    session.flush()


def student_by_token(session: Session, *, token: str) -> Student | None:
    if not token or len(token) > 200:
        return None
    return session.scalars(select(Student).where(Student.link_sha256 == token_sha256(token))).first()


# ---------------------------------------------------------------- deadlines

def set_extension(session: Session, *, assignment: Assignment, student: Student, until: str, actor: str) -> Extension:
    when = parse_time(until, timezone=assignment.timezone)
    ext = session.scalars(select(Extension).where(Extension.assignment_id == assignment.id,
                                                  Extension.student_pk == student.id)).first()
    old = iso_time(ext.until, assignment.timezone) if ext else None  # with its offset: the log is read later
    if ext is None:
        ext = Extension(assignment_id=assignment.id, student_pk=student.id, until=when)
        session.add(ext)
    ext.until = when
    session.add(AuditEntry(actor=actor, action="extension", student_pk=student.id, old=old,
                           new=iso_time(when, assignment.timezone),
                           comment=f"assignment {assignment.name}"))
    session.flush()
    return ext


def extension_until(session: Session, *, assignment: Assignment, student_pk: int | None) -> dt.datetime | None:
    if student_pk is None:
        return None
    return session.scalar(_EXTENSION_UNTIL, {"assignment_id": assignment.id, "student_pk": student_pk})


@dataclass(frozen=True)
class Lateness:
    accepted: bool
    late_s: float | None  # None: on time
    penalty: float  # fraction of the maximum score
    message: str  # for the student: why refused, or how late and what it costs


def due(assignment: Assignment, extension: dt.datetime | None) -> dt.datetime | None:
    if assignment.deadline is None:
        return None
    return max(assignment.deadline, extension) if extension else assignment.deadline


def lateness(assignment: Assignment, *, extension: dt.datetime | None, at: dt.datetime) -> Lateness:
    """What the server's clock says about an upload at `at` (naive UTC). Pure: no database."""
    deadline = due(assignment, extension)
    if deadline is None or at <= deadline:
        return Lateness(True, None, 0.0, "")
    late_s = (at - deadline).total_seconds()
    shown = show_time(deadline, assignment.timezone)
    if assignment.late_policy == LatePolicy.none:
        return Lateness(False, late_s, 0.0, f"The deadline was {shown}; late submissions are not accepted.")
    cutoff = assignment.late_cutoff
    if extension and cutoff and extension > cutoff:
        cutoff = extension
    if cutoff is not None and at > cutoff:
        return Lateness(False, late_s, 0.0, f"The last moment to submit late was {show_time(cutoff, assignment.timezone)}; "
                                            "no more submissions are accepted.")
    unit_s = 3600 if assignment.late_policy == LatePolicy.per_hour else 86400
    units = math.ceil(late_s / unit_s)
    penalty = min(1.0, units * assignment.late_penalty)
    word = "hour" if unit_s == 3600 else "day"
    return Lateness(True, late_s, penalty,
                    f"Late by {units} {word}{'s' if units != 1 else ''} after {shown}: " + late_cost(assignment, penalty))


def late_cost(assignment: Assignment, penalty: float) -> str:
    """What a late file costs, in words that match the final rule (storage/gradebook.final_submission):
    under last-on-time it is not counted at all when the student has a graded on-time submission."""
    off = f"{penalty:.0%} of the maximum score is taken off"
    if assignment.final_rule == FinalRule.best:
        return f"{off}, and your best score after late penalties counts."
    return (f"it is not counted at all if you have a graded on-time submission (the last on-time one counts); "
            f"otherwise {off}.")


def show_time(t: dt.datetime, timezone: str, *, seconds: bool = False) -> str:
    """A stored (naive UTC) time as people read it: in the assignment's zone, with the zone's name."""
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return t.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(timezone)).strftime(f"{fmt} {timezone}")


def iso_time(t: dt.datetime | None, timezone: str) -> str | None:
    """A stored (naive UTC) time for CSV and JSON: ISO 8601 with the offset of the assignment's zone,
    e.g. 2026-12-01T23:59:00+09:00, so a spreadsheet or script never guesses the zone."""
    if t is None:
        return None
    return t.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")


def zone_of(session: Session, *, submission: Submission) -> str:
    """The time zone a submission's times are shown in: its assignment's (UTC for none)."""
    if submission.assignment_id is None:
        return "UTC"
    assignment = session.get(Assignment, submission.assignment_id)
    return assignment.timezone if assignment is not None else "UTC"


def time_left(assignment: Assignment, *, extension: dt.datetime | None, at: dt.datetime | None = None) -> str | None:
    deadline = due(assignment, extension)
    if deadline is None:
        return None
    left = (deadline - (at or now())).total_seconds()
    if left <= 0:
        return "the deadline has passed"
    d, rem = divmod(int(left), 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if left < 600:  # the last minutes in seconds: never "0 min left" while there is still time
        return (f"{m} min {s} s" if m else f"{s} s") + " left"
    return " ".join(p for p in (f"{d} d" if d else "", f"{h} h" if h or d else "", f"{m} min") if p) + " left"


def released(assignment: Assignment, *, extension: dt.datetime | None, at: dt.datetime | None = None) -> bool:
    """Whether score and accuracy may be shown to the student yet (structure feedback always is)."""
    if assignment.release != Release.after_deadline:
        return True
    deadline = due(assignment, extension)
    return deadline is None or (at or now()) > deadline


def history(session: Session, *, student_pk: int, limit: int = 50) -> list[Submission]:
    return list(session.scalars(select(Submission).where(Submission.student_pk == student_pk)
                                .order_by(Submission.created_at.desc()).limit(limit)))


def released_for(session: Session, *, submission: Submission, at: dt.datetime | None = None) -> bool:
    """Whether this submission's score may be shown to its student now."""
    if submission.assignment_id is None:
        return True
    assignment = session.get(Assignment, submission.assignment_id)
    if assignment is None:
        return True
    return released(assignment, at=at, extension=extension_until(session, assignment=assignment,
                                                                  student_pk=submission.student_pk))
