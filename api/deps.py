"""Dependencies shared by the routes: settings, a database session, the TA (token or session)."""
from __future__ import annotations

from typing import Annotated, Iterator
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.settings import ServiceSettings
from storage.course import token_sha256
from storage.db import session_scope
from storage.files import FileStore
from storage.ta_accounts import api_token_name

__all__ = ["token_sha256"]  # api/cli.py imports it from here


def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


def get_session(settings: Annotated[ServiceSettings, Depends(get_settings)]) -> Iterator[Session]:
    with session_scope(settings.resolved_database_url()) as session:
        yield session


# scope="function": the session commits when the route returns, before the response is sent. FastAPI's
# default runs a yield dependency's exit after sending, so a TA's override answered 303 and the page it
# led to could read the old score (or the write could fail after "done" was said): tests/api/test_deps.py.
_session = Depends(get_session, scope="function")


def get_store(settings: Annotated[ServiceSettings, Depends(get_settings)]) -> FileStore:
    return FileStore(settings.var_dir / "files")


_bearer = HTTPBearer(auto_error=False)


def ta_name(session: Session, token: str) -> str | None:
    """The token's name; tokens are stored hashed (`autograder token create NAME`)."""
    return api_token_name(session, token=token)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def require_ta(request: Request, session: Annotated[Session, _session],
                     credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """`TaDep`: the TA's name, from a bearer token (scripts) or a signed-in TA's session (pages).

    A bearer token must be valid when given (403). Without one, a TA session counts (401 if
    there is none: a student's session is not a TA's). A session request that changes
    something must carry the page's CSRF token (`csrftoken` field or X-CSRF-Token header):
    these REST routes have no CsrfDep of their own, since a bearer token carries no ambient
    authority but a cookie does.
    """
    from api.auth import signed_in_ta, validate_csrf  # api.auth imports this module

    if credentials is not None:
        name = await run_in_threadpool(ta_name, session, credentials.credentials)
        if name is None:
            raise HTTPException(403, "This token is not valid.")
        return name
    name = await run_in_threadpool(signed_in_ta, request, session)
    if name is None:
        raise HTTPException(401, "This route needs a TA: sign in at /ta/signin, or send Authorization: Bearer "
                                 "<token>.", headers={"WWW-Authenticate": "Bearer"})
    if request.method not in SAFE_METHODS:
        await validate_csrf(request)
    return name


async def require_ta_page(request: Request, session: Annotated[Session, _session]) -> str:
    """`TaPageDep`, for the TA's HTML pages: the signed-in TA's name, or a 303 to the sign-in page.

    The redirect is to /ta/signin?next=<this page> (for a GET; other methods come back to
    /ta), and the sign-in sends the TA back there. Only the session counts: a browser sends
    no bearer token. A form POST to such a page must carry the page's `csrftoken`, checked
    here (adding CsrfDep too is harmless).
    """
    from api.auth import signed_in_ta, validate_csrf  # api.auth imports this module

    name = await run_in_threadpool(signed_in_ta, request, session)
    if name is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = back if request.method == "GET" else "/ta"
        raise HTTPException(303, "Sign in as a TA first.",
                            headers={"Location": "/ta/signin?" + urlencode({"next": target})})
    if request.method not in SAFE_METHODS:
        await validate_csrf(request)
    return name


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
SessionDep = Annotated[Session, _session]
StoreDep = Annotated[FileStore, Depends(get_store)]
TaDep = Annotated[str, Depends(require_ta)]
TaPageDep = Annotated[str, Depends(require_ta_page)]
