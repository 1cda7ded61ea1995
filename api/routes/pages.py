"""The student's web page: upload form, result page at an unguessable URL, live progress (SSE)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, AsyncIterator

from fastapi import APIRouter, BackgroundTasks, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from api.deps import SessionDep, SettingsDep, StoreDep
from api.submit import send, submit_upload
from api.uploads import UploadError
from api.views import submission_view
from storage.db import session_scope
from storage.models import Submission
from storage.service import FINAL

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))


@router.get("/", response_class=HTMLResponse)
def index(request: Request, settings: SettingsDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "index.html", {"needs_code": bool(settings.access_code)})


@router.post("/submit", response_model=None)
async def submit(request: Request, store: StoreDep, settings: SettingsDep, background: BackgroundTasks,
                 student_id: Annotated[str, Form()], file: Annotated[UploadFile, File()],
                 access_code: Annotated[str, Form()] = "") -> HTMLResponse | RedirectResponse:
    try:
        sub = await submit_upload(settings, store, student_id=student_id, file=file, access_code=access_code)
    except UploadError as exc:
        return templates.TemplateResponse(request, "index.html", {"needs_code": bool(settings.access_code),
                                                                  "error": str(exc), "student_id": student_id},
                                          status_code=exc.status)
    background.add_task(send, settings, [sub.id])
    return RedirectResponse(f"/s/{sub.id}", status_code=303)


@router.get("/s/{submission_id}", response_class=HTMLResponse)
def result(request: Request, submission_id: str, session: SessionDep) -> HTMLResponse:
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise HTTPException(404, "No submission has this address.")
    history = session.scalars(select(Submission).where(Submission.student_id == sub.student_id,
                                                       Submission.batch_id.is_(None))
                              .order_by(Submission.created_at.desc()).limit(50)).all()
    view = submission_view(sub)
    return templates.TemplateResponse(request, "result.html", {
        "s": view, "report": view["report"] or view["structure"], "final": sub.status in FINAL,
        "history": [submission_view(h, with_report=False) for h in history]})


@router.get("/s/{submission_id}/events")
async def events(submission_id: str, settings: SettingsDep) -> StreamingResponse:
    """Server-Sent Events: one `data:` line per change until the grade is final."""
    db = settings.resolved_database_url()

    def snapshot() -> dict | None:
        with session_scope(db) as s:
            sub = s.get(Submission, submission_id)
            return None if sub is None else submission_view(sub, with_report=False) | {
                "has_structure": sub.structure_json is not None}

    if await run_in_threadpool(snapshot) is None:
        raise HTTPException(404, "No submission has this address.")

    async def stream() -> AsyncIterator[str]:
        last, idle = None, 0
        for _ in range(24 * 3600 * 2):  # bounded: at most a day at two polls a second
            view = await run_in_threadpool(snapshot)
            if view is None:
                return
            text = json.dumps(view)
            if text != last:
                last, idle = text, 0
                yield f"data: {text}\n\n"
            else:
                idle += 1
                if idle % 30 == 0:
                    yield ": keep-alive\n\n"
            if view["status"] in FINAL:
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
