"""Every refusal in the form its reader can use: JSON for scripts, a page for people.

`/api/...`, the live streams (`.../events`) and a request that asks for JSON (`Accept:
application/json` without text/html) get `{"detail": ...}` as before. A browser gets a page
styled like the others, with a viewport for phones and a way on (sign in, your submissions):
a student who opens a result link signed out or on another device must read that the work
is safe and how to reach it, not `{"detail": "No submission has this address."}`.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from storage import course
from storage.db import session_scope

log = logging.getLogger(__name__)

TITLES = {400: "This request could not be read", 401: "Sign in first", 403: "Not allowed",
          404: "Page not found", 405: "Not available this way", 409: "Not possible now",
          413: "Not accepted: too large", 415: "Not accepted", 422: "Not accepted", 429: "Too many requests",
          500: "Something went wrong on the server", 503: "The service is busy"}


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path == "/api" or path.endswith("/events") or path in ("/healthz", "/openapi.json"):
        return True
    accept = request.headers.get("accept", "").lower()
    return ("application/json" in accept or "text/event-stream" in accept) and "text/html" not in accept


def _signed_in(request: Request, database_url: str) -> tuple[bool, bool]:
    """(is the course mode on, is a student or TA signed in on this browser): the page's words depend on
    them, never on whether the address exists (a 404 must not tell another student's result from none)."""
    from api.auth import SESSION_KEY, TA_SESSION_KEY  # api.auth imports the routes' dependencies

    session_data = request.scope.get("session") or {}
    with session_scope(database_url) as s:
        roster = course.has_roster(s)
    return roster, SESSION_KEY in session_data or TA_SESSION_KEY in session_data


def problem_context(request: Request, status: int, detail: str, *, roster: bool, signed_in: bool) -> dict[str, Any]:
    """The words of an error page: a title, what happened, what to do, and links on."""
    path = request.url.path
    links = [("/", "Your submissions and the upload form")]
    more: list[str] = []
    title, message = TITLES.get(status, "This did not work"), detail
    if status == 404 and path.startswith("/s/") and roster:
        title = "This result is not shown on this browser"
        message = ("Your work is safe: every upload is kept and graded whatever browser it came from. A result "
                   "page opens only in a browser signed in as the student who submitted it, so this link does "
                   "not open signed out or on another device.")
        if signed_in:
            more.append("This browser is signed in, but not as the student of this result (or the address is "
                        "mistyped). Your own results are listed under “Your submissions” on the upload page.")
        else:
            more.append("Sign in on this device with your personal sign-in link (from your TA's email or the "
                        "course page), then open this address again, or find the result under “Your "
                        "submissions” on the upload page. Lost your link? Ask your TA for a new one: your "
                        "submissions stay.")
        links.append(("/ta/signin?" + urlencode({"next": path}), "TA? Sign in as a TA"))
    elif status == 404 and path.startswith("/s/"):
        title, message = "No result here", ("No upload has this address on this server. Check the address, or "
                                            "upload your file again from the upload form.")
    elif status == 404:
        message = "There is no page at this address. Check the address, or start from the upload form."
        links.append(("/ta", "TA pages"))
    elif status == 429:
        more.append("Nothing is lost: wait a minute, then go back and try again.")
    return {"title": title, "message": message, "more": more, "links": links, "status": status}


def _page(request: Request, templates: Jinja2Templates, status: int, detail: str,
          headers: dict[str, str] | None) -> Response:
    settings = request.app.state.settings
    try:
        roster, signed_in = _signed_in(request, settings.resolved_database_url())
    except Exception:  # noqa: BLE001 - the database is down: the page still says what happened
        log.exception("error page: the database could not be read")
        roster, signed_in = True, False
    context = problem_context(request, status, detail, roster=roster, signed_in=signed_in)
    return templates.TemplateResponse(request, "problem.html", context, status_code=status, headers=headers)


async def error_response(request: Request, templates: Jinja2Templates, status: int, detail: Any,
                         headers: dict[str, str] | None = None) -> Response:
    """JSON `{"detail": ...}` for scripts, a page for a browser; a redirect stays a redirect."""
    if 300 <= status < 400 or status == 304:
        return Response(status_code=status, headers=headers)
    if wants_json(request):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    text = detail if isinstance(detail, str) else "The request was not understood."
    return await run_in_threadpool(_page, request, templates, status, text, headers)


def install_error_pages(app: FastAPI, templates: Jinja2Templates, body_cap: Any) -> None:
    """`body_cap(request, exc)`: a response when Starlette's body cap cut the request, else None."""

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        capped = body_cap(request, exc)
        if capped is not None:
            return capped
        return await error_response(request, templates, exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if wants_json(request):
            from fastapi.encoders import jsonable_encoder

            errors = jsonable_encoder(exc.errors())
            for e in errors:  # a script that sent JSON (or nothing) where a file goes: say how to send it
                loc = e.get("loc") or []
                if e.get("type") == "missing" and list(loc[:1]) == ["body"] and loc[-1] in ("file", "files"):
                    e["msg"] = (f"Field required: send the file as multipart/form-data, e.g. curl -F {loc[-1]}=@FILE "
                                "(a JSON body is not read here).")
            return JSONResponse({"detail": errors}, status_code=422)
        fields = ", ".join(str(e.get("loc", ["", "?"])[-1]) for e in exc.errors()) or "a field"
        return await error_response(request, templates, 422, f"The form came without what it needs ({fields}): go "
                                    "back, fill it in and send it again. Nothing was stored.")

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:  # logged by Starlette after this answer
        return await error_response(request, templates, 500, "The server failed on this request; the TA can find "
                                    "it in the service's log. Anything uploaded before is kept.")
