"""The FastAPI app: the web page, the REST API, OpenAPI docs at /docs."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.routes import pages, rest
from grader.settings import Settings
from storage.db import get_engine


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    get_engine(settings.resolved_database_url())  # creates the tables before the first request
    app = FastAPI(title="autograder", version="0.1.0",
                  description="Grades resnet50_skeleton.py submissions: upload, follow, export.")
    app.state.settings = settings
    app.include_router(pages.router)
    app.include_router(rest.router)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app_from_env() -> FastAPI:
    """`uvicorn api.main:app_from_env --factory`."""
    return create_app()
