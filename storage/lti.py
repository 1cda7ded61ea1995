"""LMS integration (LTI 1.3) in the database: platform registrations, LMS users linked to roster
students and TA accounts, and the one-use OIDC nonces.

Queries are keyword-only functions on a session; the launch route and `autograder lti` call
them. What the LMS says about a user arrives here already verified (api/lti.py checks the
signed launch); this module decides who that user is in the course.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage import course
from storage.gradebook import gradebook
from storage.papers import ReportItem
from storage.models import (Assignment, AuditEntry, LtiContext, LtiLineItem, LtiMember, LtiNonce, LtiPassback,
                            LtiPlatform, LtiUser, PassbackStatus, Student, TaAccount, now)
from storage.ta_accounts import NAME as TA_NAME
from storage.ta_accounts import create_ta_account, get_ta_account, ta_account_by_pk


class LtiError(ValueError):
    """A refusal with a message for the person who launched, or the TA at the shell."""


# ---------------------------------------------------------------- platforms

def _url(value: str, what: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise LtiError(f"The {what} {value!r} is not an http(s) URL.")
    return value


def add_platform(session: Session, *, issuer: str, client_id: str, deployment_ids: list[str], auth_login_url: str,
                 auth_token_url: str, key_set_url: str, auth_audience: str | None = None,
                 name: str = "") -> LtiPlatform:
    """Register an LMS (or update the registration with this issuer and client id).

    Deployment ids are added to those already registered: an LMS makes a new one each time
    the tool is installed in another course or sub-account.
    """
    if not issuer or not client_id:
        raise LtiError("The issuer and the client id are both needed (the LMS shows them when the tool is added).")
    if not deployment_ids:
        raise LtiError("At least one deployment id is needed (Canvas: the tool's Deployment ID; Moodle: the "
                       "tool's 'Deployment ID' in its details).")
    platform = find_platform(session, issuer=issuer, client_id=client_id)
    if platform is None:
        platform = LtiPlatform(issuer=issuer, client_id=client_id, deployment_ids="", name=name)
        session.add(platform)
    platform.auth_login_url = _url(auth_login_url, "authorization (OIDC auth) URL")
    platform.auth_token_url = _url(auth_token_url, "access token URL")
    platform.key_set_url = _url(key_set_url, "JWKS (public keyset) URL")
    platform.auth_audience = auth_audience or None
    if name:
        platform.name = name
    ids = platform_deployments(platform)
    platform.deployment_ids = " ".join(ids + [d for d in deployment_ids if d and d not in ids])
    session.flush()
    return platform


def platform_deployments(platform: LtiPlatform) -> list[str]:
    return platform.deployment_ids.split()


def list_platforms(session: Session) -> list[LtiPlatform]:
    return list(session.scalars(select(LtiPlatform).order_by(LtiPlatform.id)))


def find_platform(session: Session, *, issuer: str, client_id: str | None = None) -> LtiPlatform | None:
    """The registration for this issuer and client id; without a client id, the issuer's only one.

    An issuer with several registrations and no client id (an old-style login request) finds
    none: guessing one could launch into the wrong registration.
    """
    q = select(LtiPlatform).where(LtiPlatform.issuer == issuer)
    if client_id:
        return session.scalars(q.where(LtiPlatform.client_id == client_id)).first()
    found = list(session.scalars(q.limit(2)))
    return found[0] if len(found) == 1 else None


def remove_platform(session: Session, *, issuer: str, client_id: str) -> None:
    platform = find_platform(session, issuer=issuer, client_id=client_id)
    if platform is None:
        raise LtiError(f"No platform is registered with issuer {issuer!r} and client id {client_id!r}.")
    session.delete(platform)
    session.flush()


# ---------------------------------------------------------------- nonces

def save_nonce(session: Session, *, nonce: str, lifetime_s: int) -> None:
    """Remember a nonce sent with an OIDC login; expired ones are dropped on the way."""
    at = now()
    session.execute(delete(LtiNonce).where(LtiNonce.expires_at < at))
    session.add(LtiNonce(nonce=nonce[:128], expires_at=at + dt.timedelta(seconds=lifetime_s)))
    session.flush()


def nonce_is_live(session: Session, *, nonce: str) -> bool:
    """Whether this tool issued the nonce and no launch has used it yet (nothing is changed)."""
    return session.scalar(select(func.count()).select_from(LtiNonce).where(
        LtiNonce.nonce == nonce, LtiNonce.expires_at >= now())) == 1


def use_nonce(session: Session, *, nonce: str) -> bool:
    """Use the nonce up: True for the one launch that does, False for any other (a replay).

    A DELETE that counts its rows, so two launches racing with one nonce cannot both win.
    """
    result = session.execute(delete(LtiNonce).where(LtiNonce.nonce == nonce, LtiNonce.expires_at >= now()))
    session.flush()
    return result.rowcount == 1


# ---------------------------------------------------------------- who launched

@dataclass(frozen=True)
class LmsUser:
    """What a verified launch says about the user; the claims are the LMS's."""

    issuer: str
    sub: str
    name: str = ""
    email: str = ""
    sourcedid: str = ""  # the LIS person_sourcedid claim: the SIS id, where the LMS sends it


def _link(session: Session, user: LmsUser) -> LtiUser | None:
    return session.scalars(select(LtiUser).where(LtiUser.issuer == user.issuer, LtiUser.sub == user.sub)).first()


def _linked_elsewhere(session: Session, *, student_pk: int) -> bool:
    """Whether any LMS user, of any registered LMS, already is this roster student."""
    return session.scalar(select(func.count()).select_from(LtiUser).where(LtiUser.student_pk == student_pk)) > 0


def student_for_launch(session: Session, *, user: LmsUser, create: bool) -> Student:
    """The roster student this LMS user is: by the LMS's user id (`sub`, per issuer), then by
    email, then by SIS id; created from the claims when `create`; else LtiError.

    The first match by email or SIS id links the `sub`, so later launches find the student
    even after the email changes. A student already linked to an LMS user (of any registered
    LMS) is never taken over by email or SIS id: two LMS accounts cannot share one roster entry.
    """
    link = _link(session, user)
    student = session.get(Student, link.student_pk) if link is not None and link.student_pk is not None else None
    if student is None:
        candidates = []
        if user.email:
            candidates += session.scalars(select(Student).where(func.lower(Student.email) == user.email.lower())
                                          .order_by(Student.id)).all()
        if user.sourcedid:
            candidates += session.scalars(select(Student).where(Student.student_id == user.sourcedid)).all()
        student = next((c for c in candidates if not _linked_elsewhere(session, student_pk=c.id)),
                       None)
        if student is None and candidates:
            raise LtiError("Your LMS account matches a roster entry that another LMS account already uses; ask your "
                           "TA to check the roster.")
        if student is None:
            if not create:
                raise LtiError("You are not on this course's roster yet. Your TA must import the roster (or sync it "
                               "from the LMS on the TA's LTI page); then open the assignment from the LMS again.")
            student = _new_student(session, user)
        if link is None:
            link = LtiUser(issuer=user.issuer, sub=user.sub)
            session.add(link)
        link.student_pk, link.ta_account_id = student.id, None
    link.last_launch_at = now()
    session.flush()
    return student


def _new_student(session: Session, user: LmsUser) -> Student:
    """A roster entry from the launch's claims; its id is the SIS id when free, else derived from the LMS id."""
    student_id = user.sourcedid[:64] if user.sourcedid else ""
    if not student_id or session.scalars(select(Student).where(Student.student_id == student_id)).first():
        student_id = "lms-" + hashlib.sha256(f"{user.issuer}\n{user.sub}".encode()).hexdigest()[:12]
    student = Student(student_id=student_id, name=user.name[:200], email=user.email[:254], link_generation=0)
    session.add(student)
    session.flush()
    session.add(AuditEntry(actor="lti launch", action="student added", student_pk=student.id,
                           comment=f"LMS user {user.sub} of {user.issuer}"))
    return student


def ta_for_launch(session: Session, *, user: LmsUser) -> TaAccount:
    """The TA account of an LMS Instructor or TA: the one linked to this LMS user; at the first
    launch, a new one named after the LMS email (or `lms-<hash>` when that name is taken), with
    an unusable random password (the LMS is how it signs in).

    An existing account is never linked by email: an LMS user who sets their email to a TA's
    name would otherwise sign in as that TA. A disabled account stays disabled: LtiError.
    """
    link = _link(session, user)
    account = ta_account_by_pk(session, pk=link.ta_account_id) if link and link.ta_account_id else None
    if account is None:
        name = user.email if user.email and TA_NAME.fullmatch(user.email) else ""
        if not name or get_ta_account(session, name=name) is not None:
            name = "lms-" + hashlib.sha256(f"{user.issuer}\n{user.sub}".encode()).hexdigest()[:12]
        account = get_ta_account(session, name=name) or create_ta_account(
            session, name=name, password=secrets.token_urlsafe(32))
        if link is None:
            link = LtiUser(issuer=user.issuer, sub=user.sub)
            session.add(link)
        link.ta_account_id, link.student_pk = account.id, None
    if account.disabled:
        raise LtiError(f"The TA account {account.name} is disabled; ask the course's admin to enable it.")
    link.last_launch_at = now()
    account.last_sign_in_at = now()
    session.flush()
    return account


def lms_users_of(session: Session, *, issuer: str) -> list[LtiUser]:
    return list(session.scalars(select(LtiUser).where(LtiUser.issuer == issuer).order_by(LtiUser.id)))


SAFE_SUB = re.compile(r"[\x21-\x7e]{1,255}")  # the spec: a string of at most 255 ASCII characters


# ---------------------------------------------------------------- LMS courses (contexts) and members

def save_context(session: Session, *, platform: LtiPlatform, context_id: str, title: str = "",
                 memberships_url: str | None = None, lineitems_url: str | None = None,
                 ags_scopes: list[str] | None = None) -> LtiContext:
    """The LMS course of a launch, with the service URLs the launch gave (the newest launch's win)."""
    ctx = session.scalars(select(LtiContext).where(LtiContext.platform_id == platform.id,
                                                   LtiContext.context_id == context_id)).first()
    if ctx is None:
        ctx = LtiContext(platform_id=platform.id, context_id=context_id, title="", ags_scopes="")
        session.add(ctx)
    ctx.title = title[:255] or ctx.title
    ctx.memberships_url = memberships_url or ctx.memberships_url
    ctx.lineitems_url = lineitems_url or ctx.lineitems_url
    if ags_scopes is not None:
        ctx.ags_scopes = " ".join(ags_scopes)
    ctx.updated_at = now()
    session.flush()
    return ctx


def record_launch_course(session: Session, *, issuer: str, client_id: str, sub: str, context_id: str, title: str,
                         memberships_url: str | None, lineitems_url: str | None, ags_scopes: list[str]) -> None:
    """A launch from an LMS course: keep the course's service URLs, and the user as its member."""
    platform = find_platform(session, issuer=issuer, client_id=client_id)
    if platform is None:
        return
    ctx = save_context(session, platform=platform, context_id=context_id, title=title,
                       memberships_url=memberships_url, lineitems_url=lineitems_url, ags_scopes=ags_scopes)
    add_member(session, context=ctx, issuer=issuer, sub=sub)


def find_context(session: Session, *, issuer: str, client_id: str, context_id: str) -> LtiContext | None:
    platform = find_platform(session, issuer=issuer, client_id=client_id)
    if platform is None:
        return None
    return session.scalars(select(LtiContext).where(LtiContext.platform_id == platform.id,
                                                    LtiContext.context_id == context_id)).first()


def approve_context(session: Session, *, issuer: str, context_id: str, by: str) -> LtiContext:
    """A TA's word that this LMS course is the course: its Instructors may become TAs, its
    roster is synced and its grades are posted. Logged in the audit log."""
    ctx = session.execute(select(LtiContext).join(LtiPlatform, LtiPlatform.id == LtiContext.platform_id)
                          .where(LtiPlatform.issuer == issuer, LtiContext.context_id == context_id)).scalars().first()
    if ctx is None:
        raise LtiError(f"No LMS course {context_id!r} of {issuer} has launched the tool yet; open it from the LMS first.")
    if not ctx.approved:
        ctx.approved, ctx.approved_by = True, by
        session.add(AuditEntry(actor=by, action="lms course approved", comment=f"{context_id} of {issuer}"))
    session.flush()
    return ctx


def context_by_pk(session: Session, *, pk: int) -> LtiContext | None:
    return session.get(LtiContext, pk)


def platform_of(session: Session, *, context: LtiContext) -> LtiPlatform:
    return session.get(LtiPlatform, context.platform_id)


def list_contexts(session: Session) -> list[tuple[LtiContext, LtiPlatform]]:
    return [(c, p) for c, p in session.execute(select(LtiContext, LtiPlatform)
                                               .join(LtiPlatform, LtiPlatform.id == LtiContext.platform_id)
                                               .order_by(LtiContext.id))]


def add_member(session: Session, *, context: LtiContext, issuer: str, sub: str) -> None:
    """Record that this LMS user is in this LMS course: the course's grades go to its members."""
    link = session.scalars(select(LtiUser).where(LtiUser.issuer == issuer, LtiUser.sub == sub)).first()
    if link is None:
        return
    if session.scalars(select(LtiMember).where(LtiMember.context_pk == context.id,
                                               LtiMember.lti_user_pk == link.id)).first() is None:
        session.add(LtiMember(context_pk=context.id, lti_user_pk=link.id))
        session.flush()


MEMBERSHIP_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership"


def is_learner(roles: list[str]) -> bool:
    """A member with a Learner role and no teaching role in the course (context role URIs or short
    names); institution roles do not count: an instructor elsewhere may be a student here."""
    context = [r for r in roles if r.startswith(MEMBERSHIP_ROLE) or "://" not in r]
    names = {r.removeprefix(MEMBERSHIP_ROLE).lstrip("#/").split("#", 1)[0] for r in context}
    return "Learner" in names and not names & {"Instructor", "TeachingAssistant", "Administrator"}


# ---------------------------------------------------------------- grade passback

def line_item_url(session: Session, *, context: LtiContext, assignment_id: int) -> str | None:
    return session.scalar(select(LtiLineItem.url).where(LtiLineItem.context_pk == context.id,
                                                        LtiLineItem.assignment_id == assignment_id))


def save_line_item(session: Session, *, context: LtiContext, assignment_id: int, url: str) -> None:
    if line_item_url(session, context=context, assignment_id=assignment_id) is None:
        session.add(LtiLineItem(context_pk=context.id, assignment_id=assignment_id, url=url))
        session.flush()


def queue_passbacks(session: Session, *, max_score: float, at: dt.datetime | None = None,
                    report_items: list[ReportItem] | None = None, include_report: bool = False) -> int:
    """Make a pending passback for every released final grade an LMS course does not have yet.

    The grade is the gradebook's (final rule, overrides, late penalty); it is released when the
    student may see it (after the deadline, or at once for an immediate release); a student
    with nothing submitted gets the gradebook's 0 once the deadline (and extension) has passed.
    A changed grade makes a sent row pending again, with a new timestamp (an override, a report
    mark: both change the gradebook row). With `include_report`, a report a TA has marked on
    every item adds its points to the grade and its maximum to the grade's; before that (or
    without the setting) the grade is the code's alone. Returns the rows made pending now.
    """
    at = at or now()
    changed = 0
    contexts = [c for c, _ in list_contexts(session)
                if c.approved and c.lineitems_url and "lti-ags/scope/score" in c.ags_scopes]
    for assignment in session.scalars(select(Assignment).order_by(Assignment.id)):
        rows = None
        for ctx in contexts:
            members = session.execute(select(LtiUser.sub, Student).join(LtiMember, LtiMember.lti_user_pk == LtiUser.id)
                                      .join(Student, Student.id == LtiUser.student_pk)
                                      .where(LtiMember.context_pk == ctx.id)).all()
            if not members:
                continue
            rows = rows if rows is not None else {r.student_id: r for r in gradebook(
                session, assignment=assignment, max_score=max_score, report_items=report_items)}
            for sub, student in members:
                row = rows.get(student.student_id)
                extension = course.extension_until(session, assignment=assignment, student_pk=student.id)
                if row is None or not course.released(assignment, extension=extension, at=at):
                    continue
                if row.status == "missing":
                    deadline = course.due(assignment, extension)
                    if deadline is None or at <= deadline:
                        continue  # may still come
                    given, top, comment = 0.0, max_score, "missing"
                else:
                    given, top = row.final_score, row.max_score or max_score
                    comment = f"late penalty {row.late_penalty:g}" if row.late_penalty else ""
                if include_report and row.report_points is not None:
                    given, top = round(given + row.report_points, 4), top + row.report_max
                    comment = "; ".join(filter(None, [comment, f"report {row.report_points:g}/{row.report_max:g}"]))
                changed += _want(session, ctx=ctx, assignment=assignment, student=student, sub=sub, given=given,
                                 top=top, comment=comment, at=at)
    session.flush()
    return changed


def _want(session: Session, *, ctx: LtiContext, assignment: Assignment, student: Student, sub: str, given: float,
          top: float, comment: str, at: dt.datetime) -> int:
    row = session.scalars(select(LtiPassback).where(LtiPassback.context_pk == ctx.id,
                                                    LtiPassback.assignment_id == assignment.id,
                                                    LtiPassback.student_pk == student.id)).first()
    if row is not None and (row.score_given, row.score_maximum, row.lms_sub) == (given, top, sub):
        return 0
    if row is None:
        row = LtiPassback(context_pk=ctx.id, assignment_id=assignment.id, student_pk=student.id)
        session.add(row)
    row.lms_sub, row.score_given, row.score_maximum, row.comment = sub, given, top, comment
    row.scored_at, row.status, row.attempts, row.next_attempt_at, row.last_error = at, PassbackStatus.pending, 0, at, None
    return 1


def claim_due_passbacks(session: Session, *, lease_s: float, at: dt.datetime | None = None,
                        limit: int = 200) -> list[LtiPassback]:
    """Pending rows whose next attempt is due, each claimed by moving that attempt `lease_s` on.

    The claim is a conditional UPDATE, so two workers' passes never post one row twice at once;
    a pass that dies leaves its rows to be claimed again when the lease ends.
    """
    at = at or now()
    ids = list(session.scalars(select(LtiPassback.id).where(LtiPassback.status == PassbackStatus.pending,
                                                            LtiPassback.next_attempt_at <= at)
                               .order_by(LtiPassback.next_attempt_at).limit(limit)))
    claimed = []
    for pid in ids:
        result = session.execute(update(LtiPassback).where(
            LtiPassback.id == pid, LtiPassback.status == PassbackStatus.pending, LtiPassback.next_attempt_at <= at)
            .values(next_attempt_at=at + dt.timedelta(seconds=lease_s)))
        if result.rowcount == 1:
            claimed.append(pid)
    session.flush()
    return [session.get(LtiPassback, pid) for pid in claimed]


def passback_sent(session: Session, *, passback: LtiPassback, at: dt.datetime | None = None) -> None:
    passback.status, passback.sent_at, passback.last_error = PassbackStatus.sent, at or now(), None
    passback.attempts += 1
    session.flush()


def passback_failed(session: Session, *, passback: LtiPassback, error: str, backoff_s: float, backoff_max_s: float,
                    at: dt.datetime | None = None) -> None:
    """Still pending: the next attempt after a backoff that doubles per failure, up to a cap."""
    passback.attempts += 1
    delay = min(backoff_max_s, backoff_s * 2 ** min(passback.attempts - 1, 30))
    passback.next_attempt_at = (at or now()) + dt.timedelta(seconds=delay)
    passback.last_error = error[:1000]
    session.flush()


def list_passbacks(session: Session, *, limit: int = 500) -> list[tuple[LtiPassback, Student, Assignment]]:
    """Pending first (what a TA should look at), then the newest sent."""
    return [(p, s, a) for p, s, a in session.execute(
        select(LtiPassback, Student, Assignment).join(Student, Student.id == LtiPassback.student_pk)
        .join(Assignment, Assignment.id == LtiPassback.assignment_id)
        .order_by((LtiPassback.status == PassbackStatus.pending).desc(), LtiPassback.scored_at.desc()).limit(limit))]
