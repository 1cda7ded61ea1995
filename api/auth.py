"""Who is asking: a signed-in student (session cookie), a TA (bearer token), or nobody.

Sessions are starlette's SessionMiddleware (itsdangerous-signed, HttpOnly, SameSite=Lax,
Secure behind HTTPS); CSRF is asgi-csrf (api/main.py). A session names the student and the
generation of the link they signed in with, so revoking or re-issuing a link ends it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi_csrf_protect.exceptions import CsrfProtectError
from fastapi_csrf_protect.flexible import CsrfProtect
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware

from api.deps import SessionDep, SettingsDep, ta_name
from service.settings import ServiceSettings
from storage.course import student_by_pk
from storage.models import Student, Submission

SESSION_KEY = "student"
SESSION_COOKIE = "autograder_session"
CSRF_COOKIE = "autograder_csrf"
_bearer = HTTPBearer(auto_error=False)


def sign_in_student(request: Request, student: Student) -> None:
    """The one way a student gets signed in: the personal link today, an LMS (LTI) launch later."""
    request.session.clear()  # a fresh session: nothing from before sign-in carries over
    request.session[SESSION_KEY] = [student.id, student.link_generation]


def sign_out(request: Request) -> None:
    request.session.clear()


def signed_in_student(request: Request, session: Session) -> Student | None:
    value = request.session.get(SESSION_KEY)
    if not (isinstance(value, list) and len(value) == 2):
        return None
    student = student_by_pk(session, pk=int(value[0]))
    if student is None or student.link_generation != value[1]:
        request.session.clear()  # revoked or re-issued since: sign in again
        return None
    return student


@dataclass(frozen=True)
class Viewer:
    student: Student | None = None
    ta: str | None = None  # the TA token's name


def get_viewer(request: Request, session: SessionDep,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Viewer:
    """A bearer token must be valid when given (403 otherwise); the session cookie is optional."""
    ta = ta_name(session, credentials.credentials) if credentials else None
    if credentials and ta is None:
        raise HTTPException(403, "This token is not valid.")
    return Viewer(student=signed_in_student(request, session), ta=ta)


def can_view(viewer: Viewer, sub: Submission) -> bool:
    """A TA sees everything; a course submission only its student; an open self-check upload
    (no roster behind it) whoever holds its unguessable address."""
    if viewer.ta is not None or sub.student_pk is None:
        return True
    return viewer.student is not None and viewer.student.id == sub.student_pk


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


class ClientLimiter:
    """Requests per client address per minute, with the maintained `limits` library."""

    def __init__(self, storage_uri: str, per_minute: int) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._rate = parse(f"{per_minute}/minute")
        self.per_minute = per_minute

    def hit(self, request: Request, what: str) -> None:
        address = request.client.host if request.client else "unknown"
        if not self._limiter.hit(self._rate, what, address):
            raise HTTPException(429, f"Too many requests from your address ({self.per_minute} a minute); "
                                     "wait a minute and try again.")


def client_limiter(request: Request, settings: SettingsDep) -> ClientLimiter:
    limiter = getattr(request.app.state, "client_limiter", None)
    if limiter is None:
        limiter = request.app.state.client_limiter = ClientLimiter(settings.rate_limit_storage,
                                                                   settings.client_rate_per_minute)
    return limiter


LimiterDep = Annotated[ClientLimiter, Depends(client_limiter)]


def install_sessions(app: FastAPI, settings: ServiceSettings) -> None:
    """Signed session cookie (HttpOnly, SameSite=Lax, Secure behind HTTPS) and the CSRF settings.

    CSRF is fastapi-csrf-protect's double-submit token: a signed HttpOnly cookie and the same
    token in the form's `csrftoken` field (or an X-CSRF-Token header), checked by `csrf_protect`.
    """
    key = settings.resolved_secret_key()
    app.add_middleware(SessionMiddleware, secret_key=key, session_cookie=SESSION_COOKIE,
                       max_age=settings.session_max_age_s, same_site="lax", https_only=settings.https)

    @CsrfProtect.load_config
    def _csrf_config() -> list[tuple[str, object]]:
        return [("secret_key", key), ("cookie_key", CSRF_COOKIE), ("token_key", "csrftoken"),
                ("cookie_samesite", "lax"), ("cookie_secure", settings.https),
                ("max_age", settings.session_max_age_s)]


def csrf_token(request: Request) -> str:
    """A fresh token for a form's hidden `csrftoken` field; `attach_csrf` sets its signed cookie."""
    if getattr(request.state, "csrf", None) is None:
        request.state.csrf = CsrfProtect().generate_csrf_tokens()
    return request.state.csrf[0]


def attach_csrf(request: Request, response: Response) -> Response:
    """Set the signed cookie for the token the page's forms carry (if the page had a form)."""
    pair = getattr(request.state, "csrf", None)
    if pair is not None:
        CsrfProtect().set_csrf_cookie(pair[1], response)
    return response


async def csrf_protect(request: Request) -> None:
    """Refuse a cookie-carrying form or upload without the page's token.

    A request without our session cookie carries no ambient authority (a script, a first
    visit), nor does one with a bearer token; those pass. Runs after FastAPI parsed the form.
    """
    if request.headers.get("authorization", "").startswith("Bearer ") or SESSION_COOKIE not in request.cookies:
        return
    try:
        await CsrfProtect().validate_csrf(request)
    except CsrfProtectError as exc:
        raise HTTPException(403, "This form has expired or did not come from this site (CSRF check): reload "
                                 "the page and try again. Nothing was stored.") from exc


CsrfDep = Depends(csrf_protect)
