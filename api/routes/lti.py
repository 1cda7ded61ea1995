"""LMS launches (LTI 1.3): OIDC login initiation, the signed launch, the tool's JWKS, and the TA's
LTI page with the values to paste into the LMS.

HTTP only: the protocol is api/lti.py (pylti1p3), who the user is in the course is
storage/lti.py; a verified launch signs in through api.auth like a personal link does.
No CSRF token on /lti/login and /lti/launch: they are the LMS's requests, and what protects
them is the state cookie, the one-use nonce and the platform's signature.
"""
from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api import lti
from api.auth import LimiterDep, TaPageDep, attach_csrf, sign_in_student, sign_in_ta
from api.deps import SessionDep, SettingsDep
from api.routes.pages import templates
from service import lti_services
from service.settings import ServiceSettings
from storage import course
from storage import lti as store

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store"}


def _refused(request: Request, message: str, status_code: int) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {"message": message}, status_code=status_code,
                                      headers=NO_STORE)


def _login(request: Request, session: SessionDep, settings: ServiceSettings, params: dict[str, str]) -> Response:
    req = lti.LoginRequest(params={k: v for k, v in params.items() if v}, cookies=request.cookies,
                           secure=settings.https or request.url.scheme == "https")
    try:
        return lti.oidc_redirect(session, settings, req, launch_url=lti.tool_urls(settings, request)["launch"])
    except (lti.OIDCException, lti.LtiException) as exc:
        return _refused(request, f"This LMS login could not start: {exc}. The TA must register the LMS with "
                                 "`autograder lti add-platform` (see the TA's LTI page).", 400)


@router.get("/lti/login", response_model=None)
def login_get(request: Request, session: SessionDep, settings: SettingsDep, limiter: LimiterDep,
              iss: str = "", login_hint: str = "", target_link_uri: str = "", lti_message_hint: str = "",
              lti_deployment_id: str = "", client_id: str = "") -> Response:
    """OIDC third-party-initiated login (GET or POST, as the LMS likes): off to the LMS's authorization URL."""
    limiter.hit(request, "lti-login")
    return _login(request, session, settings, dict(iss=iss, login_hint=login_hint, target_link_uri=target_link_uri,
                                                   lti_message_hint=lti_message_hint,
                                                   lti_deployment_id=lti_deployment_id, client_id=client_id))


@router.post("/lti/login", response_model=None)
def login_post(request: Request, session: SessionDep, settings: SettingsDep, limiter: LimiterDep,
               iss: Annotated[str, Form()] = "", login_hint: Annotated[str, Form()] = "",
               target_link_uri: Annotated[str, Form()] = "", lti_message_hint: Annotated[str, Form()] = "",
               lti_deployment_id: Annotated[str, Form()] = "", client_id: Annotated[str, Form()] = "") -> Response:
    limiter.hit(request, "lti-login")
    return _login(request, session, settings, dict(iss=iss, login_hint=login_hint, target_link_uri=target_link_uri,
                                                   lti_message_hint=lti_message_hint,
                                                   lti_deployment_id=lti_deployment_id, client_id=client_id))


@router.post("/lti/launch", response_model=None)
def launch(request: Request, session: SessionDep, settings: SettingsDep, limiter: LimiterDep,
           id_token: Annotated[str, Form(max_length=64 << 10)] = "",
           state: Annotated[str, Form(max_length=200)] = "") -> Response:
    """The LMS's signed launch: a student lands signed in on the upload page, an Instructor or TA on /ta."""
    limiter.hit(request, "lti-launch")
    req = lti.LoginRequest(params={"id_token": id_token, "state": state}, cookies=request.cookies,
                           secure=settings.https or request.url.scheme == "https")
    try:
        verified = lti.verified_launch(session, settings, req)
    except lti.LtiException as exc:
        log.info("LTI launch refused: %s", exc)
        return _refused(request, f"This LMS launch was refused: {exc}. Open the assignment from the LMS again; "
                                 "if it keeps failing, show this message to your TA.", 403)
    if verified.message_type == "LtiDeepLinkingRequest":
        return _deep_link(request, session, settings, verified)
    if verified.message_type != "LtiResourceLinkRequest":
        return _refused(request, "Only assignment links and deep linking are supported by this tool.", 400)
    if verified.context is not None:  # known from now on (listed on /ta/lti, to approve)
        c = verified.context
        store.record_launch_course(session, issuer=verified.user.issuer, client_id=verified.client_id,
                                   sub=verified.user.sub, context_id=c.context_id, title=c.title,
                                   memberships_url=c.memberships_url, lineitems_url=c.lineitems_url,
                                   ags_scopes=c.ags_scopes)
    try:
        return _sign_in(request, session, settings, verified)
    except store.LtiError as exc:
        session.commit()  # the course stays recorded, for a TA to approve
        return _refused(request, str(exc), 403)


def _deep_link(request: Request, session: SessionDep, settings: ServiceSettings,
               verified: lti.VerifiedLaunch) -> HTMLResponse:
    """The LMS's content picker: an Instructor chooses which assignment to add (a student may not)."""
    if not verified.instructor:
        return _refused(request, "Only an Instructor or TA of the LMS course may add the assignment.", 403)
    top = lti_services.max_score(settings)
    choices = lti.deep_link_choices(verified, assignments=[(a.name, a.title, top) for a in course.list_assignments(session)],
                                    launch_url=lti.tool_urls(settings, request)["launch"])
    if not choices:
        return _refused(request, "The LMS accepts no LTI resource links in this place.", 400)
    return templates.TemplateResponse(request, "lti_deep_link.html", {"choices": choices}, headers=NO_STORE)


def _sign_in(request: Request, session: SessionDep, settings: ServiceSettings,
             verified: lti.VerifiedLaunch) -> RedirectResponse:
    """A TA session for an Instructor or TA of the LMS course, else the roster student's; LtiError if neither."""
    if verified.instructor:
        if not settings.lti_instructors_are_tas:
            raise store.LtiError("Instructor launches are turned off here; sign in at /ta/signin.")
        # Anyone can be the Instructor of a sandbox course: only an approved course's make TAs.
        ctx = (store.find_context(session, issuer=verified.user.issuer, client_id=verified.client_id,
                                  context_id=verified.context.context_id) if verified.context is not None else None)
        if ctx is None or not ctx.approved:
            raise store.LtiError("This LMS course is not approved for TA access here. A TA approves it on the TA's "
                                 "LMS page (/ta/lti) or with `autograder lti approve-course`; then open the tool "
                                 "from the course again.")
        sign_in_ta(request, store.ta_for_launch(session, user=verified.user))
        return RedirectResponse("/ta", status_code=303, headers=NO_STORE)
    student = store.student_for_launch(session, user=verified.user, create=settings.lti_create_students)
    sign_in_student(request, student)
    return RedirectResponse("/", status_code=303, headers=NO_STORE)


@router.get("/lti/jwks")
def jwks(settings: SettingsDep) -> JSONResponse:
    """The tool's public key: the LMS checks the tool's signed requests (grades, roster) with it."""
    return JSONResponse(lti.tool_jwks(settings), headers={"Cache-Control": "public, max-age=3600"})


@router.get("/ta/lti", response_class=HTMLResponse)
def ta_lti(request: Request, session: SessionDep, settings: SettingsDep, ta: TaPageDep, done: str = "") -> HTMLResponse:
    """The registered LMSs and what to paste into each, the LMS courses seen, and the grade passbacks."""
    context = {"done": done[:300], "courses": store.list_contexts(session), "passbacks": store.list_passbacks(session),
               "ta": ta, "here": "lti", "urls": lti.tool_urls(settings, request),
               "platforms": [(p, store.platform_deployments(p)) for p in store.list_platforms(session)],
               "create_students": settings.lti_create_students, "https": settings.https,
               "public_url": settings.public_url}
    return attach_csrf(request, templates.TemplateResponse(request, "ta_lti.html", context, headers=NO_STORE))


@router.get("/ta/lti/jwk")
def ta_lti_jwk(settings: SettingsDep, ta: TaPageDep) -> JSONResponse:  # noqa: ARG001 - a TA only
    """The public JWK alone (Canvas's "Public JWK" field, when it cannot reach /lti/jwks)."""
    return JSONResponse(lti.tool_jwks(settings)["keys"][0], headers=NO_STORE)


@router.post("/ta/lti/courses/{pk}/approve")
def ta_approve_course(session: SessionDep, ta: TaPageDep, pk: int) -> RedirectResponse:
    """A TA approves an LMS course seen in a launch: its Instructors become TAs, its roster and grades flow."""
    ctx = store.context_by_pk(session, pk=pk)
    if ctx is None:
        raise HTTPException(404, "No such LMS course.")
    platform = store.platform_of(session, context=ctx)
    store.approve_context(session, issuer=platform.issuer, context_id=ctx.context_id, by=ta)
    return RedirectResponse("/ta/lti?done=" + quote(f"Approved {ctx.title or ctx.context_id}."), status_code=303)


@router.post("/ta/lti/sync-roster")
def ta_sync_roster(settings: SettingsDep, ta: TaPageDep) -> RedirectResponse:  # noqa: ARG001 - a TA only
    """Names and Roles: the LMS courses' Learners join the roster."""
    out = lti_services.sync_roster(settings)
    done = (f"Roster synced from {out.courses} LMS course(s): {out.learners} learner(s), {len(out.added)} added"
            + "".join(f"; {m}" for m in (out.errors + out.skipped)[:5]))
    return RedirectResponse("/ta/lti?" + urlencode({"done": done}), status_code=303)


@router.post("/ta/lti/passback")
def ta_passback(settings: SettingsDep, ta: TaPageDep) -> RedirectResponse:  # noqa: ARG001 - a TA only
    """Post the released grades now (the workers also do it every recovery interval)."""
    out = lti_services.passback_pass(settings)
    done = f"Grades: {out.queued} new or changed, {out.sent} posted, {out.failed} to retry"
    return RedirectResponse("/ta/lti?" + urlencode({"done": done}), status_code=303)
