"""Request bodies capped while they stream, and a TA's token checked before the body is read.

Starlette parses a whole multipart form before FastAPI runs a route's dependencies, and
writes each file part over 1 MiB to a temporary file: a 3 GiB upload with a wrong access
code was spooled to /tmp before the 403. Two guards run before any route:

- the cap: Starlette's own `RequestBodyLimitMiddleware`, with the cap chosen per path (one
  file for a student, a zip for a TA, small forms elsewhere). A declared Content-Length over
  the cap is refused before a byte is read; a chunked body is cut off as it passes the cap.
  A student's cap (the code and a report PDF) stays under Starlette's spool size, raised to it
  by `keep_in_memory`, so their form never touches disk.
- the gate: a check that needs only the headers (a TA's bearer token) runs first, so a
  wrong token is refused before its body, up to the TA's larger cap, is read.

This module only picks the cap and runs the gate (a few lines; Starlette does the counting).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY, RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

def keep_in_memory(max_bytes: int) -> None:
    """File parts up to `max_bytes` stay in memory (Starlette spools each over 1 MiB to a temp
    file): a student's 10 MiB report must not reach the API host's disk either. Starlette sets
    this per class only, so it is set here once, when the app is made."""
    from starlette.formparsers import MultiPartParser

    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_bytes)


# Room for the multipart boundaries, part headers and small form fields beside a file.
FORM_OVERHEAD = 64 << 10

# A gate sees the request without its body; it returns the refusal, or None to let the body in.
Gate = Callable[[Request], Awaitable[Response | None]]


@dataclass(frozen=True)
class Cap:
    bytes: int
    message: str  # what the 413 says, in words for whoever sent it


@dataclass(frozen=True)
class BodyCaps:
    """Caps by exact path (every method), a default for the rest, and gates by (method, path)."""

    default: Cap
    by_path: Mapping[str, Cap] = field(default_factory=dict)
    gates: Mapping[tuple[str, str], Gate] = field(default_factory=dict)
    # Builds the 413 for a path (HTML for the page's form, JSON for the API).
    refuse: Callable[[Scope, Cap], Response] = lambda scope, cap: JSONResponse({"detail": cap.message}, 413)

    def cap(self, path: str) -> Cap:
        return self.by_path.get(path, self.default)


class CapBodies:
    """ASGI middleware: run the path's gate, then the rest of the app under the path's body cap."""

    def __init__(self, app: ASGIApp, caps: BodyCaps) -> None:
        self.app = app
        self.caps = caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate = self.caps.gates.get((scope["method"], scope["path"]))
        if gate is not None:
            refusal = await gate(Request(scope))  # no receive: the gate cannot read the body
            if refusal is not None:
                await _close_after(refusal)(scope, receive, send)
                return
        cap = self.caps.cap(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > cap.bytes:  # said so up front: refused unread
            await _close_after(self.caps.refuse(scope, cap))(scope, receive, send)
            return
        # A chunked or understated body: Starlette counts as it streams and raises a 413 at the cap,
        # which the app's HTTP error handler words with too_large().
        await RequestBodyLimitMiddleware(self.app, cap.bytes)(scope, receive, send)

    def too_large(self, scope: Scope) -> Response:
        return self.caps.refuse(scope, self.caps.cap(scope["path"]))


def _close_after(response: Response) -> Response:
    response.headers["Connection"] = "close"  # the body left unread is not worth reading
    return response


def is_body_cap(exc: HTTPException, scope: Scope) -> bool:
    """Whether a 413 came from Starlette's body cap (not from a route's own size check)."""
    return exc.status_code == 413 and MAX_BODY_SIZE_SCOPE_KEY in scope and exc.detail == "Content Too Large"


def ta_gate(database_url: str) -> Gate:
    """A TA route's gate: the bearer token must be valid before its (large) body is read."""
    from fastapi.concurrency import run_in_threadpool

    from storage.db import session_scope
    from storage.ta_accounts import api_token_name

    def valid(token: str) -> bool:
        with session_scope(database_url) as session:
            return api_token_name(session, token=token) is not None

    async def gate(request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return JSONResponse({"detail": "This route needs a TA token: Authorization: Bearer <token>."}, 401,
                                headers={"WWW-Authenticate": "Bearer"})
        if not await run_in_threadpool(valid, token.strip()):
            return JSONResponse({"detail": "This token is not valid."}, 403)
        return None

    return gate
