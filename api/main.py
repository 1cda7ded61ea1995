"""The FastAPI app: the web page, the REST API, OpenAPI docs at /docs."""
from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from api.limits import FORM_OVERHEAD, BodyCaps, Cap, CapBodies, is_body_cap, keep_in_memory, ta_gate
from api.auth import install_sessions
from api.errors import install_error_pages, wants_json
from api.proxy import install_proxy_trust
from api.routes import course, lti, pages, rest, signin, ta, ta_signin
from service.settings import ServiceSettings as Settings
from storage.db import get_engine

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("autograder")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    get_engine(settings.resolved_database_url())  # creates the tables before the first request
    # /docs and /redoc load Swagger UI and ReDoc from the package's files, not from a CDN.
    app = FastAPIOffline(title="autograder", version="0.1.0", favicon_url="/favicon.ico", redoc_url=None,
                         description="Grades resnet50_skeleton.py submissions: upload, follow, export.")
    app.add_api_route("/redoc", _redoc, include_in_schema=False)
    app.state.settings = settings
    if not settings.public_url:  # startup: the links students get would point wherever a TA's browser was
        log.warning("AUTOGRADER_PUBLIC_URL is not set: sign-in links are made from the address of each request "
                    "(the CLI's: http://127.0.0.1:8000), which students may not reach. Set it to the "
                    "address students use.")
    app.include_router(pages.router)
    app.include_router(rest.router)
    app.include_router(signin.router)
    app.include_router(course.router)
    app.include_router(ta_signin.router)
    app.include_router(ta.router)
    app.include_router(lti.router)
    install_sessions(app, settings)  # signed session cookie + CSRF on every form (api/auth.py)

    caps = body_caps(settings)
    keep_in_memory(caps.by_path["/submit"].bytes)  # a student's form, code and report, never touches disk
    # Added last, so it wraps every middleware that may read a body (CSRF reads forms).
    app.add_middleware(CapBodies, caps=caps)
    # Added after everything: the real client address and scheme, before any limit or cookie.
    install_proxy_trust(app, settings.trusted_proxies)

    def _capped(request: Request, exc: StarletteHTTPException) -> Response | None:
        if is_body_cap(exc, request.scope):  # Starlette's cap cut a streaming body: say which cap
            return caps.refuse(request.scope, caps.cap(request.url.path))
        return None

    # JSON for /api and for scripts asking for it, a page with a way on for browsers (api/errors.py).
    install_error_pages(app, pages.templates, _capped)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _redoc(request: Request) -> HTMLResponse:
    """ReDoc from the package's files, like fastapi_offline's page, except that its footer's logo
    (an image on cdn.redoc.ly inside redoc.standalone.js) is never fetched: the page's CSP allows
    images from this site only, and the link around the logo is hidden."""
    root = request.scope.get("root_path", "")
    page = get_redoc_html(openapi_url=f"{root}{request.app.openapi_url}", title=request.app.title + " - ReDoc",
                          redoc_js_url=f"{root}/static-offline-docs/redoc.standalone.js", with_google_fonts=False,
                          redoc_favicon_url="/favicon.ico")
    html = page.body.decode().replace("</head>", '<style>a[href*="redocly.com"], a[href*="redoc.ly"] '
                                                 "{ display: none !important; }</style></head>", 1)
    return HTMLResponse(html, headers={"Content-Security-Policy": "img-src 'self' data:"})


def body_caps(settings: Settings) -> BodyCaps:
    """A student's upload is one file and its report; a report alone; a TA's batch one zip; any other form is small."""
    kb, mb, pdf = settings.max_upload_kb, settings.max_zip_mb, settings.max_report_mb
    one_file = Cap(kb * 1024 + (pdf << 20) + FORM_OVERHEAD,
                   f"The upload is larger than {kb} KiB for resnet50_skeleton.py and {pdf} MiB for the report "
                   "together, the most they may be; nothing was stored.")
    report = Cap((pdf << 20) + FORM_OVERHEAD,
                 f"The upload is larger than {pdf} MiB, the most a report PDF may be; nothing was stored.")
    batch = Cap((mb << 20) + FORM_OVERHEAD,
                f"The upload is larger than {mb} MiB, the most one batch may be; split the zip into "
                "several batches. Nothing was stored.")
    return BodyCaps(default=Cap(2 << 20, "The request is larger than 2 MiB; nothing was stored."),
                    by_path={"/submit": one_file, "/api/submissions": one_file, "/api/batches": batch,
                             "/report": report, "/api/reports": report},
                    gates={("POST", "/api/batches"): ta_gate(settings.resolved_database_url())},
                    refuse=_too_large)


def _too_large(scope: Scope, cap: Cap) -> Response:
    """JSON for the API; the page's form gets a page it can read."""
    if wants_json(Request(scope)):
        return JSONResponse({"detail": cap.message}, status_code=413)
    return pages.templates.TemplateResponse(Request(scope), "error.html", {"message": cap.message},
                                            status_code=413)


def app_from_env() -> FastAPI:
    """`uvicorn api.main:app_from_env --factory`."""
    return create_app()
