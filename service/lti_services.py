"""The tool calling the LMS (LTI Advantage, with pylti1p3): the roster from Names and Roles (NRPS),
grades to Assignment and Grade Services (AGS).

Both the API (the TA's buttons) and the worker (its periodic pass: grades whose release came,
retries) use this module, so it imports neither. Each call is signed with the tool's key
(a client assertion for an access token at the LMS's token URL).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.registration import Registration
from pylti1p3.service_connector import ServiceConnector
from sqlalchemy.orm import Session

from service.scoring import scale
from service.settings import ServiceSettings
from storage import lti as store
from storage.db import session_scope
from storage.course import list_students
from storage.models import Assignment, LtiContext, LtiPassback, LtiPlatform, now

log = logging.getLogger(__name__)
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
REQUEST_TIMEOUT_S = 20
CLAIM_LEASE_S = 300  # a pass that dies mid-way leaves its rows to the next pass after this


@lru_cache(maxsize=4)
def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def tool_jwks(settings: ServiceSettings) -> dict[str, list[dict]]:
    """The tool's public key as a JWKS (kid: the key's RFC 7638 thumbprint), for /lti/jwks."""
    return {"keys": [dict(Registration.get_jwk(public_pem(settings.resolved_lti_private_key())))]}


def registration_for(platform: LtiPlatform, settings: ServiceSettings) -> Registration:
    """pylti1p3's view of a registered LMS, with the tool's key pair."""
    private = settings.resolved_lti_private_key()
    reg = Registration()
    reg.set_issuer(platform.issuer).set_client_id(platform.client_id).set_key_set_url(platform.key_set_url)
    reg.set_auth_login_url(platform.auth_login_url).set_auth_token_url(platform.auth_token_url)
    if platform.auth_audience:
        reg.set_auth_audience(platform.auth_audience)
    reg.set_tool_private_key(private).set_tool_public_key(public_pem(private))
    return reg


def _connector(platform: LtiPlatform, settings: ServiceSettings) -> ServiceConnector:
    import requests

    http = requests.Session()
    http.request = _with_timeout(http.request)  # type: ignore[method-assign] - pylti1p3 sets none: a hung LMS
    return ServiceConnector(registration_for(platform, settings), requests_session=http)


def _with_timeout(request):  # noqa: ANN001, ANN202
    def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        kwargs.setdefault("timeout", REQUEST_TIMEOUT_S)
        return request(*args, **kwargs)
    return call


def tool_urls(base: str) -> dict[str, str]:
    """The tool's addresses that a TA pastes into the LMS, under the service's public address `base`
    (the /ta/lti page and `autograder lti add-platform` show the same)."""
    base = base.rstrip("/")
    return {"login": f"{base}/lti/login", "launch": f"{base}/lti/launch", "jwks": f"{base}/lti/jwks",
            "deep_link": f"{base}/lti/launch", "domain": base.split("://", 1)[-1].split("/", 1)[0]}


def max_score(settings: ServiceSettings) -> float:
    """The assignment's one maximum score (a missing student's 0 is out of it; a line item's maximum)."""
    return scale(settings).max_score


# ---------------------------------------------------------------- roster (NRPS)

@dataclass
class RosterSync:
    courses: int = 0
    learners: int = 0
    added: list[str] = field(default_factory=list)  # student ids made now
    skipped: list[str] = field(default_factory=list)  # why a member was not taken
    errors: list[str] = field(default_factory=list)


def sync_roster(settings: ServiceSettings) -> RosterSync:
    """Every LMS course with Names and Roles: its Learners join the roster (matched by LMS id,
    email, SIS id, else added) and become members the course's grades go to. Instructors and
    TAs are not students; they become TAs at their first launch."""
    out = RosterSync()
    with session_scope(settings.resolved_database_url()) as session:
        for ctx, platform in store.list_contexts(session):
            if not ctx.memberships_url:
                continue
            if not ctx.approved:  # a course a TA has not approved (e.g. a student's sandbox) adds no one
                out.skipped.append(f"{ctx.title or ctx.context_id}: not approved (TA's LMS page)")
                continue
            out.courses += 1
            try:
                members = NamesRolesProvisioningService(_connector(platform, settings),
                                                        {"context_memberships_url": ctx.memberships_url}).get_members()
            except Exception as exc:  # the LMS down or refusing: say so, keep the rest
                out.errors.append(f"{ctx.title or ctx.context_id}: {_why(exc)}")
                continue
            known = {s.id for s in list_students(session)}
            for m in members:
                if m.get("status", "Active") != "Active" or not store.is_learner(list(m.get("roles", []))):
                    continue
                out.learners += 1
                user = store.LmsUser(issuer=platform.issuer, sub=str(m["user_id"]), name=str(m.get("name") or "")[:200],
                                     email=str(m.get("email") or "")[:254],
                                     sourcedid=str(m.get("lis_person_sourcedid") or "")[:64])
                try:
                    student = store.student_for_launch(session, user=user, create=True)
                except store.LtiError as exc:
                    out.skipped.append(f"{user.name or user.sub}: {exc}")
                    continue
                if student.id not in known:
                    out.added.append(student.student_id)
                    known.add(student.id)
                store.add_member(session, context=ctx, issuer=platform.issuer, sub=user.sub)
    return out


# ---------------------------------------------------------------- grades (AGS)

@dataclass
class PassbackPass:
    queued: int = 0
    sent: int = 0
    failed: int = 0


def passback_pass(settings: ServiceSettings, *, at: dt.datetime | None = None) -> PassbackPass:
    """Queue the released grades the LMS lacks, then post what is due; a failure stays pending
    with a backoff (nothing is dropped). The worker's periodic pass and the TA's button call it."""
    at = at or now()
    out = PassbackPass()
    url = settings.resolved_database_url()
    with session_scope(url) as session:
        out.queued = store.queue_passbacks(session, max_score=max_score(settings), at=at,
                                           report_items=settings.report_item_list(),
                                           include_report=settings.lti_include_report)
        due = store.claim_due_passbacks(session, lease_s=CLAIM_LEASE_S, at=at)
        claimed = [p.id for p in due]
    connectors: dict[int, ServiceConnector] = {}
    for pid in claimed:
        with session_scope(url) as session:  # one commit per post: a crash loses no other row's state
            p = session.get(LtiPassback, pid)
            ctx = session.get(LtiContext, p.context_pk)
            platform = session.get(LtiPlatform, ctx.platform_id)
            assignment = session.get(Assignment, p.assignment_id)
            try:
                conn = connectors.get(platform.id) or connectors.setdefault(platform.id, _connector(platform, settings))
                _post(session, conn, ctx, assignment, p)
            except Exception as exc:
                store.passback_failed(session, passback=p, error=_why(exc), backoff_s=settings.lti_passback_backoff_s,
                                      backoff_max_s=settings.lti_passback_backoff_max_s, at=now())
                out.failed += 1
                log.warning("grade passback %s failed (attempt %d): %s", pid, p.attempts, _why(exc))
            else:
                store.passback_sent(session, passback=p)
                out.sent += 1
    return out


def _post(session: Session, conn: ServiceConnector, ctx: LtiContext, assignment: Assignment,
          p: LtiPassback) -> None:
    ags = AssignmentsGradesService(conn, {"scope": ctx.ags_scopes.split(), "lineitems": ctx.lineitems_url})
    item_url = store.line_item_url(session, context=ctx, assignment_id=assignment.id)
    if item_url is None:  # the assignment's LMS gradebook column, found by its resource id or made
        wanted = LineItem().set_label(assignment.title or assignment.name).set_score_maximum(p.score_maximum) \
            .set_resource_id(assignment.name).set_tag("autograder")
        item = ags.find_or_create_lineitem(wanted, find_by="resource_id")
        item_url = item.get_id()
        store.save_line_item(session, context=ctx, assignment_id=assignment.id, url=item_url)
    grade = Grade().set_score_given(p.score_given).set_score_maximum(p.score_maximum).set_user_id(p.lms_sub) \
        .set_timestamp(p.scored_at.replace(tzinfo=dt.timezone.utc).isoformat(timespec="milliseconds")) \
        .set_activity_progress("Completed").set_grading_progress("FullyGraded")
    if p.comment:
        grade.set_comment(p.comment)
    ags.put_grade(grade, LineItem({"id": item_url}))


def _why(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if response is not None and hasattr(response, "status_code"):
        return f"the LMS answered {response.status_code}: {response.text[:300]}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"
