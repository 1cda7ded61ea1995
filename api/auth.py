"""Who is asking: a signed-in student or TA (session cookie), a TA's script (bearer token), or nobody.

Sessions are starlette's SessionMiddleware (itsdangerous-signed, HttpOnly, SameSite=Lax,
Secure on a request made over HTTPS, or always with AUTOGRADER_HTTPS); CSRF is fastapi-csrf-protect (`install_sessions`). A session names either
a student and the generation of the link they signed in with, or a TA account and the
generation of its password, never both: revoking or re-issuing a link, or changing or
disabling a TA's password, ends the sessions made with the old one.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi_csrf_protect.exceptions import CsrfProtectError
from fastapi_csrf_protect.flexible import CsrfProtect
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import SessionDep, SettingsDep
from api.proxy import client_address, is_https
from service.settings import ServiceSettings
from storage.course import student_by_pk
from storage.models import Paper, Student, Submission, TaAccount
from storage.ta_accounts import api_token_name, ta_account_by_pk

SESSION_KEY = "student"
TA_SESSION_KEY = "ta"
SESSION_COOKIE = "autograder_session"
CSRF_COOKIE = "autograder_csrf"
_bearer = HTTPBearer(auto_error=False)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _token_name(session: Session, token: str) -> str | None:
    """The REST token's name; tokens are stored hashed (`autograder token create NAME`)."""
    return api_token_name(session, token=token)


def sign_in_student(request: Request, student: Student) -> None:
    """The one way a student gets signed in: the personal link today, an LMS (LTI) launch later."""
    request.session.clear()  # a fresh session: nothing from before sign-in carries over
    request.session[SESSION_KEY] = [student.id, student.link_generation]


def sign_in_ta(request: Request, account: TaAccount) -> None:
    """A fresh session for the TA: a student signed in on this browser is signed out."""
    request.session.clear()
    request.session[TA_SESSION_KEY] = [account.id, account.generation]


def sign_out(request: Request) -> None:
    request.session.clear()


def signed_in_student(request: Request, session: Session, *, forget_stale: bool = True) -> Student | None:
    """The student this browser signed in as, or None. A session whose link was revoked or
    re-issued since is cleared (`forget_stale`; the upload path asks first without clearing,
    so that a student found answers "there is a roster" without a second query)."""
    value = request.session.get(SESSION_KEY)
    if not (isinstance(value, list) and len(value) == 2):
        return None
    student = student_by_pk(session, pk=int(value[0]))
    if student is None or student.link_generation != value[1]:
        if forget_stale:
            request.session.clear()  # revoked or re-issued since: sign in again
        return None
    return student


def signed_in_ta(request: Request, session: Session) -> str | None:
    """The name of the TA signed in on this browser, or None.

    None also when the account was disabled or its password changed since the sign-in (the
    session's generation is then old); such a session is cleared. A bearer token is not
    looked at here: pages use this, scripts go through `require_ta`.
    """
    value = request.session.get(TA_SESSION_KEY)
    if not (isinstance(value, list) and len(value) == 2):
        return None
    account = ta_account_by_pk(session, pk=int(value[0]))
    if account is None or account.disabled or account.generation != value[1]:
        request.session.clear()  # password changed or account disabled since: sign in again
        return None
    return account.name


def safe_next(value: str | None, default: str = "/ta") -> str:
    """Where to go after sign-in: a path on this site only, never another host.

    "//host" and "/\\host" are read by browsers as another host, so only "/" followed by
    something else counts; anything else goes to `default`.
    """
    if not value or len(value) > 2000 or not value.isprintable():
        return default
    return value if value.startswith("/") and not value.startswith(("//", "/\\")) else default


@dataclass(frozen=True)
class Viewer:
    student: Student | None = None
    ta: str | None = None  # the TA's name: a bearer token's, or a signed-in TA account's


def get_viewer(request: Request, session: SessionDep,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Viewer:
    """A bearer token must be valid when given (403 otherwise); the session cookie is optional.

    Without a token, a TA's session makes the viewer a TA, so a signed-in TA sees any
    submission through the same pages and routes as a token would.
    """
    ta = _token_name(session, credentials.credentials) if credentials else None
    if credentials and ta is None:
        raise HTTPException(403, "This token is not valid.")
    if credentials is None:
        ta = signed_in_ta(request, session)
    return Viewer(student=signed_in_student(request, session), ta=ta)


def can_view(viewer: Viewer, sub: Submission | Paper) -> bool:
    """A TA sees everything; a course submission (or report) only its student; an open self-check
    upload (no roster behind it) whoever holds its unguessable address."""
    if viewer.ta is not None or sub.student_pk is None:
        return True
    return viewer.student is not None and viewer.student.id == sub.student_pk


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


class MemoryStorageSweptEachSecond(MemoryStorage):
    """`limits`' in-process storage, its expired entries swept at most once a second.

    The library sweeps 10 ms after a hit whenever no sweep is pending: under an upload rush
    that started a thread and walked every key's list 100 times a second, each sweep holding
    the GIL and the key's lock beside the hits on the event loop (a hit took 1.2-1.7 ms in
    bench/upload_profile.py). The sweep only frees memory: a moving window's hit and test read
    the entries' times, not the sweep, so the limits count exactly as before. The timer is a
    daemon thread, so a process is not held a second at exit.
    """

    SWEEP_S = 1.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # the library's private hook, overridden by name
        if not self.timer.is_alive():
            self.timer = threading.Timer(self.SWEEP_S, self._MemoryStorage__expire_events)
            self.timer.daemon = True
            self.timer.start()


def limit_storage(uri: str) -> Storage:
    """The storage for a `limits` URI: memory:// swept once a second, any other as the library makes it."""
    if uri.split("://", 1)[0] == "memory":
        return MemoryStorageSweptEachSecond(uri)
    return storage_from_string(uri)


class ClientLimiter:
    """Requests per client address per minute, with the maintained `limits` library."""

    def __init__(self, storage_uri: str, per_minute: int) -> None:
        self._limiter = MovingWindowRateLimiter(limit_storage(storage_uri))
        self._rate = parse(f"{per_minute}/minute")
        self.per_minute = per_minute

    def hit(self, request: Request, what: str) -> None:
        address = client_address(request)
        if not self._limiter.hit(self._rate, what, address):
            raise HTTPException(429, f"Too many requests from your address ({self.per_minute} a minute); "
                                     "wait a minute and try again.")


async def client_limiter(request: Request, settings: SettingsDep) -> ClientLimiter:
    """One per app, made on first use (async: no threadpool hop for an attribute read)."""
    limiter = getattr(request.app.state, "client_limiter", None)
    if limiter is None:
        limiter = request.app.state.client_limiter = ClientLimiter(settings.rate_limit_storage,
                                                                   settings.client_rate_per_minute)
    return limiter


LimiterDep = Annotated[ClientLimiter, Depends(client_limiter)]


class SignInLimiter:
    """Failed password sign-ins per account name and per client address, per 15 minutes (`limits`).

    Only failures count, so a TA who mistypes once is not locked out. A guesser gets `per_name`
    tries per name from one address, and `per_address` per address however many names they
    try. The per-name count is kept per address (plus a cap of 10 × `per_name` over all
    addresses), so a student who knows a TA's name and types wrong passwords locks out only
    their own address, not the TA at the deadline. Every attempt also counts against the
    ClientLimiter.
    """

    def __init__(self, storage_uri: str, per_name: int, per_address: int) -> None:
        self._limiter = MovingWindowRateLimiter(limit_storage(storage_uri))
        self._per_name = parse(f"{per_name}/15 minutes")
        self._per_name_anywhere = parse(f"{10 * per_name}/15 minutes")
        self._per_address = parse(f"{per_address}/15 minutes")

    def _keys(self, request: Request, name: str) -> list[tuple]:
        address = client_address(request)
        who = name.strip().lower()[:100]
        return [(self._per_name, "ta-signin-name", who, address),
                (self._per_name_anywhere, "ta-signin-name-anywhere", who),
                (self._per_address, "ta-signin-address", address)]

    def allowed(self, request: Request, name: str) -> bool:
        """Whether this name, from this address, may try a password now."""
        return all(self._limiter.test(rate, *ids) for rate, *ids in self._keys(request, name))

    def failed(self, request: Request, name: str) -> None:
        for rate, *ids in self._keys(request, name):
            self._limiter.hit(rate, *ids)


async def signin_limiter(request: Request, settings: SettingsDep) -> SignInLimiter:
    limiter = getattr(request.app.state, "signin_limiter", None)
    if limiter is None:
        limiter = request.app.state.signin_limiter = SignInLimiter(
            settings.rate_limit_storage, settings.ta_signin_failures_per_name, settings.ta_signin_failures_per_address)
    return limiter


SignInLimiterDep = Annotated[SignInLimiter, Depends(signin_limiter)]


class SessionsSecureOverHttps:
    """Starlette's SessionMiddleware, whose Secure flag is fixed when it is made, chosen per
    request: Secure when the request came over HTTPS (the scheme a trusted proxy forwarded,
    api/proxy.py), else only when the TA forced it. Two instances, so no flag is shared
    between concurrent requests."""

    def __init__(self, app: ASGIApp, *, force_secure: bool, **kwargs: object) -> None:
        self._plain = SessionMiddleware(app, https_only=force_secure, **kwargs)  # type: ignore[arg-type]
        self._secure = SessionMiddleware(app, https_only=True, **kwargs)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self._secure if scope.get("scheme") in ("https", "wss") else self._plain
        await chosen(scope, receive, send)


def install_sessions(app: FastAPI, settings: ServiceSettings) -> None:
    """Signed session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) and the CSRF settings.

    CSRF is fastapi-csrf-protect's double-submit token: a signed HttpOnly cookie and the same
    token in the form's `csrftoken` field (or an X-CSRF-Token header), checked by `csrf_protect`.
    """
    key = settings.resolved_secret_key()
    app.add_middleware(SessionsSecureOverHttps, secret_key=key, session_cookie=SESSION_COOKIE,
                       max_age=settings.session_max_age_s, same_site="lax", force_secure=settings.https)

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
    """Set the signed cookie for the token the page's forms carry (if the page had a form);
    Secure over HTTPS like the session's (the library's flag is one for all requests)."""
    pair = getattr(request.state, "csrf", None)
    if pair is not None:
        settings: ServiceSettings = request.app.state.settings
        response.set_cookie(CSRF_COOKIE, pair[1], max_age=settings.session_max_age_s, path="/", httponly=True,
                            samesite="lax", secure=is_https(request, forced=settings.https))
    return response


async def csrf_protect(request: Request) -> None:
    """Refuse a cookie-carrying form or upload without the page's token.

    A request without our session cookie carries no ambient authority (a script, a first
    visit), nor does one with a bearer token; those pass. Runs after FastAPI parsed the form.
    """
    if request.headers.get("authorization", "").startswith("Bearer ") or SESSION_COOKIE not in request.cookies:
        return
    await validate_csrf(request)


async def validate_csrf(request: Request) -> None:
    """The page's token must come with the request (`csrftoken` field or X-CSRF-Token header).

    Used alone where even a request without a session must prove it came from our page:
    the sign-in form (else another site could sign a browser in to the attacker's account).
    """
    try:
        await CsrfProtect().validate_csrf(request)
    except (CsrfProtectError, ValueError) as exc:  # ValueError: a body that is no form (the library parses it)
        raise HTTPException(403, "This form has expired or did not come from this site (CSRF check): reload "
                                 "the page and try again. Nothing was stored.") from exc


CsrfDep = Depends(csrf_protect)


async def require_ta(request: Request, session: SessionDep,
                     credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """`TaDep`: the TA's name, from a bearer token (scripts) or a signed-in TA's session (pages).

    A bearer token must be valid when given (403). Without one, a TA session counts (401 if
    there is none: a student's session is not a TA's). A session request that changes
    something must carry the page's CSRF token (`csrftoken` field or X-CSRF-Token header):
    these REST routes have no CsrfDep of their own, since a bearer token carries no ambient
    authority but a cookie does.
    """
    if credentials is not None:
        name = await run_in_threadpool(_token_name, session, credentials.credentials)
        if name is None:
            raise HTTPException(403, "This token is not valid.")
        return name
    name = await run_in_threadpool(signed_in_ta, request, session)
    if name is None:
        raise HTTPException(401, "This route needs a TA: sign in at /ta/signin, or send Authorization: Bearer "
                                 "<token>.", headers={"WWW-Authenticate": "Bearer"})
    if request.method not in SAFE_METHODS:
        try:
            await validate_csrf(request)
        except HTTPException as exc:  # likely a script holding a browser's cookie: say how scripts sign in
            raise HTTPException(403, f"{exc.detail} A script sends Authorization: Bearer <token> instead of a "
                                     "session cookie (`autograder token create NAME` prints one).") from exc
    return name


async def require_ta_page(request: Request, session: SessionDep) -> str:
    """`TaPageDep`, for the TA's HTML pages: the signed-in TA's name, or a 303 to the sign-in page.

    The redirect is to /ta/signin?next=<this page> (for a GET; other methods come back to
    /ta), and the sign-in sends the TA back there. Only the session counts: a browser sends
    no bearer token. A form POST to such a page must carry the page's `csrftoken`, checked
    here (adding CsrfDep too is harmless).
    """
    name = await run_in_threadpool(signed_in_ta, request, session)
    if name is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = back if request.method == "GET" else "/ta"
        raise HTTPException(303, "Sign in as a TA first.",
                            headers={"Location": "/ta/signin?" + urlencode({"next": target})})
    if request.method not in SAFE_METHODS:
        await validate_csrf(request)
    return name


TaDep = Annotated[str, Depends(require_ta)]
TaPageDep = Annotated[str, Depends(require_ta_page)]
